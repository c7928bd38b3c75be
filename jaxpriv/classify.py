"""Train and apply window classifiers as pure functions.

``make_fit(cfg, num_classes)`` returns ``fit(key, x_NxWxC, y_N, weight_N) -> params``:
the whole training run is one ``lax.scan`` over minibatch steps, with no
Python-side state, so it jits once and can be vmapped over variants (e.g. one
attacker per sanitizer) or over folds. ``weight_N`` masks padded rows (0) and
can rebalance classes; at least one weight must be positive.

``make_fit_early_stopping(cfg, num_classes)`` trains the strong attacker
(:class:`~jaxpriv.nn.strong_attacker.ResNet1D`) to convergence: augmented
minibatches (:func:`augment`), a validation check every ``eval_every`` steps and
a ``lax.while_loop`` that stops after ``patience`` checks without improvement,
returning the best variables seen. Still one pure function of its key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from jaxpriv.nn.classifiers import WindowCNN
from jaxpriv.nn.strong_attacker import ResNet1D


@dataclasses.dataclass(frozen=True)
class ClassifierConfig:
    """Static settings of a classifier and its training (shapes, step counts)."""

    features: tuple[int, ...] = (32, 64, 64)
    kernel: int = 5
    dense: int = 64
    dropout: float = 0.2
    steps: int = 1500
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4

    def model(self, num_classes: int) -> WindowCNN:
        return WindowCNN(num_classes, self.features, self.kernel, self.dense, self.dropout)


Params = dict


def make_fit(cfg: ClassifierConfig, num_classes: int) -> Callable[..., Params]:
    """A pure training function for a :class:`WindowCNN` with ``num_classes`` outputs."""
    model = cfg.model(num_classes)
    schedule = optax.cosine_decay_schedule(cfg.learning_rate, cfg.steps)
    optimizer = optax.adamw(schedule, weight_decay=cfg.weight_decay)

    def loss_fn(params, x, y, key):
        logits = model.apply({"params": params}, x, train=True, rngs={"dropout": key})
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    def fit(key: jax.Array, x_NxWxC: jax.Array, y_N: jax.Array, weight_N: jax.Array) -> Params:
        init_key, loop_key = jax.random.split(key)
        params = model.init(init_key, x_NxWxC[:1])["params"]
        opt_state = optimizer.init(params)
        # Sample minibatches in proportion to the weights: padded rows (0) never appear.
        probs_N = weight_N / jnp.sum(weight_N)

        def step(carry, step_key):
            params, opt_state = carry
            batch_key, dropout_key = jax.random.split(step_key)
            idx = jax.random.choice(batch_key, x_NxWxC.shape[0], (cfg.batch_size,), p=probs_N)
            loss, grads = jax.value_and_grad(loss_fn)(params, x_NxWxC[idx], y_N[idx], dropout_key)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, _), _ = jax.lax.scan(
            step, (params, opt_state), jax.random.split(loop_key, cfg.steps)
        )
        return params

    return fit


def make_predict(
    cfg: ClassifierConfig, num_classes: int
) -> Callable[[Params, jax.Array], jax.Array]:
    """``predict(params, x_NxWxC) -> logits_NxK`` in eval mode."""
    model = cfg.model(num_classes)

    def predict(params: Params, x_NxWxC: jax.Array) -> jax.Array:
        return model.apply({"params": params}, x_NxWxC, train=False)

    return predict


@dataclasses.dataclass(frozen=True)
class StrongConfig:
    """The strong attacker: its network, augmentation and early stopping (all static)."""

    features: tuple[int, ...] = (64, 128, 128)
    kernels: tuple[int, ...] = (8, 5, 3)
    pool: bool = False  # max-pool by 2 between blocks (cheaper, for CPUs)
    downsample: int = 1  # average-pool the input by this factor first (cheaper, for CPUs)
    dropout: float = 0.1
    batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    max_steps: int = 4000
    eval_every: int = 100  # steps between validation checks
    patience: int = 5  # checks without improvement before stopping
    shift: float = 0.1  # random shift (edge-padded crop), as a fraction of the window
    scale: float = 0.1  # std of the per-window, per-channel gain around 1
    jitter: float = 0.05  # std of additive noise (inputs are standardized)
    validation_fraction: float = 0.2  # of the attacker's own training windows

    def model(self, num_classes: int) -> ResNet1D:
        return ResNet1D(
            num_classes, self.features, self.kernels, self.pool, self.dropout, self.downsample
        )


def augment(
    key: jax.Array, x_BxWxC: jax.Array, *, shift: int, scale: float, jitter: float
) -> jax.Array:
    """What an attacker does to make the most of few windows: a random shift of up to
    ``shift`` samples either way (a crop of the edge-padded window), a random gain per
    window and channel (``1 + scale * N(0, 1)``) and additive noise (``jitter * N(0, 1)``)."""
    b, w, c = x_BxWxC.shape
    shift_key, scale_key, noise_key = jax.random.split(key, 3)
    if shift > 0:
        offset_B = jax.random.randint(shift_key, (b,), 0, 2 * shift + 1)
        padded = jnp.pad(x_BxWxC, ((0, 0), (shift, shift), (0, 0)), mode="edge")
        x_BxWxC = jax.vmap(lambda xi, o: jax.lax.dynamic_slice_in_dim(xi, o, w, axis=0))(
            padded, offset_B
        )
    gain_Bx1xC = 1.0 + scale * jax.random.normal(scale_key, (b, 1, c), x_BxWxC.dtype)
    return x_BxWxC * gain_Bx1xC + jitter * jax.random.normal(noise_key, (b, w, c), x_BxWxC.dtype)


Variables = dict  # {"params": ..., "batch_stats": ...}


def make_fit_early_stopping(cfg: StrongConfig, num_classes: int) -> Callable[..., tuple]:
    """``fit(key, x_tr, y_tr, w_tr, x_val, y_val, w_val) -> (variables, info)``.

    Minibatches are drawn from the training rows in proportion to ``w_tr`` and augmented.
    Every ``eval_every`` steps the weighted validation accuracy is checked (``w_val``:
    class-balanced weights give the balanced accuracy). The best variables are kept (higher
    accuracy; at equal accuracy, lower weighted loss) and training stops after ``patience``
    checks without a higher accuracy, or at ``max_steps``. ``info``: ``steps`` run,
    ``best_step`` and its ``val_accuracy``.
    """
    model = cfg.model(num_classes)
    rounds = max(cfg.max_steps // cfg.eval_every, 1)
    schedule = optax.cosine_decay_schedule(cfg.learning_rate, rounds * cfg.eval_every)
    optimizer = optax.adamw(schedule, weight_decay=cfg.weight_decay)

    def loss_fn(params, stats, x, y, key):
        logits, updated = model.apply(
            {"params": params, "batch_stats": stats}, x, train=True,
            mutable=["batch_stats"], rngs={"dropout": key},
        )  # fmt: skip
        ce = optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
        return ce, updated["batch_stats"]

    def fit(key, x_tr, y_tr, w_tr, x_val, y_val, w_val) -> tuple[Variables, dict]:
        init_key, loop_key = jax.random.split(key)
        variables = model.init(init_key, x_tr[:1])
        params, stats = variables["params"], variables["batch_stats"]
        probs_N = w_tr / jnp.sum(w_tr)
        shift = round(cfg.shift * x_tr.shape[1])
        w_val = w_val / jnp.sum(w_val)

        def step(carry, step_key):
            params, stats, opt_state = carry
            batch_key, aug_key, dropout_key = jax.random.split(step_key, 3)
            idx = jax.random.choice(batch_key, x_tr.shape[0], (cfg.batch_size,), p=probs_N)
            x = augment(aug_key, x_tr[idx], shift=shift, scale=cfg.scale, jitter=cfg.jitter)
            (_, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(
                params, stats, x, y_tr[idx], dropout_key
            )
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), stats, opt_state), None

        def validate(params, stats):
            logits = model.apply({"params": params, "batch_stats": stats}, x_val, train=False)
            ce = optax.softmax_cross_entropy_with_integer_labels(logits, y_val)
            hit = (jnp.argmax(logits, -1) == y_val).astype(jnp.float32)
            return jnp.sum(w_val * hit), jnp.sum(w_val * ce)

        def one_round(c):
            keys = jax.random.split(jax.random.fold_in(loop_key, c["round"]), cfg.eval_every)
            (params, stats, opt_state), _ = jax.lax.scan(
                step, (c["params"], c["stats"], c["opt_state"]), keys
            )
            acc, loss = validate(params, stats)
            progress = acc > c["best_acc"]
            better = progress | ((acc == c["best_acc"]) & (loss < c["best_loss"]))
            keep = lambda new, old: jax.tree.map(lambda a, b: jnp.where(better, a, b), new, old)  # noqa: E731
            return {
                "round": c["round"] + 1,
                "since": jnp.where(progress, 0, c["since"] + 1),
                "params": params,
                "stats": stats,
                "opt_state": opt_state,
                "best": keep({"params": params, "batch_stats": stats}, c["best"]),
                "best_acc": jnp.where(better, acc, c["best_acc"]),
                "best_loss": jnp.where(better, loss, c["best_loss"]),
                "best_round": jnp.where(better, c["round"] + 1, c["best_round"]),
            }

        def go_on(c):
            return (c["round"] < rounds) & (c["since"] < cfg.patience)

        start = {
            "round": jnp.int32(0),
            "since": jnp.int32(0),
            "params": params,
            "stats": stats,
            "opt_state": optimizer.init(params),
            "best": {"params": params, "batch_stats": stats},
            "best_acc": jnp.float32(-1.0),
            "best_loss": jnp.float32(jnp.inf),
            "best_round": jnp.int32(0),
        }
        end = jax.lax.while_loop(go_on, one_round, start)
        info = {
            "steps": end["round"] * cfg.eval_every,
            "best_step": end["best_round"] * cfg.eval_every,
            "val_accuracy": end["best_acc"],
        }
        return end["best"], info

    return fit


def make_predict_variables(
    cfg: StrongConfig, num_classes: int
) -> Callable[[Variables, jax.Array], jax.Array]:
    """``predict(variables, x_NxWxC) -> logits_NxK`` of the strong attacker in eval mode."""
    model = cfg.model(num_classes)

    def predict(variables: Variables, x_NxWxC: jax.Array) -> jax.Array:
        return model.apply(variables, x_NxWxC, train=False)

    return predict
