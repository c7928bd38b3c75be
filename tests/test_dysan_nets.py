"""jaxpriv's light DySan networks (``--arch light``, not the authors'): shapes, sizes,
modes, jit and variant vmap. The authors' networks: tests/test_dysan_original.py."""

from __future__ import annotations

import functools

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpriv.nn.dysan import (
    Discriminator,
    Predictor,
    Sanitizer,
    init_dysan_nets,
    make_dysan_nets,
)

W, C, A = 125, 6, 4
KEY = jax.random.key(0)
NETS = make_dysan_nets()
# Flax's initializers (truncated normals) take seconds to compile on CPU, so the tests
# initialise once: three variants with vmap (a sweep's layout), from "unsafe_rbg" keys,
# which compile faster than the default threefry ones and change nothing else.
VARIANT_KEYS = jax.random.split(jax.random.key(7, impl="unsafe_rbg"), 3)


def count(tree) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def conditioning(rng: np.random.Generator, batch: int) -> np.ndarray:
    """``[attributes 3, one-hot activity A, noise 2]`` per window."""
    return np.concatenate(
        [
            rng.uniform(-1, 1, (batch, 3)),
            np.eye(A)[rng.integers(0, A, batch)],
            rng.uniform(size=(batch, 2)),
        ],
        axis=-1,
    ).astype(np.float32)


@pytest.fixture(scope="module")
def stacked() -> dict:
    return jax.jit(jax.vmap(init_dysan_nets))(VARIANT_KEYS)


@pytest.fixture(scope="module")
def variables(stacked: dict) -> dict:
    """The first variant, as ``init_dysan_nets`` returns it."""
    return jax.tree.map(lambda a: np.asarray(a[0]), stacked)


@jax.jit
def forward(variables: dict, x, cond, key: jax.Array) -> dict:
    """Every net in every mode on one batch: the sanitizer, then both classifiers on x_hat."""
    x_hat = NETS["sanitizer"].apply(variables["sanitizer"], x, cond)
    out = {"x_hat": x_hat}
    for name in ("discriminator", "predictor"):
        out[name] = NETS[name].apply(variables[name], x_hat, train=False)
        out[f"{name}_train"] = NETS[name].apply(
            variables[name], x_hat, train=True, mutable=["batch_stats"], rngs={"dropout": key}
        )
    return out


@pytest.mark.parametrize("batch", [1, 7])
def test_output_shapes_under_jit(variables: dict, batch: int) -> None:
    rng = np.random.default_rng(batch)
    x = rng.standard_normal((batch, W, C)).astype(np.float32)
    cond = conditioning(rng, batch)
    # Shapes from tracing (no compile per batch size); values below, at one batch size.
    out = jax.eval_shape(forward, variables, x, cond, KEY)
    chex.assert_shape(out["x_hat"], (batch, W, C))
    chex.assert_shape(out["discriminator"], (batch, 2))
    chex.assert_shape(out["predictor"], (batch, A))
    chex.assert_shape(out["discriminator_train"][0], (batch, 2))
    chex.assert_shape(out["predictor_train"][0], (batch, A))
    assert jax.tree.map(np.shape, out["predictor_train"][1]["batch_stats"]) == jax.tree.map(
        np.shape, variables["predictor"]["batch_stats"]
    )
    if batch == 7:
        values = forward(variables, x, cond, KEY)
        assert jax.tree.map(np.shape, values) == jax.tree.map(np.shape, out)
        chex.assert_tree_all_finite(values)


def test_variable_collections_and_parameter_counts(variables: dict) -> None:
    assert set(variables) == {"sanitizer", "discriminator", "predictor"}
    assert set(variables["sanitizer"]) == {"params"}
    assert set(variables["discriminator"]) == {"params", "batch_stats"}
    assert set(variables["predictor"]) == {"params", "batch_stats"}
    counts = {name: count(v["params"]) for name, v in variables.items()}
    print("DySan parameter counts (125 x 6, conditional):", counts)
    # By hand: convs 2,368 + 41,088; dense 137*128+128 = 17,664, 8,256, 4,160, 8,320;
    # transposed convs 5*128*128+128 = 82,048 and 6*128*6+6 = 4,614.
    assert counts["sanitizer"] == 168_518 < 200_000
    # Conv 2,368; BN 128; Dense 60*64 -> 64: 245,824; Dense 64 -> 2: 130.
    assert counts["discriminator"] == 248_450
    # Convs 3,700 + 50,100 + 80,160 + 128,160; BN 200; Dense 640 -> 64: 41,024; 64 -> 4: 260.
    assert counts["predictor"] == 303_604
    assert count(variables["predictor"]["batch_stats"]) == 200  # mean and var of 100 channels


def test_conditional_and_unconditional_sanitizers_differ_only_in_the_first_dense() -> None:
    x = jnp.zeros((1, W, C))
    cond = jax.eval_shape(Sanitizer().init, KEY, x, conditioning(np.random.default_rng(0), 1))
    plain = jax.eval_shape(Sanitizer(conditional=False).init, KEY, x)
    assert jax.tree.structure(cond) == jax.tree.structure(plain)
    differ = {
        jax.tree_util.keystr(path): (a.shape, b.shape)
        for (path, a), b in zip(
            jax.tree_util.tree_flatten_with_path(cond)[0], jax.tree.leaves(plain), strict=True
        )
        if a.shape != b.shape
    }
    # 3 attributes + 4 one-hot activities + 2 noise values = 9 extra inputs.
    assert differ == {"['params']['Dense_0']['kernel']": ((128 + 9, 128), (128, 128))}
    assert count(cond) - count(plain) == 9 * 128
    # And init_dysan_nets builds the one asked for.
    unconditional = jax.eval_shape(functools.partial(init_dysan_nets, conditional=False), KEY)
    assert jax.tree.map(np.shape, unconditional["sanitizer"]) == jax.tree.map(np.shape, plain)


def test_missing_conditioning_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="cond_BxD"):
        jax.eval_shape(Sanitizer().init, KEY, jnp.zeros((2, W, C)))


def test_every_conditioning_input_reaches_the_output(variables: dict) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((7, W, C)).astype(np.float32)
    cond = conditioning(rng, 7)
    base = forward(variables, x, cond, KEY)["x_hat"]
    np.testing.assert_array_equal(forward(variables, x, cond, KEY)["x_hat"], base)
    for name, columns in [("attributes", slice(0, 3)), ("activity", slice(3, 7)),
                          ("noise", slice(7, 9))]:  # fmt: skip
        changed = cond.copy()
        changed[:, columns] = np.roll(cond[:, columns], 1, axis=-1) + 0.5
        other = forward(variables, x, changed, KEY)["x_hat"]
        assert np.abs(other - base).max(axis=(1, 2)).min() > 1e-6, name  # every row moves


def test_sanitizer_gradients_reach_every_parameter(variables: dict) -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, W, C)).astype(np.float32)
    cond = conditioning(rng, 2)

    @jax.jit
    def grads(params):
        def loss(p):
            return jnp.mean(NETS["sanitizer"].apply({"params": p}, x, cond) ** 2)

        return jax.grad(loss)(params)

    g = grads(variables["sanitizer"]["params"])
    chex.assert_tree_all_finite(g)
    for path, leaf in jax.tree_util.tree_flatten_with_path(g)[0]:
        assert np.abs(leaf).sum() > 0, jax.tree_util.keystr(path)


@pytest.mark.parametrize("name", ["discriminator", "predictor"])
def test_train_and_eval_modes(variables: dict, name: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, W, C)).astype(np.float32)
    cond = conditioning(rng, 7)
    k1, k2 = jax.random.split(KEY)
    out1, out1_again, out2 = (forward(variables, x, cond, k) for k in (k1, k1, k2))
    (train1, updates1), (train2, updates2) = out1[f"{name}_train"], out2[f"{name}_train"]
    # Dropout: different keys give different outputs; the same key the same.
    np.testing.assert_array_equal(out1_again[f"{name}_train"][0], train1)
    assert np.abs(train1 - train2).max() > 1e-4
    # Batch statistics move in training (whatever the dropout key: BN comes before it).
    old, new = variables[name]["batch_stats"], updates1["batch_stats"]
    assert jax.tree.structure(new) == jax.tree.structure(old)
    for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(old), strict=True):
        assert np.abs(a - b).max() > 1e-4
    chex.assert_trees_all_close(updates1, updates2)
    # Evaluation: deterministic, no dropout, running averages left alone.
    eval1 = out1[name]
    np.testing.assert_array_equal(out2[name], eval1)
    assert np.abs(eval1 - train1).max() > 1e-4
    eval_apply = jax.jit(functools.partial(NETS[name].apply, train=False, mutable=["batch_stats"]))
    _, eval_updates = eval_apply(variables[name], out1["x_hat"])
    chex.assert_trees_all_equal(eval_updates["batch_stats"], old)
    # Evaluating with the updated statistics gives different outputs.
    updated = {**variables, name: {**variables[name], "batch_stats": new}}
    assert np.abs(forward(updated, x, cond, k1)[name] - eval1).max() > 1e-4


def test_vmap_over_stacked_variants(stacked: dict) -> None:
    # jax.vmap(init_dysan_nets) put the variant axis first on every leaf.
    chex.assert_tree_shape_prefix(stacked, (3,))
    single = jax.eval_shape(init_dysan_nets, KEY)
    assert jax.tree.map(lambda a: a.shape[1:], stacked) == jax.tree.map(np.shape, single)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, W, C)).astype(np.float32)
    cond = conditioning(rng, 7)

    @jax.jit
    @jax.vmap
    def all_variants(variables):
        out = forward(variables, x, cond, KEY)
        return {name: out[name] for name in ("x_hat", "discriminator", "predictor")}

    out = all_variants(stacked)
    chex.assert_shape(out["x_hat"], (3, 7, W, C))
    chex.assert_shape(out["discriminator"], (3, 7, 2))
    chex.assert_shape(out["predictor"], (3, 7, A))
    for i in range(3):
        one = forward(jax.tree.map(lambda a, i=i: a[i], stacked), x, cond, KEY)
        for name in ("x_hat", "discriminator", "predictor"):
            np.testing.assert_allclose(out[name][i], one[name], rtol=1e-4, atol=1e-5)
    # Different keys, different variants.
    for name in ("x_hat", "discriminator", "predictor"):
        assert np.abs(out[name][0] - out[name][1]).max() > 1e-4, name
        assert np.abs(out[name][1] - out[name][2]).max() > 1e-4, name


def test_class_counts_and_an_unconditional_sanitizer() -> None:
    x = jnp.zeros((2, W, C))
    out, _ = jax.eval_shape(
        functools.partial(Discriminator(3).init_with_output, train=False), KEY, x
    )
    assert out.shape == (2, 3)
    out, _ = jax.eval_shape(functools.partial(Predictor(6).init_with_output, train=False), KEY, x)
    assert out.shape == (2, 6)
    # Any window survives the sanitizer's round trip.
    x_100 = jnp.zeros((2, 100, C))
    out, _ = jax.eval_shape(Sanitizer(conditional=False).init_with_output, KEY, x_100)
    assert out.shape == (2, 100, C)
