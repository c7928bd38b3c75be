"""The evaluation report's PNG figures, drawn from plain numbers.

Every function takes numpy arrays, dicts and lists (never harness objects), checks them,
draws one figure and writes it with :func:`jaxpriv.plots.save_figure` (atomic PNG write,
figure closed afterwards); each returns the written :class:`~pathlib.Path`. Inputs are
validated *before* a figure is opened, so a ``ValueError`` never leaves a figure behind.

Accuracies are fractions in ``[0, 1]`` and are shown as percentages.

- :func:`plot_privacy_utility`: attacker gender accuracy (x) against activity accuracy (y).
- :func:`plot_user_cdfs`: per-user accuracy CDFs per policy (DySan Figure 3 style).
- :func:`plot_traces`: one window, raw against released, with spectrograms.
- :func:`plot_distortion`: relative error of window statistics (DySan Figure 4 style).
- :func:`plot_metric_bars`: grouped accuracy bars per transform.

The input checks are in :mod:`eval.figure_inputs`, the numbers drawn (the Pareto front,
trace rows, spectrograms) in :mod:`eval.figure_layout`, and the larger layers in
:mod:`eval.figure_panels`; this module opens, assembles and saves the figures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.figure_inputs import (
    check_metric_rows,
    check_per_user,
    check_privacy_utility,
    check_rel_errors,
    check_traces,
)
from eval.figure_layout import (
    CHANCE,
    group_label,
    group_offsets,
    pareto_front,
    spans_decades,
    spectrograms,
    trace_rows,
)
from eval.figure_panels import draw_front, draw_spectrograms, draw_trace_rows, draw_variants
from jaxpriv.plots import save_figure  # selects the Agg backend: import before pyplot

# isort: split
import matplotlib.pyplot as plt
from matplotlib.ticker import PercentFormatter

__all__ = [
    "DISTORTION_STATS",
    "plot_distortion",
    "plot_metric_bars",
    "plot_privacy_utility",
    "plot_traces",
    "plot_user_cdfs",
]

DISTORTION_STATS: tuple[str, ...] = ("mean", "std", "skewness", "kurtosis", "energy")
# Fixed colours for the usual series so every figure of a report agrees.
SERIES_COLOURS: Mapping[str, str] = {
    "raw": "black",
    "fixed": "tab:orange",
    "personalized": "tab:green",
    "dynamic": "tab:purple",
}
_POLICY_MARKERS = ("s", "D", "^", "v", "P", "X", "h")
_PERCENT = PercentFormatter(xmax=1.0, decimals=0)


def _finish(fig: Any, title: str, path: str | Path) -> Path:
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- privacy-utility


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
    pts, ref, pols = check_privacy_utility(points, reference, policies)

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
    draw_variants(fig, ax, gen, act, alphas)

    draw_front(ax, gen, act, leak, front, [p["name"] for p in pts])

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
    data = check_per_user(per_user)

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
    versions, channels = check_traces(raw_WxC, released, channels, rate_hz)
    w, c = versions["raw"].shape

    colours = {
        name: "black" if name == "raw" else SERIES_COLOURS.get(name.lower(), f"C{k % 10}")
        for k, name in enumerate(versions)
    }
    t = np.arange(w) / rate_hz
    rows = {name: trace_rows(arr, channels) for name, arr in versions.items()}
    n_trace = len(rows["raw"])
    n_spec = len(versions)

    height = max(1.6 * max(n_trace, n_spec), 3.2) + 0.6
    fig = plt.figure(figsize=(13, height), layout="constrained")
    fig.get_layout_engine().set(hspace=0.03)  # a sliver between stacked spectrograms
    outer = fig.add_gridspec(1, 2, width_ratios=(1.5, 1.0))
    left = outer[0].subgridspec(n_trace, 1)
    right = outer[1].subgridspec(n_spec, 1)

    draw_trace_rows(fig, left, t, rows, colours, channels, units)

    # Spectrograms of one magnitude series per version.
    mag_cols = list(range(min(3, c))) if c >= 3 else [0]
    mag_label = group_label([channels[i] for i in mag_cols])
    spectra, vmin, vmax = spectrograms(versions, mag_cols, rate_hz)
    draw_spectrograms(fig, right, spectra, colours, vmin, vmax, mag_label)
    return _finish(fig, title, path)


# ----------------------------------------------------------------------------- bar charts


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
    names, values = check_rel_errors(rel_errors, stats)
    log = spans_decades(values)

    fig, ax = plt.subplots(figsize=(max(7.0, 1.2 * len(stats) + 0.25 * values.size), 4.5))
    offsets, bar = group_offsets(len(names))
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
    names, val, err, has_ci, chances = check_metric_rows(rows, metric_keys)

    width = max(6.5, 1.1 * len(rows) * max(1, len(metric_keys) / 2))
    fig, ax = plt.subplots(figsize=(width, 4.5))
    offsets, bar = group_offsets(len(metric_keys))
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
