"""Train SenseGen generators: ``python -m train.sensegen``.

SenseGen (seed 000) models accelerometer traces with stacked LSTMs and a
mixture density head, trained by truncated backpropagation through time. All
variants of ``--grid`` (seeds and learning rates; sizes are static) train at
once in one compiled program, vmapped and sharded over every device. The run
checkpoints into ``<out>/checkpoints`` after every ``--save-every`` epochs;
running the same command again resumes and ends where an uninterrupted run
ends. At the end it writes ``summary.json`` / ``summary.md`` (per variant: the
final training NLL and the NLL on held-out users' windows), ``metrics.json``,
``losses.png`` and ``samples.png`` (generated traces next to real ones).
Load a trained generator with ``jaxpriv.methods.sensegen_io.load_generator``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxpriv.data.dataset import DataFormatError
from jaxpriv.data.load import load_dataset
from jaxpriv.data.task import dataset_identity, parse_activity_spec
from jaxpriv.grid import parse_grid
from jaxpriv.methods import sensegen
from jaxpriv.methods.sensegen_io import variant_name
from jaxpriv.plots import plot_loss_history, save_figure
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
from train import parse_command, run_parser, run_spec, setup_error

LOSSES = ("nll", "heldout_nll")


def build_parser() -> argparse.ArgumentParser:
    p = run_parser("sensegen", __doc__, sensegen.PRESETS, split="subject")
    p.add_argument(
        "--grid", help="variants: 'seed=0,1;lr=1e-3', a JSON list, or @file.json (keys lr, seed)"
    )
    p.add_argument("--seed", type=int, default=0, help="base seed; variant i uses seed + i")
    p.add_argument("--lr", type=float, default=sensegen.DEFAULT_LR, help="Adam learning rate")
    p.add_argument("--conditional", action="store_true", help="condition on the activity")
    p.add_argument("--attributes", action="store_true", help="condition on height, weight and age")
    p.add_argument("--epochs", type=int, help="override the preset's epochs")
    p.add_argument("--batch-size", type=int, help="override the preset's batch size")
    p.add_argument("--window", type=int, help="override the preset's window (samples)")
    p.add_argument("--segment", type=int, help="override the preset's BPTT segment (steps)")
    p.add_argument("--hidden", help="override the LSTM sizes, e.g. 64,64")
    p.add_argument("--components", type=int, help="override the number of mixture components")
    p.add_argument(
        "--stride", type=int, help="samples between training windows (default: the window)"
    )
    p.add_argument(
        "--self-feed",
        type=float,
        help="scheduled sampling: probability of feeding the model its own sample (0-1)",
    )
    p.add_argument(
        "--input-noise",
        type=float,
        help="std of noise on the teacher-forced inputs (standardised units)",
    )
    p.add_argument(
        "--lr-schedule",
        choices=sensegen.LR_SCHEDULES,
        help="learning rate over the epochs (cosine: down to 2%% of --lr at the last epoch)",
    )
    return p


def make_grid(args: argparse.Namespace) -> list[dict[str, Any]]:
    grid = parse_grid(args.grid, sensegen.HP_KEYS) if args.grid else [{}]
    out = []
    for i, variant in enumerate(grid):
        seed, lr = variant.get("seed", args.seed + i), variant.get("lr", args.lr)
        if not isinstance(seed, int) or not 0 <= seed < 2**31:
            raise ValueError(f"--grid variant {i}: seed must be a non-negative integer, got {seed}")
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"--grid variant {i}: lr must be positive, got {lr}")
        out.append({"lr": float(lr), "seed": int(seed)})
    names = [variant_name(v) for v in out]
    if len(set(names)) < len(names):
        raise ValueError(f"--grid has duplicate variants: {names}")
    return out


def config_from(args: argparse.Namespace) -> sensegen.SenseGenConfig:
    for flag in ("epochs", "batch_size", "window", "segment", "components", "stride", "save_every"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ValueError(f"--{flag.replace('_', '-')} must be >= 1, got {value}")
    overrides = {
        k: v
        for k, v in {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "window": args.window,
            "segment": args.segment,
            "components": args.components,
            "stride": args.stride,
            "input_noise": args.input_noise,
            "self_feed": args.self_feed,
            "lr_schedule": args.lr_schedule,
        }.items()
        if v is not None
    }
    if args.input_noise is not None and not args.input_noise >= 0:
        raise ValueError(f"--input-noise must be >= 0, got {args.input_noise}")
    if args.self_feed is not None and not 0 <= args.self_feed <= 1:
        raise ValueError(f"--self-feed must be in [0, 1], got {args.self_feed}")
    if args.hidden:
        try:
            overrides["hidden"] = tuple(int(h) for h in args.hidden.split(",") if h.strip())
        except ValueError:
            raise ValueError(f"--hidden {args.hidden!r}: expected sizes like 64,64") from None
    # num_activities is a placeholder until the data are known (main replaces it).
    return sensegen.preset_config(
        args.preset,
        conditional=args.conditional or sensegen.PRESETS[args.preset].get("conditional", False),
        attributes=args.attributes,
        num_activities=1,
        **overrides,
    )


def main(argv: list[str] | None = None) -> int:
    argv, args = parse_command(build_parser(), argv)
    out = Path(args.out or f"runs/sensegen-{args.preset}")
    try:
        cfg = config_from(args)
        grid = make_grid(args)
        ds = load_dataset(args.data, subjects=args.subjects, rate_hz=args.rate, progress=True)
        # Default: all the data's activities, and userAcceleration (the paper's data).
        activities, mapping = (
            parse_activity_spec(args.activities) if args.activities else (None, ())
        )
        data = sensegen.prepare_sensegen_data(
            ds,
            channels=args.channels or sensegen.SENSEGEN_CHANNELS,
            window=cfg.window,
            stride=cfg.stride,
            activities=activities,
            activity_map=mapping,
            split=args.split,
        )
        cfg = dataclasses.replace(cfg, channels=data.channels, num_activities=len(data.activities))
    except (DataFormatError, ValueError) as err:
        return setup_error(err)
    names = [variant_name(v) for v in grid]
    n_train, n_test = len(data.train["x"]), len(data.test["x"])
    print(
        f"data: {ds.name}, channels {', '.join(data.channels)}, activities "
        f"{', '.join(data.activities)}; {n_train} training and {n_test} held-out windows of "
        f"{cfg.window} samples ({data.split} split, held-out users {', '.join(data.test_subjects)})"
    )

    vmesh = make_variant_mesh(len(grid))
    hp = vmesh.stack(grid)
    train_arrays, test_arrays = vmesh.replicate(data.train), vmesh.replicate(data.test)
    init, run_epochs, _ = sensegen.make_train(cfg)
    run_all = sweep_jit(run_epochs, vmesh, data_argnums=(2,), static_argnums=(3,))
    nll_all = sweep_jit(sensegen.make_nll(cfg), vmesh, data_argnums=(1,))

    def heldout_nll(state: Any) -> dict[str, list[float]]:  # once per chunk, at its end
        nll = np.asarray(nll_all(state["params"], test_arrays))[: len(grid)]
        return {"heldout_nll": nll.tolist()}

    b = min(cfg.batch_size, n_train)
    plan = Plan.by_epochs(
        sweep_jit(init, vmesh),
        epoch_advance(
            lambda state, chunk: run_all(state, hp, train_arrays, chunk.n),
            len(grid),
            keys=("nll",),
            last=heldout_nll,
        ),
        cfg.epochs,
        show=LOSSES,
        work_per_unit=(n_train // b) * b * cfg.window,
        work_name="steps",
    )
    meta = run_metadata(
        method="sensegen", task=sensegen_task(args, ds, data), config=cfg, grid=grid,
        resumable=("epochs",), data=ds.description, prepared=data.describe(),
    )  # fmt: skip
    spec = run_spec(args, "sensegen", argv, out=out, meta=meta, names=names, vmesh=vmesh, hp=hp)

    def finish(state: Any, history: list[dict], seconds: float) -> Summary:
        heldout = np.asarray(history[-1]["heldout_nll"], np.float64)
        alive = np.asarray(state["alive"])[: len(grid)].astype(bool)
        baseline = gaussian_baseline_nll(data.test["x"])
        last_train = history[-1]["nll"]
        rows = [
            {
                "variant": names[i],
                "seed": v["seed"],
                "lr": v["lr"],
                "train_nll": float(last_train[i]),
                "heldout_nll": float(heldout[i]),
                "alive": bool(alive[i]),
            }
            for i, v in enumerate(grid)
        ]
        best = int(np.nanargmin(np.where(alive, heldout, np.nan))) if alive.any() else 0
        plot_loss_history(
            [h for h in history if all(k in h for k in LOSSES)], names, LOSSES,
            out / "losses.png",
        )  # fmt: skip
        params = jax.tree.map(lambda a: a[best], jax.device_get(state["params"]))
        plot_samples(cfg, params, data, out / "samples.png", title=names[best])
        table = format_table(rows, ["variant", "seed", "lr", "train_nll", "heldout_nll", "alive"])
        note = (
            f"NLL in nats per time step of the {len(data.channels)} standardised channels on "
            f"{n_test} windows of held-out users {', '.join(data.test_subjects)}; an "
            f"independent Gaussian per channel scores {baseline:.3f}."
        )
        return Summary(
            data={
                "preset": args.preset,
                "epochs": epoch_counter(state),
                "nll_units": "nats per time step, standardised units (all channels together)",
                "heldout_users": list(data.test_subjects),
                "heldout_windows": n_test,
                "gaussian_baseline_nll": baseline,
                "best_variant": names[best],
                "variants": rows,
            },
            markdown=f"# SenseGen {args.preset}\n\n{table}\n\n{note}\n",
            console=f"\n{table}\n{note}\nsamples.png: generated traces next to real ones",
        )

    return drive(plan, spec, finish)


def sensegen_task(args: argparse.Namespace, ds: Any, data: Any) -> dict[str, Any]:
    """The task part of the run's identity (the windows SenseGen trains on)."""
    prepared = data.describe()
    spec = {k: prepared.get(k) for k in ("activities", "channels", "window", "stride", "split")}
    spec["activity_map"] = parse_activity_spec(args.activities)[1] if args.activities else []
    return spec | {"rate_hz": args.rate, "dataset": dataset_identity(ds.description)}


def gaussian_baseline_nll(x_NxWxD: np.ndarray) -> float:
    """NLL per step of the standard normal per channel (the training mean and std): the
    score of a model that ignores time."""
    x = np.asarray(x_NxWxD, np.float64)
    return float(np.mean(np.sum(0.5 * (np.log(2 * np.pi) + np.square(x)), axis=-1)))


def plot_samples(cfg, params, data, path: Path, title: str = "", rows: int = 3) -> Path:
    """Real held-out windows (left) next to generated traces (right), in raw units.

    Conditional runs show one row per activity (up to four), generated with that
    activity; unconditional runs ``rows`` real windows and ``rows`` samples.
    """
    import matplotlib.pyplot as plt

    sample = jax.jit(sensegen.make_sample(cfg, data.scaler), static_argnums=(2, 3))
    test = data.test
    rng = np.random.default_rng(0)
    if cfg.conditional:
        present = [a for a in range(len(data.activities)) if (test["activity"] == a).any()][:4]
        real = [int(rng.choice(np.flatnonzero(test["activity"] == a))) for a in present]
        acts = np.asarray(present, np.int32)
        labels = [data.activities[a] for a in present]
    else:
        real = rng.choice(len(test["x"]), size=min(rows, len(test["x"])), replace=False).tolist()
        acts = None
        labels = [data.activities[test["activity"][i]] for i in real]
    attrs = test["attributes"][real] if cfg.attributes else None
    fake = np.asarray(sample(params, jax.random.key(0), len(real), cfg.window, 1.0, acts, attrs))
    real_x = data.scaler.invert(test["x"][real].astype(np.float64))
    t = np.arange(cfg.window) / data.rate_hz
    fig, axes = plt.subplots(
        len(real), 2, figsize=(11, 2.2 * len(real)), sharex=True, sharey="row", squeeze=False
    )
    for r in range(len(real)):
        # Unconditional samples have no activity: only the real windows are labelled.
        fake_title = f"generated ({labels[r]})" if cfg.conditional else "generated"
        for c, (x, panel) in enumerate(((real_x[r], f"real ({labels[r]})"), (fake[r], fake_title))):
            ax = axes[r][c]
            for d, channel in enumerate(data.channels):
                ax.plot(t, x[:, d], lw=0.8, label=channel)
            ax.set_title(panel, fontsize=9)
            ax.grid(alpha=0.3)
    axes[-1][0].set_xlabel("time (s)")
    axes[-1][1].set_xlabel("time (s)")
    axes[0][1].legend(fontsize=7, loc="upper right")
    fig.suptitle(f"SenseGen {title}: held-out users vs generated (temperature 1)", fontsize=10)
    return save_figure(fig, path)


if __name__ == "__main__":
    raise SystemExit(main())
