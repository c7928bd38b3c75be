"""The replacement autoencoder (RAE, systems.md section 3): dense layers on the flattened window.

The authors' code (``mmalekzadeh/replacement-autoencoder``, e.g.
``opportunity/om7_replacement_autoencoder.py``) builds, for ``d = W * C``::

    Dense(d, linear) -> Dense(d/2, selu) -> Dense(d/8, selu) -> Dense(d/16, selu)
    -> Dense(d/8, selu) -> Dense(d/2, selu) -> Dense(d, linear)

``input_dense=False`` drops the first linear ``Dense(d)`` (the slides' list
``d -> d/2 -> d/8 -> d/16 -> d/8 -> d/2 -> d``). Windows are ``(B, W, C)`` in and out.
"""

from __future__ import annotations

import flax.linen as nn
import jax

# Widths of the hidden layers as divisors of d = W * C (encoder, bottleneck, decoder).
HIDDEN_DIVISORS = (2, 8, 16, 8, 2)


def layer_sizes(d: int, input_dense: bool = True) -> tuple[int, ...]:
    """Output sizes of the Dense layers for a flattened window of ``d`` values."""
    if d < max(HIDDEN_DIVISORS):
        raise ValueError(f"a window of W * C = {d} values is too small for the RAE (need >= 16)")
    hidden = tuple(d // k for k in HIDDEN_DIVISORS)
    return ((d,) if input_dense else ()) + hidden + (d,)


class ReplacementAutoencoder(nn.Module):
    """``x_BxWxC -> x'_BxWxC``: selu on the hidden layers, linear input and output layers."""

    input_dense: bool = True

    @nn.compact
    def __call__(self, x_BxWxC: jax.Array) -> jax.Array:
        b, w, c = x_BxWxC.shape
        sizes = layer_sizes(w * c, self.input_dense)
        h = x_BxWxC.reshape(b, w * c)
        for i, size in enumerate(sizes):
            # lecun_normal is Keras' recommended init for selu (and Flax's default).
            h = nn.Dense(size, name=f"dense_{i}")(h)
            linear = i == len(sizes) - 1 or (self.input_dense and i == 0)
            if not linear:
                h = nn.selu(h)
        return h.reshape(b, w, c)
