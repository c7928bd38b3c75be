"""Command-line trainers, one module per method (``python -m train.<method>``)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable


def run_parser(method: str, doc: str | None, presets: Iterable[str]) -> argparse.ArgumentParser:
    """A trainer's parser with the arguments every trainer shares: ``--data``,
    ``--subjects``, ``--rate``, ``--out`` (default ``runs/<method>-<preset>``), ``--preset``."""
    p = argparse.ArgumentParser(
        prog=f"python -m train.{method}",
        description=doc,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", default="embedded", help="dataset spec (default: embedded)")
    p.add_argument("--subjects", help="subjects table (recordings CSV, MotionSense)")
    p.add_argument("--rate", type=float, help="sampling rate when the CSV has no time column")
    p.add_argument("--out", default=None, help=f"run folder (default: runs/{method}-<preset>)")
    p.add_argument("--preset", default="quick", choices=sorted(presets))
    return p
