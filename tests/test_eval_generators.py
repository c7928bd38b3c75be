"""Generator evaluators end to end on tiny sinusoid data (preset "test"), and their errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from eval.generator_markdown import render_markdown
from eval.generators import GEN_EVALUATORS, PRESETS, GenContext, evaluate_generator

CHANNELS = ("acc.x", "acc.y", "acc.z")


def sines(seed: int, n: int, w: int = 32) -> tuple[np.ndarray, np.ndarray]:
    """Three-class sinusoid windows (class = frequency, random phase), three channels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    t = np.arange(w) / w
    a = 2 * np.pi * np.asarray([1.0, 2.5, 5.0])[y][:, None] * t + rng.uniform(0, 7, (n, 1))
    x = np.stack([np.sin(a), 0.5 * np.sin(a + 0.6) + 1.0, 0.7 * np.cos(3 * a)], axis=-1)
    return (x + 0.2 * rng.standard_normal((n, w, 3))).astype(np.float32), y


def make_ctx(**kw) -> GenContext:
    train, y_train = sines(10, 120)
    test, y_test = sines(11, 80)
    fresh, y_fresh = sines(12, 90)
    # Synthetic: 10 copies of training windows, then fresh windows of the same distribution.
    synthetic = np.concatenate([train[:10], fresh])
    args = dict(
        real_train=train, real_test=test, synthetic=synthetic, channels=CHANNELS,
        rate_hz=50.0, y_train=y_train, y_test=y_test,
        y_synthetic=np.concatenate([y_train[:10], y_fresh]),
        activity_names=("slow", "mid", "fast"), config=PRESETS["test"], seed=1,
        log=lambda line: None,
    )  # fmt: skip
    return GenContext(**{**args, **kw})


@pytest.fixture(scope="module")
def windows_result() -> dict:
    lines: list[str] = []
    return {"result": evaluate_generator(make_ctx(log=lines.append)), "lines": lines}


def test_every_evaluator_runs_on_windows(windows_result) -> None:
    result, lines = windows_result["result"], windows_result["lines"]
    ev = result["evaluators"]
    assert list(ev) == list(GEN_EVALUATORS) == [
        "inliers", "discriminator", "marginals", "correlation", "tstr", "memorization",
    ]  # fmt: skip
    assert not any("skipped" in r for r in ev.values())
    json.dumps(result)  # JSON-able
    assert lines[0] == "[1/6] inliers" and any(
        line.startswith("[6/6] memorization:") for line in lines
    )
    assert set(ev["inliers"]["per_kernel"]) == {"linear", "rbf"}
    rows = ev["discriminator"]["rows"]
    assert list(rows) == [
        "synthetic vs real",
        "synthetic vs real (feature forest)",
        "real vs real",
        "real vs noise",
        "real vs held-out users",
    ]
    assert ev["discriminator"]["per_side"] == 60  # the preset caps every set alike
    assert all(len(r["accuracy_per_seed"]) == 3 for r in rows.values())
    assert rows["real vs noise"]["mean"] > rows["real vs real"]["mean"]
    # The generator is conditional: both judges break their accuracy down by activity.
    for row in ("synthetic vs real", "synthetic vs real (feature forest)"):
        per = rows[row]["per_group"]
        assert set(per) <= {"0", "1", "2"} and len(per) >= 2
        n = sum(g["test_windows"] for g in per.values())
        assert n == 2 * rows[row]["test_per_side"] * 3  # every held-out window of 3 seeds
        pooled = sum(g["accuracy"] * g["test_windows"] for g in per.values()) / n
        np.testing.assert_allclose(pooled, rows[row]["mean"], atol=1e-9)
    assert "per_group" not in rows["real vs real"]
    assert ev["discriminator"]["group_names"] == {"0": "slow", "1": "mid", "2": "fast"}
    assert ev["marginals"]["synthetic"]["names"] == list(CHANNELS)
    assert ev["correlation"]["lags"] == [0, 1] and set(ev["correlation"]["per_lag"]) == {"0", "1"}
    assert ev["tstr"]["classes"] == ["slow", "mid", "fast"] and ev["tstr"]["num_classes"] == 3
    assert ev["memorization"]["exact_copies"] == 10 and ev["memorization"]["n_synthetic"] == 100
    assert result["data"]["synthetic"] == [100, 32, 3] and result["config"]["svm_nu"] == 0.1


def test_markdown_has_a_table_per_evaluator(windows_result) -> None:
    md = render_markdown(windows_result["result"])
    for title in ("One-class SVM", "Discriminator", "Marginal", "Correlation", "Train on synthetic",
                  "Memorisation"):  # fmt: skip
        assert f"## {title}" in md
    assert "| real vs noise |" in md and "| acc.y |" in md
    assert "Exact copies: 10 of 100." in md
    assert "| activity | synthetic vs real | synthetic vs real (feature forest) |" in md
    assert "| slow | " in md and "| fast | " in md
    assert md.count("|---|") >= 6


def test_rows_skip_window_only_evaluators_and_missing_labels() -> None:
    train, _ = sines(10, 120)
    rows = train[:, :, 0]  # (N, F) records: 32 features
    names = tuple(f"f{i}" for i in range(32))
    ctx = make_ctx(real_train=rows, real_test=sines(11, 80)[0][:, :, 0],
                   synthetic=rows[:40] + 0.01, channels=names, y_synthetic=None)  # fmt: skip
    result = evaluate_generator(ctx, ["inliers", "discriminator", "correlation", "tstr"])
    ev = result["evaluators"]
    assert "windows" in ev["discriminator"]["skipped"] and "windows" in ev["tstr"]["skipped"]
    assert ev["inliers"]["per_kernel"]["rbf"]["representation"] == "rows"
    assert ev["correlation"]["lags"] == [0]
    assert "*Skipped: the LSTM discriminator needs windows" in render_markdown(result)
    no_labels = evaluate_generator(make_ctx(y_synthetic=None), ["tstr"])["evaluators"]["tstr"]
    assert "y_synthetic" in no_labels["skipped"]


def test_errors() -> None:
    with pytest.raises(ValueError, match="unknown generator evaluator"):
        evaluate_generator(make_ctx(), ["inliers", "fid"])
    with pytest.raises(ValueError, match="synthetic has samples of shape"):
        make_ctx(synthetic=np.zeros((5, 16, 3), np.float32))
    with pytest.raises(ValueError, match="2 channel names for 3 channels"):
        make_ctx(channels=("a", "b"))
    with pytest.raises(ValueError, match="y_synthetic must be"):
        make_ctx(y_synthetic=np.zeros(3, np.int32))


def test_attribute_conditioned_samples_are_drawn_as_training_users() -> None:
    from eval.generated import training_attributes

    # Three users with their own attributes; user 2 never jogs (activity 1).
    attributes = np.repeat(np.asarray([[1.0, 0, 0], [0, 1.0, 0], [0, 0, 1.0]], np.float32), 4, 0)
    activity = np.asarray([0, 1, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0])
    train = {"attributes": attributes, "activity": activity}
    wanted = np.asarray([1] * 50 + [0] * 50)
    drawn = training_attributes(train, 100, wanted, np.random.default_rng(0))
    assert drawn.shape == (100, 3)
    assert not drawn[:50, 2].any()  # joggers are users 0 and 1 only
    assert set(map(tuple, drawn[50:])) == set(map(tuple, attributes[:9:4]))  # all three walk
    again = training_attributes(train, 100, wanted, np.random.default_rng(0))
    np.testing.assert_array_equal(drawn, again)
    anyone = training_attributes(train, 30, None, np.random.default_rng(1))
    assert anyone.shape == (30, 3) and len(set(map(tuple, anyone))) == 3
    with pytest.raises(ValueError, match="no training window has activity 5"):
        training_attributes(train, 2, np.asarray([0, 5]), np.random.default_rng(0))
