"""Static vs adaptive attackers mean what they say, for both families, on a crisp case.

Class = the sign of channel 0's mean. ``negate`` keeps the information but flips
it: a static attacker (trained on raw) is then always wrong, an adaptive one
(retrained on the release) always right. ``erase`` removes it: both at chance.
"""

from __future__ import annotations

import numpy as np
import pytest

from eval.attackers import class_weights, cnn_attack, features_of, rf_attack
from eval.config import PRESETS

CFG = PRESETS["test"]
CHANNELS = ("a.x", "a.y", "a.z")


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(0, 0.3, (n, 32, 3)).astype(np.float32)
    x[:, :, 0] += np.where(y == 1, 1.0, -1.0)[:, None]
    return x, y.astype(np.int32)


def _released(x: np.ndarray) -> np.ndarray:
    negate = x.copy()
    negate[:, :, 0] *= -1
    erase = np.random.default_rng(9).normal(0, 0.3, x.shape).astype(np.float32)
    return np.stack([x, negate, erase])


@pytest.fixture(scope="module")
def data():
    x_train, y_train = _data(400, 0)
    x_test, y_test = _data(200, 1)
    return _released(x_train), y_train, _released(x_test), y_test


@pytest.mark.parametrize("family", ["cnn", "rf"])
def test_static_and_adaptive_attackers(data, family) -> None:
    x_train, y_train, x_test, y_test = data
    mask = np.ones(len(y_train), bool)
    acc = {}
    for mode in ("static", "adaptive"):
        if family == "cnn":
            pred = cnn_attack(x_train, y_train, mask, x_test, 2, mode=mode, cfg=CFG.cnn, seed=0)
        else:
            f_train = features_of(x_train, 50.0, CHANNELS)
            f_test = features_of(x_test, 50.0, CHANNELS)
            pred = rf_attack(f_train, y_train, mask, f_test, mode=mode, cfg=CFG, seed=0)
        assert pred.shape == (3, len(y_test))
        acc[mode] = (pred == y_test).mean(axis=1)
    raw, negate, erase = 0, 1, 2
    assert acc["static"][raw] > 0.95 and acc["adaptive"][raw] > 0.95
    assert acc["static"][negate] < 0.05  # the raw model reads the flipped sign
    assert acc["adaptive"][negate] > 0.95  # a retrained one undoes the flip
    assert abs(acc["adaptive"][erase] - 0.5) < 0.15


def test_masked_rows_never_train_the_cnn(data) -> None:
    x_train, y_train, x_test, y_test = data
    # Mislabel half the rows but mask them out: the attacker must be unaffected.
    y_bad = y_train.copy()
    y_bad[::2] = 1 - y_bad[::2]
    mask = np.ones(len(y_train), bool)
    mask[::2] = False
    pred = cnn_attack(x_train[:1], y_bad, mask, x_test[:1], 2, mode="adaptive", cfg=CFG.cnn, seed=0)
    assert (pred[0] == y_test).mean() > 0.95


def test_class_weights_balance_classes_and_zero_masked_rows() -> None:
    y = np.array([0, 0, 0, 1, 2, 2])
    mask = np.array([True, True, True, True, True, False])
    w = class_weights(y, mask, 3)
    assert w[5] == 0
    np.testing.assert_allclose([w[y == 0].sum(), w[3], w[4]], [1.0, 1.0, 1.0])


def test_unknown_mode_is_an_error(data) -> None:
    x_train, y_train, x_test, _ = data
    with pytest.raises(ValueError, match="mode"):
        cnn_attack(x_train, y_train, np.ones(len(y_train), bool), x_test, 2, mode="x",
                   cfg=CFG.cnn, seed=0)  # fmt: skip
