"""Train Olympus, one of DySan's baselines: ``python -m train.olympus``.

Olympus (utility-aware obfuscation by adversarial training) is, here, DySan
without the distortion term: DySan's sanitizer, predictor, discriminator and
training loop (:mod:`train.dysan`, same presets and flags) with alpha 0.6 and
lambda 0.4, so the distortion weight ``1 - alpha - lambda`` is 0. That is how
DySan's authors' code runs it (systems.md section 3); nothing keeps the
release close to the raw data, so expect noisy output.

Differences from ``python -m train.dysan``: ``--grid`` defaults to
``alpha=0.6;lam=0.4`` (a grid given must keep alpha + lam = 1, else it is not
Olympus), the default run folder is ``runs/olympus-<preset>``, and the
checkpoint's metadata says ``method: "olympus"``, which ``eval.harness``
restores with names such as ``olympus-a0.6-l0.4``. ``--help`` shows DySan's flags.
"""

from __future__ import annotations

import argparse
import math
import sys

from jaxpriv.grid import parse_grid
from train import dysan

GRID = "alpha=0.6;lam=0.4"


def _check_grid(argv: list[str]) -> None:
    """Raise ``ValueError`` unless every variant of a ``--grid`` given has alpha + lam = 1."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--grid")
    text = parser.parse_known_args(argv)[0].grid
    if text is None:
        return
    for i, v in enumerate(parse_grid(text)):
        total = v.get("alpha", math.nan) + v.get("lam", math.nan)
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(
                f"--grid variant {i} {v}: Olympus has no distortion term, so alpha + lam "
                f"must be 1 (got {total:g})"
            )


def main(argv: list[str] | None = None) -> int:
    """DySan's trainer with Olympus's grid and method name; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        _check_grid(argv)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    # argparse keeps the last --grid: one given on the command line replaces this default.
    return dysan.main(["--grid", GRID, *argv], method="olympus")


if __name__ == "__main__":
    raise SystemExit(main())
