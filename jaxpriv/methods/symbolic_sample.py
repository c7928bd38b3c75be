"""Sampling from a trained symbolic generator: autoregressive, jitted once per config.

**Sampling** (``make_sample``) is autoregressive under ``lax.scan`` and vmapped over
samples. Each step recomputes the model's full causal pass over a fixed-length buffer
(positions after the current one hold placeholders the causal model cannot see):
``L`` passes of length ``L``, i.e. O(L^2) work, acceptable at these lengths (96
tokens) and identical for the three models, so no key/value or convolution caches.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import numpy as np

from jaxpriv.methods.symbolic_model import make_network
from jaxpriv.quantize import Quantizer, decode_symbols

if TYPE_CHECKING:
    from jaxpriv.methods.symbolic import SymbolicConfig


def _draw(key: jax.Array, logits_V: jax.Array, temperature, top_k: int | None) -> jax.Array:
    logits = logits_V / temperature
    if top_k is not None:
        kth = jax.lax.top_k(logits, top_k)[0][-1]
        logits = jnp.where(logits >= kth, logits, -jnp.inf)
    return jax.random.categorical(key, logits).astype(jnp.int32)


def make_sample(
    cfg: SymbolicConfig, quantizer: Quantizer, activity_prior: Sequence[float] | None = None
) -> Callable:
    """``sample(variables, key, num_samples, temperature=1.0, top_k=None, activity=None)``.

    Returns a dict of ``symbols`` (N, T, S) int32, ``values`` (N, T, S) float32 decoded
    uniformly inside each bin (raw units), and ``activity`` (N,) int32. ``activity`` is
    an index, or ``(N,)`` indices, into the training activities; ``None`` draws it from
    ``activity_prior`` (default uniform). ``top_k=1`` is greedy decoding. Jitted once
    per config (the quantizer's tables are arguments, so every variant and run with
    the same config shares it); a new ``num_samples`` or ``top_k`` compiles again.
    """
    if quantizer.num_features != cfg.num_slots or quantizer.num_bins != cfg.num_bins:
        raise ValueError(
            f"quantizer ({quantizer.num_features} features, {quantizer.num_bins} bins) does "
            f"not match the config ({cfg.num_slots} slots, {cfg.num_bins} bins)"
        )
    v, a = cfg.num_bins, cfg.num_activities
    prior = np.ones(max(a, 1)) if activity_prior is None else np.asarray(activity_prior, float)
    if prior.shape != (max(a, 1),) or prior.sum() <= 0 or (prior < 0).any():
        raise ValueError(f"activity_prior must hold {a} non-negative weights, got {prior}")
    slot = np.arange(cfg.seq_len) % cfg.num_slots
    tables = {
        "valid": jnp.asarray(quantizer.valid_mask()[slot]),
        "edges": jnp.asarray(quantizer.edges_padded(), jnp.float32),
        "bins": jnp.asarray(quantizer.bins_per_feature),
        "log_prior": jnp.log(jnp.asarray(prior / prior.sum(), jnp.float32)),
    }
    core = _sample_core(cfg)

    def sample(variables, key, num_samples: int, temperature=1.0, top_k=None, activity=None):
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        if not float(temperature) > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if top_k is not None and not 1 <= int(top_k) <= v:
            raise ValueError(f"top_k must lie in 1..{v}, got {top_k}")
        act = np.full(num_samples, -1, np.int32)
        if activity is not None:
            if not a:
                raise ValueError("this generator has no activities to condition on")
            act = np.broadcast_to(np.asarray(activity, np.int32), (num_samples,)).copy()
            if act.min() < 0 or act.max() >= a:
                raise ValueError(f"activity indices must lie in 0..{a - 1}")
        return core(
            variables, tables, key, jnp.asarray(act), jnp.float32(temperature),
            num_samples=int(num_samples), top_k=None if top_k is None else int(top_k),
        )  # fmt: skip

    return sample


@functools.cache
def _sample_core(cfg: SymbolicConfig) -> Callable:
    """The jitted sampler of one config: ``core(variables, tables, key, activity_N,
    temperature, *, num_samples, top_k)``."""
    model = make_network(cfg)
    length = cfg.seq_len

    def sample_one(variables, valid_LxV, key, start, temperature, top_k):
        buf = jnp.zeros((length,), jnp.int32).at[0].set(start)

        def body(buf, inputs):
            i, k = inputs
            logits = model.apply(variables, buf[None], train=False)[0, i]
            symbol = _draw(k, jnp.where(valid_LxV[i], logits, -jnp.inf), temperature, top_k)
            return buf.at[i + 1].set(symbol, mode="drop"), symbol

        _, symbols = jax.lax.scan(body, buf, (jnp.arange(length), jax.random.split(key, length)))
        return symbols

    def core(variables, tables, key, activity, temperature, num_samples, top_k):
        with jax.threefry_partitionable(False):  # faster to compile; see make_train's init
            return draw(variables, tables, key, activity, temperature, num_samples, top_k)

    def draw(variables, tables, key, activity, temperature, num_samples, top_k):
        k_act, k_sym, k_dec = jax.random.split(key, 3)
        if cfg.num_activities:
            drawn = jax.random.categorical(k_act, tables["log_prior"], shape=(num_samples,))
            activity = jnp.where(activity < 0, drawn, activity).astype(jnp.int32)
        else:
            activity = jnp.zeros((num_samples,), jnp.int32)
        keys = jax.random.split(k_sym, num_samples)
        one = jax.vmap(sample_one, in_axes=(None, None, 0, 0, None, None))
        symbols = one(variables, tables["valid"], keys, cfg.num_bins + activity, temperature, top_k)
        symbols = symbols.reshape(num_samples, cfg.window, cfg.num_slots)
        values = decode_symbols(tables["edges"], tables["bins"], symbols, k_dec)
        return {"symbols": symbols, "values": values, "activity": activity}

    return jax.jit(core, static_argnames=("num_samples", "top_k"))
