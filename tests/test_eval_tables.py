"""The paper-table commands' assembly: rows, targets, selection, figures (no training)."""

from __future__ import annotations

import numpy as np
import pytest

from eval import figure2, table2
from eval.reproduce import RunRecipe, ensure_run, mean_var
from jaxpriv.metrics import STATISTIC_NAMES


def table2_row(f1: float, ident: float, adaptive: float, rank: float = 3.0) -> dict:
    return {
        "activity_f1": mean_var([f1 - 0.01, f1 + 0.01]),
        "identity_acc_static": mean_var([ident]),
        "identity_f1_static": mean_var([ident / 2]),
        "identity_acc_adaptive": mean_var([adaptive]),
        "identity_f1_adaptive": mean_var([adaptive / 2]),
        "dtw_rank": rank,
    }


def test_mean_var_is_the_population_variance() -> None:
    mv = mean_var([0.8, 0.9, 1.0])
    assert mv["mean"] == pytest.approx(0.9)
    assert mv["var"] == pytest.approx(np.var([0.8, 0.9, 1.0]))
    assert mv["values"] == [0.8, 0.9, 1.0]


def test_table2_rows_put_ours_beside_the_papers() -> None:
    rows = {"raw": table2_row(0.95, 0.97, 0.97, 0.0), "aae": table2_row(0.93, 0.10, 0.60)}
    shown = table2.table_rows(rows)
    assert [r["method"] for r in shown] == ["Raw", "AAE"]
    aae = shown[1]
    assert aae["act F1 (subject)"] == "93.00 ± 1.00"  # std of 0.92 and 0.94
    assert aae["paper act F1"] == "92.91" and aae["paper ID acc"] == "6.98"
    assert aae["ID acc raw-trained"] == "10.00" and aae["ID acc adaptive"] == "60.00"
    # A transform the paper has no number for gets an empty paper cell.
    extra = table2.table_rows({"aae-2": table2_row(0.9, 0.1, 0.2)})[0]
    assert extra["method"] == "aae-2" and extra["paper ID acc"] == ""


@pytest.mark.parametrize(
    ("aae_f1", "aae_ident", "met"),
    [(0.93, 0.10, True), (0.90, 0.10, False), (0.95, 0.16, False)],
)
def test_table2_target_needs_both_identity_and_activity(
    aae_f1: float, aae_ident: float, met: bool
) -> None:
    rows = {"raw": table2_row(0.95, 0.97, 0.97), "aae": table2_row(aae_f1, aae_ident, 0.5)}
    target = table2.aae_target(rows)
    assert target["met"] is met
    assert target["identity_acc_adaptive"] == pytest.approx(0.5)
    assert table2.aae_target({"raw": rows["raw"]})["met"] is False


def test_table2_report_renders_and_plots(tmp_path) -> None:
    rows = {"raw": table2_row(0.95, 0.97, 0.97, 0.0), "ssa-k1": table2_row(0.9, 0.3, 0.8)}
    rows["aae"] = table2_row(0.94, 0.1, 0.6)
    png = table2.plot_table(rows, tmp_path / "t.png")
    assert png.stat().st_size > 10_000
    info = {"data": "d", "seeds": 2, "eval_preset": "test", "runs": ["a"], "users": 9,
            "activities": ["stairs", "wlk"], "known_split": "time",
            "activity_split": "kfold"}  # fmt: skip
    text = table2.render(rows, info | {"target": table2.aae_target(rows)})
    assert "SSA(1)" in text and "**met**" in text and "table2.png" in text
    # the data's own users, activities and known-users split, not MotionSense's
    assert "the 9 known users on the last part of every recording" in text
    assert "activities stairs, wlk" in text
    assert "each user held out once (user k-fold)" in text


def test_tables_measure_held_out_users_by_kfold_where_the_subject_split_is_too_small() -> None:
    from types import SimpleNamespace

    from eval.reproduce import held_out_users_split
    from eval.transforms import DataSpec
    from jaxpriv.data.load import load_dataset

    ds = load_dataset("embedded:users=6,long_s=6,short_s=4")
    spec = DataSpec(channels=("userAcceleration.x",), window=50, stride=50,
                    activities=("wlk", "jog"), test_subjects=(ds.subject_ids[0],))  # fmt: skip
    transforms = SimpleNamespace(
        method="baselines", spec=spec, names=("raw",),
        release=lambda x, *_: x[None],
    )  # fmt: skip
    name, split = held_out_users_split(ds, transforms, None)  # 1 held-out user: too few
    assert name == "kfold" and split.num_folds == 5
    assert len(split.test_users()) == 6
    name, split = held_out_users_split(ds, transforms, 3)
    assert name == "kfold" and split.num_folds == 3
    per_fold = [set(np.unique(split.test.subject[split.folds == f])) for f in range(3)]
    assert sum(len(f) for f in per_fold) == 6 and not per_fold[0] & per_fold[1]


def figure2_entry(act: float, gender: float, alive: bool = True) -> dict:
    stats = {s: 1.0 for s in STATISTIC_NAMES}
    return {
        "activity_static": act,
        "activity_adaptive": act,
        "gender_static": gender,
        "gender_adaptive": gender,
        "statistics": stats,
        "relative_errors": {s: 0.5 for s in STATISTIC_NAMES},
        "alive": alive,
    }


def test_figure2_picks_the_fixed_policy_variant_and_the_median() -> None:
    measured = {
        "dysan": {
            "method": "dysan",
            "spec": ("a",),
            "per_transform": {
                "raw": figure2_entry(0.99, 0.95),
                "dysan-a": figure2_entry(0.99, 0.90),  # score 0.2*0.99 + 0.8*0.6
                "dysan-b": figure2_entry(0.90, 0.55),  # best: 0.18 + 0.76
                "dysan-c": figure2_entry(0.95, 0.70),
                "dysan-dead": figure2_entry(1.0, 0.5, alive=False),  # diverged: never chosen
            },
        },
        "msda": {
            "method": "msda",
            "spec": ("m",),
            "per_transform": {
                "raw": figure2_entry(0.97, 0.9),
                "rep": figure2_entry(0.97, 0.5),
                "aae": figure2_entry(0.96, 0.6),
            },
        },
    }
    rows = figure2.pick_rows(measured)
    assert rows["dysan"]["variant"] == "dysan-b"
    assert rows["dysan-median"]["variant"] == "dysan-c"
    assert rows["msda"]["variant"] == "aae"  # the AAE, even where REP scores higher
    assert rows["raw"]["activity_static"] == pytest.approx(0.99)  # DySan's raw reference
    table = figure2.accuracy_table(rows)
    assert [r["method"] for r in table] == ["raw", "DySan", "DySan (median variant)", "MSDA-style"]
    assert table[1]["paper gender"] == "57.0"
    dist = figure2.distortion_table(measured)
    paper = [r for r in dist if r["data"] == "paper (MotionSense)"]
    assert [r["transform"] for r in paper] == ["raw", "dysan"]
    ours = [r for r in dist if r["data"] != "paper (MotionSense)"]
    # Raw once per input; each transform's statistic with its relative error.
    assert [(r["data"], r["transform"]) for r in ours][:2] == [("a", "raw"), ("a", "dysan-a")]
    assert ours[1]["mean"] == "1 (0.50)"
    assert [r["transform"] for r in ours if r["data"] == "m"] == ["raw", "rep", "aae"]


def test_ensure_run_reports_a_failing_trainer(tmp_path) -> None:
    # Reuse and refusal are the run driver's (tests/test_trainers_run.py): a folder with
    # a summary.json is no longer taken as complete without its trainer checking it.
    failing = RunRecipe("train.msda", tmp_path / "bad", ("--preset", "no-such-preset"))
    with pytest.raises(RuntimeError, match="failed"):
        ensure_run(failing)


def test_figure2_reuses_a_matching_harness_report_only(tmp_path) -> None:
    import json

    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    names = ("raw", "gen-a")
    records = [
        {"split": "subject", "task": t, "mode": m, "family": f, "transform": n, "accuracy": acc}
        for t in ("activity", "gender")
        for m in ("static", "adaptive")
        for f, acc in (("cnn", 0.6), ("strongest", 0.7))
        for n in names
    ]
    for r in records:
        if r["family"] == "strongest":
            r["attacker"] = "strong" if r["task"] == "gender" and r["mode"] == "adaptive" else "rf"
            r["cheap_only"] = r["transform"] == "gen-a" and r["attacker"] == "rf"
    report = {
        "seed": 0,
        "preset": "quick",
        "config": {"attackers": "staged"},
        "transforms": [{"name": n} for n in names],
        "results": {"utility": {"records": records[: len(records) // 2]},
                    "privacy": {"records": records[len(records) // 2 :]}},
    }  # fmt: skip
    (run / "report").mkdir()
    (run / "report" / "metrics.json").write_text(json.dumps(report))
    found = figure2.from_report(run, names, "quick")
    assert found["gen-a"]["accuracy"] == {k: [0.7] for k in figure2.ACCURACIES}  # strongest
    assert found["gen-a"]["won_by"]["gender_adaptive"] == ["strong"]  # the family named
    assert found["gen-a"]["cheap_only"]["gender_static"] == [True]
    assert figure2.from_report(run, names, "full") is None  # another preset
    assert figure2.from_report(run, ("raw", "other"), "quick") is None  # other transforms
    report["config"]["attackers"] = "cheap"  # no strong family: not what figure2 measures
    (run / "report" / "metrics.json").write_text(json.dumps(report))
    assert figure2.from_report(run, names, "quick") is None
    report["config"]["attackers"] = "all"
    report["results"]["privacy"]["records"] = []
    (run / "report" / "metrics.json").write_text(json.dumps(report))
    assert figure2.from_report(run, names, "quick") is None  # gender not measured


def test_table2_measures_a_real_run_over_seeds(tmp_path) -> None:
    import argparse

    from jaxpriv.data.load import load_dataset
    from train import baselines as baselines_cli

    tiny = "embedded:users=6,long_s=6,short_s=4"
    run = tmp_path / "baselines"
    argv = ["--data", tiny, "--transforms", "resample:5", "--out", str(run)]
    assert baselines_cli.main(argv) == 0
    # 6 users leave 1 held-out user: activity on held-out users by a 2-fold user k-fold.
    args = argparse.Namespace(eval_preset="test", seeds=2, folds=2)
    rows = table2.measure_run(run, load_dataset(tiny), args, skip_raw=False)
    assert list(rows) == ["raw", "resample-5hz"]
    assert {row["activity_split"] for row in rows.values()} == {"kfold"}
    for row in rows.values():
        assert len(row["activity_f1"]["values"]) == 2  # one per seed
        for key in ("activity_f1", "identity_acc_static", "identity_acc_adaptive"):
            assert 0.0 <= row[key]["mean"] <= 1.0
        assert row["dtw_rank"] >= 0.0
    # Raw data under a raw-trained attacker is the same thing as adaptive on raw.
    raw = rows["raw"]
    assert raw["identity_acc_static"]["mean"] > 1 / 6  # better than chance over 6 users
    assert raw["dtw_rank"] <= rows["resample-5hz"]["dtw_rank"] + 1.0
    # Identity by the strongest family, named per seed (the strong family judges raw data).
    assert len(raw["won_by"]["identity_adaptive"]) == 2
    assert set(raw["won_by"]["identity_static"]) <= {"cnn", "rf"}
    assert not raw["cheap_only"]["identity_adaptive"]
