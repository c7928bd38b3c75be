"""Every trainer runs through the one driver: Ctrl-C (exit 130 with the resume command),
resume, and --fresh over a finished run; and a table never reuses a run of other data."""

from __future__ import annotations

import importlib

import pytest

import jaxpriv.run as run_module
from eval.reproduce import RunRecipe, ensure_run

D4 = "embedded:users=4,long_s=6,short_s=4"
D6 = "embedded:users=6,long_s=6,short_s=4"
DYSAN = ["--epochs", "2", "--batch-size", "32", "--k-pred", "1", "--k-disc", "1",
         "--width", "0.125", "--grid", "alpha=0.3;lam=0.2"]  # fmt: skip
TINY = {
    "dysan": ["--data", D6, *DYSAN],
    "gen": ["--data", D6, "--est-epochs", "1", "--identity-epochs", "0", "--epochs", "1",
            "--batch-size", "32", "--hidden", "16,8,16", "--est-features", "8,8,8"],
    "msda": ["--data", D6, "--rounds", "1", "--filters", "4", "--pretrain-epochs", "1",
             "--reg-epochs", "1", "--aae-epochs", "1", "--subsample", "8"],
    "rae": ["--data", D6, "--epochs", "2", "--batch-size", "32", "--eval-steps", "0",
            "--grid", "sensitive_weight=1"],
    "sensegen": ["--data", D4, "--window", "20", "--segment", "10", "--hidden", "4",
                 "--components", "2", "--batch-size", "8", "--epochs", "2"],
    "symbolic": ["--model", "rnn", "--data", D4, "--window", "4", "--stride", "4", "--bins", "5",
                 "--epochs", "2", "--batch-size", "8", "--steps-per-epoch", "2", "--embed", "8",
                 "--hidden", "8", "--samples", "1"],
}  # fmt: skip
pytestmark = pytest.mark.usefixtures("shared_compilation_cache")


@pytest.mark.parametrize("method", sorted(TINY))
def test_interrupt_resume_and_fresh(method, tmp_path, monkeypatch, capsys) -> None:
    main = importlib.import_module(f"train.{method}").main
    argv = [*TINY[method], "--out", str(tmp_path / "run")]
    save = run_module._save

    def save_then_interrupt(ckpt, step, state, spec, history):
        save(ckpt, step, state, spec, history)
        raise KeyboardInterrupt  # as if Ctrl-C came right after the first checkpoint

    monkeypatch.setattr(run_module, "_save", save_then_interrupt)
    assert main(argv) == 130
    said = capsys.readouterr().out
    assert f"python -m train.{method} " in said and "to resume" in said
    assert not (tmp_path / "run" / "summary.json").exists()

    monkeypatch.setattr(run_module, "_save", save)
    assert main(argv) == 0
    assert "resuming from" in capsys.readouterr().out
    assert (tmp_path / "run" / "summary.json").is_file()

    assert main([*argv, "--fresh"]) == 0  # a finished run in the way: started over
    said = capsys.readouterr().out
    assert "--fresh: removed the earlier run's checkpoints" in said
    assert "resuming" not in said


def test_a_table_never_reuses_a_run_of_other_data(tmp_path, capsys) -> None:
    path = tmp_path / "runs" / "dysan-quick"
    argv = ("--epochs", "1", *DYSAN[2:])
    ensure_run(RunRecipe("train.dysan", path, ("--data", D6, *argv)))
    ensure_run(RunRecipe("train.dysan", path, ("--data", D6, *argv)))  # the same: reused
    assert "already complete" in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="failed"):
        ensure_run(RunRecipe("train.dysan", path, ("--data", D4, *argv)))
    err = capsys.readouterr().err
    assert "task.dataset" in err and "--fresh" in err
