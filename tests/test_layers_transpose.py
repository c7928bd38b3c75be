"""``ConvTranspose1D``: stride-1 transposed convolution (PyTorch's, Flax's) as pad + Conv1D."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpriv.nn.layers import Conv1D, ConvTranspose1D

C_IN, C_OUT, LENGTH = 3, 4, 7
KEY = jax.random.key(0)


def torch_conv_transpose1d(x_BxWxC: np.ndarray, weight_CxFxK: np.ndarray, bias_F: np.ndarray):
    """PyTorch's ``ConvTranspose1d`` (stride 1, no padding) by its definition, in numpy.

    Every input step ``t`` scatters ``x[t] @ weight[:, :, j]`` to output step ``t + j``.
    The weight has PyTorch's layout ``(in_channels, out_channels, kernel)``.
    """
    B, W, _ = x_BxWxC.shape
    _, F, K = weight_CxFxK.shape
    y = np.zeros((B, W + K - 1, F)) + bias_F
    for t in range(W):
        for j in range(K):
            y[:, t + j] += x_BxWxC[:, t] @ weight_CxFxK[:, :, j]
    return y


@pytest.mark.parametrize("kernel", [1, 6])
def test_matches_pytorch_definition_with_the_flipped_kernel(kernel: int) -> None:
    rng = np.random.default_rng(kernel)
    x = rng.standard_normal((2, LENGTH, C_IN)).astype(np.float32)
    torch_weight = rng.standard_normal((C_IN, C_OUT, kernel)).astype(np.float32)
    bias = rng.standard_normal(C_OUT).astype(np.float32)
    # ours[m, c, f] = torch_weight[c, f, kernel - 1 - m]
    ours = np.transpose(torch_weight[:, :, ::-1], (2, 0, 1))
    apply = jax.jit(ConvTranspose1D(C_OUT, kernel).apply)
    y = apply({"params": {"kernel": ours, "bias": bias}}, x)
    assert y.shape == (2, LENGTH + kernel - 1, C_OUT)
    expected = torch_conv_transpose1d(x, torch_weight, bias)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    if kernel > 1:  # the unflipped kernel is a different function
        wrong = np.transpose(torch_weight, (2, 0, 1))
        y_wrong = ConvTranspose1D(C_OUT, kernel).apply(
            {"params": {"kernel": wrong, "bias": bias}}, x
        )
        assert np.abs(y_wrong - expected).max() > 1e-2


@pytest.mark.parametrize("kernel", [5])
def test_matches_flax_conv_transpose(kernel: int) -> None:
    rng = np.random.default_rng(10 + kernel)
    x = rng.standard_normal((3, LENGTH, C_IN)).astype(np.float32)
    ours = ConvTranspose1D(C_OUT, kernel)
    shapes = jax.tree.map(np.shape, jax.eval_shape(ours.init, KEY, x)["params"])
    # Same parameter names and shapes as nn.Conv / nn.ConvTranspose.
    assert shapes == {"kernel": (kernel, C_IN, C_OUT), "bias": (C_OUT,)}
    params = {
        "kernel": rng.standard_normal((kernel, C_IN, C_OUT)).astype(np.float32),
        "bias": rng.standard_normal(C_OUT).astype(np.float32),
    }
    # Flax's default (transpose_kernel=False) uses the very same kernel array;
    # transpose_kernel=True (PyTorch's semantics) a kernel (k, features, C), flipped in time.
    default = nn.ConvTranspose(C_OUT, (kernel,), padding="VALID")
    transposed = nn.ConvTranspose(C_OUT, (kernel,), padding="VALID", transpose_kernel=True)
    flipped = {"kernel": np.swapaxes(params["kernel"][::-1], 1, 2), "bias": params["bias"]}

    @jax.jit
    def outputs(inputs):
        return (
            ours.apply({"params": params}, inputs),
            default.apply({"params": params}, inputs),
            transposed.apply({"params": flipped}, inputs),
        )

    y, y_default, y_transposed = outputs(x)
    assert y.shape == (3, LENGTH + kernel - 1, C_OUT)
    np.testing.assert_allclose(y_default, y, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(y_transposed, y, rtol=1e-5, atol=1e-5)


def test_is_padding_plus_valid_conv_and_gradients_are_finite() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, LENGTH, C_IN)).astype(np.float32)
    module = ConvTranspose1D(C_OUT, 5)
    params = jax.jit(module.init)(KEY, x)["params"]
    padded = np.pad(x, ((0, 0), (4, 4), (0, 0)))
    y_conv = jax.jit(Conv1D(C_OUT, 5, padding="VALID").apply)({"params": params}, padded)
    np.testing.assert_allclose(jax.jit(module.apply)({"params": params}, x), y_conv, rtol=1e-6)

    def loss(p, inputs):
        return jnp.sum(jnp.sin(module.apply({"params": p}, inputs)))

    g_params, g_x = jax.jit(jax.grad(loss, argnums=(0, 1)))(params, x)
    assert g_x.shape == x.shape
    for g in (g_params["kernel"], g_params["bias"], g_x):
        assert np.isfinite(g).all() and np.abs(g).sum() > 0


def test_padding_is_not_a_setting() -> None:
    assert ConvTranspose1D(C_OUT, 3).padding == "VALID"
    with pytest.raises(TypeError):
        ConvTranspose1D(C_OUT, 3, padding="SAME")  # type: ignore[call-arg]
