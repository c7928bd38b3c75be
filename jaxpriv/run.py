"""The one run driver every trainer uses.

A trainer parses its flags, builds the task, the config and the grid, and hands
the method's pure functions to :func:`drive` as a :class:`Plan`. The driver owns
everything around them: the run's identity (refusing to resume or reuse a folder
trained on something else), ``--fresh``, resume, the save cadence, progress
(tqdm on a terminal, one plain line per chunk otherwise), Ctrl-C (exit 130 with
the command that resumes), checkpoint errors (exit 2 with the message), the
per-unit history (``metrics.json`` and every checkpoint's metadata) and the
summary files (``summary.json`` and ``summary.md``, written last and atomically,
so a folder with a ``summary.json`` of the same fingerprint is a finished run).

Methods never print: they return values, or report through ``Plan.log``.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TextIO

import jax
import numpy as np

from jaxpriv.checkpoint import Checkpointer, CheckpointError, with_sharding
from jaxpriv.identity import describe_differences, run_identity
from jaxpriv.progress import Progress
from jaxpriv.records import versions
from jaxpriv.run_io import write_json_atomic, write_text_atomic

PyTree = Any
Record = dict[str, Any]
# What --fresh removes besides the checkpoints: the outputs the driver writes.
RUN_OUTPUTS = ("summary.json", "summary.md", "metrics.json")
EXIT_INTERRUPTED, EXIT_ERROR = 130, 2


@dataclasses.dataclass(frozen=True)
class Chunk:
    """``n`` units of training done in one call (one checkpoint at its end)."""

    n: int
    phase: str = ""  # shown in the progress line (e.g. GEN's "guardian")


@dataclasses.dataclass(frozen=True)
class Summary:
    """What a finished run writes: ``summary.json`` (``data``), ``summary.md``
    (``markdown``), and the text printed at the end (``console``)."""

    data: Mapping[str, Any]
    markdown: str
    console: str = ""


@dataclasses.dataclass(frozen=True)
class Plan:
    """A method's training, as the driver sees it.

    Args:
        init: ``hp -> state``, the batched initial state (sweep-jitted).
        advance: ``(state, chunk) -> (state, records)``; one history record per unit
            (each value a list over the real variants).
        position: units already done in ``state`` (e.g. its epoch counter).
        chunks: ``(position, save_every) -> chunks`` left to run.
        total: the units of a complete run (for progress; 0 when unknown).
        unit: the name of a unit ("epoch", "round").
        show: record keys shown in progress as median [min-max] over variants, or
            such keys per phase.
        work_per_unit: items one variant processes per unit (for the rate), 0 to omit.
        work_name: what those items are ("windows", "steps").
        start: ``state -> (state, records)`` run once on a fresh state and saved as
            step 0 (MSDA's pretraining); ``None`` when training starts at once.
        finished: ``state -> bool``, true when every variant stopped early.
    """

    init: Callable[[PyTree], PyTree]
    advance: Callable[[PyTree, Chunk], tuple[PyTree, list[Record]]]
    position: Callable[[PyTree], int]
    chunks: Callable[[int, int], Iterable[Chunk]]
    total: int
    unit: str = "epoch"
    show: Sequence[str] | Mapping[str, Sequence[str]] = ()
    work_per_unit: float = 0.0
    work_name: str = "windows"
    start: Callable[[PyTree], tuple[PyTree, list[Record]]] | None = None
    finished: Callable[[PyTree], bool] | None = None

    @classmethod
    def by_epochs(
        cls,
        init: Callable[[PyTree], PyTree],
        advance: Callable[[PyTree, Chunk], tuple[PyTree, list[Record]]],
        epochs: int,
        **kwargs: Any,
    ) -> Plan:
        """The usual plan: ``epochs`` epochs counted in ``state["epoch"]``, saved every
        ``--save-every`` of them."""
        return cls(init=init, advance=advance, position=epoch_counter,
                   chunks=fixed_chunks(epochs), total=epochs, **kwargs)  # fmt: skip


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """Where and what: the run folder, its metadata (with the identity) and the grid."""

    out: Path
    meta: dict[str, Any]
    names: Sequence[str]  # one per real variant
    hp: PyTree  # stacked, padded and sharded
    sharding: jax.sharding.Sharding
    command: str  # the command that resumes this run
    fresh: bool = False
    save_every: int = 1


def epoch_counter(state: PyTree) -> int:
    """The usual ``Plan.position``: the (shared) epoch counter of a batched state."""
    return int(np.asarray(state["epoch"])[0])


def fixed_chunks(total: int) -> Callable[[int, int], list[Chunk]]:
    """The usual ``Plan.chunks``: ``save_every`` units at a time up to ``total``."""

    def chunks(position: int, save_every: int) -> list[Chunk]:
        out, at = [], position
        while at < total:
            n = min(save_every, total - at)
            out.append(Chunk(n))
            at += n
        return out

    return chunks


def per_unit_records(
    metrics: Mapping[str, Any],
    num_variants: int,
    first: int,
    *,
    keys: Sequence[str] | None = None,
    unit: str = "epoch",
    extra: Mapping[str, Any] | None = None,
) -> list[Record]:
    """History records from metrics of shape ``(padded variants, n units)``: record ``j``
    is ``{unit: first + j, **extra, key: [value per variant]}`` for those of ``keys`` the
    metrics have (all but ``alive`` by default)."""
    arrays = {k: np.asarray(v)[:num_variants] for k, v in metrics.items()}
    keys = [k for k in arrays if k != "alive"] if keys is None else [k for k in keys if k in arrays]
    n = next(iter(arrays.values())).shape[1]
    return [
        {unit: first + j, **(extra or {})} | {k: arrays[k][:, j].tolist() for k in keys}
        for j in range(n)
    ]


def epoch_advance(
    run_chunk: Callable[[PyTree, int], tuple[PyTree, Mapping[str, Any]]],
    num_variants: int,
    *,
    keys: Sequence[str] | None = None,
    last: Callable[[PyTree], Mapping[str, Any]] | None = None,
) -> Callable[[PyTree, Chunk], tuple[PyTree, list[Record]]]:
    """The usual ``Plan.advance`` of a method trained by epochs: ``run_chunk(state, n)``
    runs ``n`` epochs and returns metrics of shape ``(padded variants, n)``; the records
    are those of :func:`per_unit_records` (with the chunk's phase), and ``last(state)``
    adds what is measured once per chunk (e.g. a held-out NLL) to the last one."""

    def advance(state: PyTree, chunk: Chunk) -> tuple[PyTree, list[Record]]:
        first = epoch_counter(state) + 1
        state, metrics = run_chunk(state, chunk)
        extra = {"phase": chunk.phase} if chunk.phase else None
        records = per_unit_records(metrics, num_variants, first, keys=keys, extra=extra)
        if last is not None:
            records[-1].update(last(state))
        return state, records

    return advance


def run_metadata(
    *,
    method: str,
    task: Mapping[str, Any],
    config: Any,
    grid: Sequence[Mapping[str, Any]],
    resumable: Sequence[str] = (),
    identifying: Sequence[str] = (),
    **extra: Any,
) -> dict[str, Any]:
    """The JSON metadata every checkpoint of a run holds: method, task, config, grid,
    library versions, anything in ``extra``, and the run's identity and fingerprint
    (``resumable``: config fields that may change between resumes, e.g. ``epochs``;
    ``identifying``: keys of ``extra`` that are part of the identity, e.g. RAE's roles)."""
    cfg = dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config)
    more = {k: extra[k] for k in identifying}
    identity, fingerprint = run_identity(method, task, cfg, grid, resumable=resumable, **more)
    meta = {
        "method": method,
        "config": cfg,
        "grid": [dict(v) for v in grid],
        "task": dict(task),
        **extra,
        "identity": identity,
        "fingerprint": fingerprint,
        "versions": versions(),
    }
    return json.loads(json.dumps(meta))  # fail now, before anything is saved, if not JSON


def drive(
    plan: Plan,
    spec: RunSpec,
    finish: Callable[[PyTree, list[Record], float], Summary],
    *,
    stream: TextIO | None = None,
) -> int:
    """Train ``plan`` into ``spec.out`` (resuming what is there), then write the summary
    that ``finish(state, history, train_seconds)`` returns. Returns the exit status:
    0, 2 (a checkpoint or identity error, printed) or 130 (interrupted)."""
    stream = stream or sys.stdout
    out, meta = spec.out, spec.meta
    try:
        if spec.save_every < 1:
            raise ValueError(f"--save-every must be >= 1, got {spec.save_every}")
        if spec.fresh:
            _start_over(out, stream)
        elif _already_finished(out, meta, plan):
            print(f"{out}: this run is already complete (same fingerprint); nothing to do")
            return 0
        state, history, seconds = _train(plan, spec, stream)
        final_step = plan.position(state)
    except KeyboardInterrupt:
        print(f"\ninterrupted; to resume, run the same command again:\n  {spec.command}")
        return EXIT_INTERRUPTED
    except (CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_ERROR
    summary = finish(state, history, seconds)
    data = {
        "run": str(out),
        "method": meta["method"],
        "fingerprint": meta["fingerprint"],
        "identity": meta["identity"],
        "planned": plan.total,
        "final_step": final_step,
        **summary.data,
        "train_seconds": round(seconds, 1),
        "devices": [str(d) for d in jax.devices()],
    }
    write_json_atomic(out / "summary.json", data)
    write_text_atomic(out / "summary.md", summary.markdown)
    if summary.console:
        print(summary.console)
    print(f"written to {out}/summary.json, summary.md, metrics.json; checkpoints in "
          f"{out / 'checkpoints'}")  # fmt: skip
    return 0


def _train(plan: Plan, spec: RunSpec, stream: TextIO) -> tuple[PyTree, list[Record], float]:
    ckpt = Checkpointer(spec.out / "checkpoints", keep=2)
    t_start = time.time()
    try:
        state, history = _resume(ckpt, plan, spec)
        if state is None:
            state, history = plan.init(spec.hp), []
            if plan.start is not None:
                state, records = plan.start(state)
                history += records
                _save(ckpt, 0, state, spec, history)
        progress = Progress(plan, spec.names, plan.position(state), stream)
        for chunk in plan.chunks(plan.position(state), spec.save_every):
            if plan.finished is not None and plan.finished(state):
                break
            t0 = time.time()
            state, records = plan.advance(state, chunk)
            jax.block_until_ready(state)
            history += records
            position = plan.position(state)
            _save(ckpt, position, state, spec, history)
            progress.update(chunk, position, time.time() - t0, records, state)
        progress.close()
        ckpt.wait()
    finally:
        ckpt.close()
    return state, history, time.time() - t_start


def _save(ckpt: Checkpointer, step: int, state: PyTree, spec: RunSpec, history: list) -> None:
    ckpt.save(step, state, spec.meta | {"step": step, "history": history}, force=True)
    write_json_atomic(spec.out / "metrics.json", {"variants": list(spec.names), "history": history})


def _resume(ckpt: Checkpointer, plan: Plan, spec: RunSpec) -> tuple[PyTree | None, list]:
    """The saved ``(state, history)``, or ``(None, [])`` when there is nothing to resume.
    A run of another identity is refused, naming what differs."""
    if ckpt.latest_step() is None:
        return None, []
    saved = ckpt.restore_meta()
    check_identity(saved, spec.meta, spec.out)
    template = with_sharding(jax.eval_shape(plan.init, spec.hp), spec.sharding)
    state, saved = ckpt.restore(template)
    print(f"resuming from {ckpt.directory} at {plan.unit} {plan.position(state)}")
    return state, list(saved.get("history", []))


def check_identity(saved: Mapping[str, Any], wanted: Mapping[str, Any], out: Path) -> None:
    """Raise ``CheckpointError`` unless ``saved`` (a run's metadata or summary) has the
    fingerprint of ``wanted``; the message names the differing fields."""
    if saved.get("fingerprint") == wanted["fingerprint"]:
        return
    if "identity" not in saved:
        what = "an older jaxpriv that recorded no run fingerprint"
    else:
        what = "a different " + "; ".join(
            describe_differences(saved["identity"], wanted["identity"])
        )
    raise CheckpointError(
        f"{out}: the run there was made with {what}. Use another --out, or --fresh to overwrite it"
    )


def _already_finished(out: Path, meta: Mapping[str, Any], plan: Plan) -> bool:
    """True when ``out`` holds a complete run of this identity: its summary (written
    last) has the fingerprint, the planned length and the latest checkpoint's step. A
    summary of another identity raises, as a checkpoint of one would."""
    path = out / "summary.json"
    if not path.is_file():
        return False
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise CheckpointError(f"{path}: unreadable ({err}); --fresh overwrites it") from err
    check_identity(summary, meta, out)
    if summary.get("planned") != plan.total:  # more epochs (rounds) asked: go on
        return False
    folder = out / "checkpoints"
    if not folder.is_dir():
        return False
    with Checkpointer(folder, read_only=True) as ckpt:
        return ckpt.latest_step() == summary.get("final_step")


def _start_over(out: Path, stream: TextIO) -> None:
    """``--fresh``: remove an earlier run's checkpoints and outputs from ``out`` (only
    those; anything else in the folder stays)."""
    removed = []
    folder = out / "checkpoints"
    if folder.is_dir():
        Checkpointer(folder, read_only=True).close()  # a checkpoint folder, not anything
        shutil.rmtree(folder)
        removed.append("checkpoints")
    for name in RUN_OUTPUTS:
        if (out / name).is_file():
            (out / name).unlink()
            removed.append(name)
    if removed:
        print(f"--fresh: removed the earlier run's {', '.join(removed)} from {out}")
