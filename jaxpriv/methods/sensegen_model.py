"""The SenseGen network's passes: the model of a config, its conditioning and inputs.

:func:`make_model` builds :class:`jaxpriv.nn.sensegen.SenseGen` from a
``SenseGenConfig``; :func:`teacher_inputs` and :func:`zero_carry` are how every window
starts; :func:`make_segment_forward` runs one segment with teacher forcing or scheduled
sampling.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp

from jaxpriv.nn.sensegen import SenseGen, sample_mixture

if TYPE_CHECKING:
    from jaxpriv.methods.sensegen import SenseGenConfig

NUM_ATTRIBUTES = 3  # height, weight, age


def make_model(cfg: SenseGenConfig) -> SenseGen:
    return SenseGen(
        hidden=cfg.hidden,
        num_components=cfg.components,
        num_channels=cfg.num_channels,
        dense=cfg.dense,
        num_activities=cfg.num_activities if cfg.conditional else 0,
        activity_embedding=cfg.embedding,
        num_attributes=NUM_ATTRIBUTES if cfg.attributes else 0,
    )


def zero_carry(cfg: SenseGenConfig, batch: int) -> tuple:
    """The LSTM stack's zero state for ``batch`` sequences."""
    return tuple((jnp.zeros((batch, h)), jnp.zeros((batch, h))) for h in cfg.hidden)


def conditioning(cfg: SenseGenConfig, batch: dict) -> dict[str, jax.Array | None]:
    return {
        "activity_B": batch["activity"] if cfg.conditional else None,
        "attributes_BxA": batch["attributes"] if cfg.attributes else None,
    }


def teacher_inputs(x_BxLxD: jax.Array) -> jax.Array:
    """The inputs that predict ``x``: a zero start sample, then ``x`` shifted by one step."""
    return jnp.concatenate([jnp.zeros_like(x_BxLxD[:, :1]), x_BxLxD[:, :-1]], axis=1)


def make_segment_forward(cfg: SenseGenConfig) -> Callable:
    """``forward(params, inputs_BxSxD, lstm, cond, feed_rate, key) -> (lstm, head)``: the
    mixtures over one segment. Teacher forcing when ``cfg.self_feed`` is 0; otherwise
    scheduled sampling, a step scan whose input at each step is, with probability
    ``feed_rate`` (per sequence and step, from ``key``), the model's own sample of the
    previous step (``stop_gradient``) instead of the real one. ``cond`` holds the
    ``activity_B`` / ``attributes_BxA`` keywords of :meth:`SenseGen.__call__`."""
    model = make_model(cfg)

    def forward(p, inputs_BxSxD, lstm, cond, feed_rate, key):
        if cfg.self_feed == 0:
            return model.apply({"params": p}, inputs_BxSxD, lstm, **cond)
        k_mask, k_draw = jax.random.split(key)
        own_BxS = jax.random.bernoulli(k_mask, feed_rate, inputs_BxSxD.shape[:2])

        def step(carry, xs):
            lstm, prev_own = carry
            real, own, k = xs
            x_in = jnp.where(own[:, None], prev_own, real)
            lstm, head = model.apply({"params": p}, lstm, x_in, **cond, method=SenseGen.step)
            drawn = jax.lax.stop_gradient(sample_mixture(k, *head))
            return (lstm, drawn), head

        xs = (inputs_BxSxD.swapaxes(0, 1), own_BxS.T, jax.random.split(k_draw, own_BxS.shape[1]))
        (lstm, _), head_S = jax.lax.scan(step, (lstm, inputs_BxSxD[:, 0]), xs)
        return lstm, jax.tree.map(lambda a: a.swapaxes(0, 1), head_S)

    return forward
