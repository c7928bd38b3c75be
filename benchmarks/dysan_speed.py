"""Seconds per batch of ONE DySan variant at the paper's setting, against the authors' code.

The authors' networks (``--arch original``), batch 256, the embedded dataset on the
trial split (the issue's comparison), ``K = 50`` and ``K = 1``, vector mode (one
sanitizer step per loss term, the code's default) and sum mode (one step). Each row
times the trainer's own per-batch program (:func:`jaxpriv.methods.dysan.make_iteration`
under ``sweep_jit`` with a grid of one variant, as ``python -m train.dysan`` runs it):
compilation excluded and reported apart, the first batch excluded (as the issue's
measurement of the authors' code), then the mean of the next ``--batches``. The
authors' code on 2 cores (issue 16): vector 3.76 s (K = 1), 5.17 s (K = 5), 33.7 s
(K = 50); one step on the summed loss 0.81 s (K = 1). The targets: at most 11 s at
K = 50 in vector mode (3x faster) and under 3.76 s at K = 1.

    python benchmarks/dysan_speed.py [--rows vector:50,vector:1,sum:50,sum:1] [--batches 3]
        [--variants 1] [--batch-size 256] [--arch original] [--data embedded]
        [--out benchmarks/results/dysan_speed.json]

``--variants N`` times the first N variants of the 36-pair grid vmapped in one program
(the whole sweep's windows/s); the per-variant rows are the comparison with the code.

The machine is shared: the record keeps the load average at the start and the end, and
each row the load while it ran.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import jax
import numpy as np

from jaxpriv.data.load import load_dataset
from jaxpriv.data.task import dysan_task
from jaxpriv.grid import dysan_grid
from jaxpriv.methods import dysan
from jaxpriv.methods.dysan_inner import uses_pool
from jaxpriv.records import load_average, write_record
from jaxpriv.sweep import make_variant_mesh, sweep_jit

AUTHORS_CODE_S = {("vector", 1): 3.76, ("vector", 5): 5.17, ("vector", 50): 33.7, ("sum", 1): 0.81}
TARGETS_S = {("vector", 50): 11.0, ("vector", 1): 3.76}  # at most / under


def time_row(
    mode: str,
    k: int,
    data: dict,
    batches: int,
    batch_size: int,
    arch: str,
    variants: int = 1,
    width: float = 1.0,
) -> dict:
    """Seconds per batch for ``variants`` variants (vmapped) in ``mode`` with ``K = k``."""
    cfg = dysan.DysanConfig(
        arch=arch, mode=mode, batch_size=batch_size, k_pred=k, k_disc=k, width=width
    )
    grid = [{**v, "lr_san": 5e-4, "lr_pred": 5e-4, "lr_disc": 5e-4, "seed": i}
            for i, v in enumerate(dysan_grid()[:variants])]  # fmt: skip
    vmesh = make_variant_mesh(variants)
    hp = vmesh.stack(grid)
    arrays = vmesh.replicate(data)
    init, _, _ = dysan.make_train(cfg)
    state = jax.block_until_ready(sweep_jit(init, vmesh)(hp))
    step = sweep_jit(dysan.make_iteration(cfg), vmesh, data_argnums=(2, 3, 4), donate_argnums=0)
    n = data["x"].shape[0]
    order = np.random.default_rng(0).permutation(n)
    idx = [order[(i * batch_size) % (n - batch_size) :][:batch_size] for i in range(batches + 1)]
    t0 = time.perf_counter()
    compiled = step.lower(state, hp, arrays, idx[0], jax.random.key(0)).compile()
    compile_s = time.perf_counter() - t0
    seconds, loads = [], []
    for i, batch in enumerate(idx):
        t = time.perf_counter()
        state, metrics = compiled(state, hp, arrays, batch, jax.random.key(i))
        jax.block_until_ready(state)
        seconds.append(time.perf_counter() - t)
        loads.append(round(os.getloadavg()[0], 2))
    per_batch = float(np.mean(seconds[1:]))
    row = {
        "mode": mode,
        "k": k,
        "arch": arch,
        "width": width,
        "variants": variants,
        "batch_size": batch_size,
        "seconds_per_batch": round(per_batch, 3),
        "batch_seconds": [round(s, 3) for s in seconds],  # the first (excluded) included
        "windows_per_s": round(variants * batch_size / per_batch, 1),  # all variants
        "compile_s": round(compile_s, 1),
        "inner_pool": uses_pool(cfg, n),
        "sanitizer_steps_per_batch": len(dysan.term_names(cfg)) if mode == "vector" else 1,
        "inner_steps_taken": [
            float(np.asarray(metrics[f"{w}_steps"]).max()) for w in ("pred", "disc")
        ]
        if k
        else [0.0, 0.0],
        "load_1min_after_each_batch": loads,
        # What it means for training: batches per epoch on this data, one variant's epoch,
        # and the 36-variant grid's epoch run variant after variant (vmapping does not
        # make a saturated CPU faster: benchmarks/RESULTS.md).
        "batches_per_epoch": n // batch_size,
        "epoch_s": round(n // batch_size * per_batch, 1),
        "grid_epoch_min_one_by_one": round(36 * (n // batch_size) * per_batch / variants / 60, 1),
    }
    ref = AUTHORS_CODE_S.get((mode, k)) if variants == 1 else None
    if ref is not None:
        row["authors_code_s"] = ref
        row["speedup_vs_authors_code"] = round(ref / per_batch, 2)
    if (mode, k) in TARGETS_S and variants == 1:
        target = TARGETS_S[(mode, k)]
        row["target_s"] = target
        row["target_met"] = per_batch <= target if k == 50 else per_batch < target
    return row


def quick_preset_rows(data_spec: str, batches: int) -> list[dict]:
    """The ``quick`` preset's 36-variant grid (batch 64, K = 1, sum mode, the subject split
    of ``python -m train.dysan``) on the authors' networks and on the light ones it uses,
    batches interleaved so both see the same load: seconds per batch of the whole grid."""
    data = dysan.dysan_arrays(dysan_task().prepare(load_dataset(data_spec)))[0]
    vmesh = make_variant_mesh(36)
    grid = [{**v, "lr_san": 5e-4, "lr_pred": 5e-4, "lr_disc": 5e-4, "seed": i}
            for i, v in enumerate(dysan_grid())]  # fmt: skip
    hp, arrays = vmesh.stack(grid), vmesh.replicate(data)
    n = data["x"].shape[0]
    order = np.random.default_rng(0).permutation(n)
    runs = {}
    for arch in ("original", "light"):
        cfg = dysan.preset_config("quick", arch=arch)
        state = sweep_jit(dysan.make_train(cfg)[0], vmesh)(hp)
        step = sweep_jit(dysan.make_iteration(cfg), vmesh, data_argnums=(2, 3, 4), donate_argnums=0)
        idx = order[: cfg.batch_size]
        runs[arch] = [
            cfg,
            step.lower(state, hp, arrays, idx, jax.random.key(0)).compile(),
            state,
            [],
        ]
    for i in range(batches + 1):
        for run in runs.values():
            cfg, compiled, state, seconds = run
            idx = order[i * cfg.batch_size :][: cfg.batch_size]
            t = time.perf_counter()
            run[2], _ = compiled(state, hp, arrays, idx, jax.random.key(i))
            jax.block_until_ready(run[2])
            seconds.append(time.perf_counter() - t)
    rows = []
    for arch, (cfg, _, _, seconds) in runs.items():
        per_batch = float(np.mean(seconds[1:]))
        epoch_batches = n // cfg.batch_size
        rows.append({
            "arch": arch, "width": cfg.width, "variants": 36, "batch_size": cfg.batch_size,
            "k": cfg.k_pred, "mode": cfg.mode, "seconds_per_batch": round(per_batch, 3),
            "batch_seconds": [round(s, 3) for s in seconds],
            "preset_minutes": round(cfg.epochs * epoch_batches * per_batch / 60, 1),
            "load_1min_at_end": round(os.getloadavg()[0], 2),
        })  # fmt: skip
    return rows


def epoch_row(preset: str, data_spec: str, variants: int, batches: int | None, **overrides) -> dict:
    """One epoch of ``preset`` for the grid's first ``variants`` variants, vmapped, as
    ``python -m train.dysan`` runs it (``run_epochs`` under ``sweep_jit``; compilation
    apart), then the held-out evaluation of every variant."""
    from jaxpriv.methods.dysan_eval import evaluate_variants

    cfg = dysan.preset_config(preset, epochs=1, **overrides)
    task_data = dysan_task().prepare(load_dataset(data_spec))
    data = dysan.dysan_arrays(task_data)[0]
    if batches:
        data = {k: v[: batches * cfg.batch_size] for k, v in data.items()}
    grid = [{**v, "lr_san": 5e-4, "lr_pred": 5e-4, "lr_disc": 5e-4, "seed": i}
            for i, v in enumerate(dysan_grid()[:variants])]  # fmt: skip
    vmesh = make_variant_mesh(variants)
    hp, arrays = vmesh.stack(grid), vmesh.replicate(data)
    init, run_epochs, _ = dysan.make_train(cfg)
    state = jax.block_until_ready(sweep_jit(init, vmesh)(hp))
    state = dysan.fit_classifier_into(cfg, state, arrays, 0)
    run = sweep_jit(run_epochs, vmesh, data_argnums=(2,), static_argnums=(3,))
    t0 = time.perf_counter()
    compiled = run.lower(state, hp, arrays, 1).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    state, metrics = compiled(state, hp, arrays)
    jax.block_until_ready(state)
    epoch_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    held_out = evaluate_variants(cfg, vmesh, state, hp, task_data)
    eval_s = time.perf_counter() - t0
    n_batches = data["x"].shape[0] // cfg.batch_size
    return {
        "preset": preset,
        "config": {
            k: getattr(cfg, k)
            for k in (
                "arch",
                "activity_mode",
                "mode",
                "batch_size",
                "k_pred",
                "k_disc",
                "early_stop",
            )
        },
        "variants": variants,
        "batches": n_batches,
        "compile_s": round(compile_s, 1),
        "epoch_s": round(epoch_s, 2),
        "seconds_per_batch": round(epoch_s / max(n_batches, 1), 3),
        "windows_per_s": round(variants * n_batches * cfg.batch_size / epoch_s, 1),
        "eval_s": round(eval_s, 1),
        "alive": int(np.sum(held_out["alive"])),
        "activity_acc_median": round(float(np.median(held_out["activity_acc"])), 3),
        "gender_acc_median": round(float(np.median(held_out["gender_acc"])), 3),
        "pred_steps_mean": round(float(np.mean(np.asarray(metrics["pred_steps"]))), 2),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", default="vector:50,vector:1,sum:50,sum:1", help="mode:K,...")
    p.add_argument("--batches", type=int, default=3, help="timed batches after the first")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--variants", type=int, default=1, help="vmapped variants (the grid's first)")
    p.add_argument("--arch", default="original", choices=dysan.ARCHS)
    p.add_argument("--width", type=float, default=1.0, help="light networks only")
    p.add_argument("--data", default="embedded")
    p.add_argument("--split", default="trial")
    p.add_argument(
        "--quick-batches", type=int, default=0,
        help="also time the quick preset's 36-variant grid on both networks (0: skip)",
    )  # fmt: skip
    p.add_argument("--epoch-preset", help="instead: time one epoch of this preset's grid")
    p.add_argument("--k", type=int, help="--epoch-preset: override K")
    p.add_argument("--max-batches", type=int, help="--epoch-preset: batches of the epoch")
    p.add_argument("--out", default="benchmarks/results/dysan_speed.json")
    args = p.parse_args()
    load_at_start = load_average()
    command = ["python3", "benchmarks/dysan_speed.py", *sys.argv[1:]]
    if args.epoch_preset:
        overrides = {"batch_size": args.batch_size} if args.batch_size != 256 else {}
        if args.k is not None:
            overrides |= {"k_pred": args.k, "k_disc": args.k}
        row = epoch_row(args.epoch_preset, args.data, args.variants, args.max_batches, **overrides)
        print(f"one epoch of {args.epoch_preset}, {args.variants} variants: {row}", flush=True)
        write_record(args.out, {"epoch": row}, command=command, load_at_start=load_at_start)
        print(f"written to {args.out}")
        return
    task_data = dysan_task(split=args.split).prepare(load_dataset(args.data))
    data = dysan.dysan_arrays(task_data)[0]
    rows = []
    for spec in args.rows.split(","):
        mode, k = spec.split(":")
        row = time_row(mode, int(k), data, args.batches, args.batch_size, args.arch, args.variants)
        rows.append(row)
        print(
            f"{mode:6s} K={int(k):2d}: {row['seconds_per_batch']:7.2f} s/batch "
            f"({row['windows_per_s']:.0f} windows/s; compile {row['compile_s']} s; "
            f"authors' code {row.get('authors_code_s', '-')} s; "
            f"load {row['load_1min_after_each_batch']})",
            flush=True,
        )
    quick = quick_preset_rows(args.data, args.quick_batches) if args.quick_batches else []
    for row in quick:
        print(f"quick preset, {row['arch']} networks, 36 variants: {row['seconds_per_batch']} "
              f"s/batch, the preset {row['preset_minutes']} min of batches")  # fmt: skip
    results = {
        "what": "seconds per batch of one DySan variant (first batch excluded), the trainer's "
        "per-batch program under sweep_jit with a grid of one",
        "data": args.data,
        "split": args.split,
        "training_windows": int(data["x"].shape[0]),
        "rows": rows,
        "quick_preset": quick,
    }
    write_record(args.out, results, command=command, load_at_start=load_at_start)
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
