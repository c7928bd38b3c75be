"""The authors' DySan networks (``--arch original``): parameter counts, layouts, the
discriminator's decorrelation input and softmax over channels, PyTorch's initialisation."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpriv.methods.dysan_config import DysanConfig
from jaxpriv.methods.dysan_nets import Release, make_nets
from jaxpriv.nn.dysan_original import OriginalDiscriminator, OriginalPredictor, OriginalSanitizer

W, C, A = 125, 6, 4
KEY = jax.random.key(0)


def count(tree) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def shapes(module, *args, **kw):
    return jax.eval_shape(functools.partial(module.init, **kw), KEY, *args)["params"]


def test_parameter_counts_are_the_authors() -> None:
    x = jnp.zeros((2, W, C))
    # Counted from the authors' code instantiated under PyTorch (issue 16, systems.md).
    assert count(shapes(OriginalSanitizer(), x, jnp.zeros((2, 3 + A + 2)))) == 3_921_485
    disc = OriginalDiscriminator()
    assert count(shapes(disc, x, jnp.zeros((2, 3)), jnp.zeros((2, A)), train=False)) == 14_608
    assert count(shapes(OriginalPredictor(), x, jnp.zeros((2, 3)), train=False)) == 303_796
    # The bottleneck over the whole window: Linear(14,857 -> 128) and Linear(128 -> 14,855).
    san = shapes(OriginalSanitizer(), x, jnp.zeros((2, 9)))
    assert san["enc_linear1"]["kernel"].shape == (116 * 128 + 3 + A + 2, 128)
    assert san["enc_linear2"]["kernel"].shape == (128, 64)
    assert san["dec_linear2"]["kernel"].shape == (128, 116 * 128 + A + 3)
    # The same counts through the method's init, in every activity mode but 'none'
    # (no activity input or output: 4 x 128 + 4 x (128 + 1) fewer).
    for mode, sanitizer in (("original", 3_921_485), ("true", 3_921_485), ("none", 3_920_457)):
        cfg = DysanConfig(activity_mode=mode)
        nets = jax.eval_shape(make_nets(cfg).init, KEY)
        assert count(nets["san"]) == sanitizer, mode
        assert count(nets["disc"]["params"]) == 14_608  # the decorrelation input stays
        assert count(nets["pred"]["params"]) == 303_796


@pytest.fixture(scope="module")
def nets_and_variables():
    nets = make_nets(DysanConfig())
    return nets, jax.jit(nets.init)(KEY)


def test_sanitizer_halves_and_outputs(nets_and_variables) -> None:
    nets, v = nets_and_variables
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (3, W, C)).astype(np.float32)
    cond = rng.uniform(-1, 1, (3, 9)).astype(np.float32)
    release = jax.jit(nets.sanitize)(v["san"], x, cond)
    chex.assert_shape((release.x_hat, release.activity, release.attributes),
                      ((3, W, C), (3, A), (3, 3)))  # fmt: skip
    assert np.abs(release.attributes).max() < 1  # tanh outputs
    features, activity, _ = jax.jit(nets.encode)(v["san"], x, cond)
    chex.assert_shape(features, (3, W - 9, 128))
    np.testing.assert_allclose(jax.jit(nets.decode)(v["san"], features), release.x_hat, atol=1e-5)
    np.testing.assert_allclose(activity, release.activity, atol=1e-6)
    # A window of another length is a clear error (the bottleneck spans the whole window).
    with pytest.raises(ValueError, match="windows of 100"):
        jax.eval_shape(nets.sanitize, v["san"], jnp.zeros((1, 100, C)), cond[:1])


def discriminator_by_hand(params, x, attributes, activity) -> np.ndarray:
    """The authors' ``DiscriminatorConv`` in evaluation mode, written out in numpy."""
    conv = params["Conv1D_0"]
    cols = np.concatenate([x[:, i : i + W - 5] for i in range(6)], axis=-1)
    h = np.maximum(cols @ conv["kernel"].reshape(-1, 64) + conv["bias"], 0)  # (B, 120, 64)
    h = h.reshape(h.shape[0], 60, 2, 64).mean(2)  # AvgPool1d(2)
    bn = params["BatchNorm_0"]  # fresh running statistics: mean 0, variance 1
    h = h / np.sqrt(1 + 1e-5) * bn["scale"] + bn["bias"]
    h = np.swapaxes(h, 1, 2) @ params["linear_time"]["kernel"] + params["linear_time"]["bias"]
    h = np.exp(h - h.max(axis=1, keepdims=True))
    h = h / h.sum(axis=1, keepdims=True)  # softmax over the 64 CHANNELS (axis 1)
    h = np.tanh(np.concatenate([h.reshape(h.shape[0], -1), attributes, activity], -1))
    return h @ params["linear_out"]["kernel"] + params["linear_out"]["bias"]


def test_discriminator_is_the_codes_with_the_decorrelation_input(nets_and_variables) -> None:
    nets, v = nets_and_variables
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, (4, W, C)).astype(np.float32)
    attributes = rng.uniform(-1, 1, (4, 3)).astype(np.float32)
    activity = np.eye(A, dtype=np.float32)[[0, 1, 2, 3]]
    discriminate = jax.jit(nets.discriminate)
    logits = discriminate(v["disc"], Release(x, None, attributes), activity)
    params = jax.tree.map(np.asarray, v["disc"]["params"])
    np.testing.assert_allclose(
        logits, discriminator_by_hand(params, x, attributes, activity), rtol=1e-4, atol=1e-5
    )
    # The original activity one-hot and the reconstructed attributes both reach the output.
    other = discriminate(v["disc"], Release(x, None, attributes), np.roll(activity, 1, axis=0))
    assert np.abs(other - logits).max(axis=-1).min() > 1e-6
    moved = discriminate(v["disc"], Release(x, None, attributes + 0.5), activity)
    assert np.abs(moved - logits).max(axis=-1).min() > 1e-6


def test_predictor_sees_the_reconstructed_attributes(nets_and_variables) -> None:
    nets, v = nets_and_variables
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 1, (3, W, C)).astype(np.float32)
    attributes = rng.uniform(-1, 1, (3, 3)).astype(np.float32)
    predict = jax.jit(nets.predict)
    logits = predict(v["pred"], Release(x, None, attributes))
    chex.assert_shape(logits, (3, A))
    moved = predict(v["pred"], Release(x, None, attributes - 0.5))
    assert np.abs(moved - logits).max(axis=-1).min() > 1e-6


def test_weights_start_from_pytorchs_default_initialisation(nets_and_variables) -> None:
    _, v = nets_and_variables
    # U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's fan-in (out x k for a transposed conv).
    fan_in = {
        "enc_first": 6 * 6, "enc_second": 64 * 5, "enc_linear1": 14_857, "enc_linear2": 128,
        "dec_linear1": 64, "dec_linear2": 128, "dec_second": 64 * 5, "dec_first": 6 * 6,
    }  # fmt: skip
    for name, layer in v["san"].items():
        bound = 1 / np.sqrt(fan_in[name])
        kernel, bias = np.abs(layer["kernel"]), np.abs(layer["bias"])
        assert kernel.max() <= bound and kernel.max() > 0.9 * bound, name  # uniform: fills it
        assert bias.max() <= bound and bias.max() > 0, name
    pred = v["pred"]["params"]
    assert np.abs(pred["Dense_0"]["kernel"]).max() <= 1 / np.sqrt(643)
    np.testing.assert_array_equal(pred["BatchNorm_0"]["scale"], 1.0)  # as BatchNorm1d
