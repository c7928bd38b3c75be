"""Train symbolic sequence generators (seed 004): ``python -m train.symbolic --model X``.

Values are discretized into ``--bins`` symbols per feature; a WaveNet, RNN or
Transformer learns to predict the next symbol. Sensor data (``--data``, default the
embedded dataset) become activity-labelled windows of 32 steps x 3 userAcceleration
channels at 25 Hz; a numeric CSV (``--csv``) becomes one sequence per row. Every variant
of ``--grid`` (learning rate ``lr`` and ``seed``) trains at once, vmapped and sharded
over the devices. The run checkpoints after every ``--save-every`` epochs into ``--out``;
running the same command again resumes and ends where an uninterrupted run ends.

Outputs in ``--out``: ``summary.json`` / ``summary.md`` (held-out next-symbol NLL in
nats per symbol, and perplexity, per variant), ``metrics.json`` (losses per epoch),
``losses.png``, ``samples.png`` (generated vs real). Load a trained generator with
``jaxpriv.methods.symbolic_io.load_generator(out)``.
"""

from __future__ import annotations

import argparse
import functools
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxpriv.data.channels import resolve_channel_spec
from jaxpriv.data.dataset import DataFormatError
from jaxpriv.data.load import load_dataset
from jaxpriv.data.task import dataset_identity, parse_activity_spec
from jaxpriv.grid import parse_grid
from jaxpriv.methods import symbolic
from jaxpriv.methods.symbolic_io import load_generator, variant_name
from jaxpriv.plots import plot_loss_history, save_figure
from jaxpriv.quantize import load_tabular_csv
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
from train import add_run_arguments, add_split_argument, parse_command, run_spec, setup_error

EVAL_CHUNK = 256  # sequences per held-out evaluation step


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m train.symbolic",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", required=True, choices=symbolic.MODELS)
    p.add_argument("--cell", choices=symbolic.CELLS, help="RNN cell (default gru; --model rnn)")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--data", help="sensor dataset spec (default: embedded)")
    source.add_argument("--csv", help="a numeric CSV with a header: one sequence per row")
    p.add_argument("--subjects", help="subjects table (recordings CSV, MotionSense)")
    p.add_argument("--rate", type=float, help="sampling rate when the CSV has no time column")
    p.add_argument("--out", help="run folder (default: runs/symbolic-<model>-<preset>)")
    p.add_argument("--preset", default="quick", choices=sorted(symbolic.PRESETS))
    p.add_argument("--grid", help="variants: 'seed=0,1;lr=1e-3', a JSON list, or @file.json")
    p.add_argument("--seed", type=int, default=0, help="base seed; variant i uses seed + i")
    p.add_argument(
        "--lr", type=float, help="Adam learning rate (default: 2e-3; 5e-3 for --model rnn)"
    )
    p.add_argument("--bins", type=int, default=49, help="symbols per feature (default 49)")
    p.add_argument("--quantize", choices=("quantile", "uniform"), default="quantile")
    p.add_argument("--epochs", type=int, help="override the preset's epochs")
    p.add_argument("--batch-size", type=int, help="override the preset's batch size")
    p.add_argument("--steps-per-epoch", type=int, help="steps per epoch (0: one pass)")
    p.add_argument("--embed", type=int, help="override the token embedding (Transformer width)")
    p.add_argument("--hidden", type=int, help="override the RNN state / WaveNet hidden size")
    p.add_argument("--layers", type=int, help="override the number of stacked RNN layers")
    p.add_argument("--blocks", type=int, help="override the number of Transformer blocks")
    p.add_argument("--heads", type=int, help="override the number of Transformer heads")
    p.add_argument("--wavenet-channels", type=int, help="override the WaveNet's channels")
    p.add_argument("--wavenet-layers", type=int, help="WaveNet layers (0: cover the sequence)")
    p.add_argument("--window", type=int, help="steps per window (default 32)")
    p.add_argument("--stride", type=int, help="steps between windows (default 16)")
    p.add_argument("--downsample", type=int, help="average groups of N samples (default 2)")
    p.add_argument("--channels", help="channel spec, e.g. 'userAcceleration.*' or 'dysan'")
    p.add_argument(
        "--activities",
        help="activities, each a name in the data or DATA=TASK (default dws,ups,wlk,jog)",
    )
    p.add_argument("--norm", choices=("layer", "batch"), help="WaveNet normalization")
    p.add_argument("--lr-schedule", choices=("cosine", "constant"), help="default cosine")
    add_split_argument(p, "subject")
    p.add_argument(
        "--samples", type=int, default=2, help="generated examples per row in samples.png"
    )
    add_run_arguments(p)
    return p


def config_from(args: argparse.Namespace) -> symbolic.SymbolicConfig:
    if args.cell and args.model != "rnn":
        raise ValueError(f"--cell applies to --model rnn only (got --model {args.model})")
    if args.bins < 2:
        raise ValueError(f"--bins must be >= 2, got {args.bins}")
    if args.save_every < 1 or args.samples < 1:
        raise ValueError(
            f"--save-every and --samples must be >= 1, got {args.save_every}, {args.samples}"
        )
    overrides: dict[str, Any] = {
        "model": args.model,
        "num_bins": args.bins,
        "quantize": args.quantize,
        "cell": args.cell or "gru",
    }
    for flag, name in (
        ("epochs", "epochs"), ("batch_size", "batch_size"), ("steps_per_epoch", "steps_per_epoch"),
        ("window", "window"), ("stride", "stride"), ("downsample", "downsample"), ("norm", "norm"),
        ("embed", "embed"), ("hidden", "hidden"), ("layers", "layers"), ("blocks", "blocks"),
        ("heads", "heads"), ("wavenet_channels", "wavenet_channels"),
        ("wavenet_layers", "wavenet_layers"), ("lr_schedule", "lr_schedule"),
    ):  # fmt: skip
        if getattr(args, flag) is not None:
            overrides[name] = getattr(args, flag)
    if args.channels:
        overrides["channels"] = resolve_channel_spec(args.channels)
    if args.activities:
        overrides["activities"], overrides["activity_map"] = parse_activity_spec(args.activities)
    return symbolic.preset_config(args.preset, **overrides)


def make_grid(args: argparse.Namespace) -> list[dict[str, Any]]:
    grid = parse_grid(args.grid, symbolic.HP_KEYS) if args.grid else [{}]
    out = []
    for i, variant in enumerate(grid):
        lr = symbolic.DEFAULT_LR[args.model] if args.lr is None else args.lr
        full = {"lr": float(lr), "seed": args.seed + i} | variant
        if not isinstance(full["seed"], int):
            raise ValueError(f"--grid variant {i} {variant}: seed must be an integer")
        full["lr"] = float(full["lr"])
        if not full["lr"] > 0:
            raise ValueError(f"--grid variant {i} {variant}: lr must be > 0")
        out.append(full)
    return out


def prepare(args: argparse.Namespace, cfg: symbolic.SymbolicConfig):
    """``(cfg with the data's layout, SymbolicData, data description)``."""
    if args.csv:
        values, names = load_tabular_csv(args.csv)
        cfg, data = symbolic.prepare_tabular(values, names, cfg, seed=0)
        return cfg, data, {"kind": "csv", "path": str(Path(args.csv).resolve())}
    ds = load_dataset(
        args.data or "embedded", subjects=args.subjects, rate_hz=args.rate, progress=True
    )
    cfg, data = symbolic.prepare_windows(ds, cfg, split=args.split)
    return cfg, data, dict(ds.description)


def evaluate_nll(cfg, vmesh, state, data: dict[str, np.ndarray]) -> np.ndarray:
    """Held-out NLL (nats per symbol) of every variant, ``(num_variants,)``."""
    fn = compiled(cfg, vmesh)[2]
    tokens = data["tokens"]
    n = tokens.shape[0]
    total, count = 0.0, 0.0
    for start in range(0, n, EVAL_CHUNK):
        idx = np.arange(start, start + EVAL_CHUNK)
        weight = (idx < n).astype(np.float32)
        batch = {"tokens": tokens[np.minimum(idx, n - 1)], "valid": data["valid"], "weight": weight}
        s, c = fn(state, vmesh.replicate(batch))
        total = total + np.asarray(s)[: vmesh.num_variants]
        count = count + np.asarray(c)[: vmesh.num_variants]
    return total / count


@functools.cache
def compiled(cfg: symbolic.SymbolicConfig, vmesh) -> tuple[Callable, Callable, Callable]:
    """``(init_all, run_all, nll_all)``: the sweep-jitted functions for ``cfg`` on ``vmesh``,
    cached so that calling ``main`` again in one process (a notebook, the tests) reuses
    the compiled programs."""
    init, run_epochs, _ = symbolic.make_train(cfg)
    return (
        sweep_jit(init, vmesh),
        sweep_jit(run_epochs, vmesh, data_argnums=(2,), static_argnums=(3,)),
        sweep_jit(symbolic.make_nll_sum(cfg), vmesh, data_argnums=(1,)),
    )


def main(argv: list[str] | None = None) -> int:
    argv, args = parse_command(build_parser(), argv)
    try:
        cfg = config_from(args)
        grid = make_grid(args)
        cfg, data, data_desc = prepare(args, cfg)
    except (DataFormatError, ValueError) as err:
        return setup_error(err)
    out = Path(args.out or f"runs/symbolic-{args.model}-{args.preset}")
    names = [variant_name(v, grid) for v in grid]
    what = "rows" if data.kind == "tabular" else "windows"
    print(
        f"data: {data_desc.get('name', data_desc.get('path'))}, {len(data.train_values)} training "
        f"{what}, {len(data.test_values)} held-out ({data.split}"
        + (f", held-out users {', '.join(data.test_subjects)}" if data.test_subjects else "")
        + f"); {cfg.seq_len} symbols per sequence, {cfg.num_bins} bins ({cfg.quantize}); "
        f"model {cfg.model}" + (f" ({cfg.cell})" if cfg.model == "rnn" else "")
    )

    vmesh = make_variant_mesh(len(grid))
    hp = vmesh.stack(grid)
    train_arrays = vmesh.replicate(data.train)
    init_all, run_all, _ = compiled(cfg, vmesh)
    references = symbolic.reference_nll(data)

    steps = cfg.steps_per_epoch or max(len(data.train_values) // cfg.batch_size, 1)
    plan = Plan.by_epochs(
        init_all,
        epoch_advance(
            lambda state, chunk: run_all(state, hp, train_arrays, chunk.n),
            len(grid),
            keys=("loss",),
            last=lambda state: {"test_nll": evaluate_nll(cfg, vmesh, state, data.test).tolist()},
        ),
        cfg.epochs,
        show=("loss", "test_nll"),
        work_per_unit=steps * cfg.batch_size * cfg.seq_len,
        work_name="symbols",
    )
    task = {"dataset": dataset_identity(data_desc), "prepared": data.describe()}
    meta = run_metadata(
        method="symbolic", task=task, config=cfg, grid=grid, data=data_desc,
        prepared=data.describe(),
    )  # fmt: skip
    spec = run_spec(args, "symbolic", argv, out=out, meta=meta, names=names, vmesh=vmesh, hp=hp)

    def finish(state: Any, history: list[dict], seconds: float) -> Summary:
        test_nll = evaluate_nll(cfg, vmesh, state, data.test)
        alive = np.asarray(state["alive"])[: len(grid)]
        rows = []
        for i, v in enumerate(grid):
            rows.append(
                {"variant": names[i], "lr": v["lr"], "seed": v["seed"]}
                | ({"train_loss": float(history[-1]["loss"][i])} if history else {})
                | {
                    "test_nll": float(test_nll[i]),
                    "perplexity": float(math.exp(test_nll[i]))
                    if np.isfinite(test_nll[i])
                    else None,
                    "alive": bool(alive[i]),
                }
            )
        if history:
            plot_loss_history(
                history_for_plot(history), names, ["loss", "test_nll"], out / "losses.png"
            )
        best = int(np.nanargmin(np.where(alive, test_nll, np.inf))) if alive.any() else 0
        plot_samples(out, best, data, args.samples)
        table = format_table(rows, ["variant", "train_loss", "test_nll", "perplexity", "alive"])
        refs = ", ".join(f"{k} {v:.3f}" for k, v in references.items())
        return Summary(
            data={
                "model": cfg.model,
                "preset": args.preset,
                "epochs": epoch_counter(state),
                "kind": data.kind,
                "symbols_per_sequence": cfg.seq_len,
                "num_bins": cfg.num_bins,
                "held_out": data.split,
                "held_out_sequences": len(data.test_values),
                "reference_nll": references,
                "variants": rows,
            },
            markdown=f"# Symbolic {cfg.model} ({args.preset}): held-out next-symbol NLL "
            f"(nats/symbol)\n\n{table}\n\nReferences: {refs}.\n",
            console=f"\nheld-out next-symbol NLL (nats per symbol; {refs})\n{table}\n"
            "samples.png: generated next to held-out",
        )

    return drive(plan, spec, finish)


def history_for_plot(history: list[dict]) -> list[dict]:
    """Epochs that have a held-out NLL (the last of each checkpointed chunk)."""
    return [h for h in history if "test_nll" in h]


def plot_samples(out: Path, index: int, data: symbolic.SymbolicData, per_row: int) -> Path:
    """Generated vs real: per activity, a held-out window and generated ones (windows);
    per feature, histograms of held-out and generated values (tabular)."""
    import matplotlib.pyplot as plt

    gen = load_generator(out, index)
    key = jax.random.key(0)
    if data.kind == "tabular":
        fake = gen.sample(key, max(200, per_row), activity=None).x
        real = data.test_values[:, 0, :]
        f = min(real.shape[1], 8)
        fig, axes = plt.subplots(1, f, figsize=(3 * f, 2.6), squeeze=False, layout="constrained")
        for j, ax in enumerate(axes[0]):
            lo = min(real[:, j].min(), fake[:, j].min())
            hi = max(real[:, j].max(), fake[:, j].max())
            bins = np.linspace(lo, hi, 30) if hi > lo else np.linspace(lo - 0.5, hi + 0.5, 3)
            ax.hist(real[:, j], bins=bins, alpha=0.5, density=True, label="held-out")
            ax.hist(fake[:, j], bins=bins, alpha=0.5, density=True, label="generated")
            ax.set_title(data.names[j], fontsize=8)
        axes[0][0].legend(fontsize=7)
        fig.suptitle(f"{gen.name}: held-out vs generated rows")
        return save_figure(fig, out / "samples.png")
    acts = list(range(len(data.activities)))
    fake = gen.sample(key, len(acts) * per_row, activity=np.repeat(acts, per_row))
    rng = np.random.default_rng(0)
    t = np.arange(gen.config.window) / (data.rate_hz or 1.0)
    fig, axes = plt.subplots(
        len(acts), 1 + per_row, figsize=(3.2 * (1 + per_row), 2.2 * len(acts)),
        squeeze=False, sharex=True, sharey=True, layout="constrained",
    )  # fmt: skip
    for r, a in enumerate(acts):
        pool = np.flatnonzero(data.test_activity == a)
        real = data.test_values[rng.choice(pool)] if pool.size else None
        panels = [("held-out", real)] + [
            ("generated", fake.x[r * per_row + k]) for k in range(per_row)
        ]
        for c, (title, x) in enumerate(panels):
            ax = axes[r][c]
            if x is not None:
                for ch in range(x.shape[1]):
                    ax.plot(t, x[:, ch], lw=1, label=data.names[ch])
            ax.set_title(f"{data.activities[a]}: {title}", fontsize=8)
            ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=6)
    axes[-1][0].set_xlabel("s")
    fig.suptitle(f"{gen.name}: held-out windows vs generated (conditioned on the activity)")
    return save_figure(fig, out / "samples.png")


if __name__ == "__main__":
    raise SystemExit(main())
