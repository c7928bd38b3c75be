"""Small 1-D CNN classifiers over windows ``(W, C)``, used as attackers and utility models."""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpriv.nn.layers import Conv1D


class WindowCNN(nn.Module):
    """Conv1D blocks (ReLU, max-pool) -> global average pool -> dense -> logits.

    Small on purpose: it is trained many times (per fold, per variant).
    """

    num_classes: int
    features: Sequence[int] = (32, 64, 64)
    kernel: int = 5
    dense: int = 64
    dropout: float = 0.2

    @nn.compact
    def __call__(self, x_BxWxC: jax.Array, train: bool = False) -> jax.Array:
        h = x_BxWxC
        for i, f in enumerate(self.features):
            h = nn.relu(Conv1D(f, self.kernel)(h))
            if i < len(self.features) - 1:
                h = nn.max_pool(h, (2,), strides=(2,))
        h_BxF = jnp.concatenate([h.mean(axis=1), h.max(axis=1)], axis=-1)
        h_BxF = nn.Dropout(self.dropout, deterministic=not train)(h_BxF)
        h_BxF = nn.relu(nn.Dense(self.dense)(h_BxF))
        return nn.Dense(self.num_classes)(h_BxF)
