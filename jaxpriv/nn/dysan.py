"""jaxpriv's light DySan networks (``--arch light``): NOT the authors' networks.

The authors' are in :mod:`jaxpriv.nn.dysan_original` (``--arch original``, the
default). These are smaller: a sanitizer with Dense layers per time step (no
bottleneck over the window), and classifiers that see only the sanitized window.

Linen modules used functionally. Every convolution is :class:`~jaxpriv.nn.layers.Conv1D`
(or :class:`~jaxpriv.nn.layers.ConvTranspose1D`), so training inside ``lax.scan``
stays fast on CPU. Windows are ``(B, W, C)``, DySan's being 125 x 6.

Calling convention, for the variables that :func:`init_dysan_nets` returns::

    nets = make_dysan_nets()
    # training: batch statistics update, dropout draws from an explicit key
    logits, updates = nets["predictor"].apply(
        variables, x, train=True, mutable=["batch_stats"], rngs={"dropout": key}
    )
    variables = {**variables, "batch_stats": updates["batch_stats"]}
    # evaluation: running averages, no dropout, deterministic
    logits = nets["predictor"].apply(variables, x, train=False)
    # the sanitizer has no batch statistics or dropout; cond: attributes, activity, noise
    x_hat = nets["sanitizer"].apply(variables_san, x, cond_BxD)
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpriv.nn.layers import Conv1D, ConvTranspose1D

# Height, weight, age (3), a one-hot activity input (4) and noise (2): the default
# conditioning vector.
NUM_ATTRIBUTES = 3
NUM_NOISE = 2


def _scaled(features: int, width: float) -> int:
    """Layer size times the width multiplier (at least 1)."""
    return max(1, round(features * width))


class Sanitizer(nn.Module):
    """jaxpriv's light sanitizer (``--arch light``), NOT the authors' network: an
    autoencoder ``x_BxWxC -> x_hat_BxWxC`` (same shape) with Dense layers per time step.

    Encoder ``Conv1D(64, 6)`` -> ``Conv1D(128, 5)`` (VALID, no activation, as the
    original code) -> [conditional: the conditioning vector concatenated at every
    time step] -> tanh -> ``Dense(128)`` -> ``Dense(64)`` -> LeakyReLU(0.01) ->
    ``Dense(64)`` -> ``Dense(128)`` -> tanh -> ``ConvTranspose1D(128, 5)`` -> tanh ->
    ``ConvTranspose1D(C, 6)`` (linear output). Lengths: 125 -> 120 -> 116 -> ... ->
    120 -> 125.

    How it differs from the authors' sanitizer (:class:`~jaxpriv.nn.dysan_original.
    OriginalSanitizer`, 3.9M parameters): the Dense layers act per time step on the
    feature axis, so there is no bottleneck over the whole window (about 169k
    parameters for 125 x 6), and it reconstructs no attributes or activity. Small
    enough for 36 variants to train at once on a CPU.

    The conditioning vector ``cond_BxD`` (``conditional=True``) is built by the caller
    (:func:`jaxpriv.methods.dysan_inputs.conditioning`: attributes, activity input,
    noise), the same at every time step. Callers pass finite values: NaN here would
    spread to every output.
    """

    num_channels: int = 6  # output channels: the input's, for x_hat to replace x
    conditional: bool = True
    width: float = 1.0  # multiplies every hidden layer's features (1.0: the full size)

    @nn.compact
    def __call__(self, x_BxWxC: jax.Array, cond_BxD: jax.Array | None = None) -> jax.Array:
        """Sanitize a batch (no dropout or batch statistics: one behaviour)."""
        h_BxTxF = Conv1D(_scaled(64, self.width), 6, padding="VALID")(x_BxWxC)
        h_BxTxF = Conv1D(_scaled(128, self.width), 5, padding="VALID")(h_BxTxF)
        if self.conditional:
            if cond_BxD is None:
                raise ValueError(
                    "a conditional Sanitizer needs cond_BxD (attributes, activity input, "
                    "noise); pass it, or build the Sanitizer with conditional=False"
                )
            cond_BxTxD = jnp.broadcast_to(
                jnp.asarray(cond_BxD, h_BxTxF.dtype)[:, None, :],
                (*h_BxTxF.shape[:2], cond_BxD.shape[-1]),
            )
            h_BxTxF = jnp.concatenate([h_BxTxF, cond_BxTxD], axis=-1)
        h_BxTxF = jnp.tanh(h_BxTxF)
        h_BxTxF = nn.Dense(_scaled(128, self.width))(h_BxTxF)
        h_BxTxF = nn.leaky_relu(nn.Dense(_scaled(64, self.width))(h_BxTxF), negative_slope=0.01)
        h_BxTxF = nn.Dense(_scaled(64, self.width))(h_BxTxF)
        h_BxTxF = jnp.tanh(nn.Dense(_scaled(128, self.width))(h_BxTxF))
        h_BxTxF = jnp.tanh(ConvTranspose1D(_scaled(128, self.width), 5)(h_BxTxF))
        return ConvTranspose1D(self.num_channels, 6)(h_BxTxF)


def _batch_norm(train: bool) -> nn.BatchNorm:
    """PyTorch's ``BatchNorm1d`` defaults: Flax momentum 0.9 is PyTorch's 0.1."""
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)


def _avg_pool2(h_BxTxF: jax.Array) -> jax.Array:
    """``AvgPool1d(2, 2)``: halves the time axis, dropping an odd last step."""
    return nn.avg_pool(h_BxTxF, (2,), strides=(2,))


class Discriminator(nn.Module):
    """The light gender classifier ``x_BxWxC -> logits_BxK`` (not the authors': theirs is
    :class:`~jaxpriv.nn.dysan_original.OriginalDiscriminator`).

    ``Conv1D(64, 6)`` ReLU -> AvgPool(2) -> BatchNorm -> Dropout(0.5) -> flatten ->
    ``Dense(64)`` ReLU -> ``Dense(num_classes)``. Logits, not probabilities (the
    paper's softmax lives in the losses). The paper's ``BatchNorm1D(100)`` is a
    typo for the 64 channels it follows.
    """

    num_classes: int = 2
    width: float = 1.0

    @nn.compact
    def __call__(self, x_BxWxC: jax.Array, train: bool) -> jax.Array:
        """Logits; ``train`` switches batch statistics and dropout on."""
        h = _avg_pool2(nn.relu(Conv1D(_scaled(64, self.width), 6, padding="VALID")(x_BxWxC)))
        h = _batch_norm(train)(h)
        h = nn.Dropout(0.5, deterministic=not train)(h)
        h_BxF = h.reshape(h.shape[0], -1)
        h_BxF = nn.relu(nn.Dense(_scaled(64, self.width))(h_BxF))
        return nn.Dense(self.num_classes)(h_BxF)


class Predictor(nn.Module):
    """The light activity classifier ``x_BxWxC -> logits_BxK`` (the authors' is
    :class:`~jaxpriv.nn.dysan_original.OriginalPredictor`; this one sees only ``x_hat``).

    ``Conv1D(100, 6)`` ReLU -> AvgPool(2) -> BatchNorm -> ``Conv1D(100, 5)`` ReLU ->
    AvgPool(2) -> ``Conv1D(160, 5)`` ReLU -> AvgPool(2) -> ``Conv1D(160, 5)`` ReLU ->
    AvgPool(2) -> Dropout(0.5) -> flatten -> ``Dense(64)`` ReLU -> ``Dense(num_classes)``.
    All convolutions VALID: 125 -> 120 -> 60 -> 56 -> 28 -> 24 -> 12 -> 8 -> 4.
    """

    num_classes: int = 4
    width: float = 1.0

    @nn.compact
    def __call__(self, x_BxWxC: jax.Array, train: bool) -> jax.Array:
        """Logits; ``train`` switches batch statistics and dropout on."""
        h = _avg_pool2(nn.relu(Conv1D(_scaled(100, self.width), 6, padding="VALID")(x_BxWxC)))
        h = _batch_norm(train)(h)
        for features in (100, 160, 160):
            h = _avg_pool2(nn.relu(Conv1D(_scaled(features, self.width), 5, padding="VALID")(h)))
        h = nn.Dropout(0.5, deterministic=not train)(h)
        h_BxF = h.reshape(h.shape[0], -1)
        h_BxF = nn.relu(nn.Dense(_scaled(64, self.width))(h_BxF))
        return nn.Dense(self.num_classes)(h_BxF)


def make_dysan_nets(
    channels: int = 6, num_activities: int = 4, conditional: bool = True, num_genders: int = 2
) -> dict[str, nn.Module]:
    """The three modules, keyed ``"sanitizer"``, ``"discriminator"``, ``"predictor"``."""
    return {
        "sanitizer": Sanitizer(channels, conditional),
        "discriminator": Discriminator(num_genders),
        "predictor": Predictor(num_activities),
    }


def init_dysan_nets(
    key: jax.Array,
    window: int = 125,
    channels: int = 6,
    num_activities: int = 4,
    conditional: bool = True,
    num_genders: int = 2,
) -> dict[str, dict]:
    """Variables of the three networks of :func:`make_dysan_nets`, as Linen returns them.

    ``{"sanitizer": {"params"}, "discriminator": {"params", "batch_stats"},
    "predictor": {"params", "batch_stats"}}``, each net from its own key. Pure,
    so ``jax.vmap(init_dysan_nets)(keys)`` stacks variants on a leading axis.
    See the module docstring for ``apply`` in training and evaluation mode.
    """
    nets = make_dysan_nets(channels, num_activities, conditional, num_genders)
    k_san, k_disc, k_pred = jax.random.split(key, 3)
    x_1xWxC = jnp.zeros((1, window, channels), jnp.float32)
    cond = jnp.zeros((1, NUM_ATTRIBUTES + num_activities + NUM_NOISE)) if conditional else None
    return {
        "sanitizer": nets["sanitizer"].init(k_san, x_1xWxC, cond),
        "discriminator": nets["discriminator"].init(k_disc, x_1xWxC, train=False),
        "predictor": nets["predictor"].init(k_pred, x_1xWxC, train=False),
    }
