"""Command-line trainers, one module per method (``python -m train.<method>``)."""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from jaxpriv.data.channels import CHANNEL_PRESETS, resolve_channel_spec
from jaxpriv.data.cross import describe_test_data, fit_test_data
from jaxpriv.data.dataset import Dataset
from jaxpriv.data.task import (
    LABELS,
    SPLITS,
    Task,
    TaskData,
    dataset_identity,
    parse_activity_spec,
)
from jaxpriv.run import RunSpec
from jaxpriv.run_io import record_test_data
from jaxpriv.sweep import VariantMesh, initialize_distributed


def run_parser(
    method: str,
    doc: str | None,
    presets: Iterable[str],
    *,
    split: str | None = None,
    test_data: bool = False,
) -> argparse.ArgumentParser:
    """A trainer's parser with the arguments every trainer shares: ``--data``,
    ``--subjects``, ``--rate``, ``--out`` (default ``runs/<method>-<preset>``), ``--preset``,
    the driver's flags, with a default ``split`` ``--split``, and with ``test_data`` (the
    privacy methods) ``--test-data``, ``--test-subjects`` and ``--test-rate``."""
    p = argparse.ArgumentParser(
        prog=f"python -m train.{method}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", default="embedded", help="dataset spec (default: embedded)")
    p.add_argument("--subjects", help="subjects table (recordings CSV, MotionSense)")
    p.add_argument("--rate", type=float, help="sampling rate when the CSV has no time column")
    p.add_argument("--out", default=None, help=f"run folder (default: runs/{method}-<preset>)")
    p.add_argument("--preset", default="quick", choices=sorted(presets))
    if split is not None:
        add_split_argument(p, split)
    add_task_arguments(p)
    if test_data:
        add_test_data_arguments(p)
    add_run_arguments(p)
    return p


def add_task_arguments(p: argparse.ArgumentParser) -> None:
    """``--activities`` and ``--channels``: the task's, when not the method's defaults."""
    p.add_argument(
        "--activities",
        help="the task's activities, each a name in the data or DATA=TASK to map the "
        "data's names (e.g. walking=wlk,jogging=jog); default: the method's",
    )
    p.add_argument(
        "--channels",
        help="channel names, globs ('acc_*'), magnitudes ('|acc|') or a preset "
        f"({', '.join(sorted(CHANNEL_PRESETS))}); default: the method's",
    )


def add_test_data_arguments(p: argparse.ArgumentParser) -> None:
    """``--test-data`` (with ``--test-subjects``, ``--test-rate``): the dataset the run will
    be released and attacked on, checked against the run's task before training."""
    p.add_argument(
        "--test-data",
        help="another dataset the run will be released and attacked on (eval.harness uses it "
        "by default): checked at start-up to fit the run's task (rate, activities, channels, "
        "units) and recorded in summary.json; it does not change training",
    )
    p.add_argument("--test-subjects", help="--test-data's subjects table")
    p.add_argument("--test-rate", type=float, help="--test-data's rate when it has no time column")


def add_split_argument(p: argparse.ArgumentParser, default: str) -> None:
    """``--split``: which data is held out (users, last trials, or the end of each recording)."""
    p.add_argument("--split", default=default, choices=SPLITS, help=f"default {default}")


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The run driver's flags: ``--save-every`` and ``--fresh``."""
    p.add_argument("--save-every", type=int, default=1, help="epochs (rounds) per checkpoint")
    p.add_argument(
        "--fresh",
        action="store_true",
        help="start over: remove the checkpoints and summaries of an earlier run in --out",
    )


def parse_command(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None
) -> tuple[list[str], argparse.Namespace]:
    """``(argv, args)``: the command line (``sys.argv`` when ``None``) parsed, after
    which multi-host runs are set up (:func:`jaxpriv.sweep.initialize_distributed`)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    initialize_distributed()
    return argv, args


def setup_error(err: Exception) -> int:
    """Say what is wrong with the command line or the data; the exit status 2."""
    print(f"error: {err}", file=sys.stderr)
    return 2


def task_from_args(args: argparse.Namespace, base: Task) -> Task:
    """``base`` (the method's default task) with the dataset flags, and ``--split``,
    ``--activities`` and ``--channels`` where the trainer has them."""
    changes: dict[str, Any] = {"data": args.data, "subjects": args.subjects, "rate_hz": args.rate}
    if getattr(args, "split", None):
        changes["split"] = args.split
    if getattr(args, "activities", None):
        changes["activities"], changes["activity_map"] = parse_activity_spec(args.activities)
    if getattr(args, "channels", None):
        changes["channels"] = resolve_channel_spec(args.channels)
    return dataclasses.replace(base, **changes)


def load_task(
    args: argparse.Namespace, base: Task, *, require: Sequence[str] = LABELS
) -> tuple[Task, Dataset, TaskData]:
    """The command line's task (``base`` with the dataset flags, fitted to the dataset's
    profile: :meth:`Task.fit_to`), its dataset, and the prepared windows (``require``:
    the labels the method uses)."""
    task = task_from_args(args, base)
    ds = task.load(progress=True)
    chosen = [name for name in ("activities", "channels") if getattr(args, name, None)]
    task, changes = task.fit_to(ds, fixed=chosen)
    for change in changes:
        print(f"task: {change}")
    return task, ds, task.prepare(ds, require=require)


def check_test_data(args: argparse.Namespace, task: Task, ds: Dataset) -> dict[str, Any] | None:
    """``--test-data``, loaded and checked against the run's ``task`` (fitted to ``ds``)
    before anything trains; prints its population and returns what the run records
    (:func:`jaxpriv.run_io.record_test_data`), or ``None`` without the flag. A dataset that
    cannot be cut with the task raises :class:`DataFormatError` naming it, the field and
    the flag (the trainer exits 2)."""
    spec = getattr(args, "test_data", None)
    if not spec:
        for flag in ("test_subjects", "test_rate"):
            if getattr(args, flag, None) is not None:
                raise ValueError(f"--{flag.replace('_', '-')} applies to --test-data, not given")
        return None
    from jaxpriv.data.load import load_dataset

    test_ds = load_dataset(spec, subjects=args.test_subjects, rate_hz=args.test_rate, progress=True)
    population = fit_test_data(task, ds, test_ds)
    print(f"test data (released and attacked on): {population.describe()}")
    return describe_test_data(spec, args.test_subjects, args.test_rate, population)


def finish_run(status: int, out: Path, test_data: dict[str, Any] | None) -> int:
    """A trainer's exit status, after recording ``test_data`` in ``out/summary.json``
    when the run is complete (also when it was already complete: the record does not
    change the run's identity)."""
    if status == 0 and test_data is not None:
        record_test_data(out, test_data)
        print(f"test data {test_data['name']} recorded in {out / 'summary.json'}")
    return status


def describe_windows(ds: Dataset, data: TaskData) -> str:
    """The line a trainer prints about its data."""
    return (
        f"data: {ds.name}, {len(data.train_windows)} training windows, "
        f"{len(data.test_windows)} held-out windows ({data.split} split, held-out users "
        f"{', '.join(data.test_subjects)})"
    )


def run_spec(
    args: argparse.Namespace,
    method: str,
    argv: Sequence[str],
    *,
    out: Path,
    meta: dict[str, Any],
    names: Sequence[str],
    vmesh: VariantMesh,
    hp: Any,
) -> RunSpec:
    """The driver's :class:`RunSpec` from a trainer's flags (``--fresh``, ``--save-every``)."""
    return RunSpec(
        out=out, meta=meta, names=names, hp=hp, sharding=vmesh.variant_sharding,
        command=resume_command(method, list(argv)), fresh=args.fresh,
        save_every=args.save_every,
    )  # fmt: skip


def task_identity(task: Task, ds: Dataset) -> dict[str, Any]:
    """The task part of a run's identity: the task less where its files are, plus what
    identifies the loaded data's content."""
    spec = {k: v for k, v in task.to_json().items() if k not in ("data", "subjects")}
    return spec | {"dataset": dataset_identity(ds.description)}


def resume_command(method: str, argv: list[str]) -> str:
    """The command line that runs (and so resumes) this trainer with ``argv``."""
    return shlex.join(["python", "-m", f"train.{method}", *argv])
