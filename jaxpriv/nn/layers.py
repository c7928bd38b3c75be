"""Layers shared by jaxpriv's models.

:class:`Conv1D` computes the same function as ``flax.linen.Conv`` over one
spatial axis, but as shifted slices followed by one matrix product (im2col).
Why: every jaxpriv training loop is a ``lax.scan``, and XLA:CPU runs
convolutions (and their gradients) inside a loop body through a slow path,
about 27x slower here (jax-ml/jax#12868); matrix products do not suffer from
it. ``benchmarks/conv_in_scan.py`` records the measurement.

:class:`ConvTranspose1D` is the stride-1 transposed convolution built on it.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp


class Conv1D(nn.Module):
    """1-D convolution ``(B, W, C) -> (B, W', features)``, stride 1.

    ``padding="SAME"`` keeps the length (extra padding on the right for even
    kernels, as ``nn.Conv``); ``"VALID"`` gives ``W - kernel + 1``.
    Parameters: ``kernel`` of shape ``(kernel, C, features)`` and ``bias``,
    the layout of ``nn.Conv``.
    """

    features: int
    kernel: int
    padding: Literal["SAME", "VALID"] = "SAME"
    use_bias: bool = True

    @nn.compact
    def __call__(self, x_BxWxC: jax.Array) -> jax.Array:
        k, c = self.kernel, x_BxWxC.shape[-1]
        if self.padding == "SAME":
            left = (k - 1) // 2
            x_BxWxC = jnp.pad(x_BxWxC, ((0, 0), (left, k - 1 - left), (0, 0)))
        elif self.padding != "VALID":
            raise ValueError(f"padding must be 'SAME' or 'VALID', got {self.padding!r}")
        out_len = x_BxWxC.shape[1] - k + 1
        if out_len < 1:
            raise ValueError(f"input length {x_BxWxC.shape[1]} is shorter than kernel {k}")
        cols = jnp.concatenate([x_BxWxC[:, i : i + out_len] for i in range(k)], axis=-1)
        kernel = self.param("kernel", nn.initializers.lecun_normal(), (k, c, self.features))
        y = cols @ kernel.reshape(k * c, self.features).astype(cols.dtype)
        if self.use_bias:
            y = y + self.param("bias", nn.initializers.zeros, (self.features,))
        return y


class ConvTranspose1D(Conv1D):
    """Stride-1 transposed 1-D convolution ``(B, W, C) -> (B, W + kernel - 1, features)``.

    The length rule of PyTorch's ``ConvTranspose1d`` (stride 1, no padding), computed
    as ``kernel - 1`` zeros on both sides followed by a ``VALID`` :class:`Conv1D`, so
    it keeps the im2col speed inside ``lax.scan``.

    Parameters: ``kernel`` of shape ``(kernel, C, features)`` and ``bias``, the
    layout of ``nn.Conv``. Relative to other libraries' transposed convolutions:

    - ``nn.ConvTranspose(features, (k,), padding="VALID")`` (``transpose_kernel=False``,
      Flax's default) computes the same function with the *same* kernel array;
    - ``nn.ConvTranspose(..., transpose_kernel=True)`` (kernel ``(k, features, C)``)
      and PyTorch's ``ConvTranspose1d`` (weight ``(C, features, k)``) use the
      *flipped* kernel: ``ours[m, c, f] = torch_weight[c, f, k - 1 - m]``.

    For a learned kernel the flip does not matter; it only matters when porting
    weights.
    """

    # Fixed: the padding is done here, the inner convolution is always VALID.
    padding: Literal["VALID"] = dataclasses.field(default="VALID", init=False)

    def __call__(self, x_BxWxC: jax.Array) -> jax.Array:
        k = self.kernel
        x_BxWxC = jnp.pad(x_BxWxC, ((0, 0), (k - 1, k - 1), (0, 0)))
        return super().__call__(x_BxWxC)
