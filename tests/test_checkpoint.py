"""Tests for jaxpriv.checkpoint: round trips, policies, variants and every error path."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from jaxpriv.checkpoint import Checkpointer, CheckpointError, with_sharding
from jaxpriv.records import versions
from jaxpriv.variants import restore_variant, select_variant, variant_index

V = 6  # variants: alpha in (0.1, 0.3, 0.5) x lam in (0.5, 1.0)
GRID = [
    {"alpha": a, "lam": lam, "name": f"a{a}-l{lam}"} for a in (0.1, 0.3, 0.5) for lam in (0.5, 1.0)
]


def make_state(scale: float = 1.0, variants: int = V, hidden: int = 3) -> dict:
    """A batched state whose leaves differ per variant (leaf[i] identifies variant i)."""
    i = jnp.arange(variants)
    return {
        "params": {
            "dense": {
                "kernel": scale * (i[:, None, None] + jnp.ones((variants, 4, hidden))),
                "bias": jnp.zeros((variants, hidden), jnp.float32),
            },
        },
        "step": (scale * i).astype(jnp.int32),
        "done": i % 2 == 0,
        "opt": (jnp.full((variants,), scale, jnp.float32), {"count": i.astype(jnp.int32)}),
        "key": jax.random.split(jax.random.key(int(scale)), variants),
    }


def make_meta(epoch: int = 0) -> dict:
    return {
        "config": {"hidden": 3, "dropout": 0.2, "features": [32, 64], "norm": None},
        "grid": GRID,
        "data": {"name": "synthetic", "users": 24, "channels": ["ax", "ay", "az"]},
        "scaler": {"mean": [0.0, 1.5], "std": [1.0, 2.0]},
        "versions": versions(),
        "epoch": epoch,
        "ok": True,
    }


def template_of(state: dict) -> dict:
    return jax.eval_shape(lambda: state)


def save_steps(directory: Path, steps, **kwargs) -> Checkpointer:
    ckpt = Checkpointer(directory, **kwargs)
    for s in steps:
        ckpt.save(s, make_state(float(s)), make_meta(s), force=True)
    ckpt.wait()
    return ckpt


# -- round trips -------------------------------------------------------------------


@pytest.mark.parametrize("async_save", [True, False])
def test_restore_of_save_is_identity(tmp_path: Path, async_save: bool) -> None:
    state, meta = make_state(2.0), make_meta(7)
    with Checkpointer(tmp_path, async_save=async_save) as ckpt:
        assert ckpt.save(7, state, meta)
    restored, restored_meta = Checkpointer(tmp_path).restore(template_of(state))
    chex.assert_trees_all_equal(restored, state)  # includes bool, int32 and typed-key leaves
    assert jax.tree.structure(restored) == jax.tree.structure(state)
    assert restored["key"].dtype == state["key"].dtype  # still a typed key, same impl
    assert restored_meta == json.loads(json.dumps(meta))  # tuples aside, JSON round trip


def test_typed_keys_of_another_impl_and_raw_key_data(tmp_path: Path) -> None:
    state = {"key": jax.random.split(jax.random.key(3, impl="rbg"), V), "x": jnp.ones((V,))}
    with Checkpointer(tmp_path) as ckpt:
        ckpt.save(1, state, {})
    ckpt = Checkpointer(tmp_path)
    restored, _ = ckpt.restore(template_of(state))
    assert jax.random.key_impl(restored["key"]) == jax.random.key_impl(state["key"])
    chex.assert_trees_all_equal(
        jax.random.key_data(restored["key"]), jax.random.key_data(state["key"])
    )
    # A template may ask for the raw uint32 key data instead of typed keys ...
    raw = {"key": jax.ShapeDtypeStruct((V, 4), jnp.uint32), "x": template_of(state)["x"]}
    restored_raw, _ = ckpt.restore(raw)
    assert restored_raw["key"].dtype == jnp.uint32
    np.testing.assert_array_equal(restored_raw["key"], jax.random.key_data(state["key"]))
    # ... and saved raw key data comes back as typed keys when the template asks.
    with Checkpointer(tmp_path) as ckpt:
        ckpt.save(2, {"key": jax.random.key_data(state["key"]), "x": state["x"]}, {})
    typed, _ = Checkpointer(tmp_path).restore(template_of(state), step=2)
    assert typed["key"].dtype == state["key"].dtype
    chex.assert_trees_all_equal(typed, state)
    # A different implementation with the same key-data shape is refused.
    unsafe = {
        **template_of(state),
        "key": jax.ShapeDtypeStruct((V,), jax.random.key(0, impl="unsafe_rbg").dtype),
    }
    with pytest.raises(CheckpointError, match="holds key<rbg> keys"):
        Checkpointer(tmp_path).restore(unsafe, step=1)


def test_restore_against_concrete_array_template(tmp_path: Path) -> None:
    save_steps(tmp_path, [1]).close()
    restored, _ = Checkpointer(tmp_path).restore(make_state(0.0))  # arrays, not structs
    chex.assert_trees_all_equal(restored, make_state(1.0))


def test_meta_round_trip_and_restore_meta(tmp_path: Path) -> None:
    meta = make_meta(3)
    with Checkpointer(tmp_path) as ckpt:
        ckpt.save(3, make_state(), meta)
    got = Checkpointer(tmp_path, read_only=True).restore_meta()
    assert got == meta
    assert got["grid"][4] == {"alpha": 0.5, "lam": 0.5, "name": "a0.5-l0.5"}
    assert got["versions"]["jax"] == jax.__version__


def test_async_save_then_wait_then_fresh_instance_reads(tmp_path: Path) -> None:
    big = {"w": jnp.arange(V * 256 * 256, dtype=jnp.float32).reshape(V, 256, 256)}
    writer = Checkpointer(tmp_path, async_save=True)
    assert writer.save(1, big, {"epoch": 1})
    writer.wait()
    reader = Checkpointer(tmp_path, read_only=True)
    assert reader.latest_step() == 1
    restored, meta = reader.restore(template_of(big))
    chex.assert_trees_all_equal(restored, big)
    assert meta == {"epoch": 1}
    writer.close()
    writer.close()  # idempotent


# -- policies ------------------------------------------------------------------------


def test_keep_latest_policy(tmp_path: Path) -> None:
    ckpt = save_steps(tmp_path, range(1, 6), keep=2)
    assert ckpt.all_steps() == [4, 5]
    assert ckpt.latest_step() == 5
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.isdigit()) == ["4", "5"]
    assert Checkpointer(tmp_path).all_steps() == [4, 5]


def test_save_every_skips_steps_unless_forced(tmp_path: Path) -> None:
    with Checkpointer(tmp_path, keep=10, save_every=2) as ckpt:
        saved = [ckpt.save(s, make_state(float(s)), make_meta(s)) for s in range(1, 6)]
        assert saved == [False, True, False, True, False]
        assert ckpt.save(5, make_state(5.0), make_meta(5), force=True)
    assert Checkpointer(tmp_path).all_steps() == [2, 4, 5]


def test_restore_specific_step(tmp_path: Path) -> None:
    ckpt = save_steps(tmp_path, [1, 2, 3], keep=3)
    state, meta = ckpt.restore(template_of(make_state()), step=2)
    chex.assert_trees_all_equal(state, make_state(2.0))
    assert meta["epoch"] == 2
    assert ckpt.restore_meta(1)["epoch"] == 1
    latest, latest_meta = ckpt.restore(template_of(make_state()))
    chex.assert_trees_all_equal(latest, make_state(3.0))
    assert latest_meta["epoch"] == 3


# -- variants --------------------------------------------------------------------------


def test_select_variant() -> None:
    state = make_state()
    one = select_variant(state, 4)
    assert one["params"]["dense"]["kernel"].shape == (4, 3)
    assert float(one["params"]["dense"]["kernel"][0, 0]) == 5.0  # i + 1 with i = 4
    assert int(one["opt"][1]["count"]) == 4
    chex.assert_trees_all_equal(
        jax.random.key_data(one["key"]), jax.random.key_data(state["key"][4])
    )
    chex.assert_trees_all_equal(select_variant(state, -1), select_variant(state, V - 1))
    with pytest.raises(IndexError, match="out of range for 6 variants"):
        select_variant(state, V)  # jnp indexing would clamp this silently


def test_variant_index_by_values_with_float_tolerance() -> None:
    assert variant_index(GRID, alpha=0.3, lam=1.0) == 3
    assert variant_index(GRID, name="a0.5-l0.5") == 4
    # Grid values that went through float32, and queries that did, still match.
    grid32 = [{k: float(np.float32(v)) if k != "name" else v for k, v in e.items()} for e in GRID]
    assert grid32[2]["alpha"] != 0.3
    assert variant_index(grid32, alpha=0.3, lam=0.5) == 2
    assert variant_index(GRID, alpha=np.float32(0.5), lam=1) == 5


def test_variant_index_errors_list_available_values() -> None:
    with pytest.raises(ValueError, match=r"no variant with alpha=0\.3, lam=0\.7") as err:
        variant_index(GRID, alpha=0.3, lam=0.7)
    assert "alpha in [0.1, 0.3, 0.5]" in str(err.value)
    assert "lam in [0.5, 1.0]" in str(err.value)
    with pytest.raises(ValueError, match=r"2 variants match alpha=0.1 \(indices \[0, 1\]\)"):
        variant_index(GRID, alpha=0.1)
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        variant_index(GRID, beta=1.0)
    with pytest.raises(ValueError, match="at least one"):
        variant_index(GRID)


def test_restore_variant_by_index_and_by_values(tmp_path: Path) -> None:
    save_steps(tmp_path, [1, 2], keep=2).close()
    template = template_of(make_state())
    by_index, meta = restore_variant(tmp_path, template, index=3)
    by_values, _ = restore_variant(tmp_path, template, alpha=0.3, lam=1.0)
    chex.assert_trees_all_equal(by_index, select_variant(make_state(2.0), 3))
    chex.assert_trees_all_equal(by_values, by_index)
    assert meta["epoch"] == 2 and meta["grid"][3] == {"alpha": 0.3, "lam": 1.0, "name": "a0.3-l1.0"}
    older, old_meta = restore_variant(tmp_path, template, step=1, alpha=0.5, lam=0.5)
    chex.assert_trees_all_equal(older, select_variant(make_state(1.0), 4))
    assert old_meta["epoch"] == 1
    with pytest.raises(ValueError, match=r"no variant with alpha=0\.3, lam=2\.0"):
        restore_variant(tmp_path, template, alpha=0.3, lam=2.0)
    with pytest.raises(ValueError, match="either index= or"):
        restore_variant(tmp_path, template, index=0, alpha=0.3)


def test_restore_variant_without_grid_in_meta(tmp_path: Path) -> None:
    with Checkpointer(tmp_path) as ckpt:
        ckpt.save(1, make_state(), {"epoch": 1})
    with pytest.raises(CheckpointError, match=r"no meta\['grid'\]"):
        restore_variant(tmp_path, template_of(make_state()), alpha=0.1, lam=0.5)


# -- sharding ----------------------------------------------------------------------------


def test_restore_onto_named_sharding(tmp_path: Path) -> None:
    state = make_state(2.0)
    save_steps(tmp_path, [2]).close()
    sharding = NamedSharding(jax.make_mesh((1,), ("v",)), P("v"))
    restored, _ = Checkpointer(tmp_path).restore(with_sharding(template_of(state), sharding))
    for leaf in jax.tree.leaves(restored):
        assert leaf.sharding == sharding
    chex.assert_trees_all_equal(restored, state)


def test_restore_checkpoint_saved_sharded_over_four_devices(tmp_path: Path) -> None:
    """A checkpoint written with the variant axis split over 4 devices reads on 1."""
    script = textwrap.dedent(
        f"""
        import jax, jax.numpy as jnp
        from jax.sharding import NamedSharding, PartitionSpec as P
        from jaxpriv.checkpoint import Checkpointer
        assert jax.device_count() == 4
        sh = NamedSharding(jax.make_mesh((4,), ("v",)), P("v"))
        keys = jax.random.split(jax.random.key(1), 8)
        state = jax.device_put({{"w": jnp.arange(8 * 3.0).reshape(8, 3), "key": keys}}, sh)
        assert len(state["w"].sharding.device_set) == 4
        with Checkpointer({str(tmp_path)!r}) as ckpt:
            ckpt.save(1, state, {{"devices": 4}})
        """
    )
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "XLA_FLAGS": "--xla_force_host_platform_device_count=4",
    }
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    template = {
        "w": jax.ShapeDtypeStruct((8, 3), jnp.float32),
        "key": jax.ShapeDtypeStruct((8,), jax.random.key(0).dtype),
    }
    expected_w = np.arange(8 * 3.0).reshape(8, 3)
    plain, meta = Checkpointer(tmp_path).restore(template)  # no sharding: first local device
    np.testing.assert_array_equal(plain["w"], expected_w)
    assert plain["w"].sharding.device_set == {jax.local_devices()[0]}
    assert meta == {"devices": 4}
    sharding = NamedSharding(jax.make_mesh((1,), ("v",)), P("v"))
    sharded, _ = Checkpointer(tmp_path).restore(with_sharding(template, sharding))
    assert sharded["w"].sharding == sharding
    np.testing.assert_array_equal(
        jax.random.key_data(sharded["key"]),
        jax.random.key_data(jax.random.split(jax.random.key(1), 8)),
    )


# -- errors --------------------------------------------------------------------------------


def test_empty_or_missing_directory(tmp_path: Path) -> None:
    ckpt = Checkpointer(tmp_path / "run")
    assert (tmp_path / "run").is_dir()
    assert ckpt.latest_step() is None and ckpt.all_steps() == []
    with pytest.raises(CheckpointError, match=f"no checkpoint in {tmp_path / 'run'}"):
        ckpt.restore(template_of(make_state()))
    with pytest.raises(CheckpointError, match="no checkpoint in"):
        ckpt.restore_meta()
    missing = tmp_path / "typo"
    with pytest.raises(CheckpointError, match=f"no checkpoint in {missing}"):
        restore_variant(missing, template_of(make_state()), index=0)
    assert not missing.exists()  # reading never creates the directory


def test_missing_step(tmp_path: Path) -> None:
    ckpt = save_steps(tmp_path, [1, 2], keep=2)
    with pytest.raises(
        CheckpointError, match=r"no checkpoint for step 5 .* available steps: \[1, 2\]"
    ):
        ckpt.restore(template_of(make_state()), step=5)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (
            template_of(make_state(variants=4)),
            r"params/dense/kernel: checkpoint float32\[6, 4, 3\], ",
        ),
        (
            template_of(make_state(hidden=5)),
            r"params/dense/bias: checkpoint float32\[6, 3\], template",
        ),
        (
            {**template_of(make_state()), "extra": jax.ShapeDtypeStruct((V,), jnp.float32)},
            "extra: only in the template",
        ),
        (
            {k: v for k, v in template_of(make_state()).items() if k != "done"},
            "done: only in the checkpoint",
        ),
        (
            {**template_of(make_state()), "step": jax.ShapeDtypeStruct((V,), jnp.float32)},
            r"step: checkpoint int32\[6\], template float32\[6\]",
        ),
        (
            {**template_of(make_state()), "key": jax.ShapeDtypeStruct((V,), jnp.float32)},
            r"key: checkpoint uint32\[6, 2\], template float32\[6\]",
        ),
    ],
    ids=["grid-size", "model-size", "extra-leaf", "missing-leaf", "dtype", "key-vs-float"],
)
def test_incompatible_template_names_the_leaf(tmp_path: Path, template, expected: str) -> None:
    ckpt = save_steps(tmp_path, [1])
    with pytest.raises(CheckpointError, match="template does not match step 1 in") as err:
        ckpt.restore(template)
    assert str(tmp_path) in str(err.value)
    assert any(re.search(expected, line) for line in str(err.value).splitlines())


def _state_data_files(step_dir: Path) -> list[Path]:
    files = [p for p in (step_dir / "state").rglob("*") if p.is_file() and p.parent.name == "d"]
    assert files, f"no array data files found under {step_dir}; Orbax layout changed?"
    return files


def _truncate(path: Path, size: int = 5) -> None:
    with open(path, "r+b") as f:
        f.truncate(size)


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / "meta" / "metadata").write_text("{not json"),
        lambda d: (d / "meta" / "metadata").unlink(),
        lambda d: [p.unlink() for p in _state_data_files(d)],
        lambda d: [_truncate(p) for p in _state_data_files(d)],
        lambda d: _truncate(d / "state" / "_METADATA", 10),
        lambda d: (d / "state" / "_METADATA").unlink(),
        lambda d: shutil.rmtree(d / "state"),
    ],
    ids=[
        "meta-invalid-json",
        "meta-deleted",
        "data-deleted",
        "data-truncated",
        "state-metadata-truncated",
        "state-metadata-deleted",
        "state-item-deleted",
    ],
)
# Orbax's failed async read can leave a callback that fires on its closed event
# loop ("Event loop is closed"); it is printed, not raised, and harmless here.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_corrupted_checkpoint_raises_checkpoint_error(tmp_path: Path, damage) -> None:
    save_steps(tmp_path, [3]).close()
    damage(tmp_path / "3")
    ckpt = Checkpointer(tmp_path, read_only=True)
    with pytest.raises(CheckpointError, match=f"step 3 in {tmp_path}") as err:
        ckpt.restore(template_of(make_state()))
        ckpt.restore_meta()  # reached only if the state survived: meta must then fail
    assert "corrupted or incomplete" in str(err.value)


def test_corrupted_meta_fails_restore_meta(tmp_path: Path) -> None:
    save_steps(tmp_path, [3]).close()
    (tmp_path / "3" / "meta" / "metadata").write_text('{"epoch": 3,')
    with pytest.raises(CheckpointError, match=f"cannot read step 3 in {tmp_path}") as err:
        Checkpointer(tmp_path).restore_meta()
    assert isinstance(err.value.__cause__, ValueError)  # chained, not swallowed


def test_non_json_meta_is_rejected_before_writing(tmp_path: Path) -> None:
    ckpt = Checkpointer(tmp_path)
    bad = {**make_meta(), "scaler": {"mean": np.zeros(3)}}
    with pytest.raises(TypeError, match=r"meta\['scaler'\]\['mean'\] is a ndarray"):
        ckpt.save(1, make_state(), bad)
    with pytest.raises(TypeError, match="key 3 is not a string"):
        ckpt.save(1, make_state(), {3: "x"})
    with pytest.raises(TypeError, match="meta must be a dict"):
        ckpt.save(1, make_state(), [1, 2])
    with pytest.raises(TypeError, match="state leaf 'labels'"):
        ckpt.save(1, {"labels": "walk"}, {})
    ckpt.wait()
    assert ckpt.all_steps() == [] and list(tmp_path.iterdir()) == []


def test_existing_step_and_read_only_refuse_to_save(tmp_path: Path) -> None:
    ckpt = save_steps(tmp_path, [1])
    with pytest.raises(CheckpointError, match=f"step 1 already exists in {tmp_path}"):
        ckpt.save(1, make_state(), make_meta(), force=True)
    with pytest.raises(CheckpointError, match="read-only"):
        Checkpointer(tmp_path, read_only=True).save(2, make_state(), make_meta(), force=True)


def test_unfinalized_step_folders_are_ignored(tmp_path: Path) -> None:
    save_steps(tmp_path, [1, 2], keep=5).close()
    # What a crash mid-save leaves: Orbax's temporary folder, never renamed.
    tmp_folder = tmp_path / "7.orbax-checkpoint-tmp-1712345678"
    shutil.copytree(tmp_path / "2", tmp_folder)
    # A step folder Orbax never committed (e.g. a partial copy from another disk).
    partial = tmp_path / "9"
    shutil.copytree(tmp_path / "2", partial)
    for marker in partial.rglob("commit_success.txt"):
        marker.unlink()
    (partial / "_CHECKPOINT_METADATA").unlink()
    ckpt = Checkpointer(tmp_path, read_only=True)
    assert ckpt.all_steps() == [1, 2]
    assert ckpt.latest_step() == 2
    state, meta = ckpt.restore(template_of(make_state()))
    assert meta["epoch"] == 2
    chex.assert_trees_all_equal(state, make_state(2.0))
    with pytest.raises(CheckpointError, match="no checkpoint for step 9"):
        ckpt.restore_meta(9)


def test_library_versions_are_json() -> None:
    found = versions()
    assert found["jax"] == jax.__version__
    assert {"flax", "optax", "orbax-checkpoint", "numpy", "python"} <= found.keys()
    assert json.loads(json.dumps(found)) == found
