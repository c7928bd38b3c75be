"""Symbolic sequence generators (seed 004) as pure functions: data, training, sampling.

Every numeric feature is discretized into ``num_bins`` symbols
(:mod:`jaxpriv.quantize`), a record becomes a sentence of symbols, and a next-symbol
model (:mod:`jaxpriv.nn.symbolic`: WaveNet, RNN or Transformer) is trained with
cross-entropy, as a language model.

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

**Sampling** (``make_sample``) is autoregressive under ``lax.scan`` and vmapped over
samples. Each step recomputes the model's full causal pass over a fixed-length buffer
(positions after the current one hold placeholders the causal model cannot see):
``L`` passes of length ``L``, i.e. O(L^2) work, acceptable at these lengths (96
tokens) and identical for the three models, so no key/value or convolution caches.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxpriv.data.channels import select_channels
from jaxpriv.data.dataset import DataFormatError, Dataset
from jaxpriv.data.splits import split_dataset
from jaxpriv.data.windows import make_windows, vocabularies
from jaxpriv.nn.symbolic import RNNLM, TransformerLM, WaveNetLM
from jaxpriv.quantize import METHODS, Quantizer, decode_symbols, fit_quantizer

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


@dataclasses.dataclass(frozen=True, eq=False)
class SymbolicData:
    """Token arrays for training and held-out NLL, the quantizer, and the raw values."""

    kind: str  # "windows" | "tabular"
    train: dict[str, np.ndarray]  # tokens (N, L + 1) int32, valid (S, V) bool
    test: dict[str, np.ndarray]
    quantizer: Quantizer
    train_values: np.ndarray  # (N, T, S) raw units
    test_values: np.ndarray
    train_activity: np.ndarray  # (N,) int32 (zeros for tabular)
    test_activity: np.ndarray
    activities: tuple[str, ...]
    activity_prior: np.ndarray  # (A,) training frequencies (empty for tabular)
    names: tuple[str, ...]  # channels or feature names
    rate_hz: float | None
    split: str
    test_subjects: tuple[str, ...] = ()
    source: dict[str, Any] = dataclasses.field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """JSON-able facts stored in checkpoints: enough to decode and label samples."""
        steps, slots = self.train_values.shape[1:]
        return {
            "kind": self.kind,
            "quantizer": self.quantizer.to_json(),
            "layout": {
                "steps": int(steps),
                "slots": int(slots),
                "order": "time-major, channel-interleaved, after one start token",
            },
            "activities": list(self.activities),
            "activity_prior": [float(p) for p in self.activity_prior],
            "channels": list(self.names) if self.kind == "windows" else [],
            "feature_names": list(self.names) if self.kind == "tabular" else [],
            "rate_hz": self.rate_hz,
            "split": self.split,
            "test_subjects": list(self.test_subjects),
            "train_sequences": len(self.train_values),
            "test_sequences": len(self.test_values),
            **self.source,
        }


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


def _tokens(symbols_NxTxS: np.ndarray, start_N: np.ndarray) -> np.ndarray:
    n = symbols_NxTxS.shape[0]
    flat = symbols_NxTxS.reshape(n, -1)
    return np.concatenate([start_N[:, None], flat], axis=1).astype(np.int32)


def prepare_windows(
    ds: Dataset, cfg: SymbolicConfig, *, split: str = "subject", **split_kwargs: Any
) -> tuple[SymbolicConfig, SymbolicData]:
    """Channels, activities, downsampling, split, windows and quantizer for sensor data.

    Returns the config with its layout set from the data, and the data.
    """
    missing = [a for a in cfg.activities if a not in ds.activities]
    if missing:
        raise DataFormatError(
            f"{ds.name}: missing activities {missing} (present: {list(ds.activities)}); "
            "choose others with --activities"
        )
    ds = select_channels(ds.filter(activities=cfg.activities), cfg.channels)
    ds = downsample_dataset(ds, cfg.downsample)
    vocab = vocabularies(ds, activities=cfg.activities)
    if split == "time":
        split_kwargs.setdefault("gap", cfg.window)
    train_ds, test_ds = split_dataset(ds, split, **split_kwargs)
    kw = dict(window=cfg.window, stride=cfg.stride, short="skip", **vocab)
    train_w, test_w = make_windows(train_ds, **kw), make_windows(test_ds, **kw)
    if len(train_w) == 0 or len(test_w) == 0:
        raise DataFormatError(f"{ds.name}: the {split} split leaves no windows on one side")
    quantizer = fit_quantizer(train_w.x, cfg.num_bins, cfg.quantize, feature_names=ds.channels)
    cfg = dataclasses.replace(
        cfg, num_slots=len(ds.channels), num_activities=len(vocab["activities"])
    )
    valid = quantizer.valid_mask()
    v = cfg.num_bins

    def arrays(w) -> dict[str, np.ndarray]:
        return {"tokens": _tokens(quantizer.encode(w.x), v + w.activity), "valid": valid}

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
        activities=tuple(vocab["activities"]),
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
        return {"tokens": _tokens(quantizer.encode(rows)[:, None, :], start), "valid": valid}

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


def make_network(cfg: SymbolicConfig):
    common = dict(
        vocab=cfg.num_bins, num_starts=cfg.num_starts, seq_len=cfg.seq_len, num_slots=cfg.num_slots
    )
    if cfg.model == "wavenet":
        return WaveNetLM(
            **common, embed=cfg.embed, channels=cfg.wavenet_channels, dilations=cfg.dilations,
            kernel=cfg.wavenet_kernel, hidden=cfg.hidden, norm=cfg.norm,
        )  # fmt: skip
    if cfg.model == "rnn":
        return RNNLM(**common, cell=cfg.cell, embed=cfg.embed, hidden=cfg.hidden, layers=cfg.layers)
    return TransformerLM(**common, dim=cfg.embed, blocks=cfg.blocks, heads=cfg.heads)


def uses_batch_stats(cfg: SymbolicConfig) -> bool:
    return cfg.model == "wavenet" and cfg.norm == "batch"


def masked_log_probs(logits_BxLxV: jax.Array, valid_SxV: jax.Array) -> jax.Array:
    """Log-probabilities over the symbols each position's feature really uses."""
    length, slots = logits_BxLxV.shape[-2], valid_SxV.shape[0]
    valid_LxV = valid_SxV[jnp.arange(length) % slots]
    return jax.nn.log_softmax(jnp.where(valid_LxV, logits_BxLxV, -1e9), axis=-1)


def token_nll(model, variables, tokens_BxL1: jax.Array, valid_SxV: jax.Array) -> jax.Array:
    """``(B, L)`` negative log-likelihood of every symbol (evaluation mode)."""
    logits = model.apply(variables, tokens_BxL1[:, :-1], train=False)
    logp = masked_log_probs(logits, valid_SxV)
    return -jnp.take_along_axis(logp, tokens_BxL1[:, 1:, None], axis=-1)[..., 0]


def _adamw(learning_rate, weight_decay: float, grad_clip: float):
    return optax.chain(
        optax.clip_by_global_norm(grad_clip),
        optax.adamw(learning_rate, weight_decay=weight_decay),
    )


def _optimizer(cfg: SymbolicConfig) -> Callable[..., optax.GradientTransformation]:
    """``optimizer(lr, total_steps)``: AdamW with gradient clipping; the learning rate
    follows ``cfg.lr_schedule`` over ``total_steps`` (cosine: down to 5% of ``lr``).

    ``inject_hyperparams`` keeps the current learning rate in the optimizer state, an
    array leaf that differs per vmapped variant. The state's structure does not depend
    on ``total_steps``, so ``init`` can build it before the data size is known.
    """

    def optimizer(lr: jax.Array, total_steps: int = 1) -> optax.GradientTransformation:
        if cfg.lr_schedule == "cosine":
            decay = optax.cosine_decay_schedule(1.0, max(total_steps, 1), alpha=0.05)
            learning_rate = lambda count: lr * decay(count)  # noqa: E731
        else:
            learning_rate = lr
        return optax.inject_hyperparams(_adamw, static_args=("weight_decay", "grad_clip"))(
            learning_rate=learning_rate, weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip
        )

    return optimizer


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
    optimizer = _optimizer(cfg)
    batch_norm = uses_batch_stats(cfg)

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

    def loss_fn(params, variables, tokens, valid):
        full = {**variables, "params": params}
        if batch_norm:
            logits, updates = model.apply(full, tokens[:, :-1], train=True, mutable=["batch_stats"])
        else:
            logits, updates = model.apply(full, tokens[:, :-1], train=True), {}
        logp = masked_log_probs(logits, valid)
        nll = -jnp.take_along_axis(logp, tokens[:, 1:, None], axis=-1)[..., 0]
        return jnp.mean(nll), updates

    def step(state, hp, tokens, valid, total_steps: int):
        variables = state["variables"]
        (loss, updates), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            variables["params"], variables, tokens, valid
        )
        opt = optimizer(hp["lr"], total_steps)
        param_updates, opt = opt.update(grads, state["opt"], variables["params"])
        params = optax.apply_updates(variables["params"], param_updates)
        variables = {**variables, **updates, "params": params}
        return {**state, "variables": variables, "opt": opt}, loss

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
        finite = _all_finite(new_state["variables"]) & jnp.isfinite(loss)
        alive = state["alive"] & finite
        new_state = _select(~alive, state, new_state)
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


# --------------------------------------------------------------------------- sampling


def _draw(key: jax.Array, logits_V: jax.Array, temperature, top_k: int | None) -> jax.Array:
    logits = logits_V / temperature
    if top_k is not None:
        kth = jax.lax.top_k(logits, top_k)[0][-1]
        logits = jnp.where(logits >= kth, logits, -jnp.inf)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def make_sample(
    cfg: SymbolicConfig, quantizer: Quantizer, activity_prior: Sequence[float] | None = None
) -> Callable:
    """``sample(variables, key, num_samples, temperature=1.0, top_k=None, activity=None)``.

    Returns a dict of ``symbols`` (N, T, S) int32, ``values`` (N, T, S) float32 decoded
    uniformly inside each bin (raw units), and ``activity`` (N,) int32. ``activity`` is
    an index, or ``(N,)`` indices, into the training activities; ``None`` draws it from
    ``activity_prior`` (default uniform). ``top_k=1`` is greedy decoding. Jitted once
    per config (the quantizer's tables are arguments, so every variant and run with
    the same config shares it); a new ``num_samples`` or ``top_k`` compiles again.
    """
    if quantizer.num_features != cfg.num_slots or quantizer.num_bins != cfg.num_bins:
        raise ValueError(
            f"quantizer ({quantizer.num_features} features, {quantizer.num_bins} bins) does "
            f"not match the config ({cfg.num_slots} slots, {cfg.num_bins} bins)"
        )
    v, a = cfg.num_bins, cfg.num_activities
    prior = np.ones(max(a, 1)) if activity_prior is None else np.asarray(activity_prior, float)
    if prior.shape != (max(a, 1),) or prior.sum() <= 0 or (prior < 0).any():
        raise ValueError(f"activity_prior must hold {a} non-negative weights, got {prior}")
    slot = np.arange(cfg.seq_len) % cfg.num_slots
    tables = {
        "valid": jnp.asarray(quantizer.valid_mask()[slot]),
        "edges": jnp.asarray(quantizer.edges_padded(), jnp.float32),
        "bins": jnp.asarray(quantizer.bins_per_feature),
        "log_prior": jnp.log(jnp.asarray(prior / prior.sum(), jnp.float32)),
    }
    core = _sample_core(cfg)

    def sample(variables, key, num_samples: int, temperature=1.0, top_k=None, activity=None):
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        if not float(temperature) > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if top_k is not None and not 1 <= int(top_k) <= v:
            raise ValueError(f"top_k must lie in 1..{v}, got {top_k}")
        act = np.full(num_samples, -1, np.int32)
        if activity is not None:
            if not a:
                raise ValueError("this generator has no activities to condition on")
            act = np.broadcast_to(np.asarray(activity, np.int32), (num_samples,)).copy()
            if act.min() < 0 or act.max() >= a:
                raise ValueError(f"activity indices must lie in 0..{a - 1}")
        return core(
            variables, tables, key, jnp.asarray(act), jnp.float32(temperature),
            num_samples=int(num_samples), top_k=None if top_k is None else int(top_k),
        )  # fmt: skip

    return sample


@functools.cache
def _sample_core(cfg: SymbolicConfig) -> Callable:
    """The jitted sampler of one config: ``core(variables, tables, key, activity_N,
    temperature, *, num_samples, top_k)``."""
    model = make_network(cfg)
    length = cfg.seq_len

    def sample_one(variables, valid_LxV, key, start, temperature, top_k):
        buf = jnp.zeros((length,), jnp.int32).at[0].set(start)

        def body(buf, inputs):
            i, k = inputs
            logits = model.apply(variables, buf[None], train=False)[0, i]
            symbol = _draw(k, jnp.where(valid_LxV[i], logits, -jnp.inf), temperature, top_k)
            return buf.at[i + 1].set(symbol, mode="drop"), symbol

        _, symbols = jax.lax.scan(body, buf, (jnp.arange(length), jax.random.split(key, length)))
        return symbols

    def core(variables, tables, key, activity, temperature, num_samples, top_k):
        with jax.threefry_partitionable(False):  # faster to compile; see make_train's init
            return draw(variables, tables, key, activity, temperature, num_samples, top_k)

    def draw(variables, tables, key, activity, temperature, num_samples, top_k):
        k_act, k_sym, k_dec = jax.random.split(key, 3)
        if cfg.num_activities:
            drawn = jax.random.categorical(k_act, tables["log_prior"], shape=(num_samples,))
            activity = jnp.where(activity < 0, drawn, activity).astype(jnp.int32)
        else:
            activity = jnp.zeros((num_samples,), jnp.int32)
        keys = jax.random.split(k_sym, num_samples)
        one = jax.vmap(sample_one, in_axes=(None, None, 0, 0, None, None))
        symbols = one(variables, tables["valid"], keys, cfg.num_bins + activity, temperature, top_k)
        symbols = symbols.reshape(num_samples, cfg.window, cfg.num_slots)
        values = decode_symbols(tables["edges"], tables["bins"], symbols, k_dec)
        return {"symbols": symbols, "values": values, "activity": activity}

    return jax.jit(core, static_argnames=("num_samples", "top_k"))


def _select(pred: jax.Array, on_true: PyTree, on_false: PyTree) -> PyTree:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def _all_finite(tree: PyTree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves))


__all__ = [
    "HP_KEYS",
    "PRESETS",
    "SymbolicConfig",
    "SymbolicData",
    "make_network",
    "make_nll_sum",
    "make_sample",
    "make_train",
    "masked_log_probs",
    "prepare_tabular",
    "prepare_windows",
    "preset_config",
    "reference_nll",
    "token_nll",
]
