"""Train GEN (guardian-estimator-neutralizer), one of DySan's baselines: ``python -m train.gen``.

An estimator CNN (activity softmax + gender sigmoid) is trained on raw windows
and frozen; a dense autoencoder, the guardian, is then trained so that the
frozen estimator keeps the activity while its gender output goes to 1/2
(``jaxpriv.losses.gen_guardian_loss``). The guardian is first pretrained for a
few epochs to reproduce its input (``--identity-epochs``, 0 to skip) so the
adversarial phase starts from the data. Data: DySan's (6 channels, windows of
125, stride 63, min-max, held-out users).

Every variant of the grid trains in one compiled program, vmapped and sharded
over the devices. Hyperparameters per variant: privacy_weight, utility_weight
(default: one variant, both 1), lr_est, lr_guard, seed. A grid is, e.g.,
``--grid 'privacy_weight=0.5,1,2'`` (seed = --seed + i per variant) or
``--grid 'privacy_weight=0.5,1,2;seed=0'`` (one shared, identical estimator), a
JSON list, or ``@grid.json``.

The run checkpoints into ``--out`` after each chunk of epochs; the same command
resumes from the last checkpoint and ends where an uninterrupted run ends. At the
end it writes ``summary.json`` / ``summary.md``: per variant, the frozen
estimator's activity and gender accuracy on held-out users' raw windows and on
the guardian's releases (GEN's own, frozen-attacker number; ``eval.harness``
retrains attackers on the releases).
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from jaxpriv.data.dataset import DataFormatError
from jaxpriv.data.task import dysan_task
from jaxpriv.grid import parse_grid
from jaxpriv.methods import gen
from jaxpriv.nn.gen import ACTIVATIONS
from jaxpriv.plots import plot_loss_history
from jaxpriv.run import (
    Chunk,
    Plan,
    Summary,
    drive,
    epoch_advance,
    epoch_counter,
    run_metadata,
)
from jaxpriv.run_io import format_table
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

# The metric printed (and plotted) for each phase.
PHASE_LOSSES = {
    "estimator": ("est_loss",),
    "identity": ("identity_mse",),
    "guardian": ("guard_loss", "guard_activity_ce", "guard_gender_gap", "guard_mse"),
}


def build_parser() -> argparse.ArgumentParser:
    p = run_parser("gen", __doc__, gen.PRESETS, split="subject", test_data=True)
    p.add_argument(
        "--grid",
        help="variants: 'privacy_weight=0.5,1,2;utility_weight=1', a JSON list, or "
        "@file.json (default: one variant, both weights 1)",
    )
    p.add_argument("--seed", type=int, default=0, help="base seed; variant i uses seed + i")
    p.add_argument("--lr-est", type=float, default=gen.DEFAULT_LR_EST, help="estimator's Adam lr")
    p.add_argument(
        "--lr-guard", type=float, default=gen.DEFAULT_LR_GUARD, help="guardian's Adam lr"
    )
    p.add_argument("--epochs", type=int, help="override the preset's guardian (adversarial) epochs")
    p.add_argument("--est-epochs", type=int, help="override the preset's estimator epochs")
    p.add_argument(
        "--identity-epochs", type=int, help="override the preset's identity pretraining epochs"
    )
    p.add_argument("--batch-size", type=int, help="override the preset's batch size")
    p.add_argument("--est-features", help="estimator's conv layers, e.g. 32,64,64")
    p.add_argument("--hidden", help="guardian's dense layers, e.g. 512,256,512")
    p.add_argument("--activation", choices=sorted(ACTIVATIONS), help="guardian's activation")
    return p


def make_grid(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The full grid: every variant with all of ``gen.HP_KEYS``."""
    grid = parse_grid(args.grid, gen.HP_KEYS) if args.grid else [{}]
    out = []
    for i, variant in enumerate(grid):
        full = {
            "privacy_weight": 1.0,
            "utility_weight": 1.0,
            "lr_est": args.lr_est,
            "lr_guard": args.lr_guard,
            "seed": args.seed + i,
        } | variant
        for key in ("privacy_weight", "utility_weight"):
            full[key] = float(full[key])
            if not full[key] >= 0:
                raise ValueError(f"--grid variant {i} {variant}: {key} must be >= 0")
        for key in ("lr_est", "lr_guard"):
            if not full[key] > 0:
                raise ValueError(f"--grid variant {i} {variant}: {key} must be > 0")
        if not isinstance(full["seed"], int):
            raise ValueError(f"--grid variant {i} {variant}: seed must be an integer")
        out.append({k: full[k] for k in gen.HP_KEYS})
    return out


def config_from(args: argparse.Namespace) -> gen.GenConfig:
    overrides = {
        "epochs": args.epochs,
        "est_epochs": args.est_epochs,
        "identity_epochs": args.identity_epochs,
        "batch_size": args.batch_size,
        "activation": args.activation,
    }
    for flag, text in (("est_features", args.est_features), ("hidden", args.hidden)):
        if text:
            try:
                overrides[flag] = tuple(int(h) for h in text.split(","))
            except ValueError:
                raise ValueError(
                    f"--{flag.replace('_', '-')} {text!r}: expected sizes like 512,256,512"
                ) from None
    return gen.preset_config(args.preset, **{k: v for k, v in overrides.items() if v is not None})


def main(argv: list[str] | None = None) -> int:
    argv, args = parse_command(build_parser(), argv)
    out = Path(args.out or f"runs/gen-{args.preset}")
    try:
        cfg = config_from(args)
        grid = make_grid(args)
        task, ds, data = load_task(args, dysan_task(window=cfg.window, stride=cfg.stride))
        win = data.train_windows  # the networks follow the task's channels and activities
        cfg = dataclasses.replace(
            cfg, num_channels=len(win.channels), num_activities=len(win.activities)
        )
        test_data = check_test_data(args, task, ds)
    except (DataFormatError, ValueError) as err:
        return setup_error(err)
    names = gen.variant_names(grid)
    print(f"{describe_windows(ds, data)}; {len(grid)} variant(s): {', '.join(names)}")

    vmesh, init_all, run_all = gen.compiled(cfg, len(grid))
    hp = vmesh.stack(grid)
    train_arrays = vmesh.replicate(data.train)

    plan = Plan(
        init=init_all,
        advance=epoch_advance(
            lambda state, chunk: run_all(state, hp, train_arrays, chunk.phase, chunk.n), len(grid)
        ),
        position=epoch_counter,
        chunks=lambda at, every: [Chunk(n, p) for p, n in gen.schedule(cfg, at, every)],
        total=cfg.total_epochs,
        show=PHASE_LOSSES,
        work_per_unit=max(len(data.train_windows) // cfg.batch_size, 1) * cfg.batch_size,
    )
    meta = run_metadata(
        method="gen", task=task_identity(task, ds), config=cfg, grid=grid,
        data=ds.description, prepared=data.describe(),
    )  # fmt: skip
    spec = run_spec(args, "gen", argv, out=out, meta=meta, names=names, vmesh=vmesh, hp=hp)

    def finish(state: Any, history: list[dict], seconds: float) -> Summary:
        results = gen.evaluate_variants(cfg, vmesh, state, hp, data)
        final = {h["phase"]: h for h in history}  # the last epoch of each phase
        rows = []
        for i, (name, v) in enumerate(zip(names, grid, strict=True)):
            losses = {
                k: float(h[k][i]) for h in final.values() for k in PHASE_LOSSES[h["phase"]]
                if k in h
            }  # fmt: skip
            rows.append(
                {"variant": name, **v, **losses}
                | {k: np.asarray(val)[i].item() for k, val in results.items()}
            )
        guardian_history = [h for h in history if h["phase"] == "guardian"]
        if guardian_history:
            plot_loss_history(
                guardian_history, names, PHASE_LOSSES["guardian"], out / "losses.png",
                colour_by=[v["privacy_weight"] for v in grid],
            )  # fmt: skip
        columns = ["variant", "raw_activity_acc", "activity_acc", "raw_gender_acc"]
        table = format_table(rows, [*columns, "gender_acc", "gender_gap", "distortion", "alive"])
        return Summary(
            data={
                "preset": args.preset,
                "epochs": epoch_counter(state),
                "held_out_users": list(data.test_subjects),
                "variants": rows,
            },
            markdown=f"# GEN {args.preset}: held-out users, the frozen estimator\n\n"
            "raw_*: on raw windows; the others: on the guardian's releases. distortion: L1 "
            f"per channel in [-1, 1] units.\n\n{table}\n",
            console=f"\nheld-out users {', '.join(data.test_subjects)}: the frozen estimator's "
            f"accuracy on raw windows and on the guardian's releases\n{table}",
        )

    return finish_run(drive(plan, spec, finish), out, test_data)


if __name__ == "__main__":
    raise SystemExit(main())
