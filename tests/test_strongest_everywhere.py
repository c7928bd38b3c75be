"""The strongest attacker over every family that judged, wherever a privacy figure is read:
DySan's online policy streams, Figure 2, Table 2 and the RAE's replacement metrics, each
naming the family that decided it. Constructed predictions stand in for trained attackers
(an :class:`EvalContext` with its ``_predictions`` filled), so nothing trains.
"""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest

from eval import figure2, report_markdown, table2
from eval.attackers import UNJUDGED
from eval.config import PRESETS
from eval.context import EvalContext
from eval.evaluators.online import describe_decided, online_phase
from eval.splits import EvalSplit
from eval.transforms import RAW
from jaxpriv.data.windows import Windows

PER_USER = 20  # windows per user: 6 calibrate (30%), 14 stream in chunks of 5, 5, 4
CALIBRATION = 6


def _windows() -> Windows:
    """Two users (F, M), one recording each, one activity each (no calibration RF fits)."""
    n = 2 * PER_USER
    subject = np.repeat([0, 1], PER_USER)
    return Windows(
        x=np.zeros((n, 8, 1)), activity=subject, subject=subject, gender=subject,
        trial=np.zeros(n), recording=subject, start=np.tile(np.arange(PER_USER) * 8, 2),
        attributes=np.full((n, 3), np.nan), activities=("sit", "walk"), subjects=("f", "m"),
        trials=("t",), channels=("c",), rate_hz=50.0, window=8, stride=8,
    )  # fmt: skip


def _stream_ok(user0: np.ndarray | str, user1: np.ndarray | str) -> np.ndarray:
    """Correctness ``(N,)`` on all test windows from each user's 14 stream windows
    ("all", "half": alternating from correct, "off": alternating from wrong)."""
    pattern = {
        "all": np.ones(14, bool),
        "half": np.arange(14) % 2 == 0,
        "off": np.arange(14) % 2 == 1,
    }
    parts = [
        np.r_[np.ones(CALIBRATION, bool), pattern[u] if isinstance(u, str) else u]
        for u in (user0, user1)
    ]
    return np.concatenate(parts)


def _online_context() -> EvalContext:
    """Raw and sanitizers s1, s2. The selector (cnn) finds s1 at chance for the woman and
    s2 for the man (but for his last chunk); rf is at chance everywhere; the strong family
    sees through s1 and was not trained for s2 (the staged plan)."""
    test = _windows()
    gender = test.gender
    n = len(test)
    split = EvalSplit("subject", test, test, np.zeros((3, n, 8, 1), np.float32),
                      np.zeros((3, n, 8, 1), np.float32), ())  # fmt: skip
    ctx = EvalContext(
        SimpleNamespace(method="dysan", names=(RAW, "s1", "s2")), {"subject": split},
        PRESETS["test"], rate_hz=50.0, log=lambda line: None,
    )  # fmt: skip
    ctx._features[("subject", "test")] = np.zeros((3, n, 4))

    def predicted(*ok_rows) -> np.ndarray:
        return np.stack([np.where(ok, gender, 1 - gender) for ok in ok_rows])

    man_s2 = np.r_[np.arange(10) % 2 == 0, np.ones(4, bool)]  # chance, then a leaky chunk
    every = _stream_ok("all", "all")
    ctx._predictions[("subject", "activity", "cnn", "adaptive")] = np.tile(test.activity, (3, 1))
    ctx._predictions[("subject", "gender", "cnn", "adaptive")] = predicted(
        every, _stream_ok("half", "all"), _stream_ok("all", man_s2)
    )
    ctx._predictions[("subject", "gender", "rf", "adaptive")] = predicted(
        every, _stream_ok("off", "off"), _stream_ok("off", "off")
    )
    strong = predicted(every, every, every)
    strong[2] = UNJUDGED
    ctx._predictions[("subject", "gender", "strong", "adaptive")] = strong
    return ctx


def _row(result: dict, selection: str, policy: str, attacker: str) -> dict | None:
    hits = [
        p for p in result["policies"]
        if (p["selection"], p["policy"], p["attacker"]) == (selection, policy, attacker)
    ]  # fmt: skip
    return hits[0] if hits else None


def test_policy_streams_are_judged_by_the_strongest_family_per_released_sanitizer() -> None:
    result = online_phase(_online_context())
    assert set(result["attackers"]) == {"cnn", "rf", "strong", "strongest"}
    # The selection is still the cheap CNN's: s1 for everybody (fixed), s1 for the woman
    # and s2 for the man (personalized).
    fixed_cnn = _row(result, "DySan", "fixed", "cnn")
    assert fixed_cnn["sanitizer"] == "s1" and fixed_cnn["gender"] == pytest.approx(21 / 28)
    # Fixed: the strong family judged s1 and sees through it: it decides the whole stream.
    fixed = _row(result, "DySan", "fixed", "strongest")
    assert fixed["gender"] == pytest.approx(1.0)
    assert fixed["decided_by"] == "strong" and fixed["decided_share"] == {"strong": 1.0}
    assert not fixed["cheap_only"] and fixed["judged_by"] == ["cnn", "rf", "strong"]
    assert _row(result, "DySan", "fixed", "strong")["gender"] == pytest.approx(1.0)
    # Personalized: the woman's s1 windows by strong (14 of 14), the man's s2 windows by
    # the better cheap family there, the CNN (9 of 14; rf 7): marked cheap only.
    pers = _row(result, "DySan", "personalized", "strongest")
    assert pers["gender"] == pytest.approx(23 / 28)
    assert pers["decided_share"] == {"cnn": 0.5, "strong": 0.5}
    assert pers["cheap_only"] and pers["cheap_only_share"] == pytest.approx(0.5)
    assert _row(result, "DySan", "personalized", "strong") is None  # s2 not judged by it
    assert describe_decided(pers) == "cnn 50%, strong 50% (cheap only on 50% of windows)"
    # The strongest is never below a family that judged the whole stream.
    for p in result["policies"]:
        if p["attacker"] == "strongest":
            for family in ("cnn", "rf", "strong"):
                other = _row(result, p["selection"], p["policy"], family)
                assert other is None or p["gender"] >= other["gender"] - 1e-12
    # Table 1 at the full set is the dynamic policy: the same strongest figure.
    dynamic = _row(result, "DySan", "dynamic", "strongest")
    full = result["subsets"]["strongest"][0]
    assert full["size"] == 2 and full["gender"] == pytest.approx(dynamic["gender"])
    assert full["decided_share"] == pytest.approx(dynamic["decided_share"])
    assert "strong" not in result["subsets"]  # it did not judge every sanitizer
    # The report names the family that decided each stream row.
    text = "\n".join(report_markdown._online(result))
    assert "cnn 50%, strong 50% (cheap only on 50% of windows)" in text
    assert "| strong |" in text.replace("  ", " ")


def _context(kind: str, predictions: dict[tuple, np.ndarray], **config) -> EvalContext:
    """Raw and two releases a, b of the two users' windows, with constructed predictions
    ``(task, family, mode) -> (3, N)``."""
    test = _windows()
    n = len(test)
    released = np.zeros((3, n, 8, 1), np.float32)
    split = EvalSplit(kind, test, test, released, released, ())
    cfg = dataclasses.replace(PRESETS["test"], **config)
    transforms = SimpleNamespace(method="x", names=(RAW, "a", "b"), info={})
    ctx = EvalContext(transforms, {kind: split}, cfg, rate_hz=50.0, log=lambda line: None)
    for (task, family, mode), pred in predictions.items():
        ctx._predictions[(kind, task, family, mode)] = pred
    return ctx


def _right(y: np.ndarray, share: float) -> np.ndarray:
    """``y`` with the first ``1 - share`` of the windows mislabelled (binary labels)."""
    out = y.copy()
    out[: round((1 - share) * len(y))] = 1 - out[: round((1 - share) * len(y))]
    return out


def _gender_predictions() -> dict[tuple, np.ndarray]:
    """Gender and activity: rf beats cnn on a; strong beats both on raw and a, and was not
    trained for b (where cnn wins)."""
    y = _windows().gender
    never = np.full(len(y), UNJUDGED)
    preds = {
        ("gender", "cnn", "adaptive"): np.stack([_right(y, 0.9), _right(y, 0.6), _right(y, 0.7)]),
        ("gender", "rf", "adaptive"): np.stack([_right(y, 0.8), _right(y, 0.7), _right(y, 0.5)]),
        ("gender", "strong", "adaptive"): np.stack([_right(y, 1.0), _right(y, 0.8), never]),
    }
    for family, share in (("cnn", 0.9), ("rf", 0.8)):
        preds[("gender", family, "static")] = np.stack([_right(y, share)] * 3)
        for mode in ("static", "adaptive"):
            preds[("activity", family, mode)] = np.stack([_right(y, share)] * 3)
    return preds


def test_figure2_takes_the_strongest_record_over_every_family_and_names_it() -> None:
    from eval.evaluators.attacks import attack_records

    ctx = _context("subject", _gender_predictions())
    found: dict[str, dict] = {}
    for role in ("utility", "privacy"):
        figure2.collect(attack_records(ctx, role), "subject", found)
    assert found["a"]["accuracy"]["gender_adaptive"] == [pytest.approx(0.8)]
    assert found["a"]["won_by"]["gender_adaptive"] == ["strong"]
    assert found["b"]["won_by"]["gender_adaptive"] == ["cnn"]
    assert found["b"]["cheap_only"]["gender_adaptive"] == [True]
    assert found["b"]["cheap_only"]["gender_static"] == [False]  # strong: adaptive only
    assert found[RAW]["won_by"]["activity_static"] == ["cnn"]
    # The table names the winner of every figure and stars the cheap-only ones.
    rows = {}
    for name, method in ((RAW, RAW), ("a", "dysan"), ("b", "gen")):
        entry = found[name]
        rows[method] = {
            **{k: v[0] for k, v in entry["accuracy"].items()},
            "won_by": entry["won_by"],
            "cheap_only": {k: any(v) for k, v in entry["cheap_only"].items()},
            "variant": name,
            "method": method,
        }
    table = {r["method"]: r for r in figure2.accuracy_table(rows)}
    assert table["DySan"]["gender adaptive"] == "80.0 (strong)"
    assert table["GEN"]["gender adaptive"] == "70.0 (cnn*)"
    assert figure2.cheap_only_figures(rows) == ["GEN b gender adaptive"]
    assert figure2.won_by({"won_by": {"k": ["rf", "strong", "rf"]}}, "k") == "rf/strong"


def test_table2_identity_is_the_strongest_family_named() -> None:
    subject = _windows().subject
    never = np.full(len(subject), UNJUDGED)
    preds = {
        ("identity", "cnn", "static"): np.stack([_right(subject, 0.9)] * 3),
        ("identity", "rf", "static"): np.stack([_right(subject, 0.95)] * 3),
        ("identity", "cnn", "adaptive"): np.stack([_right(subject, s) for s in (0.9, 0.5, 0.6)]),
        ("identity", "rf", "adaptive"): np.stack([_right(subject, s) for s in (0.8, 0.55, 0.7)]),
        ("identity", "strong", "adaptive"): np.stack(
            [_right(subject, 1.0), _right(subject, 0.75), never]
        ),
    }
    ctx = _context("trial", preds)
    static = table2.strongest_scores(ctx, "trial", "identity", "static")
    adaptive = table2.strongest_scores(ctx, "trial", "identity", "adaptive")
    assert {n: s["attacker"] for n, s in static.items()} == {RAW: "rf", "a": "rf", "b": "rf"}
    assert not any(s["cheap_only"] for s in static.values())  # strong: adaptive only
    assert {n: (s["attacker"], s["accuracy"]) for n, s in adaptive.items()} == {
        RAW: ("strong", pytest.approx(1.0)),
        "a": ("strong", pytest.approx(0.75)),
        "b": ("rf", pytest.approx(0.7)),
    }
    assert adaptive["b"]["cheap_only"] and adaptive["b"]["judged_by"] == ["cnn", "rf"]
    row = {
        "activity_f1": {"mean": 0.9, "var": 0.0},
        "identity_acc_static": {"mean": 0.95},
        "identity_f1_static": {"mean": 0.9},
        "identity_acc_adaptive": {"mean": 0.7},
        "identity_f1_adaptive": {"mean": 0.6},
        "dtw_rank": 1.0,
        "won_by": {"identity_static": ["rf"], "identity_adaptive": ["rf", "cnn"]},
        "cheap_only": {"identity_static": False, "identity_adaptive": True},
    }
    shown = table2.table_rows({"aae": row})[0]
    assert shown["ID acc raw-trained"] == "95.00 (rf)"
    assert shown["ID acc adaptive"] == "70.00 (rf/cnn*)"
    assert table2.cheap_only_figures({"aae": row}) == ["AAE identity adaptive"]


ACTIVITIES = ("sit", "walk")
ROLES = {"required": [], "sensitive": ["sit"], "neutral": ["walk"]}


def test_replacement_takes_the_strongest_over_every_family_that_judged() -> None:
    from eval.evaluators.replacement import markdown, replacement

    y = _windows().activity  # 0 = sit (sensitive), 1 = walk
    replaced = np.ones_like(y)  # every sitting window called walking: hidden
    never = np.full(len(y), UNJUDGED)
    preds = {
        ("activity", family, mode): np.stack([y, replaced, replaced])
        for family in ("cnn", "rf")
        for mode in ("static", "adaptive")
    }
    preds[("activity", "strong", "adaptive")] = np.stack([y, y, never])  # sees through a
    ctx = _context("subject", preds, strong_roles=("privacy", "utility"))
    ctx.transforms.info["roles"] = ROLES
    result = replacement(ctx)
    best = {(r["mode"], r["transform"]): r for r in result["records"] if r["family"] == "strongest"}
    assert best[("adaptive", "a")]["attacker"] == "strong"
    assert best[("adaptive", "a")]["privacy_gap"] == pytest.approx(0.5)
    assert best[("adaptive", "b")]["attacker"] == "cnn" and best[("adaptive", "b")]["cheap_only"]
    assert not best[("static", "b")]["cheap_only"] and result["not_applied"] == []
    text = "\n".join(markdown(result))
    assert "| a | strongest: strong |" in text and "| b | strongest: cnn (cheap only) |" in text
    # By default the strong family does not attack activity: the output says so.
    cheap = _context("subject", {k: v for k, v in preds.items() if k[1] != "strong"})
    cheap.transforms.info["roles"] = ROLES
    default = replacement(cheap)
    assert default["not_applied"] == ["strong"]
    assert "Not judged by the strong family" in "\n".join(markdown(default))


def test_report_draws_every_family_with_na_where_a_staged_one_did_not_judge(tmp_path) -> None:
    from eval import report_figures
    from eval.evaluators.attacks import attack_records

    records = attack_records(_context("subject", _gender_predictions()), "privacy")
    paths = report_figures._gender_attackers(records, ["a", "b"], tmp_path)  # b: no strong
    assert [p.name for p in paths] == ["gender_attackers.png"] and paths[0].stat().st_size


def test_judge_also_trains_the_strong_family_for_a_tables_rows(monkeypatch) -> None:
    # Figure 2 shows variants chosen after the plan; judge_also trains the staged family for
    # them (only for those it did not judge) and the plan lists them as "shown".
    from eval import context as context_module
    from eval.attackers import Family

    test = _windows()
    n = len(test)
    names = (RAW, "s1", "s2", "s3")
    released = np.zeros((4, n, 8, 1), np.float32)
    split = EvalSplit("subject", test, test, released, released, ())
    ctx = EvalContext(
        SimpleNamespace(method="x", names=names), {"subject": split},
        dataclasses.replace(PRESETS["test"], front_margin=0.0), rate_hz=50.0,
        log=lambda line: None,
    )  # fmt: skip
    right = np.tile(test.gender, (4, 1))
    ctx._predictions[("subject", "activity", "cnn", "adaptive")] = np.tile(test.activity, (4, 1))
    ctx._predictions[("subject", "activity", "rf", "adaptive")] = np.tile(test.activity, (4, 1))
    # s1 hides gender from the cheap attackers (the front); s2, s3 leak it.
    leaky = np.where(np.arange(n) % 2 == 0, test.gender, 1 - test.gender)
    cheap = np.stack([right[0], leaky, right[2], right[3]])
    ctx._predictions[("subject", "gender", "cnn", "adaptive")] = cheap
    ctx._predictions[("subject", "gender", "rf", "adaptive")] = cheap
    trained: list[list[int]] = []

    def strong(data, selected, *, mode, cfg, seed, execution):
        trained.append([int(v) for v in np.flatnonzero(selected)])
        return np.where(selected[:, None], right, UNJUDGED).astype(np.int32), {}

    monkeypatch.setitem(context_module.REGISTRY, "strong", Family("strong", strong, True, ""))
    # raw and s2, s3 are at the ceiling (accuracy 1): the plan trains the front only.
    assert ctx.judge_also("subject", "gender", [1, 2]) == [2]
    assert trained == [[1], [2]]
    assert ctx.judge_also("subject", "gender", [1, 2]) == []  # nothing trained twice
    judged = ctx.judged("subject", "gender", "strong", "adaptive")
    assert list(np.flatnonzero(judged)) == [1, 2]
    assert ctx.plans()["subject/gender"]["shown"] == [2]
