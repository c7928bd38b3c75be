"""A residual 1-D CNN over windows ``(W, C)``: the harness's strong attacker family.

The shape of the ResNet baseline that wins the time-series classification
benchmarks (Wang, Yan & Oates 2017; Ismail Fawaz et al. 2019): blocks of three
convolutions (kernels 8, 5, 3) with batch normalization and a residual
shortcut, then global average pooling and one dense layer. Two changes keep it
affordable on a CPU: the input may be average-pooled first (``downsample``), the
blocks may max-pool by 2 between them (``pool``), and the widths are a setting
(``features``; the paper's are 64, 128, 128).

Used functionally (Linen ``init``/``apply``): the variables are ``params`` and
``batch_stats``; training applies with ``train=True`` and
``mutable=["batch_stats"]`` (:mod:`jaxpriv.classify`).
"""

from __future__ import annotations

from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpriv.nn.layers import Conv1D

BN_MOMENTUM = 0.9


class ResidualBlock(nn.Module):
    """Convolutions (BN, ReLU between them) plus a shortcut, then ReLU."""

    features: int
    kernels: Sequence[int] = (8, 5, 3)

    @nn.compact
    def __call__(self, x_BxWxC: jax.Array, train: bool) -> jax.Array:
        def norm(h):
            return nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM)(h)

        h = x_BxWxC
        for i, k in enumerate(self.kernels):
            h = norm(Conv1D(self.features, k, use_bias=False)(h))
            if i < len(self.kernels) - 1:
                h = nn.relu(h)
        shortcut = x_BxWxC
        if x_BxWxC.shape[-1] != self.features:  # a 1x1 projection when the width changes
            shortcut = norm(Conv1D(self.features, 1, use_bias=False)(x_BxWxC))
        return nn.relu(h + shortcut)


class ResNet1D(nn.Module):
    """Residual blocks -> global average pool -> dropout -> logits."""

    num_classes: int
    features: Sequence[int] = (64, 128, 128)
    kernels: Sequence[int] = (8, 5, 3)
    pool: bool = False  # max-pool by 2 after every block but the last
    dropout: float = 0.0
    downsample: int = 1  # average-pool the input by this factor first (cheaper, for CPUs)

    @nn.compact
    def __call__(self, x_BxWxC: jax.Array, train: bool = False) -> jax.Array:
        h = x_BxWxC
        if self.downsample > 1:
            h = nn.avg_pool(h, (self.downsample,), strides=(self.downsample,))
        for i, f in enumerate(self.features):
            h = ResidualBlock(f, tuple(self.kernels))(h, train)
            if self.pool and i < len(self.features) - 1:
                h = nn.max_pool(h, (2,), strides=(2,))
        h_BxF = jnp.mean(h, axis=1)
        h_BxF = nn.Dropout(self.dropout, deterministic=not train)(h_BxF)
        return nn.Dense(self.num_classes)(h_BxF)
