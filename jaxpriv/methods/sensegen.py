"""SenseGen (seed 000, systems.md section 4): config, presets, data, training, sampling.

The generator (:class:`jaxpriv.nn.sensegen.SenseGen`) models a sensor trace one
sample at a time: stacked LSTMs, a dense sigmoid layer and a mixture density
head over the next sample; the loss is the mixture negative log-likelihood
(:func:`jaxpriv.losses.mdn_nll`). Training windows are cut into segments for
**truncated backpropagation through time**: each segment of ``segment`` steps
is one Adam step, and the LSTM state at its end (``stop_gradient``) starts the
next segment of the same window, so the model sees the whole window's history
while gradients span one segment. Each window starts from a zero state with a
zero "start" input (the mean in standardised units), so the model also learns
the first sample and sampling starts exactly as training did.
With ``self_feed > 0`` training uses **scheduled sampling**
(:func:`~jaxpriv.methods.sensegen_model.make_segment_forward`): some inputs are the
model's own draws, so free-running samples do not drift (docs/generators.md has the
measurements).

Static settings live in :class:`SenseGenConfig`; the hyperparameter pytree
holds what may differ between parallel variants: ``lr`` and ``seed``. Sizes
are static, so a sweep vmaps over seeds and learning rates. As in
:mod:`jaxpriv.methods.dysan`, ``make_train(cfg)`` returns pure
``(init, run_epochs, train)``, everything under ``lax.scan``, each epoch's
randomness ``fold_in(key, epoch)`` (a resumed run equals an uninterrupted one).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpriv import losses
from jaxpriv.data.channels import resolve_channel_spec
from jaxpriv.data.dataset import Dataset
from jaxpriv.data.scaling import Scaler
from jaxpriv.data.task import Task
from jaxpriv.methods.sensegen_data import SenseGenData
from jaxpriv.methods.sensegen_model import (
    NUM_ATTRIBUTES,
    conditioning,
    make_model,
    teacher_inputs,
    zero_carry,
)
from jaxpriv.methods.sensegen_tbptt import lr_factor, make_optimizer, make_tbptt
from jaxpriv.nn.sensegen import SenseGen, sample_mixture

PyTree = Any
HP_KEYS = ("lr", "seed")
DEFAULT_LR = 1e-3
# The paper's data: accelerometer traces (Core Motion's userAcceleration, in g).
SENSEGEN_CHANNELS: tuple[str, ...] = (
    "userAcceleration.x",
    "userAcceleration.y",
    "userAcceleration.z",
)
EVAL_BATCH = 64  # windows per chunk when scoring held-out data
LR_SCHEDULES = ("constant", "cosine")


@dataclasses.dataclass(frozen=True)
class SenseGenConfig:
    """Static settings of a SenseGen run (they fix shapes and code paths)."""

    hidden: tuple[int, ...] = (256, 256, 256)  # LSTM sizes (paper: 3 x 256)
    components: int = 24  # mixture components M
    dense: int | None = None  # sigmoid layer width (default: the top LSTM's)
    channels: tuple[str, ...] = SENSEGEN_CHANNELS  # modelled channels, D = len(channels)
    window: int = 400  # samples per training window
    segment: int = 50  # truncated BPTT: steps per gradient update (divides window)
    stride: int | None = None  # between training windows (default: window, no overlap)
    batch_size: int = 32
    epochs: int = 10
    conditional: bool = False  # condition on the activity (an embedding at every step)
    attributes: bool = False  # condition on the subject's height, weight, age (standardised)
    num_activities: int = 0  # size of the activity vocabulary (needed when conditional)
    embedding: int = 8  # activity embedding size
    grad_clip: float = 1.0  # global-norm gradient clipping (0: none)
    carry_segments: bool = True  # False: reset the LSTM state every segment (ablation)
    # Std of Gaussian noise added to the teacher-forced inputs (standardised units; targets
    # stay clean): the model learns not to trust tiny deviations of its own samples.
    input_noise: float = 0.0
    # Scheduled sampling (Bengio et al. 2015; "auto-conditioning" in motion synthesis):
    # the probability that a step's input is the model's own sample instead of the real
    # previous value, ramped up linearly over the first half of cfg.epochs. It trains the
    # model on its own mistakes, against the drift of free-running generation.
    self_feed: float = 0.0
    # Learning rate over the epochs: "constant", or "cosine" from hp["lr"] down to
    # lr_floor * hp["lr"] at the last epoch (cfg.epochs: a resumed run with more epochs
    # re-plans the rest of the decay). With a constant rate the held-out NLL of
    # consecutive epochs swings by up to 0.65 nats, so the final model is a lottery.
    lr_schedule: str = "constant"
    lr_floor: float = 0.02

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(int(h) for h in self.hidden))
        object.__setattr__(self, "channels", tuple(str(c) for c in self.channels))
        if not self.hidden or min(self.hidden) < 1:
            raise ValueError(f"hidden must list positive LSTM sizes, got {self.hidden}")
        if not self.channels:
            raise ValueError("channels must name at least one channel")
        for name in ("components", "window", "segment", "batch_size", "epochs", "embedding"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.window % self.segment:
            raise ValueError(
                f"segment ({self.segment}) must divide window ({self.window}) for truncated BPTT"
            )
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {self.stride}")
        if self.conditional and self.num_activities < 1:
            raise ValueError("a conditional SenseGen needs num_activities >= 1")
        if self.grad_clip < 0:
            raise ValueError(f"grad_clip must be >= 0, got {self.grad_clip}")
        if not self.input_noise >= 0:
            raise ValueError(f"input_noise must be >= 0, got {self.input_noise}")
        if not 0 <= self.self_feed <= 1:
            raise ValueError(f"self_feed must be in [0, 1], got {self.self_feed}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {self.lr_schedule!r}")
        if not 0 <= self.lr_floor <= 1:
            raise ValueError(f"lr_floor must be in [0, 1], got {self.lr_floor}")

    @property
    def num_channels(self) -> int:
        return len(self.channels)

    @property
    def num_segments(self) -> int:
        return self.window // self.segment


PRESETS: dict[str, dict[str, Any]] = {
    # About 2 minutes on 2 CPU cores on the embedded dataset: a small LSTM, 20 epochs.
    "quick": dict(hidden=(64, 64), components=24, window=400, segment=50, batch_size=32, epochs=20),
    # The paper's generator: 3 x 256 LSTM, 24 components; windows of 16 s at 50 Hz.
    "paper": dict(
        hidden=(256, 256, 256), components=24, window=800, segment=100, batch_size=64, epochs=50
    ),
    # Chosen for free-running realism (docs/generators.md): conditioned on the activity
    # and trained with scheduled sampling, so long samples neither drift nor change
    # activity midway; a cosine learning rate over 45 epochs, so the last epoch is a
    # settled model, not a lottery ticket. About 9 minutes on 2 CPU cores.
    "realistic": dict(
        hidden=(128, 128),
        components=24,
        window=400,
        segment=50,
        batch_size=32,
        epochs=45,
        conditional=True,
        self_feed=0.5,
        lr_schedule="cosine",
    ),
}


def preset_config(name: str, **overrides: Any) -> SenseGenConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return SenseGenConfig(**{**PRESETS[name], **overrides})


# --------------------------------------------------------------------------- data


def prepare_sensegen_data(
    ds: Dataset,
    *,
    channels: Sequence[str] | str = SENSEGEN_CHANNELS,
    window: int = 400,
    stride: int | None = None,
    activities: Sequence[str] | None = None,
    activity_map: Sequence[tuple[str, str]] = (),
    split: str = "subject",
    **split_kwargs: Any,
) -> SenseGenData:
    """The task pipeline (:meth:`jaxpriv.data.task.Task.prepare`) with SenseGen's task:
    the channels and activities given (default: all present; ``activity_map`` renames
    the data's), windows standardised."""
    task = Task(
        activities=tuple(ds.activities if activities is None else activities),
        activity_map=tuple(activity_map),
        channels=resolve_channel_spec(channels),
        window=window,
        stride=window if stride is None else stride,
        split=split,
        scaling="standard",
    )
    prepared = task.prepare(ds, require=("activity",), **split_kwargs)
    keep = ("x", "activity", "attributes")
    return SenseGenData(
        train={k: prepared.train[k] for k in keep},
        test={k: prepared.test[k] for k in keep},
        scaler=prepared.scaler,
        attribute_mean=prepared.attribute_mean.astype(np.float32),
        attribute_std=prepared.attribute_std.astype(np.float32),
        activities=tuple(prepared.train_windows.activities),
        channels=tuple(prepared.train_windows.channels),
        rate_hz=float(prepared.train_windows.rate_hz),
        window=task.window,
        stride=task.stride,
        split=split,
        test_subjects=prepared.test_subjects,
        activity_map=task.activity_map,
    )


# --------------------------------------------------------------------------- training


def make_train(cfg: SenseGenConfig) -> tuple[Callable, Callable, Callable]:
    """``(init, run_epochs, train)`` for one variant; vmap them over a grid of hp.

    - ``init(hp) -> state``: parameters and optimizer from ``hp["seed"]``.
    - ``run_epochs(state, hp, data, num_epochs) -> (state, metrics)``: the next
      ``num_epochs`` (static) epochs; metrics (``nll``: the mean training loss,
      ``alive``) stacked per epoch.
    - ``train(hp, data) -> (state, metrics)``: the whole run (``cfg.epochs``).

    ``data`` (shared by all variants): ``x (N, window, D)`` standardised,
    ``activity (N,)`` int32, ``attributes (N, 3)`` float32. An epoch is one
    pass over the windows in a random order, ``N // batch_size`` batches
    (``batch_size`` is capped at ``N``), each ``window / segment`` Adam steps.
    """
    model = make_model(cfg)
    optimizer = make_optimizer(cfg.grad_clip)
    tbptt = make_tbptt(cfg)

    def init(hp: PyTree) -> PyTree:
        k_params, k_run = jax.random.split(jax.random.key(hp["seed"]))
        x = jnp.zeros((1, cfg.segment, cfg.num_channels), jnp.float32)
        dummy = {"activity": jnp.zeros((1,), jnp.int32), "attributes": jnp.zeros((1, 3))}
        params = model.init(k_params, x, None, **conditioning(cfg, dummy))["params"]
        return {
            "params": params,
            "opt": optimizer(hp["lr"]).init(params),
            "key": jax.random.key_data(k_run),
            "epoch": jnp.zeros((), jnp.int32),
            "alive": jnp.ones((), jnp.bool_),
        }

    def one_epoch(state, hp, data):
        n = data["x"].shape[0]
        b = min(cfg.batch_size, n)
        iterations = n // b
        key = jax.random.fold_in(jax.random.wrap_key_data(state["key"]), state["epoch"])
        order = jax.random.permutation(key, n)[: iterations * b].reshape(iterations, b)
        ramp = jnp.minimum(1.0, (state["epoch"] + 1) / max(1, cfg.epochs // 2))
        feed_rate = cfg.self_feed * ramp
        # The epoch's learning rate goes into inject_hyperparams' state (per variant).
        opt = state["opt"]
        lr = jnp.asarray(hp["lr"], jnp.float32) * lr_factor(cfg, state["epoch"])
        opt = opt._replace(hyperparams={**opt.hyperparams, "learning_rate": lr})

        def body(carry, xs):
            params, opt_state = carry
            idx, i = xs
            batch = jax.tree.map(lambda a: a[idx], data)
            batch_key = jax.random.fold_in(jax.random.fold_in(key, 1), i)
            params, opt_state, nll_K = tbptt(params, opt_state, batch, batch_key, feed_rate)
            return (params, opt_state), jnp.mean(nll_K)

        (params, opt_state), nll = jax.lax.scan(
            body, (state["params"], opt), (order, jnp.arange(iterations))
        )
        nll = jnp.mean(nll)
        # A diverged variant keeps its last finite state and stops changing.
        alive = state["alive"] & _all_finite(params) & jnp.isfinite(nll)
        new = _select(
            alive, {"params": params, "opt": opt_state}, {k: state[k] for k in ("params", "opt")}
        )
        new_state = {**state, **new, "epoch": state["epoch"] + 1, "alive": alive}
        return new_state, {"nll": nll, "alive": alive}

    def run_epochs(state, hp, data, num_epochs: int):
        return jax.lax.scan(lambda s, _: one_epoch(s, hp, data), state, None, length=num_epochs)

    def train(hp, data):
        return run_epochs(init(hp), hp, data, cfg.epochs)

    return init, run_epochs, train


def make_nll(cfg: SenseGenConfig) -> Callable:
    """``nll(params, data) -> scalar``: the mean NLL per time step (nats, standardised units)
    over all windows of ``data``, each run whole from a zero state (teacher forcing; no
    truncation is needed without gradients). Windows are scored ``EVAL_BATCH`` at a time."""
    model = make_model(cfg)

    def nll(params, data):
        n = data["x"].shape[0]
        b = min(EVAL_BATCH, n)
        chunks = -(-n // b)
        pad = chunks * b - n

        def chunked(a):
            a = jnp.concatenate([a, jnp.zeros((pad, *a.shape[1:]), a.dtype)], axis=0)
            return a.reshape(chunks, b, *a.shape[1:])

        keep = chunked(jnp.ones((n,), jnp.float32))
        batches = jax.tree.map(chunked, {k: data[k] for k in ("x", "activity", "attributes")})

        def score(inputs):
            batch, mask = inputs
            _, head = model.apply(
                {"params": params}, teacher_inputs(batch["x"]), None, **conditioning(cfg, batch)
            )
            return losses.mdn_nll(*head, batch["x"], mask) * jnp.sum(mask)

        totals = jax.lax.map(score, (batches, keep))
        return jnp.sum(totals) / n

    return nll


# --------------------------------------------------------------------------- sampling


def make_sample(cfg: SenseGenConfig, scaler: Scaler | None = None) -> Callable:
    """``sample(params, key, num_samples, length, temperature=1.0, activity=None,
    attributes=None) -> (num_samples, length, D)``, autoregressive.

    Each sequence starts from a zero state and a zero input (as in training);
    at every step a component is chosen from ``softmax(logits / temperature)``
    and a value drawn from its Gaussian with sigma times ``temperature``
    (:func:`jaxpriv.nn.sensegen.sample_mixture`), then fed back. The steps run
    under ``lax.scan``, vmapped over the samples (one key each).
    ``num_samples`` and ``length`` are static (jit with ``static_argnums=(2, 3)``);
    ``temperature`` may be traced. ``activity`` (index, scalar or
    ``(num_samples,)``) is needed when ``cfg.conditional``; ``attributes``
    (``(3,)`` or ``(num_samples, 3)``, standardised as in training; default 0,
    the training mean) when ``cfg.attributes``. The result is de-standardised
    with ``scaler`` (raw units) when one is given, else in model units.
    """
    model = make_model(cfg)

    def sample_one(params, key, length, temperature, activity, attributes):
        cond = {
            "activity_B": activity[None] if cfg.conditional else None,
            "attributes_BxA": attributes[None] if cfg.attributes else None,
        }

        def body(carry, step_key):
            lstm, x_prev = carry
            lstm, (logits, mean, log_var) = model.apply(
                {"params": params}, lstm, x_prev, **cond, method=SenseGen.step
            )
            x = sample_mixture(step_key, logits, mean, log_var, temperature)
            return (lstm, x), x[0]

        start = (zero_carry(cfg, 1), jnp.zeros((1, cfg.num_channels), jnp.float32))
        _, xs = jax.lax.scan(body, start, jax.random.split(key, length))
        return xs

    def sample(params, key, num_samples, length, temperature=1.0, activity=None, attributes=None):
        if cfg.conditional and activity is None:
            raise ValueError("this SenseGen is conditioned on the activity: pass activity=")
        act = jnp.broadcast_to(
            jnp.asarray(0 if activity is None else activity, jnp.int32), (num_samples,)
        )
        attr = jnp.zeros((NUM_ATTRIBUTES,)) if attributes is None else jnp.asarray(attributes)
        attr = jnp.broadcast_to(attr.astype(jnp.float32), (num_samples, NUM_ATTRIBUTES))
        keys = jax.random.split(key, num_samples)
        xs = jax.vmap(sample_one, in_axes=(None, 0, None, None, 0, 0))(
            params, keys, length, temperature, act, attr
        )
        return xs if scaler is None else scaler.invert(xs)

    return sample


def _select(pred: jax.Array, on_true: PyTree, on_false: PyTree) -> PyTree:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def _all_finite(tree: PyTree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))
