"""DTW all-pairs throughput: ``jaxpriv.dtw.dtw_pairwise`` against dtaidistance.

Random (N, length, channels) float32 windows, N = ceil(sqrt(pairs)); every window of A
against every window of B (N * N pairs). Timed ways:

- jaxpriv ``dtw_pairwise`` (jitted, batched anti-diagonal scan): the best of ``--repeats``
  calls after a first one, whose compile time (JAX's trace/lower/compile events) is
  reported apart.
- dtaidistance ``dtw_ndim.distance_matrix_fast`` (C; OpenMP over pairs when available),
  on the A + B list with ``block`` restricted to the A x B cross pairs.
- dtaidistance ``dtw_ndim.distance_fast`` (C, one pair per call) in a Python loop.
- dtaidistance ``dtw_ndim.distance`` (pure Python) in a Python loop, on the first
  ``--python-pairs`` pairs only (it does a few pairs per second).

All use the same definition (squared-Euclidean local cost, sqrt at the end) and the same
``--window``. Results go to ``benchmarks/results/dtw.json``.

    python3 benchmarks/dtw.py [--pairs 40000] [--length 125] [--channels 6] [--window W]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import platform
import time
from pathlib import Path

import jax
import numpy as np
from dtaidistance import __version__ as dtai_version
from dtaidistance import dtw_ndim

from jaxpriv.dtw import dtw_pairwise
from jaxpriv.run_io import write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results" / "dtw.json"


def openmp_info() -> dict:
    """Whether dtaidistance's OpenMP extension loads, and how many threads it may use."""
    try:
        from dtaidistance import dtw_cc_omp

        supported = bool(dtw_cc_omp.is_openmp_supported())
    except ImportError:
        supported = False
    return {
        "openmp_supported": supported,
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "cpus_available": len(os.sched_getaffinity(0)),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pairs", type=int, default=40000, help="about this many pairs (N*N)")
    ap.add_argument("--length", type=int, default=125)
    ap.add_argument("--channels", type=int, default=6)
    ap.add_argument("--window", type=int, default=None, help="Sakoe-Chiba band; none if unset")
    ap.add_argument("--block", type=int, default=4096, help="dtw_pairwise block size")
    ap.add_argument("--repeats", type=int, default=2, help="timed calls after the first")
    ap.add_argument("--python-pairs", type=int, default=20)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    n = max(1, math.ceil(math.sqrt(args.pairs)))
    n_pairs = n * n
    rng = np.random.default_rng(0)
    a_NxTxC = rng.normal(size=(n, args.length, args.channels)).astype(np.float32)
    b_NxTxC = rng.normal(size=(n, args.length, args.channels)).astype(np.float32)
    # dtaidistance's C code wants C-contiguous float64; convert once, outside the timings.
    a64, b64 = a_NxTxC.astype(np.float64), b_NxTxC.astype(np.float64)
    print(f"{n} x {n} = {n_pairs} pairs of {args.length} x {args.channels}, window={args.window}")
    print(f"jax {jax.__version__} devices {jax.devices()}; dtaidistance {dtai_version}")
    omp = openmp_info()
    print(f"dtaidistance OpenMP: {omp}")

    # --- jaxpriv; compile time = JAX's own trace + lower + compile events in the first call
    compile_events: list[float] = []
    jax.monitoring.register_event_duration_secs_listener(
        lambda name, secs, **_: (
            compile_events.append(secs) if name.startswith("/jax/core/compile/") else None
        )
    )
    t = time.perf_counter()
    jax_NxN = dtw_pairwise(a_NxTxC, b_NxTxC, window=args.window, block=args.block)
    first_s = time.perf_counter() - t
    compile_s = sum(compile_events)
    steady_s = math.inf
    for _ in range(args.repeats):
        t = time.perf_counter()
        dtw_pairwise(a_NxTxC, b_NxTxC, window=args.window, block=args.block)
        steady_s = min(steady_s, time.perf_counter() - t)
    print(
        f"jaxpriv dtw_pairwise: {n_pairs / steady_s:,.0f} pairs/s "
        f"(best of {args.repeats}; first call {first_s:.1f} s incl. compile {compile_s:.2f} s)"
    )

    # --- dtaidistance, C, batch routine (OpenMP over pairs)
    series = np.concatenate([a64, b64])
    t = time.perf_counter()
    full = dtw_ndim.distance_matrix_fast(
        series, window=args.window, block=((0, n), (n, 2 * n)), parallel=True
    )
    matrix_s = time.perf_counter() - t
    dtai_NxN = np.asarray(full)[:n, n:]
    print(f"dtaidistance distance_matrix_fast: {n_pairs / matrix_s:,.0f} pairs/s")

    # --- dtaidistance, C, one call per pair (its default: pruning with the Euclidean bound)
    t = time.perf_counter()
    loop_NxN = np.array(
        [[dtw_ndim.distance_fast(x, y, window=args.window) for y in b64] for x in a64]
    )
    loop_s = time.perf_counter() - t
    print(f"dtaidistance distance_fast loop: {n_pairs / loop_s:,.0f} pairs/s")

    # --- dtaidistance, pure Python, a few pairs
    py_pairs = min(args.python_pairs, n_pairs)
    idx = [(p // n, p % n) for p in range(py_pairs)]
    t = time.perf_counter()
    py_P = np.array([dtw_ndim.distance(a64[i], b64[j], window=args.window) for i, j in idx])
    py_s = time.perf_counter() - t
    print(f"dtaidistance distance (Python) loop: {py_pairs / py_s:,.1f} pairs/s ({py_pairs} pairs)")

    ref_abs = np.abs(dtai_NxN)
    diff = {
        "max_abs_jax_vs_matrix_fast": float(np.max(np.abs(jax_NxN - dtai_NxN))),
        "max_rel_jax_vs_matrix_fast": float(np.max(np.abs(jax_NxN - dtai_NxN) / ref_abs)),
        "max_abs_jax_vs_distance_fast": float(np.max(np.abs(jax_NxN - loop_NxN))),
        "max_abs_jax_vs_python": float(
            np.max(np.abs(np.array([jax_NxN[i, j] for i, j in idx]) - py_P))
        ),
        "max_abs_matrix_fast_vs_distance_fast": float(np.max(np.abs(dtai_NxN - loop_NxN))),
    }
    rates = {
        "jaxpriv_dtw_pairwise": n_pairs / steady_s,
        "dtaidistance_distance_matrix_fast": n_pairs / matrix_s,
        "dtaidistance_distance_fast_loop": n_pairs / loop_s,
        "dtaidistance_distance_python_loop": py_pairs / py_s,
    }
    ratios = {
        f"jaxpriv_over_{k.removeprefix('dtaidistance_')}": rates["jaxpriv_dtw_pairwise"] / v
        for k, v in rates.items()
        if k != "jaxpriv_dtw_pairwise"
    }
    for k, v in ratios.items():
        print(f"{k}: {v:.2f}x")
    for k, v in diff.items():
        print(f"{k}: {v:.3g}")
    assert diff["max_rel_jax_vs_matrix_fast"] < 1e-4, "jaxpriv disagrees with dtaidistance"

    record = {
        "benchmark": "dtw",
        "date": dt.date.today().isoformat(),
        "command": "python3 benchmarks/dtw.py "
        + " ".join(
            f"--{k.replace('_', '-')} {v}"
            for k, v in vars(args).items()
            if k != "out" and v is not None
        ),
        "machine": {
            "arch": platform.machine(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
        },
        "jax": {"version": jax.__version__, "devices": [repr(d) for d in jax.devices()]},
        "dtaidistance": {"version": dtai_version, **omp},
        "shape": {
            "n_a": n,
            "n_b": n,
            "pairs": n_pairs,
            "length": args.length,
            "channels": args.channels,
        },
        "window": args.window,
        "block": args.block,
        "used": {
            "jaxpriv": "jaxpriv.dtw.dtw_pairwise (float32)",
            "batch": "dtaidistance.dtw_ndim.distance_matrix_fast(parallel=True, block=cross pairs)",
            "c_loop": "dtaidistance.dtw_ndim.distance_fast (use_pruning=True default), per pair",
            "python_loop": f"dtaidistance.dtw_ndim.distance (pure Python), first {py_pairs} pairs",
        },
        "seconds": {
            "jaxpriv_first_call": first_s,
            "jaxpriv_steady": steady_s,
            "jaxpriv_compile": compile_s,
            "dtaidistance_distance_matrix_fast": matrix_s,
            "dtaidistance_distance_fast_loop": loop_s,
            "dtaidistance_distance_python_loop": py_s,
        },
        "pairs_per_s": rates,
        "ratios": ratios,
        "differences": diff,
    }
    write_json_atomic(args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
