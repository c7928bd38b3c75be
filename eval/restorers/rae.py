"""RAE runs as transforms: every variant at once, with the activity roles in ``info``."""

from __future__ import annotations

from pathlib import Path

from eval.transforms import RAW, DataSpec, TransformSet, register_restorer
from jaxpriv.methods.rae_io import load_stacked, variant_name


@register_restorer("rae")
def restore_rae(run_dir: Path, step: int | None) -> TransformSet:
    meta, params, release_one = load_stacked(run_dir, step=step)
    prepared = meta["prepared"]
    grid = meta["grid"]
    return TransformSet(
        method="rae",
        run_dir=run_dir,
        names=(RAW, *(f"rae-{variant_name(hp)}" for hp in grid)),
        hps=({}, *(dict(hp) for hp in grid)),
        alive=(True, *meta["alive"]),
        spec=DataSpec.from_prepared(prepared),
        data=meta["data"],
        params=params,
        release_one=release_one,
        info={"roles": meta["roles"]},
    )
