"""GEN's training (guardian-estimator-neutralizer, systems.md section 3) as pure functions.

A run has three phases, one after the other, counted on one epoch axis:

1. ``"estimator"`` (``cfg.est_epochs``): the :class:`~jaxpriv.nn.gen.Estimator`
   learns activity (softmax cross-entropy) and gender (sigmoid binary
   cross-entropy) from raw windows. From then on it is frozen.
2. ``"identity"`` (``cfg.identity_epochs``, optional): the guardian is
   pretrained to reproduce its input (MSE), so the adversarial phase starts
   from the data rather than from a random map. 0 skips it (GEN as published
   starts from a random guardian).
3. ``"guardian"`` (``cfg.epochs``): the :class:`~jaxpriv.nn.gen.Guardian` minimises
   :func:`jaxpriv.losses.gen_guardian_loss` on the frozen estimator's outputs:
   ``utility_weight * CE(activity) + privacy_weight * mean |1/2 - sigmoid(gender)|``.
   Only the guardian's parameters receive gradients; the estimator's are
   bit-for-bit those of phase 1.

Static settings (shapes, epochs, architecture) live in :class:`GenConfig`;
values that may differ between vmapped variants in the hyperparameter pytree
(:data:`HP_KEYS`). Every variant trains its own estimator from its own seed, so
``train(hp, data)`` is one pure function; give variants the same seed (e.g. the
grid ``privacy_weight=0.5,1,2;seed=0``) and they share an identical estimator
and differ only in their guardians.

``make_train(cfg)`` returns ``(init, run_epochs, train)``; ``run_epochs`` takes the
phase as a static argument (a traced phase switch would run all three phases
under ``vmap``), and :func:`schedule` cuts the epochs into chunks that never
cross a phase boundary, for checkpointing between chunks. Each epoch's
randomness is ``fold_in(key, epoch)``, so a resumed run equals an uninterrupted one.
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

from jaxpriv import losses
from jaxpriv.data.task import TaskData
from jaxpriv.nn.gen import Estimator, Guardian, activation
from jaxpriv.sweep import VariantMesh, make_variant_mesh, sweep_jit

PyTree = Any
HP_KEYS = ("privacy_weight", "utility_weight", "lr_est", "lr_guard", "seed")
PHASES = ("estimator", "identity", "guardian")
# Adam's learning rates. The guardian's is small: with no distortion term, a larger
# step lets the frozen estimator's gradients carry the release far from the data
# (measured at 1e-3 on the embedded data: MSE 1.3 in [-1, 1] units, against 0.1 at 1e-4).
DEFAULT_LR_EST = 1e-3
DEFAULT_LR_GUARD = 1e-4
EVAL_CHUNK = 256  # held-out windows per evaluation call


@dataclasses.dataclass(frozen=True)
class GenConfig:
    """Static settings of a GEN run (they fix shapes, epochs and code paths)."""

    window: int = 125
    stride: int = 63
    num_channels: int = 6
    num_activities: int = 4
    est_features: tuple[int, ...] = (64, 64, 128)
    est_kernel: int = 5
    est_dense: int = 128
    est_dropout: float = 0.3
    hidden: tuple[int, ...] = (512, 256, 512)  # the guardian's dense layers
    activation: str = "selu"
    est_epochs: int = 30
    identity_epochs: int = 5
    epochs: int = 100  # the guardian's adversarial epochs
    batch_size: int = 128

    def __post_init__(self) -> None:
        # JSON metadata gives lists back; modules and hashing want tuples.
        for name in ("est_features", "hidden"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
            if not getattr(self, name) or min(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a non-empty list of positive sizes")
        activation(self.activation)  # a clear error for an unknown name
        for name in ("window", "num_channels", "num_activities", "batch_size", "est_kernel"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("est_epochs", "identity_epochs", "epochs"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.est_dropout < 1:
            raise ValueError(f"est_dropout must be in [0, 1), got {self.est_dropout}")

    @property
    def total_epochs(self) -> int:
        return self.est_epochs + self.identity_epochs + self.epochs


PRESETS: dict[str, dict[str, Any]] = {
    # One variant on the embedded dataset, 2 CPU cores shared with other jobs: 2 min 45 s
    # (67 s of CPU) measured at load average 12; about 1 min 10 s of it is compilation.
    "quick": dict(
        est_features=(32, 64, 64),
        est_dense=64,
        est_epochs=8,
        identity_epochs=3,
        epochs=12,
        batch_size=64,
    ),
    # Full-size networks (guardian d -> 512 -> 256 -> 512 -> d) trained to convergence: about
    # 8 min for one variant there (2.8 / 1.0 / 3.3 s per estimator / identity / guardian epoch).
    "paper": dict(est_epochs=30, identity_epochs=5, epochs=100, batch_size=128),
}


def preset_config(name: str, **overrides: Any) -> GenConfig:
    """The preset ``name`` with ``overrides`` applied."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return GenConfig(**{**PRESETS[name], **overrides})


def make_networks(cfg: GenConfig) -> tuple[Estimator, Guardian]:
    """The estimator and guardian modules ``cfg`` describes."""
    estimator = Estimator(
        cfg.num_activities, cfg.est_features, cfg.est_kernel, cfg.est_dense, cfg.est_dropout
    )
    return estimator, Guardian(cfg.hidden, cfg.activation)


def phase_bounds(cfg: GenConfig) -> dict[str, tuple[int, int]]:
    """``{phase: (first epoch, end epoch)}`` on the run's single epoch axis."""
    bounds, start = {}, 0
    for phase, n in zip(PHASES, (cfg.est_epochs, cfg.identity_epochs, cfg.epochs), strict=True):
        bounds[phase] = (start, start + n)
        start += n
    return bounds


def schedule(cfg: GenConfig, start_epoch: int, chunk: int) -> list[tuple[str, int]]:
    """``[(phase, num_epochs), ...]`` from ``start_epoch`` to the end, chunks of at most
    ``chunk`` epochs that never cross a phase boundary."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    out = []
    for phase, (lo, hi) in phase_bounds(cfg).items():
        epoch = max(lo, start_epoch)
        while epoch < hi:
            n = min(chunk, hi - epoch)
            out.append((phase, n))
            epoch += n
    return out


def _adam(lr: jax.Array) -> optax.GradientTransformation:
    # inject_hyperparams keeps the learning rate in the state: an array leaf per variant.
    return optax.inject_hyperparams(optax.adam)(learning_rate=lr)


def make_train(cfg: GenConfig) -> tuple[Callable, Callable, Callable]:
    """``(init, run_epochs, train)`` for one variant; vmap them over a grid.

    - ``init(hp) -> state``: both networks and optimizers from ``hp["seed"]``.
    - ``run_epochs(state, hp, data, phase, num_epochs) -> (state, metrics)``: the next
      ``num_epochs`` epochs of ``phase`` (both static), metrics stacked per epoch.
    - ``train(hp, data) -> (state, {phase: metrics})``: the whole run.

    ``data``: ``x`` (N, W, C) float32 scaled to [-1, 1], ``activity`` and ``gender``
    (N,) int32 (other keys are carried along unused).
    """
    estimator, guardian = make_networks(cfg)

    def init(hp: PyTree) -> PyTree:
        k_est, k_guard, k_run = jax.random.split(jax.random.key(hp["seed"]), 3)
        x = jnp.zeros((1, cfg.window, cfg.num_channels), jnp.float32)
        est = estimator.init(k_est, x, train=False)["params"]
        guard = guardian.init(k_guard, x)["params"]
        return {
            "est": est,
            "guard": guard,
            "opt_est": _adam(hp["lr_est"]).init(est),
            "opt_guard": _adam(hp["lr_guard"]).init(guard),
            "key": jax.random.key_data(k_run),
            "epoch": jnp.zeros((), jnp.int32),
            "alive": jnp.ones((), jnp.bool_),
        }

    def estimator_loss(est, guard, hp, batch, key):
        del guard, hp
        act, gen = estimator.apply({"params": est}, batch["x"], train=True, rngs={"dropout": key})
        ce = losses.cross_entropy(act, batch["activity"])
        bce = optax.sigmoid_binary_cross_entropy(gen, batch["gender"].astype(gen.dtype)).mean()
        return ce + bce, {"est_loss": ce + bce, "est_activity_ce": ce, "est_gender_bce": bce}

    def identity_loss(guard, est, hp, batch, key):
        del est, hp, key
        loss = losses.mse(batch["x"], guardian.apply({"params": guard}, batch["x"]))
        return loss, {"identity_mse": loss}

    def guardian_loss(guard, est, hp, batch, key):
        del key
        x_hat = guardian.apply({"params": guard}, batch["x"])
        # The estimator is a constant here: no gradient reaches (or updates) it.
        act, gen = estimator.apply({"params": jax.lax.stop_gradient(est)}, x_hat, train=False)
        total, terms = losses.gen_guardian_loss(
            act, batch["activity"], gen, hp["privacy_weight"], hp["utility_weight"]
        )
        mse = jax.lax.stop_gradient(losses.mse(batch["x"], x_hat))
        return total, {
            "guard_loss": total,
            "guard_activity_ce": terms["activity"],
            "guard_gender_gap": terms["gender_gap"],
            "guard_mse": mse,
        }

    # phase -> (loss, trained network, its optimizer, its learning rate, the frozen one)
    phases = {
        "estimator": (estimator_loss, "est", "opt_est", "lr_est", "guard"),
        "identity": (identity_loss, "guard", "opt_guard", "lr_guard", "est"),
        "guardian": (guardian_loss, "guard", "opt_guard", "lr_guard", "est"),
    }

    def step(state, hp, batch, key, phase: str):
        loss_fn, net, opt_name, lr_name, other = phases[phase]
        (_, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            state[net], state[other], hp, batch, key
        )
        updates, opt = _adam(hp[lr_name]).update(grads, state[opt_name], state[net])
        return {**state, net: optax.apply_updates(state[net], updates), opt_name: opt}, metrics

    guardian_start = phase_bounds(cfg)["guardian"][0]

    def one_epoch(state, hp, data, phase: str):
        if phase == "guardian":
            # A fresh Adam for the adversarial phase: the identity phase's small second
            # moments would otherwise inflate its first steps several times over lr.
            fresh = _adam(hp["lr_guard"]).init(state["guard"])
            restart = state["epoch"] == guardian_start
            state = {**state, "opt_guard": _select(restart, fresh, state["opt_guard"])}
        n = data["x"].shape[0]
        iterations = max(n // cfg.batch_size, 1)
        key = jax.random.fold_in(jax.random.wrap_key_data(state["key"]), state["epoch"])
        k_perm, k_iter = jax.random.split(key)
        # Modulo n: a dataset smaller than one batch still fills it.
        order = jax.random.permutation(k_perm, n)[jnp.arange(iterations * cfg.batch_size) % n]

        def body(s, inputs):
            idx, k = inputs
            return step(s, hp, jax.tree.map(lambda a: a[idx], data), k, phase)

        new_state, metrics = jax.lax.scan(
            body,
            state,
            (order.reshape(iterations, cfg.batch_size), jax.random.split(k_iter, iterations)),
        )
        metrics = jax.tree.map(jnp.mean, metrics)
        # A diverged variant keeps its last finite state and is marked dead (as DySan's).
        finite = _all_finite((new_state["est"], new_state["guard"], metrics))
        alive = state["alive"] & finite
        new_state = _select(~alive, state, new_state)
        new_state = {**new_state, "epoch": state["epoch"] + 1, "alive": alive}
        return new_state, metrics | {"alive": alive}

    def run_epochs(state, hp, data, phase: str, num_epochs: int):
        if phase not in PHASES:
            raise ValueError(f"phase must be one of {PHASES}, got {phase!r}")
        return jax.lax.scan(
            lambda s, _: one_epoch(s, hp, data, phase), state, None, length=num_epochs
        )

    def train(hp, data):
        state, history = init(hp), {}
        for phase, n in schedule(cfg, 0, max(cfg.total_epochs, 1)):
            state, history[phase] = run_epochs(state, hp, data, phase, n)
        return state, history

    return init, run_epochs, train


@functools.cache
def compiled(cfg: GenConfig, num_variants: int) -> tuple[VariantMesh, Callable, Callable]:
    """``(vmesh, init_all, run_all)``: the sweep over ``num_variants`` variants on every
    device, jitted. Built once per process and ``(cfg, num_variants)``, so a second run
    in the same process (a resume, a test) reuses the compiled programs.

    ``init_all(hp)`` and ``run_all(state, hp, data, phase, num_epochs)``; shard ``hp``
    and replicate ``data`` with this ``vmesh``.
    """
    vmesh = make_variant_mesh(num_variants)
    init, run_epochs, _ = make_train(cfg)
    init_all = sweep_jit(init, vmesh)
    run_all = sweep_jit(run_epochs, vmesh, data_argnums=(2,), static_argnums=(3, 4))
    return vmesh, init_all, run_all


def make_guard(cfg: GenConfig) -> Callable:
    """``guard(guard_params, x_scaled) -> x_hat_scaled`` for one variant."""
    guardian = make_networks(cfg)[1]
    return lambda params, x: guardian.apply({"params": params}, x)


def variant_names(grid: Sequence[dict[str, Any]]) -> list[str]:
    """Short unique names: ``pw1-uw1``, plus every other key that varies in the grid."""
    varying = [k for k in HP_KEYS[2:] if len({v.get(k) for v in grid}) > 1]
    names = []
    for v in grid:
        name = f"pw{v['privacy_weight']:g}-uw{v['utility_weight']:g}"
        names.append(name + "".join(f"-{k}{v[k]:g}" for k in varying))
    return names


def evaluate_variants(
    cfg: GenConfig, vmesh: VariantMesh, state: PyTree, hp: PyTree, data: TaskData
) -> dict[str, np.ndarray]:
    """Per-variant held-out metrics, arrays of shape ``(num_variants,)``.

    The frozen estimator's activity and gender accuracy on raw windows
    (``raw_*``) and on the guardian's releases, the mean ``|1/2 - sigmoid(gender)|``
    on the releases, and the L1 distortion in scaled units (DySan's measure).
    This is GEN's own, frozen-attacker view; the harness retrains attackers.
    """
    counts_fn = _counts_fn(cfg, vmesh)
    test, n = data.test, data.test["x"].shape[0]
    totals: dict[str, np.ndarray] = {}
    for start in range(0, n, EVAL_CHUNK):
        idx = np.arange(start, start + EVAL_CHUNK)
        weight = (idx < n).astype(np.float32)  # the padded tail weighs 0
        idx = np.minimum(idx, n - 1)
        batch = {k: test[k][idx] for k in ("x", "activity", "gender")} | {"weight": weight}
        for k, v in counts_fn(state, hp, vmesh.replicate(batch)).items():
            totals[k] = totals.get(k, 0) + np.asarray(v)[: vmesh.num_variants]
    count = totals["count"]
    return {
        "raw_activity_acc": totals["raw_activity_correct"] / count,
        "raw_gender_acc": totals["raw_gender_correct"] / count,
        "activity_acc": totals["activity_correct"] / count,
        "gender_acc": totals["gender_correct"] / count,
        "gender_gap": totals["gap"] / count,
        "distortion": totals["l1"] / count,
        "alive": np.asarray(state["alive"])[: vmesh.num_variants],
    }


@functools.cache
def _counts_fn(cfg: GenConfig, vmesh: VariantMesh) -> Callable:
    """The jitted per-chunk counts of :func:`evaluate_variants` (compiled once per process)."""
    estimator, guardian = make_networks(cfg)

    def chunk_counts(state, hp, batch):
        del hp
        x, w = batch["x"], batch["weight"]
        x_hat = guardian.apply({"params": state["guard"]}, x)
        out = {"count": jnp.sum(w), "l1": losses.l1_per_channel(x, x_hat, w) * jnp.sum(w)}
        for prefix, windows in (("raw_", x), ("", x_hat)):
            act, gen = estimator.apply({"params": state["est"]}, windows, train=False)
            out[f"{prefix}activity_correct"] = jnp.sum((act.argmax(-1) == batch["activity"]) * w)
            out[f"{prefix}gender_correct"] = jnp.sum(((gen > 0) == (batch["gender"] > 0)) * w)
        # gen: the estimator's gender logits on the releases (the loop's last pass).
        out["gap"] = jnp.sum(jnp.abs(0.5 - jax.nn.sigmoid(gen)) * w)
        return out

    return sweep_jit(chunk_counts, vmesh, data_argnums=(2,))


def _select(pred: jax.Array, on_true: PyTree, on_false: PyTree) -> PyTree:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def _all_finite(tree: PyTree) -> jax.Array:
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]))
