"""``report.md``: the tables in the papers' layout, every figure labelled with its attacker
and split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eval.attackers import ALL_FAMILIES
from eval.context import EvalContext
from eval.evaluators.attacks import attack_records_of, find
from eval.evaluators.online import describe_decided
from eval.evaluators.replacement import markdown as replacement_markdown
from eval.transforms import RAW
from jaxpriv.run_io import format_table

HEADLINE_COLUMNS = (
    "transform",
    "activity (app on raw)",
    "activity (retrained)",
    "gender (static)",
    "gender (adaptive)",
    "gender judged by",
    "gender 95% CI",
    "identity (adaptive)",
    "MSE",
    "DTW rank",
)
STATS = ("mse", "mae", "mean", "std", "skewness", "kurtosis", "energy")


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _splits(summary: dict[str, Any]) -> list[str]:
    rows, warnings = [], []
    for name, s in summary["splits"].items():
        g = s["test_genders"]
        rows.append(
            {
                "split": name,
                "threat": s["threat"],
                "train users": len(s["train_users"]),
                "test users": f"{len(s['test_users'])} ({g['female']} F, {g['male']} M)",
                "train windows": s["train_windows"],
                "test windows": s["test_windows"],
                "tasks": ", ".join(s.get("tasks", [])),
            }
        )
        warnings += [f"- **{name}**: {w}" for w in s["warnings"]]
    cols = ["split", "threat", "train users", "test users", "train windows", "test windows",
            "tasks"]  # fmt: skip
    note = []
    if any(s.get("tasks") and "gender" not in s["tasks"] for s in summary["splits"].values()):
        note = [
            "Gender on known users is not measured by this preset (`known_users_gender`): "
            "it follows from identity there, measured on those splits.",
            "",
        ]
    return ["## Splits", "", format_table(rows, cols), "", *note, *warnings, ""]


def _raw_strength(records: list[dict], split: str, task: str, mode: str) -> dict[str, float]:
    return {
        r["family"]: r["accuracy"]
        for r in find(records, split=split, task=task, mode=mode, transform=RAW)
        if r["family"] != "strongest"
    }


def _judged(best: dict) -> str:
    return ", ".join(best["judged_by"]) + (" (cheap only)" if best.get("cheap_only") else "")


def _attack_tables(records: list[dict], names: tuple[str, ...]) -> list[str]:
    """One table per (split, task): each family's accuracy, static and adaptive, with its
    accuracy on raw data in the column's header (its strength), the strongest adaptive
    attacker, which family won and which families judged the transform."""
    lines = []
    keys = sorted({(r["split"], r["threat"], r["task"]) for r in records})
    for split, threat, task in keys:
        families = [f for f in ALL_FAMILIES if find(records, split=split, task=task, family=f)]
        raw = {m: _raw_strength(records, split, task, m) for m in ("static", "adaptive")}
        header = {
            (f, m): f"{f} {m}" + (f" (raw {_pct(raw[m][f])})" if f in raw[m] else "")
            for f in families
            for m in ("static", "adaptive")
        }
        rows = []
        for name in names:
            row: dict[str, Any] = {"transform": name}
            for family in families:
                for mode in ("static", "adaptive"):
                    hit = find(records, split=split, task=task, family=family, mode=mode,
                               transform=name)  # fmt: skip
                    row[header[(family, mode)]] = _pct(hit[0]["accuracy"]) if hit else "-"
            best = find(records, split=split, task=task, family="strongest", mode="adaptive",
                        transform=name)  # fmt: skip
            if best:
                b = best[0]
                row["strongest adaptive"] = _pct(b["accuracy"])
                row["won by"] = b["attacker"]
                row["judged by"] = _judged(b)
                row["balanced acc"] = _pct(b["balanced_accuracy"])
                row["macro-F1"] = _pct(b["macro_f1"])
                row["per-user 95% CI"] = f"{_pct(b['ci']['low'])}-{_pct(b['ci']['high'])}"
                chance = b["chance"]
            rows.append(row)
        cols = [
            "transform", *header.values(), "strongest adaptive", "won by", "judged by",
            "balanced acc", "macro-F1", "per-user 95% CI",
        ]  # fmt: skip
        strength = ", ".join(f"{f} {_pct(a)}%" for f, a in raw["adaptive"].items())
        lines += [
            f"### {task}: {threat} (split `{split}`; chance {_pct(chance)}%)",
            "",
            f"Attacker strength, adaptive, on raw data: {strength}. `-`: the family was not "
            "trained for that transform (staged plan).",
            "",
            format_table(rows, cols),
            "",
        ]
    return lines


def _attackers(privacy: dict[str, Any], summary: dict[str, Any]) -> list[str]:
    """The staged plan, the strong family's training and the weak-attacker warnings."""
    names = [t["name"] for t in summary["transforms"]]
    lines = ["## Attacker families and where they were spent", ""]
    lines += [f"- **{n}**: {about}" for n, about in summary.get("families", {}).items()]
    plans = privacy.get("plans", {})
    if plans:
        lines += [
            "",
            "The strong family was trained for these transforms (the staged plan: raw data, "
            "the transforms near the cheap attackers' privacy-utility front, the online "
            "policies' sanitizers), less those the cheap attackers already judge at the "
            "ceiling (`saturated`: a stronger attacker could add at most the preset's "
            "`saturation`); every other transform was judged by the cheap families "
            "only, and its figures are marked `cheap only`.",
            "",
        ]
        for where, plan in plans.items():
            why = [
                f"{reason}: {', '.join(names[v] for v in plan[reason])}"
                for reason in plan
                if reason not in ("selected", "front_distance") and plan[reason]
            ]
            lines.append(f"- `{where}` ({len(plan['selected'])} transforms): {'; '.join(why)}")
    training = privacy.get("training", {})
    if training:
        lines += ["", "Strong attackers' training (early stopping on their own validation rows):"]
        lines.append("")
        for where, info in training.items():
            if "steps" not in info:
                continue
            stopped = sum(s < summary["config"]["strong"]["max_steps"] for s in info["steps"])
            lines.append(
                f"- `{where}`: {len(info['steps'])} model(s), best step "
                f"{min(info['best_step'])}-{max(info['best_step'])}, stopped early "
                f"{stopped}/{len(info['steps'])}, validation accuracy "
                f"{_pct(min(info['val_accuracy']))}-{_pct(max(info['val_accuracy']))}%"
            )
    warnings = privacy.get("warnings", [])
    lines += ["", "Weak-attacker warnings (a verdict's families all more than "
              f"{100 * summary['config']['weak_margin']:.0f} points below the best family on "
              "raw data):", ""]  # fmt: skip
    lines += [f"- **warning**: {w}" for w in warnings] or ["- none"]
    return [*lines, ""]


def _online(online: dict[str, Any]) -> list[str]:
    if "skipped" in online:
        return ["## DySan online phase", "", f"Skipped: {online['skipped']}.", ""]
    rows = [
        {
            "selection": p["selection"],
            "policy": p["policy"],
            "gender attacker": online["attackers"][p["attacker"]],
            "decided by": describe_decided(p),
            "activity": _pct(p["activity"]),
            "activity 95% CI": f"{_pct(p['activity_ci'][0])}-{_pct(p['activity_ci'][1])}",
            "gender": _pct(p["gender"]),
            "gender 95% CI": f"{_pct(p['gender_ci'][0])}-{_pct(p['gender_ci'][1])}",
            "users": len(p["users"]),
            "sanitizer": p.get("sanitizer", ""),
        }
        for p in online["policies"]
    ]
    lines = [
        "## DySan online phase (held-out users' streams)",
        "",
        f"- Chunks of p = {online['chunk']} windows; score = {online['weights']['activity']} x "
        f"activity accuracy + {online['weights']['gender']} x (1 - |0.5 - gender accuracy|).",
        f"- {online['calibration_windows']} calibration windows train one RF per user; its "
        f"activity accuracy on the {online['stream_windows']} stream windows: "
        f"{_pct(online['calibration_rf_accuracy'])}%. DySan(o) scores activity against the RF's "
        "labels, DySan against the true labels.",
        "- Activity: the CNN retrained on each sanitizer's releases. The choice is made against "
        "the CNN gender attacker, so its row is optimistic by construction; the other "
        "families took no part in the choice. A family has a row where it judged every "
        "sanitizer the policy released.",
        "- **strongest**: per sanitizer released, the family with the highest accuracy on the "
        "windows it released, among those that judged it. `decided by` gives each family's "
        "share of the stream's windows; `cheap only` the share released by sanitizers the "
        "strong family applied to but was not trained for (the staged plan).",
        "",
        format_table(rows, list(rows[0])),
        "",
        "### Sanitizers available for selection (seed 001, Table 1; dynamic DySan)",
        "",
    ]
    for attacker, table in online["subsets"].items():
        sub = [
            {
                "available": t["size"],
                "draws": t["draws"],
                "activity": f"{_pct(t['activity'])} ± {_pct(t['activity_std'])}",
                "gender": f"{_pct(t['gender'])} ± {_pct(t['gender_std'])}",
                "decided by": describe_decided({"attacker": attacker, **t}),
            }
            for t in table
        ]
        lines += [f"Gender attacker: {online['attackers'][attacker]}", ""]
        lines += [format_table(sub, ["available", "draws", "activity", "gender", "decided by"])]
        lines.append("")
    fp = online["fingerprint"]
    ps = sorted({p for table in fp.values() for p in table}, key=int)
    fp_rows = [
        {"available": size, **{f"p={p}": _fmt_unique(table.get(p)) for p in ps}}
        for size, table in fp.items()
    ]
    lines += [
        "### Fingerprint uniqueness of the selected sanitizers (seed 001, Appendix F)",
        "",
        "Share of random size-p subsets of a user's selected sanitizers that no other user's "
        "selection contains (users counted in brackets).",
        "",
        format_table(fp_rows, ["available", *[f"p={p}" for p in ps]]),
        "",
    ]
    return lines


def _fmt_unique(entry: dict | None) -> str:
    return "" if not entry else f"{entry['uniqueness']:.2f} ({entry['users']})"


def _distortion(results: dict[str, Any]) -> list[str]:
    lines = []
    dist = results.get("distortion")
    if dist:
        rows = [
            {"transform": n, **{s: f"{v[s]:.3g}" for s in STATS if s in v}}
            for n, v in dist["per_transform"].items()
        ]
        lines += [
            f"## Distortion ({dist['windows']} held-out windows of split `{dist['split']}`)",
            "",
            "MSE and mean absolute error in the data's units; the statistics' columns are "
            "relative errors |s(x') - s(x)| / |s(x)| averaged over windows and channels "
            "(seed 001, Figure 4).",
            "",
            format_table(rows, ["transform", *STATS]),
            "",
        ]
    dtw = results.get("dtw")
    if dtw:
        rank = dtw.get("rank", {})
        per_rank = rank.get("per_transform", {})
        rows = [
            {
                "transform": n,
                "DTW to raw": f"{d:.3g}",
                "k-NN mean rank": f"{per_rank[n]['mean_rank']:.2f}" if n in per_rank else "",
                "true user first": _pct(per_rank[n]["top1"]) if n in per_rank else "",
            }
            for n, d in dtw["distance"]["per_transform"].items()
        ]
        about = (
            f"k-NN rank on split `{rank['split']}` ({rank['threat']}): {rank['users']} users, "
            f"{rank['queries']} released query windows against {rank['references']} raw "
            "reference windows; rank 0 = the true user is the nearest (MSDA Table 2)."
            if per_rank
            else f"k-NN rank skipped: {rank.get('skipped', 'not run')}."
        )
        lines += [
            f"## DTW ({dtw['distance']['windows']} windows)",
            "",
            about,
            "",
            format_table(rows, ["transform", "DTW to raw", "k-NN mean rank", "true user first"]),
            "",
        ]
    return lines


def render(ctx: EvalContext, summary: dict[str, Any], figs: list[Path]) -> str:
    """The whole report as markdown."""
    results = summary["results"]
    records = attack_records_of(results)
    diverged = [t["name"] for t in summary["transforms"] if not t["alive"]]
    lines = [
        f"# Evaluation of `{summary['run']}` ({summary['method']})",
        "",
        f"- Data: {summary['data']}; preset `{summary['preset']}`; seed {summary['seed']}; "
        f"{len(summary['transforms'])} transforms (raw first); took "
        f"{summary['elapsed_s'] / 60:.1f} min.",
        "- **static** = trained on raw training data, applied to released test data; "
        "**adaptive** = retrained on the released training data (the headline privacy "
        "numbers). **strongest** = the best of the attacker families that judged the "
        "transform (`cnn`, `rf`, and `strong` where the staged plan trained it).",
    ]
    if diverged:
        lines.append(f"- Diverged during training (kept, flagged): {', '.join(diverged)}.")
    lines += ["", *_splits(summary)]
    lines += [
        "## Headline: held-out users, strongest attacker",
        "",
        "Accuracies in %. Policy rows are measured on the online phase's stream windows.",
        "",
        format_table(summary["headline"], list(HEADLINE_COLUMNS)),
        "",
        "## Targets",
        "",
        format_table(
            [
                {"target": k, **{f: _show(v) for f, v in t.items()}}
                for k, t in summary["targets"].items()
            ],
            ["target", "selection", "activity", "raw_activity", "gender", "verdict"],
        ),
        "",
    ]
    if "privacy" in results:
        lines += _attackers(results["privacy"], summary)
    lines += ["## Attackers and utility models in detail", ""]
    lines += _attack_tables(records, ctx.transforms.names)
    if "online" in results:
        lines += _online(results["online"])
    if "replacement" in results:
        lines += replacement_markdown(results["replacement"])
    lines += _distortion(results)
    if figs:
        lines += ["## Figures", ""] + [f"![{p.stem}]({p.name})" for p in figs] + [""]
    return "\n".join(lines)


def _show(v: Any) -> Any:
    return _pct(v) if isinstance(v, float) else v
