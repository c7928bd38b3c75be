"""DySan grid: K variants trained vmapped in one program vs one after another.

Same code, data and steps both ways: (a) the K variants stacked on a leading
axis and run by one ``sweep_jit`` program; (b) each variant alone through the
same ``sweep_jit`` with a grid of one, K times. Prints variants, steps, wall
time each way (compilation excluded, reported apart), the ratio, windows/s,
peak memory and the device, and writes them as a record (``jaxpriv.records``).

    python benchmarks/sweep_dysan.py [--variants 36] [--epochs 1] [--preset quick]
        [--arch original|light] [--mode sum|vector] [--k K] [--max-batches N]
        [--sequential-variants N] [--data SPEC] [--out FILE]

``--max-batches`` keeps only the first N batches' worth of training windows (a shorter
epoch, for a quick look on slow hardware); the record says how many were used.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import time

import jax
import numpy as np

from jaxpriv.data.load import load_dataset
from jaxpriv.data.task import dysan_task
from jaxpriv.grid import dysan_grid
from jaxpriv.methods import dysan
from jaxpriv.records import load_average, write_record
from jaxpriv.sweep import make_variant_mesh, sweep_jit


def peak_memory_mb() -> float:
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" in stats:  # accelerators report their own
        return stats["peak_bytes_in_use"] / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # host RSS, KiB on Linux


def timed_run(cfg, grid, data, epochs: int) -> tuple[float, float]:
    """(compile seconds, run seconds) for one sweep_jit program over ``grid``."""
    vmesh = make_variant_mesh(len(grid))
    hp = vmesh.stack(grid)
    arrays = vmesh.replicate(data)
    init, run_epochs, _ = dysan.make_train(cfg)
    state = jax.block_until_ready(sweep_jit(init, vmesh)(hp))
    run = sweep_jit(run_epochs, vmesh, data_argnums=(2,), static_argnums=(3,))
    t0 = time.perf_counter()
    compiled = run.lower(state, hp, arrays, epochs).compile()
    t1 = time.perf_counter()
    jax.block_until_ready(compiled(state, hp, arrays))
    return t1 - t0, time.perf_counter() - t1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--variants", type=int, default=36)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--width", type=float, help="override the preset's width (light)")
    parser.add_argument("--batch-size", type=int, help="override the preset's batch size")
    parser.add_argument("--arch", choices=dysan.ARCHS, help="override the preset's networks")
    parser.add_argument("--mode", choices=("sum", "vector"), help="override the preset's mode")
    parser.add_argument("--k", type=int, help="override the preset's K (predictor and disc.)")
    parser.add_argument("--max-batches", type=int, help="train on this many batches per epoch")
    parser.add_argument("--data", default="embedded")
    parser.add_argument(
        "--sequential-variants",
        type=int,
        default=None,
        help="time only this many one-by-one runs and extrapolate to --variants",
    )
    parser.add_argument("--out", default="benchmarks/results/sweep_dysan.json")
    args = parser.parse_args()
    load_at_start = load_average()
    overrides = {"width": args.width, "batch_size": args.batch_size, "arch": args.arch,
                 "mode": args.mode, "k_pred": args.k, "k_disc": args.k}  # fmt: skip
    overrides = {k: v for k, v in overrides.items() if v is not None}
    cfg = dysan.preset_config(args.preset, epochs=args.epochs, **overrides)
    data = dysan.dysan_arrays(dysan_task().prepare(load_dataset(args.data)))[0]
    if args.max_batches:
        data = {k: v[: args.max_batches * cfg.batch_size] for k, v in data.items()}
    grid = [
        {**v, "lr_san": 5e-4, "lr_pred": 5e-4, "lr_disc": 5e-4, "seed": i}
        for i, v in enumerate(dysan_grid()[: args.variants])
    ]
    n = data["x"].shape[0]
    san_steps = len(dysan.term_names(cfg)) if cfg.mode == "vector" else 1
    steps = (n // cfg.batch_size) * args.epochs * (san_steps + cfg.k_pred + cfg.k_disc)
    device = jax.devices()[0]
    print(
        f"device: {device.device_kind} x{len(jax.devices())} ({platform.machine()}, "
        f"{os.cpu_count()} host cores); {n} training windows; preset {args.preset}, "
        f"{cfg.arch} networks (width {cfg.width}), {cfg.mode} mode, K {cfg.k_pred}, "
        f"batch {cfg.batch_size}, {args.epochs} epoch(s), {steps} optimizer steps per variant"
    )

    compile_v, run_v = timed_run(cfg, grid, data, args.epochs)
    print(
        f"vmapped:    {len(grid)} variants  compile {compile_v:6.1f} s  run {run_v:7.1f} s  "
        f"{n * args.epochs * len(grid) / run_v:9.0f} windows/s",
        flush=True,
    )

    k_seq = args.sequential_variants or len(grid)
    compile_s, run_s = [], []
    for v in grid[:k_seq]:
        c, r = timed_run(cfg, [v], data, args.epochs)
        compile_s.append(c)
        run_s.append(r)
    seq_total = float(np.mean(run_s)) * len(grid)
    note = "" if k_seq == len(grid) else f" (mean of {k_seq} runs x {len(grid)})"
    print(
        f"sequential: {len(grid)} variants  compile {np.mean(compile_s):6.1f} s each  "
        f"run {seq_total:7.1f} s{note}  {n * args.epochs * len(grid) / seq_total:9.0f} windows/s"
    )
    print(
        f"speed-up vmapped / sequential: {seq_total / run_v:.1f}x; peak memory "
        f"{peak_memory_mb():.0f} MiB"
    )
    results = {
        "preset": args.preset,
        "device_kind": device.device_kind,
        "arch": cfg.arch,
        "mode": cfg.mode,
        "k": cfg.k_pred,
        "width": cfg.width,
        "batch_size": cfg.batch_size,
        "epochs": args.epochs,
        "variants": len(grid),
        "training_windows": n,
        "optimizer_steps_per_variant": steps,
        "vmapped_run_s": run_v,
        "vmapped_compile_s": compile_v,
        "sequential_run_s": seq_total,
        "sequential_measured_variants": k_seq,
        "one_compile_s": float(np.mean(compile_s)),
        "speedup": seq_total / run_v,
        "windows_per_s_vmapped": n * args.epochs * len(grid) / run_v,
        "peak_memory_mib": peak_memory_mb(),
    }
    write_record(
        args.out,
        results,
        command=["python3", "benchmarks/sweep_dysan.py", *sys.argv[1:]],
        load_at_start=load_at_start,
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
