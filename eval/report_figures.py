"""The report's figures, from the evaluators' results (drawing is in :mod:`eval.figures`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eval import figures
from eval.context import EvalContext
from eval.evaluators.attacks import attack_records_of, find
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
    policies = [p for p in results.get("online", {}).get("policies", []) if p["attacker"] == "rf"]
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
                        {"name": f"{p['selection']} {p['policy']} (stream)", **p}
                        for p in policies
                        if p["policy"] != "none"
                    ],
                    title="Held-out users: strongest adaptive attacker vs retrained activity model",
                )
            )
    if policies:
        per_user = {
            ("raw" if p["policy"] == "none" else f"{p['selection']} {p['policy']}"): {
                "activity": np.asarray(p["activity_per_user"]),
                "gender": np.asarray(p["gender_per_user"]),
            }
            for p in policies
            if p["selection"] in ("raw", "DySan")
        }
        paths.append(
            figures.plot_user_cdfs(
                per_user, out / "user_cdfs.png", title="Per-user accuracy (RF gender attacker)"
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
        rows = []
        for name in [RAW, *shown]:
            row: dict[str, Any] = {"name": name, "chance": 0.5}
            for family in ("cnn", "rf"):
                for mode in ("static", "adaptive"):
                    r = find(records, split="subject", task="gender", family=family, mode=mode,
                             transform=name)  # fmt: skip
                    if r:
                        row[f"{family} {mode}"] = r[0]["accuracy"]
                        row[f"{family} {mode}_ci"] = (r[0]["ci"]["low"], r[0]["ci"]["high"])
            rows.append(row)
        keys = [
            k for k in ("cnn static", "cnn adaptive", "rf static", "rf adaptive") if k in rows[0]
        ]
        if keys:
            paths.append(
                figures.plot_metric_bars(
                    rows,
                    out / "gender_attackers.png",
                    metric_keys=keys,
                    title="Gender attackers on held-out users",
                )
            )
    return paths


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
