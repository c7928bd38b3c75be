"""SenseGen's mixture density loss: by hand (scipy), gradients (float64), extremes, masks."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads
from scipy import special, stats

from jaxpriv import losses

mdn_nll = jax.jit(losses.mdn_nll)


def random_mixture(rng: np.random.Generator, B: int = 3, T: int = 4, M: int = 5, D: int = 2):
    return (
        rng.standard_normal((B, T, M)),
        rng.standard_normal((B, T, M, D)),
        rng.uniform(-2.0, 1.0, (B, T, M, D)),
        rng.standard_normal((B, T, D)),
    )


def scipy_nll(logits, mean, log_var, targets) -> np.ndarray:
    """Per-position NLL from the definition: sum_m w_m prod_d N(y_d; mu_md, exp(s_md / 2)),
    in float64 and in log space (so far targets do not underflow the reference)."""
    logits, mean, log_var, targets = (
        np.asarray(a, np.float64) for a in (logits, mean, log_var, targets)
    )
    log_w = logits - special.logsumexp(logits, axis=-1, keepdims=True)
    sigma = np.exp(np.clip(log_var, losses.MDN_LOG_VAR_MIN, losses.MDN_LOG_VAR_MAX) / 2)
    log_dens = stats.norm.logpdf(targets[..., None, :], loc=mean, scale=sigma).sum(-1)
    return -special.logsumexp(log_w + log_dens, axis=-1)


def test_one_component_one_channel_is_the_gaussian_nll() -> None:
    # s = log(4): sigma = 2; the target 1 above the mean.
    value = mdn_nll(
        np.zeros((1, 1, 1)), np.full((1, 1, 1, 1), 3.0), np.full((1, 1, 1, 1), np.log(4.0)),
        np.full((1, 1, 1), 4.0),
    )  # fmt: skip
    np.testing.assert_allclose(value, -stats.norm.logpdf(4.0, 3.0, 2.0), rtol=1e-6)


def test_two_component_mixture_by_hand() -> None:
    # Weights 0.25 / 0.75 (logits log 1, log 3), two channels.
    logits = np.log([[[1.0, 3.0]]])
    mean = np.array([[[[0.0, 1.0], [2.0, -1.0]]]])
    log_var = np.log(np.array([[[[1.0, 0.25], [4.0, 1.0]]]]))
    y = np.array([[[0.5, 0.0]]])
    p = 0.25 * stats.norm.pdf(0.5, 0, 1) * stats.norm.pdf(0.0, 1, 0.5) + 0.75 * stats.norm.pdf(
        0.5, 2, 2
    ) * stats.norm.pdf(0.0, -1, 1)
    np.testing.assert_allclose(mdn_nll(logits, mean, log_var, y), -np.log(p), rtol=1e-5)


def test_random_mixtures_match_scipy_and_average_positions() -> None:
    args = random_mixture(np.random.default_rng(0))
    expected = scipy_nll(*args).mean()
    np.testing.assert_allclose(mdn_nll(*(a.astype(np.float32) for a in args)), expected, rtol=1e-5)
    # Adding the same constant to every logit changes nothing (softmax weights).
    shifted = (args[0] + 7.0, *args[1:])
    np.testing.assert_allclose(mdn_nll(*shifted), expected, rtol=1e-5)


def test_log_variance_is_clipped_to_the_documented_range() -> None:
    args = list(random_mixture(np.random.default_rng(1)))
    low = args.copy()
    low[2] = np.full_like(args[2], losses.MDN_LOG_VAR_MIN)
    lower = args.copy()
    lower[2] = np.full_like(args[2], losses.MDN_LOG_VAR_MIN - 30.0)
    np.testing.assert_allclose(mdn_nll(*lower), mdn_nll(*low), rtol=1e-6)
    np.testing.assert_allclose(mdn_nll(*lower), scipy_nll(*lower).mean(), rtol=1e-4)
    # Within the range the clip does nothing.
    inside = args.copy()
    inside[2] = np.full_like(args[2], losses.MDN_LOG_VAR_MIN + 0.5)
    assert float(mdn_nll(*inside)) != pytest.approx(float(mdn_nll(*low)))


@pytest.mark.parametrize(
    "case",
    ["huge_logits", "tiny_and_huge_variances", "far_targets", "one_dominant_component"],
)
def test_extreme_inputs_give_finite_values_and_gradients(case: str) -> None:
    logits, mean, log_var, y = (
        a.astype(np.float32) for a in random_mixture(np.random.default_rng(2))
    )
    if case == "huge_logits":
        logits = logits * 1e30
    elif case == "tiny_and_huge_variances":
        log_var = np.where(np.arange(log_var.shape[2])[:, None] % 2 == 0, -1e4, 1e4)
        log_var = np.broadcast_to(log_var, mean.shape).astype(np.float32)
    elif case == "far_targets":
        y = y + 1e4  # every component's density underflows in float32
    else:
        logits = logits.copy()
        logits[..., 0] = 200.0
    value, grads = jax.jit(jax.value_and_grad(losses.mdn_nll, argnums=(0, 1, 2, 3)))(
        logits, mean, log_var, y
    )
    assert np.isfinite(float(value))
    chex.assert_tree_all_finite(grads)
    if case == "far_targets":
        # Far from every mean the loss is large but exact (log-sum-exp, no log(0)).
        np.testing.assert_allclose(value, scipy_nll(logits, mean, log_var, y).mean(), rtol=1e-3)


def test_mask_equals_dropping_rows_and_steps() -> None:
    logits, mean, log_var, y = (
        a.astype(np.float32) for a in random_mixture(np.random.default_rng(3))
    )
    keep = np.array([1.0, 0.0, 1.0])
    rows = keep == 1
    np.testing.assert_allclose(
        mdn_nll(logits, mean, log_var, y, keep),
        mdn_nll(logits[rows], mean[rows], log_var[rows], y[rows]),
        rtol=1e-6,
    )
    # A (B, T) mask drops single time steps: padding at the end of a sequence.
    steps = np.ones((3, 4), np.float32)
    steps[0, 2:] = 0.0
    expected = scipy_nll(logits, mean, log_var, y)[steps == 1].mean()
    np.testing.assert_allclose(mdn_nll(logits, mean, log_var, y, steps), expected, rtol=1e-5)
    # Masked rows may hold anything finite; everything masked gives 0, not NaN.
    junk = y.copy()
    junk[1] = 1e6
    np.testing.assert_allclose(
        mdn_nll(logits, mean, log_var, junk, keep), mdn_nll(logits, mean, log_var, y, keep)
    )
    assert float(mdn_nll(logits, mean, log_var, y, np.zeros(3))) == 0.0


def test_gradients_match_finite_differences_in_float64() -> None:
    with jax.enable_x64(True):
        logits, mean, log_var, y = random_mixture(np.random.default_rng(4), B=2, T=3, M=3, D=2)
        mask = np.array([[1.0, 1.0, 0.0], [1.0, 0.5, 1.0]])

        def fn(a, b, c, d):
            return losses.mdn_nll(a, b, c, d, mask)

        fn = jax.jit(fn)
        value = fn(logits, mean, log_var, y)
        assert value.dtype == jnp.float64
        chex.assert_shape(value, ())
        check_grads(fn, (logits, mean, log_var, y), order=1, modes=["fwd", "rev"])
    assert jnp.zeros(1).dtype == jnp.float32


def test_any_leading_axes_and_vmap() -> None:
    logits, mean, log_var, y = (
        a.astype(np.float32) for a in random_mixture(np.random.default_rng(5))
    )
    flat = mdn_nll(logits.reshape(12, 5), mean.reshape(12, 5, 2), log_var.reshape(12, 5, 2),
                   y.reshape(12, 2))  # fmt: skip
    np.testing.assert_allclose(flat, mdn_nll(logits, mean, log_var, y), rtol=1e-6)
    per_row = jax.vmap(losses.mdn_nll)(logits, mean, log_var, y)
    chex.assert_shape(per_row, (3,))
    np.testing.assert_allclose(per_row.mean(), mdn_nll(logits, mean, log_var, y), rtol=1e-6)
