"""``utility`` (activity) and ``privacy`` (gender, identity) evaluators.

For every split, task, attacker family (CNN, RF, and the staged strong family
where the plan trained it) and mode (static, adaptive), and for every transform
a family judged: accuracy, balanced accuracy, macro-F1, the privacy gap
|accuracy - chance|, and per-user accuracies (vmapped over users) with a
bootstrap confidence interval over users. A ``strongest`` row per transform and
mode keeps the family with the higher accuracy (``attacker``) and lists the
families that judged it (``judged_by``; ``cheap_only`` when the strong family
applied to the task but was not trained for the transform): for privacy that
is the attacker to fear, for utility the best model the app could use.

Attacker strength: each family's accuracy on the raw data (``strength``), and a
warning when an adaptive privacy verdict was decided by families all more than
``weak_margin`` below the best family on raw data (too weak to judge it).

Chance is 1/2 for gender (the slides' |P(correct) - 1/2|), and the majority
class's share of the test windows for activity and identity (what a constant
guess scores).
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np

from eval.attack_plan import chance_level
from eval.attackers import ALL_FAMILIES, MODES, REGISTRY
from eval.context import EvalContext
from eval.evaluators import register
from eval.splits import TASKS
from eval.transforms import RAW
from jaxpriv import metrics

__all__ = ["attack_records", "chance_level", "find", "strength", "strongest", "weak_verdicts"]


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
    """One record per (split, task of ``role``, family + "strongest", mode, judged transform)."""
    records = []
    key = jax.random.key(ctx.seed)
    for split_name, split in ctx.splits.items():
        user_names = split.test.subjects
        for task in ctx.tasks(split_name):
            if TASKS[task] != role:
                continue
            y, valid, k = split.labels(task, "test")
            y, user = y[valid], split.test.subject[valid]
            chance = chance_level(task, y)
            for mode in MODES:
                families = [f for f in ALL_FAMILIES if ctx.applies(f, task, mode)]
                per_family: dict[str, dict[int, dict[str, Any]]] = {}
                for family in families:
                    pred = ctx.predictions(split_name, task, family, mode)[:, valid]
                    judged = ctx.judged(split_name, task, family, mode)
                    for v, name in enumerate(ctx.transforms.names):
                        if not judged[v]:
                            continue
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
                        per_family.setdefault(family, {})[v] = rec
                staged = [f for f in families if REGISTRY[f].staged]
                best = strongest(per_family, staged)
                records += [{**best[v], "family": "strongest"} for v in sorted(best)]
    return records


def strongest(
    per_family: dict[str, dict[Any, dict[str, Any]]], staged: list[str]
) -> dict[Any, dict[str, Any]]:
    """The ``strongest`` rule, everywhere a figure is read: per key (a transform), the
    record of the family with the highest ``accuracy`` among the families that judged it
    (``per_family[f]`` holds only what ``f`` judged; the first family in order wins a
    tie), with ``attacker`` (that family), ``judged_by`` and ``cheap_only`` (a family of
    ``staged`` applied but did not judge it)."""
    best: dict[Any, dict[str, Any]] = {}
    judged_by: dict[Any, list[str]] = {}
    for family, judged in per_family.items():
        for key, rec in judged.items():
            judged_by.setdefault(key, []).append(family)
            if key not in best or rec["accuracy"] > best[key]["accuracy"]:
                best[key] = {**rec, "attacker": family}
    for key, rec in best.items():
        rec["judged_by"] = judged_by[key]
        rec["cheap_only"] = any(f not in judged_by[key] for f in staged)
    return best


def strength(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each family's accuracy on the raw data per (split, task, mode), against the best."""
    rows = []
    for split, task, mode in sorted({(r["split"], r["task"], r["mode"]) for r in records}):
        raw = {
            r["family"]: r["accuracy"]
            for r in find(records, split=split, task=task, mode=mode, transform=RAW)
            if r["family"] != "strongest"
        }
        if not raw:
            continue
        top = max(raw, key=raw.get)
        rows += [
            {"split": split, "task": task, "mode": mode, "family": f, "raw_accuracy": acc,
             "best_family": top, "below_best": raw[top] - acc}
            for f, acc in raw.items()
        ]  # fmt: skip
    return rows


def weak_verdicts(records: list[dict[str, Any]], margin: float) -> list[dict[str, Any]]:
    """Adaptive privacy verdicts that families too weak to judge decided: every family that
    judged the transform is more than ``margin`` below the best family on raw data.

    (When a stronger family judged the transform too and lost to a weaker one on the
    release, the verdict already includes the stronger family: no warning.)"""
    raw = {(s["split"], s["task"], s["mode"], s["family"]): s for s in strength(records)}
    found: dict[tuple, dict[str, Any]] = {}
    for r in records:
        if r["family"] != "strongest" or r["mode"] != "adaptive" or r["role"] != "privacy":
            continue
        here = [raw.get((r["split"], r["task"], "adaptive", f)) for f in r["judged_by"]]
        if not here or any(h is None for h in here):
            continue
        strongest_here = max(h["raw_accuracy"] for h in here)
        gap = here[0]["raw_accuracy"] + here[0]["below_best"] - strongest_here
        if gap <= margin:
            continue
        decider = raw[(r["split"], r["task"], "adaptive", r["attacker"])]
        k = (r["split"], r["task"], r["attacker"])
        w = found.setdefault(k, {
            "split": r["split"], "threat": r["threat"], "task": r["task"],
            "decided_by": r["attacker"], "best_family": decider["best_family"],
            "decider_raw": decider["raw_accuracy"],
            "best_raw": decider["raw_accuracy"] + decider["below_best"], "transforms": [],
        })  # fmt: skip
        w["transforms"].append(r["transform"])
    return list(found.values())


def describe_weak(w: dict[str, Any]) -> str:
    """One warning line for :func:`weak_verdicts`' entry."""
    names = w["transforms"]
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return (
        f"{w['task']} on {w['threat']} (split {w['split']}): {len(names)} verdict(s) decided "
        f"by {w['decided_by']}, {100 * (w['best_raw'] - w['decider_raw']):.1f} points below "
        f"{w['best_family']} on raw data ({100 * w['decider_raw']:.1f}% vs "
        f"{100 * w['best_raw']:.1f}%): too weak to judge {shown}"
    )


def _result(ctx: EvalContext, role: str) -> dict[str, Any]:
    records = attack_records(ctx, role)
    out: dict[str, Any] = {"records": records, "strength": strength(records)}
    if role == "privacy":
        weak = weak_verdicts(records, ctx.config.weak_margin)
        out["weak_verdicts"] = weak
        out["warnings"] = [describe_weak(w) for w in weak]
        out["plans"] = ctx.plans()
        out["training"] = {"/".join(k): v for k, v in ctx.info.items() if TASKS[k[1]] == role}
        for line in out["warnings"]:
            ctx.log(f"  warning: {line}")
    return out


@register("utility")
def utility(ctx: EvalContext) -> dict[str, Any]:
    """Activity recognition: the app's model trained on raw data, and one retrained on releases."""
    return _result(ctx, "utility")


@register("privacy")
def privacy(ctx: EvalContext) -> dict[str, Any]:
    """Gender (and, on known users, identity) inference by static and adaptive attackers."""
    return _result(ctx, "privacy")


def find(records: list[dict[str, Any]], **where: Any) -> list[dict[str, Any]]:
    """The records matching every ``field=value`` in ``where``."""
    return [r for r in records if all(r.get(k) == v for k, v in where.items())]


def attack_records_of(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every utility and privacy record of a harness run's results."""
    return [r for name in ("utility", "privacy") for r in results.get(name, {}).get("records", [])]
