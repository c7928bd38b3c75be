"""``eval.figures``: the Pareto mask on hand cases, and every figure as a real PNG file."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eval import figures
from eval.figure_layout import group_label, pareto_front, spans_decades
from eval.figure_panels import MAX_ANNOTATED
from eval.figures import (
    plot_distortion,
    plot_metric_bars,
    plot_privacy_utility,
    plot_traces,
    plot_user_cdfs,
)

# isort: split
import matplotlib.pyplot as plt

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DYSAN_CHANNELS = [f"{s}.{a}" for s in ("rotationRate", "userAcceleration") for a in "xyz"]


# ----------------------------------------------------------------------------- helpers


def assert_png(path: Path, *, min_w: int = 400, min_h: int = 250) -> None:
    """A complete, readable, non-blank PNG, alone in its folder (no temp file left)."""
    assert path.is_file()
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert data[-8:-4] == b"IEND"  # complete file, not a truncated write
    image = plt.imread(path)
    h, w = image.shape[:2]
    assert min_w <= w <= 4000 and min_h <= h <= 4000, (w, h)
    assert float(image[..., :3].std()) > 0.02  # something drawn, not a blank canvas
    assert [p.name for p in path.parent.iterdir()] == [path.name]


@pytest.fixture(autouse=True)
def no_leaked_figures() -> Iterator[None]:
    """Every figure is closed, also when a function refuses its input."""
    plt.close("all")
    yield
    assert plt.get_fignums() == []


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The figures passed to ``save_figure``, inspected before they are written and closed."""
    seen: list[dict[str, Any]] = []
    real = figures.save_figure

    def spy(fig: Any, path: str | Path) -> Path:
        seen.append(
            {
                "axes": fig.axes,
                "yscale": [ax.get_yscale() for ax in fig.axes],
                "legend": [
                    t.get_text()
                    for ax in fig.axes
                    if ax.get_legend() is not None
                    for t in ax.get_legend().get_texts()
                ],
                "texts": [t.get_text() for ax in fig.axes for t in ax.texts],
            }
        )
        return real(fig, path)

    monkeypatch.setattr(figures, "save_figure", spy)
    return seen


def sweep_points(*, alpha: bool = True, ci: bool = True, seed: int = 0) -> list[dict[str, Any]]:
    """36 DySan variants (alpha, lam in 0.1..0.8, alpha + lam <= 0.9) with plausible scores."""
    rng = np.random.default_rng(seed)
    grid = np.round(np.arange(0.1, 0.81, 0.1), 1)
    points = []
    for a, lam in itertools.product(grid, grid):
        if a + lam > 0.9 + 1e-9:
            continue
        act = float(np.clip(0.95 - 0.12 * a + rng.normal(0, 0.01), 0.8, 0.95))
        gen = float(np.clip(0.9 - 0.5 * a + rng.normal(0, 0.03), 0.5, 0.9))
        p: dict[str, Any] = {"name": f"a{a}-l{lam}", "activity": act, "gender": gen, "lam": lam}
        if alpha:
            p["alpha"] = float(a)
        if ci:
            p["activity_ci"] = (act - 0.01, act + 0.02)
            p["gender_ci"] = (gen - 0.03, gen + 0.03)
        points.append(p)
    assert len(points) == 36
    return points


def brute_front(u: np.ndarray, leak: np.ndarray) -> list[bool]:
    """The definition, one pair at a time."""
    out = []
    for i in range(len(u)):
        dominated = any(
            u[j] >= u[i] and leak[j] <= leak[i] and (u[j] > u[i] or leak[j] < leak[i])
            for j in range(len(u))
        )
        out.append(not dominated)
    return out


# ----------------------------------------------------------------------------- pareto_front


def test_pareto_front_excludes_a_dominated_point() -> None:
    u = np.array([0.9, 0.8, 0.85, 0.7])
    leak = np.array([0.3, 0.1, 0.3, 0.05])  # (0.85, 0.3) is beaten by (0.9, 0.3)
    assert pareto_front(u, leak).tolist() == [True, True, False, True]


def test_pareto_front_ties() -> None:
    # Identical points do not dominate each other (no strict inequality).
    assert pareto_front(np.array([0.9, 0.9]), np.array([0.1, 0.1])).tolist() == [True, True]
    # Equal utility: the larger leak loses; equal leak: the smaller utility loses.
    assert pareto_front(np.array([0.9, 0.9]), np.array([0.1, 0.2])).tolist() == [True, False]
    assert pareto_front(np.array([0.8, 0.9]), np.array([0.1, 0.1])).tolist() == [False, True]


def test_pareto_front_single_empty_and_nan() -> None:
    assert pareto_front(np.array([0.5]), np.array([0.4])).tolist() == [True]
    assert pareto_front(np.array([]), np.array([])).tolist() == []
    # NaN is never on the front and does not knock out others.
    mask = pareto_front(np.array([0.9, np.nan, 0.5]), np.array([0.1, 0.0, 0.0]))
    assert mask.tolist() == [True, False, True]


def test_pareto_front_matches_the_definition_on_random_points() -> None:
    rng = np.random.default_rng(3)
    u = rng.integers(0, 6, 60) / 5  # coarse values: many ties
    leak = rng.integers(0, 6, 60) / 10
    mask = pareto_front(u, leak)
    assert mask.dtype == bool
    assert mask.tolist() == brute_front(u, leak)
    assert 0 < mask.sum() < 60


def test_pareto_front_rejects_mismatched_inputs() -> None:
    with pytest.raises(ValueError, match="utility and leak"):
        pareto_front(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="leak must be 1-D"):
        pareto_front(np.zeros(3), np.zeros((3, 1)))


# ----------------------------------------------------------------------------- privacy-utility


def test_privacy_utility_full(tmp_path: Path, captured: list[Any]) -> None:
    points = sweep_points()
    out = plot_privacy_utility(
        points,
        tmp_path / "pu" / "privacy_utility.png",
        reference={"name": "raw", "activity": 0.95, "gender": 0.92},
        policies=[
            {"name": "fixed", "activity": 0.89, "gender": 0.66},
            {"name": "personalized", "activity": 0.9, "gender": 0.6},
            {"name": "dynamic", "activity": 0.91, "gender": 0.56},
        ],
        title="sweep",
    )
    assert out == tmp_path / "pu" / "privacy_utility.png"
    assert_png(out)
    act = np.array([p["activity"] for p in points])
    gen = np.array([p["gender"] for p in points])
    n_front = int(pareto_front(act, np.abs(gen - 0.5)).sum())
    fig = captured[-1]
    assert f"Pareto front ({n_front})" in fig["legend"]
    assert {"raw (reference)", "fixed policy", "dynamic policy"} <= set(fig["legend"])
    assert len(fig["axes"]) == 2  # the plot and its alpha colour bar
    # A few front points are named, never more than the cap.
    names = {p["name"] for p in points}
    labelled = [t for t in fig["texts"] if t in names]
    assert 1 <= len(labelled) <= min(n_front, MAX_ANNOTATED)


def test_privacy_utility_plain_and_single_point(tmp_path: Path, captured: list[Any]) -> None:
    plain = sweep_points(alpha=False, ci=False)
    assert_png(plot_privacy_utility(plain, tmp_path / "a" / "plain.png"))
    assert len(captured[-1]["axes"]) == 1  # no alpha: no colour bar
    one = [{"name": "only", "activity": 0.9, "gender": 0.7, "alpha": 0.3}]
    assert_png(plot_privacy_utility(one, tmp_path / "b" / "one.png"))
    assert "Pareto front (1)" in captured[-1]["legend"]


def test_privacy_utility_front_on_both_sides_of_chance(tmp_path: Path) -> None:
    points = [
        {"name": "low", "activity": 0.85, "gender": 0.45},
        {"name": "high", "activity": 0.9, "gender": 0.6},
        {"name": "worse", "activity": 0.8, "gender": 0.7},
    ]
    assert_png(plot_privacy_utility(points, tmp_path / "both.png"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"points": []}, "points is empty"),
        ({"points": [{"name": "x", "activity": 0.9}]}, r"points\[0\].*lacks \['gender'\]"),
        ({"points": [{"name": "x", "activity": 1.3, "gender": 0.6}]}, r"\[0, 1\]"),
        ({"points": [{"name": "x", "activity": "high", "gender": 0.6}]}, "must be a number"),
        (
            {"points": [{"name": "x", "activity": 0.9, "gender": 0.6, "gender_ci": (0.7, 0.5)}]},
            "gender_ci.*low <= high",
        ),
        (
            {"points": [{"name": "x", "activity": 0.9, "gender": 0.6}], "reference": {"n": 1}},
            "reference lacks",
        ),
        (
            {
                "points": [{"name": "x", "activity": 0.9, "gender": 0.6}],
                "policies": [{"name": "fixed", "activity": 0.9}],
            },
            r"policies\[0\]",
        ),
    ],
)
def test_privacy_utility_rejects_bad_input(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    points = kwargs.pop("points")
    with pytest.raises(ValueError, match=message):
        plot_privacy_utility(points, tmp_path / "bad.png", **kwargs)
    assert not (tmp_path / "bad.png").exists()


# ----------------------------------------------------------------------------- user CDFs


def per_user_data(users: int = 24, seed: int = 1) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    centres = {"raw": (0.93, 0.9), "fixed": (0.88, 0.62), "personalized": (0.89, 0.57)}
    centres["dynamic"] = (0.9, 0.52)
    return {
        name: {
            "activity": np.clip(rng.normal(a, 0.04, users), 0, 1),
            "gender": np.clip(rng.normal(g, 0.12, users), 0, 1),
        }
        for name, (a, g) in centres.items()
    }


def test_user_cdfs_with_nan(tmp_path: Path, captured: list[Any]) -> None:
    data = per_user_data()
    data["dynamic"]["gender"][[2, 5]] = np.nan
    data["fixed"]["activity"][0] = np.nan
    data["empty"] = {"activity": np.full(24, np.nan), "gender": np.full(24, np.nan)}
    assert_png(plot_user_cdfs(data, tmp_path / "cdf.png", title="per user"), min_w=800)
    legend = captured[-1]["legend"]
    assert "dynamic (n=22)" in legend  # gender panel: two NaN users dropped
    assert "dynamic (n=24)" in legend  # activity panel: all users
    assert "fixed (n=23)" in legend
    assert "empty (n=0)" in legend
    assert "chance (50%)" in legend
    assert len(captured[-1]["axes"]) == 2


@pytest.mark.parametrize(
    ("per_user", "message"),
    [
        ({}, "per_user is empty"),
        ({"raw": {"activity": np.ones(3)}}, r"per_user\['raw'\] lacks \['gender'\]"),
        ({"raw": {"activity": np.ones(3), "gender": np.ones(4)}}, "lengths differ: 3 != 4"),
        ({"raw": {"activity": np.ones((3, 2)), "gender": np.ones(3)}}, "must be 1-D"),
        ({"raw": {"activity": np.full(3, 95.0), "gender": np.ones(3)}}, r"\[0, 1\]"),
    ],
)
def test_user_cdfs_rejects_bad_input(tmp_path: Path, per_user: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plot_user_cdfs(per_user, tmp_path / "bad.png")


# ----------------------------------------------------------------------------- traces


def window(channels: int, samples: int = 125, rate: float = 50.0, seed: int = 2) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(samples)[:, None] / rate
    phase = rng.uniform(0, np.pi, channels)
    return np.sin(2 * np.pi * 1.8 * t + phase) + rng.normal(0, 0.05, (samples, channels))


def test_traces_six_channels_two_versions(tmp_path: Path, captured: list[Any]) -> None:
    raw = window(6)
    rng = np.random.default_rng(0)
    released = {
        "dysan-a0.3-l0.5": 0.85 * raw + rng.normal(0, 0.1, raw.shape),
        "raw-noise": raw + rng.normal(0, 0.3, raw.shape),
    }
    units = {c: "rad/s" if c.startswith("rot") else "g" for c in DYSAN_CHANNELS}
    out = plot_traces(raw, released, DYSAN_CHANNELS, 50.0, tmp_path / "t.png", units=units)
    assert_png(out, min_w=1000, min_h=600)
    axes = captured[-1]["axes"]
    assert len(axes) == 6 + 3 + 1  # a row per channel, a spectrogram per version, colour bar
    assert {"raw", "dysan-a0.3-l0.5", "raw-noise"} <= set(captured[-1]["texts"])
    assert axes[-2].get_title() == ""  # only the first spectrogram carries the heading
    assert axes[6].get_title() == "spectrogram of |rotationRate.{x,y,z}|"


def test_traces_one_channel_and_many_channels(tmp_path: Path, captured: list[Any]) -> None:
    assert_png(plot_traces(window(1), {}, ["acc_x"], 50.0, tmp_path / "one" / "t.png"))
    assert len(captured[-1]["axes"]) == 1 + 1 + 1
    assert captured[-1]["axes"][1].get_title() == "spectrogram of acc_x"
    raw = window(12)
    names = [f"ch{i}" for i in range(12)]
    out = plot_traces(raw, {"dynamic": raw * 0.9}, names, 20.0, tmp_path / "many" / "t.png")
    assert_png(out)
    assert len(captured[-1]["axes"]) == 4 + 2 + 1  # 12 channels -> 4 magnitude rows


def test_group_label() -> None:
    assert group_label(["gyro_x", "gyro_y", "gyro_z"]) == "|gyro_{x,y,z}|"
    assert group_label(["ch0", "ch1"]) == "|ch0, ch1|"
    assert group_label(["acc_x"]) == "acc_x"


@pytest.mark.parametrize(
    ("raw", "released", "channels", "rate", "message"),
    [
        (np.zeros(50), {}, ["a"], 50.0, "raw_WxC must be 2-D"),
        (np.zeros((50, 2)), {}, ["a"], 50.0, "channels has 1 names"),
        (np.zeros((50, 1)), {"x": np.zeros((40, 1))}, ["a"], 50.0, r"released\['x'\]"),
        (np.zeros((50, 1)), {}, ["a"], 0.0, "rate_hz must be positive"),
        (np.zeros((4, 1)), {}, ["a"], 50.0, "at least 8"),
        (np.zeros((50, 1)), {"raw": np.zeros((50, 1))}, ["a"], 50.0, "named 'raw'"),
    ],
)
def test_traces_rejects_bad_input(
    tmp_path: Path, raw: Any, released: Any, channels: Any, rate: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        plot_traces(raw, released, channels, rate, tmp_path / "bad.png")


# ----------------------------------------------------------------------------- distortion


REL_ERRORS = {
    "raw-noise": {"mean": 0.02, "std": 0.15, "skewness": 1.4, "kurtosis": 0.9, "energy": 0.25},
    "dysan-a0.3-l0.5": {"mean": 0.05, "std": 0.08, "skewness": 0.6, "kurtosis": 0.4, "energy": 0.1},
    "fixed policy": {"mean": 0.06, "std": 0.1, "skewness": 0.7, "kurtosis": 0.5, "energy": 0.15},
}


def test_spans_decades() -> None:
    assert not spans_decades(np.array([0.02, 1.4]))  # under two decades
    assert spans_decades(np.array([0.001, 0.5, np.nan]))
    assert not spans_decades(np.array([0.0, 0.001, 5.0]))  # zero cannot go on a log axis
    assert not spans_decades(np.array([3.0]))


def test_distortion_linear_and_log(tmp_path: Path, captured: list[Any]) -> None:
    assert_png(plot_distortion(REL_ERRORS, tmp_path / "lin" / "d.png"))
    assert captured[-1]["yscale"] == ["linear"]
    assert list(REL_ERRORS) == captured[-1]["legend"]
    wide = {k: {**v, "mean": v["mean"] / 100} for k, v in REL_ERRORS.items()}
    wide["fixed policy"]["energy"] = float("nan")  # a missing bar is tolerated
    assert_png(plot_distortion(wide, tmp_path / "log" / "d.png", title="log"))
    assert captured[-1]["yscale"] == ["log"]
    two = plot_distortion(REL_ERRORS, tmp_path / "two" / "d.png", stats=("mean", "std"))
    assert_png(two)


@pytest.mark.parametrize(
    ("rel_errors", "stats", "message"),
    [
        ({}, ("mean",), "rel_errors is empty"),
        ({"a": {"mean": 0.1}}, (), "stats is empty"),
        ({"a": {"mean": 0.1}}, ("mean", "std"), r"rel_errors\['a'\] lacks \['std'\]"),
        ({"a": {"mean": "big"}}, ("mean",), "must be a number"),
    ],
)
def test_distortion_rejects_bad_input(
    tmp_path: Path, rel_errors: Any, stats: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        plot_distortion(rel_errors, tmp_path / "bad.png", stats=stats)


# ----------------------------------------------------------------------------- metric bars


def test_metric_bars_with_ci_chance_and_missing(tmp_path: Path, captured: list[Any]) -> None:
    rows = [
        {"name": "raw", "static": 0.93, "adaptive": 0.93, "static_ci": (0.91, 0.95)},
        {"name": "dysan", "static": 0.58, "adaptive": 0.71, "adaptive_ci": (0.68, 0.74)},
        {"name": "noise", "static": 0.8, "adaptive": float("nan")},
    ]
    for row in rows:
        row["chance"] = 0.5
    out = plot_metric_bars(rows, tmp_path / "m.png", metric_keys=["static", "adaptive"])
    assert_png(out)
    fig = captured[-1]
    assert fig["legend"].count("chance") == 1  # one legend entry for all chance segments
    assert fig["texts"] == ["n/a"]  # the unmeasured bar is marked, not drawn as 0%


def test_metric_bars_plain(tmp_path: Path, captured: list[Any]) -> None:
    rows = [{"name": f"t{i}", "CNN": 0.9 - i / 20, "RF": 0.85 - i / 20} for i in range(6)]
    assert_png(plot_metric_bars(rows, tmp_path / "m.png", metric_keys=["CNN", "RF"], title="x"))
    assert "chance" not in captured[-1]["legend"]


@pytest.mark.parametrize(
    ("rows", "keys", "message"),
    [
        ([], ["a"], "rows is empty"),
        ([{"name": "x", "a": 0.5}], [], "metric_keys is empty"),
        ([{"name": "x", "a": 0.5}], ["a", "b"], r"rows\[0\] lacks \['b'\]"),
        ([{"name": "x", "a": 1.5}], ["a"], r"\[0, 1\]"),
        ([{"name": "x", "a": 0.5, "a_ci": (0.6, 0.4)}], ["a"], "a_ci.*low <= high"),
        ([{"name": "x", "a": 0.5, "a_ci": 0.1}], ["a"], r"\(low, high\) pair"),
        ([{"name": "x", "a": 0.5, "chance": 2}], ["a"], "chance"),
    ],
)
def test_metric_bars_rejects_bad_input(tmp_path: Path, rows: Any, keys: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plot_metric_bars(rows, tmp_path / "bad.png", metric_keys=keys)
