"""DTW all-pairs throughput of the ways the ``dtw`` evaluator could call dtaidistance.

The evaluator (``eval/evaluators/dtw.py``) computes its DTW with dtaidistance. This times,
on random (N, length, channels) windows, N = ceil(sqrt(pairs)), every window of A against
every window of B (N * N pairs):

- ``dtw_cross`` (what the k-NN rank uses): one ``dtw_ndim.distance_matrix_fast`` call (C,
  OpenMP over pairs) on the A + B list with ``block`` restricted to the A x B cross pairs;
- ``dtw_paired``-style (what the raw-vs-released distance uses): ``dtw_ndim.distance_fast``
  (C) once per pair in a Python loop;
- ``dtw_ndim.distance`` (pure Python) in a Python loop, on the first ``--python-pairs``
  pairs only (it does a few pairs per second).

All three use the same definition (squared-Euclidean local cost, sqrt at the end) and the
same ``--window``; the script checks that they agree. Results go to
``benchmarks/results/dtw.json``; the record's ``history`` (kept from the file it replaces)
holds the measurement that chose dtaidistance over jaxpriv's own JAX kernel, deleted since.

    python3 benchmarks/dtw.py [--pairs 40000] [--length 125] [--channels 6] [--window W]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
from dtaidistance import __version__ as dtai_version
from dtaidistance import dtw_ndim

from eval.evaluators.dtw import dtw_cross
from jaxpriv.run_io import write_json_atomic

RESULTS = Path(__file__).resolve().parent / "results" / "dtw.json"
NOTE = (
    "history[0]: why the harness uses dtaidistance rather than jaxpriv's own JAX DTW kernel "
    "(jaxpriv/dtw.py, deleted): the measurement that compared them and the parity check."
)


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
    ap.add_argument("--python-pairs", type=int, default=20)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()

    n = max(1, math.ceil(math.sqrt(args.pairs)))
    n_pairs = n * n
    rng = np.random.default_rng(0)
    # float32 windows, as the harness holds them; dtw_cross converts to float64 itself.
    a_NxTxC = rng.normal(size=(n, args.length, args.channels)).astype(np.float32)
    b_NxTxC = rng.normal(size=(n, args.length, args.channels)).astype(np.float32)
    a64, b64 = a_NxTxC.astype(np.float64), b_NxTxC.astype(np.float64)
    print(f"{n} x {n} = {n_pairs} pairs of {args.length} x {args.channels}, window={args.window}")
    omp = openmp_info()
    print(f"dtaidistance {dtai_version}, OpenMP: {omp}")

    # --- the evaluator's dtw_cross: distance_matrix_fast on the cross block (OpenMP)
    t = time.perf_counter()
    cross_NxN = dtw_cross(a_NxTxC, b_NxTxC, window=args.window)
    matrix_s = time.perf_counter() - t
    print(f"dtw_cross (distance_matrix_fast): {n_pairs / matrix_s:,.0f} pairs/s")

    # --- dtaidistance, C, one call per pair
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

    diff = {
        "max_abs_cross_vs_distance_fast": float(np.max(np.abs(cross_NxN - loop_NxN))),
        "max_abs_cross_vs_python": float(
            np.max(np.abs(np.array([cross_NxN[i, j] for i, j in idx]) - py_P))
        ),
    }
    rates = {
        "dtw_cross_distance_matrix_fast": n_pairs / matrix_s,
        "dtaidistance_distance_fast_loop": n_pairs / loop_s,
        "dtaidistance_distance_python_loop": py_pairs / py_s,
    }
    for k, v in diff.items():
        print(f"{k}: {v:.3g}")
    assert max(diff.values()) < 1e-9, "dtaidistance's ways disagree"

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
            "load_average": list(os.getloadavg()),
        },
        "dtaidistance": {"version": dtai_version, **omp},
        "shape": {
            "n_a": n,
            "n_b": n,
            "pairs": n_pairs,
            "length": args.length,
            "channels": args.channels,
        },
        "window": args.window,
        "used": {
            "cross": "eval.evaluators.dtw.dtw_cross = dtaidistance.dtw_ndim.distance_matrix_fast"
            "(parallel=True, block=cross pairs)",
            "c_loop": "dtaidistance.dtw_ndim.distance_fast, per pair (as dtw_paired)",
            "python_loop": f"dtaidistance.dtw_ndim.distance (pure Python), first {py_pairs} pairs",
        },
        "seconds": {
            "dtw_cross_distance_matrix_fast": matrix_s,
            "dtaidistance_distance_fast_loop": loop_s,
            "dtaidistance_distance_python_loop": py_s,
        },
        "pairs_per_s": rates,
        "differences": diff,
    }
    if args.out.exists():  # keep the record of why the harness uses dtaidistance
        record["note"] = NOTE
        record["history"] = json.loads(args.out.read_text()).get("history", [])
    write_json_atomic(args.out, record)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
