"""Fingerprints of every trainer's final parameters on tiny fixed-seed runs.

A refactor of the training code (the run driver, the task pipeline) must not change
what is trained. This runs each trainer's command line on a tiny embedded dataset
with a fixed seed and records, per trainer, the sha256 of its final checkpoint state
(every leaf's bytes, in path order) and the sum of the absolute values of its float
leaves. Run it before and after a change (``git stash`` / a worktree) and compare:

    python -m benchmarks.trainer_parity --out benchmarks/results/trainer_parity.json

The same machine and library versions give bit-identical states; another machine
may differ in the last bits (compare ``abs_sum`` then).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import orbax.checkpoint as ocp

from jaxpriv.records import load_average, write_record

D4 = "embedded:users=4,long_s=6,short_s=4"
D6 = "embedded:users=6,long_s=6,short_s=4"
D8 = "embedded:users=8,long_s=8,short_s=4"
RUNS = {
    "dysan": ["--data", D8, "--epochs", "2", "--batch-size", "32", "--k-pred", "1", "--k-disc",
              "1", "--width", "0.125", "--grid", "alpha=0.3,0.6;lam=0.2"],
    "olympus": ["--data", D6, "--epochs", "1", "--batch-size", "32", "--k-disc", "0", "--width",
                "0.125", "--grid", "alpha=0.6;lam=0.4"],
    "gen": ["--data", D6, "--grid", "privacy_weight=0,5;seed=0", "--est-epochs", "2",
            "--identity-epochs", "1", "--epochs", "2", "--batch-size", "32", "--hidden",
            "64,32,64"],
    "msda": ["--data", D8, "--rounds", "1", "--filters", "8", "--pretrain-epochs", "1",
             "--reg-epochs", "1", "--aae-epochs", "1", "--subsample", "4"],
    "rae": ["--data", D8, "--epochs", "2", "--batch-size", "32", "--eval-steps", "5"],
    "sensegen": ["--data", D4, "--window", "40", "--segment", "10", "--hidden", "8",
                 "--components", "3", "--batch-size", "8", "--grid", "seed=0,1", "--conditional",
                 "--activities", "wlk,jog", "--epochs", "2"],
    "symbolic": ["--model", "wavenet", "--data", D4, "--window", "4", "--stride", "4", "--bins",
                 "9", "--epochs", "2", "--batch-size", "16", "--steps-per-epoch", "8", "--embed",
                 "16", "--hidden", "16", "--blocks", "1", "--heads", "2", "--wavenet-channels",
                 "8", "--wavenet-layers", "2", "--samples", "1"],
}  # fmt: skip


def state_fingerprint(checkpoints: Path) -> dict[str, Any]:
    """The latest step's state as ``{step, sha256, abs_sum}``, read without a template."""
    import jax

    step = max(int(p.name) for p in checkpoints.iterdir() if p.name.isdigit())
    tree = ocp.StandardCheckpointer().restore((checkpoints / str(step) / "state").absolute())
    leaves = sorted(jax.tree_util.tree_flatten_with_path(tree)[0], key=lambda t: str(t[0]))
    digest, total = hashlib.sha256(), 0.0
    for path, leaf in leaves:
        a = np.asarray(leaf)
        if a.dtype.kind in "fc":
            total += float(np.abs(a.astype(np.float64)).sum())
        digest.update(jax.tree_util.keystr(path).encode())
        digest.update(a.tobytes())
    return {"step": step, "sha256": digest.hexdigest()[:16], "abs_sum": total}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--out", default="benchmarks/results/trainer_parity.json")
    p.add_argument("trainers", nargs="*", default=sorted(RUNS), help="default: all")
    args = p.parse_args(argv)
    start = load_average()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.trainers:
            main_fn = importlib.import_module(f"train.{name}").main
            out = Path(tmp) / name
            code = main_fn([*RUNS[name], "--out", str(out)])
            if code != 0:
                print(f"train.{name} failed (exit {code})", file=sys.stderr)
                return 1
            results[name] = {"argv": RUNS[name], **state_fingerprint(out / "checkpoints")}
            print(f"PARITY {name} {results[name]['sha256']} {results[name]['abs_sum']:.6f}")
    write_record(args.out, results, command=sys.argv, load_at_start=start)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
