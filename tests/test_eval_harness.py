"""The harness end to end on a tiny trained DySan run: transforms, splits, every
evaluator, the report files; and its clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest

from eval import harness
from eval.splits import build_split
from eval.transforms import RAW, RELEASE_CHUNK, load_transforms
from jaxpriv.checkpoint import CheckpointError
from jaxpriv.data.load import load_from_description
from jaxpriv.data.task import task_windows
from jaxpriv.methods.dysan_io import load_sanitizer
from train import dysan as dysan_cli

ARGS = [
    *("--data", "embedded:users=8,long_s=8,short_s=4", "--epochs", "1", "--batch-size", "32"),
    *("--k-pred", "1", "--k-disc", "1", "--width", "0.125", "--grid", "alpha=0.3,0.6;lam=0.2"),
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dysan-run")
    assert dysan_cli.main([*ARGS, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def report(run_dir) -> tuple[Path, dict]:
    out = run_dir / "report"
    assert (
        harness.main(["--run", str(run_dir), "--preset", "test", "--splits", "subject,trial"]) == 0
    )
    return out, json.loads((out / "metrics.json").read_text())


def test_transforms_are_raw_plus_every_variant_and_release_like_the_sanitizer(run_dir) -> None:
    t = load_transforms(run_dir)
    assert t.names == (RAW, "dysan-a0.3-l0.2", "dysan-a0.6-l0.2")
    assert t.method == "dysan" and t.spec.window == 125 and len(t.spec.channels) == 6
    ds = load_from_description(t.data)
    split = build_split(ds, t, "subject", seed=3)
    win = split.test
    assert split.released_test.shape == (3, len(win), 125, 6)
    np.testing.assert_array_equal(split.released_test[0], win.x)  # raw is the identity
    # Every window of the dataset is released once (the split's store, seed 3), and the
    # split takes its rows: variant 2's release of the store's first chunk equals the
    # standalone sanitizer with the same key.
    np.testing.assert_array_equal(split.released_test, split.store.take(split.store_rows["test"]))
    task = t.spec.task()
    every = task_windows(task, task.cut(ds))
    key = jax.random.split(jax.random.fold_in(jax.random.key(3), 0), 2)[1]
    n = min(len(every), RELEASE_CHUNK)
    expected = load_sanitizer(run_dir, index=1)(
        every.x[:n], every.attributes[:n], every.activity[:n], key
    )
    np.testing.assert_allclose(split.store.released[2, :n], np.asarray(expected), atol=1e-5)
    assert not np.allclose(split.released_test[1], split.released_test[2])


def test_report_holds_every_attacker_split_and_metric(report) -> None:
    _out, m = report
    assert {"utility", "privacy", "distortion", "dtw", "online"} <= m["results"].keys()
    records = m["results"]["privacy"]["records"] + m["results"]["utility"]["records"]
    names = [t["name"] for t in m["transforms"]]
    # Every (split, task, family, mode) has one record per transform, labelled.
    combos = {(r["split"], r["task"], r["family"], r["mode"]) for r in records}

    def key(r: dict) -> tuple | None:
        return (r["split"], r["task"], r["family"]) if r["mode"] == "adaptive" else None

    for split, tasks in (
        ("subject", ("activity", "gender")),
        ("trial", ("activity", "gender", "identity")),
    ):
        for task in tasks:
            for family in ("cnn", "rf", "strongest"):
                for mode in ("static", "adaptive"):
                    assert (split, task, family, mode) in combos
            # The strong family: adaptive privacy attackers, for raw data and the staged plan.
            adaptive = {f: {r["transform"]: r for r in records if key(r) == (split, task, f)}
                        for f in ("strong", "strongest")}  # fmt: skip
            if task == "activity":
                assert not adaptive["strong"]
                continue
            plan = m["results"]["privacy"]["plans"][f"{split}/{task}"]
            assert set(adaptive["strong"]) == {names[v] for v in plan["selected"]}
            # Raw data and the front, less what the cheap attackers judge at the ceiling.
            saturated = set(plan["saturated"])
            assert not saturated & set(plan["selected"])
            assert set(plan["front"]) - saturated <= set(plan["selected"])
            assert (RAW in adaptive["strong"]) == (0 not in saturated)
            for name, r in adaptive["strongest"].items():
                assert ("strong" in r["judged_by"]) == (name in adaptive["strong"])
                assert r["cheap_only"] == (name not in adaptive["strong"])
    assert ("subject", "identity", "cnn", "adaptive") not in combos  # unseen users: no identity
    assert ("subject", "gender", "strong", "static") not in combos
    strength = m["results"]["privacy"]["strength"]
    assert {s["family"] for s in strength if s["mode"] == "adaptive"} == {"cnn", "rf", "strong"}
    assert isinstance(m["results"]["privacy"]["warnings"], list)
    training = m["results"]["privacy"]["training"]["subject/gender/strong/adaptive"]
    assert len(training["steps"]) == len(m["results"]["privacy"]["plans"]["subject/gender"][
        "selected"])  # fmt: skip
    for r in records:
        assert r["transform"] in names and r["threat"]
        assert 0 <= r["accuracy"] <= 1 and r["ci"]["low"] <= r["ci"]["high"]
        assert len(r["per_user"]["accuracy"]) == r["users"]
        if r["family"] == "strongest":
            assert r["accuracy"] == max(
                q["accuracy"] for q in records
                if q["family"] == r["attacker"] and all(
                    q[k] == r[k] for k in ("split", "task", "mode", "transform"))
            )  # fmt: skip
    # Static and adaptive attackers agree on raw data only when fitted alike: both exist.
    dist = m["results"]["distortion"]["per_transform"]
    assert dist[RAW]["mse"] == 0 and all(dist[n]["mse"] > 0 for n in names[1:])
    dtw = m["results"]["dtw"]
    assert dtw["distance"]["per_transform"][RAW] == pytest.approx(0, abs=1e-5)
    assert dtw["rank"]["per_transform"][RAW]["mean_rank"] >= 0
    assert m["splits"]["subject"]["warnings"]  # 8 users: fewer than 4 held out


def test_online_phase_compares_policies_on_the_same_users(report) -> None:
    _, m = report
    online = m["results"]["online"]
    policies = {(p["selection"], p["policy"], p["attacker"]) for p in online["policies"]}
    for selection in ("DySan", "DySan(o)"):
        for policy in ("fixed", "personalized", "dynamic"):
            assert (selection, policy, "rf") in policies and (selection, policy, "cnn") in policies
    users = {tuple(p["users"]) for p in online["policies"]}
    assert len(users) == 1  # every policy on the same test users
    assert 0 <= online["calibration_rf_accuracy"] <= 1
    assert online["subsets"]["rf"][0]["size"] == 2  # capped at the run's 2 sanitizers
    assert set(online["fingerprint"]) == {"2"}


def test_report_files_are_written_and_headline_lists_raw_and_variants(report) -> None:
    out, m = report
    text = (out / "report.md").read_text()
    assert "## Headline" in text and "held-out users" in text and "dysan-a0.6-l0.2" in text
    assert "## Attacker families and where they were spent" in text
    assert "Attacker strength, adaptive, on raw data: cnn" in text and "judged by" in text
    for png in ("privacy_utility.png", "user_cdfs.png", "distortion.png", "traces_wlk.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"]({png})" in text
    rows = [r["transform"] for r in m["headline"]]
    assert rows[:3] == [RAW, "dysan-a0.3-l0.2", "dysan-a0.6-l0.2"]
    assert any("dynamic" in r for r in rows)
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_few_held_out_users_add_the_user_kfold_which_tests_every_user(report) -> None:
    _, m = report
    subject, kfold = m["splits"]["subject"], m["splits"]["kfold"]
    assert len(subject["test_users"]) < 4  # 8 users: the run held out 2
    users = sorted(kfold["test_users"])
    assert users == sorted(subject["train_users"] + subject["test_users"])
    assert sorted(u for fold in kfold["folds"] for u in fold) == users  # each user once
    gender = [r for r in m["results"]["privacy"]["records"] if r["split"] == "kfold"
              and r["task"] == "gender" and r["family"] == "strongest"]  # fmt: skip
    assert gender and all(r["users"] == len(users) for r in gender)
    assert any("kfold" in name and "best variant" in name for name in m["targets"]) or any(
        "each user held out once" in name for name in m["targets"]
    )
    headline = m["headline"][0]["gender 95% CI"]
    assert f"({len(users)} users)" in headline  # the headline reports the k-fold


def test_bad_inputs_give_clear_errors(run_dir, tmp_path, capsys) -> None:
    assert harness.main(["--run", str(tmp_path)]) == 2
    assert "no checkpoints/" in capsys.readouterr().err
    assert harness.main(["--run", str(run_dir), "--evaluators", "privacy,nope"]) == 2
    assert "unknown ['nope']" in capsys.readouterr().err
    assert harness.main(["--run", str(run_dir), "--splits", "users"]) == 2
    with pytest.raises(CheckpointError):
        load_transforms(tmp_path)
