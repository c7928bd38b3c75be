"""What the report figures are drawn from, computed without matplotlib.

The Pareto front of privacy-utility points, the rows of a trace figure (channels, or
x/y/z groups as magnitudes), the shared-scale spectrograms, grouped-bar offsets and the
choice of a log axis.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from scipy import signal

from eval.figure_inputs import as_1d

CHANCE = 0.5  # binary gender attacker
MAX_TRACE_ROWS = 6  # more channels than this are grouped by three (x/y/z) per row


def pareto_front(utility: np.ndarray, leak: np.ndarray) -> np.ndarray:
    """Mask of the points no other point dominates (maximise utility, minimise leak).

    Point ``j`` dominates ``i`` when ``utility[j] >= utility[i]`` and ``leak[j] <= leak[i]``
    with at least one inequality strict; identical points therefore never exclude each
    other. Points with a NaN coordinate are never on the front and dominate nothing.

    For privacy-utility: ``utility`` = activity accuracy, ``leak`` = ``|gender acc - 1/2|``.
    """
    u = as_1d("utility", utility)
    lk = as_1d("leak", leak)
    if u.shape != lk.shape:
        raise ValueError(f"utility and leak lengths differ: {u.size} != {lk.size}")
    ok = np.isfinite(u) & np.isfinite(lk)
    # Pairwise (j, i): does j dominate i? n is a few hundred variants at most.
    geq = (u[:, None] >= u[None, :]) & (lk[:, None] <= lk[None, :])
    strict = (u[:, None] > u[None, :]) | (lk[:, None] < lk[None, :])
    dominates = geq & strict & ok[:, None]
    return ok & ~dominates.any(axis=0)


def group_label(names: Sequence[str]) -> str:
    """``|rotationRate.{x,y,z}|`` for a magnitude of channels sharing a prefix."""
    if len(names) == 1:
        return names[0]
    prefix = names[0]
    for name in names[1:]:  # character-wise common prefix (these are not paths)
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    cut = max(prefix.rfind("."), prefix.rfind("_"))
    if cut >= 0:
        prefix = prefix[: cut + 1]
        return f"|{prefix}{{{','.join(n[len(prefix) :] for n in names)}}}|"
    return "|" + ", ".join(names) + "|"


def trace_rows(
    data: np.ndarray, channels: Sequence[str]
) -> list[tuple[str, np.ndarray, list[int]]]:
    """(label, (W,) series, source channel indices) per row.

    Up to six channels get a row each; more are grouped by three consecutive channels
    (x/y/z of one sensor) and drawn as the group's Euclidean magnitude.
    """
    c = len(channels)
    if c <= MAX_TRACE_ROWS:
        return [(channels[i], data[:, i], [i]) for i in range(c)]
    rows = []
    for start in range(0, c, 3):
        cols = list(range(start, min(start + 3, c)))
        label = group_label([channels[i] for i in cols])
        rows.append((label, np.linalg.norm(data[:, cols], axis=1), cols))
    return rows


def unit_of(units: Mapping[str, str] | str, channels: Sequence[str]) -> str:
    if isinstance(units, str):
        return units
    found = {units.get(ch, "a.u.") for ch in channels}
    return found.pop() if len(found) == 1 else "mixed units"


def spectrograms(
    versions: Mapping[str, np.ndarray], mag_cols: Sequence[int], rate_hz: float
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]], float, float]:
    """Per version, the spectrogram ``(f, t, dB)`` of the magnitude of ``mag_cols``, and
    the shared colour scale ``(vmin, vmax)``."""
    w = next(iter(versions.values())).shape[0]
    nperseg = int(min(64, max(8, w // 4)))
    spectra = {}
    for name, arr in versions.items():
        mag = np.linalg.norm(arr[:, mag_cols], axis=1)
        # detrend="constant" (default) drops the mean: gravity/offset would swamp 0 Hz.
        f, ts, sxx = signal.spectrogram(
            mag, fs=rate_hz, nperseg=nperseg, noverlap=(3 * nperseg) // 4
        )
        spectra[name] = (f, ts, 10 * np.log10(sxx + 1e-12))  # dB; the epsilon avoids -inf
    all_db = np.concatenate([s[2].ravel() for s in spectra.values()])
    # Robust shared scale: a silent version must not flatten the others' contrast.
    vmax = float(np.percentile(all_db, 99))
    vmin = max(float(np.percentile(all_db, 1)), vmax - 60.0)
    return spectra, vmin, vmax


def spans_decades(values: np.ndarray, decades: float = 2.0) -> bool:
    """Whether positive finite ``values`` span more than ``decades`` powers of ten.

    Non-positive values cannot go on a log axis, so any of them keeps the scale linear.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2 or (v <= 0).any():
        return False
    return bool(np.log10(v.max() / v.min()) > decades)


def group_offsets(n_bars: int, width: float = 0.8) -> tuple[np.ndarray, float]:
    """Centre offsets of ``n_bars`` bars sharing one group of total ``width``."""
    bar = width / n_bars
    return (np.arange(n_bars) - (n_bars - 1) / 2) * bar, bar
