"""The sweep engine: grids, padding, vmap == one-by-one, sharded == unsharded, one compile.

The 4-device check needs ``XLA_FLAGS=--xla_force_host_platform_device_count=4``
before JAX is imported, which this pytest process has already done, so it runs
this file as a script in a subprocess (``python tests/test_sweep.py OUT_DIR``)
that writes .npz/.json results for the test to compare.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpriv import grid as grids
from jaxpriv import sweep

D, N, STEPS, BATCH = 3, 64, 40, 16

# Variants 1 and 2 share the learning rate: only their seeds differ.
GRID5 = [
    {"lr": 0.05, "seed": 0},
    {"lr": 0.1, "seed": 1},
    {"lr": 0.1, "seed": 2},
    {"lr": 0.02, "seed": 3},
    {"lr": 0.05, "seed": 4},
]
GRID6 = grids.product_grid(lr=[0.05, 0.1], seed=[0, 1, 2])  # 6 variants: padded to 8 on 4 devices


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A small noisy linear regression problem, shared by all variants."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((N, D)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.1 * rng.standard_normal(N)).astype(np.float32)
    return x, y


def fit(hp: dict[str, jax.Array], data: tuple[jax.Array, jax.Array]) -> tuple[dict, jax.Array]:
    """One variant: SGD on minibatches under ``lax.scan``; the seed drives init and batches."""
    x, y = data
    key = jax.random.key(hp["seed"])
    params = {"w": 0.5 * jax.random.normal(jax.random.fold_in(key, 0), (D,)), "b": jnp.zeros(())}

    def loss_fn(params, xb, yb):
        return jnp.mean((xb @ params["w"] + params["b"] - yb) ** 2)

    def step(params, t):
        idx = jax.random.randint(jax.random.fold_in(key, t + 1), (BATCH,), 0, N)
        loss, grads = jax.value_and_grad(loss_fn)(params, x[idx], y[idx])
        return jax.tree.map(lambda p, g: p - hp["lr"] * g, params, grads), loss

    return jax.lax.scan(step, params, jnp.arange(STEPS))


def run_grid(grid: list[dict], devices: list | None = None) -> tuple[sweep.VariantMesh, Any]:
    """The whole sweep recipe on ``devices`` (default all); returns device results, padding kept."""
    vmesh = sweep.make_variant_mesh(len(grid), devices)
    run = sweep.sweep_jit(fit, vmesh, data_argnums=(1,))
    hp = vmesh.shard(vmesh.pad(grids.stack_grid(grid)))
    return vmesh, run(hp, vmesh.replicate(make_data()))


# --------------------------------------------------------------------------- grids


def test_dysan_grid_has_the_36_pairs() -> None:
    grid = grids.dysan_grid()
    allowed = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}  # exact literals: no float noise
    pairs = {(g["alpha"], g["lam"]) for g in grid}
    assert len(grid) == len(pairs) == 36
    assert all(set(g) == {"alpha", "lam"} for g in grid)
    assert all(a in allowed and lam in allowed for a, lam in pairs)
    assert all(a + lam <= 0.9 + 1e-9 for a, lam in pairs)
    assert (0.1, 0.8) in pairs and (0.8, 0.1) in pairs and (0.3, 0.6) in pairs
    assert (0.5, 0.5) not in pairs
    assert len(grids.dysan_grid(max_sum=1.6)) == 64


def test_stack_unstack_round_trip() -> None:
    grid = [
        {"alpha": 0.1, "lam": 0.3, "lr": 5e-4, "seed": 0},
        {"alpha": 0.2, "lam": 1, "lr": 1e-3, "seed": 7},
    ]
    hp = grids.stack_grid(grid)
    assert list(hp) == ["alpha", "lam", "lr", "seed"]
    assert hp["alpha"].dtype == jnp.float32 and hp["alpha"].shape == (2,)
    assert hp["lam"].dtype == jnp.float32  # one float makes the whole key float
    assert hp["seed"].dtype == jnp.int32
    back = grids.unstack_grid(hp)
    assert back == [{**grid[0]}, {**grid[1], "lam": 1.0}]
    assert type(back[1]["seed"]) is int and type(back[1]["lam"]) is float


@pytest.mark.parametrize(
    ("grid", "match"),
    [
        ([{"a": 1}, {"b": 1}], r"variant 1 lacks key 'a'"),
        ([{"a": 1}, {"a": 2, "b": 1}], r"variant 1 has unexpected key 'b'"),
        ([{"a": 1}, {"a": "x"}], r"variant 1, key 'a'"),
        ([{"a": True}], r"variant 0, key 'a'"),
        ([{"a": 2**40}], r"int32"),
        ([], r"non-empty"),
        ({"a": 1}, r"non-empty list"),
    ],
)
def test_stack_grid_errors(grid: Any, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        grids.stack_grid(grid)


def test_product_grid() -> None:
    grid = grids.product_grid(alpha=[0.1, 0.2], seed=[0, 1, 2], lr=1e-3)
    assert len(grid) == 6
    assert grid[0] == {"alpha": 0.1, "seed": 0, "lr": 1e-3}
    assert grid[1] == {"alpha": 0.1, "seed": 1, "lr": 1e-3}  # last axis fastest
    assert grid[-1] == {"alpha": 0.2, "seed": 2, "lr": 1e-3}
    with pytest.raises(ValueError, match="empty"):
        grids.product_grid(alpha=[])


def test_parse_grid_forms(tmp_path: Path) -> None:
    product = grids.parse_grid("alpha=0.1,0.2; lam=0.3;")
    assert product == [{"alpha": 0.1, "lam": 0.3}, {"alpha": 0.2, "lam": 0.3}]
    seeds = grids.parse_grid("seed=0,1;lr=1e-3")
    assert seeds == [{"seed": 0, "lr": 1e-3}, {"seed": 1, "lr": 1e-3}]
    assert type(seeds[0]["seed"]) is int
    listed = [{"alpha": 0.5, "lam": 0.2, "seed": 3}, {"alpha": 0.1, "lam": 0.1, "seed": 4}]
    assert grids.parse_grid(json.dumps(listed)) == listed
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(listed))
    assert grids.parse_grid(f"@{path}") == listed


def test_parse_grid_allowed_keys(tmp_path: Path) -> None:
    assert grids.parse_grid("seed=0,1", allowed=("seed", "lr")) == [{"seed": 0}, {"seed": 1}]
    with pytest.raises(
        ValueError, match=r"variant 0 .*unknown keys \['beta'\]; allowed \['seed'\]"
    ):
        grids.parse_grid("beta=1; seed=0,1", allowed=("seed",))
    path = tmp_path / "grid.json"
    path.write_text('[{"lam": 0.1}]')
    with pytest.raises(ValueError, match="unknown keys"):
        grids.parse_grid(f"@{path}", allowed=("seed",))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "empty"),
        ("alpha", "name=v1"),
        ("alpha=", "no values"),
        ("alpha=0.1,x", "not a number"),
        ("alpha=1;alpha=2", "twice"),
        ("1a=2", "name=v1"),
        ("[1, 2]", "variant 0"),
        ('[{"a": 1}, {"b": 2}]', "variant 1"),
        ('[{"a": "x"}]', "variant 0, key 'a'"),
        ("[{bad json", "JSON"),
        ("@/nonexistent/grid.json", "cannot read"),
    ],
)
def test_parse_grid_errors(text: str, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        grids.parse_grid(text)


# --------------------------------------------------------------------------- padding


def test_pad_unpad() -> None:
    assert sweep.padded_count(5, 4) == 8 and sweep.padded_count(8, 4) == 8
    assert sweep.make_variant_mesh(5).padded == sweep.padded_count(5, len(jax.devices()))
    one = sweep.make_variant_mesh(5, jax.devices()[:1])
    vmesh = sweep.VariantMesh(one.mesh, num_variants=5, padded=8)  # the layout for 4 devices
    assert vmesh.real_mask.shape == (8,) and vmesh.real_mask.sum() == 5
    assert vmesh.real_mask[:5].all()
    tree = {"a": np.arange(5, dtype=np.float32), "b": jnp.arange(10).reshape(5, 2)}
    padded = vmesh.pad(tree)
    assert padded["a"].shape == (8,) and padded["b"].shape == (8, 2)
    np.testing.assert_array_equal(padded["a"][5:], [4, 4, 4])  # repeats the last variant
    np.testing.assert_array_equal(padded["b"][7], [8, 9])
    chex.assert_trees_all_equal(vmesh.unpad(padded), tree)
    with pytest.raises(ValueError, match="did you pad"):
        vmesh.shard(tree)
    with pytest.raises(ValueError, match="pad"):
        vmesh.pad(padded)
    with pytest.raises(ValueError, match="num_variants <= padded"):
        sweep.VariantMesh(one.mesh, num_variants=5, padded=4)


# --------------------------------------------------------------------------- sweeps


def test_vmapped_equals_one_by_one() -> None:
    vmesh, (params, losses) = run_grid(GRID5, jax.devices()[:1])
    assert vmesh.padded == 5 and losses.shape == (5, STEPS)
    hp = grids.stack_grid(GRID5)
    single = jax.jit(fit)
    data = make_data()
    for i in range(len(GRID5)):
        alone = single(jax.tree.map(lambda x, i=i: x[i], hp), data)
        chex.assert_trees_all_close(
            jax.tree.map(lambda x, i=i: x[i], (params, losses)), alone, rtol=1e-5, atol=1e-6
        )
    # It trained, and the seed matters: variants 1 and 2 differ only in their seed.
    assert np.all(np.asarray(losses[:, -5:]).mean(1) < np.asarray(losses[:, :5]).mean(1))
    assert not np.allclose(params["w"][1], params["w"][2], atol=1e-3)


def _worker(out_dir: Path) -> None:
    """Subprocess body: the GRID6 sweep on 4 forced CPU devices, checked and written out."""
    assert len(jax.devices()) == 4, jax.devices()
    five = sweep.make_variant_mesh(5)
    assert five.padded == 8 and five.real_mask.sum() == 5
    x = jnp.arange(10.0).reshape(5, 2)
    padded = five.shard(five.pad(x))
    assert len(padded.sharding.device_set) == 4 and len(padded.addressable_shards) == 4
    np.testing.assert_array_equal(np.asarray(five.unpad(padded)), np.asarray(x))
    try:
        sweep.VariantMesh(five.mesh, num_variants=5, padded=6)
    except ValueError as err:
        assert "multiple" in str(err)
    else:
        raise AssertionError("padded=6 on 4 devices was accepted")

    vmesh, out = run_grid(GRID6)
    assert vmesh.padded == 8 and vmesh.mesh.shape == {"variants": 4}
    for leaf in jax.tree.leaves(out):
        assert leaf.shape[0] == 8
        assert leaf.sharding.spec == jax.sharding.PartitionSpec("variants"), leaf.sharding
        assert len(leaf.sharding.device_set) == 4
        assert [s.data.shape[0] for s in leaf.addressable_shards] == [2, 2, 2, 2]
    assert vmesh.replicate(make_data())[0].sharding.is_fully_replicated
    leaves = jax.tree.leaves(sweep.to_host(vmesh.unpad(out)))
    np.savez(out_dir / "sharded.npz", **{f"leaf{i}": leaf for i, leaf in enumerate(leaves)})
    info = {"devices": len(jax.devices()), "padded": vmesh.padded, "leaves": len(leaves)}
    (out_dir / "info.json").write_text(json.dumps(info))


def test_sharded_equals_unsharded(tmp_path: Path) -> None:
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    env["JAX_PLATFORMS"] = "cpu"
    done = subprocess.run(
        [sys.executable, __file__, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    info = json.loads((tmp_path / "info.json").read_text())
    assert info == {"devices": 4, "padded": 8, "leaves": 3}

    vmesh, out = run_grid(GRID6, jax.devices()[:1])
    assert vmesh.padded == 6  # one device: no padding
    local = jax.tree.leaves(sweep.to_host(vmesh.unpad(out)))
    with np.load(tmp_path / "sharded.npz") as sharded:
        assert len(sharded.files) == len(local)
        for i, leaf in enumerate(local):
            assert sharded[f"leaf{i}"].shape == leaf.shape
            np.testing.assert_allclose(sharded[f"leaf{i}"], leaf, rtol=1e-5, atol=1e-6)


def test_compiles_once_and_static_args() -> None:
    traces: list[tuple[int, ...]] = []

    def scaled(hp, data, power):
        traces.append(data.shape)
        return {"y": hp["lr"] * jnp.sum(data) ** power}

    vmesh = sweep.make_variant_mesh(3)
    run = sweep.sweep_jit(scaled, vmesh, data_argnums=(1,), static_argnums=(2,))
    hp = grids.stack_grid([{"lr": 1.0}, {"lr": 2.0}, {"lr": 3.0}])
    first = run(hp, jnp.ones(4), 1)
    second = run(hp, 2 * jnp.ones(4), 1)  # new values, same shapes and dtypes: no retrace
    assert len(traces) == 1
    np.testing.assert_allclose(first["y"], [4.0, 8.0, 12.0])
    np.testing.assert_allclose(second["y"], [8.0, 16.0, 24.0])
    np.testing.assert_allclose(run(hp, jnp.ones(4), 2)["y"], [16.0, 32.0, 48.0])
    run(hp, jnp.ones(5), 1)
    assert traces == [(4,), (4,), (5,)]  # a new static value or shape does retrace


# --------------------------------------------------------------------------- multi-host

_CLUSTER_VARS = (
    "JAX_COORDINATOR_ADDRESS",
    "JAX_NUM_PROCESSES",
    "JAX_PROCESS_ID",
    "SLURM_JOB_ID",
    "SLURM_STEP_NODELIST",
    "SLURM_NTASKS",
    "SLURM_PROCID",
    "SLURM_LOCALID",
    "OMPI_MCA_orte_hnp_uri",
    "OMPI_COMM_WORLD_SIZE",
    "TPU_WORKER_HOSTNAMES",
    "MEGASCALE_COORDINATOR_ADDRESS",
)


_SLURM = {"SLURM_JOB_ID": "9", "SLURM_STEP_NODELIST": "n[1-2]", "SLURM_PROCID": "1"}
_SLURM = {**_SLURM, "SLURM_LOCALID": "0"}
_JAX_ENV = {"JAX_COORDINATOR_ADDRESS": "h:1234", "JAX_NUM_PROCESSES": "2", "JAX_PROCESS_ID": "1"}
_ARGS = {"coordinator_address": "h:1", "num_processes": 2, "process_id": 0}


@pytest.mark.parametrize(
    ("env", "args", "expected"),
    [
        ({}, {}, None),  # a single machine: no-op
        ({**_SLURM, "SLURM_NTASKS": "1"}, {}, None),  # a one-task Slurm job: no-op
        ({**_SLURM, "SLURM_NTASKS": "2"}, {}, {}),  # JAX's Slurm detection does the rest
        (_JAX_ENV, {}, {"num_processes": 2, "process_id": 1}),
        ({"OMPI_MCA_orte_hnp_uri": "1.0;tcp://10.0.0.1:1", "OMPI_COMM_WORLD_SIZE": "4"}, {}, {}),
        ({"TPU_WORKER_HOSTNAMES": "a,b"}, {}, {}),
        ({}, _ARGS, _ARGS),
    ],
)
def test_initialize_distributed(
    monkeypatch: pytest.MonkeyPatch, env: dict, args: dict, expected: dict | None
) -> None:
    for var in _CLUSTER_VARS:
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    calls: list[dict] = []
    monkeypatch.setattr(jax.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(jax.distributed, "initialize", lambda **kw: calls.append(kw))
    assert sweep.initialize_distributed(**args) is (expected is not None)
    assert calls == ([] if expected is None else [expected])


if __name__ == "__main__":
    _worker(Path(sys.argv[1]))
