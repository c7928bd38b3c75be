"""The ``true`` activity mode leaks the label into the release; every summary says so.

The leak: a sanitizer told the true activity can write it into its output, so an
activity model retrained on the releases reads it back, whatever the windows hold.
Shown where nothing else could carry the activity: the windows are shuffled across
rows (the signal no longer goes with the label), so on ``original``-mode releases (the
activity input zeroed) the retrained model is near chance, and on ``true``-mode ones
it is far above. jaxpriv's light networks keep this fast; the activity input is the
same for the authors' networks.
"""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from eval.transforms import RAW, load_transforms
from jaxpriv.classify import ClassifierConfig, make_fit, make_predict
from jaxpriv.data.load import load_dataset
from jaxpriv.data.task import dysan_task
from jaxpriv.methods import dysan
from train import dysan as dysan_cli

DATA = "embedded:users=8,long_s=6,short_s=4"
CLASSIFIER = ClassifierConfig(features=(8, 16), dense=16, steps=150, batch_size=64)


def shuffled(arrays: dict, seed: int) -> dict:
    """The windows in another order than their labels: no activity left in the signal."""
    return {**arrays, "x": arrays["x"][np.random.default_rng(seed).permutation(len(arrays["x"]))]}


def retrained_activity_accuracy(mode: str, train: dict, test: dict, fit, predict) -> float:
    cfg = dysan.DysanConfig(arch="light", width=0.25, activity_mode=mode, epochs=2,
                            batch_size=32, k_pred=1, k_disc=1)  # fmt: skip
    hp = {"alpha": 0.1, "lam": 0.8, "lr_san": 3e-3, "lr_pred": 3e-3, "lr_disc": 3e-3, "seed": 0}
    hp = {k: jnp.asarray(v, jnp.int32 if k == "seed" else jnp.float32) for k, v in hp.items()}
    state, _ = jax.jit(dysan.make_train(cfg)[2])(hp, train)
    release = jax.jit(dysan.make_sanitize(cfg))
    params = {"san": state["san"]}
    out = {
        name: release(params, a["x"], a["attributes"], a["activity"], jax.random.key(i))
        for i, (name, a) in enumerate((("train", train), ("test", test)))
    }
    model = fit(jax.random.key(0), out["train"], train["activity"], jnp.ones(len(train["x"])))
    return float(np.mean(np.asarray(predict(model, out["test"])).argmax(-1) == test["activity"]))


@pytest.fixture
def fast_random_bits():
    """``unsafe_rbg`` keys: their random bits compile several times faster than threefry's
    on CPU (this test compiles two training runs); nothing else changes."""
    previous = jax.config.jax_default_prng_impl
    jax.config.update("jax_default_prng_impl", "unsafe_rbg")
    yield
    jax.config.update("jax_default_prng_impl", previous)


@pytest.mark.usefixtures("fast_random_bits")
def test_a_model_retrained_on_true_mode_releases_reads_the_activity_back() -> None:
    train, test = dysan.dysan_arrays(dysan_task().prepare(load_dataset(DATA)))
    train, test = shuffled(train, 0), shuffled(test, 1)
    fit, predict = jax.jit(make_fit(CLASSIFIER, 4)), jax.jit(make_predict(CLASSIFIER, 4))
    acc = {
        m: retrained_activity_accuracy(m, train, test, fit, predict) for m in ("true", "original")
    }
    majority = np.bincount(test["activity"]).max() / len(test["activity"])
    print("retrained activity accuracy on released held-out windows:", acc)
    assert acc["original"] <= majority + 0.15, acc  # nothing to read: about chance
    assert acc["true"] >= acc["original"] + 0.3, acc  # the label, copied into the release


def test_true_mode_runs_are_marked_as_leaking(tmp_path) -> None:
    args = ["--data", "embedded:users=6,long_s=6,short_s=4", "--epochs", "1",
            "--batch-size", "32", "--k-pred", "0", "--k-disc", "0", "--arch", "light",
            "--width", "0.125", "--activity-mode", "true", "--grid", "alpha=0.3;lam=0.2",
            "--out", str(tmp_path)]  # fmt: skip
    assert dysan_cli.main(args) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["leaks"] is True and summary["activity_mode"] == "true"
    assert "LEAKS" in (tmp_path / "summary.md").read_text()
    ts = load_transforms(tmp_path)
    assert ts.names == (RAW, "dysan-a0.3-l0.2-leaks")
    assert "LEAKS" in ts.info["warning"] and ts.info["activity_mode"] == "true"


@pytest.mark.parametrize("mode", ["original", "true"])
def test_the_activity_input_reaches_the_authors_release_only_when_told(mode: str) -> None:
    """The authors' networks: changing the labels changes a ``true``-mode release and
    leaves an ``original``-mode one (zeroed input) exactly as it was."""
    cfg = dysan.DysanConfig(activity_mode=mode)
    hp = {"alpha": 0.3, "lam": 0.3, "lr_san": 1e-3, "lr_pred": 1e-3, "lr_disc": 1e-3, "seed": 0}
    state = jax.jit(dysan.make_train(cfg)[0])(hp)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(-1, 1, (4, 125, 6)), jnp.float32)
    attributes = jnp.asarray(rng.uniform(-1, 1, (4, 3)), jnp.float32)
    release = jax.jit(dysan.make_sanitize(cfg))
    a = release({"san": state["san"]}, x, attributes, jnp.array([0, 1, 2, 3]), jax.random.key(0))
    b = release({"san": state["san"]}, x, attributes, jnp.array([1, 2, 3, 0]), jax.random.key(0))
    moved = np.abs(np.asarray(a) - np.asarray(b)).max(axis=(1, 2))
    if mode == "true":
        assert moved.min() > 0
    else:
        np.testing.assert_array_equal(moved, 0)
