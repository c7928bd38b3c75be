"""Scalers: exact ranges on train, train-only statistics, round trips, JSON, jax arrays."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpriv.data.scaling import Scaler, fit_minmax, fit_scaler, fit_standard


@pytest.fixture
def train_NxWxC() -> np.ndarray:  # noqa: N802 (shape-suffixed name)
    rng = np.random.default_rng(0)
    # Channels on very different scales, like rotation rates vs accelerations.
    return (rng.normal(size=(40, 25, 3)) * [0.1, 3.0, 50.0] + [0.0, -2.0, 9.8]).astype(np.float32)


def test_minmax_maps_train_to_exactly_minus_one_one(train_NxWxC: np.ndarray) -> None:
    scaler = fit_minmax(train_NxWxC, channels=("a", "b", "c"))
    y = scaler.apply(train_NxWxC)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.min(axis=(0, 1)), -1.0, atol=1e-6)
    np.testing.assert_allclose(y.max(axis=(0, 1)), 1.0, atol=1e-6)
    np.testing.assert_allclose(scaler.invert(y), train_NxWxC, rtol=1e-5, atol=1e-5)


def test_scaler_uses_train_statistics_on_test(train_NxWxC: np.ndarray) -> None:
    scaler = fit_minmax(train_NxWxC)
    test = train_NxWxC[:2] * 2.0 + 100.0  # far outside the training range
    y = scaler.apply(test)
    assert y.max() > 1.0  # not refitted to [-1, 1] on the test data
    expected = (test - train_NxWxC.min((0, 1))) / np.ptp(train_NxWxC, (0, 1)) * 2 - 1
    np.testing.assert_allclose(y, expected, rtol=1e-4)


def test_standard_zero_mean_unit_std_and_round_trip(train_NxWxC: np.ndarray) -> None:
    x = train_NxWxC.astype(np.float64)
    scaler = fit_standard(x)
    y = scaler.apply(x)
    np.testing.assert_allclose(y.mean(axis=(0, 1)), 0.0, atol=1e-12)
    np.testing.assert_allclose(y.std(axis=(0, 1)), 1.0, atol=1e-12)
    np.testing.assert_allclose(scaler.invert(y), x, rtol=1e-12, atol=1e-12)


def test_constant_channel_gets_unit_scale() -> None:
    x = np.stack([np.linspace(0, 1, 10), np.full(10, 7.0)], axis=1)[None]
    for fit in (fit_minmax, fit_standard):
        scaler = fit(x)
        assert scaler.scale[1] == 1.0
        y = scaler.apply(x)
        np.testing.assert_array_equal(y[..., 1], 0.0)  # centre of the target range
        np.testing.assert_allclose(scaler.invert(y), x)


def test_json_round_trip(train_NxWxC: np.ndarray) -> None:
    scaler = fit_standard(train_NxWxC, channels=("a", "b", "c"))
    restored = Scaler.from_json(json.loads(json.dumps(scaler.to_json())))
    assert restored.kind == "standard" and restored.channels == ("a", "b", "c")
    np.testing.assert_array_equal(restored.offset, scaler.offset)
    np.testing.assert_array_equal(restored.scale, scaler.scale)
    np.testing.assert_array_equal(restored.apply(train_NxWxC), scaler.apply(train_NxWxC))
    with pytest.raises(ValueError, match="lacks"):
        Scaler.from_json({"kind": "standard", "offset": [0.0]})


def test_apply_on_jax_arrays_under_jit(train_NxWxC: np.ndarray) -> None:
    scaler = fit_minmax(train_NxWxC)
    y = jax.jit(scaler.apply)(jnp.asarray(train_NxWxC))
    assert isinstance(y, jax.Array) and y.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(y), scaler.apply(train_NxWxC), rtol=1e-6, atol=1e-6)
    back = jax.jit(scaler.invert)(y)
    np.testing.assert_allclose(np.asarray(back), train_NxWxC, rtol=1e-5, atol=1e-5)


def test_fit_scaler_by_name_and_errors(train_NxWxC: np.ndarray) -> None:
    assert fit_scaler("minmax", train_NxWxC).kind == "minmax"
    assert fit_scaler("standard", train_NxWxC).kind == "standard"
    identity = fit_scaler("none", train_NxWxC)
    np.testing.assert_array_equal(identity.apply(train_NxWxC), train_NxWxC)
    with pytest.raises(ValueError, match="unknown scaler kind"):
        fit_scaler("robust", train_NxWxC)
    with pytest.raises(ValueError, match="fitted on 3 channels"):
        identity.apply(train_NxWxC[..., :2])
    with pytest.raises(ValueError, match="NaN"):
        fit_minmax(np.array([[[np.nan, 1.0]]]))
