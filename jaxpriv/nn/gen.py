"""GEN's two networks (systems.md section 3): the estimator and the guardian.

- :class:`Estimator`: a 1-D CNN trunk with two heads, the activity's logits and
  one gender logit (a sigmoid's input). Trained on raw windows, then frozen.
- :class:`Guardian`: a dense autoencoder over the flattened window
  (``W * C -> 512 -> 256 -> 512 -> W * C`` by default), trained so the frozen
  estimator still sees the activity but answers 1/2 for gender.

Linen modules used functionally, as the rest of :mod:`jaxpriv.nn`; every
convolution is :class:`~jaxpriv.nn.layers.Conv1D`, so training inside
``lax.scan`` stays fast on CPU. The estimator has dropout but no batch
statistics, so its variables are only ``{"params"}`` and freezing it is
simply not updating them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpriv.nn.layers import Conv1D

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "selu": nn.selu,
    "relu": nn.relu,
    "elu": nn.elu,
    "gelu": nn.gelu,
    "tanh": jnp.tanh,
    "leaky_relu": lambda x: nn.leaky_relu(x, negative_slope=0.01),
}


def activation(name: str) -> Callable[[jax.Array], jax.Array]:
    """The activation function called ``name`` (one of :data:`ACTIVATIONS`)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


class Estimator(nn.Module):
    """``x_BxWxC -> (activity_logits_BxK, gender_logit_B)``: a shared trunk, two heads.

    Trunk: ``Conv1D(f, kernel)`` ReLU (max-pool 2 between blocks) for each ``f`` in
    ``features`` -> global mean and max over time -> dropout -> ``Dense(dense)`` ReLU.
    Heads: ``Dense(num_activities)`` (softmax logits) and ``Dense(1)`` (the gender
    logit; ``sigmoid`` of it is GEN's gender output).
    """

    num_activities: int = 4
    features: Sequence[int] = (64, 64, 128)
    kernel: int = 5
    dense: int = 128
    dropout: float = 0.3

    @nn.compact
    def __call__(self, x_BxWxC: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
        """Logits; ``train`` switches dropout on (it then needs a ``"dropout"`` rng)."""
        h = x_BxWxC
        for i, f in enumerate(self.features):
            h = nn.relu(Conv1D(f, self.kernel)(h))
            if i < len(self.features) - 1:
                h = nn.max_pool(h, (2,), strides=(2,))
        h_BxF = jnp.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        h_BxF = nn.Dropout(self.dropout, deterministic=not train)(h_BxF)
        h_BxF = nn.relu(nn.Dense(self.dense)(h_BxF))
        activity_BxK = nn.Dense(self.num_activities, name="activity_head")(h_BxF)
        gender_B = nn.Dense(1, name="gender_head")(h_BxF)[:, 0]
        return activity_BxK, gender_B


class Guardian(nn.Module):
    """A dense autoencoder ``x_BxWxC -> x_hat_BxWxC`` over the flattened window.

    ``Dense(h)`` + activation for each ``h`` in ``hidden``, then a linear
    ``Dense(W * C)`` reshaped back to ``(W, C)``. The default activation, SELU,
    keeps a deep dense stack well scaled with Flax's LeCun-normal initialisation.
    """

    hidden: Sequence[int] = (512, 256, 512)
    activation: str = "selu"

    @nn.compact
    def __call__(self, x_BxWxC: jax.Array) -> jax.Array:
        act = activation(self.activation)
        b, w, c = x_BxWxC.shape
        h_BxD = x_BxWxC.reshape(b, w * c)
        for features in self.hidden:
            h_BxD = act(nn.Dense(features)(h_BxD))
        return nn.Dense(w * c)(h_BxD).reshape(b, w, c)
