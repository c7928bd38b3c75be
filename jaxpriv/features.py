"""Hand-crafted window features for random-forest attackers and DySan's calibration RF.

Every input channel, and one magnitude channel per complete x/y/z group (``a.x, a.y, a.z``
or ``a_x, a_y, a_z`` -> ``|a|``, the per-sample Euclidean norm, named like
:mod:`jaxpriv.data.channels` names magnitudes), gets the same :data:`FEATURES`:

- time domain: mean, std (``ddof=0``), min, max, percentiles 10/25/50/75/90 (numpy's linear
  interpolation), energy (mean of squares of the raw signal), mean absolute first difference;
- frequency domain, on the rFFT power ``|X_k|^2`` of the mean-removed signal over the non-DC
  bins ``k = 1..W//2``: the two dominant frequencies in Hz (ties -> lower frequency) and each
  one's share of that power, and the spectral entropy normalised by ``log(W//2)`` (0 for a
  single spike, 1 for a flat spectrum). A flat channel (variance below ``1e-12`` of its
  energy, i.e. rounding noise) has no spectrum: its frequency features are all 0.

Columns are channel-major: all features of channel 0, then channel 1, ..., then the
magnitudes, matching :func:`feature_names` (``"<channel>:<feature>"``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
from sklearn.ensemble import RandomForestClassifier

PERCENTILES: tuple[int, ...] = (10, 25, 50, 75, 90)
FEATURES: tuple[str, ...] = (
    "mean",
    "std",
    "min",
    "max",
    *(f"p{q}" for q in PERCENTILES),
    "energy",
    "mean_abs_diff",
    "freq1_hz",
    "freq2_hz",
    "freq1_share",
    "freq2_share",
    "spectral_entropy",
)
MIN_WINDOW = 4  # at least two non-DC rFFT bins, so a second dominant frequency exists
DEFAULT_CHUNK = 4096  # windows per numpy pass: bounds float64 temporaries for big N

_AXIS_RE = re.compile(r"^(?P<prefix>.+)(?P<sep>[._])(?P<axis>[xyz])$")
_FLAT_REL_VAR = 1e-12  # variance / energy below this is rounding noise, not a signal


def magnitude_groups(channels: Sequence[str]) -> list[tuple[str, tuple[int, int, int]]]:
    """The complete x/y/z groups of ``channels``: ``[("|a|", (ix, iy, iz)), ...]``.

    Groups are keyed by prefix and separator (``a.x`` and ``a_y`` do not group) and listed in
    the order their first member appears; a group missing an axis gets no magnitude.
    """
    members: dict[tuple[str, str], dict[str, int]] = {}
    for i, name in enumerate(channels):
        m = _AXIS_RE.match(name)
        if m:
            members.setdefault((m["prefix"], m["sep"]), {})[m["axis"]] = i
    return [
        (f"|{prefix}|", (axes["x"], axes["y"], axes["z"]))
        for (prefix, _), axes in members.items()
        if len(axes) == 3
    ]


def feature_names(channels: Sequence[str], rate_hz: float | None = None) -> list[str]:
    """Names of :func:`window_features`' columns, in order (``"<channel>:<feature>"``).

    ``rate_hz`` does not change the names (frequencies are in Hz whatever the rate); it is
    accepted so callers can pass the same arguments to both functions, and checked if given.
    """
    channels = _check_channels(channels)
    if rate_hz is not None:
        _check_rate(rate_hz)
    all_channels = [*channels, *(name for name, _ in magnitude_groups(channels))]
    return [f"{ch}:{f}" for ch in all_channels for f in FEATURES]


def window_features(
    x_NxWxC: np.ndarray,
    rate_hz: float,
    channels: Sequence[str],
    *,
    chunk_size: int = DEFAULT_CHUNK,
) -> np.ndarray:
    """Features of every window: ``(N, W, C)`` -> ``(N, D)`` float32, D = ``len(feature_names)``.

    Computed in float64, ``chunk_size`` windows at a time (same result for any chunk size).
    Raises ``ValueError`` for a non-3-D or non-finite input, a channel-count mismatch, windows
    shorter than 4 samples, a non-positive rate or duplicate channel names.
    """
    x_NxWxC = np.asarray(x_NxWxC)
    if x_NxWxC.ndim != 3:
        raise ValueError(f"x must have shape (N, W, C); got {x_NxWxC.shape}")
    channels = _check_channels(channels)
    if len(channels) != x_NxWxC.shape[2]:
        raise ValueError(
            f"{len(channels)} channel names for {x_NxWxC.shape[2]} channels: {channels}"
        )
    if x_NxWxC.shape[1] < MIN_WINDOW:
        raise ValueError(f"windows need >= {MIN_WINDOW} samples; got W={x_NxWxC.shape[1]}")
    _check_rate(rate_hz)
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1; got {chunk_size}")
    if not np.issubdtype(x_NxWxC.dtype, np.number) or not np.all(np.isfinite(x_NxWxC)):
        raise ValueError("x must be numeric and finite (no NaN/inf)")

    groups = magnitude_groups(channels)
    n = x_NxWxC.shape[0]
    out_NxD = np.empty((n, (len(channels) + len(groups)) * len(FEATURES)), np.float32)
    for start in range(0, n, chunk_size):
        xs_NxWxC = x_NxWxC[start : start + chunk_size].astype(np.float64)
        if groups:
            mags_NxWxM = np.stack(
                [np.linalg.norm(xs_NxWxC[:, :, list(idx)], axis=2) for _, idx in groups], axis=2
            )
            xs_NxWxC = np.concatenate([xs_NxWxC, mags_NxWxM], axis=2)
        # Channels first so every statistic reduces over the last (time) axis.
        feats_NxCxF = _channel_features(np.moveaxis(xs_NxWxC, 1, 2), rate_hz)
        out_NxD[start : start + chunk_size] = feats_NxCxF.reshape(len(xs_NxWxC), -1)
    return out_NxD


def _channel_features(s_NxCxW: np.ndarray, rate_hz: float) -> np.ndarray:
    """All :data:`FEATURES` of float64 signals ``(N, C, W)`` -> ``(N, C, F)``."""
    w = s_NxCxW.shape[-1]
    mean_NxC = s_NxCxW.mean(-1)
    std_NxC = s_NxCxW.std(-1)
    pct_QxNxC = np.percentile(s_NxCxW, PERCENTILES, axis=-1)
    energy_NxC = np.mean(s_NxCxW**2, -1)
    mad_NxC = np.mean(np.abs(np.diff(s_NxCxW, axis=-1)), -1)

    power_NxCxB = np.abs(np.fft.rfft(s_NxCxW - mean_NxC[..., None], axis=-1)[..., 1:]) ** 2
    freqs_B = np.fft.rfftfreq(w, d=1.0 / rate_hz)[1:]
    total_NxC = power_NxCxB.sum(-1)
    flat_NxC = std_NxC**2 <= _FLAT_REL_VAR * energy_NxC
    safe_total_NxC = np.where(flat_NxC, 1.0, total_NxC)
    share_NxCxB = np.where(flat_NxC[..., None], 0.0, power_NxCxB / safe_total_NxC[..., None])

    # Top two bins by two argmaxes (argmax keeps the lowest frequency on ties).
    i1_NxC = np.argmax(share_NxCxB, -1)
    masked_NxCxB = share_NxCxB.copy()
    np.put_along_axis(masked_NxCxB, i1_NxC[..., None], -1.0, axis=-1)
    i2_NxC = np.argmax(masked_NxCxB, -1)
    share1_NxC = np.take_along_axis(share_NxCxB, i1_NxC[..., None], -1)[..., 0]
    share2_NxC = np.take_along_axis(share_NxCxB, i2_NxC[..., None], -1)[..., 0]
    freq1_NxC = np.where(flat_NxC, 0.0, freqs_B[i1_NxC])
    freq2_NxC = np.where(flat_NxC, 0.0, freqs_B[i2_NxC])

    # 0 * log 0 = 0; the floor only keeps log away from zero shares.
    logp_NxCxB = np.log(np.maximum(share_NxCxB, 1e-300))
    plogp_NxCxB = np.where(share_NxCxB > 0, share_NxCxB * logp_NxCxB, 0.0)
    entropy_NxC = -plogp_NxCxB.sum(-1) / np.log(len(freqs_B))

    return np.stack(
        [
            mean_NxC,
            std_NxC,
            s_NxCxW.min(-1),
            s_NxCxW.max(-1),
            *pct_QxNxC,
            energy_NxC,
            mad_NxC,
            freq1_NxC,
            freq2_NxC,
            share1_NxC,
            share2_NxC,
            entropy_NxC,
        ],
        axis=-1,
    )


def fit_random_forest(
    features_NxD: np.ndarray,
    labels_N: np.ndarray,
    *,
    seed: int,
    n_estimators: int = 100,
    max_depth: int | None = None,
    n_jobs: int = -1,
) -> RandomForestClassifier:
    """Fit the shared random-forest settings on ``(N, D)`` features and ``(N,)`` labels.

    ``class_weight="balanced_subsample"`` reweights classes inversely to their frequency in
    each tree's bootstrap sample, so a rare activity or gender is not ignored; ``seed`` fixes
    the bootstrap and feature draws (same seed and data -> same forest).
    """
    features_NxD = np.asarray(features_NxD)
    labels_N = np.asarray(labels_N)
    if features_NxD.ndim != 2 or labels_N.ndim != 1:
        raise ValueError(
            f"need features (N, D) and labels (N,); got {features_NxD.shape}, {labels_N.shape}"
        )
    if len(features_NxD) != len(labels_N):
        raise ValueError(f"{len(features_NxD)} feature rows for {len(labels_N)} labels")
    forest = RandomForestClassifier(
        n_estimators=n_estimators,
        max_depth=max_depth,
        class_weight="balanced_subsample",
        random_state=seed,
        n_jobs=n_jobs,
    )
    return forest.fit(features_NxD, labels_N)


def _check_channels(channels: Sequence[str]) -> list[str]:
    if isinstance(channels, str):
        raise ValueError(f"channels must be a sequence of names, not the string {channels!r}")
    channels = [str(c) for c in channels]
    duplicates = sorted({c for c in channels if channels.count(c) > 1})
    if duplicates:
        raise ValueError(f"duplicate channel names {duplicates}")
    return channels


def _check_rate(rate_hz: float) -> None:
    if not np.isfinite(rate_hz) or rate_hz <= 0:
        raise ValueError(f"rate_hz must be a positive number; got {rate_hz}")
