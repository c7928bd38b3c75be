"""Symbolic sequence generators (seed 004): config, presets, data preparation, training.

Every numeric feature is discretized into ``num_bins`` symbols
(:mod:`jaxpriv.quantize`), a record becomes a sentence of symbols, and a next-symbol
model (:mod:`jaxpriv.nn.symbolic`: WaveNet, RNN or Transformer) is trained with
cross-entropy, as a language model. The token layout and the prepared-data container
are in :mod:`jaxpriv.methods.symbolic_data`, the network and its update step in
:mod:`jaxpriv.methods.symbolic_model`, sampling in :mod:`jaxpriv.methods.symbolic_sample`.

**Sequences.** A sensor window of ``T`` steps x ``C`` channels is the channel-interleaved
sequence of ``L = T * C`` symbols (``x[0, 0], .., x[0, C-1], x[1, 0], ..``); a tabular
row of ``F`` features is ``L = F`` symbols (``T = 1``). Every sequence opens with a start
token: the window's **activity** (so generation can be conditioned on it, and every
synthetic window carries a label for train-on-synthetic / test-on-real), or one
generic start token for tabular data. Unconditional window generation draws the
activity from its training frequency first: ``p(x, a) = p(a) p(x | a)``.

**Default sensor data** (``prepare_windows``): DySan's activities (dws, ups, wlk, jog),
the 3 ``userAcceleration`` axes, averaged over pairs of samples (50 -> 25 Hz, a mild
low-pass), windows of 32 steps (1.28 s, about one gait cycle) every 16 steps: 96
symbols per window, trainable in minutes on 2 CPU cores. The quantizer is fitted on
the training users only; the held-out users' windows give the held-out NLL.

**Training** follows ``jaxpriv.methods.dysan``'s shape: ``make_train(cfg)`` returns pure
``init(hp)``, ``run_epochs(state, hp, data, n)`` (all steps under ``lax.scan``) and
``train(hp, data)``; ``hp = {"lr", "seed"}`` is vmapped by the sweep engine; each epoch's
randomness is ``fold_in(key, epoch)``, so a resumed run equals an uninterrupted one.
Logits of symbols a feature does not use (quantile bins of features with few
distinct values) are masked out, in training and in sampling alike.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpriv.data.dataset import DataFormatError, Dataset
from jaxpriv.data.resampling import downsample_dataset
from jaxpriv.data.splits import split_dataset
from jaxpriv.data.task import Task, window_pair
from jaxpriv.methods.symbolic_data import SymbolicData, token_rows
from jaxpriv.methods.symbolic_model import (
    all_finite,
    make_network,
    make_optimizer,
    make_step,
    select,
    token_nll,
)
from jaxpriv.quantize import METHODS, fit_quantizer

PyTree = Any
HP_KEYS = ("lr", "seed")
MODELS = ("wavenet", "rnn", "transformer")
CELLS = ("gru", "lstm", "tanh")
DEFAULT_ACTIVITIES = ("dws", "ups", "wlk", "jog")
DEFAULT_CHANNELS = ("userAcceleration.*",)


@dataclasses.dataclass(frozen=True)
class SymbolicConfig:
    """Static settings of a symbolic-generator run (they fix shapes and code paths).

    The layout fields (``window``, ``num_slots``, ``num_activities``) are set from the
    data by :func:`prepare_windows` / :func:`prepare_tabular`.
    """

    model: str = "transformer"  # wavenet | rnn | transformer
    cell: str = "gru"  # the RNN's cell: gru | lstm | tanh
    # Sequence layout: window steps T x slots S (channels or features), A activities.
    window: int = 32
    num_slots: int = 3
    num_activities: int = 4  # 0: one generic start token (tabular data)
    num_bins: int = 49
    quantize: str = "quantile"  # quantile | uniform
    # Sensor data preparation.
    stride: int = 16
    downsample: int = 2  # average non-overlapping groups of this many samples
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    activities: tuple[str, ...] = DEFAULT_ACTIVITIES
    activity_map: tuple[tuple[str, str], ...] = ()  # the data's names -> the task's
    # Model sizes.
    embed: int = 64  # token embedding (the Transformer's width)
    hidden: int = 128  # RNN state; WaveNet output hidden layer
    layers: int = 1  # stacked RNN layers
    wavenet_channels: int = 64
    wavenet_kernel: int = 2
    wavenet_layers: int = 0  # 0: dilations 1, 2, 4, .. until the whole sequence is seen
    norm: str = "layer"  # WaveNet normalization: layer | batch
    blocks: int = 4  # Transformer blocks
    heads: int = 4  # Transformer heads
    # Optimization (the learning rate is a vmappable hyperparameter).
    batch_size: int = 64
    epochs: int = 3
    steps_per_epoch: int = 0  # 0: one pass over the training sequences
    lr_schedule: str = "cosine"  # cosine (to 5% of lr over the run) | constant
    weight_decay: float = 0.0
    grad_clip: float = 1.0

    def __post_init__(self) -> None:
        for name in ("channels", "activities"):
            object.__setattr__(self, name, tuple(str(v) for v in getattr(self, name)))
        pairs = tuple((str(a), str(b)) for a, b in self.activity_map)
        object.__setattr__(self, "activity_map", pairs)  # JSON gives lists back
        choices = {"model": MODELS, "cell": CELLS, "quantize": METHODS, "norm": ("layer", "batch")}
        choices["lr_schedule"] = ("cosine", "constant")
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{name} must be one of {list(allowed)}, got {getattr(self, name)!r}"
                )
        positive = ("window", "num_slots", "num_bins", "stride", "downsample", "embed", "hidden")
        positive += ("layers", "wavenet_channels", "wavenet_kernel", "blocks", "heads")
        positive += ("batch_size", "epochs")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        for name in ("num_activities", "steps_per_epoch", "wavenet_layers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.num_bins < 2:
            raise ValueError(f"num_bins must be >= 2, got {self.num_bins}")
        if self.model == "transformer" and self.embed % self.heads:
            raise ValueError(f"embed ({self.embed}) must be divisible by heads ({self.heads})")

    @property
    def seq_len(self) -> int:
        return self.window * self.num_slots

    @property
    def num_starts(self) -> int:
        return max(self.num_activities, 1)

    @property
    def dilations(self) -> tuple[int, ...]:
        if self.wavenet_layers:
            return tuple(2**i for i in range(self.wavenet_layers))
        n = 1
        while (self.wavenet_kernel - 1) * (2**n - 1) + 1 < self.seq_len:
            n += 1
        return tuple(2**i for i in range(n))


PRESETS: dict[str, dict[str, Any]] = {
    # A few minutes per model on 2 CPU cores on the embedded dataset.
    "quick": dict(batch_size=64, epochs=3, embed=64, hidden=128, wavenet_channels=64),
    # The seed's sizes (Transformer 64 x 4 blocks x 4 heads; BatchNorm in the WaveNet),
    # bigger RNN and WaveNet, trained much longer: for an accelerator.
    "paper": dict(
        batch_size=128,
        epochs=40,
        embed=64,
        hidden=256,
        layers=2,
        wavenet_channels=128,
        norm="batch",
    ),
}
# Adam's learning rate per model (measured on the quick preset: the GRU learns faster
# at 5e-3; the WaveNet and the Transformer are best near 2e-3).
DEFAULT_LR: dict[str, float] = {"wavenet": 2e-3, "rnn": 5e-3, "transformer": 2e-3}


def preset_config(name: str, **overrides: Any) -> SymbolicConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return SymbolicConfig(**{**PRESETS[name], **overrides})


# --------------------------------------------------------------------------- data


def prepare_windows(
    ds: Dataset, cfg: SymbolicConfig, *, split: str = "subject", **split_kwargs: Any
) -> tuple[SymbolicConfig, SymbolicData]:
    """Channels, activities, downsampling, split, windows and quantizer for sensor data.

    Returns the config with its layout set from the data, and the data.
    """
    # The task pipeline's cut and windows, with downsampling after the cut and a
    # quantizer (fitted on the training windows) in place of a scaler.
    task = Task(activities=cfg.activities, channels=cfg.channels, window=cfg.window,
                stride=cfg.stride, split=split, activity_map=cfg.activity_map)  # fmt: skip
    ds = downsample_dataset(task.cut(ds), cfg.downsample)
    if split == "time":
        split_kwargs.setdefault("gap", cfg.window)
    train_ds, test_ds = split_dataset(ds, split, **split_kwargs)
    train_w, test_w = window_pair(task, ds, train_ds, test_ds, split)
    quantizer = fit_quantizer(train_w.x, cfg.num_bins, cfg.quantize, feature_names=ds.channels)
    cfg = dataclasses.replace(
        cfg, num_slots=len(ds.channels), num_activities=len(train_w.activities)
    )
    valid = quantizer.valid_mask()
    v = cfg.num_bins

    def arrays(w) -> dict[str, np.ndarray]:
        return {"tokens": token_rows(quantizer.encode(w.x), v + w.activity), "valid": valid}

    prior = np.bincount(train_w.activity, minlength=cfg.num_activities) / len(train_w)
    return cfg, SymbolicData(
        kind="windows",
        train=arrays(train_w),
        test=arrays(test_w),
        quantizer=quantizer,
        train_values=train_w.x,
        test_values=test_w.x,
        train_activity=train_w.activity,
        test_activity=test_w.activity,
        activities=tuple(train_w.activities),
        activity_prior=prior,
        names=tuple(ds.channels),
        rate_hz=float(ds.rate_hz),
        split=split,
        test_subjects=tuple(test_ds.subject_ids),
        source={"window": cfg.window, "stride": cfg.stride, "downsample": cfg.downsample},
    )


def prepare_tabular(
    values_NxF: np.ndarray,
    names: Sequence[str],
    cfg: SymbolicConfig,
    *,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> tuple[SymbolicConfig, SymbolicData]:
    """Random held-out rows, a quantizer fitted on the others, one sequence per row."""
    x = np.asarray(values_NxF, np.float64)
    if x.ndim != 2 or x.shape[0] < 2:
        raise DataFormatError(f"tabular data needs at least 2 rows of features, got {x.shape}")
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction}")
    n = x.shape[0]
    n_test = min(max(round(n * test_fraction), 1), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    test_x, train_x = x[order[:n_test]], x[order[n_test:]]
    quantizer = fit_quantizer(train_x, cfg.num_bins, cfg.quantize, feature_names=names)
    cfg = dataclasses.replace(
        cfg, window=1, num_slots=x.shape[1], num_activities=0, channels=(), activities=()
    )
    valid = quantizer.valid_mask()

    def arrays(rows: np.ndarray) -> dict[str, np.ndarray]:
        start = np.full(len(rows), cfg.num_bins, np.int32)
        return {"tokens": token_rows(quantizer.encode(rows)[:, None, :], start), "valid": valid}

    zeros = np.zeros
    return cfg, SymbolicData(
        kind="tabular",
        train=arrays(train_x),
        test=arrays(test_x),
        quantizer=quantizer,
        train_values=train_x[:, None, :].astype(np.float32),
        test_values=test_x[:, None, :].astype(np.float32),
        train_activity=zeros(len(train_x), np.int32),
        test_activity=zeros(len(test_x), np.int32),
        activities=(),
        activity_prior=zeros(0),
        names=tuple(names),
        rate_hz=None,
        split=f"random rows ({test_fraction:g} held out, seed {seed})",
    )


def reference_nll(data: SymbolicData) -> dict[str, float]:
    """Baselines for the held-out NLL (nats/symbol): uniform over each feature's symbols,
    and each position's training symbol frequencies (add-one smoothed)."""
    q = data.quantizer
    train = data.train["tokens"][:, 1:]
    test = data.test["tokens"][:, 1:]
    seq_len = train.shape[1]
    slot = np.arange(seq_len) % q.num_features
    valid_LxV = q.valid_mask()[slot]
    counts = np.stack([np.bincount(train[:, i], minlength=q.num_bins) for i in range(seq_len)])
    probs = (counts + 1) * valid_LxV
    probs = probs / probs.sum(axis=1, keepdims=True)
    unigram = -np.log(probs[np.arange(seq_len)[None, :], test]).mean()
    uniform = np.log(q.bins_per_feature[slot]).mean()
    return {"uniform_nll": float(uniform), "position_unigram_nll": float(unigram)}


# --------------------------------------------------------------------------- training


def make_train(cfg: SymbolicConfig) -> tuple[Callable, Callable, Callable]:
    """``(init, run_epochs, train)`` for one variant; vmap them over a grid of ``{lr, seed}``.

    - ``init(hp) -> state``: model variables and optimizer from ``hp["seed"]``.
    - ``run_epochs(state, hp, data, num_epochs) -> (state, metrics)``: the next
      ``num_epochs`` epochs (static); metrics (``loss``, ``alive``) stacked per epoch.
    - ``train(hp, data) -> (state, metrics)``: the whole run (``cfg.epochs``).

    ``data``: ``tokens`` (N, L + 1) int32 (start token, then the L symbols) and ``valid``
    (S, V) bool, shared by all variants.
    """
    model = make_network(cfg)
    optimizer = make_optimizer(cfg)
    step = make_step(cfg)

    def init(hp: PyTree) -> PyTree:
        k_model, k_run = jax.random.split(jax.random.key(hp["seed"]))
        tokens = jnp.zeros((2, cfg.seq_len), jnp.int32)
        # Threefry's partitionable mode (jax's default) makes XLA:CPU compile a vmapped
        # init of the ~30 parameter draws 2-4x slower (13.7 s vs 3.4 s for a tiny
        # WaveNet). Parameters are never sharded within a variant, so draw them in the
        # classic mode: another, equally valid, deterministic initialization.
        with jax.threefry_partitionable(False):
            variables = dict(model.init(k_model, tokens, train=False))
        return {
            "variables": variables,
            "opt": optimizer(hp["lr"]).init(variables["params"]),
            "key": jax.random.key_data(k_run),
            "epoch": jnp.zeros((), jnp.int32),
            "alive": jnp.ones((), jnp.bool_),
        }

    def one_epoch(state, hp, data):
        tokens, valid = data["tokens"], data["valid"]
        n, b = tokens.shape[0], cfg.batch_size
        iterations = cfg.steps_per_epoch or max(n // b, 1)
        key = jax.random.fold_in(jax.random.wrap_key_data(state["key"]), state["epoch"])
        if iterations * b <= n:
            idx = jax.random.permutation(key, n)[: iterations * b].reshape(iterations, b)
        else:  # more steps than one pass holds: draw with replacement
            idx = jax.random.randint(key, (iterations, b), 0, n)
        total = iterations * cfg.epochs
        new_state, loss = jax.lax.scan(
            lambda s, i: step(s, hp, tokens[i], valid, total), state, idx
        )
        loss = jnp.mean(loss)
        # A variant that diverges keeps its last finite state and is marked dead.
        finite = all_finite(new_state["variables"]) & jnp.isfinite(loss)
        alive = state["alive"] & finite
        new_state = select(~alive, state, new_state)
        new_state = {**new_state, "epoch": state["epoch"] + 1, "alive": alive}
        return new_state, {"loss": loss, "alive": alive}

    def run_epochs(state, hp, data, num_epochs: int):
        return jax.lax.scan(lambda s, _: one_epoch(s, hp, data), state, None, length=num_epochs)

    def train(hp, data):
        return run_epochs(init(hp), hp, data, cfg.epochs)

    return init, run_epochs, train


def make_nll_sum(cfg: SymbolicConfig) -> Callable:
    """``nll_sum(state, batch) -> (sum of token NLLs, number of tokens)`` for one variant;
    ``batch`` holds ``tokens``, ``valid`` and a per-sequence ``weight`` (0 for padding)."""
    model = make_network(cfg)

    def nll_sum(state, batch):
        nll = token_nll(model, state["variables"], batch["tokens"], batch["valid"])
        w = batch["weight"][:, None]
        return jnp.sum(nll * w), jnp.sum(w) * nll.shape[1]

    return nll_sum


__all__ = [
    "HP_KEYS",
    "PRESETS",
    "SymbolicConfig",
    "make_nll_sum",
    "make_train",
    "prepare_tabular",
    "prepare_windows",
    "preset_config",
    "reference_nll",
]
