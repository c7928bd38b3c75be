"""Load trained symbolic generators from a run folder, for sampling and evaluation.

A :class:`Generator` needs only the checkpoint: the config, the grid, the quantizer,
the activities and the layout are in its metadata. ``Generator.sample`` returns raw-unit
numpy arrays shaped like the real data, ``(N, T, C)`` sensor windows (with the activity
of each window, for train-on-synthetic / test-on-real) or ``(N, F)`` tabular rows.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from jaxpriv.methods.symbolic import SymbolicConfig, make_train
from jaxpriv.methods.symbolic_sample import make_sample
from jaxpriv.quantize import Quantizer
from jaxpriv.variants import restore_sweep_run, select_variant, variant_index


class Samples(NamedTuple):
    """Generated data in raw units: ``x`` (N, T, C) windows or (N, F) rows; ``activity``
    (N,) int32 indices into ``Generator.activities`` (``None`` for tabular data)."""

    x: np.ndarray
    activity: np.ndarray | None


@dataclasses.dataclass(frozen=True, eq=False)
class Generator:
    """One trained variant of a symbolic run, ready to sample."""

    name: str
    hp: dict[str, Any]
    config: SymbolicConfig
    variables: Any
    quantizer: Quantizer
    kind: str  # "windows" | "tabular"
    activities: tuple[str, ...]
    activity_prior: np.ndarray
    channels: tuple[str, ...]
    feature_names: tuple[str, ...]
    rate_hz: float | None
    alive: bool = True
    _sampler: Any = dataclasses.field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        prior = self.activity_prior if len(self.activity_prior) else None
        object.__setattr__(self, "_sampler", make_sample(self.config, self.quantizer, prior))

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of one sample: ``(T, C)`` for windows, ``(F,)`` for rows."""
        cfg = self.config
        return (cfg.window, cfg.num_slots) if self.kind == "windows" else (cfg.num_slots,)

    def sample(
        self,
        key: jax.Array,
        num_samples: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        activity: int | str | Sequence[int | str] | None = None,
    ) -> Samples:
        """Draw ``num_samples`` sequences; ``activity`` (an index or a name, or one per
        sample) conditions sensor windows; ``None`` draws it from the training frequencies."""
        out = self._sampler(
            self.variables, key, num_samples, temperature, top_k, self._activity_index(activity)
        )
        x = np.asarray(out["values"], np.float32)
        if self.kind == "tabular":
            return Samples(x.reshape(num_samples, -1), None)
        return Samples(x, np.asarray(out["activity"], np.int32))

    def _activity_index(self, activity: Any) -> Any:
        if activity is None:
            return None

        def one(a: Any) -> int:
            if isinstance(a, str):
                if a not in self.activities:
                    raise ValueError(
                        f"unknown activity {a!r}; this generator knows {self.activities}"
                    )
                return self.activities.index(a)
            return int(a)

        if isinstance(activity, str | int | np.integer):
            return one(activity)
        return [one(a) for a in activity]


def _restore(run_dir: Path, step: int | None) -> tuple[dict, Any]:
    return restore_sweep_run(
        run_dir,
        step,
        methods=("symbolic",),
        what="symbolic-generator",
        init_for=lambda meta: make_train(SymbolicConfig(**meta["config"]))[0],
    )


def variant_name(v: dict[str, Any], grid: Sequence[dict[str, Any]]) -> str:
    """``seed<N>``, with the learning rate in front when the grid has several."""
    several_lrs = len({g["lr"] for g in grid}) > 1
    return (f"lr{v['lr']:g}-" if several_lrs else "") + f"seed{v['seed']}"


def _generator(meta: dict, state: Any, index: int) -> Generator:
    cfg = SymbolicConfig(**meta["config"])
    prepared = meta["prepared"]
    grid = meta["grid"]
    variables = jax.device_get(select_variant(state["variables"], index))
    return Generator(
        name=f"symbolic-{cfg.model}-{variant_name(grid[index], grid)}",
        hp=dict(grid[index]),
        config=cfg,
        variables=variables,
        quantizer=Quantizer.from_json(prepared["quantizer"]),
        kind=prepared["kind"],
        activities=tuple(prepared["activities"]),
        activity_prior=np.asarray(prepared["activity_prior"], np.float64),
        channels=tuple(prepared["channels"]),
        feature_names=tuple(prepared["feature_names"]),
        rate_hz=prepared["rate_hz"],
        alive=bool(np.asarray(state["alive"])[index]),
    )


def load_generators(run_dir: str | Path, *, step: int | None = None) -> list[Generator]:
    """Every variant of a run, in grid order."""
    run_dir = Path(run_dir)
    meta, state = _restore(run_dir, step)
    return [_generator(meta, state, i) for i in range(len(meta["grid"]))]


def load_generator(
    run_dir: str | Path, index: int | None = None, *, step: int | None = None, **values: Any
) -> Generator:
    """One variant by its index in the grid (default 0) or by its values (``seed=1``)."""
    run_dir = Path(run_dir)
    meta, state = _restore(run_dir, step)
    grid = meta["grid"]
    if values:
        if index is not None:
            raise ValueError("give index= or hyperparameter values, not both")
        index = variant_index(grid, **values)
    index = 0 if index is None else int(index)
    if not 0 <= index < len(grid):
        raise IndexError(f"{run_dir}: variant {index} out of range (grid of {len(grid)})")
    return _generator(meta, state, index)


__all__ = ["Generator", "Samples", "load_generator", "load_generators", "variant_name"]
