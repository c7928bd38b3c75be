"""Per-feature discretization of numeric data into symbols (seed 004's 49 symbols per feature).

A :class:`Quantizer` holds, for every feature (the last axis of the data: a sensor
channel of ``(N, T, C)`` windows, or a column of ``(N, F)`` tabular rows), the edges of
its bins. ``encode`` maps values to ``int32`` symbols ``0 .. n_f - 1``; ``decode`` maps
symbols back to values, either the bin centre or a uniform draw inside the bin. The
outer bins are bounded by the training minimum and maximum, so decoded values never
leave the training range; values outside it are encoded into the outer bins.

Binning methods (``fit_quantizer``):

- ``"uniform"``: ``num_bins`` equal-width bins between the training min and max. Bins
  that hold no training value can exist (the data decide); a sequence model simply
  learns never to emit them.
- ``"quantile"`` (the default): equal-frequency bins, built so that **no bin is empty and
  no edge repeats**, whatever ties the data hold. Edges are placed only in the gaps
  between distinct training values (at the midpoint of the gap, computed in float64),
  so every bin holds at least one distinct value. Bins are chosen greedily from the
  left: each takes about ``remaining values / remaining bins`` values, cutting at the
  gap closest to that target, so a large point mass (e.g. many exact zeros) gets one
  bin of its own and the remaining bins are shared out over the rest of the data. A
  feature with ``m <= num_bins`` distinct values gets exactly ``m`` bins, one per value,
  each reaching halfway to its neighbours.
- A **constant feature** (one distinct value) gets a single bin ``[v, v]``: it always
  encodes to symbol 0 and decodes to ``v`` exactly.

So a feature can have fewer bins than ``num_bins`` (``bins_per_feature``);
``valid_mask()`` says which symbols exist per feature, and sequence models mask the
others out. Symbols above a feature's last bin decode as its last bin.

The quantizer is stored as plain JSON (``to_json`` / ``from_json``), never pickled.
:func:`load_tabular_csv` reads any numeric CSV with a header row.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np

from jaxpriv.data.dataset import DataFormatError
from jaxpriv.data.parsing import read_csv_table, to_float_matrix

METHODS: tuple[str, ...] = ("quantile", "uniform")
Method = Literal["quantile", "uniform"]


@dataclasses.dataclass(frozen=True, eq=False)
class Quantizer:
    """Bin edges per feature; ``edges[f]`` has ``bins_per_feature[f] + 1`` increasing values
    (equal only for a constant feature's single bin)."""

    method: str
    num_bins: int  # the symbol alphabet size: every feature's symbols lie in [0, num_bins)
    edges: tuple[np.ndarray, ...]  # per feature, float64, (n_f + 1,)
    feature_names: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        edges = tuple(np.asarray(e, dtype=np.float64).reshape(-1) for e in self.edges)
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "feature_names", tuple(str(n) for n in self.feature_names))
        if self.method not in METHODS:
            raise ValueError(
                f"quantizer method must be one of {list(METHODS)}, got {self.method!r}"
            )
        if int(self.num_bins) < 1:
            raise ValueError(f"num_bins must be >= 1, got {self.num_bins}")
        object.__setattr__(self, "num_bins", int(self.num_bins))
        if not edges:
            raise ValueError("a quantizer needs at least one feature")
        if self.feature_names and len(self.feature_names) != len(edges):
            raise ValueError(f"{len(self.feature_names)} feature names for {len(edges)} features")
        for f, e in enumerate(edges):
            n = e.size - 1
            if not 1 <= n <= self.num_bins or not np.isfinite(e).all():
                raise ValueError(f"feature {f}: {e.size} edges; need 2..{self.num_bins + 1} finite")
            if n > 1 and not (np.diff(e) > 0).all():
                raise ValueError(f"feature {f}: bin edges must be strictly increasing")
            if n == 1 and e[1] < e[0]:
                raise ValueError(f"feature {f}: bin edges must be increasing")

    # -- shapes ----------------------------------------------------------------------

    @property
    def num_features(self) -> int:
        return len(self.edges)

    @property
    def bins_per_feature(self) -> np.ndarray:
        """``(F,)`` int32: how many symbols each feature really uses (<= ``num_bins``)."""
        return np.asarray([e.size - 1 for e in self.edges], np.int32)

    def edges_padded(self) -> np.ndarray:
        """``(F, num_bins + 1)`` float64: each feature's edges, its last edge repeated after."""
        out = np.empty((self.num_features, self.num_bins + 1), np.float64)
        for f, e in enumerate(self.edges):
            out[f, : e.size] = e
            out[f, e.size :] = e[-1]
        return out

    def valid_mask(self) -> np.ndarray:
        """``(F, num_bins)`` bool: symbol ``s`` exists for feature ``f``."""
        return np.arange(self.num_bins)[None, :] < self.bins_per_feature[:, None]

    def _check_features(self, shape: tuple[int, ...], what: str) -> None:
        if not shape or shape[-1] != self.num_features:
            raise ValueError(
                f"{what}: quantizer fitted on {self.num_features} features "
                f"{list(self.feature_names)}, got an array of shape {tuple(shape)}"
            )

    # -- encode / decode --------------------------------------------------------------

    def encode(self, values: Any) -> np.ndarray:
        """Values ``(..., F)`` -> ``int32`` symbols ``(..., F)`` (host numpy).

        Values below the first interior edge go to symbol 0, values at or above the
        last one to the feature's last symbol (so out-of-range values clamp). NaN is an
        error (it has no bin).
        """
        x = np.asarray(values, dtype=np.float64)
        self._check_features(x.shape, "encode")
        if not np.isfinite(x).all():
            raise ValueError("cannot encode NaN or infinite values")
        out = np.empty(x.shape, np.int32)
        for f, e in enumerate(self.edges):
            out[..., f] = np.searchsorted(e[1:-1], x[..., f], side="right")
        return out

    def decode(
        self,
        symbols: Any,
        key: jax.Array | None = None,
        mode: Literal["uniform", "center"] | None = None,
    ) -> jax.Array:
        """Symbols ``(..., F)`` -> float32 values ``(..., F)``.

        ``mode="uniform"`` draws each value uniformly inside its bin (needs ``key``);
        ``mode="center"`` returns the bin centre. The default is ``"uniform"`` when a
        key is given, else ``"center"``. Pure ``jax.numpy``: it runs under ``jit``.
        """
        s = jnp.asarray(symbols)
        self._check_features(tuple(s.shape), "decode")
        return decode_symbols(self.edges_padded(), self.bins_per_feature, s, key, mode)

    def bin_widths(self, symbols: Any) -> np.ndarray:
        """Width of the bin of each symbol ``(..., F)`` (host numpy; for tests and checks)."""
        s = np.clip(np.asarray(symbols, np.int64), 0, self.bins_per_feature - 1)
        e = self.edges_padded()
        f = np.broadcast_to(np.arange(self.num_features), s.shape)
        return e[f, s + 1] - e[f, s]

    # -- JSON -----------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict; :meth:`from_json` restores it exactly (floats round-trip)."""
        return {
            "method": self.method,
            "num_bins": self.num_bins,
            "edges": [e.tolist() for e in self.edges],
            "feature_names": list(self.feature_names),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Quantizer:
        missing = [k for k in ("method", "num_bins", "edges") if k not in d]
        if missing:
            raise ValueError(f"quantizer JSON lacks {missing}; got keys {sorted(d)}")
        return cls(
            method=str(d["method"]),
            num_bins=int(d["num_bins"]),
            edges=tuple(np.asarray(e, np.float64) for e in d["edges"]),
            feature_names=tuple(d.get("feature_names", ())),
        )


def decode_symbols(
    edges_FxE: Any,
    bins_F: Any,
    symbols: Any,
    key: jax.Array | None = None,
    mode: Literal["uniform", "center"] | None = None,
) -> jax.Array:
    """:meth:`Quantizer.decode` on explicit arrays (``edges_padded()``, ``bins_per_feature``),
    so jitted code can take a quantizer's tables as arguments rather than constants."""
    mode = mode or ("uniform" if key is not None else "center")
    if mode not in ("uniform", "center"):
        raise ValueError(f"decode mode must be 'uniform' or 'center', got {mode!r}")
    if mode == "uniform" and key is None:
        raise ValueError("decode(mode='uniform') needs a key")
    s = jnp.asarray(symbols)
    edges = jnp.asarray(edges_FxE, jnp.float32)
    s = jnp.clip(s.astype(jnp.int32), 0, jnp.asarray(bins_F) - 1)
    feature = jnp.broadcast_to(jnp.arange(edges.shape[0]), s.shape)
    lo, hi = edges[feature, s], edges[feature, s + 1]
    if mode == "center":
        return (lo + hi) / 2
    u = jax.random.uniform(key, s.shape, jnp.float32)
    return lo + u * (hi - lo)


def fit_quantizer(
    values: Any,
    num_bins: int = 49,
    method: Method = "quantile",
    feature_names: Sequence[str] = (),
) -> Quantizer:
    """Fit per-feature bins on training values ``(..., F)`` (all leading axes pooled)."""
    if method not in METHODS:
        raise ValueError(f"quantizer method must be one of {list(METHODS)}, got {method!r}")
    if isinstance(num_bins, bool) or not isinstance(num_bins, int | np.integer) or num_bins < 1:
        raise ValueError(f"num_bins must be a positive integer, got {num_bins!r}")
    x = np.asarray(values, dtype=np.float64)
    if x.ndim < 1 or x.size == 0:
        raise ValueError(f"need a non-empty (..., F) array, got shape {x.shape}")
    x_FxM = np.ascontiguousarray(np.moveaxis(x, -1, 0).reshape(x.shape[-1], -1))
    bad = ~np.isfinite(x_FxM).all(axis=1)
    if bad.any():
        f = int(np.flatnonzero(bad)[0])
        name = feature_names[f] if len(feature_names) > f else str(f)
        raise ValueError(f"feature {name!r} holds NaN or infinite values; cannot fit bins")
    fit = _quantile_edges if method == "quantile" else _uniform_edges
    edges = tuple(fit(row, int(num_bins)) for row in x_FxM)
    return Quantizer(method, int(num_bins), edges, tuple(feature_names))


def _uniform_edges(v: np.ndarray, num_bins: int) -> np.ndarray:
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        return np.asarray([lo, hi])
    return np.linspace(lo, hi, num_bins + 1)


def _quantile_edges(v: np.ndarray, num_bins: int) -> np.ndarray:
    """Equal-frequency edges in the gaps between distinct values (see the module docstring)."""
    u, counts = np.unique(v, return_counts=True)
    m = u.size
    if m == 1:
        return np.asarray([u[0], u[0]])
    if m <= num_bins:
        cuts = np.arange(m - 1)  # one bin per distinct value
    else:
        cum = np.cumsum(counts)
        total = int(cum[-1])
        cuts_list: list[int] = []
        start, done = 0, 0  # first distinct value of the current bin; values before it
        for b in range(num_bins - 1):
            left = num_bins - b  # bins still to fill, this one included
            target = done + (total - done) / left
            j = int(np.searchsorted(cum, target))  # first j with cum[j] >= target
            if j > start and target - cum[j - 1] < cum[j] - target:
                j -= 1  # the gap before j is closer to the target
            # >= 1 distinct value in this bin, and >= 1 for each bin after it.
            j = min(max(j, start), m - left)
            cuts_list.append(j)
            done, start = int(cum[j]), j + 1
        cuts = np.asarray(cuts_list)
    inner = (u[cuts] + u[cuts + 1]) / 2  # float64 midpoints: strictly inside each gap
    return np.concatenate([[u[0]], inner, [u[-1]]])


def load_tabular_csv(path: str | Path) -> tuple[np.ndarray, tuple[str, ...]]:
    """Read a numeric CSV with a header row: ``(values (N, F) float64, column names)``.

    Every cell must be a finite number. A non-numeric, empty, NaN or infinite cell,
    a short or long row, a blank or duplicate column name raise
    :class:`DataFormatError` naming the file, the line (as an editor counts it) and
    the column.
    """
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such file")
    table = read_csv_table(path)
    header = table.header
    where = str(path)
    blank = [i for i, h in enumerate(header) if not h]
    if blank:
        raise DataFormatError(
            f"{where}: line {table.header_line}: column {blank[0] + 1} has no name in the header"
        )
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataFormatError(f"{where}: line {table.header_line}: duplicate column {name!r}")
        seen.add(name)
    if not table.rows:
        raise DataFormatError(f"{where}: no data rows below the header")
    for row, line in zip(table.rows, table.lines, strict=True):
        if len(row) != len(header):
            raise DataFormatError(
                f"{where}: line {int(line)} has {len(row)} cells, expected {len(header)} "
                f"(the header's columns {header})"
            )
    values = to_float_matrix(table.rows, list(range(len(header))), header, where, lines=table.lines)
    bad = ~np.isfinite(values)
    if bad.any():
        i, j = (int(a[0]) for a in np.nonzero(bad))
        cell = table.rows[i][j].strip()
        what = "is empty" if not cell else f"{cell!r} is not a finite number"
        raise DataFormatError(
            f"{where}: line {int(table.lines[i])}, column {header[j]!r}: the cell {what}"
        )
    return values, tuple(header)


__all__ = ["METHODS", "Quantizer", "decode_symbols", "fit_quantizer", "load_tabular_csv"]
