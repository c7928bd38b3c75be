"""SenseGen's optimisation: Adam with clipping, the learning-rate schedule, truncated BPTT.

:func:`make_tbptt` is one batch of windows, one Adam step per segment with the LSTM
state carried between segments; :func:`jaxpriv.methods.sensegen.make_train` scans it
over an epoch's batches.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import optax

from jaxpriv import losses
from jaxpriv.methods.sensegen_model import (
    conditioning,
    make_segment_forward,
    teacher_inputs,
    zero_carry,
)

if TYPE_CHECKING:
    from jaxpriv.methods.sensegen import SenseGenConfig

# make_tbptt's optimizer only runs update(), which reads the learning rate from opt_state.
_PLACEHOLDER_LR = 1e-3


def make_optimizer(grad_clip: float) -> Callable[[jax.Array], optax.GradientTransformation]:
    def adam_clipped(learning_rate):
        clip = [optax.clip_by_global_norm(grad_clip)] if grad_clip > 0 else []
        return optax.chain(*clip, optax.adam(learning_rate))

    # inject_hyperparams keeps the learning rate in the optimizer state: an array
    # leaf that differs per vmapped variant.
    return lambda lr: optax.inject_hyperparams(adam_clipped)(learning_rate=lr)


def lr_factor(cfg: SenseGenConfig, epoch: jax.Array) -> jax.Array:
    """The learning rate of 0-based ``epoch`` relative to ``hp["lr"]`` (see ``lr_schedule``)."""
    if cfg.lr_schedule == "constant":
        return jnp.ones((), jnp.float32)
    progress = jnp.asarray(epoch, jnp.float32) / max(1, cfg.epochs - 1)
    cosine = 0.5 * (1.0 + jnp.cos(jnp.pi * jnp.minimum(progress, 1.0)))
    return cfg.lr_floor + (1.0 - cfg.lr_floor) * cosine


def make_tbptt(cfg: SenseGenConfig) -> Callable:
    """``tbptt(params, opt_state, batch, key=None, feed_rate=0.0) -> (params, opt_state,
    nll_K)``: one batch of windows, ``K = window / segment`` Adam steps (one per segment,
    ``lax.scan``), the LSTM state carried from each segment to the next with
    ``stop_gradient`` (or reset to zeros when ``cfg.carry_segments`` is False). ``nll_K`` is
    each segment's loss before its step. ``key`` draws the input noise
    (``cfg.input_noise``) and the scheduled-sampling choices (``feed_rate``, see
    :func:`make_segment_forward`). The learning rate is the one in ``opt_state``
    (``inject_hyperparams``, set at each epoch from ``hp["lr"]`` and ``cfg.lr_schedule``),
    so it may differ per vmapped variant."""
    forward = make_segment_forward(cfg)
    # The learning rate given here is a placeholder: update() reads opt_state's.
    optimizer = make_optimizer(cfg.grad_clip)(_PLACEHOLDER_LR)
    k, s = cfg.num_segments, cfg.segment

    def tbptt(params, opt_state, batch, key=None, feed_rate=0.0):
        x = batch["x"]
        b, d = x.shape[0], x.shape[-1]
        k_noise, k_feed = jax.random.split(jax.random.key(0) if key is None else key)
        inputs = teacher_inputs(x)
        if cfg.input_noise > 0:
            inputs = inputs + cfg.input_noise * jax.random.normal(k_noise, inputs.shape)
        inputs_KxBxSxD = inputs.reshape(b, k, s, d).swapaxes(0, 1)
        targets_KxBxSxD = x.reshape(b, k, s, d).swapaxes(0, 1)
        cond = conditioning(cfg, batch)

        def segment_step(carry, xs):
            params, opt_state, lstm = carry
            inputs, targets, seg_key = xs
            if not cfg.carry_segments:
                lstm = zero_carry(cfg, b)

            def loss_fn(p):
                new_lstm, head = forward(p, inputs, lstm, cond, feed_rate, seg_key)
                return losses.mdn_nll(*head, targets), new_lstm

            (loss, new_lstm), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            params = optax.apply_updates(params, updates)
            # Truncation: the next segment starts from this state, but no gradient flows back.
            return (params, opt_state, jax.lax.stop_gradient(new_lstm)), loss

        (params, opt_state, _), nll_K = jax.lax.scan(
            segment_step,
            (params, opt_state, zero_carry(cfg, b)),
            (inputs_KxBxSxD, targets_KxBxSxD, jax.random.split(k_feed, k)),
        )
        return params, opt_state, nll_K

    return tbptt
