"""Next-symbol models over sequences of tokens (seed 004): WaveNet, RNN and Transformer.

Every model maps input tokens ``(B, L)`` to logits ``(B, L, V)``: ``logits[:, i]`` is the
distribution of the ``i``-th symbol of the sequence and depends only on
``tokens[:, : i + 1]`` (causal). The caller builds ``tokens`` as the start token
followed by the first ``L - 1`` symbols (``jaxpriv.methods.symbolic`` does this).

Tokens and vocabulary:

- Symbols are ``0 .. V - 1`` with ``V = num_bins``: **one alphabet shared by all
  features** (the symbol says which bin of *its* feature the value falls in). What
  feature a position holds is given to the model by a learned **slot embedding** (the
  channel of a sensor window, the column of a tabular row), so the output layer stays
  ``V`` wide whatever the number of features, and bins of different features do not
  compete for probability mass.
- Start tokens ``V .. V + num_starts - 1`` open every sequence: the activity of a
  sensor window (so generation can be conditioned on it), or one generic start token.
- Position ``i`` (the symbol being predicted) adds a learned **position embedding**
  ``pos[i]`` and the slot embedding ``slot[i % num_slots]``: a window of ``T`` steps of
  ``C`` channels is the channel-interleaved sequence ``x[0, 0], x[0, 1], .., x[0, C-1],
  x[1, 0], ..`` of ``L = T * C`` tokens, a tabular row of ``F`` features is ``L = F``.

Training practices from seed 004:

- layers followed by ``tanh`` are initialised with gain 5/3 over ``sqrt(fan_in)``
  (:data:`tanh_init`), so activations neither vanish nor saturate at the start;
- the output layer is initialised near zero (uniform in ``[-0.01, 0.01]``, zero bias),
  so the first predictions are near uniform and the initial loss is about ``ln V``;
- normalization: LayerNorm everywhere by default. The WaveNet can use BatchNorm
  instead (``norm="batch"``, the seed's choice); note that in training BatchNorm pools
  its statistics over every position of the batch, a small look at later positions
  that LayerNorm does not have; in evaluation (running averages) it is causal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

TANH_GAIN = 5.0 / 3.0
OUTPUT_INIT_SCALE = 0.01

tanh_init = nn.initializers.variance_scaling(TANH_GAIN**2, "fan_in", "normal")
"""Kaiming-style initialization for tanh layers: std = (5/3) / sqrt(fan_in)."""


def small_uniform(scale: float = OUTPUT_INIT_SCALE) -> nn.initializers.Initializer:
    """Uniform in ``[-scale, scale]``: the near-zero output initialization."""

    def init(key, shape, dtype=jnp.float32):
        return jax.random.uniform(key, shape, dtype, -scale, scale)

    return init


class TokenEmbed(nn.Module):
    """Token + position + slot embeddings ``(B, L) -> (B, L, dim)``."""

    num_tokens: int
    seq_len: int
    num_slots: int
    dim: int

    @nn.compact
    def __call__(self, tokens_BxL: jax.Array) -> jax.Array:
        length = tokens_BxL.shape[1]
        if length > self.seq_len:
            raise ValueError(f"sequence of {length} tokens; the model was built for {self.seq_len}")
        tok = nn.Embed(self.num_tokens, self.dim, name="tokens")(tokens_BxL)
        pos = self.param("position", nn.initializers.normal(0.02), (self.seq_len, self.dim))
        slot = self.param("slot", nn.initializers.normal(0.02), (self.num_slots, self.dim))
        i = jnp.arange(length)
        return tok + jnp.asarray(pos)[i] + jnp.asarray(slot)[i % self.num_slots]


def _output_layer(vocab: int) -> nn.Dense:
    return nn.Dense(
        vocab, kernel_init=small_uniform(), bias_init=nn.initializers.zeros, name="head"
    )


def _norm(kind: str, train: bool, name: str) -> nn.Module:
    if kind == "layer":
        return nn.LayerNorm(name=name)
    if kind == "batch":
        return nn.BatchNorm(use_running_average=not train, momentum=0.9, name=name)
    raise ValueError(f"norm must be 'layer' or 'batch', got {kind!r}")


class CausalConv1D(nn.Module):
    """Dilated causal 1-D convolution ``(B, L, C) -> (B, L, features)``.

    Output ``t`` sees inputs ``t, t - d, .., t - (kernel - 1) d`` (zeros before the
    start). Computed as shifted slices and one matrix product, like
    :class:`jaxpriv.nn.layers.Conv1D` (fast inside ``lax.scan`` on CPU); kernel layout
    ``(kernel, C, features)`` as ``nn.Conv``, tap ``kernel - 1`` being the current step.
    """

    features: int
    kernel: int = 2
    dilation: int = 1
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()

    @nn.compact
    def __call__(self, x_BxLxC: jax.Array) -> jax.Array:
        k, d, c = self.kernel, self.dilation, x_BxLxC.shape[-1]
        length = x_BxLxC.shape[1]
        pad = (k - 1) * d
        x = jnp.pad(x_BxLxC, ((0, 0), (pad, 0), (0, 0)))
        cols = jnp.concatenate([x[:, i * d : i * d + length] for i in range(k)], axis=-1)
        kernel = self.param("kernel", self.kernel_init, (k, c, self.features))
        bias = self.param("bias", nn.initializers.zeros, (self.features,))
        return cols @ kernel.reshape(k * c, self.features) + bias


class WaveNetLM(nn.Module):
    """Embedding, then residual blocks of dilated causal convolutions with gated tanh units.

    Block ``j`` (dilation ``dilations[j]``): ``z = norm(h)``; ``a, b = conv(z)``;
    ``g = tanh(a) * sigmoid(b)``; ``h += W_res g``; ``skip += W_skip g``. Output:
    ``head(tanh(W norm(skip)))``. With kernel 2 and dilations 1, 2, 4, .., the receptive
    field is ``sum(dilations) + 1`` tokens.
    """

    vocab: int
    num_starts: int
    seq_len: int
    num_slots: int
    embed: int = 64
    channels: int = 64
    dilations: Sequence[int] = (1, 2, 4, 8, 16, 32, 64)
    kernel: int = 2
    hidden: int = 128
    norm: Literal["layer", "batch"] = "layer"

    @nn.compact
    def __call__(self, tokens_BxL: jax.Array, train: bool = False) -> jax.Array:
        emb = TokenEmbed(
            self.vocab + self.num_starts, self.seq_len, self.num_slots, self.embed, name="embed"
        )
        h = nn.Dense(self.channels, name="in_proj")(emb(tokens_BxL))
        skip = jnp.zeros((*h.shape[:-1], self.channels), h.dtype)
        for j, d in enumerate(self.dilations):
            z = _norm(self.norm, train, f"norm_{j}")(h)
            ab = CausalConv1D(
                2 * self.channels, self.kernel, int(d), kernel_init=tanh_init, name=f"conv_{j}"
            )(z)
            g = jnp.tanh(ab[..., : self.channels]) * nn.sigmoid(ab[..., self.channels :])
            h = h + nn.Dense(self.channels, name=f"res_{j}")(g)
            skip = skip + nn.Dense(self.channels, name=f"skip_{j}")(g)
        out = _norm(self.norm, train, "norm_out")(skip)
        out = jnp.tanh(nn.Dense(self.hidden, kernel_init=tanh_init, name="hidden")(out))
        return _output_layer(self.vocab)(out)


class RNNLM(nn.Module):
    """Embedding, ``layers`` stacked recurrent layers (``gru``, ``lstm`` or ``tanh``), LayerNorm,
    then the output layer. The ``tanh`` cell's input and recurrent kernels use the 5/3
    gain; GRU and LSTM keep Flax's defaults (their gates are sigmoids)."""

    vocab: int
    num_starts: int
    seq_len: int
    num_slots: int
    cell: Literal["gru", "lstm", "tanh"] = "gru"
    embed: int = 64
    hidden: int = 128
    layers: int = 1

    def _cell(self, i: int) -> nn.RNNCellBase:
        if self.cell == "gru":
            return nn.GRUCell(self.hidden, name=f"cell_{i}")
        if self.cell == "lstm":
            return nn.OptimizedLSTMCell(self.hidden, name=f"cell_{i}")
        if self.cell == "tanh":
            return nn.SimpleCell(
                self.hidden,
                activation_fn=jnp.tanh,
                kernel_init=tanh_init,
                recurrent_kernel_init=tanh_init,
                name=f"cell_{i}",
            )
        raise ValueError(f"cell must be 'gru', 'lstm' or 'tanh', got {self.cell!r}")

    @nn.compact
    def __call__(self, tokens_BxL: jax.Array, train: bool = False) -> jax.Array:
        del train
        emb = TokenEmbed(
            self.vocab + self.num_starts, self.seq_len, self.num_slots, self.embed, name="embed"
        )
        h = emb(tokens_BxL)
        for i in range(self.layers):
            out = nn.RNN(self._cell(i), name=f"rnn_{i}")(h)
            h = out if i == 0 else h + out  # residual between stacked layers
        h = nn.LayerNorm(name="norm_out")(h)
        return _output_layer(self.vocab)(h)


class TransformerBlock(nn.Module):
    """Pre-LayerNorm decoder block: causal self-attention, then a GELU MLP."""

    dim: int
    heads: int
    mlp_ratio: int = 4

    @nn.compact
    def __call__(self, x_BxLxD: jax.Array, mask: jax.Array) -> jax.Array:
        y = nn.LayerNorm(name="ln_attn")(x_BxLxD)
        # No projection biases: the key bias cannot change the attention (softmax is
        # shift-invariant), so its gradient is only rounding noise that Adam would amplify.
        y = nn.MultiHeadDotProductAttention(
            num_heads=self.heads, qkv_features=self.dim, use_bias=False, name="attn"
        )(y, y, mask=mask)
        x = x_BxLxD + y
        y = nn.LayerNorm(name="ln_mlp")(x)
        y = nn.Dense(self.mlp_ratio * self.dim, name="mlp_in")(y)
        y = nn.Dense(self.dim, name="mlp_out")(nn.gelu(y))
        return x + y


class TransformerLM(nn.Module):
    """Decoder-only Transformer: embedding ``dim`` (64), ``blocks`` (4) pre-LN blocks of
    ``heads`` (4) heads with a causal mask, a final LayerNorm and the output layer."""

    vocab: int
    num_starts: int
    seq_len: int
    num_slots: int
    dim: int = 64
    blocks: int = 4
    heads: int = 4

    @nn.compact
    def __call__(self, tokens_BxL: jax.Array, train: bool = False) -> jax.Array:
        del train
        emb = TokenEmbed(
            self.vocab + self.num_starts, self.seq_len, self.num_slots, self.dim, name="embed"
        )
        h = emb(tokens_BxL)
        mask = nn.make_causal_mask(tokens_BxL)  # (B, 1, L, L): query i sees keys <= i
        for j in range(self.blocks):
            h = TransformerBlock(self.dim, self.heads, name=f"block_{j}")(h, mask)
        h = nn.LayerNorm(name="norm_out")(h)
        return _output_layer(self.vocab)(h)


__all__ = [
    "RNNLM",
    "CausalConv1D",
    "TokenEmbed",
    "TransformerBlock",
    "TransformerLM",
    "WaveNetLM",
    "small_uniform",
    "tanh_init",
]
