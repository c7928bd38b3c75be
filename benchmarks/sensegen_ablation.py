"""SenseGen ablation: the discriminator and two drift diagnostics for several runs alike.

    python3 benchmarks/sensegen_ablation.py RUN [RUN ...] [--per-side 194] [--seed 0]

Each RUN is a ``train.sensegen`` folder. For every run, the harness's own
sampler (``eval.generated``) rebuilds the run's real windows and draws
samples; then the LSTM discriminator of the harness's ``quick`` preset
(5 seeds) tells ``--per-side`` of the real training windows from as many
generated ones. Unlike the harness, every run gets the same number of windows
a side, so runs with other strides or held-out sets compare fairly, and the
sanity rows are skipped (they do not depend on the generator; see a run's
harness report). The harness's feature forest judges the same splits
(``forest``), and for conditional runs both judges' accuracy per activity is
recorded (``per_activity``). The diagnostics say *why* a discriminator wins:

- ``offset``: the spread (std over windows) of each window's mean, relative to
  the real windows' (1 = as real; drifting samples are far above 1);
- ``kurtosis``: the median per-window kurtosis (real about 2.6; regime changes
  and spikes raise it).

Writes ``benchmarks/results/sensegen_ablation.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import platform
import sys
from pathlib import Path

import jax
import numpy as np

from eval.generated import SAMPLERS, run_method
from eval.generators import PRESETS
from jaxpriv.records import load_average, write_record
from jaxpriv.run_io import format_table
from jaxpriv.synthetic_metrics.discriminators import discriminator_test, feature_discriminator_test


def _kurtosis(x: np.ndarray) -> float:
    centred = x - x.mean(axis=1, keepdims=True)
    k = (centred**4).mean(axis=1) / np.maximum(centred.var(axis=1) ** 2, 1e-12)
    return float(np.median(k))


def measure(run: Path, per_side: int, seed: int) -> dict:
    """Discriminator accuracy and drift diagnostics of one run's samples."""
    if run_method(run) != "sensegen":
        raise SystemExit(f"error: {run} is not a SenseGen run")
    g = SAMPLERS["sensegen"](run, None, seed)
    n = min(per_side, len(g.real_test), len(g.synthetic), len(g.real_train))
    rng = np.random.default_rng(seed)
    real_rows = rng.permutation(len(g.real_train))[:n]
    syn_rows = rng.permutation(len(g.synthetic))[:n]
    real, synthetic = g.real_train[real_rows], g.synthetic[syn_rows]
    groups = None if g.y_synthetic is None else (g.y_train[real_rows], g.y_synthetic[syn_rows])
    cfg = PRESETS["quick"]
    result = discriminator_test(
        real, synthetic, key=jax.random.key(seed), seeds=5, cfg=cfg.discriminator, groups=groups
    )
    forest = feature_discriminator_test(
        real, synthetic, key=jax.random.key(seed), seeds=5, groups=groups,
        rate_hz=g.rate_hz, channels=g.channels, n_estimators=cfg.forest_trees,
    )  # fmt: skip
    offset = synthetic.mean(axis=1).std(axis=0) / real.mean(axis=1).std(axis=0)
    return {
        "run": str(run),
        "per_side": n,
        "accuracy": result["mean"],
        "low": result["low"],
        "high": result["high"],
        "accuracy_per_seed": result["accuracy_per_seed"],
        "offset_ratio": offset.round(2).tolist(),
        "kurtosis": {"synthetic": _kurtosis(synthetic), "real": _kurtosis(real)},
        "forest": {k: forest[k] for k in ("mean", "low", "high", "accuracy_per_seed")},
        "per_activity": {
            g.activities[int(a)]: {
                "lstm": v["accuracy"],
                "forest": forest["per_group"][a]["accuracy"],
            }
            for a, v in result.get("per_group", {}).items()
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--per-side", type=int, default=194, help="windows per side (default 194)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/sensegen_ablation.json"))
    args = p.parse_args(argv)
    load_at_start = load_average()
    if args.per_side < 10:
        p.error(f"--per-side must be >= 10, got {args.per_side}")
    rows = []
    for run in args.runs:
        if not (run / "checkpoints").is_dir():
            p.error(f"{run}: no checkpoints folder (not a train.sensegen run)")
        rows.append(measure(run, args.per_side, args.seed))
        r = rows[-1]
        print(f"{run}: discriminator {r['accuracy']:.1%}", flush=True)
    argv = sys.argv[1:] if argv is None else argv
    write_record(
        args.out,
        {"machine": f"{platform.machine()}, {jax.device_count()} {jax.default_backend()}",
         "jax": jax.__version__, "rows": rows},
        command=["python3", "benchmarks/sensegen_ablation.py", *argv],
        load_at_start=load_at_start,
    )  # fmt: skip
    columns = [
        "run", "discriminator (95% CI)", "feature forest", "offset x / y / z", "kurtosis (real)",
    ]  # fmt: skip
    table = [
        dict(zip(columns, [
            r["run"], f"{r['accuracy']:.1%} ({r['low']:.1%}-{r['high']:.1%})",
            f"{r['forest']['mean']:.1%}",
            " / ".join(f"{v:.2f}" for v in r["offset_ratio"]),
            f"{r['kurtosis']['synthetic']:.2f} ({r['kurtosis']['real']:.2f})",
        ], strict=True))
        for r in rows
    ]  # fmt: skip
    print(format_table(table, columns))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
