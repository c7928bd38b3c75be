"""Symbolic generators: causal models, near-uniform start, vmapped training, sampling, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eval import harness
from jaxpriv.methods import symbolic
from jaxpriv.methods.symbolic_io import load_generator, load_generators
from jaxpriv.methods.symbolic_model import make_network, masked_log_probs
from jaxpriv.methods.symbolic_sample import make_sample
from jaxpriv.quantize import fit_quantizer
from jaxpriv.sweep import make_variant_mesh
from train import symbolic as cli

TINY_DATA = "embedded:users=4,long_s=6,short_s=4"
V = 7
TINY = dict(
    window=4, num_slots=3, num_activities=2, num_bins=V, embed=16, hidden=16,
    wavenet_channels=8, blocks=2, heads=2, batch_size=8, epochs=2, steps_per_epoch=3,
)  # fmt: skip
CASES = {
    "wavenet": dict(model="wavenet"),
    "wavenet-batchnorm": dict(model="wavenet", norm="batch"),
    "rnn-gru": dict(model="rnn", cell="gru"),
    "rnn-tanh": dict(model="rnn", cell="tanh", layers=2),  # lstm: the CLI test below
    "transformer": dict(model="transformer"),
}


def tiny_cfg(case: str, **kw) -> symbolic.SymbolicConfig:
    return symbolic.SymbolicConfig(**{**TINY, **CASES[case], **kw})


def boost_head(variables, scale: float = 300.0):
    """Scale the near-zero output layer up, so logits vary enough to be compared."""
    head = variables["params"]["head"]
    params = {**variables["params"], "head": {**head, "kernel": head["kernel"] * scale}}
    return {**variables, "params": params}


@pytest.mark.parametrize("case", sorted(CASES))
def test_model_is_causal_starts_near_uniform_and_follows_the_seeds_init(case: str) -> None:
    cfg = tiny_cfg(case, num_bins=49, wavenet_channels=32, hidden=64)
    v, length = cfg.num_bins, cfg.seq_len
    model = make_network(cfg)
    tokens = jax.random.randint(jax.random.key(3), (16, length + 1), 0, v)
    variables = model.init(jax.random.key(0), tokens[:2, :-1])  # as make_train's init does
    apply = jax.jit(lambda variables, t: model.apply(variables, t, train=False))

    # Initial loss about ln V: the output layer starts near zero.
    valid = jnp.ones((cfg.num_slots, v), bool)
    logp = masked_log_probs(apply(variables, tokens[:, :-1]), valid)
    nll = -jnp.take_along_axis(logp, tokens[:, 1:, None], axis=-1)
    assert abs(float(nll.mean()) - math.log(v)) < 0.02
    params = variables["params"]
    assert float(jnp.abs(params["head"]["kernel"]).max()) <= 0.01

    # Causal: perturbing the tokens after t leaves the logits up to t unchanged.
    boosted = boost_head(variables)
    tokens = tokens[:2, :-1]
    base = apply(boosted, tokens)
    assert base.shape == (2, length, v)
    for t in (0, 4, length - 2):
        changed = tokens.at[:, t + 1 :].set((tokens[:, t + 1 :] + 1 + t) % v)
        out = apply(boosted, changed)
        np.testing.assert_allclose(out[:, : t + 1], base[:, : t + 1], rtol=0, atol=1e-5)
        # The test can fail: the future does change the outputs after t.
        assert float(jnp.abs(out[:, t + 1 :] - base[:, t + 1 :]).max()) > 1e-3

    # tanh layers: std = (5/3) / sqrt(fan_in)
    if cfg.model == "wavenet":
        kernel = params["conv_0"]["kernel"]  # (kernel, channels, 2 * channels)
        fan_in = kernel.shape[0] * kernel.shape[1]
    elif cfg.cell == "tanh":
        cell = params["cell_1"]
        kernel = jnp.concatenate([cell["i"]["kernel"], cell["h"]["kernel"]])
        fan_in = kernel.shape[0] // 2
    else:
        return
    assert float(jnp.std(kernel)) == pytest.approx(5 / 3 / math.sqrt(fan_in), rel=0.08)


# ---------------------------------------------------------------- the command line and training

# Tiny settings: windows of 4 steps x 3 channels (12 symbols), 9 bins, 2 epochs of 8 steps.
CLI = [
    *("--data", TINY_DATA, "--window", "4", "--stride", "4", "--bins", "9", "--epochs", "2"),
    *("--batch-size", "16", "--steps-per-epoch", "8", "--embed", "16", "--hidden", "16"),
    *("--blocks", "1", "--heads", "2", "--wavenet-channels", "8", "--wavenet-layers", "2"),
    *(
        "--samples",
        "1",
    ),
]
TRANSFORMER = ["--model", "transformer", *CLI, "--grid", "seed=3,4", "--lr", "0.01"]


@pytest.fixture(scope="module")
def transformer_run(tmp_path_factory) -> Path:
    """Two variants (seeds 3 and 4) trained by the CLI; later tests reuse its compiled code."""
    out = tmp_path_factory.mktemp("sym") / "transformer"
    assert cli.main([*TRANSFORMER, "--out", str(out)]) == 0
    return out


def test_cli_trains_writes_outputs_and_resumes_after_an_interrupt(
    transformer_run, tmp_path, monkeypatch, capsys
) -> None:
    summary = json.loads((transformer_run / "summary.json").read_text())
    assert [v["variant"] for v in summary["variants"]] == ["seed3", "seed4"]
    for v in summary["variants"]:
        assert v["perplexity"] == pytest.approx(math.exp(v["test_nll"]))
        assert 0 < v["test_nll"] < math.log(9) + 0.1 and v["alive"]
    assert "test_nll" in (transformer_run / "summary.md").read_text()
    for png in ("losses.png", "samples.png"):
        assert (transformer_run / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((transformer_run / "metrics.json").read_text())
    assert meta["variants"] == ["seed3", "seed4"] and len(meta["history"]) == 2

    # One variant (sharing the compiled programs with the test below): interrupt after
    # epoch 1's checkpoint (during epoch 2's evaluation), then resume.
    run, one = tmp_path / "interrupted", [*TRANSFORMER, "--grid", "seed=3"]
    real_eval, calls = cli.evaluate_nll, []

    def interrupting(*args):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real_eval(*args)

    monkeypatch.setattr(cli, "evaluate_nll", interrupting)
    capsys.readouterr()
    assert cli.main([*one, "--out", str(run)]) == 130
    out = capsys.readouterr().out
    assert "epoch 1/2" in out and "ETA" in out and "seed3" in out and "interrupted" in out
    monkeypatch.setattr(cli, "evaluate_nll", real_eval)
    assert cli.main([*one, "--out", str(run)]) == 0
    assert "resuming from" in capsys.readouterr().out
    resumed = json.loads((run / "summary.json").read_text())["variants"]
    history = json.loads((run / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2]
    # The uninterrupted run of the same program, without checkpoints.
    cfg, data, _ = _cli_inputs()
    state, loss = train(cfg, data, [{"lr": 0.01, "seed": 3}])
    vmesh = make_variant_mesh(1)
    test_nll = cli.evaluate_nll(cfg, vmesh, vmesh.pad(state), data.test)
    assert resumed[0]["test_nll"] == pytest.approx(float(test_nll[0]), rel=1e-5)
    assert resumed[0]["train_loss"] == pytest.approx(float(loss[0, -1]), rel=1e-5)
    # ... and the variant trained alongside another one agrees too.
    assert summary["variants"][0]["test_nll"] == pytest.approx(float(test_nll[0]), rel=1e-4)
    # A run with other settings in the same folder is refused, not mixed.
    assert cli.main([*one, "--bins", "11", "--out", str(run)]) == 2
    assert "different config" in capsys.readouterr().err


def _cli_inputs():
    args = cli.build_parser().parse_args(TRANSFORMER)
    return cli.prepare(args, cli.config_from(args))


def test_prepared_windows_are_activity_labelled_channel_interleaved_sequences() -> None:
    cfg, data, _ = _cli_inputs()
    assert (cfg.num_slots, cfg.num_activities, cfg.seq_len) == (3, 4, 12)
    tokens = data.train["tokens"]
    assert tokens.shape == (len(data.train_values), 13)
    np.testing.assert_array_equal(tokens[:, 0], cfg.num_bins + data.train_activity)
    symbols = data.quantizer.encode(data.train_values)
    np.testing.assert_array_equal(tokens[:, 1:4], symbols[:, 0, :])  # step 0, channels 0..2
    np.testing.assert_array_equal(tokens[:, 4:7], symbols[:, 1, :])
    assert data.rate_hz == 25.0 and data.names[0] == "userAcceleration.x"
    assert data.describe()["layout"] == {
        "steps": 4, "slots": 3, "order": "time-major, channel-interleaved, after one start token"
    }  # fmt: skip
    assert sum(data.activity_prior) == pytest.approx(1.0)


def train(cfg, data, grid):
    """Train ``grid`` with the CLI's cached programs, one epoch per call as the CLI does."""
    vmesh = make_variant_mesh(len(grid))
    init_all, run_all, _ = cli.compiled(cfg, vmesh)
    hp = vmesh.stack(grid)
    state, losses = init_all(hp), []
    for _ in range(cfg.epochs):
        state, metrics = run_all(state, hp, vmesh.replicate(data.train), 1)
        losses.append(np.asarray(metrics["loss"])[: len(grid), 0])
    return vmesh.unpad(state), np.stack(losses, 1)


def test_vmapped_seeds_equal_one_by_one_and_differ(transformer_run) -> None:
    cfg, data, _ = _cli_inputs()
    grid = [{"lr": 0.01, "seed": 3}, {"lr": 0.01, "seed": 4}]
    both, loss = train(cfg, data, grid)
    for i, v in enumerate(grid):
        alone, _ = train(cfg, data, [v])
        chex.assert_trees_all_close(
            jax.tree.map(lambda a, i=i: a[i], both["variables"]),
            jax.tree.map(lambda a: a[0], alone["variables"]),
            rtol=2e-4,
            atol=2e-5,
        )
    differ = jax.tree.map(lambda a: float(jnp.abs(a[0] - a[1]).max()), both["variables"])
    assert min(jax.tree.leaves(differ)) > 0.0
    assert (loss[:, -1] < math.log(cfg.num_bins) - 0.05).all()  # it learns
    assert np.asarray(both["epoch"]).tolist() == [2, 2] and np.asarray(both["alive"]).all()
    # The CLI's final state is this one: its summary has the same training losses.
    summary = json.loads((transformer_run / "summary.json").read_text())
    assert [r["train_loss"] for r in summary["variants"]] == pytest.approx(loss[:, -1], rel=1e-5)


def draw(sample, variables, calls: int = 4, **kw) -> dict[str, np.ndarray]:
    """``calls`` x 4 samples (keys 1, 2, ..) concatenated."""
    outs = [sample(variables, jax.random.key(k + 1), 4, **kw) for k in range(calls)]
    return {k: np.concatenate([np.asarray(o[k]) for o in outs]) for k in outs[0]}


def test_sampling_top_k_1_is_greedy_and_temperature_changes_diversity(transformer_run) -> None:
    gen = load_generator(transformer_run, seed=3)
    cfg, q = gen.config, gen.quantizer
    variables = boost_head(gen.variables, 30.0)
    sample = make_sample(cfg, q, gen.activity_prior)
    # 4 samples per call everywhere: the CLI's samples.png compiled that sampler already.
    a = sample(variables, jax.random.key(0), 4, top_k=1, activity=2)
    b = sample(variables, jax.random.key(9), 4, top_k=1, activity=2)
    np.testing.assert_array_equal(a["symbols"], b["symbols"])
    assert a["symbols"].shape == (4, cfg.window, cfg.num_slots)
    assert np.asarray(a["activity"]).tolist() == [2] * 4
    # Greedy decoding by hand: argmax of the full causal pass, one position at a time.
    model = make_network(cfg)
    valid = jnp.asarray(q.valid_mask())
    log_probs = jax.jit(lambda b: masked_log_probs(model.apply(variables, b), valid))
    buf = jnp.zeros((1, cfg.seq_len), jnp.int32).at[0, 0].set(cfg.num_bins + 2)
    greedy = []
    for i in range(cfg.seq_len):
        logp = log_probs(buf)
        greedy.append(int(jnp.argmax(logp[0, i])))
        if i + 1 < cfg.seq_len:
            buf = buf.at[0, i + 1].set(greedy[-1])
    np.testing.assert_array_equal(np.asarray(a["symbols"][0]).reshape(-1), greedy)

    mild = boost_head(gen.variables, 3.0)  # at T = 1 about 5.5 of 9 symbols per position

    def distinct(temperature: float) -> float:
        """Mean number of distinct symbols per position over 16 samples of one activity."""
        s = draw(sample, mild, temperature=temperature, activity=0)["symbols"]
        return np.mean([len(np.unique(col)) for col in s.reshape(16, -1).T])

    low, mid, high = distinct(0.1), distinct(1.0), distinct(10.0)
    assert low + 1 < mid < high - 1, (low, mid, high)
    c = draw(sample, variables)["symbols"]
    assert len({tuple(r) for r in c.reshape(16, -1)}) > 1
    # The activity comes from the prior when not given.
    only_one = make_sample(cfg, q, [0, 0, 1, 0])
    assert set(draw(only_one, variables)["activity"].tolist()) == {2}
    with pytest.raises(ValueError, match="temperature"):
        sample(variables, jax.random.key(0), 2, temperature=0.0)
    with pytest.raises(ValueError, match="top_k"):
        sample(variables, jax.random.key(0), 2, top_k=cfg.num_bins + 1)


def test_sampling_only_emits_symbols_each_feature_has(transformer_run) -> None:
    gen = load_generator(transformer_run)
    rng = np.random.default_rng(0)
    x = np.stack([np.full(100, 1.5), rng.integers(0, 3, 100), rng.normal(size=100)], axis=1)
    q = fit_quantizer(x, gen.config.num_bins, feature_names=("const", "three", "normal"))
    assert q.bins_per_feature.tolist() == [1, 3, 9]
    # Another quantizer with the same shapes: the compiled sampler takes its tables.
    sample = make_sample(gen.config, q)
    out = draw(sample, boost_head(gen.variables, 30.0), temperature=5.0)
    s = out["symbols"].reshape(-1, 3)
    assert (s[:, 0] == 0).all() and s[:, 1].max() <= 2 and s[:, 2].max() > 2
    assert (out["values"][..., 0] == np.float32(1.5)).all()


def test_generators_sample_raw_windows_with_activity_labels(transformer_run) -> None:
    gens = load_generators(transformer_run)
    assert [g.name for g in gens] == ["symbolic-transformer-seed3", "symbolic-transformer-seed4"]
    gen = load_generator(transformer_run, index=1)
    assert gen.hp == {"lr": 0.01, "seed": 4} and gen.kind == "windows"
    assert gen.activities == ("dws", "ups", "wlk", "jog") and gen.shape == (4, 3)
    assert gen.channels == tuple(f"userAcceleration.{a}" for a in "xyz") and gen.rate_hz == 25.0
    x, activity = gen.sample(jax.random.key(0), 4)
    assert x.shape == (4, 4, 3) and x.dtype == np.float32 and activity.shape == (4,)
    x = np.concatenate([x, *(gen.sample(jax.random.key(k), 4).x for k in (1, 2, 3))])
    assert set(activity.tolist()) <= {0, 1, 2, 3}
    # Raw units (g): within the training range, with a spread like the real data's.
    for c, e in enumerate(gen.quantizer.edges):
        assert (x[..., c] >= e[0] - 1e-5).all() and (x[..., c] <= e[-1] + 1e-5).all()
    _, data, _ = _cli_inputs()
    real_std = data.train_values.std()
    assert 0.3 * real_std < x.std() < 3 * real_std
    x_jog, act_jog = gen.sample(jax.random.key(1), 4, activity="jog", top_k=1)
    assert act_jog.tolist() == [3] * 4 and x_jog.shape == (4, 4, 3)
    with pytest.raises(ValueError, match="unknown activity"):
        gen.sample(jax.random.key(1), 2, activity="swim")
    with pytest.raises(IndexError):
        load_generator(transformer_run, index=2)


@pytest.mark.parametrize(("model", "extra"), [("wavenet", []), ("rnn", ["--cell", "lstm"])])
def test_cli_runs_wavenet_on_windows_and_rnn_on_a_tabular_csv(model, extra, tmp_path) -> None:
    if model == "rnn":
        rng = np.random.default_rng(0)
        rows = np.stack([rng.normal(size=120), np.full(120, 7.0), rng.integers(0, 3, 120)], 1)
        csv = tmp_path / "table.csv"
        csv.write_text("a,const,level\n" + "\n".join(",".join(map(str, r)) for r in rows) + "\n")
        source = ["--csv", str(csv), *CLI[2:]]
    else:
        source = CLI
    out = tmp_path / model
    assert cli.main(["--model", model, *extra, *source, "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["model"] == model and len(summary["variants"]) == 1
    assert (out / "samples.png").is_file() and (out / "losses.png").is_file()
    gen = load_generator(out)
    n = 200 if model == "rnn" else 4  # as samples.png: no new compilation
    x, activity = gen.sample(jax.random.key(0), n)
    if model == "rnn":
        assert gen.kind == "tabular" and gen.feature_names == ("a", "const", "level")
        assert x.shape == (n, 3) and activity is None and (x[:, 1] == 7.0).all()
        assert summary["symbols_per_sequence"] == 3 and gen.config.cell == "lstm"
        assert set(np.unique(np.round(x[:, 2] * 2) / 2)) <= {0.0, 0.5, 1.0, 1.5, 2.0}
    else:
        assert gen.kind == "windows" and x.shape == (4, 4, 3) and activity.shape == (4,)

    # The evaluation harness rebuilds the run's real data and judges the samples against it.
    evaluators = "marginals,correlation,memorization"
    assert harness.main(["--run", str(out), "--preset", "test", "--evaluators", evaluators]) == 0
    report = json.loads((out / "report" / "metrics.json").read_text())
    assert report["method"] == "symbolic" and set(report["evaluators"]) == set(
        evaluators.split(",")
    )
    memorization = report["evaluators"]["memorization"]
    assert memorization["synthetic"]["median"] >= 0 and "exact_copies" in memorization
    assert "Memorisation" in (out / "report" / "report.md").read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--model", "transformer", "--cell", "lstm"], "--cell applies to --model rnn only"),
        (["--model", "rnn", "--bins", "1"], "--bins must be >= 2"),
        (["--model", "rnn", "--grid", "alpha=0.1"], "unknown keys"),
        (["--model", "rnn", "--grid", "lr=-1"], "lr must be > 0"),
        (["--model", "rnn", "--grid", "seed=1.5"], "seed must be an integer"),
        (["--model", "rnn", "--csv", "/no/such/file.csv"], "no such file"),
        (["--model", "rnn", "--activities", "dws,swim", "--data", TINY_DATA], "swim"),
        (["--model", "transformer", "--embed", "30", "--heads", "4"], "divisible"),
    ],
)
def test_bad_arguments_exit_2_with_a_clear_message(args, message, capsys) -> None:
    assert cli.main(args) == 2
    assert message in capsys.readouterr().err


def test_bad_csv_cell_and_argparse_errors_exit_2(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n3,oops\n")
    assert cli.main(["--model", "rnn", "--csv", str(bad)]) == 2
    assert "line 3, column 'b': 'oops' is not a number" in capsys.readouterr().err
    for args in (["--model", "lstm"], ["--model", "rnn", "--data", "x", "--csv", "y"]):
        with pytest.raises(SystemExit) as err:
            cli.main(args)
        assert err.value.code == 2
    assert "not allowed with argument" in capsys.readouterr().err
