"""What the paper-table commands share: train the runs that are missing, then measure
chosen attackers over several seeds on the same released windows.

Every run is made through its trainer with the same folder: the run driver
reuses a finished run of the same fingerprint (task, config, grid, version),
resumes an unfinished one, and refuses a folder trained on anything else, so a
table never measures a stale run made on other data. Measurements reuse
:class:`eval.context.EvalContext`, so a table's numbers are exactly the harness's.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from eval.context import EvalContext
from eval.splits import (
    DEFAULT_FOLDS,
    MIN_TEST_USERS,
    EvalSplit,
    build_kfold_split,
    build_split,
    dataset_store,
)
from eval.transforms import TransformSet
from jaxpriv import metrics
from jaxpriv.data.dataset import Dataset


@dataclasses.dataclass(frozen=True)
class RunRecipe:
    """How to make one run: ``python -m <trainer> <argv> --out <path>``."""

    trainer: str  # module with ``main(argv) -> int``, e.g. "train.msda"
    path: Path
    argv: tuple[str, ...] = ()

    def command(self) -> str:
        return " ".join(["python -m", self.trainer, *self.argv, "--out", str(self.path)])


def table_parser(
    prog: str, doc: str | None, *, seeds: int, eval_presets: Sequence[str]
) -> argparse.ArgumentParser:
    """The flags every table command shares: the data and task (passed on to the
    trainers), the preset, attacker seeds, the harness preset and the folders."""
    p = argparse.ArgumentParser(
        prog=f"python -m {prog}", description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )  # fmt: skip
    p.add_argument("--data", default="embedded", help="dataset spec (default: embedded)")
    p.add_argument("--subjects", help="subjects table (recordings CSV, MotionSense)")
    p.add_argument("--rate", type=float, help="sampling rate when the CSV has no time column")
    p.add_argument("--activities", help="the task's activities, or DATA=TASK mappings")
    p.add_argument("--channels", help="the task's channels (names, globs, magnitudes, presets)")
    p.add_argument("--preset", default="quick", help="the trainers' preset (quick|paper)")
    p.add_argument("--seeds", type=int, default=seeds, help="attacker seeds (mean over them)")
    p.add_argument("--eval-preset", default="quick", choices=sorted(eval_presets))
    p.add_argument(
        "--folds",
        type=int,
        help="held-out users by user k-fold with this many folds (every user held out once; "
        f"default: the subject split, or {DEFAULT_FOLDS} folds when it holds out fewer than "
        f"{MIN_TEST_USERS} users)",
    )
    p.add_argument("--runs", default="runs", help="folder of the trained runs")
    p.add_argument("--out", help=f"report folder (default: <runs>/{prog.split('.')[-1]}-<preset>)")
    return p


def data_argv(args: argparse.Namespace) -> tuple[str, ...]:
    """The table's data and task flags, as the trainers take them."""
    flags = ("data", "subjects", "rate", "activities", "channels")
    pairs = [(f"--{f}", str(getattr(args, f))) for f in flags if getattr(args, f) is not None]
    return tuple(x for pair in pairs for x in pair)


def ensure_run(recipe: RunRecipe) -> Path:
    """Make ``recipe``'s run: reused when complete with the same fingerprint, resumed or
    trained otherwise; raise if the trainer fails or the folder holds another run."""
    print(f"[run] {recipe.path}: {recipe.command()}", file=sys.stderr)
    main = importlib.import_module(recipe.trainer).main
    try:
        code = main([*recipe.argv, "--out", str(recipe.path)])
    except SystemExit as exit_:  # argparse rejects its arguments this way
        code = exit_.code
    if code not in (0, None) or not (recipe.path / "summary.json").is_file():
        raise RuntimeError(
            f"{recipe.command()} failed (exit {code}); see its output above (a folder that "
            "holds a run of other data or settings: give another --runs folder)"
        )
    return recipe.path


def build_splits(
    ds: Dataset, transforms: TransformSet, kinds: Sequence[str]
) -> dict[str, EvalSplit]:
    """The harness's splits of ``ds`` for ``transforms``, released once for every seed."""
    splits, store = {}, dataset_store(ds, transforms, seed=0)
    for kind in kinds:
        splits[kind] = build_split(ds, transforms, kind, seed=0, store=store)
        for warning in splits[kind].warnings:
            print(f"  warning ({transforms.method}, {kind}): {warning}", file=sys.stderr)
    return splits


def held_out_users_split(
    ds: Dataset, transforms: TransformSet, folds: int | None
) -> tuple[str, EvalSplit]:
    """``(name, split)`` where a table measures held-out users: the user k-fold with
    ``folds`` folds when given, else the subject split, or the k-fold with
    :data:`~eval.splits.DEFAULT_FOLDS` folds when the subject split holds out fewer than
    :data:`~eval.splits.MIN_TEST_USERS` users (too few for a figure)."""
    store = dataset_store(ds, transforms, seed=0)
    if folds is None:
        subject = build_split(ds, transforms, "subject", seed=0, store=store)
        if len(subject.test_users()) >= MIN_TEST_USERS:
            return "subject", subject
        print(
            f"  {transforms.method}: {len(subject.test_users())} held-out users: the user "
            f"k-fold ({DEFAULT_FOLDS} folds) measures held-out users instead",
            file=sys.stderr,
        )
        folds = DEFAULT_FOLDS
    split = build_kfold_split(ds, transforms, folds=folds, seed=0, store=store)
    for warning in split.warnings:
        print(f"  warning ({transforms.method}, kfold): {warning}", file=sys.stderr)
    return "kfold", split


def attack_scores(
    ctx: EvalContext, split: str, task: str, mode: str, family: str = "cnn"
) -> dict[str, dict[str, float]]:
    """Accuracy and macro-F1 of one attacker set on every transform, keyed by name."""
    s = ctx.splits[split]
    y, valid, k = s.labels(task, "test")
    pred = ctx.predictions(split, task, family, mode)
    out = {}
    for v, name in enumerate(ctx.transforms.names):
        m = metrics.classification_metrics(y[valid], pred[v][valid], k)
        out[name] = {"accuracy": float(m["accuracy"]), "macro_f1": float(m["macro_f1"])}
    return out


def mean_var(values: Sequence[float]) -> dict[str, Any]:
    """``mean``, ``var`` (population, as MSDA reports) and the values, over seeds."""
    arr = np.asarray(values, np.float64)
    return {"mean": float(arr.mean()), "var": float(arr.var()), "values": arr.tolist()}
