"""The report: ``metrics.json`` (every number with its attacker and split), ``report.md``
(the papers' tables: raw vs each variant vs the policies) and PNG figures."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from eval.attackers import REGISTRY
from eval.context import EvalContext
from eval.evaluators.attacks import attack_records_of, find
from eval.report_figures import make_figures
from eval.report_markdown import render
from eval.transforms import RAW
from jaxpriv.records import versions
from jaxpriv.run_io import write_json_atomic, write_text_atomic


def _pct(x: float | None) -> str:
    return "" if x is None or not np.isfinite(x) else f"{100 * x:.1f}"


def _one(records: list[dict], **where: Any) -> dict | None:
    hits = find(records, **where)
    return hits[0] if hits else None


def _judged_by(best: dict | None) -> str:
    """Which family won a strongest figure, and "cheap only" when the strong family did not
    judge it."""
    if not best:
        return ""
    return best["attacker"] + (" (cheap only)" if best.get("cheap_only") else "")


def headline_rows(ctx: EvalContext, results: dict[str, Any]) -> list[dict[str, str]]:
    """Raw vs each variant vs the online policies, strongest attackers, held-out users."""
    records = attack_records_of(results)
    known = next((s for s in ctx.splits if s != "subject"), None)
    mse = results.get("distortion", {}).get("per_transform", {})
    rank = results.get("dtw", {}).get("rank", {}).get("per_transform", {})
    rows = []
    for name in ctx.transforms.names:
        pick = {"transform": name, "family": "strongest"}
        app = _one(records, split="subject", task="activity", mode="static", **pick)
        act = _one(records, split="subject", task="activity", mode="adaptive", **pick)
        g_static = _one(records, split="subject", task="gender", mode="static", **pick)
        gen = _one(records, split="subject", task="gender", mode="adaptive", **pick)
        ident = _one(records, split=known, task="identity", mode="adaptive", **pick)
        rows.append(
            {
                "transform": name,
                "activity (app on raw)": _pct(app and app["accuracy"]),
                "activity (retrained)": _pct(act and act["accuracy"]),
                "gender (static)": _pct(g_static and g_static["accuracy"]),
                "gender (adaptive)": _pct(gen and gen["accuracy"]),
                "gender judged by": _judged_by(gen),
                "gender 95% CI": (
                    f"{_pct(gen['ci']['low'])}-{_pct(gen['ci']['high'])} ({gen['users']} users)"
                    if gen
                    else ""
                ),
                "identity (adaptive)": _pct(ident and ident["accuracy"]),
                "MSE": f"{mse[name]['mse']:.4g}" if name in mse else "",
                "DTW rank": f"{rank[name]['mean_rank']:.1f}" if name in rank else "",
            }
        )
    for p in results.get("online", {}).get("policies", []):
        if p["policy"] == "none" or p["attacker"] != "rf":
            continue
        rows.append(
            {
                "transform": f"{p['selection']} {p['policy']} (stream; RF attacker)",
                "activity (retrained)": _pct(p["activity"]),
                "gender (adaptive)": _pct(p["gender"]),
                "gender 95% CI": f"{_pct(p['gender_ci'][0])}-{_pct(p['gender_ci'][1])} "
                f"({len(p['users'])} users)",
            }
        )
    return rows


def targets(ctx: EvalContext, results: dict[str, Any]) -> dict[str, Any]:
    """The issue's targets on this run, each with the numbers that decide it."""
    out: dict[str, Any] = {}
    records = attack_records_of(results)
    raw = {"transform": RAW, "family": "strongest", "mode": "adaptive", "split": "subject"}
    act = _one(records, task="activity", **raw)
    gen = _one(records, task="gender", **raw)
    if act and gen:
        out["raw: activity >= 90%, gender >= 80% (adaptive)"] = {
            "activity": act["accuracy"],
            "gender": gen["accuracy"],
            "met": act["accuracy"] >= 0.9 and gen["accuracy"] >= 0.8,
        }
    policies = results.get("online", {}).get("policies", [])
    for attacker in ("rf", "cnn"):
        base = [p for p in policies if p["policy"] == "none" and p["attacker"] == attacker]
        dyn = [p for p in policies if p["policy"] == "dynamic" and p["attacker"] == attacker]
        if not base or not dyn:
            continue
        best = min(dyn, key=lambda p: abs(p["gender"] - 0.5))
        out[
            f"dynamic policy: |gender - 1/2| <= 0.10, activity >= raw - 5 ({attacker} attacker)"
        ] = {
            "selection": best["selection"],
            "gender": best["gender"],
            "activity": best["activity"],
            "raw_activity": base[0]["activity"],
            "met": abs(best["gender"] - 0.5) <= 0.10
            and best["activity"] >= base[0]["activity"] - 0.05,
        }
    return out


def write_report(
    ctx: EvalContext, results: dict[str, Any], out: Path, *, run_info: dict[str, Any]
) -> dict[str, Any]:
    """Write metrics.json, the figures and report.md into ``out``; return the metrics."""
    out.mkdir(parents=True, exist_ok=True)
    t = ctx.transforms
    rows = headline_rows(ctx, results)
    summary = {
        **run_info,
        "method": t.method,
        "config": dataclasses.asdict(ctx.config),
        "seed": ctx.seed,
        "transforms": [
            {"name": n, "hp": hp, "alive": a}
            for n, hp, a in zip(t.names, t.hps, t.alive, strict=True)
        ],
        "splits": ctx.describe(),
        "results": results,
        "headline": rows,
        "targets": targets(ctx, results),
        "families": {n: f.about for n, f in REGISTRY.items()},
        "versions": versions(),
    }
    figs = make_figures(ctx, results, out)
    write_json_atomic(out / "metrics.json", summary)
    write_text_atomic(out / "report.md", render(ctx, summary, figs))
    return summary
