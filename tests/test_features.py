"""Tests of the hand-crafted window features and the shared random-forest helper."""

from __future__ import annotations

import numpy as np
import pytest

from jaxpriv.features import (
    FEATURES,
    PERCENTILES,
    feature_names,
    fit_random_forest,
    window_features,
)

RATE = 50.0
W = 125  # DySan's 2.5 s windows at 50 Hz: rFFT bins 0.4 Hz apart
DYSAN = [f"{g}.{a}" for g in ("rotationRate", "userAcceleration") for a in "xyz"]


def _col(channels: list[str], channel: str, feature: str) -> int:
    return feature_names(channels).index(f"{channel}:{feature}")


def _sines(freqs_N: np.ndarray, w: int = W, phase_N: np.ndarray | None = None) -> np.ndarray:
    """One-channel windows ``(N, w, 1)`` of unit sinusoids at ``freqs_N`` Hz."""
    t_W = np.arange(w) / RATE
    phase_N = np.zeros(len(freqs_N)) if phase_N is None else phase_N
    return np.sin(2 * np.pi * freqs_N[:, None] * t_W + phase_N[:, None])[..., None]


def test_shapes_names_and_dtype():
    x = np.random.default_rng(0).normal(size=(7, W, 6)).astype(np.float32)
    f = window_features(x, RATE, DYSAN)
    names = feature_names(DYSAN, RATE)
    assert f.shape == (7, len(names)) and f.dtype == np.float32
    # 6 axes + |rotationRate| + |userAcceleration|, each with every feature.
    assert len(names) == 8 * len(FEATURES) == len(set(names))
    assert names[0] == "rotationRate.x:mean" and names[-1] == "|userAcceleration|:spectral_entropy"


@pytest.mark.parametrize("freq", [3.2, 7.3, 11.0])
def test_sinusoid_dominant_frequency(freq):
    f = window_features(_sines(np.array([freq])), RATE, ["s"])[0]
    bin_hz = RATE / W
    assert abs(f[_col(["s"], "s", "freq1_hz")] - freq) <= bin_hz
    share1, share2 = f[_col(["s"], "s", "freq1_share")], f[_col(["s"], "s", "freq2_share")]
    # Off-bin tones leak into the neighbouring bin (worst case half-way: ~0.4 + 0.4).
    assert share1 >= share2 and share1 > 0.35 and share1 + share2 > 0.75
    if freq == 3.2:  # exactly on bin 8: all power in one bin, spectrum a spike
        assert f[_col(["s"], "s", "freq1_hz")] == pytest.approx(3.2, abs=1e-5)
        assert f[_col(["s"], "s", "freq1_share")] > 0.99
        assert f[_col(["s"], "s", "spectral_entropy")] < 0.05


def test_two_tone_gives_both_frequencies_in_order():
    t_W = np.arange(W) / RATE
    x = (2.0 * np.sin(2 * np.pi * 2.0 * t_W) + np.sin(2 * np.pi * 6.0 * t_W))[None, :, None]
    f = window_features(x, RATE, ["s"])[0]
    assert f[_col(["s"], "s", "freq1_hz")] == pytest.approx(2.0, abs=1e-5)
    assert f[_col(["s"], "s", "freq2_hz")] == pytest.approx(6.0, abs=1e-5)
    # Power ratio 4:1 between the tones.
    assert f[_col(["s"], "s", "freq1_share")] == pytest.approx(0.8, abs=1e-3)
    assert f[_col(["s"], "s", "freq2_share")] == pytest.approx(0.2, abs=1e-3)


def test_white_noise_has_high_spectral_entropy():
    x = np.random.default_rng(1).normal(size=(1, 1000, 1))
    f = window_features(x, RATE, ["s"])[0]
    assert f[_col(["s"], "s", "spectral_entropy")] > 0.85


def test_constant_window_is_finite_with_zero_spread():
    x = np.full((2, W, 3), 3.7)
    x[1] = 0.0  # all-zero window too: zero total power must not divide by zero
    f = window_features(x, RATE, ["acc_x", "acc_y", "acc_z"])
    names = feature_names(["acc_x", "acc_y", "acc_z"])
    assert np.all(np.isfinite(f))
    for i, name in enumerate(names):
        feature = name.split(":")[1]
        if feature in ("std", "mean_abs_diff") or feature.startswith(("freq", "spectral")):
            assert f[:, i] == pytest.approx(0.0, abs=1e-6), name
    assert f[0, names.index("acc_x:mean")] == pytest.approx(3.7)
    assert f[0, names.index("|acc|:mean")] == pytest.approx(3.7 * np.sqrt(3), rel=1e-6)
    assert f[0, names.index("acc_y:energy")] == pytest.approx(3.7**2, rel=1e-6)


def test_time_features_match_numpy():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(3, W, 2)) * rng.uniform(0.5, 3.0, size=(1, 1, 2))
    chans = ["a", "b"]
    f = window_features(x, RATE, chans)
    for c, ch in enumerate(chans):
        s = x[:, :, c]
        expected = {
            "mean": s.mean(1),
            "std": s.std(1),
            "min": s.min(1),
            "max": s.max(1),
            "energy": (s**2).mean(1),
            "mean_abs_diff": np.abs(np.diff(s, axis=1)).mean(1),
        }
        for q in PERCENTILES:
            expected[f"p{q}"] = np.percentile(s, q, axis=1)
        for feature, value in expected.items():
            np.testing.assert_allclose(f[:, _col(chans, ch, feature)], value, rtol=1e-5, atol=1e-6)


def test_magnitudes_only_for_complete_groups():
    chans = ["acc_x", "acc_y", "acc_z", "gyro.x", "gyro.y", "ori_x", "ori.y", "ori_z", "hr"]
    names = feature_names(chans)
    mags = sorted({n.split(":")[0] for n in names if n.startswith("|")})
    assert mags == ["|acc|"]  # gyro lacks z, ori mixes separators
    x = np.random.default_rng(3).normal(size=(4, W, len(chans)))
    f = window_features(x, RATE, chans)
    np.testing.assert_allclose(
        f[:, names.index("|acc|:max")], np.linalg.norm(x[:, :, :3], axis=2).max(1), rtol=1e-6
    )
    # Group members may be spread out and reordered.
    names2 = feature_names(["rotationRate.z", "t", "rotationRate.x", "rotationRate.y"])
    assert "|rotationRate|:mean" in names2


def test_chunking_matches_single_pass():
    x = np.random.default_rng(4).normal(size=(23, W, 6))
    one = window_features(x, RATE, DYSAN)
    chunked = window_features(x, RATE, DYSAN, chunk_size=5)
    np.testing.assert_allclose(chunked, one, rtol=1e-6, atol=1e-7)
    # Row i depends only on window i.
    np.testing.assert_allclose(window_features(x[7:8], RATE, DYSAN), one[7:8], rtol=1e-6)


def test_random_forest_separates_sinusoid_frequencies():
    rng = np.random.default_rng(5)
    n = 200
    labels_N = rng.integers(0, 2, n)
    freqs_N = np.where(labels_N == 0, 2.0, 5.0) + rng.uniform(-0.3, 0.3, n)
    x = _sines(freqs_N, phase_N=rng.uniform(0, 2 * np.pi, n)) + rng.normal(0, 0.5, (n, W, 1))
    f = window_features(x, RATE, ["s"])
    forest = fit_random_forest(f[:150], labels_N[:150], seed=0, n_estimators=50, n_jobs=1)
    assert forest.class_weight == "balanced_subsample"
    assert np.mean(forest.predict(f[150:]) == labels_N[150:]) > 0.9
    again = fit_random_forest(f[:150], labels_N[:150], seed=0, n_estimators=50, n_jobs=1)
    np.testing.assert_array_equal(again.predict_proba(f[150:]), forest.predict_proba(f[150:]))


@pytest.mark.parametrize(
    ("x", "rate", "chans", "match"),
    [
        (np.zeros((W, 2)), RATE, ["a", "b"], "shape"),
        (np.zeros((2, W, 2)), RATE, ["a"], "channel names"),
        (np.zeros((2, W, 2)), RATE, ["a", "a"], "duplicate"),
        (np.zeros((2, 3, 1)), RATE, ["a"], "samples"),
        (np.zeros((2, W, 1)), 0.0, ["a"], "rate_hz"),
        (np.full((2, W, 1), np.nan), RATE, ["a"], "finite"),
        (np.zeros((2, W, 2)), RATE, "ab", "sequence"),
    ],
)
def test_bad_inputs_raise(x, rate, chans, match):
    with pytest.raises(ValueError, match=match):
        window_features(x, rate, chans)


def test_random_forest_bad_shapes_raise():
    with pytest.raises(ValueError, match="labels"):
        fit_random_forest(np.zeros((4, 2)), np.zeros(3), seed=0)
    with pytest.raises(ValueError, match=r"\(N, D\)"):
        fit_random_forest(np.zeros(4), np.zeros(4), seed=0)
