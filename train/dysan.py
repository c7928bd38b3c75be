"""Train DySan's grid of sanitizers at once: ``python -m train.dysan``.

All variants (by default the 36 pairs alpha, lambda in {0.1..0.8} with
alpha + lambda <= 0.9) train in one compiled program. ``--arch original`` (the
default) is the authors' networks, ``--arch light`` jaxpriv's smaller ones (not
the authors'); ``--activity-mode`` says what the sanitizer is told about the
activity (``original``: nothing, a zeroed input, as the authors' code;
``predicted``: an on-device classifier's label; ``none``; ``true``: the label, a
diagnostic that leaks it). The presets say which networks they use. Variants
are vmapped over the grid and sharded over every device. The run checkpoints
after each chunk of epochs into ``--out``; running the same command again
resumes from the last checkpoint and ends exactly where an uninterrupted run
ends. At the end it
prints, per variant, the final losses and the activity and gender accuracy
of the jointly trained predictor and discriminator on held-out users'
sanitized windows, and writes them to ``<out>/summary.json`` and ``summary.md``.

Multi-host: call ``jaxpriv.sweep.initialize_distributed()`` (done here) on
every host with the usual ``jax.distributed`` environment; the variant axis
is then sharded over the global devices.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from jaxpriv.data.dataset import DataFormatError
from jaxpriv.data.task import dysan_task
from jaxpriv.grid import dysan_grid, parse_grid
from jaxpriv.methods import dysan
from jaxpriv.methods.dysan_eval import evaluate_variants
from jaxpriv.plots import plot_loss_history
from jaxpriv.run import (
    Plan,
    Summary,
    drive,
    epoch_advance,
    epoch_counter,
    run_metadata,
)
from jaxpriv.run_io import format_table
from jaxpriv.sweep import make_variant_mesh, sweep_jit
from train import (
    check_test_data,
    describe_windows,
    finish_run,
    load_task,
    parse_command,
    run_parser,
    run_spec,
    setup_error,
    task_identity,
)

LOSSES = ("san_loss", "pred_loss", "disc_loss")
TITLES = {"dysan": "DySan", "olympus": "Olympus"}  # method name -> summary title


def build_parser() -> argparse.ArgumentParser:
    p = run_parser("dysan", __doc__, dysan.PRESETS, split="subject", test_data=True)
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
    p.add_argument("--width", type=float, help="light networks: override the width multiplier")
    p.add_argument(
        "--arch",
        choices=dysan.ARCHS,
        help="networks: 'original' (the authors', the default) or 'light' (jaxpriv's, smaller, "
        "NOT the authors'); default: the preset's",
    )
    p.add_argument(
        "--activity-mode",
        choices=dysan.ACTIVITY_MODES,
        help="the sanitizer's activity input: 'original' (zeroed, the authors' code; default), "
        "'predicted' (an on-device classifier's label, DySan(o)), 'none', or 'true' (the "
        "label: a diagnostic that LEAKS it)",
    )
    p.add_argument(
        "--mode",
        choices=("sum", "vector"),
        help="sanitizer steps: 'sum' (one on the weighted sum) or 'vector' (one per term, "
        "the authors' code); default: the preset's",
    )
    p.add_argument(
        "--unconditional",
        action="store_true",
        help="light networks: a sanitizer without conditioning (activity mode 'none')",
    )
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
            "arch": args.arch,
            "activity_mode": args.activity_mode,
            "mode": args.mode,
        }.items()
        if v is not None
    }
    if args.unconditional:
        overrides |= {"conditional": False, "activity_mode": "none"}
    return dysan.preset_config(args.preset, **overrides)


def variant_name(v: dict[str, Any]) -> str:
    return f"a{v['alpha']:g}-l{v['lam']:g}"


def main(argv: list[str] | None = None, method: str = "dysan") -> int:
    """Train and summarise; ``method`` is the name stored in the checkpoint's metadata
    (``train.olympus`` passes ``"olympus"``) and the default run folder's prefix."""
    argv, args = parse_command(build_parser(), argv)
    out = Path(args.out or f"runs/{method}-{args.preset}")
    try:
        cfg = config_from(args)
        grid = make_grid(args)
        task, ds, data = load_task(args, dysan_task(window=cfg.window, stride=cfg.stride))
        cfg = task_sized(cfg, data.train_windows)
        print(describe_windows(ds, data))
        test_data = check_test_data(args, task, ds)
    except (DataFormatError, ValueError) as err:
        return setup_error(err)
    names = [variant_name(v) for v in grid]
    vmesh = make_variant_mesh(len(grid))
    hp = vmesh.stack(grid)
    train_arrays = vmesh.replicate(dysan.dysan_arrays(data)[0])
    init, run_epochs, _ = dysan.make_train(cfg)
    run_all = sweep_jit(run_epochs, vmesh, data_argnums=(2,), static_argnums=(3,))
    start = None
    if cfg.activity_mode == "predicted":  # the on-device classifier, trained once

        def start(state):
            return dysan.fit_classifier_into(cfg, state, train_arrays, args.seed), []

    if cfg.leaks:
        print(f"warning: {dysan.LEAK_WARNING}")
    plan = Plan.by_epochs(
        sweep_jit(init, vmesh),
        epoch_advance(
            lambda state, chunk: run_all(state, hp, train_arrays, chunk.n), len(grid), keys=LOSSES
        ),
        cfg.epochs,
        show=LOSSES,
        work_per_unit=(len(data.train_windows) // cfg.batch_size) * cfg.batch_size,
        start=start,
    )
    meta = run_metadata(
        method=method, task=task_identity(task, ds), config=cfg, grid=grid,
        data=ds.description, prepared=data.describe(),
        conditioning=dysan.conditioning_stats(data),
    )  # fmt: skip
    spec = run_spec(args, method, argv, out=out, meta=meta, names=names, vmesh=vmesh, hp=hp)

    def finish(state: Any, history: list[dict], seconds: float) -> Summary:
        results = evaluate_variants(cfg, vmesh, state, hp, data)
        rows = []
        for i, v in enumerate(grid):
            rows.append(
                {"variant": names[i], "alpha": v["alpha"], "lam": v["lam"], "seed": v["seed"]}
                | {k: float(history[-1][k][i]) for k in LOSSES if history and k in history[-1]}
                | {k: np.asarray(val)[i].item() for k, val in results.items()}
            )
        if history:
            plot_loss_history(
                history, names, [k for k in LOSSES if k in history[-1]], out / "losses.png",
                colour_by=[v["alpha"] for v in grid],
            )  # fmt: skip
        columns = ["variant", "san_loss", "pred_loss", "disc_loss", "distortion"]
        table = format_table(rows, [*columns, "activity_acc", "gender_acc", "alive"])
        if args.export:
            from jaxpriv.methods.dysan_io import export_sanitizer, load_sanitizers

            for t in load_sanitizers(out):
                export_sanitizer(t, out / "export" / f"{t.name}.jaxexport")
            print(f"exported {len(grid)} sanitizers (jax.export) to {out / 'export'}")
        title = TITLES.get(method, method)
        setting = f"networks `{cfg.arch}`, activity mode `{cfg.activity_mode}`, mode `{cfg.mode}`"
        warning = f"**{dysan.LEAK_WARNING}**\n\n" if cfg.leaks else ""
        return Summary(
            data={
                "preset": args.preset,
                "arch": cfg.arch,
                "activity_mode": cfg.activity_mode,
                "leaks": cfg.leaks,
                "epochs": epoch_counter(state),
                "held_out_users": list(data.test_subjects),
                "variants": rows,
            },
            markdown=f"# {title} {args.preset}: held-out users\n\n{warning}{setting}\n\n{table}\n",
            console=f"\n{warning}held-out users {', '.join(data.test_subjects)}: jointly "
            f"trained predictor (activity) and discriminator (gender) on sanitized windows "
            f"({setting})\n{table}\nper-variant losses per epoch in metrics.json, plotted "
            "in losses.png",
        )

    return finish_run(drive(plan, spec, finish), out, test_data)


def task_sized(cfg: dysan.DysanConfig, windows: Any) -> dysan.DysanConfig:
    """``cfg`` with the networks sized by the task's windows: their channels, activities
    and length (the authors' sanitizer's bottleneck spans the whole window)."""
    return dataclasses.replace(
        cfg,
        num_channels=len(windows.channels),
        num_activities=len(windows.activities),
        window=int(windows.window),
    )


if __name__ == "__main__":
    raise SystemExit(main())
