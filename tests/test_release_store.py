"""The release store: every window of a dataset released and featurised once, shared by
the splits cut from it, and the same window released the same way in each."""

from __future__ import annotations

import numpy as np

from eval.attackers import features_of
from eval.release_store import ReleaseStore
from jaxpriv.data.windows import Windows


class CountingTransforms:
    """Raw plus one noisy "variant"; counts the windows it is asked to release."""

    names = ("raw", "noisy")

    def __init__(self) -> None:
        self.released_windows = 0

    def release(self, x, attributes, activity, seed):
        self.released_windows += len(x)
        noise = np.random.default_rng(seed).normal(size=x.shape).astype(np.float32)
        return np.stack([x, x + noise])


def _windows(n: int = 30, seed: int = 0) -> Windows:
    rng = np.random.default_rng(seed)
    return Windows(
        x=rng.normal(size=(n, 32, 2)).astype(np.float32), activity=np.arange(n) % 3,
        subject=np.arange(n) % 5, gender=np.arange(n) % 2, trial=np.zeros(n),
        recording=np.arange(n) % 5, start=np.arange(n) * 32,
        attributes=np.full((n, 3), np.nan), activities=("a", "b", "c"),
        subjects=tuple("uvwxy"), trials=("1",), channels=("x", "y"), rate_hz=50.0,
        window=32, stride=32,
    )  # fmt: skip


def test_splits_of_one_dataset_release_each_window_once() -> None:
    win, transforms = _windows(), CountingTransforms()
    store = ReleaseStore(transforms, win, seed=3)
    assert transforms.released_windows == len(win)
    # Two splits dealing the same windows differently: nothing is released again, and a
    # window's release is the same whichever split (and side) holds it.
    first, second = np.arange(0, 30, 3), np.setdiff1d(np.arange(30), np.arange(0, 30, 3))
    rows_a, rows_b = store.rows(win.take(first)), store.rows(win.take(second))
    assert transforms.released_windows == len(win)
    np.testing.assert_array_equal(rows_a, first)
    np.testing.assert_array_equal(store.take(rows_b)[1], store.released[1][second])
    # Every row in order is the store itself (the k-fold's two sides): no copy.
    assert store.take(store.rows(win)) is store.released


def test_new_windows_are_released_once_and_kept() -> None:
    win, transforms = _windows(), CountingTransforms()
    store = ReleaseStore(transforms, win, seed=3)
    other = _windows(n=8, seed=1)  # windows the store does not hold (e.g. the time split)
    rows = store.rows(other)
    assert transforms.released_windows == 30 + 8
    np.testing.assert_array_equal(rows, np.arange(30, 38))
    np.testing.assert_array_equal(store.take(rows)[0], other.x)
    store.rows(other)
    assert transforms.released_windows == 38


def test_features_are_those_of_the_releases_computed_once() -> None:
    win = _windows()
    store = ReleaseStore(CountingTransforms(), win, seed=3)
    rows = np.array([5, 1, 7])
    expected = features_of(store.take(rows), win.rate_hz, win.channels)
    np.testing.assert_allclose(store.features(rows, win.rate_hz, win.channels), expected)
    computed = store._features
    store.features(np.array([2]), win.rate_hz, win.channels)
    assert store._features is computed  # nothing recomputed
    later = store.rows(_windows(n=4, seed=2))  # added rows are featurised when asked for
    np.testing.assert_allclose(
        store.features(later, win.rate_hz, win.channels),
        features_of(store.take(later), win.rate_hz, win.channels),
    )
