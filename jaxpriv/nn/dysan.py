"""DySan's three networks (systems.md section 1): sanitizer, discriminator, predictor.

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
    # the sanitizer has no batch statistics or dropout
    x_hat = nets["sanitizer"].apply(variables_san, x, attributes, activity, noise)
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpriv.nn.layers import Conv1D, ConvTranspose1D

# Height, weight, age: the physical attributes the conditional sanitizer sees.
NUM_ATTRIBUTES = 3
NUM_NOISE = 2


def _scaled(features: int, width: float) -> int:
    """Layer size times the width multiplier (at least 1)."""
    return max(1, round(features * width))


class Sanitizer(nn.Module):
    """DySan's sanitizer, an autoencoder ``x_BxWxC -> x_hat_BxWxC`` (same shape).

    Encoder ``Conv1D(64, 6)`` -> ``Conv1D(128, 5)`` (VALID, no activation, as the
    original code) -> [conditional: the conditioning vector concatenated at every
    time step] -> tanh -> ``Dense(128)`` -> ``Dense(64)`` -> LeakyReLU(0.01) ->
    ``Dense(64)`` -> ``Dense(128)`` -> tanh -> ``ConvTranspose1D(128, 5)`` -> tanh ->
    ``ConvTranspose1D(C, 6)`` (linear output). Lengths: 125 -> 120 -> 116 -> ... ->
    120 -> 125.

    Reading of the paper's layer list: the Dense layers act per time step on the
    feature axis (Flax ``Dense`` on ``(B, T, F)``), so the encoder keeps its time
    axis and the transposed convolutions can restore the length. This keeps the
    network small (about 169k parameters for 125 x 6) so 36 variants train at
    once; a Dense over the flattened ``116 x 128`` features would have ~1.9M
    weights in its first layer alone. The paper's last layer
    (``Deconv1D(64, 5, softmax)``) is read, as the original code, as a linear
    transposed convolution back to ``C`` channels with kernel 6.

    The conditioning vector (``conditional=True``, the original code) is
    ``[attributes (3), one-hot activity (num_activities), noise (2)]``, the same
    at every time step. Callers pass the attributes already normalised and with
    unknown values (NaN) already imputed: NaN here would spread to every output.
    The noise is drawn by the caller (uniform in ``[0, 1)`` in the original), so
    randomness stays explicit.
    """

    num_channels: int = 6  # output channels: the input's, for x_hat to replace x
    num_activities: int = 4
    conditional: bool = True
    width: float = 1.0  # multiplies every hidden layer's features (1.0: the paper's)

    @nn.compact
    def __call__(
        self,
        x_BxWxC: jax.Array,
        attributes_Bx3: jax.Array | None = None,
        activity_B: jax.Array | None = None,
        noise_Bx2: jax.Array | None = None,
        train: bool = False,
    ) -> jax.Array:
        """Sanitize a batch; ``train`` is accepted for a uniform interface (no dropout/BN)."""
        del train  # No layer behaves differently in training.
        h_BxTxF = Conv1D(_scaled(64, self.width), 6, padding="VALID")(x_BxWxC)
        h_BxTxF = Conv1D(_scaled(128, self.width), 5, padding="VALID")(h_BxTxF)
        if self.conditional:
            cond_BxD = self._conditioning(x_BxWxC.shape[0], attributes_Bx3, activity_B, noise_Bx2)
            cond_BxTxD = jnp.broadcast_to(
                cond_BxD[:, None, :].astype(h_BxTxF.dtype),
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

    def _conditioning(
        self,
        batch: int,
        attributes_Bx3: jax.Array | None,
        activity_B: jax.Array | None,
        noise_Bx2: jax.Array | None,
    ) -> jax.Array:
        """``[attributes, one-hot activity, noise]`` of shape ``(B, 3 + num_activities + 2)``."""
        given = {"attributes_Bx3": attributes_Bx3, "activity_B": activity_B, "noise_Bx2": noise_Bx2}
        missing = [name for name, value in given.items() if value is None]
        if missing:
            raise ValueError(
                f"conditional Sanitizer needs {', '.join(missing)} (got None); "
                "pass them, or build the Sanitizer with conditional=False"
            )
        attributes_Bx3 = jnp.asarray(attributes_Bx3, jnp.float32).reshape(batch, NUM_ATTRIBUTES)
        noise_Bx2 = jnp.asarray(noise_Bx2, jnp.float32).reshape(batch, NUM_NOISE)
        activity_BxA = jax.nn.one_hot(jnp.asarray(activity_B).reshape(batch), self.num_activities)
        return jnp.concatenate([attributes_Bx3, activity_BxA, noise_Bx2], axis=-1)


def _batch_norm(train: bool) -> nn.BatchNorm:
    """PyTorch's ``BatchNorm1d`` defaults: Flax momentum 0.9 is PyTorch's 0.1."""
    return nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5)


def _avg_pool2(h_BxTxF: jax.Array) -> jax.Array:
    """``AvgPool1d(2, 2)``: halves the time axis, dropping an odd last step."""
    return nn.avg_pool(h_BxTxF, (2,), strides=(2,))


class Discriminator(nn.Module):
    """DySan's sensitive-attribute (gender) classifier ``x_BxWxC -> logits_BxK``.

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
    """DySan's activity classifier ``x_BxWxC -> logits_BxK``.

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
        "sanitizer": Sanitizer(channels, num_activities, conditional),
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
    cond = {}
    if conditional:
        cond = {
            "attributes_Bx3": jnp.zeros((1, NUM_ATTRIBUTES)),
            "activity_B": jnp.zeros((1,), jnp.int32),
            "noise_Bx2": jnp.zeros((1, NUM_NOISE)),
        }
    return {
        "sanitizer": nets["sanitizer"].init(k_san, x_1xWxC, **cond),
        "discriminator": nets["discriminator"].init(k_disc, x_1xWxC, train=False),
        "predictor": nets["predictor"].init(k_pred, x_1xWxC, train=False),
    }
