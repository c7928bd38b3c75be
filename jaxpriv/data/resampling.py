"""Changing the sample rate of sensor data.

:func:`resample_to_rate` puts irregularly timed samples onto a uniform rate, without
aliasing; :func:`downsample_dataset` averages groups of samples of a whole dataset.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np
from scipy.signal import resample_poly

from jaxpriv.data.dataset import DataFormatError, Dataset

OVERSAMPLE = 4  # interpolate at 4x the target rate, then low-pass and decimate


def resample_to_rate(
    time_s: np.ndarray,
    values: np.ndarray,
    rate_hz: float,
    *,
    start_s: float | None = None,
    stop_s: float | None = None,
    oversample: int = OVERSAMPLE,
) -> np.ndarray:
    """Resample irregular samples to ``start_s + k / rate_hz`` for every k inside the span.

    ``values`` is ``(N, C)`` at increasing ``time_s``. The samples are first
    interpolated linearly onto a grid ``oversample`` times finer, then low-pass
    filtered and decimated (``scipy.signal.resample_poly``), so content above
    the target Nyquist frequency is removed instead of aliased. The span
    defaults to the samples' own; the fine grid never leaves it, so nothing is
    extrapolated. Returns ``(K, C)``, possibly with K = 0 for a too short span.
    """
    start = float(time_s[0]) if start_s is None else float(start_s)
    stop = float(time_s[-1]) if stop_s is None else float(stop_s)
    fine_rate = rate_hz * oversample
    # Fine samples that fit in the span, rounded down to whole output samples.
    num = (math.floor((stop - start) * fine_rate + 1e-9) + 1) // oversample if stop >= start else 0
    if num <= 0:
        return np.empty((0, values.shape[1]), dtype=np.float64)
    grid = start + np.arange(num * oversample) / fine_rate
    dense = np.column_stack([np.interp(grid, time_s, values[:, c]) for c in range(values.shape[1])])
    if oversample == 1:
        return dense
    # padtype="line" extends the signal along the line between its end values, so
    # the filter does not droop at the edges (the default pads with zeros).
    return resample_poly(dense, 1, oversample, axis=0, padtype="line")


def resample_joined(per_sensor: Sequence[Sequence[np.ndarray]], rate_hz: float) -> list[np.ndarray]:
    """Join sensors on one uniform time base: one ``(K, sum C)`` array per common span.

    ``per_sensor[s]`` lists sensor ``s``'s pieces, each ``(N, 1 + C_s)`` with the time
    in seconds (one clock for all sensors) in column 0. Every span covered by a piece
    of every sensor is resampled (:func:`resample_to_rate`) from ``start`` at
    ``rate_hz``; spans shorter than one sample are left out (an empty list if none).
    """
    out = []
    for lo, hi, chosen in common_spans(per_sensor):
        parts = [
            resample_to_rate(piece[:, 0], piece[:, 1:], rate_hz, start_s=lo, stop_s=hi)
            for piece in chosen
        ]
        if parts[0].shape[0] > 0:
            out.append(np.concatenate(parts, axis=1))
    return out


def common_spans(
    per_sensor: Sequence[Sequence[np.ndarray]],
) -> list[tuple[float, float, list[np.ndarray]]]:
    """Time spans covered by a piece of every sensor, with those pieces, in time order."""
    spans: list[tuple[float, float, list[np.ndarray]]] = [
        (float(p[0, 0]), float(p[-1, 0]), [p]) for p in per_sensor[0]
    ]
    for pieces in per_sensor[1:]:
        narrowed = []
        for lo, hi, chosen in spans:
            for p in pieces:
                new_lo, new_hi = max(lo, float(p[0, 0])), min(hi, float(p[-1, 0]))
                if new_lo < new_hi:
                    narrowed.append((new_lo, new_hi, [*chosen, p]))
        spans = narrowed
    return sorted(spans, key=lambda s: s[0])


def downsample_dataset(ds: Dataset, factor: int) -> Dataset:
    """Average non-overlapping groups of ``factor`` samples (rate / factor); 1 = unchanged."""
    if factor == 1:
        return ds
    recs = []
    for rec in ds.recordings:
        n = rec.num_samples // factor
        if n == 0:
            continue
        data = rec.data[: n * factor].reshape(n, factor, -1).mean(axis=1)
        recs.append(dataclasses.replace(rec, data=data.astype(rec.data.dtype)))
    if not recs:
        raise DataFormatError(f"{ds.name}: every recording is shorter than {factor} samples")
    return ds.replace(recordings=tuple(recs), rate_hz=ds.rate_hz / factor)
