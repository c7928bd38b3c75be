"""What evaluators share: the transforms, the splits, and attackers computed once.

Evaluators ask the context for predictions (``split, task, family, mode``) and
window features; each is computed the first time it is asked for and reused,
so e.g. the online-selection evaluator reuses the privacy evaluator's attackers.
"""

from __future__ import annotations

import dataclasses
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from eval.attackers import FAMILIES, MODES, cnn_attack, features_of, rf_attack
from eval.config import EvalConfig
from eval.splits import TASKS, EvalSplit
from eval.transforms import TransformSet


def _print(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclasses.dataclass
class EvalContext:
    """Everything one harness run evaluates, and its memoized attackers."""

    transforms: TransformSet
    splits: dict[str, EvalSplit]
    config: EvalConfig
    rate_hz: float
    seed: int = 0
    log: Callable[[str], None] = _print
    _predictions: dict[tuple, np.ndarray] = dataclasses.field(default_factory=dict)
    _features: dict[tuple, np.ndarray] = dataclasses.field(default_factory=dict)
    started: float = dataclasses.field(default_factory=time.perf_counter)
    planned_attacks: int = 0  # attacker sets the selected evaluators will ask for (for ETA)
    _attack_seconds: float = 0.0

    @contextmanager
    def step(self, what: str) -> Iterator[None]:
        """Log a long step with its duration and the harness's elapsed time."""
        t0 = time.perf_counter()
        self.log(f"  {what} ...")
        yield
        now = time.perf_counter()
        self.log(f"  {what}: {now - t0:.1f} s (elapsed {(now - self.started) / 60:.1f} min)")

    def features(self, split: str, side: str) -> np.ndarray:
        """Window features ``(V, N, D)`` of every transform's release on one side."""
        key = (split, side)
        if key not in self._features:
            s = self.splits[split]
            x = s.released_train if side == "train" else s.released_test
            with self.step(f"features of {x.shape[0]} x {x.shape[1]} windows ({split}, {side})"):
                self._features[key] = features_of(x, self.rate_hz, s.train.channels)
        return self._features[key]

    def predictions(self, split: str, task: str, family: str, mode: str) -> np.ndarray:
        """Predicted test labels ``(V, M)`` of ``family`` ``mode`` attackers for ``task``."""
        key = (split, task, family, mode)
        if key in self._predictions:
            return self._predictions[key]
        s = self.splits[split]
        y, valid, k = s.labels(task, "train")
        # Distinct per attacker set and reproducible (str hashes are salted per process).
        seed = self.seed + zlib.crc32("/".join(key).encode()) % 10_000
        fits = 1 if mode == "static" else len(self.transforms)
        t0 = time.perf_counter()
        with self.step(f"{fits} {family.upper()} {task} model(s), {mode}, {s.threat}"):
            if family == "cnn":
                pred = cnn_attack(
                    s.released_train, y, valid, s.released_test, k,
                    mode=mode, cfg=self.config.cnn, seed=seed,
                )  # fmt: skip
            else:
                pred = rf_attack(
                    self.features(split, "train"), y, valid, self.features(split, "test"),
                    mode=mode, cfg=self.config, seed=seed,
                )  # fmt: skip
        self._predictions[key] = pred
        self._attack_seconds += time.perf_counter() - t0
        done = len(self._predictions)
        if done < self.planned_attacks:
            left = self._attack_seconds / done * (self.planned_attacks - done)
            self.log(f"  attacker sets: {done}/{self.planned_attacks}, ~{left / 60:.1f} min left")
        return pred

    def plan_attacks(self, roles: set[str]) -> None:
        """Count the attacker sets evaluators of ``roles`` (utility, privacy) will need."""
        self.planned_attacks = sum(
            len(FAMILIES) * len(MODES)
            for split in self.splits.values()
            for task in split.tasks()
            if TASKS[task] in roles
        )

    def describe(self) -> dict[str, Any]:
        return {name: s.describe() for name, s in self.splits.items()}
