"""Target verdicts: met only by the interval over users, and no privacy verdict where the
raw data does not leak the attribute on that split."""

from __future__ import annotations

from eval.report import targets, verdict


def policies(raw_gender, raw_ci, dyn_gender, dyn_ci, activity=0.9) -> dict:
    rows = []
    for attacker in ("rf", "cnn"):
        rows.append({"policy": "none", "attacker": attacker, "selection": "raw",
                     "gender": raw_gender, "gender_ci": raw_ci, "activity": activity})  # fmt: skip
        rows.append({"policy": "dynamic", "attacker": attacker, "selection": "min",
                     "gender": dyn_gender, "gender_ci": dyn_ci, "activity": activity})  # fmt: skip
    return {"online": {"policies": rows}}


def dynamic(results) -> dict:
    found = targets(None, results)
    return next(t for name, t in found.items() if name.startswith("dynamic") and "rf" in name)


def test_a_policy_near_chance_is_not_judged_where_raw_data_does_not_leak() -> None:
    # No gender signal on these held-out users: raw 49.6% (interval 40-60%).
    t = dynamic(policies(0.496, [0.40, 0.60], 0.50, [0.45, 0.55]))
    assert t["verdict"].startswith("cannot be judged") and "nothing to hide" in t["verdict"]
    assert t["met"] is False


def test_a_policy_is_met_by_its_interval_where_raw_data_leaks() -> None:
    assert dynamic(policies(0.85, [0.75, 0.95], 0.52, [0.45, 0.58]))["verdict"] == "met"
    t = dynamic(policies(0.85, [0.75, 0.95], 0.55, [0.38, 0.70]))
    assert t["verdict"] == "met at the point estimate only" and t["met"] is False
    assert dynamic(policies(0.85, [0.75, 0.95], 0.75, [0.7, 0.8]))["verdict"] == "NOT met"


def test_verdict_words() -> None:
    assert verdict(True, True) == "met"
    assert verdict(False, True) == "met at the point estimate only"
    assert verdict(False, False) == "NOT met"
