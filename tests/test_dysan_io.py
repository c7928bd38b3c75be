"""Trained sanitizers load as pure functions (by index or (alpha, lam)) and export: the
authors' networks with the on-device activity classifier (``predicted`` mode), whose
parameters travel in the checkpoint."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpriv.checkpoint import CheckpointError
from jaxpriv.methods.dysan_io import (
    export_sanitizer,
    load_exported,
    load_sanitizer,
    load_sanitizers,
)
from train import dysan as dysan_cli

ARGS = [
    *("--data", "embedded:users=6,long_s=6,short_s=4", "--epochs", "1", "--batch-size", "32"),
    *("--k-pred", "0", "--k-disc", "0", "--grid", "alpha=0.3;lam=0.2,0.4"),
    *("--arch", "original", "--activity-mode", "predicted"),
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dysan-run")
    assert dysan_cli.main([*ARGS, "--out", str(out), "--export"]) == 0
    return out


def windows(n: int = 5) -> tuple[jax.Array, jax.Array, jax.Array]:
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(0, 0.5, (n, 125, 6)).astype(np.float32))
    attributes = jnp.asarray(np.tile([[175.0, 70.0, 30.0]], (n, 1)).astype(np.float32))
    return x, attributes, jnp.asarray(rng.integers(0, 4, n).astype(np.int32))


def test_variants_load_by_index_and_by_hyperparameters(run_dir) -> None:
    all_ = load_sanitizers(run_dir)
    assert all_[0].config.arch == "original" and all_[0].config.activity_mode == "predicted"
    # The on-device classifier was trained once and given to every variant.
    assert set(all_[0].params) == {"san", "act_clf"}
    for a, b in zip(
        jax.tree.leaves(all_[0].params["act_clf"]),
        jax.tree.leaves(all_[1].params["act_clf"]),
        strict=True,
    ):
        np.testing.assert_array_equal(a, b)
    assert any(np.abs(a).max() > 0 for a in jax.tree.leaves(all_[0].params["act_clf"]))
    assert [t.name for t in all_] == ["dysan-a0.3-l0.2", "dysan-a0.3-l0.4"]
    by_values = load_sanitizer(run_dir, alpha=0.3, lam=0.4)
    by_index = load_sanitizer(run_dir, index=1)
    for a, b in zip(
        jax.tree.leaves(by_values.params), jax.tree.leaves(by_index.params), strict=True
    ):
        np.testing.assert_array_equal(a, b)
    pairs = zip(jax.tree.leaves(all_[0].params), jax.tree.leaves(by_index.params), strict=True)
    assert any(not np.array_equal(a, b) for a, b in pairs)
    with pytest.raises(ValueError, match="lam"):
        load_sanitizer(run_dir, alpha=0.3, lam=0.7)
    with pytest.raises(IndexError):
        load_sanitizer(run_dir, index=5)


def test_transform_is_a_pure_function_in_raw_units(run_dir) -> None:
    t = load_sanitizer(run_dir, index=0)
    x, attributes, activity = windows()
    out1 = t(x, attributes, activity, jax.random.key(1))
    out2 = t(x, attributes, activity, jax.random.key(1))
    assert out1.shape == x.shape and bool(jnp.all(jnp.isfinite(out1)))
    np.testing.assert_array_equal(out1, out2)  # same inputs and key: same release
    assert float(jnp.abs(out1 - x).mean()) > 0  # it changes the data
    # The predicted mode reads the activity from the windows, never the label given.
    np.testing.assert_array_equal(t(x, attributes, (activity + 1) % 4, jax.random.key(1)), out1)
    with pytest.raises(ValueError, match="conditional"):
        t(x)


def test_exported_sanitizer_reproduces_the_transform(run_dir) -> None:
    t = load_sanitizer(run_dir, index=1)
    exported = sorted((run_dir / "export").glob("*.jaxexport"))
    assert [p.name for p in exported] == ["dysan-a0.3-l0.2.jaxexport", "dysan-a0.3-l0.4.jaxexport"]
    call = load_exported(run_dir / "export" / "dysan-a0.3-l0.4.jaxexport")
    x, attributes, activity = windows(3)
    key = jax.random.key(7)
    expected = t(x, attributes, activity, key)
    got = call(x, attributes, activity, jax.random.key_data(key))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # Another batch size works: the batch dimension is symbolic.
    x5, a5, act5 = windows(5)
    assert call(x5, a5, act5, jax.random.key_data(key)).shape == (5, 125, 6)


def test_bad_files_give_clear_errors(run_dir, tmp_path) -> None:
    bad = tmp_path / "broken.jaxexport"
    bad.write_bytes(b"not stablehlo")
    with pytest.raises(ValueError, match="not a jaxpriv exported sanitizer"):
        load_exported(bad)
    with pytest.raises(CheckpointError):
        load_sanitizer(tmp_path / "no-run-here", index=0)
    path = export_sanitizer(load_sanitizer(run_dir, index=0), tmp_path / "sub" / "s.jaxexport")
    assert path.is_file() and not list(path.parent.glob(".*.tmp"))


def test_the_harness_restores_the_run_as_transforms(run_dir) -> None:
    from eval.transforms import RAW, load_transforms

    ts = load_transforms(run_dir)
    assert ts.names == (RAW, "dysan-a0.3-l0.2", "dysan-a0.3-l0.4")
    assert ts.info == {"arch": "original", "activity_mode": "predicted"}
    x, attributes, activity = windows(256)  # one chunk of the harness's: no padding
    released = ts.release(np.asarray(x), np.asarray(attributes), np.asarray(activity), 0)
    assert released.shape == (3, 256, 125, 6) and np.isfinite(released).all()
    # Variant 1 is the transform load_sanitizer gives (same noise key as the harness's).
    t = load_sanitizer(run_dir, index=1)
    keys = jax.random.split(jax.random.fold_in(jax.random.key(0), 0), 2)
    np.testing.assert_allclose(released[2], t(x, attributes, activity, keys[1]), atol=1e-4)


def test_runs_from_before_arch_and_activity_mode_are_refused_clearly() -> None:
    from jaxpriv.methods.dysan_io import run_config

    with pytest.raises(CheckpointError, match="before --arch and --activity-mode"):
        run_config({"method": "dysan", "config": {"width": 0.25, "conditional": True}})
    assert run_config({"config": {"arch": "light", "activity_mode": "none"}}).arch == "light"
