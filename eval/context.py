"""What evaluators share: the transforms, the splits, and attackers computed once.

Evaluators ask the context for predictions (``split, task, family, mode``) and
window features; each is computed the first time it is asked for and reused,
so e.g. the online-selection evaluator reuses the privacy evaluator's attackers.

A staged family (``strong``) is trained only for the transforms the staged plan
selects (:mod:`eval.attack_plan`); its predictions are ``UNJUDGED`` (-1) for the
others, and :meth:`EvalContext.judged` says which transforms it judged.
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

from eval import attack_plan
from eval.attackers import ALL_FAMILIES, MODES, REGISTRY, UNJUDGED, AttackData, features_of
from eval.config import EvalConfig
from eval.splits import KNOWN_USERS, TASKS, EvalSplit
from eval.strong_attacker import own_split
from eval.transforms import TransformSet


def _print(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _unseen_test_users(s: EvalSplit) -> bool:
    """No test user among the training users (held-out users, another dataset's)."""

    def names(w):
        return {w.subjects[i] for i in np.unique(w.subject)}

    return not names(s.train) & names(s.test)


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
    _data: dict[tuple, AttackData] = dataclasses.field(default_factory=dict)
    _plans: dict[tuple, dict[str, Any]] = dataclasses.field(default_factory=dict)
    info: dict[tuple, dict[str, Any]] = dataclasses.field(default_factory=dict)
    started: float = dataclasses.field(default_factory=time.perf_counter)
    planned_attacks: int = 0  # attacker sets the selected evaluators will ask for (for ETA)
    policies_planned: bool = False  # set when the online evaluator runs: cover its choices
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
        s = self.splits[split]
        if s.folds is not None:
            side = "test"  # a k-fold's two sides are the same windows
        key = (split, side)
        if key not in self._features:
            x = s.released_train if side == "train" else s.released_test
            with self.step(f"features of {x.shape[0]} x {x.shape[1]} windows ({split}, {side})"):
                if s.store is not None:  # each window's computed once for every split
                    rows = s.store_rows[side]
                    self._features[key] = s.store.features(rows, self.rate_hz, s.train.channels)
                else:
                    self._features[key] = features_of(x, self.rate_hz, s.train.channels)
        return self._features[key]

    def attack_data(self, split: str, task: str, fold: int = 0) -> AttackData:
        """What every family of ``(split, task)`` is fitted and tested on (for a user
        k-fold, fold ``fold``'s: the other folds' windows against this fold's)."""
        s = self.splits[split]
        whole = s.folds is None
        if (split, task, fold) not in self._data:
            train_rows, test_rows = s.fold_rows(fold)

            def rows(x: np.ndarray, r: np.ndarray) -> np.ndarray:
                return x if whole else x[:, r]

            y, valid, k = s.labels(task, "train")
            y, valid = y[train_rows], valid[train_rows]
            data = AttackData(
                rows(s.released_train, train_rows), y, valid,
                rows(s.released_test, test_rows), k,
                features=lambda side: rows(
                    self.features(split, side), train_rows if side == "train" else test_rows
                ),
                own_split=own_split(
                    s.train if whole else s.train.take(train_rows),
                    not whole or _unseen_test_users(s), y, valid,
                    fraction=self.config.strong.validation_fraction,
                    seed=self._seed(split, task, "validation", *([] if whole else [str(fold)])),
                ),
            )  # fmt: skip
            if not whole:
                return data  # a fold's rows are copies: made when asked, not kept
            self._data[(split, task, fold)] = data
        return self._data[(split, task, fold)]

    def tasks(self, split: str) -> tuple[str, ...]:
        """The tasks measured on ``split``: its own (:meth:`EvalSplit.tasks`), less gender
        on known users where the preset leaves it out (``known_users_gender``)."""
        tasks = self.splits[split].tasks()
        if split in KNOWN_USERS and not self.config.known_users_gender:
            return tuple(t for t in tasks if t != "gender")
        return tasks

    def _seed(self, *key: str) -> int:
        # Distinct per attacker set and reproducible (str hashes are salted per process).
        return self.seed + zlib.crc32("/".join(key).encode()) % 10_000

    def applies(self, family: str, task: str, mode: str) -> bool:
        """Whether ``family`` attacks ``task`` in ``mode`` at all (staged families: only
        for the preset's ``strong_roles`` and ``strong_modes``, and not with ``cheap``)."""
        cfg = self.config
        if not REGISTRY[family].staged:
            return True
        return (
            TASKS[task] in cfg.strong_roles and mode in cfg.strong_modes
            and cfg.attackers != "cheap"
        )  # fmt: skip

    def selected(self, split: str, task: str, family: str, mode: str) -> np.ndarray:
        """``(V,)`` bool: the transforms ``family`` is trained for (the staged plan)."""
        num = len(self.transforms.names)
        cfg = self.config
        if not REGISTRY[family].staged:
            return np.ones(num, bool)
        if not self.applies(family, task, mode):
            return np.zeros(num, bool)
        if cfg.attackers == "all" or mode == "static":  # static: one model on raw data
            return np.ones(num, bool)
        return self.plan(split, task)[0]

    def plan(self, split: str, task: str) -> tuple[np.ndarray, dict[str, Any]]:
        """The staged plan of ``(split, task)``: ``(selected_V, why)``."""
        if (split, task) not in self._plans:
            if self.config.attackers not in attack_plan.PLANS:
                raise ValueError(f"attackers must be one of {attack_plan.PLANS}")
            utility = self._cheap_best(split, "activity", utility=True)
            leakage = self._cheap_best(split, task, utility=False)
            policies = None
            if split == "subject" and task == "gender" and self.policies_planned:
                policies = self._policy_choices()
            y, valid, _ = self.splits[split].labels(task, "test")
            selected, why = attack_plan.staged_selection(
                len(self.transforms.names), utility, leakage, margin=self.config.front_margin,
                count=self.config.strong_transforms, policies=policies,
                ceiling=attack_plan.max_gap(attack_plan.chance_level(task, y[valid])),
                saturation=self.config.saturation,
            )  # fmt: skip
            self._plans[(split, task)] = {"selected": selected, "why": why}
        p = self._plans[(split, task)]
        return p["selected"], p["why"]

    def plans(self) -> dict[str, dict[str, Any]]:
        """Every staged plan made, by ``split/task`` (JSON-able)."""
        return {
            f"{s}/{t}": {"selected": [int(v) for v in np.flatnonzero(p["selected"])], **p["why"]}
            for (s, t), p in self._plans.items()
        }

    def _cheap_best(self, split: str, task: str, *, utility: bool) -> np.ndarray:
        """Per transform, the best cheap family's adaptive accuracy (utility) or privacy gap."""
        s = self.splits[split]
        y, valid, _ = s.labels(task, "test")
        chance = attack_plan.chance_level(task, y[valid])
        best = np.zeros(len(self.transforms.names))
        for family in (n for n in ALL_FAMILIES if not REGISTRY[n].staged):
            pred = self.predictions(split, task, family, "adaptive")[:, valid]
            acc = (pred == y[valid]).mean(axis=1)
            best = np.maximum(best, acc if utility else np.abs(acc - chance))
        return best

    def _policy_choices(self) -> dict[str, list[int]] | None:
        """The sanitizers DySan's online policies would release (as the online evaluator
        chooses them: against the cheap CNN, activity scored with the true labels)."""
        from eval.evaluators.online import SELECTOR, calibration_mask
        from jaxpriv import online

        if self.transforms.method != "dysan" or len(self.transforms.names) < 3:
            return None
        cfg, test = self.config, self.splits["subject"].test
        stream = ~calibration_mask(test, cfg.calibration_fraction) & (test.gender >= 0)
        chunk, chunk_user = online.chunk_ids(
            test.subject[stream], (test.recording * 10**7 + test.start)[stream], cfg.chunk
        )
        act = self.predictions("subject", "activity", SELECTOR, "adaptive")[1:, stream]
        gen = self.predictions("subject", "gender", SELECTOR, "adaptive")[1:, stream]
        return attack_plan.policy_sanitizers(
            act == test.activity[stream], gen == test.gender[stream], chunk, chunk_user,
            weights=(cfg.weight_activity, cfg.weight_gender), min_share=cfg.policy_min_share,
        )  # fmt: skip

    def judged(self, split: str, task: str, family: str, mode: str) -> np.ndarray:
        """``(V,)`` bool: the transforms ``family``'s predictions exist for."""
        return (self.predictions(split, task, family, mode) != UNJUDGED).any(axis=1)

    def predictions(self, split: str, task: str, family: str, mode: str) -> np.ndarray:
        """Predicted test labels ``(V, M)`` of ``family`` ``mode`` attackers for ``task``
        (``UNJUDGED`` rows for the transforms a staged family was not trained for)."""
        key = (split, task, family, mode)
        if key in self._predictions:
            return self._predictions[key]
        t0 = time.perf_counter()
        pred, infos = self._attack(key, self.selected(split, task, family, mode))
        self._predictions[key] = pred
        if infos:
            self.info[key] = infos
        self._attack_seconds += time.perf_counter() - t0
        done = len(self._predictions)
        if done < self.planned_attacks:
            left = self._attack_seconds / done * (self.planned_attacks - done)
            self.log(f"  attacker sets: {done}/{self.planned_attacks}, ~{left / 60:.1f} min left")
        return pred

    def _attack(self, key: tuple, selected: np.ndarray) -> tuple[np.ndarray, dict[str, Any]]:
        """One attacker set's predictions ``(V, M)`` for the ``selected`` transforms (per
        fold of a k-fold), and its training info."""
        split, task, family, mode = key
        s = self.splits[split]
        fits = int(selected.any()) if mode == "static" else int(selected.sum())
        folds = f" x {s.num_folds} folds" if s.folds is not None else ""
        pred = np.full((len(self.transforms.names), len(s.test)), UNJUDGED, np.int32)
        infos = {}
        with self.step(f"{fits}{folds} {family.upper()} {task} model(s), {mode}, {s.threat}"):
            for fold in range(s.num_folds):
                seed = self._seed(*key, *([str(fold)] if s.folds is not None else []))
                fold_pred, info = REGISTRY[family].attack(
                    self.attack_data(split, task, fold), selected, mode=mode, cfg=self.config,
                    seed=seed, execution=self.config.execution,
                )  # fmt: skip
                pred[:, s.fold_rows(fold)[1]] = fold_pred
                if info:
                    infos[f"fold {fold}"] = info
        return pred, (infos.get("fold 0", {}) if s.folds is None else infos)

    def judge_also(self, split: str, task: str, transforms: list[int]) -> list[int]:
        """Train the staged families' adaptive attackers also for ``transforms`` (those a
        table shows, chosen after the plan was made), where they apply and were not trained;
        returns the transforms added. Their predictions join the cached ones, and the plan
        lists them under ``"shown"``."""
        added: list[int] = []
        for family in (n for n in ALL_FAMILIES if REGISTRY[n].staged):
            if not self.applies(family, task, "adaptive"):
                continue
            key = (split, task, family, "adaptive")
            pred = self.predictions(*key)
            missing = [v for v in transforms if (pred[v] == UNJUDGED).all()]
            if not missing:
                continue
            selected = np.zeros(len(self.transforms.names), bool)
            selected[missing] = True
            more, infos = self._attack(key, selected)
            pred[missing] = more[missing]
            if infos:
                self.info[(*key, "shown")] = infos
            if (split, task) in self._plans:
                plan = self._plans[(split, task)]
                plan["selected"][missing] = True
                plan["why"]["shown"] = sorted(set(plan["why"].get("shown", [])) | set(missing))
            added += [v for v in missing if v not in added]
        return added

    def plan_attacks(self, evaluators: set[str]) -> None:
        """Count the attacker sets the selected evaluators will need (for the ETA); the
        online policies are covered by the plan only when the online evaluator runs."""
        roles = {"utility", "privacy"} & evaluators
        self.policies_planned = "online" in evaluators
        self.planned_attacks = sum(
            1
            for split in self.splits
            for task in self.tasks(split)
            for family in ALL_FAMILIES
            for mode in MODES
            if TASKS[task] in roles and self.applies(family, task, mode)
        )

    def describe(self) -> dict[str, Any]:
        return {
            name: {**s.describe(), "tasks": list(self.tasks(name))}
            for name, s in self.splits.items()
        }
