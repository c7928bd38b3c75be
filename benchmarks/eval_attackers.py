"""Adaptive CNN attackers for many transforms: vmapped in one program vs one by one.

    python3 benchmarks/eval_attackers.py [--variants 37] [--preset quick] [--sequential-variants 4]

Both ways run the same fit function (``jaxpriv.classify.make_fit`` through
``eval.attackers``'s compiled programs) on the embedded dataset's held-out-user
split: (a) all transforms' attackers in one vmapped, sharded program; (b) the
one-variant program called once per transform. Compilation is timed apart
(ahead-of-time ``lower().compile()``). With ``--sequential-variants k < V`` the
sequential time is the mean of k runs times V. Writes
``benchmarks/results/eval_attackers.json``.
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time

import jax
import numpy as np

from eval.attackers import _cnn_programs, class_weights
from eval.config import PRESETS
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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--variants", type=int, default=37, help="transforms (36 DySan + raw)")
    p.add_argument("--preset", default="quick", choices=sorted(PRESETS))
    p.add_argument("--sequential-variants", type=int, default=4)
    p.add_argument("--out", default="benchmarks/results/eval_attackers.json")
    args = p.parse_args()
    load_at_start = load_average()
    cfg = PRESETS[args.preset].cnn

    win = dysan_task().prepare(load_dataset("embedded")).train_windows
    x = (win.x - win.x.mean(axis=(0, 1))) / win.x.std(axis=(0, 1))
    rng = np.random.default_rng(0)
    # Distinct inputs per transform (the content does not change the work).
    x_V = np.stack(
        [x + rng.normal(0, 0.1, x.shape).astype(np.float32) for _ in range(args.variants)]
    )
    y = win.gender.astype(np.int32)
    w = class_weights(y, np.ones(len(y), bool), 2)
    print(f"{args.variants} transforms x {len(y)} windows, {cfg.steps} steps of {cfg.batch_size}")

    vmesh, fit_all, _ = _cnn_programs(cfg, 2, args.variants)
    keys = vmesh.pad(jax.random.split(jax.random.key(0), args.variants))
    vmapped_compile, vmapped_run = _compile_and_time(fit_all, (keys, vmesh.pad(x_V), y, w))
    print(f"vmapped: compile {vmapped_compile:.1f} s, run {vmapped_run:.1f} s")

    vmesh1, fit_one, _ = _cnn_programs(cfg, 2, 1)
    k = min(args.sequential_variants, args.variants)
    one_compile, runs = None, []
    for v in range(k):
        one_args = (vmesh1.pad(keys[v : v + 1]), vmesh1.pad(x_V[v : v + 1]), y, w)
        c, r = _compile_and_time(fit_one, one_args)
        one_compile = c if one_compile is None else one_compile
        runs.append(r)
    sequential_run = float(np.mean(runs)) * args.variants
    print(
        f"one by one: compile {one_compile:.1f} s, run {np.mean(runs):.2f} s each, "
        f"x{args.variants} = {sequential_run:.1f} s"
    )
    speedup = sequential_run / vmapped_run
    steps = args.variants * cfg.steps
    result = {
        "variants": args.variants,
        "preset": args.preset,
        "classifier": {
            "features": list(cfg.features),
            "steps": cfg.steps,
            "batch_size": cfg.batch_size,
        },
        "training_windows": len(y),
        "vmapped_run_s": vmapped_run,
        "vmapped_compile_s": vmapped_compile,
        "sequential_run_s": sequential_run,
        "sequential_measured_variants": k,
        "one_compile_s": one_compile,
        "speedup": speedup,
        "steps_per_s_vmapped": steps / vmapped_run,
        "steps_per_s_sequential": steps / sequential_run,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "devices": [str(d) for d in jax.devices()],
        "machine": f"{platform.machine()}, {jax.device_count()} device(s), jax {jax.__version__}",
    }
    print(f"vmapped / sequential speed-up: {speedup:.2f}x")
    write_record(
        args.out,
        result,
        command=["python3", "benchmarks/eval_attackers.py", *sys.argv[1:]],
        load_at_start=load_at_start,
    )


if __name__ == "__main__":
    main()
