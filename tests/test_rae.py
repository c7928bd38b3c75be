"""The replacement autoencoder: layer sizes, roles, targets, training on a constructed case,
its metrics and harness evaluator, the CLI's checkpoint/resume, and compounds of runs."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import jax
import numpy as np
import pytest

from eval import compound as compound_cli
from eval.config import PRESETS
from eval.context import EvalContext
from eval.evaluators.replacement import markdown, replacement
from eval.restorers.compound import check_stages
from eval.transforms import RAW, load_transforms
from jaxpriv.checkpoint import CheckpointError
from jaxpriv.data.dataset import DataFormatError
from jaxpriv.grid import stack_grid
from jaxpriv.methods import rae
from jaxpriv.methods.rae_io import restore_state
from jaxpriv.nn.rae import ReplacementAutoencoder, layer_sizes
from train import rae as rae_cli

TINY_DATA = "embedded:users=8,long_s=8,short_s=4"
CLI = ["--data", TINY_DATA, "--epochs", "2", "--batch-size", "32", "--eval-steps", "5"]


pytestmark = pytest.mark.usefixtures("shared_compilation_cache")


# ------------------------------------------------------------------------- network, roles


def test_layer_sizes_follow_the_authors_code() -> None:
    assert layer_sizes(256) == (256, 128, 32, 16, 32, 128, 256)
    assert layer_sizes(256, input_dense=False) == (128, 32, 16, 32, 128, 256)
    init = ReplacementAutoencoder().init
    params = jax.eval_shape(init, jax.random.key(0), np.zeros((1, 128, 2)))["params"]
    kernels = [params[f"dense_{i}"]["kernel"].shape for i in range(7)]
    assert kernels == [(256, 256), (256, 128), (128, 32), (32, 16), (16, 32), (32, 128), (128, 256)]
    with pytest.raises(ValueError, match="too small"):
        layer_sizes(8)


def test_roles_must_be_disjoint_non_empty_and_present() -> None:
    with pytest.raises(ValueError, match=r"sensitive and neutral activities share \['jog'\]"):
        rae.parse_roles("dws", "jog", "jog,std")
    with pytest.raises(ValueError, match="at least one neutral"):
        rae.parse_roles("dws", "jog", "")
    with pytest.raises(ValueError, match="at least one sensitive"):
        rae.parse_roles("dws", " , ", "std")
    with pytest.raises(ValueError, match="more than once"):
        rae.parse_roles("dws,dws", "jog", "std")
    roles = rae.parse_roles("dws, ups", "jog", "std")
    assert roles.activities == ("dws", "ups", "jog", "std")
    assert rae.Roles.from_json(json.loads(json.dumps(roles.to_json()))) == roles
    with pytest.raises(DataFormatError, match=r"\['std'\] are not in the data"):
        roles.check_present(("dws", "ups", "jog"), "dataset x")


def test_cli_rejects_bad_roles_clearly(capsys) -> None:
    assert rae_cli.main(["--sensitive", "jog", "--neutral", "jog"]) == 2
    assert "share ['jog']" in capsys.readouterr().err
    assert rae_cli.main(["--data", TINY_DATA, "--neutral", "fly"]) == 2
    assert "activities ['fly'] are not in the data" in capsys.readouterr().err


# -------------------------------------------------------------------------------- targets


def test_targets_are_same_user_neutral_windows_redrawn_per_key() -> None:
    #        window: 0  1  2  3  4  5  6  7
    subject = np.array([0, 0, 0, 1, 1, 1, 2, 2])
    activity = np.array([0, 1, 2, 1, 2, 2, 1, 0])  # 0 required, 1 sensitive, 2 neutral
    x = np.zeros((8, 16, 1), np.float32)
    roles = rae.Roles(("a",), ("s",), ("n",))
    arrays, fallbacks = rae.train_arrays(x, activity, subject, ("a", "s", "n"), roles, "same_user")
    assert fallbacks == 1  # user 2 has no neutral window
    draws = np.stack([rae.draw_targets(arrays, jax.random.key(k)) for k in range(40)])
    others = [0, 2, 4, 5, 7]
    assert (draws[:, others] == others).all()  # non-sensitive windows -> themselves
    assert (draws[:, 1] == 2).all()  # user 0's only neutral window
    assert set(draws[:, 3]) == {4, 5}  # user 1's neutral windows, both drawn
    assert set(draws[:, 6]) == {2, 4, 5}  # user 2 has none: any neutral window
    arrays_any, _ = rae.train_arrays(x, activity, subject, ("a", "s", "n"), roles, "any")
    draws = np.stack([rae.draw_targets(arrays_any, jax.random.key(k)) for k in range(40)])
    assert set(draws[:, 1]) == {2, 4, 5}
    with pytest.raises(DataFormatError, match="0 neutral"):
        rae.train_arrays(x, np.zeros(8, int), subject, ("a", "s", "n"), roles, "any")


# ------------------------------------------------------------------ a constructed case

W, C, USERS = 32, 2, 4
ACTS = ("walk", "run", "stand")
ROLES = rae.Roles(("walk",), ("run",), ("stand",))


def synthetic(seed: int, per: tuple[int, int, int] = (40, 20, 20)):
    """Walk = a slow sine, run = a fast square wave, stand = flat; a per-user offset."""
    rng = np.random.default_rng(seed)
    t = np.arange(W) / W
    xs, ys, us = [], [], []
    for u in range(USERS):
        for a, n in enumerate(per):
            for _ in range(n):
                phase = 2 * np.pi * (t * (2, 6, 0)[a]) + rng.uniform(0, 2 * np.pi)
                if a == 0:
                    x = np.stack([np.sin(phase), np.cos(phase)], -1)
                elif a == 1:
                    x = 1.5 * np.stack([np.sign(np.sin(phase))] * 2, -1)
                else:
                    x = np.stack([np.ones(W), np.zeros(W)], -1)
                xs.append(x + [0, 0.5 * u - 0.75] + 0.05 * rng.standard_normal((W, C)))
                ys.append(a)
                us.append(u)
    return np.asarray(xs, np.float32), np.asarray(ys), np.asarray(us)


def test_training_replaces_sensitive_windows_by_the_users_neutral_ones_and_keeps_others() -> None:
    x, y, u = synthetic(0)
    arrays, _ = rae.train_arrays(x, y, u, ACTS, ROLES, "same_user")
    cfg = rae.RaeConfig(window=W, num_channels=C, epochs=40, batch_size=32)
    _, _, train = rae.make_train(cfg)
    grid = [{"lr": 3e-3, "sensitive_weight": w, "seed": s} for w, s in ((1.0, 0), (3.0, 1))]
    state, metrics = jax.jit(jax.vmap(train, in_axes=(0, None)))(stack_grid(grid), arrays)
    assert np.asarray(metrics["alive"]).all()
    loss = np.asarray(metrics["loss"])
    assert (loss[:, -1] < 0.1 * loss[:, 0]).all()
    assert not np.allclose(*np.asarray(state["params"]["dense_0"]["kernel"]))  # seeds differ

    xt, yt, ut = synthetic(1)  # new windows
    out = np.asarray(rae.make_replace(cfg)(jax.tree.map(lambda a: a[0], state["params"]), xt))
    flat = lambda a: a.reshape(len(a), -1)  # noqa: E731
    # 1-nearest training window: its activity, and its user.
    nearest = ((flat(out)[:, None] - flat(x)[None]) ** 2).sum(-1).argmin(1)
    assert (y[nearest][yt == 1] == 2).mean() >= 0.95  # run -> stand
    assert (y[nearest][yt != 1] == yt[yt != 1]).mean() >= 0.95  # walk, stand stay
    assert (u[nearest][yt == 1] == ut[yt == 1]).mean() >= 0.9  # the same user's standing
    walk = yt == 0
    mse_self = ((out[walk] - xt[walk]) ** 2).mean()
    assert mse_self < 0.05 * xt[walk].var()  # walk windows map to themselves, not a mean


# ------------------------------------------------------------------------------ metrics


ACT5 = ("dws", "ups", "wlk", "jog", "std")
ROLES5 = {"required": ["dws", "ups", "wlk"], "sensitive": ["jog"], "neutral": ["std"]}
Y5 = np.array([0, 1, 2, 3, 3, 3, 3, 4, 4, 0])


def test_replacement_metrics_on_known_predictions() -> None:
    roles = rae.Roles.from_json(ROLES5)
    raw = rae.replacement_metrics(Y5, Y5, ACT5, roles)
    assert raw["sensitive_recall"] == {"jog": 1.0} and raw["privacy_gap"] == 0.5
    assert raw["required_macro_f1"] == 1.0 and raw["sensitive_as_neutral"] == 0.0
    # Two jog windows become std, one wlk, one stays jog; one dws window is called ups.
    pred = np.array([1, 1, 2, 4, 4, 2, 3, 4, 4, 0])
    m = rae.replacement_metrics(Y5, pred, ACT5, roles)
    assert m["sensitive_recall"]["jog"] == 0.25
    assert m["sensitive_as_neutral"] == 0.5
    assert m["false_alarm"] == 0 and m["privacy_gap"] == pytest.approx(0.125)
    # F1: dws 2/3 (1 tp, 1 fn), ups 2/3 (1 tp, 1 fp), wlk 2/3 (1 tp, 1 fp from jog).
    assert m["required_macro_f1"] == pytest.approx(2 / 3)
    assert m["required_accuracy"] == pytest.approx(3 / 4)
    assert m["neutral_kept"] == 1.0
    assert m["windows"] == {"required": 4, "sensitive": 4, "neutral": 2}


def _context(info: dict, predictions: dict) -> EvalContext:
    split = SimpleNamespace(test=SimpleNamespace(activities=ACT5, activity=Y5), threat="users")
    transforms = SimpleNamespace(method="rae", names=(RAW, "rae-x"), info=info)
    ctx = EvalContext(transforms, {"subject": split}, PRESETS["test"], rate_hz=50.0)
    for (family, mode), pred in predictions.items():
        ctx._predictions[("subject", "activity", family, mode)] = pred
    return ctx


def test_replacement_evaluator_reports_every_attacker_and_the_strongest() -> None:
    replaced = np.where(Y5 == 3, 4, Y5)  # every jog window called std
    half = np.where((Y5 == 3) & (np.arange(10) < 5), 4, Y5)  # half of them still jog
    preds = {
        ("cnn", "static"): np.stack([Y5, replaced]),
        ("rf", "static"): np.stack([Y5, half]),
        ("cnn", "adaptive"): np.stack([Y5, replaced]),
        ("rf", "adaptive"): np.stack([Y5, replaced]),
    }
    result = replacement(_context({"roles": ROLES5}, preds))
    rec = {(r["family"], r["mode"], r["transform"]): r for r in result["records"]}
    assert len(rec) == 3 * 2 * 2  # (cnn, rf, strongest) x modes x transforms
    assert rec[("cnn", "static", RAW)]["privacy_gap"] == 0.5
    assert rec[("cnn", "static", "rae-x")]["privacy_gap"] == 0
    assert rec[("cnn", "static", "rae-x")]["sensitive_as_neutral"] == 1.0
    assert rec[("rf", "static", "rae-x")]["sensitive_recall"]["jog"] == 0.5
    strongest = rec[("strongest", "static", "rae-x")]
    assert strongest["attacker"] == "rf" and strongest["privacy_gap"] == 0.25
    assert all(r["required_macro_f1"] == 1.0 for r in result["records"])
    text = "\n".join(markdown(result))
    assert "## Replacement (RAE)" in text and "| rae-x | rf | 50.0 | 50.0 | 100.0 | 25.0 |" in text
    skipped = replacement(_context({}, preds))
    assert "no activity roles" in skipped["skipped"]
    assert "Skipped" in markdown(skipped)[2]


# -------------------------------------------------------------- CLI, checkpoint, compound


@pytest.fixture(scope="module")
def run_a(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rae") / "a"
    assert rae_cli.main([*CLI, "--out", str(out)]) == 0
    return out


def test_cli_writes_a_restorable_run_with_roles_and_summary(run_a) -> None:
    summary = json.loads((run_a / "summary.json").read_text())
    assert summary["roles"] == {"required": ["dws", "ups", "wlk"], "sensitive": ["jog"],
                                "neutral": ["std"]}  # fmt: skip
    assert summary["raw"]["windows"]["sensitive"] > 0
    variants = summary["variants"]
    assert [v["variant"] for v in variants] == ["lr0.001-w1-s0", "lr0.001-w3-s1"]
    for v in variants:
        assert 0 <= v["privacy_gap"] <= 0.5 and 0 <= v["sensitive_as_neutral"] <= 1
        assert v["heldout_mse_kept"] > 0 and v["train_mse_kept"] != v["heldout_mse_kept"]
    assert "required F1" in (run_a / "summary.md").read_text()
    t = load_transforms(run_a)
    assert t.names == (RAW, "rae-lr0.001-w1-s0", "rae-lr0.001-w3-s1")
    assert t.info["roles"] == summary["roles"] and t.spec.split == "trial"
    assert t.spec.activities == ("dws", "ups", "wlk", "jog", "std") and t.spec.window == 128
    assert json.loads((run_a / "metrics.json").read_text())["history"][-1]["epoch"] == 2


def test_cli_resumes_from_the_last_checkpoint_to_the_uninterrupted_result(
    run_a, tmp_path, capsys
) -> None:
    out = tmp_path / "resumed"
    shutil.copytree(run_a, out)
    shutil.rmtree(out / "checkpoints" / "2")  # as if killed after epoch 1
    assert rae_cli.main([*CLI, "--out", str(out)]) == 0
    assert "resuming from" in capsys.readouterr().out
    _, straight = restore_state(run_a)
    meta, resumed = restore_state(out)
    assert [h["epoch"] for h in meta["history"]] == [1, 2]
    np.testing.assert_allclose(
        *(np.asarray(s["params"]["dense_3"]["kernel"]) for s in (straight, resumed)), atol=1e-6
    )
    assert rae_cli.main([*CLI, "--out", str(out), "--epochs", "3"]) == 2  # another config
    assert "different config" in capsys.readouterr().err


def _release(t, x, seed=0):
    n = len(x)
    return t.release(x, np.zeros((n, 3), np.float32), np.zeros(n, np.int32), seed)


def test_compound_release_is_the_stages_applied_in_turn(run_a, tmp_path, capsys) -> None:
    a, b = run_a, tmp_path / "b"
    shutil.copytree(run_a, b)  # a second RAE run (same weights; other variants are chosen)
    out = tmp_path / "compound"
    args = ["--stages", str(a), str(b), "--out", str(out)]
    assert compound_cli.main([*args, "--variants", "all,rae-lr0.001-w3-s1"]) == 0
    tc, ta, tb = load_transforms(out), load_transforms(a), load_transforms(b)
    assert tc.method == "compound" and tc.spec == ta.spec and tc.info["roles"] == ta.info["roles"]
    assert tc.names[1:] == (
        "rae-lr0.001-w1-s0+rae-lr0.001-w3-s1",
        "rae-lr0.001-w3-s1+rae-lr0.001-w3-s1",
    )
    assert tc.hps[1] == {"s1.lr": 0.001, "s1.sensitive_weight": 1.0, "s1.seed": 0,
                         "s2.lr": 0.001, "s2.sensitive_weight": 3.0, "s2.seed": 1}  # fmt: skip
    x = np.random.default_rng(0).normal(1.0, 0.5, (5, 128, 2)).astype(np.float32)
    first = _release(ta, x)  # raw, w1, w3
    composed = _release(tc, x)
    for v, i in ((1, 1), (2, 2)):
        expected = _release(tb, first[i])[2]  # stage 2 is w3
        np.testing.assert_allclose(composed[v], expected, atol=1e-5)
    assert not np.allclose(composed[1], first[1])  # the second stage did something

    # Nested: the compound itself as a first stage.
    nested = tmp_path / "nested"
    assert compound_cli.main(["--stages", str(out), str(a), "--out", str(nested),
                              "--variants", "all,rae-lr0.001-w1-s0"]) == 0  # fmt: skip
    tn = load_transforms(nested)
    assert len(tn.names) == 3 and tn.info["roles"] == ta.info["roles"]
    np.testing.assert_allclose(_release(tn, x)[2], _release(ta, composed[2])[1], atol=1e-5)

    # The same command again is a no-op; a different one needs --fresh.
    assert compound_cli.main([*args, "--variants", "all,rae-lr0.001-w3-s1"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert compound_cli.main([*args, "--variants", "all,all"]) == 2
    assert "--fresh" in capsys.readouterr().err
    assert compound_cli.main([*args, "--variants", "all,nope"]) == 2
    assert "has no variant 'nope'" in capsys.readouterr().err
    assert compound_cli.main([*args, "--variants", "all"]) == 2
    assert "1 entries for 2 stages" in capsys.readouterr().err
    assert compound_cli.main(["--stages", str(a), str(b), "--out", str(a), "--fresh"]) == 2
    assert "holds a rae run, not a compound" in capsys.readouterr().err


def test_stages_must_agree_on_channels_and_window() -> None:
    def stage(channels, window):
        spec = SimpleNamespace(channels=channels, window=window)
        return SimpleNamespace(spec=spec, method="m")

    check_stages([stage(("a", "b"), 128), stage(("a", "b"), 128)], ["r1", "r2"])
    with pytest.raises(CheckpointError, match="same channels and window length"):
        check_stages([stage(("a", "b"), 128), stage(("a", "b", "c"), 125)], ["r1", "r2"])
    with pytest.raises(CheckpointError, match="at least two stages"):
        check_stages([stage(("a",), 1)], ["r1"])
