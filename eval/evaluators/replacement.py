"""``replacement``: the RAE's metrics for runs that declare activity roles.

For every split, attacker family that applies to activity (CNN, RF; the staged
strong family only where ``strong_roles`` includes utility), mode (static = the app's model
trained on raw data; adaptive = retrained on each transform's releases) and
transform: the recall of each sensitive activity, the share of sensitive
windows predicted as a neutral activity (should approach 1), the macro-F1 over
the required activities (should hold) and the slides' privacy number
``|P(s | x') - 1/2|`` for s = "the window is of a sensitive activity" (see
:func:`jaxpriv.methods.rae.replacement_metrics`). A ``strongest`` row per
(split, mode, transform) keeps, among the families that judged the transform,
the one with the larger privacy gap: the attacker to fear, named (``attacker``),
with the families that judged it (``judged_by``; ``cheap_only`` where a staged
family applied but was not trained for the transform). ``not_applied`` lists the
staged families that did not judge these figures at all. The activity
predictions are the ``utility`` evaluator's, computed once in the context.

Runs without roles (``TransformSet.info["roles"]``) are skipped.
"""

from __future__ import annotations

from typing import Any

from eval.attackers import ALL_FAMILIES, MODES, REGISTRY
from eval.context import EvalContext
from eval.evaluators import register
from jaxpriv.methods.rae import Roles, replacement_metrics
from jaxpriv.run_io import format_table


@register("replacement")
def replacement(ctx: EvalContext) -> dict[str, Any]:
    """Per split, family, mode and transform: how well sensitive activities are replaced."""
    info = ctx.transforms.info.get("roles")
    if not info:
        return {
            "skipped": f"the {ctx.transforms.method} run declares no activity roles "
            "(required/sensitive/neutral); RAE runs and compounds starting with one do"
        }
    roles = Roles.from_json(info)
    records = []
    for split_name, split in ctx.splits.items():
        activities = split.test.activities
        y = split.test.activity
        for mode in MODES:
            families = [f for f in ALL_FAMILIES if ctx.applies(f, "activity", mode)]
            best: dict[int, dict[str, Any]] = {}
            judged_by: dict[int, list[str]] = {}
            for family in families:
                pred = ctx.predictions(split_name, "activity", family, mode)
                judged = ctx.judged(split_name, "activity", family, mode)
                for v, name in enumerate(ctx.transforms.names):
                    if not judged[v]:
                        continue
                    rec = {
                        "split": split_name,
                        "threat": split.threat,
                        "family": family,
                        "mode": mode,
                        "transform": name,
                        **replacement_metrics(y, pred[v], activities, roles),
                    }
                    records.append(rec)
                    judged_by.setdefault(v, []).append(family)
                    if v not in best or rec["privacy_gap"] > best[v]["privacy_gap"]:
                        best[v] = rec
            staged = [f for f in families if REGISTRY[f].staged]
            records += [
                {
                    **rec,
                    "family": "strongest",
                    "attacker": rec["family"],
                    "judged_by": judged_by[v],
                    "cheap_only": any(f not in judged_by[v] for f in staged),
                }
                for v, rec in sorted(best.items())
            ]
    not_applied = [
        f
        for f in ALL_FAMILIES
        if REGISTRY[f].staged and not any(ctx.applies(f, "activity", m) for m in MODES)
    ]
    return {"roles": roles.to_json(), "records": records, "not_applied": not_applied}


def _pct(x: float | None) -> str:
    return "" if x is None or x != x else f"{100 * x:.1f}"


def _attacker(r: dict[str, Any]) -> str:
    """A family's name, or ``strongest: F`` naming the winner (``cheap only`` marked)."""
    if r["family"] != "strongest":
        return r["family"]
    return f"strongest: {r['attacker']}" + (" (cheap only)" if r.get("cheap_only") else "")


def markdown(result: dict[str, Any]) -> list[str]:
    """The report section: one table per split and mode (report_markdown.render can add it)."""
    if "skipped" in result:
        return ["## Replacement (RAE)", "", f"Skipped: {result['skipped']}.", ""]
    roles = result["roles"]
    lines = [
        "## Replacement (RAE)",
        "",
        f"Roles: required {', '.join(roles['required'])}; sensitive "
        f"{', '.join(roles['sensitive'])}; neutral {', '.join(roles['neutral'])}. In %: recall "
        "of each sensitive activity, share of sensitive windows predicted neutral (should "
        "approach 100), macro-F1 over required activities (should hold), privacy gap = "
        "|balanced accuracy of 'sensitive or not' - 50| (0 = hidden). `strongest: F` = the "
        "family F with the largest privacy gap among those that judged the transform.",
        "",
    ]
    if result.get("not_applied"):
        lines += [
            f"Not judged by the {', '.join(result['not_applied'])} family: it is not "
            "trained for activity (`strong_roles` in eval/config.py), which these figures "
            "come from; the strongest rows are over the cheap families.",
            "",
        ]
    records = result["records"]
    for split, threat, mode in sorted({(r["split"], r["threat"], r["mode"]) for r in records}):
        rows = []
        for r in records:
            if (r["split"], r["mode"]) != (split, mode):
                continue
            rows.append(
                {
                    "transform": r["transform"],
                    "attacker": _attacker(r),
                    **{f"recall {a}": _pct(r["sensitive_recall"][a]) for a in roles["sensitive"]},
                    "sensitive as neutral": _pct(r["sensitive_as_neutral"]),
                    "required F1": _pct(r["required_macro_f1"]),
                    "privacy gap": _pct(r["privacy_gap"]),
                }
            )
        title = "app's model on raw data" if mode == "static" else "retrained on releases"
        lines += [f"### {mode} ({title}); {threat} (split `{split}`)", ""]
        lines += [format_table(rows, list(rows[0])), ""]
    return lines
