"""The evaluation report's PNG figures, drawn from plain numbers.

Every function takes numpy arrays, dicts and lists (never harness objects), checks them,
draws one figure and writes it with :func:`jaxpriv.plots.save_figure` (atomic PNG write,
figure closed afterwards); each returns the written :class:`~pathlib.Path`. Inputs are
validated *before* a figure is opened, so a ``ValueError`` never leaves a figure behind.

Accuracies are fractions in ``[0, 1]`` and are shown as percentages.

- :func:`pareto_front`: the non-dominated privacy-utility points.
- :func:`plot_privacy_utility`: attacker gender accuracy (x) against activity accuracy (y).
- :func:`plot_user_cdfs`: per-user accuracy CDFs per policy (DySan Figure 3 style).
- :func:`plot_traces`: one window, raw against released, with spectrograms.
- :func:`plot_distortion`: relative error of window statistics (DySan Figure 4 style).
- :func:`plot_metric_bars`: grouped accuracy bars per transform.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import signal

from jaxpriv.plots import save_figure  # selects the Agg backend: import before pyplot

# isort: split
import matplotlib.pyplot as plt
from matplotlib.colors import Normalize
from matplotlib.ticker import PercentFormatter

__all__ = [
    "DISTORTION_STATS",
    "pareto_front",
    "plot_distortion",
    "plot_metric_bars",
    "plot_privacy_utility",
    "plot_traces",
    "plot_user_cdfs",
]

DISTORTION_STATS: tuple[str, ...] = ("mean", "std", "skewness", "kurtosis", "energy")
CHANCE = 0.5  # binary gender attacker
MAX_TRACE_ROWS = 6  # more channels than this are grouped by three (x/y/z) per row
MAX_ANNOTATED = 6  # Pareto points labelled by name; more would overlap
# Fixed colours for the usual series so every figure of a report agrees.
SERIES_COLOURS: Mapping[str, str] = {
    "raw": "black",
    "fixed": "tab:orange",
    "personalized": "tab:green",
    "dynamic": "tab:purple",
}
_POLICY_MARKERS = ("s", "D", "^", "v", "P", "X", "h")
_PERCENT = PercentFormatter(xmax=1.0, decimals=0)


# ----------------------------------------------------------------------------- validation


def _as_1d(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    return arr


def _fraction(name: str, value: Any, *, allow_nan: bool = False) -> float:
    """A number in [0, 1] (an accuracy); NaN only when allowed."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if math.isnan(x):
        if allow_nan:
            return x
        raise ValueError(f"{name} is NaN")
    if not 0.0 <= x <= 1.0:
        raise ValueError(f"{name} must be an accuracy in [0, 1], got {x}")
    return x


def _interval(name: str, ci: Any, value: float) -> tuple[float, float]:
    """(low, high) as error-bar lengths below and above ``value``."""
    try:
        low, high = (float(v) for v in ci)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (low, high) pair, got {ci!r}") from None
    if not low <= high:
        raise ValueError(f"{name} must have low <= high, got ({low}, {high})")
    # A CI that does not contain the point (e.g. a bootstrap percentile) still draws.
    return max(value - low, 0.0), max(high - value, 0.0)


def _require_keys(name: str, item: Mapping[str, Any], keys: Sequence[str]) -> None:
    if not isinstance(item, Mapping):
        raise ValueError(f"{name} must be a dict, got {type(item).__name__}")
    missing = [k for k in keys if k not in item]
    if missing:
        raise ValueError(f"{name} lacks {missing} (has {sorted(item)})")


def _finish(fig: Any, title: str, path: str | Path) -> Path:
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- Pareto front


def pareto_front(utility: np.ndarray, leak: np.ndarray) -> np.ndarray:
    """Mask of the points no other point dominates (maximise utility, minimise leak).

    Point ``j`` dominates ``i`` when ``utility[j] >= utility[i]`` and ``leak[j] <= leak[i]``
    with at least one inequality strict; identical points therefore never exclude each
    other. Points with a NaN coordinate are never on the front and dominate nothing.

    For privacy-utility: ``utility`` = activity accuracy, ``leak`` = ``|gender acc - 1/2|``.
    """
    u = _as_1d("utility", utility)
    lk = _as_1d("leak", leak)
    if u.shape != lk.shape:
        raise ValueError(f"utility and leak lengths differ: {u.size} != {lk.size}")
    ok = np.isfinite(u) & np.isfinite(lk)
    # Pairwise (j, i): does j dominate i? n is a few hundred variants at most.
    geq = (u[:, None] >= u[None, :]) & (lk[:, None] <= lk[None, :])
    strict = (u[:, None] > u[None, :]) | (lk[:, None] < lk[None, :])
    dominates = geq & strict & ok[:, None]
    return ok & ~dominates.any(axis=0)


# ----------------------------------------------------------------------------- privacy-utility


def _check_point(name: str, p: Mapping[str, Any]) -> dict[str, Any]:
    _require_keys(name, p, ("name", "activity", "gender"))
    label = f"{name} ({p['name']!r})"
    out: dict[str, Any] = {
        "name": str(p["name"]),
        "activity": _fraction(f"{label}['activity']", p["activity"]),
        "gender": _fraction(f"{label}['gender']", p["gender"]),
    }
    for key, value_key in (("activity_ci", "activity"), ("gender_ci", "gender")):
        if p.get(key) is not None:
            out[key] = _interval(f"{label}[{key!r}]", p[key], out[value_key])
    if p.get("alpha") is not None:
        out["alpha"] = float(p["alpha"])
    return out


def plot_privacy_utility(
    points: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    reference: Mapping[str, Any] | None = None,
    policies: Sequence[Mapping[str, Any]] = (),
    title: str = "",
) -> Path:
    """Attacker gender accuracy (x) against activity accuracy (y), one marker per variant.

    ``points``: dicts with ``"name"``, ``"activity"``, ``"gender"`` (accuracies in [0, 1]),
    optional ``"alpha"``/``"lam"`` and ``"activity_ci"``/``"gender_ci"`` as (low, high).
    Variants with an ``"alpha"`` are coloured by it (colour bar), the others grey. The Pareto
    front (max activity, min ``|gender - 0.5|``) is drawn as a staircase, its points outlined
    and up to six of them labelled. ``reference`` (raw data) is a black star; ``policies``
    (``{"name", "activity", "gender"}``) get distinct markers; both are in the legend.
    The best place is the top, at the dashed chance line x = 0.5.
    """
    if len(points) == 0:
        raise ValueError("points is empty")
    pts = [_check_point(f"points[{i}]", p) for i, p in enumerate(points)]
    ref = _check_point("reference", reference) if reference is not None else None
    pols = [_check_point(f"policies[{i}]", p) for i, p in enumerate(policies)]

    act = np.array([p["activity"] for p in pts])
    gen = np.array([p["gender"] for p in pts])
    leak = np.abs(gen - CHANCE)
    front = pareto_front(act, leak)

    fig, ax = plt.subplots(figsize=(7.5, 5.5))
    ax.axvline(CHANCE, color="grey", ls="--", lw=1, label="chance (50%)", zorder=1)

    # Error bars under the markers, in the marker's own colour would be noisy: light grey.
    xerr = np.array([p.get("gender_ci", (0.0, 0.0)) for p in pts]).T
    yerr = np.array([p.get("activity_ci", (0.0, 0.0)) for p in pts]).T
    if any("gender_ci" in p or "activity_ci" in p for p in pts):
        ax.errorbar(
            gen, act, xerr=xerr, yerr=yerr, fmt="none", ecolor="0.6", elinewidth=0.8, zorder=2
        )

    alphas = np.array([p.get("alpha", np.nan) for p in pts])
    has_alpha = np.isfinite(alphas)
    if has_alpha.any():
        norm = Normalize(vmin=alphas[has_alpha].min(), vmax=alphas[has_alpha].max())
        if norm.vmin == norm.vmax:  # one alpha value: a degenerate colour bar otherwise
            norm = Normalize(vmin=norm.vmin - 0.5, vmax=norm.vmax + 0.5)
        sc = ax.scatter(
            gen[has_alpha],
            act[has_alpha],
            c=alphas[has_alpha],
            cmap="viridis",
            norm=norm,
            s=36,
            zorder=3,
            label="sanitizer variants",
        )
        fig.colorbar(sc, ax=ax, pad=0.02).set_label("α (adversarial weight)")
    if (~has_alpha).any():
        ax.scatter(
            gen[~has_alpha],
            act[~has_alpha],
            color="0.5",
            s=36,
            zorder=3,
            label="variants" if not has_alpha.any() else "variants (no α)",
        )

    # Staircase through the front, ordered by leak: the best activity reachable per leak.
    idx = np.flatnonzero(front)
    idx = idx[np.argsort(leak[idx], kind="stable")]
    same_side = np.all(gen[idx] >= CHANCE) or np.all(gen[idx] <= CHANCE)
    if same_side:
        ax.step(gen[idx], act[idx], where="post", color="tab:red", lw=1.2, zorder=2)
    else:  # points on both sides of chance: a staircase in x would zig-zag
        ax.plot(gen[idx], act[idx], color="tab:red", lw=1.2, ls=":", zorder=2)
    ax.scatter(
        gen[idx],
        act[idx],
        s=110,
        facecolors="none",
        edgecolors="tab:red",
        linewidths=1.4,
        zorder=4,
        label=f"Pareto front ({idx.size})",
    )
    # Label a spread of front points (lowest leak first), not all of them. Labels go up
    # and towards chance: no variant lies there (it would dominate the front point).
    picks = np.linspace(0, idx.size - 1, min(idx.size, MAX_ANNOTATED)).round().astype(int)
    for k, i in enumerate(idx[np.unique(picks)]):
        toward = -1 if gen[i] >= CHANCE else 1
        ax.annotate(
            pts[i]["name"],
            (gen[i], act[i]),
            xytext=(7 * toward, 7 + 6 * (k % 2)),  # staggered so neighbours don't collide
            textcoords="offset points",
            ha="right" if toward < 0 else "left",
            fontsize=7,
            color="tab:red",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7},
            zorder=5,
        )

    if ref is not None:
        ax.scatter(
            ref["gender"],
            ref["activity"],
            marker="*",
            s=260,
            color="black",
            edgecolors="white",
            zorder=6,
            label=f"{ref['name']} (reference)",
        )
    for k, p in enumerate(pols):
        colour = SERIES_COLOURS.get(p["name"].lower(), f"C{(k + 1) % 10}")
        ax.scatter(
            p["gender"],
            p["activity"],
            marker=_POLICY_MARKERS[k % len(_POLICY_MARKERS)],
            s=90,
            color=colour,
            edgecolors="black",
            zorder=6,
            label=f"{p['name']} policy",
        )

    ax.set_xlabel("gender accuracy of the attacker (%)")
    ax.set_ylabel("activity accuracy (%)")
    ax.xaxis.set_major_formatter(_PERCENT)
    ax.yaxis.set_major_formatter(_PERCENT)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right", framealpha=0.9)
    ax.set_title(title or "Privacy-utility trade-off")
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- per-user CDFs


def plot_user_cdfs(
    per_user: Mapping[str, Mapping[str, np.ndarray]],
    path: str | Path,
    *,
    title: str = "",
) -> Path:
    """Empirical CDFs of per-user accuracies (DySan Figure 3 style), one curve per series.

    ``per_user`` maps a series (``"raw"``, ``"fixed"``, ``"personalized"``, ``"dynamic"``...)
    to ``{"activity": (U,), "gender": (U,)}``. Left panel activity, right panel gender (with
    the chance line at 50%). NaN users (no windows) are dropped; the legend gives the
    number of users each curve is drawn from. A curve further right is better for activity;
    for gender, a curve steep around 50% means the attacker is at chance for most users.
    """
    if len(per_user) == 0:
        raise ValueError("per_user is empty")
    data: dict[str, dict[str, np.ndarray]] = {}
    for name, series in per_user.items():
        _require_keys(f"per_user[{name!r}]", series, ("activity", "gender"))
        a = _as_1d(f"per_user[{name!r}]['activity']", series["activity"])
        g = _as_1d(f"per_user[{name!r}]['gender']", series["gender"])
        if a.size != g.size:
            raise ValueError(
                f"per_user[{name!r}]: activity and gender lengths differ: {a.size} != {g.size}"
            )
        for key, arr in (("activity", a), ("gender", g)):
            finite = arr[np.isfinite(arr)]
            if finite.size and (finite.min() < 0 or finite.max() > 1):
                raise ValueError(f"per_user[{name!r}][{key!r}] must be accuracies in [0, 1]")
        data[str(name)] = {"activity": a, "gender": g}

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, layout="constrained")
    for ax, key in zip(axes, ("activity", "gender"), strict=True):
        finite = np.concatenate([d[key][np.isfinite(d[key])] for d in data.values()])
        # Zoom on the data (accuracies cluster high) but keep chance in view for gender.
        low = float(finite.min()) if finite.size else 0.0
        if key == "gender":
            low = min(low, CHANCE - 0.05)
        low = max(0.0, math.floor((low - 0.02) * 20) / 20)
        for k, (name, series) in enumerate(data.items()):
            values = np.sort(series[key][np.isfinite(series[key])])
            colour = SERIES_COLOURS.get(name.lower(), f"C{k % 10}")
            if values.size == 0:  # keep the series visible in the legend, with n=0
                ax.plot([], [], color=colour, label=f"{name} (n=0)")
                continue
            # Start at 0 left of the smallest value so the first step is visible.
            x = np.concatenate([[values[0]], values])
            y = np.arange(values.size + 1) / values.size
            ax.step(x, y, where="post", color=colour, lw=1.6, label=f"{name} (n={values.size})")
        if key == "gender":
            ax.axvline(CHANCE, color="grey", ls="--", lw=1, label="chance (50%)")
        ax.set_title(f"{key} accuracy per user")
        ax.set_xlabel(f"per-user {key} accuracy (%)")
        ax.set_xlim(low - 0.01, 1.01)
        ax.set_ylim(0, 1.02)
        ax.xaxis.set_major_formatter(_PERCENT)
        ax.yaxis.set_major_formatter(_PERCENT)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    axes[0].set_ylabel("users with accuracy ≤ x (%)")
    return _finish(fig, title, path)


# ----------------------------------------------------------------------------- traces


def _group_label(names: Sequence[str]) -> str:
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


def _trace_rows(
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
        label = _group_label([channels[i] for i in cols])
        rows.append((label, np.linalg.norm(data[:, cols], axis=1), cols))
    return rows


def _unit_of(units: Mapping[str, str] | str, channels: Sequence[str]) -> str:
    if isinstance(units, str):
        return units
    found = {units.get(ch, "a.u.") for ch in channels}
    return found.pop() if len(found) == 1 else "mixed units"


def plot_traces(
    raw_WxC: np.ndarray,
    released: Mapping[str, np.ndarray],
    channels: Sequence[str],
    rate_hz: float,
    path: str | Path,
    *,
    title: str = "",
    units: Mapping[str, str] | str = "a.u.",
) -> Path:
    """Raw against released traces of ONE window, with spectrograms.

    Layout: the left column has one row per channel (up to six; with more, one row per
    group of three consecutive channels, drawn as their magnitude), time in seconds, raw in
    black on top and each released version in its own colour. The right column has one
    spectrogram per version (raw first, then ``released`` in order) of the magnitude of the
    first three channels (the first channel alone if fewer), on a shared dB colour scale
    so the versions compare directly. ``units`` is one unit for every channel or a
    per-channel mapping (default ``"a.u."``: windows are often standardised).
    """
    raw = np.asarray(raw_WxC, dtype=float)
    if raw.ndim != 2:
        raise ValueError(f"raw_WxC must be 2-D (window, channels), got shape {raw.shape}")
    w, c = raw.shape
    if c == 0:
        raise ValueError("raw_WxC has no channels")
    if len(channels) != c:
        raise ValueError(f"channels has {len(channels)} names but raw_WxC has {c} channels")
    if w < 8:
        raise ValueError(f"raw_WxC has {w} samples; at least 8 are needed for a spectrogram")
    if not (math.isfinite(rate_hz) and rate_hz > 0):
        raise ValueError(f"rate_hz must be positive, got {rate_hz}")
    versions: dict[str, np.ndarray] = {"raw": raw}
    for name, arr in released.items():
        arr = np.asarray(arr, dtype=float)
        if arr.shape != raw.shape:
            raise ValueError(f"released[{name!r}] has shape {arr.shape}, raw_WxC has {raw.shape}")
        if str(name) == "raw":
            raise ValueError("released must not contain a version named 'raw'")
        versions[str(name)] = arr
    channels = [str(ch) for ch in channels]

    colours = {
        name: "black" if name == "raw" else SERIES_COLOURS.get(name.lower(), f"C{k % 10}")
        for k, name in enumerate(versions)
    }
    t = np.arange(w) / rate_hz
    trace_rows = {name: _trace_rows(arr, channels) for name, arr in versions.items()}
    n_trace = len(trace_rows["raw"])
    n_spec = len(versions)

    height = max(1.6 * max(n_trace, n_spec), 3.2) + 0.6
    fig = plt.figure(figsize=(13, height), layout="constrained")
    fig.get_layout_engine().set(hspace=0.03)  # a sliver between stacked spectrograms
    outer = fig.add_gridspec(1, 2, width_ratios=(1.5, 1.0))
    left = outer[0].subgridspec(n_trace, 1)
    right = outer[1].subgridspec(n_spec, 1)

    trace_axes = []
    for r in range(n_trace):
        ax = fig.add_subplot(left[r], sharex=trace_axes[0] if trace_axes else None)
        trace_axes.append(ax)
        for name in versions:
            label, series, cols = trace_rows[name][r]
            is_raw = name == "raw"
            ax.plot(
                t,
                series,
                color=colours[name],
                lw=1.3 if is_raw else 1.0,
                alpha=1.0 if is_raw else 0.85,
                zorder=3 if is_raw else 2,  # raw on top: the reference to compare with
                label=name,
            )
        ax.set_ylabel(f"{label}\n({_unit_of(units, [channels[i] for i in cols])})", fontsize=8)
        ax.grid(alpha=0.3)
        ax.tick_params(labelsize=7)
        if r < n_trace - 1:
            ax.tick_params(labelbottom=False)
    trace_axes[-1].set_xlabel("time (s)")
    trace_axes[-1].set_xlim(t[0], t[-1])
    # Legend above the traces: inside it would hide a stretch of the first channel.
    trace_axes[0].legend(
        fontsize=8, ncol=min(len(versions), 4), loc="lower left", bbox_to_anchor=(0.0, 1.02)
    )

    # Spectrograms of one magnitude series per version.
    mag_cols = list(range(min(3, c))) if c >= 3 else [0]
    mag_label = _group_label([channels[i] for i in mag_cols])
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
    spec_axes = []
    mesh = None
    for r, (name, (f, ts, db)) in enumerate(spectra.items()):
        ax = fig.add_subplot(right[r], sharex=spec_axes[0] if spec_axes else None)
        spec_axes.append(ax)
        mesh = ax.pcolormesh(ts, f, db, shading="nearest", cmap="magma", vmin=vmin, vmax=vmax)
        ax.set_ylabel("freq. (Hz)", fontsize=8)
        ax.text(
            0.99,
            0.95,
            name,
            transform=ax.transAxes,
            ha="right",
            va="top",
            fontsize=8,
            color=colours[name],
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.85},
        )
        ax.tick_params(labelsize=7)
        if r < n_spec - 1:
            ax.tick_params(labelbottom=False)
    spec_axes[0].set_title(f"spectrogram of {mag_label}", fontsize=9)
    spec_axes[-1].set_xlabel("time (s)")
    cb = fig.colorbar(mesh, ax=spec_axes, pad=0.02, fraction=0.05)
    cb.set_label("power spectral density (dB)", fontsize=8)
    cb.ax.tick_params(labelsize=7)
    return _finish(fig, title, path)


# ----------------------------------------------------------------------------- bar charts


def _spans_decades(values: np.ndarray, decades: float = 2.0) -> bool:
    """Whether positive finite ``values`` span more than ``decades`` powers of ten.

    Non-positive values cannot go on a log axis, so any of them keeps the scale linear.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2 or (v <= 0).any():
        return False
    return bool(np.log10(v.max() / v.min()) > decades)


def _group_offsets(n_bars: int, width: float = 0.8) -> tuple[np.ndarray, float]:
    """Centre offsets of ``n_bars`` bars sharing one group of total ``width``."""
    bar = width / n_bars
    return (np.arange(n_bars) - (n_bars - 1) / 2) * bar, bar


def plot_distortion(
    rel_errors: Mapping[str, Mapping[str, float]],
    path: str | Path,
    *,
    stats: Sequence[str] = DISTORTION_STATS,
    title: str = "",
) -> Path:
    """Relative error of window statistics per transform (DySan Figure 4 style).

    ``rel_errors`` maps a transform (``"raw-noise"``, ``"dysan-a0.3-l0.5"``, ...) to
    ``{stat: relative error}``; one group of bars per statistic, one bar per transform.
    The y axis is logarithmic when the positive values span more than two decades (a
    linear axis would show the small errors as empty), linear otherwise; NaN bars are
    left out.
    """
    if len(rel_errors) == 0:
        raise ValueError("rel_errors is empty")
    if len(stats) == 0:
        raise ValueError("stats is empty")
    names = [str(n) for n in rel_errors]
    values = np.empty((len(names), len(stats)))
    for i, (name, errs) in enumerate(rel_errors.items()):
        _require_keys(f"rel_errors[{name!r}]", errs, stats)
        for j, s in enumerate(stats):
            try:
                values[i, j] = float(errs[s])
            except (TypeError, ValueError):
                raise ValueError(
                    f"rel_errors[{name!r}][{s!r}] must be a number, got {errs[s]!r}"
                ) from None
    log = _spans_decades(values)

    fig, ax = plt.subplots(figsize=(max(7.0, 1.2 * len(stats) + 0.25 * values.size), 4.5))
    offsets, bar = _group_offsets(len(names))
    x = np.arange(len(stats))
    for i, name in enumerate(names):
        colour = SERIES_COLOURS.get(name.lower(), f"C{i % 10}")
        ax.bar(x + offsets[i], values[i], width=bar, color=colour, label=name, zorder=2)
    ax.set_xticks(x, list(stats))
    ax.set_xlabel("window statistic")
    ax.set_ylabel("relative error (log scale)" if log else "relative error")
    if log:
        ax.set_yscale("log")
    ax.grid(alpha=0.3, axis="y", which="both" if log else "major")
    ax.legend(
        fontsize=8,
        title="transform",
        title_fontsize=8,
        ncol=1 if len(names) <= 6 else 2,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
    )
    ax.set_title(title or "Distortion of window statistics (lower is closer to raw)")
    return save_figure(fig, path)


def plot_metric_bars(
    rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    *,
    metric_keys: Sequence[str],
    title: str = "",
) -> Path:
    """Several accuracies per transform as grouped bars (one group per row).

    Each row has ``"name"`` and every key of ``metric_keys`` (an accuracy in [0, 1], NaN
    for "not measured": no bar), optionally ``"<key>_ci"`` = (low, high) for an error bar
    and ``"chance"``, drawn as a dashed line across that row's group (e.g. 0.5 for a gender
    attacker; rows may differ, e.g. activity chance 1/K).
    """
    if len(rows) == 0:
        raise ValueError("rows is empty")
    if len(metric_keys) == 0:
        raise ValueError("metric_keys is empty")
    names, values, lo_err, hi_err, chances, has_ci_rows = [], [], [], [], [], []
    for i, row in enumerate(rows):
        _require_keys(f"rows[{i}]", row, ("name", *metric_keys))
        names.append(str(row["name"]))
        vals, lo, hi, cis = [], [], [], []
        for key in metric_keys:
            v = _fraction(f"rows[{i}][{key!r}]", row[key], allow_nan=True)
            e = (0.0, 0.0)
            ci = row.get(f"{key}_ci") is not None and not math.isnan(v)
            if ci:
                e = _interval(f"rows[{i}][{key + '_ci'!r}]", row[f"{key}_ci"], v)
            cis.append(ci)
            vals.append(v)
            lo.append(e[0])
            hi.append(e[1])
        values.append(vals)
        has_ci_rows.append(cis)
        lo_err.append(lo)
        hi_err.append(hi)
        c = row.get("chance")
        chances.append(None if c is None else _fraction(f"rows[{i}]['chance']", c))
    val = np.array(values)
    err = np.stack([np.array(lo_err), np.array(hi_err)])  # (2, rows, keys)

    has_ci = np.array(has_ci_rows)  # (rows, keys)

    width = max(6.5, 1.1 * len(rows) * max(1, len(metric_keys) / 2))
    fig, ax = plt.subplots(figsize=(width, 4.5))
    offsets, bar = _group_offsets(len(metric_keys))
    x = np.arange(len(rows))
    for j, key in enumerate(metric_keys):
        xs = x + offsets[j]
        ax.bar(xs, np.nan_to_num(val[:, j]), width=bar, color=f"C{j % 10}", label=key, zorder=2)
        ci = has_ci[:, j]
        if ci.any():  # only bars with an interval: no zero-length caps on the others
            ax.errorbar(
                xs[ci],
                val[ci, j],
                yerr=err[:, ci, j],
                fmt="none",
                ecolor="0.15",
                elinewidth=1,
                capsize=3,
                zorder=4,
            )
        for i in np.flatnonzero(np.isnan(val[:, j])):  # an empty slot would read as 0%
            ax.text(xs[i], 0.01, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
    chance_drawn = False
    for i, c in enumerate(chances):
        if c is None:
            continue
        ax.hlines(
            c,
            x[i] - 0.45,
            x[i] + 0.45,
            colors="black",
            linestyles="--",
            lw=1.2,
            zorder=3,
            label=None if chance_drawn else "chance",
        )
        chance_drawn = True
    ax.set_xticks(
        x, names, rotation=20 if len(rows) > 4 else 0, ha="right" if len(rows) > 4 else "center"
    )
    ax.set_xlabel("transform")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 1.05)
    ax.yaxis.set_major_formatter(_PERCENT)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    ax.set_title(title or "Accuracy per transform")
    return save_figure(fig, path)
