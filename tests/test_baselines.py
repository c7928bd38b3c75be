"""MSDA's classic baselines: FFT resampling equals scipy's, SSA equals a plain numpy SSA,
noise has the asked SNR, specs parse with clear errors, and a written run restores as a
TransformSet that releases exactly what the functions give."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.signal

from eval.transforms import RAW, RELEASE_CHUNK, load_transforms
from jaxpriv import baselines as bl
from jaxpriv.checkpoint import Checkpointer
from jaxpriv.data.load import load_from_description
from jaxpriv.data.scaling import Scaler
from train import baselines as cli

RATE = 50.0
# Jitted once for the module: eager calls would compile every primitive separately.
resample = jax.jit(bl.resample_fft, static_argnums=2)
ssa = jax.jit(bl.ssa_reconstruct, static_argnums=2)
noise = jax.jit(bl.add_noise)
resample_batch = jax.jit(jax.vmap(bl.resample_fft, in_axes=(0, None, None)), static_argnums=2)
ssa_batch = jax.jit(jax.vmap(bl.ssa_reconstruct, in_axes=(0, None, None)), static_argnums=2)
noise_batch = jax.jit(jax.vmap(bl.add_noise, in_axes=(0, None, 0)))


def _signal(n: int, c: int, seed: int = 0) -> np.ndarray:
    """A random walk plus noise and an offset: a spectrum with every frequency in it."""
    rng = np.random.default_rng(seed)
    walk = np.cumsum(rng.normal(size=(n, c)), axis=0)
    return (walk + rng.normal(size=(n, c)) + 3.0).astype(np.float32)


# -- FFT resampling -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "m"),
    [
        *((128, 26), (128, 25), (128, 13), (128, 12), (125, 12), (125, 25)),
        *((33, 16), (33, 17), (64, 1), (64, 2), (64, 63)),
    ],
)
def test_resample_equals_scipy_down_and_up(n: int, m: int) -> None:
    x = _signal(n, 3, seed=n + m)
    target = m * RATE / n  # the rate whose length is m
    assert bl.resample_length(n, target, RATE) == m
    want = scipy.signal.resample(scipy.signal.resample(x, m, axis=0), n, axis=0)
    got = np.asarray(resample(x, target, RATE))
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())
    assert not np.allclose(got, x, atol=1e-2)  # it did remove something


def test_resample_msda_rates_are_traced_and_match_scipy() -> None:
    # MSDA's code keeps (128 * rate) // 50 samples: 25 for "10 Hz", 12 for "5 Hz".
    assert bl.resample_length(128, 10, RATE) == 25
    assert bl.resample_length(128, 5, RATE) == 12
    x = _signal(128, 2, seed=7)
    rates = jnp.asarray([10.0, 5.0])
    got = jax.jit(jax.vmap(lambda hz: bl.resample_fft(x, hz, RATE)))(rates)  # one program
    for hz, y in zip((10, 5), np.asarray(got), strict=True):
        m = bl.resample_length(128, hz, RATE)
        want = scipy.signal.resample(scipy.signal.resample(x, m, axis=0), 128, axis=0)
        np.testing.assert_allclose(y, want, atol=1e-4 * np.abs(want).max())
    # The mean is a frequency every rate keeps.
    np.testing.assert_allclose(np.asarray(got).mean(axis=1), np.tile(x.mean(0), (2, 1)), 1e-5)


# -- SSA ----------------------------------------------------------------------------------


def _numpy_ssa(x_W: np.ndarray, k: int, window: int) -> np.ndarray:
    """Textbook SSA: trajectory matrix, SVD, k leading elementary matrices, diagonal means."""
    n = len(x_W)
    cols = n - window + 1
    traj = np.array([x_W[j : j + window] for j in range(cols)], np.float64).T  # (L, K)
    u, s, vt = np.linalg.svd(traj, full_matrices=False)
    approx = sum(s[i] * np.outer(u[:, i], vt[i]) for i in range(k))
    flipped = approx[::-1]
    return np.array([flipped.diagonal(d).mean() for d in range(-window + 1, cols)])


@pytest.mark.parametrize(("window", "k"), [(10, 1), (10, 2), (10, 4), (24, 2), (32, 3), (80, 2)])
def test_ssa_equals_numpy_svd_ssa(window: int, k: int) -> None:
    x = _signal(128, 2, seed=window + k)
    got = np.asarray(ssa(x, k, window))
    want = np.stack([_numpy_ssa(x[:, c], k, window) for c in range(2)], axis=1)
    np.testing.assert_allclose(got, want, atol=1e-4 * np.abs(want).max())


def test_ssa_known_cases() -> None:
    n, window = 128, 24
    x = _signal(n, 2, seed=3)
    every = bl.ssa_components(n, window)
    np.testing.assert_allclose(ssa(x, every, window), x, atol=1e-4 * 20)
    assert np.abs(np.asarray(ssa(x, 1, window)) - x).max() > 0.5

    t = np.arange(n)
    sine = np.sin(2 * np.pi * t / 16.0 + 0.3).astype(np.float32)[:, None]
    np.testing.assert_allclose(ssa(sine, 2, window), sine, atol=1e-4)
    assert np.abs(np.asarray(ssa(sine, 1, window)) - sine).max() > 0.1

    rng = np.random.default_rng(0)
    flat = (2.0 + 0.01 * rng.normal(size=(n, 1))).astype(np.float32)
    one = np.asarray(ssa(flat, 1, window))
    assert np.abs(one - 2.0).max() < 0.01
    assert np.abs(one - 2.0).std() < np.abs(flat - 2.0).std() / 2  # the noise went


def test_ssa_k_is_traced() -> None:
    x = _signal(128, 2, seed=5)
    got = jax.jit(jax.vmap(lambda k: ssa(x, k, 10)))(jnp.asarray([2.0, 1.0]))
    for k, y in zip((2, 1), np.asarray(got), strict=True):
        np.testing.assert_allclose(y, ssa(x, k, 10), atol=1e-5)
    assert not np.allclose(got[0], got[1], atol=1e-3)


# -- noise --------------------------------------------------------------------------------


@pytest.mark.parametrize("snr_db", [20.0, 5.0])
def test_noise_has_the_asked_snr(snr_db: float) -> None:
    rng = np.random.default_rng(1)
    x = (rng.normal(size=(300, 128, 2)) * [1.0, 5.0] + [0.0, 3.0]).astype(np.float32)
    keys = jax.random.split(jax.random.key(0), len(x))
    y = np.asarray(noise_batch(x, snr_db, keys))
    added = (y - x).astype(np.float64)
    power = np.mean(x.astype(np.float64) ** 2, axis=1)  # per window and channel
    measured = 10 * np.log10(power / np.mean(added**2, axis=1))
    assert abs(np.mean(measured) - snr_db) < 0.1
    assert abs(np.mean(added)) < 0.05 * np.sqrt(np.mean(added**2))
    again = noise(x[0], snr_db, keys[0])
    np.testing.assert_allclose(y[0], again, atol=1e-5)  # explicit keys: reproducible
    assert not np.allclose(added[0], added[1])


# -- specs --------------------------------------------------------------------------------


def test_parse_transforms_names_and_params() -> None:
    specs = bl.parse_transforms(
        " resample:10, resample:5,ssa:2,SSA:1 ,noise:20", rate_hz=RATE, window=128
    )
    assert [b.name for b in specs] == [
        "resample-10hz",
        "resample-5hz",
        "ssa-k2",
        "ssa-k1",
        "noise-20db",
    ]
    params = bl.stack_params(specs)
    np.testing.assert_array_equal(params["kind"], [0, 0, 1, 1, 2])
    np.testing.assert_array_equal(params["value"], [10, 5, 2, 1, 20])
    assert params["kind"].dtype == np.int32 and params["value"].dtype == np.float32


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("blur:3", "unknown kind 'blur'"),
        ("resample", "KIND:VALUE"),
        ("resample:fast", "not a number"),
        ("resample:50", "below the data's rate"),
        ("resample:80", "below the data's rate"),
        ("resample:0", "above 0"),
        ("resample:0.2", "keeps no sample"),
        ("ssa:0", "k must be an integer from 1 to 10"),
        ("ssa:1.5", "k must be an integer"),
        ("ssa:11", "from 1 to 10"),
        ("noise:nan", "finite"),
        ("ssa:2,ssa:2.0", "listed twice"),
    ],
)
def test_parse_transforms_errors(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        bl.parse_transforms(spec, rate_hz=RATE, window=128, ssa_window=10)


def test_bad_ssa_window_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'ssa:1': the SSA window \(--ssa-window\)"):
        bl.parse_transforms("ssa:1", rate_hz=RATE, window=128, ssa_window=128)
    with pytest.raises(ValueError, match="SSA window must be between 2"):
        bl.ssa_reconstruct(np.zeros((128, 1), np.float32), 1, 1)


# -- the dispatcher -------------------------------------------------------------------------


def test_release_dispatches_every_kind_in_one_vmapped_program() -> None:
    specs = bl.parse_transforms("resample:10,ssa:2,noise:20", rate_hz=RATE, window=128)
    params = bl.stack_params(specs)
    scaler = Scaler(kind="standard", offset=np.array([-1.0, -2.0]), scale=np.array([0.5, 0.25]))
    release_one = bl.make_release(rate_hz=RATE, ssa_window=10, scaler=scaler)
    x = np.stack([_signal(128, 2, seed=s) for s in range(5)])
    keys = jax.random.split(jax.random.key(1), len(specs))
    out = jax.jit(jax.vmap(release_one, in_axes=(0, None, None, None, 0)))(
        params, x, jnp.zeros((5, 3)), jnp.zeros(5, jnp.int32), keys
    )
    out = np.asarray(out)
    s = scaler.apply(x)
    want_resample = scaler.invert(np.asarray(resample_batch(s, 10.0, RATE)))
    want_ssa = scaler.invert(np.asarray(ssa_batch(s, 2, 10)))
    want_noise = scaler.invert(np.asarray(noise_batch(s, 20.0, jax.random.split(keys[2], 5))))
    np.testing.assert_allclose(out[0], want_resample, atol=1e-4)
    np.testing.assert_allclose(out[1], want_ssa, atol=1e-4)
    np.testing.assert_allclose(out[2], want_noise, atol=1e-4)
    # SSA depends on the window's offset: the scaled space is not the raw one.
    raw_release = jax.jit(bl.make_release(rate_hz=RATE, ssa_window=10))
    raw = raw_release({"kind": jnp.int32(1), "value": jnp.float32(2)}, x, None, None, keys[1])
    assert not np.allclose(raw, out[1], atol=1e-3)


# -- the run folder, end to end -------------------------------------------------------------

TINY = "embedded:users=6,long_s=6,short_s=4"
SPEC = "resample:10,ssa:2,noise:20"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("baselines-run")
    args = ["--data", TINY, "--transforms", SPEC, "--sample", "64", "--out", str(out)]
    assert cli.main(args) == 0
    return out


def test_run_restores_as_a_transform_set(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = {r["name"]: r for r in summary["transforms"]}
    assert list(rows) == ["resample-10hz", "ssa-k2", "noise-20db"]
    assert all(0 < r["rel_l2"] < 1 and r["finite"] for r in rows.values())
    assert abs(rows["noise-20db"]["snr_db"] - 20) < 0.5

    t = load_transforms(run_dir)
    assert t.method == "baselines"
    assert t.names == (RAW, "resample-10hz", "ssa-k2", "noise-20db")
    assert t.alive == (True,) * 4
    assert t.spec.channels == ("|rotationRate|", "|userAcceleration+gravity|")
    assert (t.spec.window, t.spec.stride, t.spec.split) == (128, 10, "trial")
    assert t.data["kind"] == "embedded"

    rng = np.random.default_rng(0)
    x = (rng.normal(size=(5, 128, 2)) * 0.5 + [2.0, 1.0]).astype(np.float32)
    out = t.release(x, np.zeros((5, 3), np.float32), np.zeros(5, np.int32), seed=3)
    assert out.shape == (4, 5, 128, 2)
    np.testing.assert_array_equal(out[0], x)
    scaler = Scaler.from_json(_saved_meta(run_dir)["prepared"]["scaler"])
    s = scaler.apply(x)
    want_resample = scaler.invert(np.asarray(resample_batch(s, 10.0, 50.0)))
    want_ssa = scaler.invert(np.asarray(ssa_batch(s, 2, 10)))
    np.testing.assert_allclose(out[1], want_resample, atol=1e-4)
    np.testing.assert_allclose(out[2], want_ssa, atol=1e-4)
    # The noise variant: the key the harness gives it, split per window.
    variant_key = jax.random.split(jax.random.fold_in(jax.random.key(3), 0), 3)[2]
    window_keys = jax.random.split(variant_key, RELEASE_CHUNK)[:5]  # padded to one chunk
    want_noise = scaler.invert(np.asarray(noise_batch(s, 20.0, window_keys)))
    np.testing.assert_allclose(out[3], want_noise, atol=1e-4)


def _saved_meta(run_dir: Path) -> dict:
    with Checkpointer(run_dir / "checkpoints", read_only=True) as ckpt:
        return ckpt.restore_meta()


def test_saved_meta_describes_the_run(run_dir: Path) -> None:
    meta = _saved_meta(run_dir)
    assert meta["method"] == "baselines"
    assert meta["names"] == ["resample-10hz", "ssa-k2", "noise-20db"]
    assert meta["transforms"] == SPEC
    assert meta["config"] == {
        "preset": "msda",
        "rate_hz": 50.0,
        "window": 128,
        "ssa_window": 10,
        "space": "scaled",
    }
    assert load_from_description(meta["data"]).rate_hz == 50.0
    assert meta["prepared"]["scaler"]["kind"] == "standard"


def test_rerun_reuses_refuses_or_writes_fresh(run_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    shutil.copytree(run_dir, out)
    base = ["--data", TINY, "--sample", "16", "--out", str(out)]
    assert cli.main([*base, "--transforms", SPEC]) == 0
    assert "already holds these" in capsys.readouterr().out
    assert cli.main([*base, "--transforms", "ssa:1"]) == 2
    assert "different grid" in capsys.readouterr().err
    assert cli.main([*base, "--transforms", "ssa:1", "--fresh"]) == 0
    assert load_transforms(out).names == (RAW, "ssa-k1")
    assert cli.main([*base, "--transforms", "resample:60"]) == 2
    assert "below the data's rate" in capsys.readouterr().err
