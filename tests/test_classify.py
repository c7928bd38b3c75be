"""``make_fit`` / ``make_predict``: learning, determinism, weights, vmap and single compilation;
the strong attacker's augmentation and early stopping."""

from __future__ import annotations

from collections.abc import Callable

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpriv.classify import (
    ClassifierConfig,
    StrongConfig,
    augment,
    make_fit,
    make_fit_early_stopping,
    make_predict,
    make_predict_variables,
)

CFG = ClassifierConfig(steps=150, batch_size=32, features=(8, 8), dense=16)
NUM_CLASSES, N, W, C = 3, 300, 32, 2
CYCLES = (1.0, 3.0, 6.0)  # cycles per window of each class


def sine_windows(seed: int, n: int) -> tuple[jax.Array, jax.Array]:
    """``n`` noisy (W, C) windows: class k is a sine/cosine pair at CYCLES[k], random phase."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, NUM_CLASSES, n)
    t = np.arange(W) / W
    phase = rng.uniform(0, 2 * np.pi, (n, 1))
    angle = 2 * np.pi * np.asarray(CYCLES)[y][:, None] * t + phase
    x = np.stack([np.sin(angle), np.cos(angle)], axis=-1) + 0.3 * rng.standard_normal((n, W, C))
    return jnp.asarray(x, jnp.float32), jnp.asarray(y, jnp.int32)


@pytest.fixture(scope="module")
def train() -> tuple[jax.Array, jax.Array]:
    return sine_windows(0, N)


@pytest.fixture(scope="module")
def test_set() -> tuple[jax.Array, jax.Array]:
    return sine_windows(1, 150)


TRACES: list[tuple[int, ...]] = []  # input shapes each time the module's jitted fit is traced


@pytest.fixture(scope="module")
def fit() -> Callable[..., dict]:
    """One jitted fit for the whole module (compiling it takes seconds), counting its traces."""
    raw_fit = make_fit(CFG, NUM_CLASSES)

    def counted(key, x, y, weight):
        TRACES.append(x.shape)
        return raw_fit(key, x, y, weight)

    TRACES.clear()
    return jax.jit(counted)


@pytest.fixture(scope="module")
def accuracy(test_set: tuple[jax.Array, jax.Array]) -> Callable[[dict], float]:
    predict = jax.jit(make_predict(CFG, NUM_CLASSES))
    x, y = test_set

    def acc(params: dict) -> float:
        return float(jnp.mean(jnp.argmax(predict(params, x), axis=-1) == y))

    return acc


def ones(n: int = N) -> jax.Array:
    return jnp.ones((n,), jnp.float32)


def test_learns_a_separable_problem(fit, train, accuracy) -> None:
    x, y = train
    params = fit(jax.random.key(0), x, y, ones())
    assert accuracy(params) > 0.9
    logits = make_predict(CFG, NUM_CLASSES)(params, x[:5])
    assert logits.shape == (5, NUM_CLASSES)


def test_same_key_same_params_other_key_other_params(fit, train) -> None:
    x, y = train
    a = fit(jax.random.key(0), x, y, ones())
    b = fit(jax.random.key(0), x, y, ones())
    c = fit(jax.random.key(1), x, y, ones())
    chex.assert_trees_all_equal(a, b)
    chex.assert_trees_all_equal_shapes(a, c)
    for leaf_a, leaf_c in zip(jax.tree.leaves(a), jax.tree.leaves(c), strict=True):
        assert not np.allclose(leaf_a, leaf_c)


def test_zero_weight_rows_are_never_trained_on(fit, train, accuracy) -> None:
    x, y = train
    # 60% of the rows get a wrong label: trained on, they would teach the wrong mapping.
    bad = np.random.default_rng(2).random(N) < 0.6
    y_bad = jnp.where(bad, (y + 1) % NUM_CLASSES, y)
    weight = jnp.asarray(~bad, jnp.float32)
    key = jax.random.key(3)

    masked = fit(key, x, y_bad, weight)
    assert accuracy(masked) > 0.9
    # The zero-weight rows' contents do not matter at all: any values give the same params.
    x_junk = jnp.where(bad[:, None, None], 100.0, x)
    y_junk = jnp.where(bad, (y + 2) % NUM_CLASSES, y)
    chex.assert_trees_all_equal(masked, fit(key, x_junk, y_junk, weight))
    # Control: with every row weighted, the wrong labels win.
    assert accuracy(fit(key, x, y_bad, ones())) < 0.5


def test_vmap_over_keys_and_weights_equals_one_by_one(fit, train) -> None:
    x, y = train
    keys = jax.random.split(jax.random.key(7), 2)
    weights = jnp.stack([ones(), jnp.asarray(np.arange(N) % 3 != 0, jnp.float32)])
    batched = jax.jit(jax.vmap(make_fit(CFG, NUM_CLASSES), in_axes=(0, None, None, 0)))
    stacked = batched(keys, x, y, weights)
    for i in range(2):
        one = fit(keys[i], x, y, weights[i])
        chex.assert_trees_all_close(jax.tree.map(lambda a, i=i: a[i], stacked), one, atol=1e-5)


def test_jitted_fit_compiles_once_for_the_same_shapes(fit, train) -> None:
    """Two calls with other values but the same shapes reuse one trace (and compilation).

    Run after the other tests, this also checks that none of them traced fit again.
    """
    x, y = train
    half = jnp.asarray(np.arange(N) % 2, jnp.float32)
    fit(jax.random.key(0), x, y, ones())
    fit(jax.random.key(1), x + 1.0, (y + 1) % NUM_CLASSES, half)
    assert TRACES == [(N, W, C)]
    # The counter does see new traces: another shape traces again (checked without compiling).
    jax.eval_shape(fit, jax.random.key(0), x[:100], y[:100], ones(100))
    assert TRACES == [(N, W, C), (100, W, C)]


STRONG = StrongConfig(features=(8, 8), kernels=(5, 3), pool=True, batch_size=32, max_steps=400,
                      eval_every=25, patience=2)  # fmt: skip


def test_augment_shifts_scales_and_jitters_only_as_asked(train) -> None:
    x, _ = train
    key = jax.random.key(0)
    np.testing.assert_array_equal(augment(key, x, shift=0, scale=0.0, jitter=0.0), x)
    shifted = np.asarray(augment(key, x[:8], shift=3, scale=0.0, jitter=0.0))
    padded = np.pad(np.asarray(x[:8]), ((0, 0), (3, 3), (0, 0)), mode="edge")
    offsets = [  # every row is the edge-padded window cropped at some offset in [0, 6]
        [o for o in range(7) if np.array_equal(padded[i, o : o + W], shifted[i])] for i in range(8)
    ]
    assert all(offsets) and len({o[0] for o in offsets}) > 1
    scaled = np.asarray(augment(key, x[:8], shift=0, scale=0.5, jitter=0.0))
    gain = scaled / np.asarray(x[:8])
    np.testing.assert_allclose(gain, gain[:, :1, :].repeat(W, axis=1), rtol=1e-4)  # per channel
    assert gain.std() > 0.1


def test_early_stopping_learns_and_stops_when_validation_stalls(train, test_set) -> None:
    x, y = train
    x_val, y_val = test_set
    fit = jax.jit(make_fit_early_stopping(STRONG, NUM_CLASSES))
    predict = make_predict_variables(STRONG, NUM_CLASSES)
    variables, info = fit(jax.random.key(0), x, y, ones(), x_val, y_val, ones(len(y_val)))
    assert float(info["val_accuracy"]) > 0.9
    hits = jnp.argmax(predict(variables, x_val), -1) == y_val
    assert float(jnp.mean(hits)) == pytest.approx(float(info["val_accuracy"]), abs=1e-5)
    # Labels that carry nothing: validation never improves for long, training stops early.
    noise = jnp.asarray(np.random.default_rng(5).integers(0, NUM_CLASSES, N), jnp.int32)
    _, stalled = fit(jax.random.key(0), x, noise, ones(), x_val, y_val, ones(len(y_val)))
    assert int(stalled["steps"]) < STRONG.max_steps
    assert int(stalled["steps"]) - int(stalled["best_step"]) == STRONG.patience * STRONG.eval_every
