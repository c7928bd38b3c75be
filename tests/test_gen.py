"""GEN: networks, the frozen estimator, a two-variant grid, checkpoint/resume, the restorer.

One tiny command-line run (module fixture) serves most tests: its checkpoints
keep the state after the identity phase (before the guardian's adversarial
training) and the final state, and the compiled programs are cached, so a
resumed run in the same process costs no compilation.
"""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eval.transforms import RAW, load_transforms
from jaxpriv.checkpoint import Checkpointer
from jaxpriv.data.load import load_dataset
from jaxpriv.data.scaling import Scaler
from jaxpriv.data.task import dysan_task
from jaxpriv.methods import gen
from jaxpriv.methods.gen_io import load_stacked, restore_run
from jaxpriv.nn.gen import Estimator, Guardian
from train import gen as train_gen

TINY_DATA = "embedded:users=6,long_s=6,short_s=4"
EST, IDENTITY, GUARD = 20, 4, 20  # epochs per phase; steps EST, EST + IDENTITY, total
ARGS = [
    "--data", TINY_DATA, "--grid", "privacy_weight=0,5;seed=0", "--lr-est", "3e-3",
    "--lr-guard", "1e-3", "--est-epochs", str(EST), "--identity-epochs", str(IDENTITY),
    "--epochs", str(GUARD), "--batch-size", "32", "--hidden", "64,32,64", "--save-every", "100",
]  # fmt: skip
BEFORE_GUARDIAN, FINAL = EST + IDENTITY, EST + IDENTITY + GUARD


@pytest.fixture(scope="module")
def data():
    return dysan_task().prepare(load_dataset(TINY_DATA))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "run"
    assert train_gen.main([*ARGS, "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def states(run_dir) -> dict:
    """The config and the batched states after the identity phase and at the end."""
    meta, before = restore_run(run_dir, step=BEFORE_GUARDIAN)
    _, after = restore_run(run_dir)
    return {"cfg": gen.GenConfig(**meta["config"]), "before": before, "after": after}


def _leaves(tree) -> list[np.ndarray]:
    return [np.asarray(a) for a in jax.tree.leaves(tree)]


def _gender_gap(cfg: gen.GenConfig, state, i: int, x: np.ndarray) -> float:
    """Mean |1/2 - sigmoid(gender)| of variant ``i``'s estimator on its guardian's output."""
    return float(_gap_fn(cfg)(jax.tree.map(lambda a: a[i], state), jnp.asarray(x)))


@functools.cache
def _gap_fn(cfg: gen.GenConfig):
    estimator, guardian = gen.make_networks(cfg)

    @jax.jit
    def gap(variant, x):
        x_hat = guardian.apply({"params": variant["guard"]}, x)
        _, logit = estimator.apply({"params": variant["est"]}, x_hat)
        return jnp.mean(jnp.abs(0.5 - jax.nn.sigmoid(logit)))

    return gap


def test_networks_have_the_documented_shapes_and_reject_bad_settings() -> None:
    # Shapes by tracing only (no compilation): training behaviour is tested below.
    x = jax.ShapeDtypeStruct((3, 125, 6), jnp.float32)
    est = Estimator(num_activities=4, features=(8, 8), dense=8)
    act, gender = jax.eval_shape(lambda x: est.apply(est.init(jax.random.key(0), x), x), x)
    assert act.shape == (3, 4) and gender.shape == (3,)
    guard = Guardian(hidden=(16, 8, 16), activation="tanh")
    params = jax.eval_shape(guard.init, jax.random.key(1), x)["params"]
    assert jax.eval_shape(guard.apply, {"params": params}, x).shape == x.shape
    assert params["Dense_0"]["kernel"].shape == (750, 16)  # over the flattened window
    with pytest.raises(ValueError, match="activation"):
        gen.GenConfig(activation="swish")
    with pytest.raises(ValueError, match="hidden"):
        gen.GenConfig(hidden=())
    with pytest.raises(ValueError, match="epochs"):
        gen.GenConfig(epochs=-1)


def test_schedule_cuts_chunks_at_phase_boundaries() -> None:
    cfg = gen.GenConfig(est_epochs=3, identity_epochs=0, epochs=4)
    assert gen.schedule(cfg, 0, 2) == [("estimator", 2), ("estimator", 1), ("guardian", 2),
                                       ("guardian", 2)]  # fmt: skip
    assert gen.schedule(cfg, 4, 10) == [("guardian", 3)]
    assert gen.schedule(cfg, 7, 1) == []


def test_grid_defaults_and_bad_grids(capsys) -> None:
    args = train_gen.build_parser().parse_args([])
    assert train_gen.make_grid(args) == [
        {"privacy_weight": 1.0, "utility_weight": 1.0, "lr_est": gen.DEFAULT_LR_EST,
         "lr_guard": gen.DEFAULT_LR_GUARD, "seed": 0}
    ]  # fmt: skip
    args = train_gen.build_parser().parse_args(["--grid", "privacy_weight=0.5,2", "--seed", "7"])
    assert [(v["privacy_weight"], v["seed"]) for v in train_gen.make_grid(args)] == [
        (0.5, 7),
        (2.0, 8),
    ]
    args = train_gen.build_parser().parse_args(["--est-features", "16,32", "--epochs", "3"])
    cfg = train_gen.config_from(args)
    assert cfg.est_features == (16, 32) and cfg.epochs == 3 and cfg.hidden == (512, 256, 512)
    assert train_gen.main(["--hidden", "512,x"]) == 2
    assert "--hidden '512,x': expected sizes" in capsys.readouterr().err
    assert train_gen.main(["--grid", "alpha=0.5"]) == 2
    assert "unknown keys ['alpha']" in capsys.readouterr().err
    assert train_gen.main(["--grid", "privacy_weight=-1"]) == 2
    assert "privacy_weight must be >= 0" in capsys.readouterr().err


def test_the_run_stores_its_metadata_and_summary(run_dir) -> None:
    with Checkpointer(run_dir / "checkpoints", read_only=True) as ckpt:
        assert ckpt.all_steps() == [BEFORE_GUARDIAN, FINAL]
        meta = ckpt.restore_meta()
    assert meta["method"] == "gen"
    assert [v["privacy_weight"] for v in meta["grid"]] == [0.0, 5.0]
    assert gen.GenConfig(**meta["config"]).hidden == (64, 32, 64)
    assert meta["prepared"]["window"] == 125 and len(meta["prepared"]["channels"]) == 6
    assert meta["data"]["kind"] == "embedded"
    assert [h["phase"] for h in meta["history"]] == ["estimator"] * EST + [
        "identity"
    ] * IDENTITY + ["guardian"] * GUARD
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = summary["variants"]
    assert [r["variant"] for r in rows] == ["pw0-uw1", "pw5-uw1"]
    for r in rows:
        assert 0 <= r["gender_acc"] <= 1 and 0 <= r["raw_activity_acc"] <= 1 and r["alive"]
    # Same seed: one estimator, so the same accuracy on raw windows.
    assert rows[0]["raw_gender_acc"] == rows[1]["raw_gender_acc"]
    assert "pw5-uw1" in (run_dir / "summary.md").read_text()


def test_guardian_training_keeps_the_estimator_and_lowers_the_gender_term(states, data) -> None:
    cfg, before, after = states["cfg"], states["before"], states["after"]
    for a, b in zip(_leaves(before["est"]), _leaves(after["est"]), strict=True):
        np.testing.assert_array_equal(a, b)  # frozen: bit for bit
    x = data.train["x"]
    gap_before, gap_after = _gender_gap(cfg, before, 1, x), _gender_gap(cfg, after, 1, x)
    assert gap_before > 0.2, "the tiny estimator should be confident about gender"
    assert gap_after < 0.5 * gap_before
    # Without the privacy term (variant 0) nothing pushes gender towards 1/2.
    assert _gender_gap(cfg, after, 0, x) > 2 * gap_after


def test_a_grid_vmaps_its_variants_independently(states) -> None:
    state, before = states["after"], states["before"]
    # One seed: both variants trained the same estimator and pretrained the same guardian...
    for leaf in _leaves(state["est"]):
        np.testing.assert_array_equal(leaf[0], leaf[1])
    for leaf in _leaves(before["guard"]):
        np.testing.assert_array_equal(leaf[0], leaf[1])
    # ...and their privacy weights then took their guardians apart.
    assert any(not np.allclose(leaf[0], leaf[1]) for leaf in _leaves(state["guard"]))


def test_a_resumed_run_ends_where_the_uninterrupted_one_did(
    run_dir, states, tmp_path, capsys
) -> None:
    resumed = tmp_path / "resumed"
    shutil.copytree(run_dir, resumed)
    shutil.rmtree(resumed / "checkpoints" / str(FINAL))  # as if killed during the last phase
    assert train_gen.main([*ARGS, "--out", str(resumed)]) == 0
    assert f"resuming from {resumed / 'checkpoints'} at epoch {BEFORE_GUARDIAN}" in (
        capsys.readouterr().out
    )
    _, got = restore_run(resumed)
    for a, b in zip(_leaves(states["after"]), _leaves(got), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    # Another grid in the same folder is refused, not mixed in.
    other = [a if a != "privacy_weight=0,5;seed=0" else "privacy_weight=1" for a in ARGS]
    assert train_gen.main([*other, "--out", str(resumed)]) == 2
    assert "different grid" in capsys.readouterr().err


def test_the_restorer_releases_raw_unit_windows(run_dir, data) -> None:
    ts = load_transforms(run_dir)
    assert ts.method == "gen" and ts.names == (RAW, "gen-pw0-uw1", "gen-pw5-uw1")
    assert ts.alive == (True, True, True) and ts.spec.window == 125 and ts.spec.stride == 63
    assert ts.spec.test_subjects == data.test_subjects
    x_raw = data.test_windows.x[:8].astype(np.float32)
    released = ts.release(x_raw, data.test_windows.attributes[:8], data.test["activity"][:8], 0)
    assert released.shape == (3, *x_raw.shape)
    np.testing.assert_array_equal(released[0], x_raw)
    # By hand: scale with the training scaler, guardian, scale back.
    meta, params, _ = load_stacked(run_dir)
    scaler = Scaler.from_json(meta["prepared"]["scaler"])
    guardian = gen.make_networks(gen.GenConfig(**meta["config"]))[1]
    for i in range(2):
        variant = jax.tree.map(lambda a, i=i: a[i], params)
        scaled = guardian.apply({"params": variant}, scaler.apply(x_raw))
        np.testing.assert_allclose(released[i + 1], scaler.invert(scaled), rtol=1e-4, atol=1e-4)
        # Raw units, not the [-1, 1] scale the guardian works in.
        assert not np.allclose(released[i + 1], scaled, atol=0.5)
