"""``utility`` (activity) and ``privacy`` (gender, identity) evaluators.

For every split, task, attacker family (CNN, RF) and mode (static, adaptive),
and for every transform: accuracy, balanced accuracy, macro-F1, the privacy
gap |accuracy - chance|, and per-user accuracies (vmapped over users) with a
bootstrap confidence interval over users. A ``strongest`` row per transform
and mode keeps the family with the higher accuracy: for privacy that is the
attacker to fear, for utility the best model the app could use.

Chance is 1/2 for gender (the slides' |P(correct) - 1/2|), and the majority
class's share of the test windows for activity and identity (what a constant
guess scores).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from eval.attackers import FAMILIES, MODES
from eval.context import EvalContext
from eval.evaluators import register
from eval.splits import TASKS
from jaxpriv import metrics


def chance_level(task: str, y_N: np.ndarray) -> float:
    """The accuracy of a guess that ignores the data."""
    if task == "gender":
        return 0.5
    return float(np.bincount(y_N).max() / len(y_N)) if len(y_N) else float("nan")


def score(
    y_true_N: np.ndarray,
    y_pred_N: np.ndarray,
    user_N: np.ndarray,
    num_classes: int,
    chance: float,
    key: jax.Array,
    num_resamples: int,
) -> dict[str, Any]:
    """Pooled metrics, per-user accuracies and their bootstrap CI for one model."""
    pooled = metrics.classification_metrics(y_true_N, y_pred_N, num_classes)
    users = metrics.per_group(y_true_N, y_pred_N, user_N, num_classes)
    ci = metrics.bootstrap_ci(users["accuracy"], key, num_resamples=num_resamples)
    accuracy = float(pooled["accuracy"])
    return {
        "accuracy": accuracy,
        "balanced_accuracy": float(pooled["balanced_accuracy"]),
        "macro_f1": float(pooled["macro_f1"]),
        "chance": chance,
        "gap": abs(accuracy - chance),
        "windows": len(y_true_N),
        "users": int(ci["n"]),
        "per_user": {
            "users": [int(u) for u in users["group"]],
            "accuracy": [float(a) for a in users["accuracy"]],
        },
        "ci": {k: float(ci[k]) for k in ("mean", "low", "high")},
    }


def attack_records(ctx: EvalContext, role: str) -> list[dict[str, Any]]:
    """One record per (split, task of ``role``, family + "strongest", mode, transform)."""
    records = []
    key = jax.random.key(ctx.seed)
    for split_name, split in ctx.splits.items():
        user_names = split.test.subjects
        for task in split.tasks():
            if TASKS[task] != role:
                continue
            y, valid, k = split.labels(task, "test")
            y, user = y[valid], split.test.subject[valid]
            chance = chance_level(task, y)
            for mode in MODES:
                best: dict[int, dict[str, Any]] = {}
                for family in FAMILIES:
                    pred = ctx.predictions(split_name, task, family, mode)[:, valid]
                    for v, name in enumerate(ctx.transforms.names):
                        key, sub = jax.random.split(key)
                        rec = {
                            "split": split_name,
                            "threat": split.threat,
                            "task": task,
                            "role": role,
                            "family": family,
                            "mode": mode,
                            "transform": name,
                            **score(y, pred[v], user, k, chance, sub, ctx.config.bootstrap),
                        }
                        rec["per_user"]["users"] = [user_names[u] for u in rec["per_user"]["users"]]
                        records.append(rec)
                        if v not in best or rec["accuracy"] > best[v]["accuracy"]:
                            best[v] = rec
                records += [
                    {**rec, "family": "strongest", "attacker": rec["family"]}
                    for _, rec in sorted(best.items())
                ]
    return records


@register("utility")
def utility(ctx: EvalContext) -> dict[str, Any]:
    """Activity recognition: the app's model trained on raw data, and one retrained on releases."""
    return {"records": attack_records(ctx, "utility")}


@register("privacy")
def privacy(ctx: EvalContext) -> dict[str, Any]:
    """Gender (and, on known users, identity) inference by static and adaptive attackers."""
    return {"records": attack_records(ctx, "privacy")}


def find(records: list[dict[str, Any]], **where: Any) -> list[dict[str, Any]]:
    """The records matching every ``field=value`` in ``where``."""
    return [r for r in records if all(r.get(k) == v for k, v in where.items())]


def attack_records_of(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every utility and privacy record of a harness run's results."""
    return [r for name in ("utility", "privacy") for r in results.get(name, {}).get("records", [])]
