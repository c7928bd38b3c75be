"""GEN runs as transforms: every guardian of the grid at once."""

from __future__ import annotations

from pathlib import Path

from eval.transforms import RAW, DataSpec, TransformSet, register_restorer
from jaxpriv.methods.gen import variant_names
from jaxpriv.methods.gen_io import load_stacked


@register_restorer("gen")
def restore_gen(run_dir: Path, step: int | None) -> TransformSet:
    meta, params, release_one = load_stacked(run_dir, step=step)
    prepared = meta["prepared"]
    grid = meta["grid"]
    return TransformSet(
        method="gen",
        run_dir=run_dir,
        names=(RAW, *(f"gen-{name}" for name in variant_names(grid))),
        hps=({}, *(dict(hp) for hp in grid)),
        alive=(True, *meta["alive"]),
        spec=DataSpec.from_prepared(prepared),
        data=meta["data"],
        params=params,
        release_one=release_one,
    )
