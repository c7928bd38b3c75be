"""Per-channel affine scalers fitted on training data only.

A :class:`Scaler` maps ``x -> x * scale + offset`` along the last (channel) axis, so it
applies to numpy and ``jax.numpy`` arrays alike (inside ``jit`` too), and saves as plain
JSON. DySan min-max scales to [-1, 1]; MSDA standardizes. Fit on the training windows
and apply the same scaler to test data: a test set scaled with its own statistics leaks
them (the DySan code does that; jaxpriv does not).

A constant channel (zero range or zero std) gets ``scale = 1`` rather than a division by
zero, and an offset that maps its value to the centre of the target range (0 for both
[-1, 1] and standardization).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

SCALER_KINDS: tuple[str, ...] = ("minmax", "standard", "none")


@dataclasses.dataclass(frozen=True, eq=False)
class Scaler:
    """``apply(x) = x * scale + offset`` per channel; ``invert`` undoes it."""

    kind: str
    offset: np.ndarray  # (C,) float64
    scale: np.ndarray  # (C,) float64
    channels: tuple[str, ...] = ()  # names, for checks and provenance; may be empty

    def __post_init__(self) -> None:
        offset = np.asarray(self.offset, dtype=np.float64).reshape(-1)
        scale = np.asarray(self.scale, dtype=np.float64).reshape(-1)
        object.__setattr__(self, "offset", offset)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "channels", tuple(str(c) for c in self.channels))
        if offset.shape != scale.shape:
            raise ValueError(f"offset {offset.shape} and scale {scale.shape} differ in shape")
        if self.channels and len(self.channels) != offset.size:
            raise ValueError(f"{len(self.channels)} channel names for {offset.size} channels")
        if not (np.isfinite(offset).all() and np.isfinite(scale).all() and (scale != 0).all()):
            raise ValueError("scaler offset and scale must be finite and scale non-zero")

    @property
    def num_channels(self) -> int:
        return int(self.offset.size)

    def apply(self, x: Any) -> Any:
        """Scale ``x`` (``(..., C)``, numpy or jax); the result keeps ``x``'s float dtype."""
        scale, offset = self._params(x)
        return x * scale + offset

    def invert(self, y: Any) -> Any:
        """Undo :meth:`apply`: ``(y - offset) / scale``."""
        scale, offset = self._params(y)
        return (y - offset) / scale

    def _params(self, x: Any) -> tuple[np.ndarray, np.ndarray]:
        if x.shape[-1] != self.num_channels:
            raise ValueError(
                f"{self.kind} scaler fitted on {self.num_channels} channels "
                f"{list(self.channels)}, got an array of shape {tuple(x.shape)}"
            )
        # Cast to x's dtype so float32 stays float32 (numpy would promote to float64).
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
        return self.scale.astype(dtype), self.offset.astype(dtype)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-able dict; :meth:`from_json` restores it exactly (floats round-trip)."""
        return {
            "kind": self.kind,
            "offset": self.offset.tolist(),
            "scale": self.scale.tolist(),
            "channels": list(self.channels),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Scaler:
        """Inverse of :meth:`to_json`; a missing key or a wrong length raises ValueError."""
        missing = [k for k in ("kind", "offset", "scale") if k not in d]
        if missing:
            raise ValueError(f"scaler JSON lacks {missing}; got keys {sorted(d)}")
        return cls(
            kind=str(d["kind"]),
            offset=np.asarray(d["offset"], dtype=np.float64),
            scale=np.asarray(d["scale"], dtype=np.float64),
            channels=tuple(d.get("channels", ())),
        )


def fit_minmax(x: Any, lo: float = -1.0, hi: float = 1.0, channels: Sequence[str] = ()) -> Scaler:
    """Per-channel min-max scaler mapping the training range of ``x`` (``(..., C)``) to [lo, hi]."""
    if not lo < hi:
        raise ValueError(f"need lo < hi, got lo={lo}, hi={hi}")
    x_CxM = _channels_first(x)
    xmin, xmax = x_CxM.min(axis=1), x_CxM.max(axis=1)
    span = xmax - xmin
    constant = span == 0
    scale = np.where(constant, 1.0, (hi - lo) / np.where(constant, 1.0, span))
    offset = np.where(constant, (lo + hi) / 2 - xmin, lo - xmin * scale)
    return Scaler("minmax", offset, scale, tuple(channels))


def fit_standard(x: Any, channels: Sequence[str] = ()) -> Scaler:
    """Per-channel standardizer: zero mean, unit (population) std on the training data."""
    x_CxM = _channels_first(x)
    mean, std = x_CxM.mean(axis=1), x_CxM.std(axis=1)
    constant = std == 0
    scale = np.where(constant, 1.0, 1.0 / np.where(constant, 1.0, std))
    return Scaler("standard", -mean * scale, scale, tuple(channels))


def fit_scaler(kind: str, x: Any, channels: Sequence[str] = ()) -> Scaler:
    """Fit a scaler by name: ``"minmax"`` ([-1, 1]), ``"standard"`` or ``"none"`` (identity)."""
    if kind == "minmax":
        return fit_minmax(x, channels=channels)
    if kind == "standard":
        return fit_standard(x, channels=channels)
    if kind == "none":
        c = np.shape(x)[-1]
        return Scaler("none", np.zeros(c), np.ones(c), tuple(channels))
    raise ValueError(f"unknown scaler kind {kind!r}; expected one of {list(SCALER_KINDS)}")


def _channels_first(x: Any) -> np.ndarray:
    """``(..., C)`` -> contiguous ``(C, M)`` float64 on the host, refusing empty or non-finite data.

    Channels first because numpy reduces a long contiguous axis ~10x faster than a long
    strided one (a (M, 2) reduction over M is slow).
    """
    x = np.asarray(x)
    if x.ndim < 2 or x.size == 0:
        raise ValueError(f"need a non-empty (..., C) array with samples, got shape {x.shape}")
    x_CxM = np.ascontiguousarray(np.moveaxis(x, -1, 0).reshape(x.shape[-1], -1), np.float64)
    if not np.isfinite(x_CxM).all():
        raise ValueError("cannot fit a scaler on data with NaN or infinite values")
    return x_CxM
