"""Generation throughput: samples/s vmapped in one call vs one sample at a time.

    python3 benchmarks/generation.py [--runs runs/sensegen-quick runs/symbolic-rnn-quick ...]
        [--samples 256] [--one-at-a-time 8]

For each trained generator run (default: the quick runs present under runs/),
(a) draws ``--samples`` samples in one call of its sampler (autoregressive
``lax.scan`` vmapped over samples) and (b) draws one sample per call,
``--one-at-a-time`` times, extrapolated to the same count. Compilation is
excluded from both (each shape is called once first). Writes
``benchmarks/results/generation.json``.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import jax
import numpy as np

from eval.generated import run_method
from jaxpriv.records import load_average, write_record
from jaxpriv.run_io import format_table

DEFAULT_RUNS = (
    "runs/sensegen-quick",
    "runs/symbolic-wavenet-quick",
    "runs/symbolic-rnn-quick",
    "runs/symbolic-transformer-quick",
)


def _sampler(run: Path) -> tuple[Callable[[int, int], object], str]:
    """``draw(seed, n)`` for the run's first generator, and what one sample is."""
    method = run_method(run)
    if method == "sensegen":
        from jaxpriv.methods.sensegen_io import load_generator

        gen = load_generator(run)
        length = gen.config.window
        return (
            lambda seed, n: gen.sample(seed, n, length)
        ), f"{length} steps x {len(gen.channels)}"
    if method == "symbolic":
        from jaxpriv.methods.symbolic_io import load_generator

        gen = load_generator(run)
        return (
            lambda seed, n: gen.sample(jax.random.key(seed), n).x
        ), f"{gen.config.seq_len} symbols ({gen.config.model})"
    raise ValueError(f"{run}: not a generator run (method {method!r})")


def _seconds(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    jax.block_until_ready(fn())
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", nargs="*", default=None)
    p.add_argument("--samples", type=int, default=256)
    p.add_argument("--one-at-a-time", type=int, default=8)
    p.add_argument("--out", default="benchmarks/results/generation.json")
    args = p.parse_args()
    load_at_start = load_average()
    runs = [Path(r) for r in (args.runs or [r for r in DEFAULT_RUNS if Path(r).is_dir()])]
    if not runs:
        raise SystemExit("no generator runs: train one first (python3 -m train.sensegen)")
    rows = []
    for run in runs:
        draw, what = _sampler(run)
        _seconds(lambda draw=draw: draw(0, args.samples))  # compile the batched shape
        batched = _seconds(lambda draw=draw: draw(1, args.samples))
        _seconds(lambda draw=draw: draw(0, 1))  # compile the single-sample shape
        single = sum(_seconds(lambda s=s, draw=draw: draw(s, 1)) for s in range(args.one_at_a_time))
        row = {
            "run": str(run),
            "sample": what,
            "vmapped samples/s": args.samples / batched,
            "one at a time samples/s": args.one_at_a_time / single,
        }
        row["speed-up"] = row["vmapped samples/s"] / row["one at a time samples/s"]
        rows.append(row)
        print(format_table([row], list(row)), flush=True)
    result = {
        "samples": args.samples,
        "one_at_a_time": args.one_at_a_time,
        "rows": rows,
        "devices": [str(d) for d in jax.devices()],
        "machine": f"{platform.machine()}, {jax.device_count()} device(s), jax {jax.__version__}",
    }
    write_record(
        args.out,
        result,
        command=["python3", "benchmarks/generation.py", *sys.argv[1:]],
        load_at_start=load_at_start,
    )
    print(format_table(rows, list(rows[0])))
    print(f"np {np.__version__}; written to {args.out}")


if __name__ == "__main__":
    main()
