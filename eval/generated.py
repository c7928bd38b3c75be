"""The harness for generator runs: real windows vs samples, judged by ``eval.generators``.

``python -m eval.harness --run runs/sensegen-quick`` lands here when the
checkpoint's method is a generator. The run's own data preparation is redone
from its checkpoint (same channels, windows, split), the generator samples as
many windows as there are held-out real ones (with the real activity mix when
it is conditional, so TSTR has labels; as the training users, drawn with their
activities, when it is conditioned on subject attributes), and the registered generator
evaluators write ``<run>/report/``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from eval.generator_markdown import render_markdown
from eval.generators import GEN_EVALUATORS, PRESETS, GenContext, evaluate_generator
from jaxpriv.checkpoint import Checkpointer
from jaxpriv.data.dataset import Dataset
from jaxpriv.data.load import load_from_description
from jaxpriv.plots import save_figure
from jaxpriv.run_io import write_json_atomic, write_text_atomic


@dataclasses.dataclass(frozen=True)
class Generated:
    """Real windows of a generator run's own split, and samples of its generator."""

    name: str
    real_train: np.ndarray
    real_test: np.ndarray
    synthetic: np.ndarray
    channels: tuple[str, ...]
    rate_hz: float | None
    y_train: np.ndarray | None
    y_test: np.ndarray | None
    y_synthetic: np.ndarray | None
    activities: tuple[str, ...]


# method -> (run_dir, dataset or None, seed) -> Generated
SAMPLERS: dict[str, Callable[[Path, Dataset | None, int], Generated]] = {}


def register_sampler(method: str):
    def wrap(fn):
        SAMPLERS[method] = fn
        return fn

    return wrap


def run_method(run_dir: Path) -> str | None:
    """The ``method`` recorded in a run's checkpoint metadata."""
    return _meta(run_dir).get("method")


def training_attributes(
    train: dict[str, np.ndarray],
    num_samples: int,
    activity: np.ndarray | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """Standardised subject attributes of randomly drawn training windows, one per sample.

    A generator conditioned on attributes is judged against the training users, so it
    samples as them: sample ``i`` takes the attributes of a random training window with
    activity ``activity[i]`` (of any training window when ``activity`` is None), keeping
    the joint distribution of activity and subject. The training mean would be nobody's.
    """
    pool, labels = train["attributes"], train["activity"]
    if activity is None:
        return pool[rng.integers(0, len(pool), num_samples)]
    out = np.empty((num_samples, pool.shape[1]), pool.dtype)
    for a in np.unique(activity):
        rows, where = np.flatnonzero(labels == a), np.flatnonzero(activity == a)
        if not len(rows):
            raise ValueError(f"no training window has activity {a}: cannot draw its subjects")
        out[where] = pool[rng.choice(rows, len(where))]
    return out


@register_sampler("sensegen")
def _sensegen(run_dir: Path, ds: Dataset | None, seed: int) -> Generated:
    from jaxpriv.methods.sensegen import prepare_sensegen_data
    from jaxpriv.methods.sensegen_io import load_generator

    gen = load_generator(run_dir)
    meta = _meta(run_dir)
    prepared = meta["prepared"]
    ds = ds if ds is not None else load_from_description(meta["data"])
    data = prepare_sensegen_data(
        ds,
        channels=prepared["channels"],
        window=prepared["window"],
        stride=prepared["stride"],
        activities=prepared["activities"],
        activity_map=[tuple(pair) for pair in prepared.get("activity_map", ())],
        split=prepared["split"],
        **({"test_subjects": prepared["test_subjects"]} if prepared["split"] == "subject" else {}),
    )
    y_test = data.test["activity"]
    conditional = gen.config.conditional
    attributes = None
    if gen.config.attributes:
        rng = np.random.default_rng(seed)
        chosen = training_attributes(data.train, len(y_test), y_test if conditional else None, rng)
        attributes = chosen * gen.attribute_std + gen.attribute_mean  # sample() takes raw units
    synthetic = gen.sample(
        seed,
        len(y_test),
        data.window,
        activity=y_test if conditional else None,
        attributes=attributes,
    )
    return Generated(
        name=gen.name,
        real_train=data.scaler.invert(data.train["x"]),
        real_test=data.scaler.invert(data.test["x"]),
        synthetic=np.asarray(synthetic, np.float32),
        channels=tuple(data.channels),
        rate_hz=data.rate_hz,
        y_train=data.train["activity"],
        y_test=y_test,
        y_synthetic=y_test.copy() if conditional else None,
        activities=tuple(data.activities),
    )


@register_sampler("symbolic")
def _symbolic(run_dir: Path, ds: Dataset | None, seed: int) -> Generated:
    from jaxpriv.methods import symbolic
    from jaxpriv.methods.symbolic_io import load_generator
    from jaxpriv.quantize import load_tabular_csv

    gen = load_generator(run_dir)
    meta = _meta(run_dir)
    prepared = meta["prepared"]
    cfg = symbolic.SymbolicConfig(**meta["config"])
    if meta["data"].get("kind") == "csv":  # tabular rows: the run's own random held-out rows
        values, names = load_tabular_csv(meta["data"]["path"])
        _, data = symbolic.prepare_tabular(values, names, cfg, seed=0)
    else:
        ds = ds if ds is not None else load_from_description(meta["data"])
        split_kwargs = (
            {"test_subjects": prepared["test_subjects"]} if prepared["split"] == "subject" else {}
        )
        _, data = symbolic.prepare_windows(ds, cfg, split=prepared["split"], **split_kwargs)
    windows = data.kind == "windows"
    real_train, real_test = data.train_values, data.test_values
    if not windows:  # (N, 1, F) sequences of one step -> (N, F) rows
        real_train, real_test = real_train[:, 0], real_test[:, 0]
    y_test = data.test_activity if windows else None
    samples = gen.sample(jax.random.key(seed), len(real_test), activity=y_test if windows else None)
    return Generated(
        name=gen.name,
        real_train=np.asarray(real_train, np.float32),
        real_test=np.asarray(real_test, np.float32),
        synthetic=np.asarray(samples.x, np.float32).reshape((-1, *real_test.shape[1:])),
        channels=tuple(data.names),
        rate_hz=data.rate_hz,
        y_train=data.train_activity if windows else None,
        y_test=y_test,
        y_synthetic=None if samples.activity is None else np.asarray(samples.activity),
        activities=tuple(data.activities),
    )


def _meta(run_dir: Path) -> dict[str, Any]:
    ckpt = Checkpointer(run_dir / "checkpoints", read_only=True)
    try:
        return ckpt.restore_meta()
    finally:
        ckpt.close()


def evaluate_run(
    run_dir: Path,
    method: str,
    *,
    ds: Dataset | None,
    preset: str,
    evaluators: list[str] | None,
    out: Path,
    seed: int,
) -> dict[str, Any]:
    """Sample, evaluate and write ``metrics.json``, ``report.md`` and ``samples.png``."""
    started = time.perf_counter()
    print(f"evaluating generator run {run_dir} ({method})", file=sys.stderr)
    g = SAMPLERS[method](run_dir, ds, seed)
    ctx = GenContext(
        real_train=g.real_train,
        real_test=g.real_test,
        synthetic=g.synthetic,
        channels=g.channels,
        rate_hz=g.rate_hz,
        y_train=g.y_train,
        y_test=g.y_test,
        y_synthetic=g.y_synthetic,
        activity_names=g.activities,
        config=PRESETS[preset],
        seed=seed,
    )
    results = evaluate_generator(ctx, evaluators)
    summary = {
        "run": str(run_dir),
        "method": method,
        "generator": g.name,
        "preset": preset,
        "elapsed_s": time.perf_counter() - started,
        **results,
    }
    out.mkdir(parents=True, exist_ok=True)
    figure = _plot_samples(g, out / "samples.png")
    write_json_atomic(out / "metrics.json", summary)
    text = f"# Generator evaluation of `{run_dir}` ({method})\n\n" + render_markdown(results)
    write_text_atomic(out / "report.md", text + f"\n\n![samples]({figure.name})\n")
    return summary


def _plot_samples(g: Generated, path: Path, count: int = 3) -> Path:
    """Windows: real held-out (top) above generated (bottom). Rows: per-feature histograms."""
    import matplotlib.pyplot as plt

    if g.real_test.ndim == 2:
        shown = min(len(g.channels), 6)
        fig, axes = plt.subplots(1, shown, figsize=(3.5 * shown, 3), squeeze=False)
        for f, ax in enumerate(axes[0]):
            ax.hist(g.real_test[:, f], bins=30, alpha=0.6, density=True, label="held-out real")
            ax.hist(g.synthetic[:, f], bins=30, alpha=0.6, density=True, label="generated")
            ax.set_title(g.channels[f])
            ax.grid(alpha=0.3)
        axes[0][0].legend(fontsize=7)
        return save_figure(fig, path)
    fig, axes = plt.subplots(2, count, figsize=(4 * count, 5), sharey=True, squeeze=False)
    t = np.arange(g.real_test.shape[1]) / (g.rate_hz or 1.0)
    rows = (("real", g.real_test, g.y_test), ("generated", g.synthetic, g.y_synthetic))
    for row, (label, x, y) in enumerate(rows):
        for i in range(count):
            ax, k = axes[row][i], i * len(x) // count
            for c, name in enumerate(g.channels):
                ax.plot(t, x[k, :, c], lw=0.8, label=name)
            activity = f" ({g.activities[y[k]]})" if y is not None and g.activities else ""
            ax.set_title(f"{label} #{k}{activity}", fontsize=10)
            ax.grid(alpha=0.3)
            if row == 1:
                ax.set_xlabel("time (s)" if g.rate_hz else "step")
    axes[0][0].legend(fontsize=7)
    return save_figure(fig, path)


__all__ = ["GEN_EVALUATORS", "SAMPLERS", "evaluate_run", "run_method"]
