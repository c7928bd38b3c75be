"""SenseGen's mixture density network loss: the negative log-likelihood of the next
sample under a Gaussian mixture (part of :mod:`jaxpriv.losses`)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxpriv.losses.reduce import _float, _weighted_mean

Array = jax.Array


# Bounds on the mixture's log-variance ``s`` (sigma = exp(s / 2)): sigma lies in
# [exp(-5), exp(5)] = [0.0067, 148], ample for standardised data. The lower
# bound keeps the density finite where a component collapses onto a point;
# the upper one keeps ``exp(-s)`` from underflowing. Outside the range the
# value is constant (and the gradient with respect to ``s`` zero).
MDN_LOG_VAR_MIN = -10.0
MDN_LOG_VAR_MAX = 10.0
_LOG_2PI = 1.8378770664093453


def _mdn_log_prob(
    logits_BxTxM: Array, mean_BxTxMxD: Array, log_var_BxTxMxD: Array, targets_BxTxD: Array
) -> Array:
    """``log p(targets)`` under the mixture of :func:`mdn_nll`, per position (leading axes)."""
    logits = _float(logits_BxTxM)
    s = jnp.clip(_float(log_var_BxTxMxD), MDN_LOG_VAR_MIN, MDN_LOG_VAR_MAX)
    z = (_float(targets_BxTxD)[..., None, :] - _float(mean_BxTxMxD)) * jnp.exp(-0.5 * s)
    log_normal_BxTxM = -0.5 * jnp.sum(_LOG_2PI + s + jnp.square(z), axis=-1)
    return jax.nn.logsumexp(jax.nn.log_softmax(logits, axis=-1) + log_normal_BxTxM, axis=-1)


def mdn_nll(
    logits_BxTxM: Array,
    mean_BxTxMxD: Array,
    log_var_BxTxMxD: Array,
    targets_BxTxD: Array,
    mask: Array | None = None,
) -> Array:
    """SenseGen's loss: the Gaussian-mixture negative log-likelihood, nats per time step.

    The layout of SenseGen's head (systems.md section 4): at every position
    ``(b, t)``, ``M`` components, each with a weight logit ``logits[b, t, m]``,
    a mean ``mean[b, t, m, :]`` and a log-variance ``s = log_var[b, t, m, :]``
    over the ``D`` channels (diagonal), so ``sigma = exp(s / 2)`` (the code's
    parameterisation). Per position::

        -log sum_m softmax(logits)_m prod_d N(targets_d; mean_md, exp(s_md))

    the density of the whole ``D``-vector, so channels add up. Then the mean
    over positions. Numerically stable: the weights are a ``log_softmax``, the
    sum over components a log-sum-exp, ``s`` is clipped to ``[MDN_LOG_VAR_MIN,
    MDN_LOG_VAR_MAX]`` (sigma >= 0.0067, so a collapsing component cannot
    drive the loss to -inf), hence any logits and log-variances give a finite
    value and gradient. Means and targets must be finite.

    Any leading axes work (``B, T`` are names, not requirements):
    ``logits (..., M)``, ``mean``/``log_var (..., M, D)``, ``targets (..., D)``.
    ``mask`` weights rows as everywhere in this module; it covers the leading
    axes from the left: ``(B,)`` weights whole sequences, ``(B, T)`` single
    time steps (e.g. padding); 0 drops a row exactly. Every position masked
    gives 0.
    """
    nll_BxT = -_mdn_log_prob(logits_BxTxM, mean_BxTxMxD, log_var_BxTxMxD, targets_BxTxD)
    flat = nll_BxT.reshape(-1)
    if mask is None:
        return _weighted_mean(flat, None)
    w = jnp.asarray(mask).astype(flat.dtype)
    w = jnp.broadcast_to(w.reshape(w.shape + (1,) * (nll_BxT.ndim - w.ndim)), nll_BxT.shape)
    return _weighted_mean(flat, w.reshape(-1))
