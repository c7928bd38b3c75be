"""Evaluators for generators of synthetic data, registered by name.

Each evaluator is ``fn(ctx: GenContext) -> dict`` of JSON-able metrics (or
``{"skipped": reason}`` when it does not apply, e.g. TSTR without labels), built on
:mod:`jaxpriv.synthetic_metrics`. :func:`evaluate_generator` runs a selection with
progress lines; :func:`eval.generator_markdown.render_markdown` turns its result into
report tables.

The generator learned from ``real_train``, so every metric compares ``synthetic`` with
``real_train``, and wherever it makes sense also compares held-out ``real_test`` with
``real_train`` as the reference a perfect generator would reach (real data of the same
source that the generator never saw; with a split by user it includes the shift between
users):

- ``inliers``: one-class SVMs (linear, as seed 004, and the far stricter RBF);
- ``discriminator``: LSTM real-vs-synthetic accuracy over seeds, with the sanity rows
  real vs real (``real_test``) and real vs matched Gaussian noise;
- ``marginals``: per-channel KS and Wasserstein distances;
- ``correlation``: RMS difference of (lagged) channel correlation matrices;
- ``tstr``: train on synthetic, test on real vs train on real (needs labels);
- ``memorization``: distance to the closest training record, exact copies.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import jax
import numpy as np

from jaxpriv.classify import ClassifierConfig
from jaxpriv.synthetic_metrics import utility
from jaxpriv.synthetic_metrics.dcr import closest_record
from jaxpriv.synthetic_metrics.discriminators import (
    DiscriminatorConfig,
    discriminator_sanity,
    discriminator_test,
    feature_discriminator_test,
)
from jaxpriv.synthetic_metrics.distributions import correlation_distance, marginal_distances
from jaxpriv.synthetic_metrics.oneclass_svm import oneclass_svm_inliers
from jaxpriv.synthetic_metrics.samples import subsample_rows


@dataclasses.dataclass(frozen=True)
class GenConfig:
    """Sizes of the generator metrics (static: they fix shapes, step counts, sample sizes)."""

    discriminator: DiscriminatorConfig = dataclasses.field(default_factory=DiscriminatorConfig)
    discriminator_seeds: int = 5
    discriminator_per_side: int = 1000  # windows per side at most (same for the sanity rows)
    # A second judge on the LSTM's splits: a random forest on hand-crafted window features.
    feature_discriminator: bool = True
    forest_trees: int = 200
    test_fraction: float = 0.3
    svm_kernels: tuple[str, ...] = ("linear", "rbf")
    svm_nu: float = 0.1
    svm_max_train: int = 3000
    windows_as: str = "features"  # how the SVM sees windows: "features" or "flat"
    marginal_max_values: int | None = 200_000  # values per side and channel
    correlation_lags: tuple[int, ...] = (0, 1, 5)  # time steps; rows use lag 0 only
    tstr_cnn: ClassifierConfig = dataclasses.field(default_factory=ClassifierConfig)
    tstr_seeds: int = 2
    memorization_queries: int = 2000  # synthetic and held-out samples measured (all train)


# The discriminator's row for the feature forest (the LSTM's is "synthetic vs real").
FOREST_ROW = "synthetic vs real (feature forest)"

PRESETS: dict[str, GenConfig] = {
    # Minutes on 2 CPU cores for a few thousand windows.
    "quick": GenConfig(
        discriminator=DiscriminatorConfig(hidden=32, dense=32, steps=300, batch_size=64),
        discriminator_per_side=600,
        svm_max_train=2000,
        tstr_cnn=ClassifierConfig(features=(16, 32, 32), dense=32, steps=400, batch_size=64),
        tstr_seeds=1,
        memorization_queries=1000,
    ),
    # With an accelerator: bigger models, more windows.
    "full": GenConfig(
        discriminator=DiscriminatorConfig(hidden=64, dense=64, steps=1500, batch_size=128),
        discriminator_per_side=3000,
        svm_max_train=5000,
        tstr_cnn=ClassifierConfig(steps=800),
        tstr_seeds=3,
        memorization_queries=5000,
    ),
    # Unit tests only: seconds, not accuracy.
    "test": GenConfig(
        discriminator=DiscriminatorConfig(hidden=8, dense=8, steps=80, batch_size=32),
        discriminator_seeds=3,
        discriminator_per_side=60,
        svm_max_train=200,
        marginal_max_values=5000,
        correlation_lags=(0, 1),
        forest_trees=30,
        tstr_cnn=ClassifierConfig(features=(8, 8), dense=8, steps=60, batch_size=32),
        tstr_seeds=1,
        memorization_queries=100,
    ),
}


def _print(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _optional_labels(y: Any, n: int, name: str) -> np.ndarray | None:
    if y is None:
        return None
    y = np.asarray(y)
    if y.shape != (n,) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"{name} must be ({n},) integer labels, got {y.dtype} {y.shape}")
    return y


@dataclasses.dataclass
class GenContext:
    """Real and synthetic samples of one generator, and how to evaluate them.

    Samples are windows ``(N, T, C)`` or rows ``(N, F)``, all three sets with one sample
    shape; ``channels`` names the last axis. Labels (activities) are optional; without
    ``y_synthetic`` (an unconditional generator) TSTR is skipped. ``rate_hz`` (windows
    only) feeds the SVM's window features.
    """

    real_train: np.ndarray
    real_test: np.ndarray
    synthetic: np.ndarray
    channels: Sequence[str]
    rate_hz: float | None = None
    y_train: np.ndarray | None = None
    y_test: np.ndarray | None = None
    y_synthetic: np.ndarray | None = None
    activity_names: Sequence[str] | None = None
    config: GenConfig = dataclasses.field(default_factory=lambda: PRESETS["quick"])
    seed: int = 0
    log: Callable[[str], None] = _print
    started: float = dataclasses.field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        self.real_train = np.asarray(self.real_train)
        self.real_test = np.asarray(self.real_test)
        self.synthetic = np.asarray(self.synthetic)
        shape = self.real_train.shape[1:]
        if self.real_train.ndim not in (2, 3):
            raise ValueError(f"real_train must be (N, T, C) or (N, F), got {self.real_train.shape}")
        for name in ("real_test", "synthetic"):
            if getattr(self, name).shape[1:] != shape:
                raise ValueError(
                    f"{name} has samples of shape {getattr(self, name).shape[1:]}, "
                    f"real_train has {shape}"
                )
        self.channels = tuple(self.channels)
        if len(self.channels) != shape[-1]:
            raise ValueError(f"{len(self.channels)} channel names for {shape[-1]} channels")
        self.y_train = _optional_labels(self.y_train, len(self.real_train), "y_train")
        self.y_test = _optional_labels(self.y_test, len(self.real_test), "y_test")
        self.y_synthetic = _optional_labels(self.y_synthetic, len(self.synthetic), "y_synthetic")

    @property
    def windows(self) -> bool:
        return self.real_train.ndim == 3

    def key(self, name: str) -> jax.Array:
        """A key per evaluator, reproducible (``str`` hashes are salted per process)."""
        return jax.random.fold_in(jax.random.key(self.seed), zlib.crc32(name.encode()))

    def rng(self, name: str) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(name.encode())])

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Log a long step with its duration and the elapsed time."""
        t0 = time.perf_counter()
        self.log(f"  {what} ...")
        yield
        now = time.perf_counter()
        self.log(f"  {what}: {now - t0:.1f} s (elapsed {(now - self.started) / 60:.1f} min)")

    def describe(self) -> dict[str, Any]:
        return {
            "real_train": list(self.real_train.shape),
            "real_test": list(self.real_test.shape),
            "synthetic": list(self.synthetic.shape),
            "channels": list(self.channels),
            "rate_hz": self.rate_hz,
            "labels": self.y_synthetic is not None,
        }


GenEvaluator = Callable[[GenContext], dict[str, Any]]
GEN_EVALUATORS: dict[str, GenEvaluator] = {}


def register(name: str) -> Callable[[GenEvaluator], GenEvaluator]:
    """Decorator adding ``fn`` to :data:`GEN_EVALUATORS` under ``name``."""

    def wrap(fn: GenEvaluator) -> GenEvaluator:
        if name in GEN_EVALUATORS:
            raise ValueError(f"generator evaluator {name!r} registered twice")
        GEN_EVALUATORS[name] = fn
        return fn

    return wrap


def _take(x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    return x[subsample_rows(len(x), n, rng)]


# ---------------------------------------------------------------- evaluators


@register("inliers")
def inliers(ctx: GenContext) -> dict[str, Any]:
    cfg = ctx.config
    out = {}
    for kernel in cfg.svm_kernels:
        with ctx.step(f"one-class SVM ({kernel})"):
            out[kernel] = oneclass_svm_inliers(
                ctx.real_train, ctx.synthetic, ctx.real_test,
                kernel=kernel, nu=cfg.svm_nu, seed=ctx.seed, windows_as=cfg.windows_as,
                rate_hz=ctx.rate_hz or 1.0, channels=ctx.channels, max_train=cfg.svm_max_train,
            )  # fmt: skip
    return {"per_kernel": out}


@register("discriminator")
def discriminator(ctx: GenContext) -> dict[str, Any]:
    if not ctx.windows:
        return {"skipped": "the LSTM discriminator needs windows (N, T, C), not rows"}
    cfg = ctx.config
    # One per-side size for all four tests: one pooled shape, one compiled program.
    n = min(
        cfg.discriminator_per_side, len(ctx.real_train) // 2, len(ctx.real_test), len(ctx.synthetic)
    )
    rng = ctx.rng("discriminator")
    # Two disjoint halves of the training windows: "real vs real" of the same users is the
    # floor (about 50%); held-out users show how far other people's real data already is.
    order = rng.permutation(len(ctx.real_train))
    train, other = ctx.real_train[order[:n]], ctx.real_train[order[n : 2 * n]]
    test = _take(ctx.real_test, n, rng)
    syn_rows = subsample_rows(len(ctx.synthetic), n, rng)
    syn = ctx.synthetic[syn_rows]
    # A conditional generator's windows have activities: break the accuracy down by them.
    groups = None
    if ctx.y_train is not None and ctx.y_synthetic is not None:
        groups = (ctx.y_train[order[:n]], ctx.y_synthetic[syn_rows])
    kwargs = dict(
        seeds=cfg.discriminator_seeds, cfg=cfg.discriminator, test_fraction=cfg.test_fraction
    )
    key = ctx.key("discriminator")
    rows = {}
    with ctx.step(f"LSTM discriminator, {cfg.discriminator_seeds} seeds, {n} windows a side"):
        rows["synthetic vs real"] = discriminator_test(
            train, syn, key=jax.random.fold_in(key, 0), groups=groups, **kwargs
        )
    if cfg.feature_discriminator:
        with ctx.step("feature-forest discriminator, the same splits"):
            rows[FOREST_ROW] = feature_discriminator_test(
                train, syn, key=jax.random.fold_in(key, 0), rate_hz=ctx.rate_hz or 1.0,
                channels=ctx.channels, seeds=cfg.discriminator_seeds, groups=groups,
                test_fraction=cfg.test_fraction, n_estimators=cfg.forest_trees,
            )  # fmt: skip
    with ctx.step("discriminator sanity rows (real vs real, real vs noise, held-out users)"):
        rows.update(discriminator_sanity(train, other, key=jax.random.fold_in(key, 1), **kwargs))
        rows["real vs held-out users"] = discriminator_test(
            train, test, key=jax.random.fold_in(key, 2), **kwargs
        )
    out = {"chance": 0.5, "per_side": n, "rows": rows}
    if groups is not None and ctx.activity_names:
        out["group_names"] = {str(i): name for i, name in enumerate(ctx.activity_names)}
    return out


@register("marginals")
def marginals(ctx: GenContext) -> dict[str, Any]:
    kw = dict(names=ctx.channels, max_values=ctx.config.marginal_max_values, seed=ctx.seed)
    with ctx.step("marginal distances"):
        return {
            "synthetic": marginal_distances(ctx.real_train, ctx.synthetic, **kw),
            "real_test": marginal_distances(ctx.real_train, ctx.real_test, **kw),
        }


@register("correlation")
def correlation(ctx: GenContext) -> dict[str, Any]:
    lags = tuple(lag for lag in ctx.config.correlation_lags if lag < ctx.real_train.shape[1])
    lags = lags if ctx.windows else (0,)
    if len(ctx.channels) < 2:
        lags = tuple(lag for lag in lags if lag > 0)
    if not lags:
        return {"skipped": "one channel and no usable lag > 0: no correlation to compare"}
    out: dict[str, Any] = {"lags": list(lags), "per_lag": {}}
    with ctx.step(f"correlation distances (lags {list(lags)})"):
        for name, other in (("synthetic", ctx.synthetic), ("real_test", ctx.real_test)):
            out[name] = correlation_distance(ctx.real_train, other, lags=lags)
        for lag in lags:
            out["per_lag"][str(lag)] = {
                name: correlation_distance(ctx.real_train, other, lags=(lag,))
                for name, other in (("synthetic", ctx.synthetic), ("real_test", ctx.real_test))
            }
    return out


@register("tstr")
def tstr(ctx: GenContext) -> dict[str, Any]:
    if not ctx.windows:
        return {"skipped": "the CNN needs windows (N, T, C), not rows"}
    if ctx.y_synthetic is None or ctx.y_train is None or ctx.y_test is None:
        missing = [n for n in ("y_train", "y_test", "y_synthetic") if getattr(ctx, n) is None]
        return {"skipped": f"no labels ({', '.join(missing)}): TSTR needs labelled samples"}
    labels = (ctx.y_train, ctx.y_test, ctx.y_synthetic)
    k = len(ctx.activity_names) if ctx.activity_names else int(max(y.max() for y in labels)) + 1
    cfg = ctx.config
    with ctx.step(f"TSTR and TRTR CNNs ({cfg.tstr_seeds} seed(s) each)"):
        out = utility.tstr(
            ctx.real_train, ctx.y_train, ctx.synthetic, ctx.y_synthetic, ctx.real_test, ctx.y_test,
            num_classes=max(k, 2), cfg=cfg.tstr_cnn, key=ctx.key("tstr"), seeds=cfg.tstr_seeds,
        )  # fmt: skip
    if ctx.activity_names:
        out["classes"] = list(ctx.activity_names)
    return out


@register("memorization")
def memorization(ctx: GenContext) -> dict[str, Any]:
    q = ctx.config.memorization_queries
    rng = ctx.rng("memorization")
    syn, test = _take(ctx.synthetic, q, rng), _take(ctx.real_test, q, rng)
    with ctx.step(f"closest training record of {len(syn)} + {len(test)} samples"):
        return closest_record(ctx.real_train, syn, test)


# ---------------------------------------------------------------- run


def evaluate_generator(ctx: GenContext, names: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the evaluators ``names`` (default: all, in registration order) on ``ctx``.

    Returns ``{"data": ..., "config": ..., "evaluators": {name: result}, "seconds": ...}``.
    """
    names = list(GEN_EVALUATORS) if names is None else list(names)
    unknown = [n for n in names if n not in GEN_EVALUATORS]
    if unknown:
        raise ValueError(f"unknown generator evaluator(s) {unknown}; known: {list(GEN_EVALUATORS)}")
    results: dict[str, Any] = {}
    seconds: dict[str, float] = {}
    for i, name in enumerate(names, 1):
        ctx.log(f"[{i}/{len(names)}] {name}")
        t0 = time.perf_counter()
        results[name] = GEN_EVALUATORS[name](ctx)
        seconds[name] = round(time.perf_counter() - t0, 2)
        if "skipped" in results[name]:
            ctx.log(f"[{i}/{len(names)}] {name}: skipped ({results[name]['skipped']})")
        else:
            ctx.log(f"[{i}/{len(names)}] {name}: {seconds[name]:.1f} s")
    return {
        "data": ctx.describe(),
        "config": dataclasses.asdict(ctx.config),
        "seed": ctx.seed,
        "evaluators": results,
        "seconds": seconds,
    }
