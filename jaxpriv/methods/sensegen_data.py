"""SenseGen's prepared data: standardised windows and what undoes the standardisation.

:func:`jaxpriv.methods.sensegen.prepare_sensegen_data` builds :class:`SenseGenData`
from a dataset through the task pipeline (:mod:`jaxpriv.data.task`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxpriv.data.scaling import Scaler


@dataclasses.dataclass(frozen=True)
class SenseGenData:
    """Standardised training and held-out windows, plus what is needed to redo or undo it.

    ``train`` / ``test`` hold ``x (N, W, D)`` float32 standardised with the
    training windows' per-channel mean and std (``scaler``), ``activity (N,)``
    int32 and ``attributes (N, 3)`` float32 (height, weight, age standardised
    with training statistics; 0 where unknown).
    """

    train: dict[str, np.ndarray]
    test: dict[str, np.ndarray]
    scaler: Scaler
    attribute_mean: np.ndarray
    attribute_std: np.ndarray
    activities: tuple[str, ...]
    channels: tuple[str, ...]
    rate_hz: float
    window: int
    stride: int
    split: str
    test_subjects: tuple[str, ...]
    # (name in the data, name in the task), as the other methods' prepared data carry it
    activity_map: tuple[tuple[str, str], ...] = ()

    def describe(self) -> dict[str, Any]:
        """JSON-able facts stored in checkpoints: enough to de-standardise samples."""
        counts = np.bincount(self.train["activity"], minlength=len(self.activities))
        return {
            "channels": list(self.channels),
            "activities": list(self.activities),
            "activity_map": [list(pair) for pair in self.activity_map],
            "activity_counts": counts.tolist(),
            "rate_hz": float(self.rate_hz),
            "window": self.window,
            "stride": self.stride,
            "split": self.split,
            "test_subjects": list(self.test_subjects),
            "train_windows": int(self.train["x"].shape[0]),
            "test_windows": int(self.test["x"].shape[0]),
            "scaler": self.scaler.to_json(),
            "attribute_mean": self.attribute_mean.tolist(),
            "attribute_std": self.attribute_std.tolist(),
        }
