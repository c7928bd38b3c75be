"""Load trained DySan sanitizers as pure functions, and export them for deployment.

A :class:`SanitizerTransform` works in the dataset's raw units: it scales a
window with the training scaler, sanitizes it, and maps it back, so
``transform(x_raw, ...) -> x_released`` is what would run on the phone. It
needs only the checkpoint (config, grid, scaler and attribute statistics are
in its metadata), not the training code.

``export_sanitizer`` serializes it with ``jax.export`` (StableHLO bytes with
the parameters baked in, a symbolic batch size; not a pickle), and
``load_exported`` runs such a file anywhere jax runs.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpriv.data.scaling import Scaler
from jaxpriv.methods.dysan import DysanConfig, make_sanitize, make_train
from jaxpriv.run_io import write_bytes_atomic
from jaxpriv.variants import restore_sweep_run, select_variant, variant_index

# Olympus is DySan's training without the distortion term (systems.md section 3).
DYSAN_METHODS = ("dysan", "olympus")


@dataclasses.dataclass(frozen=True)
class SanitizerTransform:
    """One trained sanitizer, ``x_raw -> x_released``, in the dataset's units."""

    name: str
    hp: dict[str, Any]
    config: DysanConfig
    params: Any
    scaler: Scaler
    attribute_mean: np.ndarray
    attribute_std: np.ndarray

    def __call__(
        self,
        x_BxWxC: jax.Array,
        attributes_Bx3: jax.Array | None = None,
        activity_B: jax.Array | None = None,
        key: jax.Array | None = None,
    ) -> jax.Array:
        """Release windows. A conditional sanitizer also needs the subjects' raw
        (height cm, weight kg, age) and the activity index, and a key for its noise."""
        b = x_BxWxC.shape[0]
        if self.config.conditional and (attributes_Bx3 is None or activity_B is None):
            raise ValueError(f"{self.name}: a conditional sanitizer needs attributes and activity")
        attributes = jnp.zeros((b, 3)) if attributes_Bx3 is None else attributes_Bx3
        activity = jnp.zeros((b,), jnp.int32) if activity_B is None else activity_B
        key = jax.random.key(0) if key is None else key
        return _release(self, x_BxWxC, attributes, activity, key)


def _release(t: SanitizerTransform, x_raw, attributes_raw, activity, key):
    release = make_release(t.config, t.scaler, t.attribute_mean, t.attribute_std)
    return release(t.params, x_raw, attributes_raw, activity, key)


def make_release(
    cfg: DysanConfig, scaler: Scaler, attribute_mean: np.ndarray, attribute_std: np.ndarray
):
    """``release(san_params, x_raw, attributes_raw, activity, key) -> x_released`` in raw
    units, for one variant: pure, so it can be vmapped over stacked sanitizers."""
    sanitize = make_sanitize(cfg)

    def release(san_params, x_raw, attributes_raw, activity, key):
        attributes = jnp.nan_to_num((attributes_raw - attribute_mean) / attribute_std)
        x_hat = sanitize(san_params, scaler.apply(x_raw), attributes, activity, key)
        return scaler.invert(x_hat)

    return release


def _restore(run_dir: Path, step: int | None) -> tuple[dict, Any]:
    return restore_sweep_run(
        run_dir,
        step,
        methods=DYSAN_METHODS,
        what="DySan",
        init_for=lambda meta: make_train(DysanConfig(**meta["config"]))[0],
    )


def load_stacked(run_dir: str | Path, *, step: int | None = None) -> tuple[dict, Any, Any]:
    """``(meta, san_params, release)``: every variant's sanitizer parameters stacked on a
    leading axis (the grid's length, padding removed, on the host) and the one-variant
    :func:`make_release` function. ``meta["alive"]`` lists which variants stayed finite."""
    run_dir = Path(run_dir)
    meta, state = _restore(run_dir, step)
    n = len(meta["grid"])
    params = jax.tree.map(lambda a: np.asarray(a)[:n], jax.device_get(state["san"]))
    meta = {**meta, "alive": np.asarray(state["alive"])[:n].astype(bool).tolist()}
    prepared = meta["prepared"]
    release = make_release(
        DysanConfig(**meta["config"]),
        Scaler.from_json(prepared["scaler"]),
        np.asarray(prepared["attribute_mean"], np.float32),
        np.asarray(prepared["attribute_std"], np.float32),
    )
    return meta, params, release


def load_sanitizers(run_dir: str | Path, *, step: int | None = None) -> list[SanitizerTransform]:
    """Every variant of a DySan run, in grid order."""
    run_dir = Path(run_dir)
    meta, state = _restore(run_dir, step)
    return [_transform(meta, state, i) for i in range(len(meta["grid"]))]


def load_sanitizer(
    run_dir: str | Path,
    *,
    index: int | None = None,
    alpha: float | None = None,
    lam: float | None = None,
    step: int | None = None,
) -> SanitizerTransform:
    """One variant, by its index in the grid or by its (alpha, lam)."""
    run_dir = Path(run_dir)
    meta, state = _restore(run_dir, step)
    if index is None:
        if alpha is None or lam is None:
            raise ValueError("give index=, or both alpha= and lam=")
        index = variant_index(meta["grid"], alpha=alpha, lam=lam)
    if not 0 <= index < len(meta["grid"]):
        raise IndexError(f"{run_dir}: variant {index} out of range (grid of {len(meta['grid'])})")
    return _transform(meta, state, index)


def _transform(meta: dict, state: Any, index: int) -> SanitizerTransform:
    prepared = meta["prepared"]
    hp = meta["grid"][index]
    return SanitizerTransform(
        name=f"dysan-a{hp['alpha']:g}-l{hp['lam']:g}",
        hp=hp,
        config=DysanConfig(**meta["config"]),
        params=jax.device_get(select_variant(state["san"], index)),
        scaler=Scaler.from_json(prepared["scaler"]),
        attribute_mean=np.asarray(prepared["attribute_mean"], np.float32),
        attribute_std=np.asarray(prepared["attribute_std"], np.float32),
    )


def export_sanitizer(t: SanitizerTransform, path: str | Path) -> Path:
    """Serialize ``t`` with ``jax.export`` (batch size symbolic); written atomically.

    The exported function takes ``(x_raw (B, W, C) float32, attributes_raw (B, 3)
    float32, activity (B,) int32, noise_key_data (2,) uint32)``.
    """
    (b,) = jax.export.symbolic_shape("b")
    cfg = t.config

    def fn(x, attributes, activity, key_data):
        return _release(t, x, attributes, activity, jax.random.wrap_key_data(key_data))

    exported = jax.export.export(jax.jit(fn))(
        jax.ShapeDtypeStruct((b, cfg.window, cfg.num_channels), jnp.float32),
        jax.ShapeDtypeStruct((b, 3), jnp.float32),
        jax.ShapeDtypeStruct((b,), jnp.int32),
        jax.ShapeDtypeStruct((2,), jnp.uint32),
    )
    path = Path(path)
    write_bytes_atomic(path, bytes(exported.serialize()))
    return path


def load_exported(path: str | Path):
    """A callable ``(x_raw, attributes_raw, activity, noise_key_data) -> x_released``."""
    try:
        exported = jax.export.deserialize(bytearray(Path(path).read_bytes()))
    except Exception as err:  # a truncated or foreign file
        raise ValueError(f"{path}: not a jaxpriv exported sanitizer ({err})") from err
    return exported.call


__all__ = [
    "SanitizerTransform",
    "export_sanitizer",
    "load_exported",
    "load_sanitizer",
    "load_sanitizers",
    "load_stacked",
    "make_release",
]
