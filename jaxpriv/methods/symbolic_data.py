"""The prepared data of a symbolic-generator run: token rows and their container.

A sequence is one start token (the activity, or the generic start token of tabular
data) followed by the symbols of a window time-major and channel-interleaved, or of a
row's features (:func:`token_rows`). :class:`SymbolicData` holds the token arrays for
training and held-out NLL, the quantizer and the raw values, and describes itself for
checkpoints. :func:`jaxpriv.methods.symbolic.prepare_windows` and ``prepare_tabular``
build it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxpriv.quantize import Quantizer


@dataclasses.dataclass(frozen=True, eq=False)
class SymbolicData:
    """Token arrays for training and held-out NLL, the quantizer, and the raw values."""

    kind: str  # "windows" | "tabular"
    train: dict[str, np.ndarray]  # tokens (N, L + 1) int32, valid (S, V) bool
    test: dict[str, np.ndarray]
    quantizer: Quantizer
    train_values: np.ndarray  # (N, T, S) raw units
    test_values: np.ndarray
    train_activity: np.ndarray  # (N,) int32 (zeros for tabular)
    test_activity: np.ndarray
    activities: tuple[str, ...]
    activity_prior: np.ndarray  # (A,) training frequencies (empty for tabular)
    names: tuple[str, ...]  # channels or feature names
    rate_hz: float | None
    split: str
    test_subjects: tuple[str, ...] = ()
    source: dict[str, Any] = dataclasses.field(default_factory=dict)

    def describe(self) -> dict[str, Any]:
        """JSON-able facts stored in checkpoints: enough to decode and label samples."""
        steps, slots = self.train_values.shape[1:]
        return {
            "kind": self.kind,
            "quantizer": self.quantizer.to_json(),
            "layout": {
                "steps": int(steps),
                "slots": int(slots),
                "order": "time-major, channel-interleaved, after one start token",
            },
            "activities": list(self.activities),
            "activity_prior": [float(p) for p in self.activity_prior],
            "channels": list(self.names) if self.kind == "windows" else [],
            "feature_names": list(self.names) if self.kind == "tabular" else [],
            "rate_hz": self.rate_hz,
            "split": self.split,
            "test_subjects": list(self.test_subjects),
            "train_sequences": len(self.train_values),
            "test_sequences": len(self.test_values),
            **self.source,
        }


def token_rows(symbols_NxTxS: np.ndarray, start_N: np.ndarray) -> np.ndarray:
    n = symbols_NxTxS.shape[0]
    flat = symbols_NxTxS.reshape(n, -1)
    return np.concatenate([start_N[:, None], flat], axis=1).astype(np.int32)
