"""Compose trained runs into one transform, e.g. RAE then AAE: ``python -m eval.compound``.

    python -m eval.compound --stages runs/rae-quick runs/msda-quick \\
        [--variants NAME,NAME] --out runs/rae-aae

Nothing is trained (so this lives with the harness, which restores runs): each stage
(any method the evaluation harness can restore, compounds included) is restored, the
chosen variants' parameters are saved in one checkpoint in ``--out`` with the
stages' runs, methods and variant names, and the harness evaluates the run like any
other (``python -m eval.harness --run runs/rae-aae``). ``--variants`` gives one
entry per stage, a variant name or ``all``; the composed variants are every
combination (default: all of every stage, at most 64)."""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path
from typing import Any

import jax
import numpy as np

from eval.restorers.compound import (
    MAX_COMPOSED,
    METHOD,
    check_stages,
    select_variants,
    stage_hps,
)
from eval.transforms import TransformSet, load_transforms
from jaxpriv.checkpoint import Checkpointer, CheckpointError
from jaxpriv.run import run_metadata
from jaxpriv.run_io import format_table, write_json_atomic, write_text_atomic


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m eval.compound",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--stages", nargs="+", required=True, help="run folders, applied in order")
    p.add_argument(
        "--variants",
        help="comma list, one entry per stage: a variant name or 'all' (default: all)",
    )
    p.add_argument("--out", required=True, help="the compound's run folder")
    p.add_argument("--fresh", action="store_true", help="replace a compound already in --out")
    return p


def _stage_meta(run: Path) -> tuple[int, dict[str, Any]]:
    ckpt = Checkpointer(run / "checkpoints", read_only=True)
    try:
        step = ckpt.latest_step()
        return step, ckpt.restore_meta(step)
    finally:
        ckpt.close()


def build(
    stage_runs: list[Path], choices: list[str]
) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    """``(state, meta, names)`` of the compound of ``stage_runs`` with one choice per stage."""
    if len(stage_runs) < 2:
        raise ValueError(f"--stages: a compound needs at least two runs, got {len(stage_runs)}")
    if len(choices) != len(stage_runs):
        raise ValueError(
            f"--variants: {len(choices)} entries for {len(stage_runs)} stages; give one per "
            "stage (a variant name or 'all')"
        )
    stages: list[TransformSet] = []
    entries = []
    for run in stage_runs:
        if not (run / "checkpoints").is_dir():
            raise CheckpointError(f"--stages: {run} has no checkpoints/ folder; not a run folder")
        step, meta = _stage_meta(run)
        stages.append(load_transforms(run, step=step))
        entries.append({"run": str(run), "abs": str(run.resolve()), "step": step, "meta": meta})
    check_stages(stages, [str(r) for r in stage_runs])
    picks = [
        select_variants(t, c, str(r)) for t, c, r in zip(stages, choices, stage_runs, strict=True)
    ]
    total = int(np.prod([len(p) for p in picks]))
    if total > MAX_COMPOSED:
        raise ValueError(
            f"{' x '.join(str(len(p)) for p in picks)} = {total} composed variants (at most "
            f"{MAX_COMPOSED}); pick variants with --variants NAME,NAME"
        )
    compose = [list(row) for row in itertools.product(*(range(len(p)) for p in picks))]
    state = {
        f"stage{i}": jax.tree.map(lambda a, p=p: np.asarray(a)[np.asarray(p) - 1], t.params)
        for i, (t, p) in enumerate(zip(stages, picks, strict=True))
    }
    names, grid = [], []
    for row in compose:
        idx = [picks[i][j] for i, j in enumerate(row)]
        names.append("+".join(t.names[k] for t, k in zip(stages, idx, strict=True)))
        grid.append(stage_hps([t.hps[k] for t, k in zip(stages, idx, strict=True)]))
    first = entries[0]["meta"]
    meta = run_metadata(
        method=METHOD,
        task=first.get("identity", {}).get("task", {"prepared": first["prepared"]}),
        config={"stages": len(stages)},
        grid=grid,
        stages=[
            {
                "run": e["run"],
                "abs": e["abs"],
                "step": e["step"],
                "method": t.method,
                "variants": [t.names[k] for k in p],
                "prepared": e["meta"].get("prepared"),
            }
            for e, t, p in zip(entries, stages, picks, strict=True)
        ],
        compose=compose,
        names=names,
        data=first["data"],
        prepared=first["prepared"],
    )
    return state, meta, names


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    runs = [Path(s) for s in args.stages]
    choices = (
        [c.strip() for c in args.variants.split(",")] if args.variants else ["all"] * len(runs)
    )
    try:
        state, meta, names = build(runs, choices)
        ckpt = Checkpointer(out / "checkpoints", keep=1)
        try:
            latest = ckpt.latest_step()
            if latest is not None:
                saved = ckpt.restore_meta(latest)
                if saved.get("method") != METHOD:
                    raise CheckpointError(
                        f"{out} holds a {saved.get('method')} run, not a compound; choose "
                        "another --out"
                    )
                same = all(saved.get(k) == meta[k] for k in ("stages", "compose", "grid"))
                if same:
                    print(f"{out} already holds this compound; nothing to do")
                    return 0
                if not args.fresh:
                    raise CheckpointError(
                        f"{out} holds another compound; use another --out, or --fresh to replace"
                    )
            ckpt.save((latest or 0) + 1, state, meta, force=True)
        finally:
            ckpt.close()
        restored = load_transforms(out)  # fail now, not in the harness, if it cannot restore
    except (CheckpointError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    pairs = zip(restored.names[1:], restored.alive[1:], strict=True)
    rows = [{"variant": n, "alive": a} for n, a in pairs]
    stages = " then ".join(f"{s['method']} ({s['run']})" for s in meta["stages"])
    write_json_atomic(
        out / "summary.json",
        {"run": str(out), "method": METHOD, "stages": meta["stages"], "variants": names},
    )
    table = format_table(rows, ["variant", "alive"])
    write_text_atomic(out / "summary.md", f"# Compound: {stages}\n\n{table}\n")
    print(
        f"compound of {stages}: {len(names)} composed variants\n{table}\n"
        f"written to {out}/checkpoints, summary.json, summary.md; evaluate with "
        f"python -m eval.harness --run {out}"
    )
    if "roles" in restored.info:
        print(f"roles (from the first stage): {restored.info['roles']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
