"""SenseGen: model shapes, truncated BPTT, vmapped sweeps, sampling statistics, CLI and loader."""

from __future__ import annotations

import collections
import dataclasses
import functools
import json

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eval import harness
from jaxpriv import losses
from jaxpriv.data.load import load_dataset
from jaxpriv.data.scaling import fit_standard
from jaxpriv.methods import sensegen as sg
from jaxpriv.methods.sensegen_data import SenseGenData
from jaxpriv.methods.sensegen_io import load_generator
from jaxpriv.methods.sensegen_model import (
    make_model,
    make_segment_forward,
    teacher_inputs,
    zero_carry,
)
from jaxpriv.methods.sensegen_tbptt import lr_factor, make_optimizer, make_tbptt
from jaxpriv.nn.sensegen import SenseGen
from jaxpriv.sweep import make_variant_mesh, sweep_jit
from train import sensegen as cli

TINY_DATA = "embedded:users=4,long_s=6,short_s=4"
CFG = sg.SenseGenConfig(
    hidden=(8, 8), components=3, window=20, segment=5, batch_size=8, epochs=1, num_activities=6
)
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def data() -> SenseGenData:
    return sg.prepare_sensegen_data(load_dataset(TINY_DATA), window=CFG.window)


def hp(seed: int, lr: float = 3e-3) -> dict:
    return {"lr": jnp.float32(lr), "seed": jnp.int32(seed)}


def random_params(init_fn, *args, seed: int = 0, scale: float = 0.5):
    """Random parameters with ``init_fn``'s structure, without compiling the initializers
    (their orthogonal and lecun-normal draws are what makes compiling ``init`` slow)."""
    shapes = jax.eval_shape(init_fn, *args)
    rng = np.random.default_rng(seed)
    return jax.tree.map(lambda a: jnp.asarray(rng.normal(0.0, scale, a.shape), a.dtype), shapes)


def sensegen_params(cfg: sg.SenseGenConfig, seed: int = 0):
    return random_params(lambda: sg.make_train(cfg)[0](hp(0))["params"], seed=seed)


# --------------------------------------------------------------------------- model and data


def test_model_shapes_and_step_is_the_teacher_forced_scan() -> None:
    model = SenseGen(hidden=(16, 8), num_components=4, num_channels=3, num_activities=5,
                     num_attributes=3)  # fmt: skip
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((2, 7, 3)), jnp.float32)
    act, attr = jnp.array([0, 4]), jnp.asarray(rng.standard_normal((2, 3)), jnp.float32)
    params = random_params(model.init, jax.random.key(0), x, None, act, attr)["params"]
    forward = jax.jit(lambda p, x, a: model.apply({"params": p}, x, None, a, attr))
    carry, (logits, mean, log_var) = forward(params, x, act)
    chex.assert_shape(logits, (2, 7, 4))
    chex.assert_shape([mean, log_var], (2, 7, 4, 3))
    chex.assert_shape(list(carry[0]), (2, 16))
    chex.assert_shape(list(carry[1]), (2, 8))
    # Stepping one sample at a time gives the same mixtures and final state.
    step = jax.jit(
        lambda p, c, x_t: model.apply({"params": p}, c, x_t, act, attr, method=SenseGen.step)
    )
    state = model.initial_carry(2)
    heads = []
    for t in range(7):
        state, head = step(params, state, x[:, t])
        heads.append(head)
    for i, whole in enumerate((logits, mean, log_var)):
        chex.assert_trees_all_close(jnp.stack([h[i] for h in heads], 1), whole, atol=1e-5)
    chex.assert_trees_all_close(state, carry, atol=1e-5)
    # The conditioning really enters: another activity changes the mixture.
    _, (other, _, _) = forward(params, x, act[::-1])
    assert float(jnp.abs(other - logits).max()) > 1e-4
    with pytest.raises(ValueError, match="activity"):
        jax.eval_shape(lambda p: model.apply({"params": p}, x), params)


def test_data_are_standardised_with_training_statistics(data) -> None:
    assert data.channels == sg.SENSEGEN_CHANNELS
    chex.assert_shape(data.train["x"], (None, CFG.window, 3))
    np.testing.assert_allclose(data.train["x"].reshape(-1, 3).mean(0), 0.0, atol=1e-4)
    np.testing.assert_allclose(data.train["x"].reshape(-1, 3).std(0), 1.0, atol=1e-3)
    desc = json.loads(json.dumps(data.describe()))
    assert desc["activities"] == list(data.activities) and len(data.activities) == 6
    assert sum(desc["activity_counts"]) == len(data.train["x"])
    raw = load_dataset(TINY_DATA)
    assert set(desc["test_subjects"]) < set(raw.subject_ids)
    with pytest.raises(ValueError, match="not in the data"):
        sg.prepare_sensegen_data(raw, activities=["fly"])


def test_config_checks() -> None:
    with pytest.raises(ValueError, match="must divide window"):
        sg.SenseGenConfig(window=45, segment=10)
    with pytest.raises(ValueError, match="num_activities"):
        sg.SenseGenConfig(conditional=True)
    with pytest.raises(ValueError, match="self_feed"):
        sg.SenseGenConfig(self_feed=1.5)
    with pytest.raises(ValueError, match="input_noise"):
        sg.SenseGenConfig(input_noise=-0.1)
    with pytest.raises(ValueError, match="lr_schedule"):
        sg.SenseGenConfig(lr_schedule="step")
    with pytest.raises(ValueError, match="lr_floor"):
        sg.SenseGenConfig(lr_floor=1.5)
    # JSON round trip (checkpoints store the config as JSON lists).
    cfg = json.loads(json.dumps(dataclasses.asdict(CFG)))
    assert sg.SenseGenConfig(**cfg) == CFG
    assert sg.preset_config("paper").hidden == (256, 256, 256)
    assert sg.preset_config("paper").components == 24
    # The realistic preset is conditional by itself; the CLI keeps it so without --conditional.
    realistic = cli.config_from(cli.build_parser().parse_args(["--preset", "realistic"]))
    assert realistic.conditional and realistic.self_feed == 0.5
    assert realistic.lr_schedule == "cosine"
    constant = cli.build_parser().parse_args(["--preset", "realistic", "--lr-schedule", "constant"])
    assert cli.config_from(constant).lr_schedule == "constant"
    assert not cli.config_from(cli.build_parser().parse_args([])).conditional


# --------------------------------------------------------------------------- training


def test_truncated_bptt_carries_the_state_between_segments(data) -> None:
    """With lr = 0 nothing moves, so each segment's loss must equal that segment of the
    whole window run from a zero state: only if segment k+1 starts from segment k's state."""
    params = sensegen_params(CFG)
    opt_state = make_optimizer(CFG.grad_clip)(0.0).init(params)
    batch = jax.tree.map(lambda a: a[:4], data.train)
    model = make_model(CFG)
    k, s = CFG.num_segments, CFG.segment

    @jax.jit
    def whole_window(params):
        _, head = model.apply({"params": params}, teacher_inputs(batch["x"]))
        in_segment = jnp.arange(k)[:, None] == jnp.arange(k * s)[None] // s  # (K, T)
        return jax.vmap(lambda m: losses.mdn_nll(*head, batch["x"], m[None].repeat(4, 0)))(
            in_segment
        )

    new_params, _, nll_K = jax.jit(make_tbptt(CFG))(params, opt_state, batch)
    chex.assert_trees_all_equal(new_params, params)
    chex.assert_shape(nll_K, (k,))
    np.testing.assert_allclose(nll_K, whole_window(params), rtol=1e-5)
    # Resetting the state every segment changes every segment after the first.
    reset = jax.jit(make_tbptt(dataclasses.replace(CFG, carry_segments=False)))
    _, _, nll_reset = reset(params, opt_state, batch)
    np.testing.assert_allclose(nll_reset[0], nll_K[0], rtol=1e-6)
    assert np.all(np.abs(np.asarray(nll_reset[1:] - nll_K[1:])) > 1e-5)


def test_scheduled_sampling_feeds_the_models_own_samples(data) -> None:
    """Feed rate 0 is teacher forcing exactly; feed rate 1 ignores every real input after
    the first (the model sees its own draws), so changing them changes nothing."""
    cfg = dataclasses.replace(CFG, self_feed=1.0)
    params = sensegen_params(cfg)
    forward = jax.jit(make_segment_forward(cfg))
    teacher = jax.jit(make_segment_forward(CFG))
    inputs = jnp.asarray(data.train["x"][:4, : CFG.segment])
    lstm, cond, key = zero_carry(cfg, 4), {}, jax.random.key(3)
    chex.assert_trees_all_close(
        forward(params, inputs, lstm, cond, 0.0, key),
        teacher(params, inputs, lstm, cond, 0.0, key),
        rtol=1e-5,
        atol=1e-6,
    )
    own = forward(params, inputs, lstm, cond, 1.0, key)
    changed = inputs.at[:, 1:].add(1.0)
    chex.assert_trees_all_close(forward(params, changed, lstm, cond, 1.0, key), own)
    # Half the steps fed: the real inputs matter again, and the same key repeats exactly.
    half = forward(params, inputs, lstm, cond, 0.5, key)
    chex.assert_trees_all_equal(half, forward(params, inputs, lstm, cond, 0.5, key))
    assert not np.allclose(forward(params, changed, lstm, cond, 0.5, key)[1][0], half[1][0])


def test_input_noise_perturbs_only_the_inputs_reproducibly(data) -> None:
    cfg = dataclasses.replace(CFG, input_noise=0.3)
    params = sensegen_params(cfg)
    opt_state = make_optimizer(CFG.grad_clip)(0.0).init(params)
    batch = jax.tree.map(lambda a: a[:4], data.train)
    noisy, clean = jax.jit(make_tbptt(cfg)), jax.jit(make_tbptt(CFG))
    key = jax.random.key(1)
    _, _, nll = noisy(params, opt_state, batch, key)
    _, _, again = noisy(params, opt_state, batch, key)
    _, _, other = noisy(params, opt_state, batch, jax.random.key(2))
    _, _, base = clean(params, opt_state, batch, key)
    chex.assert_trees_all_equal(nll, again)
    assert not np.allclose(nll, other) and not np.allclose(nll, base)


def test_cosine_schedule_sets_each_epochs_learning_rate(data) -> None:
    cfg = dataclasses.replace(CFG, epochs=5, lr_schedule="cosine", lr_floor=0.1)
    factors = np.asarray([lr_factor(cfg, e) for e in range(5)])
    np.testing.assert_allclose(factors, 0.1 + 0.9 * 0.5 * (1 + np.cos(np.pi * np.arange(5) / 4)))
    assert lr_factor(CFG, 3) == 1.0  # constant
    init, run_epochs, _ = sg.make_train(cfg)
    state = jax.jit(init)(hp(0, lr=2e-3))
    # The state after epochs 0 and 1 has trained with epoch 1's rate last.
    state, _ = jax.jit(run_epochs, static_argnums=3)(state, hp(0, lr=2e-3), data.train, 2)
    lr = state["opt"].hyperparams["learning_rate"]
    np.testing.assert_allclose(lr, 2e-3 * factors[1], rtol=1e-6)


TRACES: collections.Counter = collections.Counter()


@functools.cache
def compiled(num_variants: int):
    """One compiled (init, run) pair per grid size; ``TRACES`` counts how often ``run_epochs``
    is traced (chex.assert_max_traces keys on the source line, shared by both sizes)."""
    vmesh = make_variant_mesh(num_variants)
    init, run_epochs, _ = sg.make_train(CFG)

    def counted(state, hp, data, num_epochs):
        TRACES[num_variants] += 1
        return run_epochs(state, hp, data, num_epochs)

    run = sweep_jit(counted, vmesh, data_argnums=(2,), static_argnums=(3,))
    return vmesh, sweep_jit(init, vmesh), run


def run_sweep(grid: list[dict], train: dict, start=None, epochs: int = 2):
    """Train ``grid`` for ``epochs`` one-epoch calls; returns host copies of the initial and
    final states and the per-epoch NLL ``(V, epochs)``. ``start`` skips ``init``."""
    vmesh, init_all, run = compiled(len(grid))
    params = vmesh.stack(grid)
    state = init_all(params) if start is None else vmesh.shard(start)
    first = vmesh.unpad(jax.device_get(state))
    nll = []
    for _ in range(epochs):  # the same compiled program every epoch (traced once)
        state, metrics = run(state, params, vmesh.replicate(train), 1)
        nll.append(np.asarray(metrics["nll"])[: len(grid), 0])
    return first, vmesh.unpad(jax.device_get(state)), np.stack(nll, 1)


def test_vmapped_seeds_equal_one_by_one_and_differ(data) -> None:
    grid = [{"lr": 3e-3, "seed": 0}, {"lr": 1e-3, "seed": 1}]
    start, both, nll = run_sweep(grid, data.train)
    assert np.all(np.isfinite(nll)) and np.all(nll[:, -1] < nll[:, 0])  # it learns
    assert both["epoch"].tolist() == [2, 2] and both["alive"].all()
    for i, variant in enumerate(grid):
        # init is a pure function of the seed; the training program runs one variant alone.
        alone_start = jax.tree.map(lambda a, i=i: a[i : i + 1], start)
        _, alone, nll_alone = run_sweep([variant], data.train, start=alone_start)
        chex.assert_trees_all_close(
            jax.tree.map(lambda a, i=i: a[i], both["params"]),
            jax.tree.map(lambda a: a[0], alone["params"]),
            rtol=2e-4,
            atol=2e-5,
        )
        np.testing.assert_allclose(nll_alone[0], nll[i], rtol=1e-4)
    # Every epoch and both single variants reused one compiled program per grid size.
    assert TRACES == {1: 1, 2: 1}
    differ = jax.tree.map(lambda a: float(np.abs(a[0] - a[1]).max()), both["params"])
    assert min(jax.tree.leaves(differ)) > 0.0
    moved = jax.tree.map(lambda a, b: float(np.abs(a - b).max()), both["params"], start["params"])
    assert min(jax.tree.leaves(moved)) > 1e-5


def test_a_diverging_variant_keeps_its_last_finite_state(data) -> None:
    healthy, diverging = {"lr": 3e-3, "seed": 0}, {"lr": 1e30, "seed": 1}
    start, state, nll = run_sweep([healthy, diverging], data.train)  # the same V=2 program
    assert state["alive"].tolist() == [True, False]
    assert not np.isfinite(nll[1, 0])
    # The dead variant is frozen at its last finite parameters (here: its initial ones).
    chex.assert_trees_all_equal(
        jax.tree.map(lambda a: a[1], state["params"]),
        jax.tree.map(lambda a: a[1], start["params"]),
    )
    assert np.isfinite(nll[0]).all() and nll[0, -1] < nll[0, 0]


# --------------------------------------------------------------------------- sampling

# A fixed mixture over D = 2: weights 0.2 / 0.5 / 0.3, means and sigmas per channel.
WEIGHTS = np.array([0.2, 0.5, 0.3])
MEANS = np.array([[-2.0, 1.0], [0.5, 0.0], [3.0, -1.5]])
SIGMAS = np.array([[0.5, 1.0], [0.3, 0.2], [1.0, 0.7]])


def fixed_mixture_params(cfg: sg.SenseGenConfig):
    """Parameters whose head ignores its input and always gives the mixture above."""
    params = sensegen_params(cfg)
    bias = np.concatenate([np.log(WEIGHTS), MEANS.reshape(-1), 2 * np.log(SIGMAS).reshape(-1)])
    mdn = {"kernel": jnp.zeros_like(params["mdn"]["kernel"]), "bias": jnp.asarray(bias)}
    return {**params, "mdn": mdn}


def test_samples_follow_a_known_mixture_and_temperature_narrows_them() -> None:
    cfg = dataclasses.replace(CFG, components=3, channels=("a", "b"))
    params = fixed_mixture_params(cfg)
    # Raw units: channel a in [0, 4] and b in [10, 30] standardised to mean 0, std 1.
    scaler = fit_standard(np.array([[0.0, 10.0], [4.0, 30.0]]))
    sample = jax.jit(sg.make_sample(cfg, scaler), static_argnums=(2, 3))
    raw = np.asarray(sample(params, jax.random.key(1), 2000, 10, 1.0))
    chex.assert_shape(raw, (2000, 10, 2))
    x = scaler.apply(raw.reshape(-1, 2).astype(np.float64))  # 20k draws, back in model units
    mean = WEIGHTS @ MEANS
    var = WEIGHTS @ (SIGMAS**2 + MEANS**2) - mean**2
    assert np.all(np.abs(x.mean(0) - mean) < 5 * np.sqrt(var / len(x)))
    np.testing.assert_allclose(x.var(0), var, rtol=0.05)
    # The weights: the share of draws nearest each component's means.
    share = np.bincount(np.argmin(((x[:, None] - MEANS) ** 2).sum(-1), axis=1), minlength=3)
    np.testing.assert_allclose(share / len(x), WEIGHTS, atol=0.03)
    # Temperature -> 0: the most likely component's mean, no spread.
    cold = scaler.apply(np.asarray(sample(params, jax.random.key(2), 2000, 10, 0.05), np.float64))
    assert np.all(cold.reshape(-1, 2).var(0) < 0.01 * var)
    np.testing.assert_allclose(cold.reshape(-1, 2).mean(0), MEANS[1], atol=0.05)
    zero = np.asarray(sample(params, jax.random.key(3), 2000, 10, 0.0))
    np.testing.assert_allclose(
        zero, np.broadcast_to(scaler.invert(MEANS[1]), zero.shape), rtol=1e-5
    )


def test_conditional_sampling_runs_and_depends_on_the_activity() -> None:
    cfg = dataclasses.replace(CFG, conditional=True, attributes=True)
    params = sensegen_params(cfg, seed=5)
    sample = jax.jit(sg.make_sample(cfg), static_argnums=(2, 3))
    key = jax.random.key(0)
    a = sample(params, key, 4, 12, 1.0, jnp.array([0, 1, 2, 3]), jnp.zeros((4, 3)))
    chex.assert_shape(a, (4, 12, 3))
    chex.assert_tree_all_finite(a)
    b = sample(params, key, 4, 12, 1.0, jnp.full(4, 5), jnp.zeros((4, 3)))
    assert float(jnp.abs(a - b).max()) > 1e-4
    c = sample(params, key, 4, 12, 1.0, jnp.full(4, 5), jnp.ones((4, 3)))  # other attributes
    assert float(jnp.abs(c - b).max()) > 1e-4
    with pytest.raises(ValueError, match="activity"):
        sample(params, key, 2, 3)


# --------------------------------------------------------------------------- command line

ARGS = ["--data", TINY_DATA, "--window", "40", "--segment", "10", "--hidden", "8",
        "--components", "3", "--batch-size", "8", "--grid", "seed=0,1", "--conditional",
        "--activities", "wlk,jog"]  # fmt: skip


def test_cli_trains_resumes_and_the_loader_samples_raw_units(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert cli.main([*ARGS, "--out", str(out), "--epochs", "1"]) == 0
    first = capsys.readouterr().out
    assert "epoch 1/1" in first and "ETA" in first and "steps/s" in first
    # More epochs continue the same run from its checkpoint.
    assert cli.main([*ARGS, "--out", str(out), "--epochs", "2"]) == 0
    second = capsys.readouterr().out
    assert "resuming from" in second and "at epoch 1" in second
    assert "epoch 2/2" in second and "epoch 1/2" not in second
    summary = json.loads((out / "summary.json").read_text())
    assert summary["epochs"] == 2
    assert [v["variant"] for v in summary["variants"]] == ["s0-lr0.001", "s1-lr0.001"]
    heldout = [v["heldout_nll"] for v in summary["variants"]]
    assert all(np.isfinite(heldout)) and heldout[0] != heldout[1]
    assert summary["gaussian_baseline_nll"] > 0
    assert "heldout_nll" in (out / "summary.md").read_text()
    for png in ("losses.png", "samples.png"):
        assert (out / png).read_bytes()[:8] == PNG
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    assert all(len(h["nll"]) == 2 and len(h["heldout_nll"]) == 2 for h in history)

    # A finished run trains no further epoch and reports the same numbers.
    assert cli.main([*ARGS, "--out", str(out), "--epochs", "2"]) == 0
    third = capsys.readouterr().out
    assert "already complete" in third and "epoch 2/2" not in third
    again = json.loads((out / "summary.json").read_text())
    assert [v["heldout_nll"] for v in again["variants"]] == heldout
    # Another setting is another run: a clear error, not a silent mix.
    assert cli.main([*ARGS, "--out", str(out), "--epochs", "2", "--components", "4"]) == 2
    assert "different config" in capsys.readouterr().err

    gen = load_generator(out, index=1)
    assert gen.channels == sg.SENSEGEN_CHANNELS and gen.rate_hz == 50.0
    assert gen.activities == ("wlk", "jog") and gen.hp["seed"] == 1
    # One shape (2 samples x 10 steps) throughout: one compiled sampler.
    x = gen.sample(jax.random.key(0), 2, 10, activity="jog")
    assert x.shape == (2, 10, 3) and x.dtype == np.float32 and np.isfinite(x).all()
    assert gen.sample(7, 2, 10).shape == (2, 10, 3)  # activities drawn from the training mix

    # The evaluation harness recognises a generator run and judges its samples.
    evaluators = "marginals,memorization,tstr"
    assert harness.main(["--run", str(out), "--preset", "test", "--evaluators", evaluators]) == 0
    report = json.loads((out / "report" / "metrics.json").read_text())
    assert report["method"] == "sensegen" and set(report["evaluators"]) == set(
        evaluators.split(",")
    )
    tstr = report["evaluators"]["tstr"]
    assert 0 <= tstr["tstr"]["accuracy"] <= 1 and 0 <= tstr["trtr"]["accuracy"] <= 1
    assert "Train on synthetic" in (out / "report" / "report.md").read_text()
    assert (out / "report" / "samples.png").read_bytes()[:8] == PNG
    # Raw units: the model's standardised output through the stored scaler (temperature 0
    # is deterministic, so both paths must agree exactly).
    cold = gen.sample(0, 2, 10, temperature=0.0, activity=["wlk", "jog"])
    sample = jax.jit(sg.make_sample(gen.config), static_argnums=(2, 3))
    std = sample(gen.params, jax.random.key(9), 2, 10, 0.0, np.array([0, 1]))
    np.testing.assert_allclose(cold, gen.scaler.invert(np.asarray(std)), rtol=1e-4, atol=1e-6)
    assert np.abs(gen.scaler.scale - 1).max() > 0.1  # data in g are not unit-variance already
    with pytest.raises(ValueError, match="unknown activity"):
        gen.sample(0, 2, 10, activity="fly")
    with pytest.raises(IndexError):
        load_generator(out, index=2)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--grid", "alpha=0.1"], "unknown key"),
        (["--window", "45", "--segment", "10"], "must divide window"),
        (["--activities", "fly"], "not in the data"),
        (["--channels", "nothing.*"], "matches nothing"),
        (["--epochs", "0"], "--epochs must be >= 1"),
        (["--self-feed", "1.5"], "--self-feed must be in [0, 1]"),
        (["--input-noise", "-1"], "--input-noise must be >= 0"),
        (["--stride", "0"], "--stride must be >= 1"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(extra, message, tmp_path, capsys) -> None:
    assert cli.main(["--data", TINY_DATA, "--out", str(tmp_path / "r"), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_unknown_preset_is_an_argparse_error(capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--preset", "huge"])
    assert exit_info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
