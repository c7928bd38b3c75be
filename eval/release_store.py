"""Every window of a dataset released, and featurised, once per evaluation.

The subject, trial and k-fold splits of one dataset hold the same windows dealt
differently (whole recordings go to one side), so releasing each split's sides
separately released every window once per split: for the main job's 36 light
sanitizers, 4.5 s per 1,000 windows on 2 CPU cores, 28 s per split, and as
long again for the random forests' features. A :class:`ReleaseStore` releases
the dataset's windows once, with one seed, and a split takes its rows by
content (the raw window, its attributes and its activity: all a release depends
on), so a window is released the same way in every split. Windows it does not
hold (the time split cuts recordings, so its windows start elsewhere) are
released when first asked for and kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

from eval.attackers import features_of
from eval.transforms import TransformSet
from jaxpriv.data.windows import Windows


def _row_keys(win: Windows) -> list[bytes]:
    """A content key per window: what its release depends on."""
    activity = win.activity.astype(np.int32)
    return [
        hashlib.blake2b(
            win.x[i].tobytes() + win.attributes[i].tobytes() + activity[i].tobytes(),
            digest_size=16,
        ).digest()
        for i in range(len(win))
    ]


class ReleaseStore:
    """The releases ``(V, N, W, C)`` of every window added, each released once."""

    def __init__(self, transforms: TransformSet, windows: Windows, seed: int) -> None:
        self.transforms, self.seed = transforms, seed
        self.released = np.empty((len(transforms.names), 0, windows.window, len(windows.channels)),
                                 np.float32)  # fmt: skip
        self._row: dict[bytes, int] = {}
        self._additions = 0
        self._features: np.ndarray | None = None  # (V, rows featurised so far, D)
        self.rows(windows)

    def rows(self, win: Windows) -> np.ndarray:
        """``(N,)`` the store's row of each of ``win``'s windows, releasing the new ones."""
        keys = _row_keys(win)
        new: list[int] = []
        for i, k in enumerate(keys):
            if k not in self._row:
                self._row[k] = self.released.shape[1] + len(new)
                new.append(i)
        if new:
            new_rows = np.asarray(new)
            # The first batch is released with the seed itself, later ones with their own.
            fresh = self.transforms.release(
                win.x[new_rows], win.attributes[new_rows], win.activity[new_rows],
                self.seed + 7919 * self._additions,
            )  # fmt: skip
            self._additions += 1
            self.released = np.concatenate([self.released, fresh], axis=1)
        return np.array([self._row[k] for k in keys], np.int64)

    def take(self, rows: np.ndarray) -> np.ndarray:
        """The releases ``(V, len(rows), W, C)`` at ``rows`` (the store itself when
        ``rows`` is every row in order: no copy)."""
        if len(rows) == self.released.shape[1] and np.array_equal(rows, np.arange(len(rows))):
            return self.released
        return self.released[:, rows]

    def features(self, rows: np.ndarray, rate_hz: float, channels: Sequence[str]) -> np.ndarray:
        """Hand-crafted features ``(V, len(rows), D)`` of the releases at ``rows``; each
        row's computed once."""
        done = 0 if self._features is None else self._features.shape[1]
        total = self.released.shape[1]
        if done < total:
            fresh = features_of(self.released[:, done:], rate_hz, channels)
            self._features = fresh if self._features is None else np.concatenate(
                [self._features, fresh], axis=1
            )  # fmt: skip
        return self._features[:, rows]
