"""MSDA's AAE and REP: networks, the Figure 6 procedure under vmap, checkpoints, restorer."""

from __future__ import annotations

import argparse

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpriv.checkpoint import Checkpointer, with_sharding
from jaxpriv.data.scaling import Scaler
from jaxpriv.grid import stack_grid
from jaxpriv.methods import msda
from jaxpriv.methods.msda_io import make_release
from jaxpriv.methods.msda_sweep import MsdaSweep
from jaxpriv.methods.msda_train import make_train
from jaxpriv.nn.msda import AAE, Regularizer, l2_penalty, rows_back, rows_first
from jaxpriv.run import run_metadata
from jaxpriv.sweep import make_variant_mesh

# A tiny problem: 3 users, 2 activities, windows of 32 (latent 8), 4 filters.
CFG = msda.MsdaConfig(
    window=32,
    num_users=3,
    num_activities=2,
    filters=4,
    reg_features=4,
    reg_dense=8,
    batch_size=16,
    pretrain_epochs=4,
    rounds=2,
    reg_epochs=2,
    reg_patience=1,
    aae_epochs=1,
    min_rounds=1,
    bn_momentum=0.5,
)
GRID = [
    {**msda.AAE_BETAS, "lr": 3e-3, "lr_reg": 3e-3, "seed": 0},
    {**msda.REP_BETAS, "lr": 3e-3, "lr_reg": 3e-3, "seed": 1},
]


def _arrays(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """Windows whose first row carries the user and whose second row carries the activity."""
    subject = rng.integers(0, CFG.num_users, n).astype(np.int32)
    activity = rng.integers(0, CFG.num_activities, n).astype(np.int32)
    t = np.arange(CFG.window) / CFG.window
    x = 0.3 * rng.normal(size=(n, CFG.window, 2))
    x[:, :, 0] += np.sin(2 * np.pi * (1 + subject[:, None]) * t)
    x[:, :, 1] += np.cos(2 * np.pi * (2 + 2 * activity[:, None]) * t)
    return {"x": x.astype(np.float32), "subject": subject, "activity": activity}


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    data = {"train": _arrays(rng, 96), "val": _arrays(rng, 40)}
    vmesh = make_variant_mesh(len(GRID))
    hp = vmesh.stack(GRID)
    data = vmesh.replicate(data)
    sweep = MsdaSweep(CFG, vmesh, log=lambda line: None)
    state, history = sweep.pretrain(sweep.init(hp), hp, data)
    return sweep, hp, data, state, history


def _tree_equal(a, b) -> bool:
    return all(
        np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def _variant(tree, i: int):
    return jax.tree.map(lambda a: np.asarray(a)[i], tree)


# ------------------------------------------------------------------------ networks


def test_aae_shapes_latent_2x32_output_2x128() -> None:
    aae = AAE(filters=4)
    x = jax.ShapeDtypeStruct((3, 128, 2), jnp.float32)
    variables = jax.eval_shape(lambda x: aae.init(jax.random.key(1), x, train=False), x)
    x_hat, y = jax.eval_shape(lambda v, x: aae.apply(v, x, train=False), variables, x)
    assert y.shape == (3, 32, 2)
    assert x_hat.shape == (3, 128, 2)
    for reg, inp, k in ((Regularizer(24, 4, dense=8), y, 24), (Regularizer(4, 4, dense=8), x, 4)):
        logits = jax.eval_shape(lambda i, r=reg: r.apply(r.init(jax.random.key(2), i), i), inp)
        assert logits.shape == (3, k)
    # The paper preset: 100 filters of (1, 3) kernels, latent 32 for windows of 128.
    paper = msda.preset_config("paper")
    state = jax.eval_shape(make_train(paper).init, stack_grid(GRID[:1]) | {"seed": 0})
    enc = state["aae"]["params"]["encoder"]
    assert enc["Conv1D_1"]["kernel"].shape == (3, 100, 100)
    assert enc["enc_out"]["kernel"].shape == (3, 100, 1)


def test_rows_share_one_kernel_and_eval_mode_uses_running_averages(setup) -> None:
    """MSDA's (1, 3) kernels: each row is convolved alone with the same weights, so
    swapping the two rows of the input swaps the rows of the latent and the output.
    BatchNorm: in evaluation mode a window's output does not depend on the rest of the
    batch; in training mode (batch statistics) it does, and the statistics update."""
    aae = AAE(CFG.filters, CFG.activation, CFG.bn_momentum)
    variables = _variant(setup[3]["aae"], 0)
    x = jax.random.normal(jax.random.key(0), (4, CFG.window, 2))
    assert np.array_equal(rows_back(rows_first(x), 2), x)

    @jax.jit
    def both_modes(x):
        x_hat, y = aae.apply(variables, x, train=False)
        (x_hat_t, _), updates = aae.apply(variables, x, train=True, mutable=["batch_stats"])
        return x_hat, y, x_hat_t, updates["batch_stats"]

    x_hat, y, x_hat_t, stats = both_modes(x)
    x_hat_s, y_s, _, _ = both_modes(x[..., ::-1])
    np.testing.assert_allclose(y_s, y[..., ::-1], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(x_hat_s, x_hat[..., ::-1], rtol=1e-5, atol=1e-5)
    assert not np.allclose(x_hat[..., 0], x_hat[..., 1])
    other = x.at[1:].set(5.0 * x[1:] + 3.0)  # same first window, another batch
    x_hat_o, _, x_hat_to, _ = both_modes(other)
    np.testing.assert_allclose(x_hat_o[0], x_hat[0], rtol=1e-5, atol=1e-5)
    assert not np.allclose(x_hat_to[0], x_hat_t[0], atol=1e-3)
    assert not _tree_equal(stats, variables["batch_stats"])


def test_l2_penalty_counts_hidden_kernels_only(setup) -> None:
    params = _variant(setup[3]["aae"], 0)["params"]
    expected = 0.0
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        keys = jax.tree_util.keystr(path)
        if keys.endswith("['kernel']") and "enc_out" not in keys and "dec_out" not in keys:
            expected += float(np.sum(np.square(leaf)))
    assert float(l2_penalty(params)) == pytest.approx(expected, rel=1e-5)
    assert expected > 0
    with_out = sum(float(np.sum(np.square(k))) for k in jax.tree.leaves(params) if k.ndim == 3)
    assert with_out > expected  # the output convolutions are left out


# ------------------------------------------------------------------------ procedure


def test_pretraining_reduces_reconstruction_error(setup) -> None:
    _, _, _, state, history = setup
    assert len(history) == CFG.pretrain_epochs
    first, last = np.asarray(history[0]["val_mse"]), np.asarray(history[-1]["val_mse"])
    assert np.all(last < 0.8 * first), (first, last)
    assert np.asarray(state["pretrain_epoch"]).tolist() == [CFG.pretrain_epochs] * 2


def test_one_round_under_vmap(setup) -> None:
    sweep, hp, data, state, _ = setup
    new, record = sweep.run_round(state, hp, data)
    assert np.asarray(new["round"]).tolist() == [1, 1]
    assert 1 <= record["reg_epochs"] <= CFG.reg_epochs
    for name in ("enc", "dec", "act"):
        acc = np.asarray(record["regularizers"][f"{name}_val_acc"])
        assert acc.shape == (2,) and np.all((acc >= 0) & (acc <= 1))
    assert np.all(np.isfinite(record["aae_val"]["val_total"]))
    # Both variants trained: their autoencoders moved, and differently.
    for i in range(2):
        assert not _tree_equal(_variant(new["aae"], i), _variant(state["aae"], i))
    assert not _tree_equal(_variant(new["aae"], 0), _variant(new["aae"], 1))


def test_rep_update_ignores_the_output_regularizer(setup) -> None:
    """REP (beta_dec = 0): its AAE epoch is the same whatever DecReg's parameters;
    the AAE's (beta_dec = 1) is not."""
    sweep, hp, data, state, _ = setup
    other = jax.tree.map(lambda a: a * 3.0 + 0.5, state["reg"]["dec"])
    perturbed = {**state, "reg": {**state["reg"], "dec": other}}
    epoch = jnp.int32(0)
    a, _ = sweep._aae_epoch(state, hp, data, epoch)
    b, _ = sweep._aae_epoch(perturbed, hp, data, epoch)
    assert _tree_equal(_variant(a["aae"], 1), _variant(b["aae"], 1))  # REP
    assert not _tree_equal(_variant(a["aae"], 0), _variant(b["aae"], 0))  # AAE


def test_converged_variant_stops_changing(setup) -> None:
    sweep, hp, data, state, _ = setup
    frozen = {**state, "converged": sweep.vmesh.shard(jnp.asarray([True, False]))}
    new, record = sweep.run_round(frozen, hp, data)
    unchanged = {k: v for k, v in new.items() if k != "round"}
    before = {k: v for k, v in frozen.items() if k != "round"}
    assert _tree_equal(_variant(unchanged, 0), _variant(before, 0))
    assert not _tree_equal(_variant(new["aae"], 1), _variant(frozen["aae"], 1))
    assert not _tree_equal(_variant(new["reg"], 1), _variant(frozen["reg"], 1))
    assert record["aae_val"]["active"] == [False, True]


def test_convergence_rule(setup) -> None:
    """The validation loss of an unchanged autoencoder does not move: the second check
    marks the variant converged (min_rounds 1); the first cannot (no previous loss)."""
    sweep, hp, data, state, _ = setup
    first, m1 = sweep._end_round(state, hp, data)
    assert m1["converged"].tolist() == [False, False]
    second, m2 = sweep._end_round(first, hp, data)
    assert np.asarray(m2["change"]).max() < 1e-6
    assert np.asarray(second["converged"]).tolist() == [True, True]
    assert np.asarray(second["converged_round"]).tolist() == [2, 2]


def test_checkpoint_resume_equals_uninterrupted(setup, tmp_path) -> None:
    sweep, hp, data, state, _ = setup
    after1, _ = sweep.run_round(state, hp, data)
    with Checkpointer(tmp_path / "checkpoints") as ckpt:
        ckpt.save(1, after1, {"round": 1}, force=True)
    template = with_sharding(jax.eval_shape(sweep.init, hp), sweep.vmesh.variant_sharding)
    with Checkpointer(tmp_path / "checkpoints", read_only=True) as ckpt:
        restored, meta = ckpt.restore(template)
    assert meta["round"] == 1 and _tree_equal(restored, after1)
    uninterrupted, _ = sweep.run_round(after1, hp, data)
    resumed, _ = sweep.run_round(restored, hp, data)
    assert _tree_equal(uninterrupted, resumed)


# ------------------------------------------------------------------------ release, restorer


def test_restorer_releases_raw_unit_windows(setup, tmp_path) -> None:
    from eval.transforms import RAW, load_transforms

    state = setup[3]
    scaler = Scaler("standard", np.array([-10.0, -2.0]), np.array([0.5, 2.0]), ("a", "b"))
    prepared = {
        "split": "trial",
        "test_subjects": ["1", "2", "3"],
        "activities": ["wlk", "jog"],
        "channels": ["a", "b"],
        "window": CFG.window,
        "stride": 10,
        "scaler": scaler.to_json(),
    }
    meta = run_metadata(
        method="msda", task={}, config=CFG, grid=GRID, data={"kind": "test"}, prepared=prepared
    )
    with Checkpointer(tmp_path / "checkpoints") as ckpt:
        ckpt.save(0, state, meta | {"round": 0}, force=True)
    ts = load_transforms(tmp_path)
    assert ts.names == (RAW, "aae", "rep")
    assert ts.spec.split == "trial" and ts.spec.window == CFG.window
    x_raw = np.asarray(
        np.random.default_rng(1).normal(size=(5, CFG.window, 2)) / scaler.scale + 20.0,
        np.float32,
    )
    out = ts.release(x_raw, np.zeros((5, 3)), np.zeros(5, np.int32), seed=0)
    assert out.shape == (3, 5, CFG.window, 2)
    assert np.array_equal(out[0], x_raw)
    # Variant v: standardise -> the AAE in evaluation mode -> invert, in raw units.
    release = make_release(CFG, scaler)
    for v in range(2):
        aae_vars = _variant(state["aae"], v)
        expected = release(aae_vars, x_raw, None, None, None)
        np.testing.assert_allclose(out[v + 1], expected, rtol=1e-4, atol=1e-4)
        standardised = msda.make_anonymize(CFG)(aae_vars, scaler.apply(x_raw))
        assert not np.allclose(out[v + 1], standardised, atol=1.0)


# ------------------------------------------------------------------------ helpers


def test_validation_split_holds_out_recording_ends_without_overlap() -> None:
    recording = np.repeat([0, 1], 20)
    start = np.tile(np.arange(20) * 10, 2)
    train, val = msda.split_validation(recording, start, window=32, fraction=0.2)
    assert len(val) == 8  # 4 per recording
    for rec in (0, 1):
        first_val = start[val][recording[val] == rec].min()
        assert first_val == 160
        ends = start[train][recording[train] == rec] + 32
        assert ends.max() <= first_val  # no training window overlaps validation
    _, val3 = msda.split_validation(recording, start, window=32, fraction=0.2, subsample=3)
    assert np.array_equal(val3, val[::3])
    with pytest.raises(ValueError, match="validation split"):
        msda.split_validation(recording[:2], start[:2], window=32, fraction=0.2)


def test_variant_names_and_grid() -> None:
    from train.msda import make_grid

    args = argparse.Namespace(grid=None, lr=1e-3, lr_reg=2e-3, seed=5)
    grid = make_grid(args)
    assert msda.variant_names(grid) == ["aae", "rep"]
    assert [g["seed"] for g in grid] == [5, 6] and grid[1]["beta_dec"] == 0.0
    args.grid = "beta_dec=1,0.5,0"
    names = msda.variant_names(make_grid(args))
    assert names == ["aae-enc1-dec1-act2-dist0.01", "aae-enc1-dec0.5-act2-dist0.01", "rep"]
    args.grid = '[{"seed": 1}, {"seed": 2}]'
    base = "aae-enc1-dec1-act2-dist0.01"
    assert msda.variant_names(make_grid(args)) == [f"{base}-s1", f"{base}-s2"]
    args.grid = "beta_x=1"
    with pytest.raises(ValueError, match="unknown keys"):
        make_grid(args)
