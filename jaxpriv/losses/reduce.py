"""Reductions the loss terms share: masked means and safe division."""

from __future__ import annotations

import jax
import jax.numpy as jnp

Array = jax.Array


def _row_weights(mask_B: Array | None, batch: int, dtype: jnp.dtype) -> Array:
    """The mask as float weights, or ones when there is none."""
    if mask_B is None:
        return jnp.ones((batch,), dtype)
    return jnp.asarray(mask_B).astype(dtype).reshape(batch)


def _safe_div(num: Array, den: Array) -> Array:
    """``num / den`` where ``den > 0``, else 0; the gradient stays finite (no 0/0 branch)."""
    positive = den > 0
    return jnp.where(positive, num / jnp.where(positive, den, 1), 0)


def _weighted_mean(values_B: Array, mask_B: Array | None) -> Array:
    """Mean of per-row values, weighted by the mask; 0 when every row is masked."""
    w_B = _row_weights(mask_B, values_B.shape[0], values_B.dtype)
    return _safe_div(jnp.sum(w_B * values_B), jnp.sum(w_B))


def _float(x: Array) -> Array:
    """Promote to a float dtype (float32 by default, float64 stays float64)."""
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)
