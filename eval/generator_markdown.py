"""Markdown tables of a generator evaluation (:func:`eval.generators.evaluate_generator`).

:func:`render_markdown` gives every known evaluator's result a section with its table and
a note on how to read it; unknown evaluators are shown as JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eval.generators import FOREST_ROW
from jaxpriv.run_io import format_table


def _pct(x: float | None) -> str:
    # None: a NaN (e.g. no real window of an activity among the test rows) read back from JSON.
    return "n/a" if x is None or np.isnan(x) else f"{100 * x:.1f}%"


def _inliers_md(r: dict[str, Any]) -> list[str]:
    rows = [
        {
            "kernel": kernel,
            "synthetic inliers": _pct(v["synthetic_inliers"]),
            "held-out real inliers (reference)": _pct(v["real_test_inliers"]),
            "training inliers": _pct(v["real_train_inliers"]),
            "input": f"{v['representation']} ({v['dims']} dims, {v['scaling']} scaling)",
        }
        for kernel, v in r["per_kernel"].items()
    ]
    cols = ["kernel", "synthetic inliers", "held-out real inliers (reference)", "training inliers"]
    note = (
        "Fit on real training samples only (nu = fraction of training outliers allowed). "
        "The linear kernel accepts a whole half-space, so it is weak; RBF is far stricter."
    )
    return [format_table(rows, [*cols, "input"]), "", note]


def _discriminator_md(r: dict[str, Any]) -> list[str]:
    rows = [
        {
            "test": name,
            "accuracy": _pct(v["mean"]),
            "95% CI (t, seeds)": f"{_pct(v['low'])} - {_pct(v['high'])}",
            "per seed": ", ".join(f"{100 * a:.0f}" for a in v["accuracy_per_seed"]),
            "recall real / other": f"{_pct(v['real_recall'])} / {_pct(v['synthetic_recall'])}",
        }
        for name, v in r["rows"].items()
    ]
    cols = ["test", "accuracy", "95% CI (t, seeds)", "per seed", "recall real / other"]
    note = (
        f"Held-out accuracy of an LSTM telling real training windows from the other set "
        f"({r['per_side']} windows a side, balanced); 50% = indistinguishable. The sanity "
        "rows show the test's range: real vs real (two disjoint halves of the training "
        "windows: the floor), real vs matched noise (the ceiling), and real vs the held-out "
        "users' real windows (how far other people's data already is)."
    )
    if FOREST_ROW in r["rows"]:
        note += (
            " The feature-forest row is a second judge on the LSTM's own splits: a random "
            "forest on hand-crafted window features (amplitude, percentiles, mean absolute "
            "difference, dominant frequencies, spectral entropy)."
        )
    return [format_table(rows, cols), "", note, *_per_activity_md(r)]


def _per_activity_md(r: dict[str, Any]) -> list[str]:
    """Where the discriminators win: accuracy on each activity's held-out windows."""
    judged = {k: v for k, v in r["rows"].items() if "per_group" in v}
    if not judged:
        return []
    names = r.get("group_names", {})
    groups = sorted({g for v in judged.values() for g in v["per_group"]}, key=int)
    rows = []
    for g in groups:
        row = {"activity": names.get(g, g)}
        for label, v in judged.items():
            cell = v["per_group"].get(g)
            if cell:
                row[label] = (
                    f"{_pct(cell['accuracy'])} (real {_pct(cell['real_recall'])}, "
                    f"synthetic {_pct(cell['synthetic_recall'])}; {cell['test_windows']})"
                )
        rows.append(row)
    cols = ["activity", *judged]
    note = (
        "Per activity: accuracy on its held-out windows over all seeds (recall of real and "
        "of synthetic windows; number of test windows). 50% = that activity fools the judge."
    )
    return ["", format_table(rows, cols), "", note]


def _marginals_md(r: dict[str, Any]) -> list[str]:
    syn, ref = r["synthetic"], r["real_test"]
    rows = [
        {
            "channel": name,
            "KS synthetic": syn["ks"][i],
            "KS held-out real": ref["ks"][i],
            "W1/std synthetic": syn["wasserstein_std"][i],
            "W1/std held-out real": ref["wasserstein_std"][i],
        }
        for i, name in enumerate(syn["names"])
    ]
    rows.append(
        {
            "channel": "**mean**",
            "KS synthetic": syn["ks_mean"],
            "KS held-out real": ref["ks_mean"],
            "W1/std synthetic": syn["wasserstein_std_mean"],
            "W1/std held-out real": ref["wasserstein_std_mean"],
        }
    )
    cols = ["channel", "KS synthetic", "KS held-out real", "W1/std synthetic"]
    return [format_table(rows, [*cols, "W1/std held-out real"])]


def _correlation_md(r: dict[str, Any]) -> list[str]:
    rows = [{"lags": "all", "synthetic": r["synthetic"], "held-out real": r["real_test"]}]
    rows += [{"lags": lag, **{k.replace("real_test", "held-out real"): v for k, v in d.items()}}
             for lag, d in r["per_lag"].items()]  # fmt: skip
    note = "RMS difference of correlation matrices against the real training set (0 = same)."
    return [format_table(rows, ["lags", "synthetic", "held-out real"]), "", note]


def _tstr_md(r: dict[str, Any]) -> list[str]:
    rows = [
        {
            "trained on": label,
            **{k: r[key][k] for k in ("accuracy", "balanced_accuracy", "macro_f1")},
        }
        for label, key in (("real (TRTR)", "trtr"), ("synthetic (TSTR)", "tstr"))
    ]
    note = f"Tested on held-out real windows; accuracy gap TRTR - TSTR = {r['accuracy_gap']:.3f}."
    return [
        format_table(rows, ["trained on", "accuracy", "balanced_accuracy", "macro_f1"]),
        "",
        note,
    ]


def _memorization_md(r: dict[str, Any]) -> list[str]:
    rows = [
        {"samples": label, **{k: r[key][k] for k in ("median", "p5", "min")}}
        for label, key in (("synthetic", "synthetic"), ("held-out real (reference)", "real_test"))
    ]
    note = (
        f"Distance to the closest training record (standardized, Euclidean). Synthetic "
        f"samples closer than the held-out 5th percentile: {_pct(r['share_below_real_p5'])} "
        f"(about 5% expected; far more flags memorisation). Exact copies: "
        f"{r['exact_copies']} of {r['n_synthetic']}."
    )
    return [format_table(rows, ["samples", "median", "p5", "min"]), "", note]


_RENDERERS = {
    "inliers": ("One-class SVM inliers (seed 004)", _inliers_md),
    "discriminator": ("Discriminator: real vs synthetic (seed 000)", _discriminator_md),
    "marginals": ("Marginal distributions", _marginals_md),
    "correlation": ("Correlation structure", _correlation_md),
    "tstr": ("Train on synthetic, test on real", _tstr_md),
    "memorization": ("Memorisation: distance to closest record", _memorization_md),
}


def render_markdown(results: dict[str, Any]) -> str:
    """Markdown tables of an :func:`~eval.generators.evaluate_generator` result (unknown
    evaluators as JSON)."""
    data = results.get("data", {})
    lines = ["# Synthetic data report", ""]
    if data:
        lines += [
            f"Real training {data['real_train']}, held-out real {data['real_test']}, "
            f"synthetic {data['synthetic']}; channels: {', '.join(data['channels'])}.",
            "",
        ]
    for name, r in results.get("evaluators", {}).items():
        title, render = _RENDERERS.get(name, (name, None))
        lines += [f"## {title}", ""]
        if "skipped" in r:
            lines += [f"*Skipped: {r['skipped']}*", ""]
        elif render is None:
            lines += [f"`{r}`", ""]
        else:
            lines += [*render(r), ""]
    return "\n".join(lines)
