"""Train DySan's grid of sanitizers at once: ``python -m train.dysan``.

All variants (by default the 36 pairs alpha, lambda in {0.1..0.8} with
alpha + lambda <= 0.9) train in one compiled program, vmapped over the grid
and sharded over every device. The run checkpoints after each chunk of
epochs into ``--out``; running the same command again resumes from the last
checkpoint and ends exactly where an uninterrupted run ends. At the end it
prints, per variant, the final losses and the activity and gender accuracy
of the jointly trained predictor and discriminator on held-out users'
sanitized windows, and writes them to ``<out>/summary.json`` and ``summary.md``.

Multi-host: call ``jaxpriv.sweep.initialize_distributed()`` (done here) on
every host with the usual ``jax.distributed`` environment; the variant axis
is then sharded over the global devices.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxpriv.checkpoint import Checkpointer, CheckpointError, resume_sweep
from jaxpriv.data.dataset import DataFormatError
from jaxpriv.data.load import load_dataset
from jaxpriv.methods import dysan
from jaxpriv.methods.dysan_data import prepare_dysan_data
from jaxpriv.methods.dysan_eval import evaluate_variants
from jaxpriv.plots import plot_loss_history
from jaxpriv.run_io import format_table, run_metadata, write_json_atomic, write_text_atomic
from jaxpriv.sweep import (
    dysan_grid,
    initialize_distributed,
    make_variant_mesh,
    parse_grid,
    stack_grid,
    sweep_jit,
)
from train import run_parser

LOSSES = ("san_loss", "pred_loss", "disc_loss")
TITLES = {"dysan": "DySan", "olympus": "Olympus"}  # method name -> summary title


def build_parser() -> argparse.ArgumentParser:
    p = run_parser("dysan", __doc__, dysan.PRESETS)
    p.add_argument(
        "--grid",
        help="variants: 'alpha=0.1,0.2;lam=0.3', a JSON list, or @file.json "
        "(default: the 36 pairs)",
    )
    p.add_argument("--seed", type=int, default=0, help="base seed; variant i uses seed + i")
    p.add_argument(
        "--lr", type=float, default=dysan.DEFAULT_LR, help="Adam learning rate (all nets)"
    )
    p.add_argument("--epochs", type=int, help="override the preset's epochs")
    p.add_argument("--batch-size", type=int, help="override the preset's batch size")
    p.add_argument("--k-pred", type=int, help="override the preset's predictor steps per batch")
    p.add_argument("--k-disc", type=int, help="override the preset's discriminator steps per batch")
    p.add_argument("--width", type=float, help="override the preset's network width multiplier")
    p.add_argument("--mode", choices=("sum", "vector"), default="sum")
    p.add_argument("--unconditional", action="store_true", help="sanitizer without conditioning")
    p.add_argument("--split", default="subject", choices=("subject", "trial", "time"))
    p.add_argument("--save-every", type=int, default=1, help="epochs per checkpoint")
    p.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint in --out")
    p.add_argument(
        "--export", action="store_true", help="also export every sanitizer to <out>/export/"
    )
    return p


def make_grid(args: argparse.Namespace) -> list[dict[str, Any]]:
    grid = parse_grid(args.grid) if args.grid else dysan_grid()
    out = []
    for i, variant in enumerate(grid):
        unknown = set(variant) - set(dysan.HP_KEYS)
        if unknown or not {"alpha", "lam"} <= set(variant):
            raise ValueError(
                f"--grid variant {i} {variant}: needs alpha and lam; allowed keys "
                f"{list(dysan.HP_KEYS)}"
            )
        if variant["alpha"] + variant["lam"] > 1.0 + 1e-9:
            raise ValueError(f"--grid variant {i} {variant}: alpha + lam must be <= 1")
        full = {"lr_san": args.lr, "lr_pred": args.lr, "lr_disc": args.lr, "seed": args.seed + i}
        out.append({**full, **variant})
    return out


def config_from(args: argparse.Namespace) -> dysan.DysanConfig:
    overrides = {
        k: v
        for k, v in {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "k_pred": args.k_pred,
            "k_disc": args.k_disc,
            "width": args.width,
        }.items()
        if v is not None
    }
    return dysan.preset_config(
        args.preset, mode=args.mode, conditional=not args.unconditional, **overrides
    )


def variant_name(v: dict[str, Any]) -> str:
    return f"a{v['alpha']:g}-l{v['lam']:g}"


def main(argv: list[str] | None = None, method: str = "dysan") -> int:
    """Train and summarise; ``method`` is the name stored in the checkpoint's metadata
    (``train.olympus`` passes ``"olympus"``) and the default run folder's prefix."""
    args = build_parser().parse_args(argv)
    initialize_distributed()
    out = Path(args.out or f"runs/{method}-{args.preset}")
    try:
        cfg = config_from(args)
        grid = make_grid(args)
        ds = load_dataset(args.data, subjects=args.subjects, rate_hz=args.rate, progress=True)
        data = prepare_dysan_data(ds, window=cfg.window, stride=cfg.stride, split=args.split)
    except (DataFormatError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"data: {ds.name}, {len(data.train_windows)} training windows, "
        f"{len(data.test_windows)} held-out windows ({data.split} split, held-out users "
        f"{', '.join(data.test_subjects)})"
    )

    vmesh = make_variant_mesh(len(grid))
    hp = vmesh.shard(vmesh.pad(stack_grid(grid)))
    train_arrays = vmesh.replicate(data.train)
    init, run_epochs, _ = dysan.make_train(cfg)
    init_all = sweep_jit(init, vmesh)
    run_all = sweep_jit(run_epochs, vmesh, data_argnums=(2,), static_argnums=(3,))
    meta = run_metadata(
        method=method, config=cfg, grid=grid, data=ds.description, prepared=data.describe()
    )

    ckpt = Checkpointer(out / "checkpoints", keep=2)
    state, history = None, []
    try:
        state, history = resume_sweep(
            ckpt, meta, init_all, hp, vmesh.variant_sharding, fresh=args.fresh
        )
        if state is None:
            state = init_all(hp)

        start_epoch = int(np.asarray(state["epoch"])[0])
        t_start = time.time()
        windows_per_epoch = (len(data.train_windows) // cfg.batch_size) * cfg.batch_size
        epoch = start_epoch
        while epoch < cfg.epochs:
            n = min(args.save_every, cfg.epochs - epoch)
            t0 = time.time()
            state, metrics = run_all(state, hp, train_arrays, n)
            jax.block_until_ready(state)
            elapsed = time.time() - t0
            epoch += n
            per_epoch = {k: np.asarray(v)[: len(grid)] for k, v in metrics.items()}
            for j in range(n):  # per-variant losses of every epoch in this chunk
                history.append(
                    {"epoch": epoch - n + j + 1}
                    | {k: v[:, j].tolist() for k, v in per_epoch.items() if k in LOSSES}
                )
            last = {k: v[:, -1] for k, v in per_epoch.items()}
            ckpt.save(epoch, state, meta | {"epoch": epoch, "history": history}, force=True)
            write_json_atomic(
                out / "metrics.json",
                {"variants": [variant_name(v) for v in grid], "history": history},
            )
            rate = windows_per_epoch * n * len(grid) / elapsed
            eta = (cfg.epochs - epoch) * elapsed / n
            dead = [variant_name(grid[i]) for i in np.flatnonzero(~last["alive"])]
            print(
                f"epoch {epoch}/{cfg.epochs}  {elapsed / n:6.1f} s/epoch  "
                f"{rate:9.0f} windows/s (all variants)  ETA {eta:5.0f} s | "
                + "  ".join(
                    f"{k} {np.nanmedian(last[k]):.3f} [{np.nanmin(last[k]):.3f}-"
                    f"{np.nanmax(last[k]):.3f}]"
                    for k in ("san_loss", "pred_loss", "disc_loss")
                    if k in last
                )
                + (f" | diverged: {', '.join(dead)}" if dead else ""),
                flush=True,
            )
        ckpt.wait()
    except KeyboardInterrupt:
        ckpt.close()
        print(f"\ninterrupted; run the same command again to resume from {out / 'checkpoints'}")
        return 130
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    finally:
        ckpt.close()

    results = evaluate_variants(cfg, vmesh, state, hp, data)
    rows = []
    for i, v in enumerate(grid):
        rows.append(
            {"variant": variant_name(v), "alpha": v["alpha"], "lam": v["lam"], "seed": v["seed"]}
            | {k: float(history[-1][k][i]) for k in LOSSES if history and k in history[-1]}
            | {k: np.asarray(val)[i].item() for k, val in results.items()}
        )
    summary = {
        "run": str(out),
        "preset": args.preset,
        "epochs": int(np.asarray(state["epoch"])[0]),
        "train_seconds": round(time.time() - t_start, 1),
        "devices": [str(d) for d in jax.devices()],
        "held_out_users": list(data.test_subjects),
        "variants": rows,
    }
    if history:
        plot_loss_history(
            history,
            [variant_name(v) for v in grid],
            [k for k in LOSSES if k in history[-1]],
            out / "losses.png",
            colour_by=[v["alpha"] for v in grid],
        )
    columns = ["variant", "san_loss", "pred_loss", "disc_loss", "distortion", "activity_acc"]
    columns += ["gender_acc", "alive"]
    table = format_table(rows, columns)
    write_json_atomic(out / "summary.json", summary)
    title = TITLES.get(method, method)
    write_text_atomic(out / "summary.md", f"# {title} {args.preset}: held-out users\n\n{table}\n")
    if args.export:
        from jaxpriv.methods.dysan_io import export_sanitizer, load_sanitizers

        for t in load_sanitizers(out):
            export_sanitizer(t, out / "export" / f"{t.name}.jaxexport")
        print(f"exported {len(grid)} sanitizers (jax.export) to {out / 'export'}")
    print(
        f"\nheld-out users {', '.join(data.test_subjects)}: jointly trained predictor "
        f"(activity) and discriminator (gender) on sanitized windows\n{table}\n"
        f"written to {out}/summary.json, summary.md, metrics.json (per-variant losses per "
        f"epoch), losses.png; checkpoints in {out}/checkpoints"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
