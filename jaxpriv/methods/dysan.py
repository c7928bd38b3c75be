"""DySan's training phase (Algorithm 1 of seed 001) as pure functions over one variant.

Per minibatch: one sanitizer step (or, in vector mode, one per loss term) against the
predictor and the discriminator, then ``k_pred`` predictor steps and ``k_disc``
discriminator steps on sanitized batches with the sanitizer frozen
(:mod:`jaxpriv.methods.dysan_steps`, :mod:`jaxpriv.methods.dysan_inner`). Iterations run
under ``lax.scan`` inside epochs inside a run, so ``run_epochs`` compiles once, and the
sweep engine vmaps it over a grid of (alpha, lambda, learning rates, seed) and shards
the variants over devices.

Static settings live in :class:`DysanConfig` (:mod:`jaxpriv.methods.dysan_config`:
``arch``, ``activity_mode``, ``mode``, sizes, step counts); values that may differ
between parallel variants live in the hyperparameter pytree (``alpha``, ``lam``,
``lr_san``, ``lr_pred``, ``lr_disc``, ``seed``).

``make_train(cfg)`` returns ``(init, run_epochs, train)``: the pure ``train(hp, data) ->
(state, metrics)`` of the whole run (its randomness comes from ``hp["seed"]``, so every
variant has its own), and its two halves, which the command line uses to checkpoint
between chunks of epochs. A run resumed from a checkpoint equals an uninterrupted
one: each epoch's randomness is ``fold_in(key, epoch)``, never a Python-side counter.
In the ``predicted`` activity mode the on-device activity classifier is trained once
before the first epoch (:func:`fit_classifier_into`; ``train`` does it per variant).

``data`` is a dict of arrays shared by all variants (:func:`dysan_arrays`): ``x`` (N, W,
C) float32 scaled to [-1, 1], ``activity`` and ``gender`` (N,) int32, ``attributes`` (N,
3) float32 scaled to [-1, 1] on the training range (0 where unknown).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxpriv.methods.dysan_config import (
    ACTIVITY_MODES,
    ARCHS,
    DEFAULT_LR,
    HP_KEYS,
    LEAK_WARNING,
    PRESETS,
    DysanConfig,
    config_from_meta,
    preset_config,
)
from jaxpriv.methods.dysan_inner import make_inner_loops
from jaxpriv.methods.dysan_inputs import (
    activity_classifier_shape,
    conditioning,
    conditioning_stats,
    dysan_arrays,
    fit_activity_classifier,
)
from jaxpriv.methods.dysan_nets import DysanNets, make_nets
from jaxpriv.methods.dysan_steps import activity_input, make_sanitizer_step, term_names

PyTree = Any
__all__ = [
    "ACTIVITY_MODES",
    "ARCHS",
    "DEFAULT_LR",
    "HP_KEYS",
    "LEAK_WARNING",
    "PRESETS",
    "DysanConfig",
    "DysanNets",
    "conditioning_stats",
    "config_from_meta",
    "dysan_arrays",
    "fit_classifier_into",
    "make_iteration",
    "make_nets",
    "make_sanitize",
    "make_train",
    "preset_config",
    "term_names",
]


def _adam_l2(learning_rate: float, weight_decay: float) -> optax.GradientTransformation:
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(learning_rate))


def _optimizer(weight_decay: float) -> Callable[[jax.Array], optax.GradientTransformation]:
    # inject_hyperparams stores the learning rate in the optimizer state, so it
    # is an array leaf that differs per vmapped variant.
    return lambda lr: optax.inject_hyperparams(_adam_l2)(
        learning_rate=lr, weight_decay=weight_decay
    )


def make_train(cfg: DysanConfig) -> tuple[Callable, Callable, Callable]:
    """``(init, run_epochs, train)`` for one variant; vmap them over a grid.

    - ``init(hp) -> state``: networks and optimizers from ``hp["seed"]`` (the authors'
      networks from PyTorch's default initialisation).
    - ``run_epochs(state, hp, data, num_epochs) -> (state, metrics)``: the next
      ``num_epochs`` epochs (static), metrics stacked per epoch.
    - ``train(hp, data) -> (state, metrics)``: the whole run (``cfg.epochs``).
    """
    nets = make_nets(cfg)
    optimizer = _optimizer(cfg.weight_decay)

    def init(hp: PyTree) -> PyTree:
        key = jax.random.key(hp["seed"])
        k_nets, k_run = jax.random.split(key)
        v = nets.init(k_nets)
        state = {
            "san": v["san"],
            "pred": v["pred"],
            "disc": v["disc"],
            "opt_san": optimizer(hp["lr_san"]).init(v["san"]),
            "opt_pred": optimizer(hp["lr_pred"]).init(v["pred"]["params"]),
            "opt_disc": optimizer(hp["lr_disc"]).init(v["disc"]["params"]),
            # The first inner loss of each network (the early stop's reference), -1 unset.
            "first_loss": jnp.full((2,), -1.0, jnp.float32),
            "key": jax.random.key_data(k_run),
            "epoch": jnp.zeros((), jnp.int32),
            "alive": jnp.ones((), jnp.bool_),
        }
        if cfg.activity_mode == "predicted":  # trained before the first epoch
            shapes = activity_classifier_shape(cfg)
            state["act_clf"] = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), shapes)
        return state

    iteration = make_iteration(cfg, nets, optimizer)

    def one_epoch(state, hp, data):
        n = data["x"].shape[0]
        iterations = max(n // cfg.batch_size, 1)
        key = jax.random.fold_in(jax.random.wrap_key_data(state["key"]), state["epoch"])
        k_perm, k_iter = jax.random.split(key)
        order = jax.random.permutation(k_perm, n)
        order = jnp.resize(order, iterations * cfg.batch_size)  # batches bigger than n repeat

        def body(s, inputs):
            idx, k = inputs
            return iteration(s, hp, data, idx, k)

        new_state, metrics = jax.lax.scan(
            body,
            state,
            (order.reshape(iterations, cfg.batch_size), jax.random.split(k_iter, iterations)),
        )
        metrics = jax.tree.map(jnp.mean, metrics)
        # A variant that diverged keeps its last finite state and is marked dead;
        # dead variants stop changing (vmapped variants never mix, so others are unharmed).
        finite = _all_finite((new_state["san"], new_state["pred"], new_state["disc"]))
        finite = finite & jnp.isfinite(metrics["san_loss"])
        alive = state["alive"] & finite
        new_state = _select(~alive, state, new_state)
        new_state = {**new_state, "epoch": state["epoch"] + 1, "alive": alive}
        return new_state, metrics | {"alive": alive}

    def run_epochs(state, hp, data, num_epochs: int):
        return jax.lax.scan(lambda s, _: one_epoch(s, hp, data), state, None, length=num_epochs)

    def train(hp, data):
        state = init(hp)
        if cfg.activity_mode == "predicted":
            key = jax.random.fold_in(jax.random.key(hp["seed"]), 1)
            state = {**state, "act_clf": fit_activity_classifier(cfg, key, data)}
        return run_epochs(state, hp, data, cfg.epochs)

    return init, run_epochs, train


def make_iteration(
    cfg: DysanConfig, nets: DysanNets | None = None, optimizer: Callable | None = None
) -> Callable:
    """``iteration(state, hp, data, batch_idx, key) -> (state, metrics)``: one minibatch
    of Algorithm 1 (the sanitizer's step(s), then the inner loops), for one variant."""
    nets = make_nets(cfg) if nets is None else nets
    optimizer = _optimizer(cfg.weight_decay) if optimizer is None else optimizer
    sanitizer_step = make_sanitizer_step(cfg, nets, optimizer)
    inner = make_inner_loops(cfg, nets, optimizer)

    def iteration(state, hp, data, batch_idx, key):
        k_san, k_inner = jax.random.split(key)
        batch = jax.tree.map(lambda a: a[batch_idx], data)
        state, metrics = sanitizer_step(state, hp, batch, k_san)
        state, inner_metrics = inner(state, hp, data, k_inner)
        return state, metrics | inner_metrics

    return iteration


def fit_classifier_into(cfg: DysanConfig, state: PyTree, data: PyTree, seed: int) -> PyTree:
    """A batched ``state`` with the ``predicted`` mode's activity classifier, trained
    ONCE on ``data`` (the raw training windows) and given to every variant."""
    if cfg.activity_mode != "predicted":
        return state
    params = jax.jit(lambda k, d: fit_activity_classifier(cfg, k, d))(
        jax.random.key(seed), {"x": data["x"], "activity": data["activity"]}
    )
    num = state["alive"].shape[0]
    stacked = jax.tree.map(lambda a: jnp.broadcast_to(a, (num, *a.shape)), params)
    stacked = jax.tree.map(
        lambda new, old: jax.device_put(new, old.sharding), stacked, state["act_clf"]
    )
    return {**state, "act_clf": stacked}


def make_sanitize(cfg: DysanConfig) -> Callable:
    """``sanitize(state_or_params, x, attributes, activity, key) -> x'`` for one variant.

    ``state_or_params``: ``{"san": ..., "act_clf": ...}`` (a training state or the
    restored parameters); attributes scaled to [-1, 1]; ``activity`` the true labels
    (used only by the ``true`` mode)."""
    nets = make_nets(cfg)

    def sanitize(params, x, attributes, activity, key):
        act_in = activity_input(cfg, params, {"x": x, "activity": activity})
        cond = conditioning(cfg, attributes, act_in, key)
        return nets.sanitize(params["san"], x, cond).x_hat

    return sanitize


def _select(pred: jax.Array, on_true: PyTree, on_false: PyTree) -> PyTree:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def _all_finite(tree: PyTree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves))
