"""``Conv1D`` (im2col) computes the same function and gradients as ``flax.linen.Conv``."""

from __future__ import annotations

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpriv.nn.layers import Conv1D

C_IN, C_OUT, LENGTH = 3, 4, 9
KEY = jax.random.key(0)


def random_params(rng: np.random.Generator, kernel: int) -> dict:
    """Kernel and a non-zero bias (zeros would hide a missing or misplaced bias).

    NumPy draws: eager ``jax.random`` compiles per shape, which is slow on CPU.
    """
    return {
        "kernel": jnp.asarray(rng.standard_normal((kernel, C_IN, C_OUT)), jnp.float32),
        "bias": jnp.asarray(rng.standard_normal(C_OUT), jnp.float32),
    }


def outputs_and_grads(
    module: nn.Module, params: dict, x: jax.Array, cotangent: jax.Array
) -> tuple[jax.Array, dict, jax.Array]:
    """``module(x)`` and the gradients of ``sum(module(x) * cotangent)`` (params, x)."""

    def loss(p: dict, inputs: jax.Array) -> jax.Array:
        return jnp.sum(module.apply({"params": p}, inputs) * cotangent)

    return module.apply({"params": params}, x), *jax.grad(loss, argnums=(0, 1))(params, x)


@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("kernel", [1, 2, 5, 6])
def test_matches_flax_conv(padding: str, kernel: int) -> None:
    ours = Conv1D(C_OUT, kernel, padding=padding)
    ref = nn.Conv(C_OUT, (kernel,), padding=padding)
    ours_fn = jax.jit(functools.partial(outputs_and_grads, ours))
    ref_fn = jax.jit(functools.partial(outputs_and_grads, ref))
    for batch in (1, 3):
        rng = np.random.default_rng(kernel * 10 + batch)
        x = jnp.asarray(rng.standard_normal((batch, LENGTH, C_IN)), jnp.float32)
        params = random_params(rng, kernel)

        # Same parameter names and shapes as nn.Conv, so params interchange.
        ours_shapes = jax.tree.map(jnp.shape, jax.eval_shape(ours.init, KEY, x)["params"])
        ref_shapes = jax.tree.map(jnp.shape, jax.eval_shape(ref.init, KEY, x)["params"])
        assert ours_shapes == ref_shapes == {"kernel": (kernel, C_IN, C_OUT), "bias": (C_OUT,)}

        expected_len = LENGTH if padding == "SAME" else LENGTH - kernel + 1
        cotangent = jnp.asarray(rng.standard_normal((batch, expected_len, C_OUT)), jnp.float32)
        y, g_params, g_x = ours_fn(params, x, cotangent)
        y_ref, r_params, r_x = ref_fn(params, x, cotangent)
        assert y.shape == y_ref.shape == (batch, expected_len, C_OUT)
        np.testing.assert_allclose(y, y_ref, rtol=1e-5, atol=1e-5)
        # Gradients with respect to the parameters and the input agree too.
        for name in ("kernel", "bias"):
            np.testing.assert_allclose(g_params[name], r_params[name], rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(g_x, r_x, rtol=1e-5, atol=1e-5)


def test_same_padding_of_an_even_kernel_puts_the_extra_zero_on_the_right() -> None:
    """A unit impulse shows where each output reads from (as nn.Conv, pad (k-1)//2 left)."""
    x = jnp.zeros((1, 6, 1)).at[0, 0, 0].set(1.0)
    kernel = jnp.arange(1.0, 5.0).reshape(4, 1, 1)  # taps 1, 2, 3, 4
    y = Conv1D(1, 4, use_bias=False).apply({"params": {"kernel": kernel}}, x)
    # Left padding 1: output 0 reads x[-1..2], so the impulse meets tap 2; output 1 tap 1.
    np.testing.assert_array_equal(y[0, :, 0], [2.0, 1.0, 0.0, 0.0, 0.0, 0.0])


def init_shapes(module: nn.Module, x: jax.Array) -> dict:
    """Parameter shapes (and the output's, under "out"), traced without running anything."""
    out, variables = jax.eval_shape(module.init_with_output, KEY, x)
    return {"out": out.shape, **jax.tree.map(lambda a: a.shape, variables["params"])}


def test_without_bias_has_only_a_kernel() -> None:
    x = jnp.ones((2, 7, C_IN))
    assert init_shapes(Conv1D(C_OUT, 3, use_bias=False), x) == {
        "out": (2, 7, C_OUT),
        "kernel": (3, C_IN, C_OUT),
    }


def test_valid_kernel_longer_than_input_is_an_error() -> None:
    x = jnp.ones((2, 4, C_IN))
    with pytest.raises(ValueError, match="input length 4 is shorter than kernel 5"):
        init_shapes(Conv1D(C_OUT, 5, padding="VALID"), x)
    # The same input is fine with SAME padding, and VALID at exactly the kernel length.
    assert init_shapes(Conv1D(C_OUT, 5), x)["out"] == (2, 4, C_OUT)
    assert init_shapes(Conv1D(C_OUT, 4, padding="VALID"), x)["out"] == (2, 1, C_OUT)


@pytest.mark.parametrize("padding", ["same", "CIRCULAR", "FULL"])
def test_bad_padding_is_an_error(padding: str) -> None:
    module = Conv1D(C_OUT, 3, padding=padding)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="padding must be 'SAME' or 'VALID'"):
        init_shapes(module, jnp.ones((1, 8, C_IN)))
