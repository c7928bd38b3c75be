"""Evaluate a trained run: restore its checkpoint as named transforms, attack and measure
every one of them (raw data included as the reference), and write a report.

    python -m eval.harness --run runs/dysan-quick [--data SPEC] [--splits subject,trial]
        [--test-data SPEC] [--folds K]
        [--evaluators utility,privacy,distortion,dtw,online] [--preset quick|full]
        [--attackers staged|all|cheap] [--strong-transforms N] [--execution auto|vmap|sequential]

Writes ``<run>/report/`` (or ``--out``): ``metrics.json``, ``report.md``, PNG
figures and ``record.json`` (the metrics with the command, commit, machine and load:
``jaxpriv.records``), and prints the headline table.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from eval.attack_plan import PLANS
from eval.attackers import EXECUTIONS
from eval.config import PRESETS
from eval.context import EvalContext
from eval.evaluators import EVALUATORS
from eval.generated import SAMPLERS, evaluate_run, run_method
from eval.generators import GEN_EVALUATORS
from eval.generators import PRESETS as GEN_PRESETS
from eval.report import write_report
from eval.report_markdown import HEADLINE_COLUMNS
from eval.splits import (
    DEFAULT_FOLDS,
    MIN_TEST_USERS,
    THREATS,
    build_cross_split,
    build_kfold_split,
    build_split,
    dataset_store,
)
from eval.transforms import load_transforms
from jaxpriv.checkpoint import CheckpointError
from jaxpriv.data.dataset import DataFormatError
from jaxpriv.data.load import load_dataset, load_from_description
from jaxpriv.records import load_average, write_record
from jaxpriv.run_io import format_table, recorded_test_data


def _names(text: str, known: dict | tuple, what: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise ValueError(f"--{what}: unknown {unknown or text!r}; choose from {list(known)}")
    return names


def _test_data(args: argparse.Namespace, run: Path) -> dict | None:
    """``--test-data`` (with its subjects and rate), else the one the trainer recorded."""
    if args.test_data:
        return {"spec": args.test_data, "subjects": args.test_subjects, "rate_hz": args.test_rate}
    recorded = recorded_test_data(run)
    if recorded:
        print(f"the run's --test-data: {recorded['spec']} (the cross split)", file=sys.stderr)
    return recorded


def _too_few(split) -> bool:
    return len(split.test_users()) < MIN_TEST_USERS


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.harness",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--run", required=True, help="a training run folder (holding checkpoints/)")
    p.add_argument("--step", type=int, help="checkpoint step (default: the latest)")
    p.add_argument(
        "--data",
        help="dataset spec (default: the data the run was trained on, from its checkpoint)",
    )
    p.add_argument("--subjects", help="subjects table (recordings CSV, MotionSense)")
    p.add_argument("--rate", type=float, help="sampling rate when the CSV has no time column")
    p.add_argument(
        "--test-data",
        help="another dataset to release and attack (the 'cross' split): attackers learn "
        "from the run's data, and are tested on this one's users, cut with the run's task "
        "(default: the trainer's --test-data, when the run was given one)",
    )
    p.add_argument("--test-subjects", help="--test-data's subjects table")
    p.add_argument("--test-rate", type=float, help="--test-data's rate when it has no time column")
    p.add_argument(
        "--splits",
        default="subject,trial",
        help=f"comma list of {list(THREATS)}: subject = held-out users; kfold = every user "
        "held out once (added when the subject split has fewer than "
        f"{MIN_TEST_USERS} held-out users); trial/time = held-out data of known users "
        "(default: subject,trial)",
    )
    p.add_argument(
        "--folds",
        type=int,
        default=DEFAULT_FOLDS,
        help=f"user k-fold: the number of folds (default {DEFAULT_FOLDS}; at most one per user)",
    )
    p.add_argument(
        "--evaluators",
        default=",".join(EVALUATORS),
        help=f"comma list of {list(EVALUATORS)} (default: all)",
    )
    p.add_argument("--preset", default="quick", choices=sorted(PRESETS), help="attacker sizes")
    p.add_argument(
        "--attackers",
        default="staged",
        choices=PLANS,
        help="where the strong attacker family is trained: staged (default: raw data, the "
        "transforms near the cheap attackers' privacy-utility front, the online policies' "
        "sanitizers), all (every transform) or cheap (none: CNN and random forest only)",
    )
    p.add_argument(
        "--strong-transforms",
        type=int,
        help="staged: the number of released transforms nearest the front to attack with the "
        "strong family (default: every one within the preset's front_margin of the front)",
    )
    p.add_argument(
        "--execution",
        default="auto",
        choices=EXECUTIONS,
        help="network attackers: vmapped over transforms or one by one (auto: one by one on "
        "CPU, vmapped on accelerators; benchmarks/eval_attackers.py)",
    )
    p.add_argument("--out", help="report folder (default: <run>/report)")
    p.add_argument("--seed", type=int, default=0)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    started = time.perf_counter()
    command = ["python3", "-m", "eval.harness", *(sys.argv[1:] if argv is None else argv)]
    load_at_start = load_average()
    run = Path(args.run)
    try:
        if not (run / "checkpoints").is_dir():
            raise CheckpointError(f"{run}: no checkpoints/ folder; is this a training run folder?")
        method = run_method(run)
        if method in SAMPLERS:
            return _evaluate_generator(run, method, args, command, load_at_start)
        splits = _names(args.splits, THREATS, "splits")
        evaluators = _names(args.evaluators, EVALUATORS, "evaluators")
        transforms = load_transforms(run, step=args.step)
        if args.data:
            ds = load_dataset(args.data, subjects=args.subjects, rate_hz=args.rate, progress=True)
        else:
            ds = load_from_description(transforms.data)
        print(
            f"evaluating {run}: {len(transforms) - 1} {transforms.method} variants + raw on "
            f"{ds.name}, splits {splits}, evaluators {evaluators}, preset {args.preset}",
            file=sys.stderr,
        )
        built = {}
        store = None  # every window of ds released once, shared by its splits
        for kind in splits:
            print(f"[split {kind}] windowing and releasing ({THREATS[kind]})", file=sys.stderr)
            if kind != "time" and store is None:
                store = dataset_store(ds, transforms, seed=args.seed)
            if kind == "kfold":
                built[kind] = build_kfold_split(
                    ds, transforms, folds=args.folds, seed=args.seed, store=store
                )
            else:
                built[kind] = build_split(ds, transforms, kind, seed=args.seed, store=store)
            for w in built[kind].warnings:
                print(f"  warning: {w}", file=sys.stderr)
            if kind == "subject" and "kfold" not in splits and _too_few(built[kind]):
                splits.append("kfold")  # judged where the population can support a figure
                print(
                    f"  {len(built[kind].test_users())} held-out users: adding the user "
                    f"k-fold split ({args.folds} folds) so every user is held out once",
                    file=sys.stderr,
                )
        test_ds = None
        test_data = _test_data(args, run)
        if test_data:
            test_ds = load_dataset(
                test_data["spec"], subjects=test_data.get("subjects"),
                rate_hz=test_data.get("rate_hz"), progress=True,
            )  # fmt: skip
            print(f"[split cross] trained on {ds.name}, tested on {test_ds.name}", file=sys.stderr)
            built["cross"] = build_cross_split(ds, test_ds, transforms, seed=args.seed)
            for w in built["cross"].warnings:
                print(f"  warning: {w}", file=sys.stderr)
    except (CheckpointError, DataFormatError, ValueError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    ctx = EvalContext(
        transforms=transforms,
        splits=built,
        config=dataclasses.replace(
            PRESETS[args.preset],
            attackers=args.attackers,
            strong_transforms=args.strong_transforms,
            execution=args.execution,
        ),
        rate_hz=ds.rate_hz,
        seed=args.seed,
        started=started,
    )
    ctx.plan_attacks(set(evaluators))
    results = {}
    for i, name in enumerate(evaluators, 1):
        print(f"[{i}/{len(evaluators)}] {name}", file=sys.stderr)
        results[name] = EVALUATORS[name](ctx)
    out = Path(args.out) if args.out else run / "report"
    summary = write_report(
        ctx,
        results,
        out,
        run_info={
            "run": str(run),
            "data": ds.name
            if test_ds is None
            else f"{ds.name}; cross split tested on "
            f"{test_ds.name} ({len(test_ds.subject_ids)} users)",
            "data_description": ds.description,
            **({"test_data_description": test_ds.description} if test_ds else {}),
            "preset": args.preset,
            "elapsed_s": time.perf_counter() - started,
        },
    )
    write_record(out / "record.json", summary, command=command, load_at_start=load_at_start)
    print(format_table(summary["headline"], list(HEADLINE_COLUMNS)))
    for target, t in summary["targets"].items():
        print(f"target {t['verdict']}: {target}")
    for line in results.get("privacy", {}).get("warnings", []):
        print(f"warning: {line}")
    print(f"report: {out / 'report.md'} ({(time.perf_counter() - started) / 60:.1f} min)")
    return 0


def _evaluate_generator(
    run: Path, method: str, args: argparse.Namespace, command: list[str], load_at_start
) -> int:
    """Generator runs: real vs generated windows, by the generator evaluators."""
    names = None
    if args.evaluators != ",".join(EVALUATORS):  # the default means "all of them"
        names = _names(args.evaluators, GEN_EVALUATORS, "evaluators")
    preset = args.preset if args.preset in GEN_PRESETS else "quick"
    ds = None
    if args.data:
        ds = load_dataset(args.data, subjects=args.subjects, rate_hz=args.rate, progress=True)
    out = Path(args.out) if args.out else run / "report"
    summary = evaluate_run(
        run, method, ds=ds, preset=preset, evaluators=names, out=out, seed=args.seed
    )
    write_record(out / "record.json", summary, command=command, load_at_start=load_at_start)
    print(f"report: {out / 'report.md'} ({summary['elapsed_s'] / 60:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
