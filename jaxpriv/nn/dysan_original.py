"""DySan's networks exactly as its authors' code builds them (``--arch original``).

Read from the public PyTorch code (DynamicSanitizer/DySan, ``dysan/Modules/Models.py``:
``SanitizerConv``, ``DiscriminatorConv``, ``PredictorConv``) for a 125 x 6 window, 3
physical attributes and 4 activities; systems.md section 1 lists them. Parameter
counts (tests): sanitizer 3,921,485, discriminator 14,608, predictor 303,796.

Layouts are ``(B, T, C)`` as everywhere in jaxpriv; where the code flattens a
``(B, C, T)`` tensor (PyTorch's layout), we transpose first, so the flattened
order, and so every weight matrix, is the code's: weights port one to one (the
convolution kernels up to PyTorch's ``(out, in, k)`` layout and the transposed
convolutions' flip, see :class:`~jaxpriv.nn.layers.ConvTranspose1D`).

Outputs are logits where the code ends in a softmax (the losses apply it); the
softmax *inside* the discriminator is kept, because the code has it there.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpriv.nn.layers import Conv1D, ConvTranspose1D

NUM_ATTRIBUTES = 3  # height, weight, age
NUM_NOISE = 2  # uniform noise values in [0, 1), the code's NoiseNodes


def _channel_major(h_BxTxF: jax.Array) -> jax.Array:
    """Flatten as PyTorch flattens ``(B, F, T)``: every time step of feature 0 first."""
    return jnp.swapaxes(h_BxTxF, 1, 2).reshape(h_BxTxF.shape[0], -1)


def _batch_norm(train: bool) -> nn.BatchNorm:
    """PyTorch's ``BatchNorm1d`` defaults: Flax momentum 0.9 is PyTorch's 0.1."""
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)


def _avg_pool2(h_BxTxF: jax.Array) -> jax.Array:
    """``AvgPool1d(2)``: halves the time axis (every length here is even)."""
    return nn.avg_pool(h_BxTxF, (2,), strides=(2,))


class OriginalSanitizer(nn.Module):
    """``SanitizerConv``: ``(x, conditioning) -> (x_hat, activity logits, attributes)``.

    ``Conv1d(C->64, k6)`` -> ``Conv1d(64->128, k5)`` (no activations) -> flatten
    (116 x 128 = 14,848 for W = 125) -> concat the conditioning
    ``[attributes 3, activity input A, noise 2]`` -> tanh -> ``Linear(->128)`` ->
    ``Linear(128->64)`` -> LeakyReLU(0.01) -> ``Linear(64->128)`` ->
    ``Linear(128->14,848 + A + 3)`` -> tanh -> split into (features, activity, attributes)
    -> ``ConvTranspose1d(128->64, k5)`` -> ``ConvTranspose1d(64->C, k6)``. One 64-unit
    bottleneck over the whole window.

    ``num_activity_inputs`` is ``A``: 4 for the activity modes that feed an activity
    vector (zeros in ``original``), 0 for ``none`` (no activity input or output). The
    reconstructed activity is returned as logits (the code applies a softmax to it);
    ``None`` when ``A == 0``. The reconstructed attributes are the tanh outputs.

    :meth:`encode` and :meth:`decode` are the two halves (everything up to the split,
    then the transposed convolutions), so a caller can back-propagate several losses
    through the decoder and the encoder separately.
    """

    window: int = 125
    num_channels: int = 6
    num_activity_inputs: int = 4

    def setup(self) -> None:
        steps = self.window - 9  # after the two VALID convolutions (kernels 6 and 5)
        if steps < 1:
            raise ValueError(f"window {self.window} is too short for kernels 6 and 5")
        self.enc_first = Conv1D(64, 6, padding="VALID")
        self.enc_second = Conv1D(128, 5, padding="VALID")
        self.enc_linear1 = nn.Dense(128)
        self.enc_linear2 = nn.Dense(64)
        self.dec_linear1 = nn.Dense(128)
        self.dec_linear2 = nn.Dense(steps * 128 + self.num_activity_inputs + NUM_ATTRIBUTES)
        self.dec_second = ConvTranspose1D(64, 5)
        self.dec_first = ConvTranspose1D(self.num_channels, 6)

    def encode(
        self, x_BxWxC: jax.Array, cond_BxD: jax.Array
    ) -> tuple[jax.Array, jax.Array | None, jax.Array]:
        """``(features (B, T, 128), activity logits (B, A) or None, attributes (B, 3))``."""
        expected = NUM_ATTRIBUTES + self.num_activity_inputs + NUM_NOISE
        if cond_BxD.shape[-1] != expected:
            raise ValueError(
                f"conditioning has {cond_BxD.shape[-1]} values per window, expected {expected} "
                f"(attributes {NUM_ATTRIBUTES}, activity {self.num_activity_inputs}, "
                f"noise {NUM_NOISE})"
            )
        if x_BxWxC.shape[1] != self.window:
            raise ValueError(
                f"windows of {x_BxWxC.shape[1]} samples; this sanitizer takes {self.window}"
            )
        h_BxTxF = self.enc_second(self.enc_first(x_BxWxC))
        b, t, f = h_BxTxF.shape
        h_BxD = jnp.concatenate([_channel_major(h_BxTxF), cond_BxD.astype(h_BxTxF.dtype)], -1)
        h_BxD = jnp.tanh(h_BxD)
        h_BxD = self.enc_linear2(self.enc_linear1(h_BxD))
        h_BxD = nn.leaky_relu(h_BxD, negative_slope=0.01)
        out_BxD = jnp.tanh(self.dec_linear2(self.dec_linear1(h_BxD)))
        a = self.num_activity_inputs
        features_BxTxF = jnp.swapaxes(out_BxD[:, : t * f].reshape(b, f, t), 1, 2)
        activity_BxA = out_BxD[:, t * f : t * f + a] if a else None
        return features_BxTxF, activity_BxA, out_BxD[:, t * f + a :]

    def decode(self, features_BxTxF: jax.Array) -> jax.Array:
        """The transposed convolutions: ``(B, T, 128) -> x_hat (B, W, C)``."""
        return self.dec_first(self.dec_second(features_BxTxF))

    def __call__(
        self, x_BxWxC: jax.Array, cond_BxD: jax.Array
    ) -> tuple[jax.Array, jax.Array | None, jax.Array]:
        features, activity, attributes = self.encode(x_BxWxC, cond_BxD)
        return self.decode(features), activity, attributes


class OriginalDiscriminator(nn.Module):
    """``DiscriminatorConv`` (gender): ``(x_hat, attributes_hat, activity one-hot) -> logits``.

    ``Conv1d(C->64, k6)`` ReLU -> ``AvgPool1d(2)`` -> ``BatchNorm1d(64)`` -> ``Linear(60->64)``
    over the *time* axis -> softmax over the *channel* axis -> ``Dropout(0.5)`` -> flatten
    (64 x 64 = 4,096) -> concat [reconstructed attributes 3, original activity one-hot A]
    -> tanh -> ``Linear(4,096 + 3 + A -> 2)``.

    Odd, and kept because the authors' code does it: the first Linear mixes time steps
    (not channels), and the softmax mid-network normalises over the 64 channels at each
    of the 64 outputs of that Linear. The activity input is the *true* activity (the
    code's "decorrelate activity and sensitive attribute": given the activity, the
    discriminator must still fail to find the gender).
    """

    num_classes: int = 2

    @nn.compact
    def __call__(
        self, x_BxWxC: jax.Array, attributes_Bx3: jax.Array, activity_BxA: jax.Array, train: bool
    ) -> jax.Array:
        h = _avg_pool2(nn.relu(Conv1D(64, 6, padding="VALID")(x_BxWxC)))
        h = _batch_norm(train)(h)
        h_BxFxT = nn.Dense(64, name="linear_time")(jnp.swapaxes(h, 1, 2))
        h_BxFxT = jax.nn.softmax(h_BxFxT, axis=1)  # over the channels, as the code
        h_BxFxT = nn.Dropout(0.5, deterministic=not train)(h_BxFxT)
        h_BxD = h_BxFxT.reshape(h_BxFxT.shape[0], -1)
        extra = jnp.concatenate([attributes_Bx3, activity_BxA.astype(h_BxD.dtype)], -1)
        h_BxD = jnp.tanh(jnp.concatenate([h_BxD, extra.astype(h_BxD.dtype)], -1))
        return nn.Dense(self.num_classes, name="linear_out")(h_BxD)


class OriginalPredictor(nn.Module):
    """``PredictorConv`` (activity): ``(x_hat, attributes_hat) -> logits``.

    ``Conv1d(C->100, k6)`` ReLU ``AvgPool1d(2)`` ``BatchNorm1d(100)`` -> ``Conv1d(100->100, k5)``
    ReLU ``AvgPool1d(2)`` -> ``Conv1d(100->160, k5)`` ReLU ``AvgPool1d(2)`` ->
    ``Conv1d(160->160, k5)`` ReLU ``AvgPool1d(2)`` -> ``Dropout(0.5)`` -> flatten (160 x 4 =
    640) -> concat reconstructed attributes 3 -> tanh -> ``Linear(643->64)`` ->
    ``Linear(64->A)``. No activation between the two Linears (the paper's appendix writes
    ReLU; the code has none). Lengths 125 -> 120 -> 60 -> 56 -> 28 -> 24 -> 12 -> 8 -> 4.
    """

    num_classes: int = 4

    @nn.compact
    def __call__(self, x_BxWxC: jax.Array, attributes_Bx3: jax.Array, train: bool) -> jax.Array:
        h = _avg_pool2(nn.relu(Conv1D(100, 6, padding="VALID")(x_BxWxC)))
        h = _batch_norm(train)(h)
        for features in (100, 160, 160):
            h = _avg_pool2(nn.relu(Conv1D(features, 5, padding="VALID")(h)))
        h = nn.Dropout(0.5, deterministic=not train)(h)
        h_BxD = jnp.concatenate([_channel_major(h), attributes_Bx3.astype(h.dtype)], -1)
        h_BxD = nn.Dense(64)(jnp.tanh(h_BxD))
        return nn.Dense(self.num_classes)(h_BxD)
