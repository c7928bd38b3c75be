"""Figures people would rather look at than tables, written atomically as PNG."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display needed
import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from jaxpriv.run_io import write_bytes_atomic


def save_figure(fig, path: str | Path) -> Path:
    """Render to memory, then write atomically (never a partial PNG); closes ``fig``."""
    path = Path(path)
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    finally:
        plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
    return path


def plot_loss_history(
    history: Sequence[Mapping[str, Sequence[float] | int]],
    names: Sequence[str],
    losses: Sequence[str],
    path: str | Path,
    colour_by: Sequence[float] | None = None,
) -> Path:
    """One panel per loss, one line per variant, against the epoch."""
    epochs = [h["epoch"] for h in history]
    fig, axes = plt.subplots(1, len(losses), figsize=(5 * len(losses), 3.6), squeeze=False)
    cmap = plt.get_cmap("viridis")
    lo, hi = (min(colour_by), max(colour_by)) if colour_by else (0.0, 1.0)
    for ax, loss in zip(axes[0], losses, strict=True):
        for i, name in enumerate(names):
            shade = 0.5 if not colour_by or hi == lo else (colour_by[i] - lo) / (hi - lo)
            values = [h[loss][i] for h in history]
            ax.plot(epochs, values, color=cmap(shade), lw=1, alpha=0.8, label=name)
        ax.set_title(loss)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    if len(names) <= 12:
        axes[0][-1].legend(fontsize=7)
    return save_figure(fig, path)
