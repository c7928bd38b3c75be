"""DySan's training phase (Algorithm 1 of seed 001) as pure functions over one variant.

Per minibatch: one sanitizer step with the predictor and discriminator frozen,
then ``k_pred`` predictor steps and ``k_disc`` discriminator steps on
sanitized batches with the sanitizer frozen. Everything runs under
``lax.scan`` (iterations inside epochs inside a run), so ``run_epochs``
compiles once, and the sweep engine vmaps it over a grid of
(alpha, lambda, learning rates, seed) and shards the variants over devices.

Static settings (shapes, step counts, modes) live in :class:`DysanConfig`;
values that may differ between parallel variants live in the hyperparameter
pytree (``alpha``, ``lam``, ``lr_san``, ``lr_pred``, ``lr_disc``, ``seed``).

``make_train(cfg)`` returns ``(init, run_epochs, train)``: the pure
``train(hp, data) -> (state, metrics)`` of the whole run (its randomness comes
from ``hp["seed"]``, so every variant has its own), and its two halves, which
the command line uses to checkpoint between chunks of epochs. A run resumed from a
checkpoint equals an uninterrupted one: each epoch's randomness is
``fold_in(key, epoch)``, never a Python-side counter.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, Literal

import jax
import jax.numpy as jnp
import optax

from jaxpriv import losses
from jaxpriv.nn.dysan import Discriminator, Predictor, Sanitizer

PyTree = Any
HP_KEYS = ("alpha", "lam", "lr_san", "lr_pred", "lr_disc", "seed")


@dataclasses.dataclass(frozen=True)
class DysanConfig:
    """Static settings of a DySan run (they fix shapes and code paths)."""

    window: int = 125
    stride: int = 63
    num_channels: int = 6
    num_activities: int = 4
    conditional: bool = True  # sanitizer sees attributes, activity and noise (the code's choice)
    width: float = 1.0  # multiplies every layer's features; 1.0 = the paper's networks
    epochs: int = 300
    batch_size: int = 256
    k_pred: int = 50
    k_disc: int = 50
    mode: Literal["sum", "vector"] = "sum"  # "vector": one sanitizer step per loss term
    weight_decay: float = 1e-10  # Adam's L2 term, as torch.optim.Adam(weight_decay=...)
    inner_stop_loss: float = 0.0  # inner loops stop once their batch loss <= this (0: never)

    def __post_init__(self) -> None:
        if self.mode not in ("sum", "vector"):
            raise ValueError(f"mode must be 'sum' or 'vector', got {self.mode!r}")
        if not self.width > 0:
            raise ValueError(f"width must be positive, got {self.width}")
        for name in ("epochs", "batch_size", "window"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("k_pred", "k_disc"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")


PRESETS: dict[str, dict[str, Any]] = {
    # Minutes on 2 CPU cores for the 36-variant grid on the embedded dataset
    # (about 6 min measured): quarter-width networks, 2 epochs, one inner step.
    "quick": dict(epochs=2, batch_size=64, k_pred=1, k_disc=1, width=0.25),
    # The original code: Adam 5e-4, batch 256, 300 epochs, K = 50 with early stop.
    "paper": dict(epochs=300, batch_size=256, k_pred=50, k_disc=50, inner_stop_loss=0.02),
}
DEFAULT_LR = 5e-4


def preset_config(name: str, **overrides: Any) -> DysanConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return DysanConfig(**{**PRESETS[name], **overrides})


def _adam_l2(learning_rate: float, weight_decay: float) -> optax.GradientTransformation:
    return optax.chain(optax.add_decayed_weights(weight_decay), optax.adam(learning_rate))


def _optimizer(weight_decay: float) -> Callable[[jax.Array], optax.GradientTransformation]:
    # inject_hyperparams stores the learning rate in the optimizer state, so it
    # is an array leaf that differs per vmapped variant.
    return lambda lr: optax.inject_hyperparams(_adam_l2)(
        learning_rate=lr, weight_decay=weight_decay
    )


def make_networks(cfg: DysanConfig) -> tuple[Sanitizer, Predictor, Discriminator]:
    return (
        Sanitizer(cfg.num_channels, cfg.num_activities, cfg.conditional, width=cfg.width),
        Predictor(cfg.num_activities, width=cfg.width),
        Discriminator(2, width=cfg.width),
    )


def make_train(cfg: DysanConfig) -> tuple[Callable, Callable, Callable]:
    """``(init, run_epochs, train)`` for one variant; vmap them over a grid.

    - ``init(hp) -> state``: networks and optimizers from ``hp["seed"]``.
    - ``run_epochs(state, hp, data, num_epochs) -> (state, metrics)``: the
      next ``num_epochs`` epochs (static), metrics stacked per epoch.
    - ``train(hp, data) -> (state, metrics)``: the whole run (``cfg.epochs``).

    ``data`` is a dict of arrays shared by all variants: ``x`` (N, W, C)
    float32 scaled to [-1, 1], ``activity`` and ``gender`` (N,) int32,
    ``attributes`` (N, 3) float32 (normalised; zeros where unknown).
    """
    sanitizer, predictor, discriminator = make_networks(cfg)
    optimizer = _optimizer(cfg.weight_decay)

    def init(hp: PyTree) -> PyTree:
        key = jax.random.key(hp["seed"])
        k_san, k_pred, k_disc, k_run = jax.random.split(key, 4)
        x = jnp.zeros((1, cfg.window, cfg.num_channels), jnp.float32)
        cond = _conditioning(cfg, jnp.zeros((1, 3)), jnp.zeros((1,), jnp.int32), jax.random.key(0))
        san = sanitizer.init(k_san, x, **cond)["params"]
        pred = predictor.init({"params": k_pred, "dropout": k_pred}, x, train=False)
        disc = discriminator.init({"params": k_disc, "dropout": k_disc}, x, train=False)
        return {
            "san": san,
            "pred": pred,
            "disc": disc,
            "opt_san": optimizer(hp["lr_san"]).init(san),
            "opt_pred": optimizer(hp["lr_pred"]).init(pred["params"]),
            "opt_disc": optimizer(hp["lr_disc"]).init(disc["params"]),
            "key": jax.random.key_data(k_run),
            "epoch": jnp.zeros((), jnp.int32),
            "alive": jnp.ones((), jnp.bool_),
        }

    sanitize = make_sanitize(cfg)

    def sanitizer_step(state, hp, batch, key):
        def terms_fn(san_params):
            x_hat = sanitize(san_params, batch["x"], batch["attributes"], batch["activity"], key)
            act_logits = predictor.apply(state["pred"], x_hat, train=False)
            gen_logits = discriminator.apply(state["disc"], x_hat, train=False)
            return losses.dysan_sanitizer_terms(
                act_logits, batch["activity"], gen_logits, batch["gender"], batch["x"], x_hat,
                hp["alpha"], hp["lam"], num_activities=cfg.num_activities,
            )  # fmt: skip

        san, opt = state["san"], state["opt_san"]
        if cfg.mode == "sum":

            def total_fn(p):
                terms = terms_fn(p)
                return sum(terms.values()), terms

            (total, terms), grads = jax.value_and_grad(total_fn, has_aux=True)(san)
            updates, opt = optimizer(hp["lr_san"]).update(grads, opt, san)
            san = optax.apply_updates(san, updates)
        else:  # "vector": one optimizer step per weighted term, as the original code
            terms = terms_fn(san)
            for name in terms:
                grads = jax.grad(lambda p, name=name: terms_fn(p)[name])(san)
                updates, opt = optimizer(hp["lr_san"]).update(grads, opt, san)
                san = optax.apply_updates(san, updates)
            total = sum(terms.values())
        metrics = {f"san_{k}": v for k, v in terms.items()} | {"san_loss": total}
        return {**state, "san": san, "opt_san": opt}, metrics

    def inner_steps(state, hp, data, key, which: str, labels: str, k: int, num_classes: int):
        """``k`` steps of the predictor or discriminator on sanitized batches (sanitizer frozen)."""
        net = predictor if which == "pred" else discriminator
        opt_name, lr = f"opt_{which}", hp[f"lr_{which}"]

        def step(carry, step_key):
            variables, opt, done = carry
            k_batch, k_noise, k_drop = jax.random.split(step_key, 3)
            batch = _sample(data, k_batch, cfg.batch_size)
            x_hat = sanitize(
                state["san"], batch["x"], batch["attributes"], batch["activity"], k_noise
            )
            x_hat = jax.lax.stop_gradient(x_hat)

            def loss_fn(params):
                logits, updates = net.apply(
                    {**variables, "params": params}, x_hat, train=True,
                    rngs={"dropout": k_drop}, mutable=["batch_stats"],
                )  # fmt: skip
                return losses.soft_ber(logits, batch[labels], num_classes), updates

            (loss, updates), grads = jax.value_and_grad(loss_fn, has_aux=True)(variables["params"])
            param_updates, new_opt = optimizer(lr).update(grads, opt, variables["params"])
            new_vars = {
                "params": optax.apply_updates(variables["params"], param_updates),
                "batch_stats": updates["batch_stats"],
            }
            # Early stop without control flow: once done, later steps are no-ops.
            keep = done
            variables = _select(keep, variables, new_vars)
            opt = _select(keep, opt, new_opt)
            done = done | (loss <= cfg.inner_stop_loss)
            return (variables, opt, done), (loss, ~keep)

        carry = (state[which], state[opt_name], jnp.zeros((), jnp.bool_))
        (variables, opt, _), (loss_k, active_k) = jax.lax.scan(
            step, carry, jax.random.split(key, k)
        )
        metrics = {
            f"{which}_loss": jnp.sum(loss_k * active_k) / jnp.maximum(jnp.sum(active_k), 1),
            f"{which}_steps": jnp.sum(active_k).astype(jnp.float32),
        }
        return {**state, which: variables, opt_name: opt}, metrics

    def iteration(state, hp, data, batch_idx, key):
        k_san, k_pred, k_disc = jax.random.split(key, 3)
        batch = jax.tree.map(lambda a: a[batch_idx], data)
        state, metrics = sanitizer_step(state, hp, batch, k_san)
        if cfg.k_pred:
            state, m = inner_steps(
                state, hp, data, k_pred, "pred", "activity", cfg.k_pred, cfg.num_activities
            )
            metrics |= m
        if cfg.k_disc:
            state, m = inner_steps(state, hp, data, k_disc, "disc", "gender", cfg.k_disc, 2)
            metrics |= m
        return state, metrics

    def one_epoch(state, hp, data):
        n = data["x"].shape[0]
        iterations = max(n // cfg.batch_size, 1)
        key = jax.random.fold_in(jax.random.wrap_key_data(state["key"]), state["epoch"])
        k_perm, k_iter = jax.random.split(key)
        order = jax.random.permutation(k_perm, n)[: iterations * cfg.batch_size]

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
        return run_epochs(init(hp), hp, data, cfg.epochs)

    return init, run_epochs, train


def make_sanitize(cfg: DysanConfig) -> Callable:
    """``sanitize(san_params, x, attributes, activity, key) -> x'`` for one variant."""
    sanitizer = make_networks(cfg)[0]

    def sanitize(san_params, x, attributes, activity, key):
        cond = _conditioning(cfg, attributes, activity, key)
        return sanitizer.apply({"params": san_params}, x, **cond)

    return sanitize


def _conditioning(cfg: DysanConfig, attributes, activity, key) -> dict[str, jax.Array]:
    """The sanitizer's extra inputs: attributes, activity and two uniform noise values."""
    if not cfg.conditional:
        return {}
    noise = jax.random.uniform(key, (attributes.shape[0], 2))
    return {"attributes_Bx3": attributes, "activity_B": activity, "noise_Bx2": noise}


def _sample(data: PyTree, key: jax.Array, batch_size: int) -> PyTree:
    idx = jax.random.randint(key, (batch_size,), 0, data["x"].shape[0])
    return jax.tree.map(lambda a: a[idx], data)


def _select(pred: jax.Array, on_true: PyTree, on_false: PyTree) -> PyTree:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def _all_finite(tree: PyTree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves))
