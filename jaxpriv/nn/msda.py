"""MSDA's networks (systems.md section 2): the anonymizing autoencoder and its regularizers.

MSDA reads a window as a ``2 x 128`` image (sensor magnitudes as rows, time as
columns) and convolves it with ``(1, 3)`` kernels: a 1-D convolution along time
applied to each row with the same weights. jaxpriv's windows are ``(B, W, C)``,
so the autoencoder moves the channels into the batch (``(B * C, W, 1)``),
convolves along time, and moves them back. Every convolution is
:class:`~jaxpriv.nn.layers.Conv1D` (im2col), so training inside ``lax.scan``
stays fast on CPU.

- :class:`Encoder`: 4 x [Conv(filters, 3) -> activation -> BatchNorm], max pool 2
  after the 2nd and 3rd, then Conv(1, 3) linear -> BatchNorm: ``(B, W, C) ->
  (B, W / 4, C)``, the latent ``Y`` (2 x 32 for 2 x 128).
- :class:`Decoder`: transposed convolutions with strides 1, 2, 2, 1 (BatchNorm
  after the first three, as the authors' code), then Conv(1, 3) linear:
  ``(B, W / 4, C) -> (B, W, C)``.
- :class:`Regularizer`: EncReg (Y -> user), DecReg (x' -> user), ActReg (x' ->
  activity). Conv blocks with kernels ``(2, 5)`` (the first sees both rows, i.e.
  a ``Conv1D`` over the ``C = 2`` channels with kernel 5), ReLU, max pool 2,
  dropout 0.25; then Dense, dropout 0.5, logits.

Calling convention (BatchNorm in the autoencoder, dropout in the regularizers)::

    x_hat, y, updates = aae.apply(variables, x, train=True, mutable=["batch_stats"])
    x_hat, y = aae.apply(variables, x, train=False)              # running averages
    logits = reg.apply({"params": p}, y, train=True, rngs={"dropout": key})
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpriv.nn.layers import Conv1D

ACTIVATIONS = {"selu": nn.selu, "relu": nn.relu, "elu": nn.elu, "tanh": jnp.tanh}
# Names of the autoencoder's output convolutions: the authors' code puts no L2 on them.
OUTPUT_LAYERS = ("enc_out", "dec_out")


def rows_first(x_BxWxC: jax.Array) -> jax.Array:
    """``(B, W, C) -> (B * C, W, 1)``: each channel becomes a row convolved on its own."""
    b, w, c = x_BxWxC.shape
    return x_BxWxC.transpose(0, 2, 1).reshape(b * c, w, 1)


def rows_back(h_RxWx1: jax.Array, channels: int) -> jax.Array:
    """The inverse of :func:`rows_first`: ``(B * C, W, 1) -> (B, W, C)``."""
    r, w, _ = h_RxWx1.shape
    return h_RxWx1.reshape(r // channels, channels, w).transpose(0, 2, 1)


def max_pool2(h_BxTxF: jax.Array) -> jax.Array:
    """Max pool 2 along time (an odd last step dropped), as a reshape: no reduce_window,
    whose gradient is slow inside ``lax.scan`` on CPU."""
    b, t, f = h_BxTxF.shape
    return h_BxTxF[:, : t // 2 * 2].reshape(b, t // 2, 2, f).max(axis=2)


def upsample_zeros2(h_BxTxF: jax.Array) -> jax.Array:
    """``(B, T, F) -> (B, 2T, F)`` with zeros between samples: a stride-2 transposed
    convolution is this followed by a stride-1 convolution."""
    b, t, f = h_BxTxF.shape
    return jnp.stack([h_BxTxF, jnp.zeros_like(h_BxTxF)], axis=2).reshape(b, 2 * t, f)


def _batch_norm(train: bool, momentum: float) -> nn.BatchNorm:
    # Keras' BatchNormalization epsilon; the momentum is configurable (Keras: 0.99).
    return nn.BatchNorm(use_running_average=not train, momentum=momentum, epsilon=1e-3)


class Encoder(nn.Module):
    """``x_BxWxC -> y_Bx(W/4)xC``: MSDA's encoder (``W`` divisible by 4)."""

    filters: int = 100
    activation: str = "selu"
    bn_momentum: float = 0.99

    @nn.compact
    def __call__(self, x_BxWxC: jax.Array, train: bool) -> jax.Array:
        if x_BxWxC.shape[1] % 4:
            raise ValueError(f"window length must be divisible by 4, got {x_BxWxC.shape[1]}")
        act = ACTIVATIONS[self.activation]
        h = rows_first(x_BxWxC)
        for i in range(4):
            h = _batch_norm(train, self.bn_momentum)(act(Conv1D(self.filters, 3)(h)))
            if i in (1, 2):
                h = max_pool2(h)
        h = Conv1D(1, 3, name="enc_out")(h)
        h = _batch_norm(train, self.bn_momentum)(h)
        return rows_back(h, x_BxWxC.shape[-1])


class Decoder(nn.Module):
    """``y_BxTxC -> x_hat_Bx(4T)xC``: MSDA's decoder."""

    filters: int = 100
    activation: str = "selu"
    bn_momentum: float = 0.99

    @nn.compact
    def __call__(self, y_BxTxC: jax.Array, train: bool) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        h = rows_first(y_BxTxC)
        for i, stride in enumerate((1, 2, 2, 1)):
            if stride == 2:
                h = upsample_zeros2(h)
            # A 'same' transposed convolution of stride 1 is a 'same' convolution (with a
            # flipped kernel, which a learned kernel absorbs).
            h = act(Conv1D(self.filters, 3)(h))
            if i < 3:
                h = _batch_norm(train, self.bn_momentum)(h)
        h = Conv1D(1, 3, name="dec_out")(h)
        return rows_back(h, y_BxTxC.shape[-1])


class AAE(nn.Module):
    """The anonymizing autoencoder: ``x -> (x_hat, y)``, both ``(B, ., C)``."""

    filters: int = 100
    activation: str = "selu"
    bn_momentum: float = 0.99

    def setup(self) -> None:
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}"
            )
        self.encoder = Encoder(self.filters, self.activation, self.bn_momentum)
        self.decoder = Decoder(self.filters, self.activation, self.bn_momentum)

    def __call__(self, x_BxWxC: jax.Array, train: bool = False) -> tuple[jax.Array, jax.Array]:
        y = self.encoder(x_BxWxC, train)
        return self.decoder(y, train), y


class Regularizer(nn.Module):
    """A small CNN classifier ``(B, T, C) -> logits_BxK`` (EncReg, DecReg or ActReg)."""

    num_classes: int
    features: int = 32
    blocks: int = 2
    dense: int = 128
    kernel: int = 5

    @nn.compact
    def __call__(self, x_BxTxC: jax.Array, train: bool = False) -> jax.Array:
        h = x_BxTxC
        for _ in range(self.blocks):
            h = max_pool2(nn.relu(Conv1D(self.features, self.kernel)(h)))
            h = nn.Dropout(0.25, deterministic=not train)(h)
        h_BxF = h.reshape(h.shape[0], -1)
        h_BxF = nn.relu(nn.Dense(self.dense)(h_BxF))
        h_BxF = nn.Dropout(0.5, deterministic=not train)(h_BxF)
        return nn.Dense(self.num_classes)(h_BxF)


def l2_penalty(aae_params) -> jax.Array:
    """Sum of squared convolution kernels of the autoencoder (Keras' ``l2`` regularizer,
    without the weight), leaving out the output convolutions as the authors' code does."""
    total = jnp.zeros((), jnp.float32)
    for path, leaf in jax.tree_util.tree_leaves_with_path(aae_params):
        names = [str(getattr(k, "key", k)) for k in path]
        if names[-1] == "kernel" and not any(n in OUTPUT_LAYERS for n in names):
            total = total + jnp.sum(jnp.square(leaf))
    return total
