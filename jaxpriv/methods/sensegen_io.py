"""Load trained SenseGen generators from a run folder, for sampling and evaluation.

A :class:`Generator` needs only the checkpoint: the config, the grid, the
channels, the activities and the standardisation statistics are in its
metadata. ``Generator.sample`` returns numpy arrays in the dataset's raw
units (e.g. userAcceleration in g)::

    gen = load_generator("runs/sensegen-quick")            # variant 0
    x = gen.sample(jax.random.key(0), num_samples=8, length=500)   # (8, 500, 3)
    x_jog = gen.sample(1, 8, 500, activity="jog")          # a conditional run only
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpriv.data.scaling import Scaler
from jaxpriv.methods.sensegen import SenseGenConfig, make_sample, make_train
from jaxpriv.variants import restore_sweep_run, select_variant

METHOD = "sensegen"


@dataclasses.dataclass(frozen=True, eq=False)
class Generator:
    """One trained SenseGen variant; ``sample`` gives traces in the dataset's units."""

    name: str
    hp: dict[str, Any]
    config: SenseGenConfig
    params: Any
    scaler: Scaler
    channels: tuple[str, ...]
    rate_hz: float
    activities: tuple[str, ...]
    activity_probs: np.ndarray  # training frequency of each activity
    attribute_mean: np.ndarray  # raw (height, weight, age) training mean
    attribute_std: np.ndarray
    alive: bool = True  # False: training diverged; these are the last finite parameters

    @functools.cached_property
    def _sample_fn(self):
        return jax.jit(make_sample(self.config, self.scaler), static_argnums=(2, 3))

    def sample(
        self,
        key: jax.Array | int,
        num_samples: int,
        length: int,
        temperature: float = 1.0,
        activity: str | int | Sequence[str | int] | None = None,
        attributes: Sequence[float] | np.ndarray | None = None,
    ) -> np.ndarray:
        """``(num_samples, length, D)`` float32 traces in raw units.

        ``key``: a JAX key or an int seed. ``activity`` (conditional runs only):
        a name or index for all samples, or one per sample; ``None`` draws each
        sample's activity from the training frequencies. ``attributes`` (runs
        conditioned on attributes only): raw height (cm), weight (kg), age,
        ``(3,)`` or ``(num_samples, 3)``; ``None`` is the training mean.
        """
        if num_samples < 1 or length < 1:
            raise ValueError(f"need num_samples >= 1 and length >= 1, got {num_samples}, {length}")
        if not temperature >= 0:
            raise ValueError(f"temperature must be >= 0, got {temperature}")
        key = jax.random.key(key) if isinstance(key, int | np.integer) else key
        k_act, k_sample = jax.random.split(key)
        act = self._activity_indices(activity, num_samples, k_act)
        attr = None
        if attributes is not None:
            if not self.config.attributes:
                raise ValueError(f"{self.name} is not conditioned on subject attributes")
            raw = np.asarray(attributes, np.float32)
            if raw.shape not in ((3,), (num_samples, 3)):
                raise ValueError(f"attributes must be (3,) or ({num_samples}, 3), got {raw.shape}")
            attr = np.nan_to_num((raw - self.attribute_mean) / self.attribute_std)
        x = self._sample_fn(self.params, k_sample, num_samples, length, temperature, act, attr)
        return np.asarray(x, np.float32)

    def _activity_indices(self, activity, num_samples: int, key: jax.Array) -> np.ndarray | None:
        if not self.config.conditional:
            if activity is not None:
                raise ValueError(
                    f"{self.name} is unconditional: it cannot sample a given activity "
                    "(train with --conditional)"
                )
            return None
        if activity is None:
            probs = jnp.asarray(self.activity_probs, jnp.float32)
            return np.asarray(jax.random.categorical(key, jnp.log(probs), shape=(num_samples,)))
        items = [activity] if isinstance(activity, str | int | np.integer) else list(activity)
        if len(items) not in (1, num_samples):
            raise ValueError(f"give one activity or {num_samples}, got {len(items)}")
        out = []
        for a in items:
            if isinstance(a, str):
                if a not in self.activities:
                    raise ValueError(
                        f"unknown activity {a!r}; this generator knows {self.activities}"
                    )
                a = self.activities.index(a)
            if not 0 <= int(a) < len(self.activities):
                raise ValueError(f"activity index {a} out of range for {self.activities}")
            out.append(int(a))
        return np.broadcast_to(np.asarray(out, np.int32), (num_samples,)).copy()


def variant_name(hp: dict[str, Any]) -> str:
    return f"s{int(hp['seed'])}-lr{float(hp['lr']):g}"


def _restore(run_dir: Path, step: int | None) -> tuple[dict, Any]:
    return restore_sweep_run(
        run_dir,
        step,
        methods=(METHOD,),
        what="SenseGen",
        init_for=lambda meta: make_train(SenseGenConfig(**meta["config"]))[0],
    )


def _generator(meta: dict, state: Any, index: int) -> Generator:
    prepared = meta["prepared"]
    counts = np.asarray(prepared["activity_counts"], np.float64)
    hp = meta["grid"][index]
    return Generator(
        name=f"sensegen-{variant_name(hp)}",
        hp=hp,
        config=SenseGenConfig(**meta["config"]),
        params=select_variant(state["params"], index),
        scaler=Scaler.from_json(prepared["scaler"]),
        channels=tuple(prepared["channels"]),
        rate_hz=float(prepared["rate_hz"]),
        activities=tuple(prepared["activities"]),
        activity_probs=counts / max(counts.sum(), 1.0),
        attribute_mean=np.asarray(prepared["attribute_mean"], np.float32),
        attribute_std=np.asarray(prepared["attribute_std"], np.float32),
        alive=bool(np.asarray(state["alive"])[index]),
    )


def load_generators(run_dir: str | Path, *, step: int | None = None) -> list[Generator]:
    """Every variant of a SenseGen run, in grid order."""
    run_dir = Path(run_dir)
    meta, state = _restore(run_dir, step)
    state = jax.device_get(state)  # index on the host: no compiled slice per leaf
    return [_generator(meta, state, i) for i in range(len(meta["grid"]))]


def load_generator(run_dir: str | Path, index: int = 0, *, step: int | None = None) -> Generator:
    """Variant ``index`` (its position in the run's grid) of a SenseGen run."""
    run_dir = Path(run_dir)
    meta, state = _restore(run_dir, step)
    n = len(meta["grid"])
    if not 0 <= index < n:
        raise IndexError(f"{run_dir}: variant {index} out of range (grid of {n})")
    return _generator(meta, jax.device_get(state), index)


__all__ = ["Generator", "load_generator", "load_generators", "variant_name"]
