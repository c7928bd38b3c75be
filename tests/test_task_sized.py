"""DySan's and Olympus's networks are sized by the task: its channels, its activities and
its window, never by DySan's constants (6 channels, 4 activities)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from jaxpriv.checkpoint import Checkpointer
from jaxpriv.data.load import load_dataset
from jaxpriv.data.task import dysan_task
from jaxpriv.methods.dysan import DysanConfig
from jaxpriv.methods.dysan_io import load_sanitizers
from jaxpriv.methods.dysan_nets import make_nets
from train import dysan as dysan_cli
from train import olympus

pytestmark = pytest.mark.usefixtures("shared_compilation_cache")

DATA = "embedded:users=6,long_s=6,short_s=4"
# An accelerometer-only task (3 channels) with 3 activities, not DySan's 6 and 4.
TASK = ["--data", DATA, "--channels", "userAcceleration.*", "--activities", "wlk,jog,sit"]
TINY = ["--epochs", "1", "--batch-size", "32", "--k-pred", "0", "--k-disc", "0"]


def count(tree) -> int:
    return sum(int(np.prod(leaf.shape)) for leaf in jax.tree.leaves(tree))


def sanitizer_parameters(channels: int, activities: int) -> int:
    cfg = DysanConfig(num_channels=channels, num_activities=activities)
    return count(jax.eval_shape(make_nets(cfg).init, jax.random.key(0))["san"])


def trained(run) -> tuple[dict, list]:
    with Checkpointer(run / "checkpoints", read_only=True) as ckpt:
        config = ckpt.restore_meta()["config"]
    return config, load_sanitizers(run)


def released_shape(transform) -> tuple[int, ...]:
    ds = load_dataset(DATA)
    data = dysan_task(channels=("userAcceleration.*",), activities=("wlk", "jog", "sit"))
    win = data.prepare(ds).test_windows
    return np.asarray(transform(win.x[:2], win.attributes[:2])).shape


@pytest.mark.parametrize("arch", ["original", "light"])
def test_dysan_trains_on_the_tasks_channels_and_activities(arch, tmp_path) -> None:
    run = tmp_path / arch
    argv = [*TASK, *TINY, "--grid", "alpha=0.5;lam=0.3", "--arch", arch, "--out", str(run)]
    assert dysan_cli.main(argv) == 0
    config, (sanitizer,) = trained(run)
    assert (config["num_channels"], config["num_activities"], config["window"]) == (3, 3, 125)
    assert released_shape(sanitizer) == (2, 125, 3)
    if arch == "original":  # the authors' sanitizer follows both counts
        sizes = {(c, a): sanitizer_parameters(c, a) for c in (3, 6) for a in (3, 4)}
        assert len(set(sizes.values())) == 4  # each count changes it
        assert count(sanitizer.params["san"]) == sizes[3, 3] < sizes[6, 4]


def test_olympus_trains_on_the_tasks_channels_and_activities(tmp_path) -> None:
    run = tmp_path / "olympus"
    assert olympus.main([*TASK, *TINY, "--arch", "original", "--out", str(run)]) == 0
    config, (sanitizer,) = trained(run)
    assert (config["num_channels"], config["num_activities"]) == (3, 3)
    assert count(sanitizer.params["san"]) == sanitizer_parameters(3, 3)
    assert released_shape(sanitizer) == (2, 125, 3)
