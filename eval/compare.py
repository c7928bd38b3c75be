"""One table comparing evaluated generator runs (e.g. the three symbolic models).

    python -m eval.compare runs/symbolic-wavenet-quick runs/symbolic-rnn-quick \
        runs/symbolic-transformer-quick [--out runs/generators-comparison.md]

Reads each run's ``report/metrics.json`` (written by ``python -m eval.harness``)
and prints, per run: SVM inliers (linear and RBF), the discriminators'
accuracy (the LSTM, and the feature forest where it ran), TSTR vs TRTR
activity accuracy, and the distance to the closest training record against
held-out real data's. Nothing is recomputed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from eval.generators import FOREST_ROW
from jaxpriv.run_io import format_table, write_text_atomic

COLUMNS = (
    "run",
    "inliers linear",
    "inliers RBF",
    "discriminator",
    "feature forest",
    "TSTR",
    "TRTR",
    "closest record (synthetic / real)",
    "exact copies",
)


def _pct(x: float | None) -> str:
    return "" if x is None else f"{100 * x:.1f}%"


def comparison_row(run: str, metrics: dict[str, Any]) -> dict[str, str]:
    """The comparison columns of one generator run's ``metrics.json``."""
    ev = metrics.get("evaluators", {})
    row = {"run": run}
    kernels = ev.get("inliers", {}).get("per_kernel", {})
    for kernel, column in (("linear", "inliers linear"), ("rbf", "inliers RBF")):
        if kernel in kernels:
            row[column] = _pct(kernels[kernel]["synthetic_inliers"])
    disc_rows = ev.get("discriminator", {}).get("rows", {})
    for name, column in (("synthetic vs real", "discriminator"), (FOREST_ROW, "feature forest")):
        if name in disc_rows:
            d = disc_rows[name]
            row[column] = f"{_pct(d['mean'])} ({_pct(d['low'])}-{_pct(d['high'])})"
    tstr = ev.get("tstr", {})
    if "tstr" in tstr:
        row["TSTR"] = _pct(tstr["tstr"]["accuracy"])
        row["TRTR"] = _pct(tstr["trtr"]["accuracy"])
    mem = ev.get("memorization", {})
    if "synthetic" in mem:
        syn, real = mem["synthetic"]["median"], mem["real_test"]["median"]
        row["closest record (synthetic / real)"] = f"{syn:.3g} / {real:.3g}"
        row["exact copies"] = str(mem["exact_copies"])
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m eval.compare", description=__doc__)
    p.add_argument("runs", nargs="+", help="evaluated generator run folders")
    p.add_argument("--out", help="also write the table to this markdown file")
    args = p.parse_args(argv)
    rows = []
    for run in args.runs:
        path = Path(run) / "report" / "metrics.json"
        if not path.is_file():
            print(f"error: {path} missing: run python -m eval.harness --run {run}", file=sys.stderr)
            return 2
        try:
            metrics = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            print(f"error: {path}: not valid JSON ({err})", file=sys.stderr)
            return 2
        rows.append(comparison_row(run, metrics))
    table = format_table(rows, list(COLUMNS))
    print(table)
    if args.out:
        note = (
            "Held-out real data's closest-record median is the reference; synthetic samples "
            "much closer than it, or exact copies, would mean memorisation.\n"
        )
        write_text_atomic(args.out, "# Generators compared\n\n" + table + "\n\n" + note)
    return 0


if __name__ == "__main__":
    sys.exit(main())
