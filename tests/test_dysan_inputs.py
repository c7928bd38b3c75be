"""What DySan's sanitizer is conditioned on (attributes scaled to [-1, 1] on the training
range, the activity input per mode, uniform noise), the discriminator's decorrelation
input, training mode during the sanitizer step, and the vector mode's terms."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxpriv.data.load import load_dataset
from jaxpriv.data.task import dysan_task
from jaxpriv.methods import dysan, dysan_inputs
from jaxpriv.methods.dysan_nets import DysanNets, make_nets
from jaxpriv.methods.dysan_steps import make_sanitizer_step, term_names

TINY_DATA = "embedded:users=6,long_s=6,short_s=4"


def test_attributes_are_scaled_to_minus_one_one_on_the_training_range() -> None:
    raw = np.array([[150.0, 50.0, np.nan], [190.0, 90.0, 20.0], [170.0, 70.0, 40.0]])
    lo, hi = dysan_inputs.attribute_range(raw)
    np.testing.assert_allclose(lo, [150, 50, 20])
    np.testing.assert_allclose(hi, [190, 90, 40])
    scaled = np.asarray(dysan_inputs.scale_attributes(raw, lo, hi))
    np.testing.assert_allclose(scaled, [[-1, -1, 0], [1, 1, -1], [0, 0, 1]], atol=1e-6)
    # Held-out users outside the training range go outside [-1, 1] (no clipping, as
    # sklearn's MinMaxScaler); an attribute never known is 0.
    outside = dysan_inputs.scale_attributes(np.array([[210.0, 50.0, 30.0]]), lo, hi)
    np.testing.assert_allclose(outside, [[2.0, -1.0, 0.0]], atol=1e-6)
    lo2, hi2 = dysan_inputs.attribute_range(np.full((2, 3), np.nan))
    assert np.all(dysan_inputs.scale_attributes(np.full((2, 3), np.nan), lo2, hi2) == 0)


def test_dysan_arrays_use_the_training_windows_range() -> None:
    data = dysan_task().prepare(load_dataset(TINY_DATA))
    train, test = dysan.dysan_arrays(data)
    np.testing.assert_allclose(train["attributes"].min(0), -1, atol=1e-6)
    np.testing.assert_allclose(train["attributes"].max(0), 1, atol=1e-6)
    stats = dysan.conditioning_stats(data)
    raw = data.test_windows.attributes
    expected = dysan_inputs.scale_attributes(raw, stats["attribute_min"], stats["attribute_max"])
    np.testing.assert_allclose(test["attributes"], expected)
    np.testing.assert_array_equal(train["x"], data.train["x"])  # only the attributes change


@pytest.mark.parametrize("mode", ["original", "predicted", "none", "true"])
def test_the_activity_input_and_the_noise(mode: str) -> None:
    cfg = dysan.DysanConfig(activity_mode=mode)
    activity = jnp.array([0, 3, 1, 2, 2])
    predicted = jnp.array([1, 1, 1, 1, 0])
    act_in = dysan_inputs.activity_vector(cfg, activity, predicted)
    expected = {
        "original": np.zeros((5, 4)),  # zeroed: the code's SanitizeActivities = False
        "predicted": np.eye(4)[predicted],
        "none": None,
        "true": np.eye(4)[activity],
    }[mode]
    if expected is None:
        assert act_in is None
    else:
        np.testing.assert_array_equal(act_in, expected)
    attributes = jnp.asarray(np.random.default_rng(0).uniform(-1, 1, (5, 3)), jnp.float32)
    cond = dysan_inputs.conditioning(cfg, attributes, act_in, jax.random.key(1))
    width = 3 + (0 if mode == "none" else 4) + 2
    assert cond.shape == (5, width)
    np.testing.assert_array_equal(cond[:, :3], attributes)
    if expected is not None:
        np.testing.assert_array_equal(cond[:, 3:7], expected)
    noise = np.asarray(cond[:, -2:])
    assert noise.min() >= 0 and noise.max() < 1 and np.unique(noise).size == 10
    again = dysan_inputs.conditioning(cfg, attributes, act_in, jax.random.key(2))
    assert np.all(np.asarray(again[:, -2:]) != noise)  # fresh noise per key


def test_vector_mode_has_a_term_per_channel_and_attribute() -> None:
    names = term_names(dysan.DysanConfig(mode="vector"))
    assert names[:2] == ("ber_activity", "ber_gap_gender")
    assert names[2:8] == tuple(f"l1_channel_{c}" for c in range(6))
    assert names[8:] == ("l1_height", "l1_weight", "l1_age", "l1_activity")  # 12 steps
    assert len(term_names(dysan.DysanConfig(mode="vector", activity_mode="none"))) == 11
    assert len(term_names(dysan.DysanConfig(arch="light", mode="vector"))) == 8
    assert len(term_names(dysan.DysanConfig())) == 3  # sum mode: one step


@dataclasses.dataclass(frozen=True)
class Spy(DysanNets):
    """Records what the discriminator is given and in which mode the networks run."""

    seen: list = dataclasses.field(default_factory=list)

    def predict(self, variables, release, train=False, key=None):
        self.seen.append(("pred", train, None))
        return super().predict(variables, release, train, key)

    def discriminate(self, variables, release, activity_BxA, train=False, key=None):
        given: list = []
        self.seen.append(("disc", train, given))
        jax.debug.callback(lambda a: given.append(np.asarray(a)), activity_BxA)
        return super().discriminate(variables, release, activity_BxA, train, key)


def test_sanitizer_step_gives_the_true_activity_and_training_mode() -> None:
    # The sanitizer is told nothing (zeroed activity input); the discriminator still
    # gets the true activity. The light networks ignore it, but it is passed the same.
    cfg = dysan.DysanConfig(arch="light", width=0.125, batch_size=6)
    base = make_nets(cfg)
    spy = Spy(**{f.name: getattr(base, f.name) for f in dataclasses.fields(DysanNets)})
    hp = {"alpha": 0.3, "lam": 0.3, "lr_san": 1e-3, "lr_pred": 1e-3, "lr_disc": 1e-3, "seed": 0}
    state = jax.jit(dysan.make_train(cfg)[0])(hp)
    rng = np.random.default_rng(3)
    batch = {
        "x": jnp.asarray(rng.uniform(-1, 1, (6, 125, 6)), jnp.float32),
        "activity": jnp.array([0, 1, 2, 3, 1, 0]),
        "gender": jnp.array([0, 1, 0, 1, 0, 1]),
        "attributes": jnp.asarray(rng.uniform(-1, 1, (6, 3)), jnp.float32),
    }
    step = jax.jit(make_sanitizer_step(cfg, spy, dysan._optimizer(cfg.weight_decay)))
    new, metrics = step(state, hp, batch, jax.random.key(0))
    jax.effects_barrier()
    assert [(net, train) for net, train, _ in spy.seen] == [("pred", True), ("disc", True)]
    # The decorrelation input: the ORIGINAL activity, whatever the sanitizer is told.
    (given,) = spy.seen[1][2]
    np.testing.assert_array_equal(given, np.eye(4)[np.asarray(batch["activity"])])
    # Training mode during the sanitizer's step: both networks' batch statistics move.
    for net in ("pred", "disc"):
        old = jax.tree.leaves(state[net]["batch_stats"])
        moved = jax.tree.leaves(new[net]["batch_stats"])
        assert all(np.abs(a - b).max() > 0 for a, b in zip(old, moved, strict=True)), net
    assert np.isfinite(float(metrics["san_loss"]))
