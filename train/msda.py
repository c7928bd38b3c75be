"""Train MSDA's anonymizing autoencoder (AAE) and REP at once: ``python -m train.msda``.

Both variants of the default grid (AAE: beta_enc 1, beta_dec 1, beta_act 2,
beta_dist 0.01; REP: the same with beta_dec 0) train in one compiled program,
vmapped over the grid and sharded over every device, by the Figure 6 procedure
of seed 002 (see :mod:`jaxpriv.methods.msda`): pretraining as the identity, then
rounds of regularizers (early-stopped on a validation split: the last 20% of
each training recording) and AAE epochs against them, until each variant
converges or ``--rounds`` is reached.

Data: MSDA's input (``jaxpriv.data.task.msda_task``): the magnitudes of rotationRate and of
userAcceleration + gravity, windows of 128 with stride 10, standardised, the
Trial split (every user's last trial of each activity held out).

The run checkpoints into ``<out>/checkpoints`` after pretraining (step 0) and
after every round (step r); running the same command again resumes from the
last one and ends where an uninterrupted run ends (``--rounds`` may be raised to
continue a finished run). At the end, fresh regularizers are trained on the
final outputs (an audit of what is left) and ``summary.json`` / ``summary.md``
(per variant and round: the regularizers' validation accuracies and the AAE
losses), ``metrics.json`` and ``losses.png`` are written. Evaluate with
``python -m eval.harness --run <out>``.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from jaxpriv.data.dataset import DataFormatError
from jaxpriv.data.task import msda_task
from jaxpriv.grid import parse_grid
from jaxpriv.methods import msda
from jaxpriv.methods.msda_io import METHOD
from jaxpriv.methods.msda_sweep import MsdaSweep
from jaxpriv.plots import save_figure
from jaxpriv.run import Chunk, Plan, Summary, drive, fixed_chunks, run_metadata
from jaxpriv.run_io import format_table
from jaxpriv.sweep import make_variant_mesh
from train import (
    check_test_data,
    finish_run,
    load_task,
    parse_command,
    run_parser,
    run_spec,
    setup_error,
    task_identity,
)

# Settings that may differ when resuming (a loop limit, not a shape or a code path).
RESUMABLE_CONFIG = ("rounds",)


def build_parser() -> argparse.ArgumentParser:
    p = run_parser("msda", __doc__, msda.PRESETS, test_data=True)
    p.add_argument(
        "--grid",
        help="variants: 'beta_dec=1,0', a JSON list, or @file.json; keys "
        f"{list(msda.HP_KEYS)}, missing betas default to the AAE's (default: AAE and REP)",
    )
    p.add_argument("--seed", type=int, default=0, help="base seed; variant i uses seed + i")
    p.add_argument("--lr", type=float, default=msda.DEFAULT_LR, help="Adam learning rate (AAE)")
    p.add_argument("--lr-reg", type=float, default=msda.DEFAULT_LR, help="regularizers' lr")
    p.add_argument("--rounds", type=int, help="override the preset's round limit")
    p.add_argument("--filters", type=int, help="override the autoencoder's filters")
    p.add_argument("--pretrain-epochs", type=int, help="override the preset's pretraining")
    p.add_argument("--reg-epochs", type=int, help="override the regularizers' epoch limit")
    p.add_argument("--aae-epochs", type=int, help="override the AAE epochs per round")
    p.add_argument("--subsample", type=int, help="keep every k-th training window")
    return p


def make_grid(args: argparse.Namespace) -> list[dict[str, Any]]:
    """The grid with every hyperparameter filled in (betas default to the AAE's)."""
    grid = parse_grid(args.grid, msda.HP_KEYS) if args.grid else msda.DEFAULT_GRID
    out = []
    for i, variant in enumerate(grid):
        full = {**msda.AAE_BETAS, "lr": args.lr, "lr_reg": args.lr_reg, "seed": args.seed + i}
        full = {**full, **variant}
        negative = [k for k in msda.BETAS if full[k] < 0]
        if negative:
            raise ValueError(f"--grid variant {i} {variant}: {negative} must be >= 0")
        # Fixed key order and types, so a resumed run's grid compares equal.
        out.append({k: (int(full[k]) if k == "seed" else float(full[k])) for k in msda.HP_KEYS})
    return out


def config_from(args: argparse.Namespace) -> msda.MsdaConfig:
    overrides = {
        "rounds": args.rounds,
        "filters": args.filters,
        "pretrain_epochs": args.pretrain_epochs,
        "reg_epochs": args.reg_epochs,
        "aae_epochs": args.aae_epochs,
        "subsample": args.subsample,
    }
    return msda.preset_config(args.preset, **{k: v for k, v in overrides.items() if v is not None})


def main(argv: list[str] | None = None) -> int:
    argv, args = parse_command(build_parser(), argv)
    out = Path(args.out or f"runs/msda-{args.preset}")
    try:
        cfg = config_from(args)
        grid = make_grid(args)
        base = msda_task(window=cfg.window, stride=cfg.stride)
        task, ds, prepared = load_task(args, base, require=("activity", "subject"))
        win = prepared.train_windows
        cfg = dataclasses.replace(
            cfg,
            num_channels=len(win.channels),
            num_users=len(win.subjects),
            num_activities=len(win.activities),
        )
        train_idx, val_idx = msda.split_validation(
            win.recording, win.start, cfg.window, cfg.val_fraction, cfg.subsample
        )
        test_data = check_test_data(args, task, ds)
    except (DataFormatError, ValueError) as err:
        return setup_error(err)
    data = {
        "train": msda.training_arrays(prepared.train, train_idx),
        "val": msda.training_arrays(prepared.train, val_idx),
    }
    names = msda.variant_names(grid)
    print(
        f"data: {ds.name}, {len(win)} training windows ({prepared.split} split) -> "
        f"{len(train_idx)} to train and {len(val_idx)} to validate (every {cfg.subsample}), "
        f"{len(prepared.test_windows)} held-out windows; {cfg.num_users} users; "
        f"variants {', '.join(names)}"
    )

    vmesh = make_variant_mesh(len(grid))
    hp = vmesh.stack(grid)
    data = vmesh.replicate(data)
    sweep = MsdaSweep(cfg, vmesh, log=lambda line: print(line, flush=True))

    def start(state: Any) -> tuple[Any, list[dict]]:
        state, records = sweep.pretrain(state, hp, data)
        return state, [{"phase": "pretrain", **r} for r in records]

    def advance(state: Any, chunk: Chunk) -> tuple[Any, list[dict]]:
        records = []
        for _ in range(chunk.n):
            if not _any_active(state, len(grid)):
                break
            state, record = sweep.run_round(state, hp, data)
            records.append(record)
        return state, records

    plan = Plan(
        init=sweep.init,
        advance=advance,
        position=_round,
        chunks=fixed_chunks(cfg.rounds),
        total=cfg.rounds,
        unit="round",
        show=(),
        start=start,
        finished=lambda state: not _any_active(state, len(grid)),
    )
    meta = run_metadata(
        method=METHOD, task=task_identity(task, ds), config=cfg, grid=grid,
        resumable=RESUMABLE_CONFIG, data=ds.description, prepared=prepared.describe(),
        validation={
            "fraction": cfg.val_fraction,
            "subsample": cfg.subsample,
            "train_windows": len(train_idx),
            "val_windows": len(val_idx),
        },
    )  # fmt: skip
    spec = run_spec(args, "msda", argv, out=out, meta=meta, names=names, vmesh=vmesh, hp=hp)

    def finish(state: Any, history: list[dict], seconds: float) -> Summary:
        print("audit: fresh regularizers on the final latent and output (validation windows)")
        audit = sweep.audit(state, hp, data)
        return summarize(out, args.preset, cfg, grid, names, state, history, audit)

    return finish_run(drive(plan, spec, finish), out, test_data)


def _round(state: Any) -> int:
    return int(np.asarray(state["round"])[0])


def _any_active(state: Any, n: int) -> bool:
    alive = np.asarray(state["alive"])[:n]
    converged = np.asarray(state["converged"])[:n]
    return bool((alive & ~converged).any())


def summarize(out, preset, cfg, grid, names, state, history, audit) -> Summary:
    """The summary of a finished run (and its ``losses.png``)."""
    n = len(grid)
    pretrain = [h for h in history if h.get("phase") == "pretrain"]
    history = {"pretrain": pretrain, "rounds": [h for h in history if "round" in h]}
    host = {k: np.asarray(state[k])[:n] for k in ("alive", "converged", "converged_round")}
    variants = []
    for i, (name, hp) in enumerate(zip(names, grid, strict=True)):
        rounds = []
        for rec in history["rounds"]:
            reg = {k: v[i] for k, v in rec["regularizers"].items()}
            rounds.append(
                {
                    "round": rec["round"],
                    "identity_acc_from_latent": reg["enc_val_acc"],
                    "identity_acc_from_output": reg["dec_val_acc"],
                    "activity_acc_from_output": reg["act_val_acc"],
                    "train": {k: v[i] for k, v in rec["aae_train"].items()},
                    "val": {k: v[i] for k, v in rec["aae_val"].items()},
                }
            )
        variants.append(
            {
                "name": name,
                "hp": hp,
                "alive": bool(host["alive"][i]),
                "converged": bool(host["converged"][i]),
                "converged_round": int(host["converged_round"][i]),
                "pretrain_val_mse": history["pretrain"][-1]["val_mse"][i]
                if history["pretrain"]
                else None,
                "rounds": rounds,
                "audit": {
                    "identity_acc_from_latent": audit["enc_val_acc"][i],
                    "identity_acc_from_output": audit["dec_val_acc"][i],
                    "activity_acc_from_output": audit["act_val_acc"][i],
                },
            }
        )
    summary = {
        "preset": preset,
        "config": dataclasses.asdict(cfg),
        "rounds_done": _round(state),
        "chance_identity": 1.0 / cfg.num_users,
        "variants": variants,
    }
    lines = [f"# MSDA {preset}: AAE and REP\n"]
    lines.append(
        "Validation accuracies of the regularizers, trained at the start of each round on the "
        "previous round's outputs (round 1: the pretrained autoencoder), and the AAE's "
        f"validation losses after the round. Chance for identity: {1 / cfg.num_users:.3f}.\n"
    )
    for v in variants:
        rows = [
            {
                "round": r["round"],
                "id from Y": r["identity_acc_from_latent"],
                "id from x'": r["identity_acc_from_output"],
                "act from x'": r["activity_acc_from_output"],
                "val L": r["val"]["val_total"],
                "val L_i(Y)": r["val"]["val_identity_latent"],
                "val L_i(x')": r["val"]["val_identity_output"],
                "val CE act": r["val"]["val_activity"],
                "val MSE": r["val"]["val_distortion"],
            }
            for r in v["rounds"]
        ]
        rows.append({"round": "audit", **{
            "id from Y": v["audit"]["identity_acc_from_latent"],
            "id from x'": v["audit"]["identity_acc_from_output"],
            "act from x'": v["audit"]["activity_acc_from_output"],
        }})  # fmt: skip
        status = "converged at round " + str(v["converged_round"]) if v["converged"] else (
            "round limit reached" if v["alive"] else "DIVERGED"
        )  # fmt: skip
        lines.append(f"## {v['name']} ({status})\n")
        lines.append(format_table(rows, list(rows[0])) + "\n")
    if history["rounds"]:
        plot_rounds(history["rounds"], names, out / "losses.png")
    return Summary(data=summary, markdown="\n".join(lines), console="\n".join(lines))


def plot_rounds(rounds: list[dict], names: list[str], path: Path) -> Path:
    """Per round: the regularizers' validation accuracies and the AAE's validation losses."""
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    panels = [("regularizers", k) for k in ("enc_val_acc", "dec_val_acc", "act_val_acc")]
    panels += [("aae_val", k) for k in ("val_total", "val_distortion")]
    titles = {
        "enc_val_acc": "identity acc from Y",
        "dec_val_acc": "identity acc from x'",
        "act_val_acc": "activity acc from x'",
        "val_total": "validation L",
        "val_distortion": "validation MSE",
    }
    x = [r["round"] for r in rounds]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4), squeeze=False)
    for ax, (part, key) in zip(axes[0], panels, strict=True):
        for i, name in enumerate(names):
            ax.plot(x, [r[part][key][i] for r in rounds], marker="o", lw=1.2, label=name)
        ax.set_title(titles[key])
        ax.set_xlabel("round")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    return save_figure(fig, path)


if __name__ == "__main__":
    raise SystemExit(main())
