"""Adaptive network attackers for many transforms: vmapped in one program vs one by one.

    python3 benchmarks/eval_attackers.py [--family cnn|strong] [--variants 37] [--preset quick]
        [--sequential-variants 4] [--steps N] [--out FILE]

Both ways run the same fit function through ``eval.attackers.network_programs`` (the
compiled programs the harness uses) on the embedded dataset's held-out-user split:
(a) all transforms' attackers in one vmapped, sharded program; (b) the one-variant
program called once per transform. Compilation is timed apart (ahead-of-time
``lower().compile()``). With ``--sequential-variants k < V`` the sequential time is
the mean of k runs times V.

``--family cnn`` times the quick CNN (``classify.make_fit``, the preset's steps);
``--family strong`` the strong attacker (``classify.make_fit_early_stopping``) for a
fixed ``--steps`` (early stopping off, so both ways do the same work; vmapped,
early-stopped models would all run as long as the slowest). The record names the
backend and what ``--execution auto`` chooses on it. Writes
``benchmarks/results/eval_attackers.json`` (cnn) or ``eval_attackers-strong.json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import resource
import sys
import time

import jax
import numpy as np

from eval.attackers import class_weights, network_programs, resolve_execution
from eval.config import PRESETS
from eval.strong_attacker import own_split
from jaxpriv.data.load import load_dataset
from jaxpriv.data.task import dysan_task
from jaxpriv.records import load_average, write_record


def _compile_and_time(fit, args) -> tuple[float, float]:
    t0 = time.perf_counter()
    compiled = fit.lower(*args).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(compiled(*args))
    return compile_s, time.perf_counter() - t0


def _setup(family: str, preset: str, steps: int | None, win, y):
    """``(cfg, shared, steps)`` of one family on the training windows ``win``."""
    if family == "cnn":
        cfg = PRESETS[preset].cnn
        w = class_weights(y, np.ones(len(y), bool), 2)
        return cfg, {"y": y, "w": w}, cfg.steps
    strong = PRESETS[preset].strong
    steps = steps or strong.eval_every * 2
    cfg = dataclasses.replace(strong, max_steps=steps, patience=steps // strong.eval_every + 1)
    train, val = own_split(win, True, y, np.ones(len(y), bool),
                           fraction=cfg.validation_fraction, seed=0)  # fmt: skip
    shared = {
        "train_rows": np.flatnonzero(train),
        "val_rows": np.flatnonzero(val),
        "y_tr": y[train],
        "w_tr": class_weights(y, train, 2)[train],
        "y_val": y[val],
        "w_val": class_weights(y, val, 2)[val],
    }
    return cfg, shared, steps


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--family", default="cnn", choices=("cnn", "strong"))
    p.add_argument("--variants", type=int, default=37, help="transforms (36 DySan + raw)")
    p.add_argument("--preset", default="quick", choices=sorted(PRESETS))
    p.add_argument("--sequential-variants", type=int, default=4)
    p.add_argument("--steps", type=int, help="strong: fixed training steps (default 2 checks)")
    p.add_argument("--out", help="record (default benchmarks/results/eval_attackers[-strong].json)")
    args = p.parse_args()
    load_at_start = load_average()
    suffix = "" if args.family == "cnn" else f"-{args.family}"
    out = args.out or f"benchmarks/results/eval_attackers{suffix}.json"

    win = dysan_task().prepare(load_dataset("embedded")).train_windows
    x = (win.x - win.x.mean(axis=(0, 1))) / win.x.std(axis=(0, 1))
    y = win.gender.astype(np.int32)
    cfg, shared, steps = _setup(args.family, args.preset, args.steps, win, y)
    rng = np.random.default_rng(0)
    # Distinct inputs per transform (the content does not change the work).
    x_V = np.stack(
        [x + rng.normal(0, 0.1, x.shape).astype(np.float32) for _ in range(args.variants)]
    )
    print(f"{args.family}: {args.variants} transforms x {len(y)} windows, {steps} steps")

    vmesh, fit_all, _ = network_programs(args.family, cfg, 2, args.variants)
    keys = vmesh.pad(jax.random.split(jax.random.key(0), args.variants))
    vmapped_compile, vmapped_run = _compile_and_time(fit_all, (keys, vmesh.pad(x_V), shared))
    print(f"vmapped: compile {vmapped_compile:.1f} s, run {vmapped_run:.1f} s")

    _, fit_one, _ = network_programs(args.family, cfg, 2, None)
    k = min(args.sequential_variants, args.variants)
    one_compile, runs = None, []
    for v in range(k):
        c, r = _compile_and_time(fit_one, (keys[v], x_V[v], shared))
        one_compile = c if one_compile is None else one_compile
        runs.append(r)
    sequential_run = float(np.mean(runs)) * args.variants
    print(
        f"one by one: compile {one_compile:.1f} s, run {np.mean(runs):.2f} s each, "
        f"x{args.variants} = {sequential_run:.1f} s"
    )
    speedup = sequential_run / vmapped_run
    total_steps = args.variants * steps
    result = {
        "family": args.family,
        "variants": args.variants,
        "preset": args.preset,
        "classifier": {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(cfg).items()
        },
        "steps": steps,
        "training_windows": len(y),
        "vmapped_run_s": vmapped_run,
        "vmapped_compile_s": vmapped_compile,
        "sequential_run_s": sequential_run,
        "sequential_measured_variants": k,
        "one_compile_s": one_compile,
        "speedup": speedup,
        "steps_per_s_vmapped": total_steps / vmapped_run,
        "steps_per_s_sequential": total_steps / sequential_run,
        "backend": jax.default_backend(),
        "auto_execution": resolve_execution("auto"),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "devices": [str(d) for d in jax.devices()],
        "machine": f"{platform.machine()}, {jax.device_count()} device(s), jax {jax.__version__}",
    }
    print(f"vmapped / sequential speed-up: {speedup:.2f}x; auto chooses {result['auto_execution']}")
    write_record(
        out,
        result,
        command=["python3", "benchmarks/eval_attackers.py", *sys.argv[1:]],
        load_at_start=load_at_start,
    )


if __name__ == "__main__":
    main()
