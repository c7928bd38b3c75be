"""SenseGen's generator (systems.md section 4): stacked LSTMs feeding a mixture density head.

One time step (:meth:`SenseGen.step`): the previous sample ``x_{t-1}`` (``D``
channels; optionally with the conditioning vector concatenated) runs through a
stack of LSTM cells, then a dense sigmoid layer (as the authors' code), then a
linear mixture density head. The head gives, for ``M`` Gaussian components
over the ``D`` channels (diagonal), weight logits ``(..., M)``, means
``(..., M, D)`` and log-variances ``s`` ``(..., M, D)``, sigma = exp(s / 2):
the layout :func:`jaxpriv.losses.mdn_nll` scores and :func:`sample_mixture`
draws from.

Linen, used functionally::

    model = SenseGen(hidden=(64, 64), num_components=24, num_channels=3)
    params = model.init(key, x_BxTxD)["params"]
    carry = model.initial_carry(batch)                        # zeros, static shapes
    # teacher forcing over a segment: the LSTM stack scanned over time
    # (the same cell as step), the head applied to every step at once
    carry, (logits, mean, log_var) = model.apply({"params": params}, x_BxTxD, carry)
    # one step (sampling)
    carry, (logits_BxM, mean_BxMxD, log_var_BxMxD) = model.apply(
        {"params": params}, carry, x_BxD, method=SenseGen.step)

Conditioning (optional): ``num_activities > 0`` adds a learned embedding of
the activity, ``num_attributes > 0`` the subject's standardised attributes
(height, weight, age); both are concatenated to the input at every step.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxpriv.losses import MDN_LOG_VAR_MAX, MDN_LOG_VAR_MIN

# Per LSTM layer: (cell state c, hidden state h), each (B, H).
Carry = tuple[tuple[jax.Array, jax.Array], ...]
Head = tuple[jax.Array, jax.Array, jax.Array]


class LSTMCell(nn.Module):
    """A standard LSTM cell with its four gates fused into one weight matrix each.

    ``z = x @ wi + h @ wh + b`` split into the gates ``i, f, g, o``;
    ``c' = sigmoid(f) c + sigmoid(i) tanh(g)``, ``h' = sigmoid(o) tanh(c')``.
    The same function as ``nn.LSTMCell``, with three parameters instead of
    twelve: a smaller program (and optimizer state) to compile and run, which
    matters inside the training loop's nested scans on CPU.

    Both weight matrices start uniform with variance ``1 / fan_in`` (the
    TensorFlow 1 / PyTorch family of defaults) and the bias at 0 (a forget bias
    of 1 learned more slowly on the embedded data). Not orthogonal: an orthogonal
    initializer needs a QR decomposition, and jaxlib's batched CPU QR kernel
    deadlocks when a vmapped ``init`` runs it on a 2-thread pool (observed
    with 2 variants on 2 cores: every worker waits on its own sub-tasks).
    """

    features: int

    @nn.compact
    def __call__(
        self, carry: tuple[jax.Array, jax.Array], x: jax.Array
    ) -> tuple[tuple[jax.Array, jax.Array], jax.Array]:
        c, h = carry
        n = self.features
        init = nn.initializers.variance_scaling(1.0, "fan_in", "uniform")
        wi = self.param("wi", init, (x.shape[-1], 4 * n))
        wh = self.param("wh", init, (n, 4 * n))
        b = self.param("b", nn.initializers.zeros, (4 * n,))
        z = x @ wi + h @ wh + b
        i, f, g, o = jnp.split(z, 4, axis=-1)
        c = nn.sigmoid(f) * c + nn.sigmoid(i) * jnp.tanh(g)
        h = nn.sigmoid(o) * jnp.tanh(c)
        return (c, h), h


class SenseGen(nn.Module):
    """Stacked LSTM -> dense sigmoid -> mixture density head over the next sample."""

    hidden: tuple[int, ...] = (256, 256, 256)  # LSTM sizes, bottom to top (paper: 3 x 256)
    num_components: int = 24  # M
    num_channels: int = 3  # D
    dense: int | None = None  # width of the sigmoid layer (default: the top LSTM's)
    num_activities: int = 0  # > 0: condition on an activity embedding
    activity_embedding: int = 8
    num_attributes: int = 0  # > 0: condition on that many standardised attributes

    def setup(self) -> None:
        if not self.hidden:
            raise ValueError("SenseGen needs at least one LSTM layer")
        self.cells = [LSTMCell(h, name=f"lstm_{i}") for i, h in enumerate(self.hidden)]
        self.sigmoid_dense = nn.Dense(self.dense or self.hidden[-1], name="dense")
        m, d = self.num_components, self.num_channels
        # Zero-mean weights at start would make every component identical; the
        # default lecun-normal kernel breaks the symmetry. Bias 0: sigma = 1 to start
        # (the data are standardised).
        self.mdn = nn.Dense(m * (1 + 2 * d), name="mdn")
        if self.num_activities:
            self.embed = nn.Embed(self.num_activities, self.activity_embedding, name="activity")

    # -- pieces -----------------------------------------------------------------

    def initial_carry(self, batch: int) -> Carry:
        """Zero state of every LSTM layer, ``((c, h), ...)`` each ``(batch, H)``."""
        return tuple((jnp.zeros((batch, h)), jnp.zeros((batch, h))) for h in self.hidden)

    def condition(
        self, batch: int, activity_B: jax.Array | None, attributes_BxA: jax.Array | None
    ) -> jax.Array:
        """The conditioning vector ``(B, K)`` appended to every step's input (K may be 0)."""
        parts = []
        if self.num_activities:
            if activity_B is None:
                raise ValueError("this SenseGen is conditioned on the activity: pass activity_B")
            parts.append(self.embed(jnp.asarray(activity_B, jnp.int32).reshape(batch)))
        if self.num_attributes:
            if attributes_BxA is None:
                raise ValueError("this SenseGen is conditioned on attributes: pass attributes_BxA")
            parts.append(jnp.asarray(attributes_BxA, jnp.float32).reshape(batch, -1))
        if not parts:
            return jnp.zeros((batch, 0), jnp.float32)
        return jnp.concatenate(parts, axis=-1)

    def recur(self, carry: Carry, x_BxD: jax.Array, cond_BxK: jax.Array) -> tuple[Carry, jax.Array]:
        """The LSTM stack over one step: ``(carry, top hidden state (B, H))``."""
        h = jnp.concatenate([x_BxD.astype(jnp.float32), cond_BxK], axis=-1)
        new = []
        for cell, layer_carry in zip(self.cells, carry, strict=True):
            layer_carry, h = cell(layer_carry, h)
            new.append(layer_carry)
        return tuple(new), h

    def head(self, h: jax.Array) -> Head:
        """Dense sigmoid then the mixture parameters, over any leading axes:
        ``(logits (..., M), mean (..., M, D), log_var (..., M, D))``."""
        m, d = self.num_components, self.num_channels
        out = self.mdn(nn.sigmoid(self.sigmoid_dense(h)))
        logits = out[..., :m]
        mean = out[..., m : m + m * d].reshape(*out.shape[:-1], m, d)
        log_var = out[..., m + m * d :].reshape(*out.shape[:-1], m, d)
        return logits, mean, log_var

    # -- entry points -------------------------------------------------------------

    def step(
        self,
        carry: Carry,
        x_BxD: jax.Array,
        activity_B: jax.Array | None = None,
        attributes_BxA: jax.Array | None = None,
    ) -> tuple[Carry, Head]:
        """One time step: previous sample in, new carry and the next sample's mixture out."""
        cond = self.condition(x_BxD.shape[0], activity_B, attributes_BxA)
        carry, h = self.recur(carry, x_BxD, cond)
        return carry, self.head(h)

    def __call__(
        self,
        x_BxTxD: jax.Array,
        carry: Carry | None = None,
        activity_B: jax.Array | None = None,
        attributes_BxA: jax.Array | None = None,
    ) -> tuple[Carry, Head]:
        """Teacher forcing over ``T`` steps from ``carry`` (default zeros).

        Equal to calling :meth:`step` ``T`` times (the same :meth:`recur`, scanned
        with ``nn.scan``); the head runs once on all ``T`` hidden states, which is
        cheaper than once per step. Returns the carry after the last step and the
        mixture for every step: ``(B, T, M)``, ``(B, T, M, D)``, ``(B, T, M, D)``.
        """
        b = x_BxTxD.shape[0]
        carry = self.initial_carry(b) if carry is None else carry
        cond = self.condition(b, activity_B, attributes_BxA)
        scan = nn.scan(
            lambda mdl, c, x, k: mdl.recur(c, x, k),
            variable_broadcast="params",
            split_rngs={"params": False},
            in_axes=(1, nn.broadcast),
            out_axes=1,
        )
        carry, h_BxTxH = scan(self, carry, x_BxTxD, cond)
        return carry, self.head(h_BxTxH)


def sample_mixture(
    key: jax.Array,
    logits_M: jax.Array,
    mean_MxD: jax.Array,
    log_var_MxD: jax.Array,
    temperature: float | jax.Array = 1.0,
) -> jax.Array:
    """One draw from the mixture (any leading axes): ``(..., D)``.

    A component is chosen from ``softmax(logits / temperature)``, then a sample
    from its Gaussian with sigma ``exp(s / 2)`` (``s`` clipped as in
    :func:`jaxpriv.losses.mdn_nll`) scaled by ``temperature``. Temperature 1 is
    the model's distribution; towards 0 it picks the most likely component and
    its mean (temperature 0 is allowed: exactly that).
    """
    k_comp, k_noise = jax.random.split(key)
    t = jnp.asarray(temperature, jnp.float32)
    logits = jnp.asarray(logits_M, jnp.float32)
    # A floor, not a branch: logits / 1e-6 make the choice an argmax in float32.
    comp = jax.random.categorical(k_comp, logits / jnp.maximum(t, 1e-6), axis=-1)
    pick = comp[..., None, None]
    mean = jnp.take_along_axis(mean_MxD, pick, axis=-2)[..., 0, :]
    log_var = jnp.take_along_axis(log_var_MxD, pick, axis=-2)[..., 0, :]
    sigma = jnp.exp(0.5 * jnp.clip(log_var, MDN_LOG_VAR_MIN, MDN_LOG_VAR_MAX))
    return mean + t * sigma * jax.random.normal(k_noise, mean.shape, mean.dtype)
