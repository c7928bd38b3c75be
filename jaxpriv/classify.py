"""Train and apply window classifiers as pure functions.

``make_fit(cfg, num_classes)`` returns ``fit(key, x_NxWxC, y_N, weight_N) -> params``:
the whole training run is one ``lax.scan`` over minibatch steps, with no
Python-side state, so it jits once and can be vmapped over variants (e.g. one
attacker per sanitizer) or over folds. ``weight_N`` masks padded rows (0) and
can rebalance classes; at least one weight must be positive.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from jaxpriv.nn.classifiers import WindowCNN


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
