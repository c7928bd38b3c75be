"""DySan training: vmapped == one by one, seeds differ, NaN masking, resume == uninterrupted."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpriv.checkpoint import Checkpointer, with_sharding
from jaxpriv.data.load import load_dataset
from jaxpriv.data.task import dysan_task
from jaxpriv.grid import stack_grid
from jaxpriv.methods import dysan
from jaxpriv.sweep import make_variant_mesh, sweep_jit

TINY_DATA = "embedded:users=6,long_s=6,short_s=4"
# Small and fast: a few iterations per epoch, one inner step each.
CFG = dysan.DysanConfig(epochs=2, batch_size=32, k_pred=1, k_disc=1, width=0.25)


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    return dysan_task().prepare(load_dataset(TINY_DATA)).train


def variant(alpha: float, lam: float, seed: int, lr: float = 1e-3) -> dict:
    return {"alpha": alpha, "lam": lam, "lr_san": lr, "lr_pred": lr, "lr_disc": lr, "seed": seed}


@functools.cache
def compiled(num_variants: int, cfg: dysan.DysanConfig):
    """One compiled (init, one-epoch run) pair per grid size and config: compiling dominates."""
    vmesh = make_variant_mesh(num_variants)
    init, run_epochs, _ = dysan.make_train(cfg)
    run = sweep_jit(run_epochs, vmesh, data_argnums=(2,), static_argnums=(3,))
    return vmesh, sweep_jit(init, vmesh), run


def run_sweep(grid: list[dict], data: dict, cfg: dysan.DysanConfig = CFG, epochs: int = 2):
    """Train ``grid`` for ``epochs`` one-epoch chunks (resuming each time, as the CLI does)."""
    vmesh, init_all, run = compiled(len(grid), cfg)
    hp = vmesh.stack(grid)
    state = init_all(hp)
    metrics = []
    for _ in range(epochs):
        state, m = run(state, hp, vmesh.replicate(data), 1)
        metrics.append(m)
    return vmesh.unpad(state), metrics


@pytest.fixture(scope="module")
def two_variants(data):
    grid = [variant(0.3, 0.3, seed=0), variant(0.5, 0.2, seed=1)]
    return grid, run_sweep(grid, data)[0]


def test_vmapped_equals_one_by_one(data, two_variants) -> None:
    grid, batched = two_variants
    for i, v in enumerate(grid):
        alone, _ = run_sweep([v], data)
        chex.assert_trees_all_close(
            jax.tree.map(lambda a, i=i: a[i], batched["san"]),
            jax.tree.map(lambda a: a[0], alone["san"]),
            rtol=2e-4,
            atol=2e-5,
        )


def test_training_moves_parameters_and_seeds_differ(data, two_variants) -> None:
    grid, batched = two_variants
    init, _, _ = dysan.make_train(CFG)
    start = init(stack_grid(grid[:1]) | {"seed": jnp.int32(0)})
    moved = jax.tree.map(lambda a, b: float(jnp.abs(a[0] - b).max()), batched["san"], start["san"])
    assert max(jax.tree.leaves(moved)) > 1e-4
    differ = jax.tree.map(lambda a: float(jnp.abs(a[0] - a[1]).max()), batched["san"])
    assert min(jax.tree.leaves(differ)) > 0.0
    assert np.all(np.asarray(batched["epoch"]) == CFG.epochs)
    assert np.all(np.asarray(batched["alive"]))


def test_a_diverging_variant_is_masked_and_the_others_are_unharmed(data) -> None:
    healthy = variant(0.3, 0.3, seed=0)
    diverging = variant(0.3, 0.3, seed=1, lr=1e30)
    state, metrics = run_sweep([healthy, diverging], data)
    alive = np.asarray(state["alive"])
    assert alive.tolist() == [True, False]
    # The dead variant keeps its last finite state instead of NaNs.
    assert all(np.isfinite(np.asarray(leaf[1])).all() for leaf in jax.tree.leaves(state["san"]))
    assert not np.asarray(metrics[0]["alive"])[1].all()
    alone, _ = run_sweep([healthy], data)
    chex.assert_trees_all_close(
        jax.tree.map(lambda a: a[0], state["san"]),
        jax.tree.map(lambda a: a[0], alone["san"]),
        rtol=2e-4,
        atol=2e-5,
    )


def test_whole_run_equals_one_epoch_chunks_restored_from_a_checkpoint(
    data, two_variants, tmp_path
) -> None:
    grid, chunked = two_variants
    # The pure whole-run function gives what the chunked, checkpointed CLI path gives.
    _, _, train = dysan.make_train(CFG)
    whole, _ = jax.jit(jax.vmap(train, in_axes=(0, None)))(stack_grid(grid), data)
    chex.assert_trees_all_close(
        jax.device_get(whole), jax.device_get(chunked), rtol=1e-5, atol=1e-6
    )
    vmesh, init_all, run = compiled(len(grid), CFG)
    hp = vmesh.stack(grid)
    state, _ = run(init_all(hp), hp, vmesh.replicate(data), 1)
    with Checkpointer(tmp_path / "ckpt") as ckpt:
        ckpt.save(1, state, {"grid": grid}, force=True)
    template = with_sharding(jax.eval_shape(init_all, hp), vmesh.variant_sharding)
    restored, meta = Checkpointer(tmp_path / "ckpt").restore(template)
    chex.assert_trees_all_equal(jax.device_get(restored), jax.device_get(state))
    assert meta["grid"] == grid
    resumed, _ = run(restored, hp, vmesh.replicate(data), 1)
    chex.assert_trees_all_close(
        jax.device_get(vmesh.unpad(resumed)), jax.device_get(chunked), rtol=1e-6, atol=1e-6
    )


def test_vector_mode_takes_a_step_per_term(data) -> None:
    grid = [variant(0.3, 0.3, seed=0)]
    vector, _ = run_sweep(grid, data, dataclasses.replace(CFG, mode="vector"), epochs=1)
    summed, _ = run_sweep(grid, data, CFG, epochs=1)
    # Three Adam steps per batch instead of one: the optimizer's step count triples.
    count = [a for a in jax.tree.leaves(vector["opt_san"]) if a.dtype == jnp.int32]
    count_sum = [a for a in jax.tree.leaves(summed["opt_san"]) if a.dtype == jnp.int32]
    assert int(np.max(count[0])) == 3 * int(np.max(count_sum[0]))


def test_inner_loops_stop_early_once_their_loss_is_low_enough(data) -> None:
    # A threshold every loss meets: each inner loop stops after its first step.
    cfg = dataclasses.replace(CFG, k_pred=3, k_disc=3, inner_stop_loss=10.0)
    _, metrics = run_sweep([variant(0.3, 0.3, seed=0)], data, cfg, epochs=1)
    assert float(np.asarray(metrics[0]["pred_steps"]).max()) == 1.0
    assert float(np.asarray(metrics[0]["disc_steps"]).max()) == 1.0
    _, metrics = run_sweep([variant(0.3, 0.3, seed=0)], data, CFG, epochs=1)
    assert float(np.asarray(metrics[0]["pred_steps"]).min()) == CFG.k_pred


CLI = [sys.executable, "-m", "train.dysan", "--data", TINY_DATA, "--epochs", "3",
       "--batch-size", "32", "--k-pred", "1", "--k-disc", "1", "--width", "0.25",
       "--grid", "alpha=0.3;lam=0.2,0.4"]  # fmt: skip


def _run_cli(out: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "--out", str(out)], env=env, capture_output=True, text=True, timeout=600
    )


def _latest_step(directory: Path) -> int | None:
    if not directory.is_dir():
        return None
    ckpt = Checkpointer(directory, read_only=True)
    try:
        return ckpt.latest_step()
    finally:
        ckpt.close()


def test_cli_killed_mid_run_resumes_to_the_uninterrupted_result(tmp_path) -> None:
    # A shared persistent compilation cache: the three runs compile the same programs.
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "xla-cache"),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
    }
    straight = _run_cli(tmp_path / "straight", env)
    assert straight.returncode == 0, straight.stderr
    assert "epoch 3/3" in straight.stdout and "ETA" in straight.stdout

    out = tmp_path / "killed"
    proc = subprocess.Popen([*CLI, "--out", str(out)], env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.time() + 600
    for line in proc.stdout:  # kill -9 right after the first epoch's checkpoint is on disk
        if line.startswith("epoch 1/3") or time.time() > deadline:
            break
    # The save is asynchronous: wait until a finalized step exists (a loaded machine can
    # take seconds), so the kill lands between checkpoints, not before the first one.
    while _latest_step(out / "checkpoints") is None and time.time() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    resumed = _run_cli(out, env)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming from" in resumed.stdout

    assert_same_summary(tmp_path / "straight", out, rel=1e-5)
    # The per-variant loss history survives the kill: every epoch once, in order.
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert all(len(h["san_loss"]) == 2 for h in history)
    straight_history = json.loads((tmp_path / "straight" / "metrics.json").read_text())["history"]
    assert history[-1]["san_loss"] == pytest.approx(straight_history[-1]["san_loss"], rel=1e-5)
    assert (out / "losses.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The same run sharded over 4 devices (2 variants padded to 4) gives the same result.
    sharded_env = {**env, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    sharded = _run_cli(tmp_path / "sharded", sharded_env)
    assert sharded.returncode == 0, sharded.stderr
    summary = json.loads((tmp_path / "sharded" / "summary.json").read_text())
    assert len(summary["devices"]) == 4
    assert_same_summary(tmp_path / "straight", tmp_path / "sharded", rel=1e-4)


def assert_same_summary(a_dir: Path, b_dir: Path, rel: float) -> None:
    a = json.loads((a_dir / "summary.json").read_text())["variants"]
    b = json.loads((b_dir / "summary.json").read_text())["variants"]
    assert len(a) == len(b) == 2
    for ra, rb in zip(a, b, strict=True):
        for key in ("san_loss", "activity_acc", "gender_acc", "distortion"):
            assert ra[key] == pytest.approx(rb[key], rel=rel, abs=1e-5), key
