"""The report's figures, from the evaluators' results (drawing is in :mod:`eval.figures`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eval import figures
from eval.attackers import ALL_FAMILIES
from eval.context import EvalContext
from eval.evaluators.attacks import attack_records_of, find
from eval.evaluators.online import STRONGEST
from eval.transforms import RAW

MAX_SHOWN = 3  # sanitizers drawn in the trace, distortion and attacker figures


def _best(records: list[dict], **where: Any) -> dict[str, dict]:
    return {r["transform"]: r for r in find(records, family="strongest", split="subject", **where)}


def representatives(ctx: EvalContext, results: dict[str, Any]) -> list[str]:
    """A few variants worth drawing: the most private, the most useful, the least distorted."""
    names = list(ctx.transforms.names[1:])
    if len(names) <= MAX_SHOWN:
        return names
    records = attack_records_of(results)
    gender = _best(records, task="gender", mode="adaptive")
    activity = _best(records, task="activity", mode="adaptive")
    mse = results.get("distortion", {}).get("per_transform", {})
    picks: list[str] = []
    for rank in (
        (lambda n: abs(gender[n]["accuracy"] - 0.5)) if gender else None,
        (lambda n: -activity[n]["accuracy"]) if activity else None,
        (lambda n: mse[n]["mse"]) if mse else None,
    ):
        if rank is None:
            continue
        for name in sorted(names, key=rank):
            if name not in picks:
                picks.append(name)
                break
    return picks or names[:MAX_SHOWN]


def make_figures(ctx: EvalContext, results: dict[str, Any], out: Path) -> list[Path]:
    """Write every figure the results support into ``out``; return their paths."""
    records = attack_records_of(results)
    paths = []
    shown = representatives(ctx, results)
    gender = _best(records, task="gender", mode="adaptive")
    activity = _best(records, task="activity", mode="adaptive")
    # The policies' streams as the strongest attacker judged them (the family that decided
    # most of each stream in its label).
    policies = [
        p for p in results.get("online", {}).get("policies", []) if p["attacker"] == STRONGEST
    ]
    if gender and activity:
        points = []
        for name, hp in zip(ctx.transforms.names[1:], ctx.transforms.hps[1:], strict=True):
            points.append(
                {
                    "name": name,
                    "activity": activity[name]["accuracy"],
                    "gender": gender[name]["accuracy"],
                    "activity_ci": (activity[name]["ci"]["low"], activity[name]["ci"]["high"]),
                    "gender_ci": (gender[name]["ci"]["low"], gender[name]["ci"]["high"]),
                    **{k: hp[k] for k in ("alpha", "lam") if k in hp},
                }
            )
        if points:
            paths.append(
                figures.plot_privacy_utility(
                    points,
                    out / "privacy_utility.png",
                    reference={
                        "name": "raw",
                        "activity": activity[RAW]["accuracy"],
                        "gender": gender[RAW]["accuracy"],
                    },
                    policies=[
                        {"name": f"{p['selection']} {p['policy']} (stream, {_decided(p)})", **p}
                        for p in policies
                        if p["policy"] != "none"
                    ],
                    title="Held-out users: strongest adaptive attacker vs retrained activity model",
                )
            )
    if policies:
        per_user = {
            ("raw" if p["policy"] == "none" else f"{p['selection']} {p['policy']}")
            + f" ({_decided(p)})": {
                "activity": np.asarray(p["activity_per_user"]),
                "gender": np.asarray(p["gender_per_user"]),
            }
            for p in policies
            if p["selection"] in ("raw", "DySan")
        }
        paths.append(
            figures.plot_user_cdfs(
                per_user,
                out / "user_cdfs.png",
                title="Per-user accuracy (strongest gender attacker per released sanitizer)",
            )
        )
    paths += _traces(ctx, shown, out)
    distortion = results.get("distortion", {}).get("per_transform", {})
    if distortion and shown:
        rel = {name: distortion[name] for name in shown}
        sanitizers = [v for n, v in distortion.items() if n != RAW]
        rel["all variants (mean)"] = {
            k: float(np.mean([v[k] for v in sanitizers])) for k in sanitizers[0]
        }
        paths.append(
            figures.plot_distortion(
                rel, out / "distortion.png", title="Relative error, released vs raw"
            )
        )
    if records:
        paths += _gender_attackers(records, shown, out)
    return paths


def _decided(policy: dict[str, Any]) -> str:
    """The family that decided most of a stream, with "cheap only" where it applies."""
    return f"by {policy['decided_by']}" + (
        ", partly cheap only" if policy.get("cheap_only") else ""
    )


def _gender_attackers(records: list[dict], shown: list[str], out: Path) -> list[Path]:
    """Every family's gender accuracy, static and adaptive, on raw data and ``shown``
    (n/a where a staged family was not trained for the transform)."""
    keys = [
        f"{family} {mode}"
        for family in ALL_FAMILIES
        for mode in ("static", "adaptive")
        if find(records, split="subject", task="gender", family=family, mode=mode)
    ]
    if not keys:
        return []
    rows = []
    for name in [RAW, *shown]:
        row: dict[str, Any] = {"name": name, "chance": 0.5}
        for key in keys:
            family, mode = key.split()
            r = find(records, split="subject", task="gender", family=family, mode=mode,
                     transform=name)  # fmt: skip
            row[key] = r[0]["accuracy"] if r else float("nan")
            if r:
                row[f"{key}_ci"] = (r[0]["ci"]["low"], r[0]["ci"]["high"])
        rows.append(row)
    return [
        figures.plot_metric_bars(
            rows,
            out / "gender_attackers.png",
            metric_keys=keys,
            title="Gender attackers on held-out users (n/a: not trained for that transform)",
        )
    ]


def _traces(ctx: EvalContext, shown: list[str], out: Path) -> list[Path]:
    """One figure per activity: a held-out window, raw and released by ``shown``."""
    split = next(iter(ctx.splits.values()))
    index = {n: i for i, n in enumerate(ctx.transforms.names)}
    paths = []
    for a, activity in enumerate(split.test.activities):
        rows = np.flatnonzero(split.test.activity == a)
        if len(rows) == 0:
            continue
        n = rows[len(rows) // 2]
        released = {name: split.released_test[index[name], n] for name in shown}
        paths.append(
            figures.plot_traces(
                split.released_test[0, n],
                released,
                split.test.channels,
                ctx.rate_hz,
                out / f"traces_{activity}.png",
                units={c: _unit(c) for c in split.test.channels},
                title=f"{activity}: user {split.test.subjects[split.test.subject[n]]}, "
                f"window at {split.test.start[n] / ctx.rate_hz:.1f} s",
            )
        )
    return paths


def _unit(channel: str) -> str:
    """Core Motion's units (MotionSense and the embedded dataset); a.u. otherwise."""
    if channel.startswith("rotationRate"):
        return "rad/s"
    if channel.startswith(("userAcceleration", "gravity")):
        return "g"
    return "a.u."
