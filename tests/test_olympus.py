"""Olympus: DySan's trainer with alpha 0.6, lambda 0.4 (no distortion term), method "olympus"."""

from __future__ import annotations

import numpy as np
import pytest

from eval.transforms import RAW, load_transforms
from jaxpriv.checkpoint import Checkpointer
from jaxpriv.data.load import load_dataset
from jaxpriv.data.task import dysan_task
from train import dysan as train_dysan
from train import olympus

TINY_DATA = "embedded:users=6,long_s=6,short_s=4"


def test_a_tiny_run_is_stored_and_restored_as_olympus(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # the default folder is runs/olympus-<preset>
    # No inner predictor/discriminator steps: this checks the entry point, not training
    # quality, and the inner loops cost a quarter of this file's CPU time (49 s -> 37 s).
    tiny = ["--data", TINY_DATA, "--epochs", "1", "--batch-size", "32", "--k-pred", "0"]
    assert olympus.main([*tiny, "--k-disc", "0"]) == 0
    run = tmp_path / "runs" / "olympus-quick"
    with Checkpointer(run / "checkpoints", read_only=True) as ckpt:
        meta = ckpt.restore_meta()
    assert meta["method"] == "olympus"
    assert [(v["alpha"], v["lam"]) for v in meta["grid"]] == [(0.6, 0.4)]
    assert meta["config"]["epochs"] == 1 and meta["config"]["width"] == 0.25  # DySan's quick
    # ...on jaxpriv's light networks, the sanitizer told nothing about the activity.
    assert meta["config"]["arch"] == "light" and meta["config"]["activity_mode"] == "original"
    assert (run / "summary.md").read_text().startswith("# Olympus quick")

    ts = load_transforms(run)
    assert ts.method == "olympus" and ts.names == (RAW, "olympus-a0.6-l0.4")
    data = dysan_task().prepare(load_dataset(TINY_DATA))
    x = data.test_windows.x[:4].astype(np.float32)
    released = ts.release(x, data.test_windows.attributes[:4], data.test["activity"][:4], 0)
    assert released.shape == (2, *x.shape) and np.isfinite(released).all()
    assert not np.allclose(released[1], x)


def test_only_grids_without_a_distortion_weight_are_olympus(capsys) -> None:
    assert olympus.main(["--grid", "alpha=0.5;lam=0.3"]) == 2
    assert "alpha + lam must be 1" in capsys.readouterr().err
    olympus._check_grid(["--grid", '[{"alpha": 0.7, "lam": 0.3}, {"alpha": 0.3, "lam": 0.7}]'])
    with pytest.raises(ValueError, match="alpha \\+ lam must be 1"):
        olympus._check_grid(["--grid", "alpha=0.7,0.3;lam=0.3,0.7"])  # the product has 0.7+0.7
    # DySan's own grid check accepts alpha + lam = 1 exactly.
    args = train_dysan.build_parser().parse_args(["--grid", olympus.GRID])
    assert [(v["alpha"], v["lam"]) for v in train_dysan.make_grid(args)] == [(0.6, 0.4)]
