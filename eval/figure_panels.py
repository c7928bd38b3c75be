"""Layers of the report figures, each drawn onto axes or grid cells it is given.

The alpha-coloured variants and the Pareto staircase of the privacy-utility plot, and
the trace rows and spectrogram column of the trace plot. :mod:`eval.figures` opens the
figures, checks their inputs and saves them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.colors import Normalize

from eval.figure_layout import CHANCE, unit_of

MAX_ANNOTATED = 6  # Pareto points labelled by name; more would overlap


def draw_variants(fig: Any, ax: Any, gen: np.ndarray, act: np.ndarray, alphas: np.ndarray) -> None:
    """The variants: those with an ``alpha`` coloured by it (colour bar), the others grey."""
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


def draw_front(
    ax: Any,
    gen: np.ndarray,
    act: np.ndarray,
    leak: np.ndarray,
    front: np.ndarray,
    names: Sequence[str],
) -> None:
    """The Pareto ``front`` (a mask) as a staircase, its points outlined and a spread of
    them labelled with their ``names``."""
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
            names[i],
            (gen[i], act[i]),
            xytext=(7 * toward, 7 + 6 * (k % 2)),  # staggered so neighbours don't collide
            textcoords="offset points",
            ha="right" if toward < 0 else "left",
            fontsize=7,
            color="tab:red",
            bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.7},
            zorder=5,
        )


def draw_trace_rows(
    fig: Any,
    cells: Any,
    t: np.ndarray,
    rows: Mapping[str, list[tuple[str, np.ndarray, list[int]]]],
    colours: Mapping[str, str],
    channels: Sequence[str],
    units: Mapping[str, str] | str,
) -> None:
    """One row of traces per ``rows`` entry (every version on it, raw on top) in ``cells``,
    with the versions' legend above the first row."""
    versions = list(rows)
    n_trace = len(rows["raw"])
    trace_axes = []
    for r in range(n_trace):
        ax = fig.add_subplot(cells[r], sharex=trace_axes[0] if trace_axes else None)
        trace_axes.append(ax)
        for name in versions:
            label, series, cols = rows[name][r]
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
        ax.set_ylabel(f"{label}\n({unit_of(units, [channels[i] for i in cols])})", fontsize=8)
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


def draw_spectrograms(
    fig: Any,
    cells: Any,
    spectra: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    colours: Mapping[str, str],
    vmin: float,
    vmax: float,
    mag_label: str,
) -> None:
    """One spectrogram per version stacked in ``cells``, on one colour scale with its bar."""
    n_spec = len(spectra)
    spec_axes = []
    mesh = None
    for r, (name, (f, ts, db)) in enumerate(spectra.items()):
        ax = fig.add_subplot(cells[r], sharex=spec_axes[0] if spec_axes else None)
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
