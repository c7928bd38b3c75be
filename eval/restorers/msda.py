"""MSDA runs (AAE and REP, systems.md section 2) as transforms: every autoencoder at once."""

from __future__ import annotations

from pathlib import Path

from eval.transforms import RAW, DataSpec, TransformSet, register_restorer
from jaxpriv.methods.msda import variant_names
from jaxpriv.methods.msda_io import METHOD, load_stacked


@register_restorer(METHOD)
def restore_msda(run_dir: Path, step: int | None) -> TransformSet:
    meta, params, release_one = load_stacked(run_dir, step=step)
    prepared = meta["prepared"]
    grid = meta["grid"]
    return TransformSet(
        method=METHOD,
        run_dir=run_dir,
        names=(RAW, *variant_names(grid)),
        hps=({}, *(dict(hp) for hp in grid)),
        alive=(True, *meta["alive"]),
        spec=DataSpec.from_prepared(prepared),
        data=meta["data"],
        params=params,
        release_one=release_one,
        info={"converged": meta["converged"], "rounds_done": meta["rounds_done"]},
    )
