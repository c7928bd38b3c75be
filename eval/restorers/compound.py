"""Compound runs (``eval.compound``, e.g. RAE then AAE) as transforms: stages applied in turn.

A compound run's checkpoint holds, per stage, the parameters of the variants it
selected, and its metadata the stages' runs, methods and variant names. Each
stage is restored with :func:`eval.transforms.load_transforms` (any registered
method, compounds included) for its release function; the release of a
composed variant is::

    x1 = stage1.release_one(p1, x, attributes, activity, k1)
    x2 = stage2.release_one(p2, x1, attributes, activity_in_stage2_vocabulary, k2)

every stage working in the dataset's raw units. The data spec and ``info``
(e.g. the RAE's roles) come from the first stage. Activity indices are mapped
to each later stage's own vocabulary by name; an activity that stage never saw
is passed as its index 0 (only activity-conditioned stages, such as a
conditional DySan sanitizer, look at it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from eval.transforms import RAW, ReleaseFn, TransformSet, load_transforms, register_restorer
from jaxpriv.checkpoint import Checkpointer, CheckpointError

METHOD = "compound"
MAX_COMPOSED = 64  # composed variants per run: the product of the stages' selections


def check_stages(stages: Sequence[TransformSet], runs: Sequence[str]) -> None:
    """Raise ``CheckpointError`` unless every stage takes the first stage's windows."""
    if len(stages) < 2:
        raise CheckpointError(f"a compound needs at least two stages, got {len(stages)}")
    first = stages[0].spec
    for run, t in zip(runs[1:], stages[1:], strict=True):
        if tuple(t.spec.channels) != tuple(first.channels) or t.spec.window != first.window:
            raise CheckpointError(
                f"stage {run} ({t.method}) takes windows of {t.spec.window} samples x "
                f"{list(t.spec.channels)}, but stage {runs[0]} ({stages[0].method}) releases "
                f"{first.window} x {list(first.channels)}; the stages of a compound need the "
                "same channels and window length"
            )


def select_variants(t: TransformSet, choice: str, run: str) -> list[int]:
    """Indices into ``t.names`` (never 0, the raw identity) for ``choice``: a name or "all"."""
    if choice == "all":
        return list(range(1, len(t.names)))
    if choice not in t.names[1:]:
        raise ValueError(
            f"stage {run} has no variant {choice!r}; choose 'all' or one of {list(t.names[1:])}"
        )
    return [t.names.index(choice)]


def activity_map(first: Sequence[str], stage: Sequence[str]) -> np.ndarray:
    """``(len(first),)`` int32: each first-stage activity's index in ``stage`` (0 if absent)."""
    return np.asarray([stage.index(a) if a in stage else 0 for a in first], np.int32)


def make_compound_release(
    releases: Sequence[ReleaseFn], activity_maps: Sequence[np.ndarray]
) -> ReleaseFn:
    """One variant's release through every stage in turn; ``params`` is
    ``{"stage0": p0, "stage1": p1, ...}``. Each stage gets its own key."""
    maps = [jnp.asarray(m) for m in activity_maps]

    def release(params, x_raw, attributes_raw, activity, key):
        keys = jax.random.split(key, len(releases))
        x = x_raw
        for i, (fn, amap) in enumerate(zip(releases, maps, strict=True)):
            x = fn(params[f"stage{i}"], x, attributes_raw, amap[activity], keys[i])
        return x

    return release


def stage_hps(stage_hp: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Flat hyperparameters of a composed variant: ``s1.lr``, ``s2.beta_i``, ..."""
    return {f"s{i + 1}.{k}": v for i, hp in enumerate(stage_hp) for k, v in hp.items()}


def _stage_dir(entry: dict[str, Any]) -> Path:
    for candidate in (Path(entry["run"]), Path(entry["abs"])):
        if (candidate / "checkpoints").is_dir():
            return candidate
    raise CheckpointError(
        f"compound stage {entry['run']} ({entry['method']}) not found (also tried "
        f"{entry['abs']}); the compound needs its stages' runs"
    )


def _load_stage(entry: dict[str, Any]) -> TransformSet:
    """The stage's transforms at the step the compound was built from (or the latest one,
    if that step is gone and the stage's data preparation is unchanged)."""
    run = _stage_dir(entry)
    ckpt = Checkpointer(run / "checkpoints", read_only=True)
    try:
        step = entry["step"] if entry["step"] in ckpt.all_steps() else None
        prepared = ckpt.restore_meta(step).get("prepared")
    finally:
        ckpt.close()
    if json.dumps(prepared, sort_keys=True) != json.dumps(entry["prepared"], sort_keys=True):
        raise CheckpointError(
            f"compound stage {run} was retrained on other data since the compound was built "
            "(its prepared data differ); rebuild the compound with python -m eval.compound"
        )
    return load_transforms(run, step=step)


def _stacked_like(a: Any, n: int) -> jax.ShapeDtypeStruct:
    """The shape of ``n`` variants of a stacked leaf ``a``."""
    return jax.ShapeDtypeStruct((n, *np.shape(a)[1:]), np.asarray(a).dtype)


@register_restorer(METHOD)
def restore_compound(run_dir: Path, step: int | None) -> TransformSet:
    ckpt = Checkpointer(run_dir / "checkpoints", read_only=True)
    try:
        meta = ckpt.restore_meta(step)
        entries = meta["stages"]
        stages = [_load_stage(e) for e in entries]
        check_stages(stages, [e["run"] for e in entries])
        picks = []  # per stage: indices into its names of the stored variants
        for e, t in zip(entries, stages, strict=True):
            missing = [n for n in e["variants"] if n not in t.names[1:]]
            if missing:
                raise CheckpointError(
                    f"compound stage {e['run']} no longer has variants {missing}; rebuild "
                    "the compound with python -m eval.compound"
                )
            picks.append([t.names.index(n) for n in e["variants"]])
        template = {
            f"stage{i}": jax.tree.map(lambda a, n=n: _stacked_like(a, n), t.params)
            for i, (t, n) in enumerate(zip(stages, map(len, picks), strict=True))
        }
        state, meta = ckpt.restore(template, step)
    finally:
        ckpt.close()
    compose = np.asarray(meta["compose"], np.int64).reshape(-1, len(stages))
    state = jax.device_get(state)
    params = {
        f"stage{i}": jax.tree.map(lambda a, i=i: np.asarray(a)[compose[:, i]], state[f"stage{i}"])
        for i in range(len(stages))
    }
    names, hps, alive = [], [], []
    for row in compose:
        idx = [picks[i][j] for i, j in enumerate(row)]
        names.append("+".join(t.names[k] for t, k in zip(stages, idx, strict=True)))
        hps.append(stage_hps([t.hps[k] for t, k in zip(stages, idx, strict=True)]))
        alive.append(all(t.alive[k] for t, k in zip(stages, idx, strict=True)))
    first = stages[0]
    release = make_compound_release(
        [t.release_one for t in stages],
        [activity_map(first.spec.activities, t.spec.activities) for t in stages],
    )
    info = {
        **first.info,
        "stages": [{k: e[k] for k in ("run", "method", "variants")} for e in entries],
    }
    return TransformSet(
        method=METHOD,
        run_dir=run_dir,
        names=(RAW, *names),
        hps=({}, *hps),
        alive=(True, *alive),
        spec=first.spec,
        data=first.data,
        params=params,
        release_one=release,
        info=info,
    )
