"""DySan training: vmapped == one by one, seeds differ, NaN masking, resume == uninterrupted,
vector mode's per-term steps and gradients, the inner loops' early stop and pool."""

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

from jaxpriv import losses
from jaxpriv.checkpoint import Checkpointer, with_sharding
from jaxpriv.data.load import load_dataset
from jaxpriv.data.task import dysan_task
from jaxpriv.grid import stack_grid
from jaxpriv.methods import dysan, dysan_inner, dysan_inputs, dysan_steps
from jaxpriv.methods.dysan_nets import Release, make_nets
from jaxpriv.sweep import make_variant_mesh, sweep_jit

TINY_DATA = "embedded:users=6,long_s=6,short_s=4"
# Small and fast: jaxpriv's light networks, a few iterations per epoch, one inner step each.
CFG = dysan.DysanConfig(arch="light", epochs=2, batch_size=32, k_pred=1, k_disc=1, width=0.25)


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    return dysan.dysan_arrays(dysan_task().prepare(load_dataset(TINY_DATA)))[0]


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
    cfg = dataclasses.replace(CFG, mode="vector")
    vector, metrics = run_sweep(grid, data, cfg, epochs=1)
    summed, _ = run_sweep(grid, data, CFG, epochs=1)
    # One Adam step per term (2 adversarial + 6 channels) instead of one per batch.
    count = [a for a in jax.tree.leaves(vector["opt_san"]) if a.dtype == jnp.int32]
    count_sum = [a for a in jax.tree.leaves(summed["opt_san"]) if a.dtype == jnp.int32]
    assert int(np.max(count[0])) == 8 * int(np.max(count_sum[0]))
    assert {f"san_{n}" for n in dysan.term_names(cfg)} <= set(metrics[0])


def test_vector_gradients_from_one_forward_pass_are_each_terms_gradient() -> None:
    """The authors' networks, zeroed activity input: every term's gradient, split through
    the decoder and the encoder, equals the Jacobian of the 12 terms (its zero row too)."""
    cfg = dysan.DysanConfig(mode="vector", batch_size=4)
    nets = make_nets(cfg)
    v = jax.jit(nets.init)(jax.random.key(0))
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(-1, 1, (4, 125, 6)), jnp.float32)
    attributes = jnp.asarray(rng.uniform(-1, 1, (4, 3)), jnp.float32)
    batch = {"x": x, "activity": jnp.array([0, 1, 2, 3]), "gender": jnp.array([0, 1, 1, 0]),
             "attributes": attributes}  # fmt: skip
    act_in = dysan_inputs.activity_vector(cfg, batch["activity"])
    cond = dysan_inputs.conditioning(cfg, attributes, act_in, jax.random.key(1))

    def adversarial(x_hat, attrs):
        release = Release(x_hat, None, attrs)
        a = nets.predict(v["pred"], release)
        g = nets.discriminate(v["disc"], release, jax.nn.one_hot(batch["activity"], 4))
        zeros = jnp.zeros((0,))
        terms = losses.dysan_vector_terms(
            a, batch["activity"], g, batch["gender"], zeros, 0.3, 0.2, num_activities=4
        )
        return terms, ()

    def distortion(x_hat, attrs, activity):
        return 0.5 * dysan_steps.distortions(cfg, batch, Release(x_hat, activity, attrs), act_in)

    @jax.jit
    def structured_and_reference(san):
        terms, gradient_of, _ = dysan_steps._vector_gradients(
            cfg, nets, san, x, cond, adversarial, distortion
        )

        def all_terms(p):
            r = nets.sanitize(p, x, cond)
            adv = adversarial(r.x_hat, r.attributes)[0]
            return jnp.concatenate([adv, distortion(r.x_hat, r.attributes, r.activity)])

        return (
            terms,
            jax.lax.map(gradient_of, jnp.arange(12)),
            all_terms(san),
            jax.jacrev(all_terms)(san),
        )

    terms, grads, ref_terms, ref_grads = structured_and_reference(v["san"])
    assert terms.shape == (len(dysan.term_names(cfg)),) == (12,)
    np.testing.assert_allclose(terms, ref_terms, rtol=1e-6)
    chex.assert_trees_all_close(grads, ref_grads, atol=1e-7, rtol=1e-4)
    assert float(terms[-1]) == 0.0 and all(
        float(jnp.abs(g[-1]).max()) == 0.0 for g in jax.tree.leaves(grads)
    )  # the zeroed activity input's reconstruction


def test_inner_loops_stop_early_by_the_codes_rule(data) -> None:
    """Stop after more than 20 steps once the last 20 losses are all below a tenth of the
    first loss recorded: per variant (vmapped), in a while loop, not a masked scan."""
    cfg = dataclasses.replace(
        CFG, batch_size=8, k_pred=22, k_disc=22, early_stop=True, inner_pool="always"
    )
    nets = make_nets(cfg)
    inner = dysan_inner.make_inner_loops(cfg, nets, dysan._optimizer(cfg.weight_decay))
    init = dysan.make_train(cfg)[0]
    grid = [variant(0.3, 0.3, seed=0), variant(0.3, 0.3, seed=1)]
    state = jax.jit(jax.vmap(init))(stack_grid(grid))
    # Variant 0: a first loss so high that every loss is below a tenth of it; variant 1:
    # none recorded yet (0.5, the code's default), which these losses never go 10x below.
    state["first_loss"] = jnp.array([[1e3, 1e3], [-1.0, -1.0]], jnp.float32)
    keys = jax.random.split(jax.random.key(0), 2)
    vmapped = jax.vmap(inner, in_axes=(0, 0, None, 0))
    new, metrics = jax.jit(vmapped)(state, stack_grid(grid), data, keys)
    np.testing.assert_array_equal(metrics["pred_steps"], [21, 22])
    np.testing.assert_array_equal(metrics["disc_steps"], [21, 22])
    # The first loss recorded is kept; an unrecorded one becomes this loop's mean loss.
    np.testing.assert_array_equal(new["first_loss"][0], [1e3, 1e3])
    np.testing.assert_allclose(new["first_loss"][1], [metrics["pred_loss"][1],
                                                      metrics["disc_loss"][1]])  # fmt: skip
    jaxpr = str(jax.make_jaxpr(inner)(jax.tree.map(lambda a: a[0], state), grid[0], data, keys[0]))
    assert jaxpr.count("while[") == 3 and "scan[" in jaxpr  # the pool's chunks are a scan
    paper = dataclasses.replace(CFG, batch_size=256, k_pred=50)
    assert dysan_inner.uses_pool(paper, 5000)  # 20 batches to sanitize < 50 inner steps
    assert not dysan_inner.uses_pool(dataclasses.replace(paper, k_pred=1), 5000)


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


SHARDED_ITERATION = """
import sys
import jax
import numpy as np
from jaxpriv.data.load import load_dataset
from jaxpriv.data.task import dysan_task
from jaxpriv.methods import dysan
from jaxpriv.sweep import make_variant_mesh, sweep_jit

cfg = dysan.DysanConfig(arch="light", width=0.25, batch_size=32, k_pred=1, k_disc=1)
data = dysan.dysan_arrays(dysan_task().prepare(load_dataset(sys.argv[2])))[0]
grid = [{"alpha": 0.3, "lam": lam, "lr_san": 1e-3, "lr_pred": 1e-3, "lr_disc": 1e-3,
         "seed": i} for i, lam in enumerate((0.2, 0.4))]
vmesh = make_variant_mesh(len(grid))
hp = vmesh.stack(grid)
state = sweep_jit(dysan.make_train(cfg)[0], vmesh)(hp)
step = sweep_jit(dysan.make_iteration(cfg), vmesh, data_argnums=(2, 3, 4))
state, _ = step(state, hp, vmesh.replicate(data), np.arange(32), jax.random.key(0))
devices = len(state["san"]["Dense_0"]["kernel"].sharding.device_set)
nets = vmesh.unpad({k: state[k] for k in ("san", "pred", "disc")})
np.savez(sys.argv[1], *jax.tree.leaves(jax.device_get(nets)), devices=devices)
"""


def _iteration_on(devices: int, out: Path) -> dict:
    env = {**os.environ, "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}
    done = subprocess.run([sys.executable, "-c", SHARDED_ITERATION, str(out), TINY_DATA],
                          env=env, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dict(np.load(out))


def test_sharded_over_4_devices_is_the_same_computation(tmp_path) -> None:
    """Two variants padded to four, one per device, against all on one device: one
    iteration agrees to float precision (no variant mixes with another or with the
    padding). Over epochs the two drift apart as any change of summation order makes
    them (the same run pinned to one core drifts as much: Adam's normalisation turns the
    rounding of nearly cancelling gradients into whole steps, and the adversarial game
    amplifies it), so whole runs are not compared."""
    one, four = _iteration_on(1, tmp_path / "one.npz"), _iteration_on(4, tmp_path / "four.npz")
    assert int(one.pop("devices")) == 1 and int(four.pop("devices")) == 4
    assert set(one) == set(four)
    for name in one:
        np.testing.assert_allclose(four[name], one[name], rtol=1e-3, atol=1e-4, err_msg=name)
    # Not the same as another variant: the comparison would catch a mix-up.
    first = one["arr_0"]
    assert first.shape[0] == 2 and np.abs(first[0] - first[1]).max() > 1e-3


def assert_same_summary(a_dir: Path, b_dir: Path, rel: float) -> None:
    a = json.loads((a_dir / "summary.json").read_text())["variants"]
    b = json.loads((b_dir / "summary.json").read_text())["variants"]
    assert len(a) == len(b) == 2
    for ra, rb in zip(a, b, strict=True):
        for key in ("san_loss", "activity_acc", "gender_acc", "distortion"):
            assert ra[key] == pytest.approx(rb[key], rel=rel, abs=1e-5), key
