"""DySan runs (and Olympus, DySan without distortion) as transforms: every sanitizer at once.

Both architectures and every activity mode restore from the run's metadata (its config
holds ``arch`` and ``activity_mode``). A run of the ``true`` activity mode, a
diagnostic that leaks the label, is marked: its transforms' names end in ``-leaks``
and ``info["warning"]`` says why.
"""

from __future__ import annotations

from pathlib import Path

from eval.transforms import RAW, DataSpec, TransformSet, register_restorer
from jaxpriv.methods.dysan import LEAK_WARNING
from jaxpriv.methods.dysan_io import load_stacked, run_config, variant_name


@register_restorer("olympus")
@register_restorer("dysan")
def restore_dysan(run_dir: Path, step: int | None) -> TransformSet:
    meta, params, release_one = load_stacked(run_dir, step=step)
    prepared = meta["prepared"]
    grid = meta["grid"]
    method = meta.get("method", "dysan")
    cfg = run_config(meta)
    names = tuple(variant_name(method, hp, cfg) for hp in grid)
    info = {"arch": cfg.arch, "activity_mode": cfg.activity_mode}
    if cfg.leaks:
        info["warning"] = LEAK_WARNING
    return TransformSet(
        method=method,
        run_dir=run_dir,
        names=(RAW, *names),
        hps=({}, *(dict(hp) for hp in grid)),
        alive=(True, *meta["alive"]),
        spec=DataSpec.from_prepared(prepared),
        data=meta["data"],
        params=params,
        release_one=release_one,
        info=info,
    )
