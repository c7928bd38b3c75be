"""The run driver on a toy method: resume, --fresh, Ctrl-C, identity, save cadence,
progress and summaries (the trainers' own runs through it are in test_trainers_run.py)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxpriv.checkpoint import Checkpointer
from jaxpriv.identity import describe_differences, run_identity
from jaxpriv.run import (
    Chunk,
    Plan,
    RunSpec,
    Summary,
    drive,
    epoch_counter,
    fixed_chunks,
    per_unit_records,
    run_metadata,
)

NAMES = ("a", "b")
HP = {"rate": jnp.asarray([0.5, 2.0], jnp.float32)}
SHARDING = jax.sharding.SingleDeviceSharding(jax.devices()[0])


def toy_plan(total: int = 4, *, on_advance=None) -> Plan:
    """Each epoch adds the variant's rate to ``w``: the state after n epochs is known."""

    def init(hp):
        return {"w": jnp.zeros(2), "epoch": jnp.zeros(2, jnp.int32), "alive": jnp.ones(2, bool)}

    def advance(state, chunk: Chunk):
        if on_advance is not None:
            on_advance(state)
        first = epoch_counter(state) + 1
        losses = []
        for _ in range(chunk.n):
            state = {**state, "w": state["w"] + HP["rate"], "epoch": state["epoch"] + 1}
            losses.append(state["w"])
        return state, per_unit_records({"loss": jnp.stack(losses, 1)}, 2, first)

    return Plan(
        init=init,
        advance=advance,
        position=epoch_counter,
        chunks=fixed_chunks(total),
        total=total,
        show=("loss",),
        work_per_unit=10,
    )


def toy_spec(out: Path, *, total: int = 4, data: str = "d1", **kw) -> RunSpec:
    meta = run_metadata(
        method="toy", task={"data": data}, config={"epochs": total, "width": 3},
        grid=[{"rate": 0.5}, {"rate": 2.0}], resumable=("epochs",),
    )  # fmt: skip
    return RunSpec(out=out, meta=meta, names=NAMES, hp=HP, sharding=SHARDING,
                   command="python -m train.toy --out x", **kw)  # fmt: skip


def finish(state, history, seconds) -> Summary:
    return Summary(data={"w": np.asarray(state["w"]).tolist()}, markdown="# toy\n")


def steps(out: Path) -> list[int]:
    with Checkpointer(out / "checkpoints", read_only=True) as ckpt:
        return ckpt.all_steps()


def test_a_run_writes_history_checkpoints_and_a_summary(tmp_path) -> None:
    out = tmp_path / "run"
    stream = io.StringIO()
    assert drive(toy_plan(), toy_spec(out, save_every=3), finish, stream=stream) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["w"] == [2.0, 8.0]
    assert summary["method"] == "toy" and summary["planned"] == 4 and summary["final_step"] == 4
    assert summary["fingerprint"] == toy_spec(out).meta["fingerprint"]
    assert steps(out) == [3, 4]  # chunks of --save-every, the last one shorter
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    assert history[-1]["loss"] == [2.0, 8.0]
    lines = stream.getvalue().splitlines()  # not a terminal: one plain line per chunk
    assert len(lines) == 2 and lines[0].startswith("epoch 3/4")
    assert "loss a 1.500, b 6.000" in lines[0] and "windows/s" in lines[0]


def test_an_interrupted_run_resumes_to_the_uninterrupted_result(tmp_path, capsys) -> None:
    out = tmp_path / "run"

    def stop_at_epoch_2(state):
        if epoch_counter(state) == 2:
            raise KeyboardInterrupt

    code = drive(toy_plan(on_advance=stop_at_epoch_2), toy_spec(out), finish, stream=io.StringIO())
    assert code == 130
    said = capsys.readouterr().out
    assert "to resume, run the same command again" in said
    assert "python -m train.toy --out x" in said
    assert steps(out)[-1] == 2 and not (out / "summary.json").exists()
    assert drive(toy_plan(), toy_spec(out), finish, stream=io.StringIO()) == 0
    assert "resuming from" in capsys.readouterr().out
    assert json.loads((out / "summary.json").read_text())["w"] == [2.0, 8.0]
    history = json.loads((out / "metrics.json").read_text())["history"]
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]


def test_a_complete_run_is_reused_and_more_epochs_continue_it(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert drive(toy_plan(), toy_spec(out), finish, stream=io.StringIO()) == 0
    capsys.readouterr()
    calls = []
    assert drive(toy_plan(on_advance=calls.append), toy_spec(out), finish) == 0
    assert "already complete" in capsys.readouterr().out and calls == []
    # epochs is resumable: 6 continues the same run from epoch 4
    assert drive(toy_plan(6), toy_spec(out, total=6), finish, stream=io.StringIO()) == 0
    assert json.loads((out / "summary.json").read_text())["w"] == [3.0, 12.0]
    assert steps(out)[-1] == 6


def test_a_folder_of_another_run_is_refused_naming_the_field(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert drive(toy_plan(), toy_spec(out), finish, stream=io.StringIO()) == 0
    capsys.readouterr()
    assert drive(toy_plan(), toy_spec(out, data="d2"), finish) == 2
    err = capsys.readouterr().err
    assert 'task.data (saved "d1", now "d2")' in err and "--fresh" in err
    # an unfinished run of other data is refused the same way (its checkpoints)
    (out / "summary.json").unlink()
    assert drive(toy_plan(), toy_spec(out, data="d2"), finish) == 2
    assert "task.data" in capsys.readouterr().err


def test_fresh_starts_over_on_a_finished_run_of_other_data(tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert drive(toy_plan(), toy_spec(out, save_every=1), finish, stream=io.StringIO()) == 0
    (out / "notes.txt").write_text("mine")
    spec = toy_spec(out, data="d2", fresh=True, save_every=2)
    assert drive(toy_plan(), spec, finish, stream=io.StringIO()) == 0
    assert "--fresh: removed the earlier run's checkpoints, summary.json" in capsys.readouterr().out
    assert steps(out) == [2, 4]  # the old steps 1..4 are gone, not in the way of step 2
    assert json.loads((out / "summary.json").read_text())["fingerprint"] == spec.meta["fingerprint"]
    assert (out / "notes.txt").read_text() == "mine"  # only the run's own files go


def test_a_bad_save_every_is_an_error_not_a_traceback(tmp_path, capsys) -> None:
    assert drive(toy_plan(), toy_spec(tmp_path / "r", save_every=0), finish) == 2
    assert "--save-every must be >= 1" in capsys.readouterr().err


def test_the_fingerprint_ignores_resumable_fields_and_names_differences() -> None:
    ident, fp = run_identity(
        "m", {"t": 1}, {"epochs": 2, "w": 1}, [{"a": 1}], resumable=("epochs",)
    )
    _, same = run_identity("m", {"t": 1}, {"epochs": 9, "w": 1}, [{"a": 1}], resumable=("epochs",))
    other, fp2 = run_identity("m", {"t": 1}, {"epochs": 2, "w": 2}, [{"a": 1}])
    assert fp == same and fp != fp2
    assert "epochs" not in ident["config"]
    assert describe_differences(ident, other) == ["config.epochs (not in the saved run, now 2)",
                                                  "config.w (saved 1, now 2)"]  # fmt: skip


def test_per_unit_records_drop_padding_and_missing_keys() -> None:
    metrics = {"loss": np.arange(6.0).reshape(3, 2), "alive": np.ones((3, 2), bool)}
    records = per_unit_records(metrics, 2, 5, keys=("loss", "absent"), extra={"phase": "p"})
    assert records == [
        {"epoch": 5, "phase": "p", "loss": [0.0, 2.0]},
        {"epoch": 6, "phase": "p", "loss": [1.0, 3.0]},
    ]
