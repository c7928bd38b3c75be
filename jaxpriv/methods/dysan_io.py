"""Load trained DySan sanitizers as pure functions, and export them for deployment.

A :class:`SanitizerTransform` works in the dataset's raw units: it scales a
window with the training scaler, sanitizes it, and maps it back, so
``transform(x_raw, ...) -> x_released`` is what would run on the phone. It
needs only the checkpoint (the config with ``arch`` and ``activity_mode``, the
grid, the scaler and the attributes' training range are in its metadata; the
``predicted`` mode's activity classifier is in its state), not the training code.
A run of the ``true`` activity mode (a diagnostic that leaks the label) gets names
ending in ``-leaks``.

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

from jaxpriv.checkpoint import CheckpointError
from jaxpriv.data.scaling import Scaler
from jaxpriv.methods.dysan import DysanConfig, config_from_meta, make_sanitize, make_train
from jaxpriv.methods.dysan_inputs import scale_attributes
from jaxpriv.run_io import write_bytes_atomic
from jaxpriv.variants import restore_sweep_run, select_variant, variant_index

# Olympus is DySan's training without the distortion term (systems.md section 3).
DYSAN_METHODS = ("dysan", "olympus")
LEAK_SUFFIX = "-leaks"  # names of the ``true`` activity mode's sanitizers


def variant_name(method: str, hp: dict[str, Any], cfg: DysanConfig) -> str:
    """``dysan-a0.3-l0.2``, with :data:`LEAK_SUFFIX` for the leaking ``true`` mode."""
    return f"{method}-a{hp['alpha']:g}-l{hp['lam']:g}" + (LEAK_SUFFIX if cfg.leaks else "")


def run_config(meta: dict[str, Any]) -> DysanConfig:
    """The run's :class:`DysanConfig` from its metadata (a clear error for old runs)."""
    try:
        return config_from_meta(meta["config"])
    except ValueError as err:
        raise CheckpointError(f"{meta.get('method', 'dysan')} run: {err}") from None


def release_params(cfg: DysanConfig, state: Any) -> dict[str, Any]:
    """What a release needs from a (batched) training state: the sanitizer, and the
    ``predicted`` mode's activity classifier."""
    params = {"san": state["san"]}
    if cfg.activity_mode == "predicted":
        params["act_clf"] = state["act_clf"]
    return params


@dataclasses.dataclass(frozen=True)
class SanitizerTransform:
    """One trained sanitizer, ``x_raw -> x_released``, in the dataset's units."""

    name: str
    hp: dict[str, Any]
    config: DysanConfig
    params: Any  # {"san": ..., and "act_clf" in the predicted mode}
    scaler: Scaler
    attribute_min: np.ndarray
    attribute_max: np.ndarray

    def __call__(
        self,
        x_BxWxC: jax.Array,
        attributes_Bx3: jax.Array | None = None,
        activity_B: jax.Array | None = None,
        key: jax.Array | None = None,
    ) -> jax.Array:
        """Release windows. A conditional sanitizer also needs the subjects' raw
        (height cm, weight kg, age; NaN where unknown); the ``true`` activity mode the
        activity index; a key draws the noise."""
        b = x_BxWxC.shape[0]
        if self.config.conditional and attributes_Bx3 is None:
            raise ValueError(f"{self.name}: a conditional sanitizer needs the attributes")
        if self.config.leaks and activity_B is None:
            raise ValueError(f"{self.name}: the 'true' activity mode needs the activity")
        attributes = jnp.full((b, 3), jnp.nan) if attributes_Bx3 is None else attributes_Bx3
        activity = jnp.zeros((b,), jnp.int32) if activity_B is None else activity_B
        key = jax.random.key(0) if key is None else key
        return _release(self, x_BxWxC, attributes, activity, key)


def _release(t: SanitizerTransform, x_raw, attributes_raw, activity, key):
    release = make_release(t.config, t.scaler, t.attribute_min, t.attribute_max)
    return release(t.params, x_raw, attributes_raw, activity, key)


def make_release(cfg: DysanConfig, scaler: Scaler, attribute_min, attribute_max):
    """``release(params, x_raw, attributes_raw, activity, key) -> x_released`` in raw
    units, for one variant (``params``: :func:`release_params`): pure, so it can be
    vmapped over stacked sanitizers. The attributes are scaled to [-1, 1] on the
    training range (unknown: 0); ``activity`` is read only in the ``true`` mode."""
    sanitize = make_sanitize(cfg)
    lo, hi = np.asarray(attribute_min, np.float32), np.asarray(attribute_max, np.float32)

    def release(params, x_raw, attributes_raw, activity, key):
        attributes = scale_attributes(attributes_raw, lo, hi)
        x_hat = sanitize(params, scaler.apply(x_raw), attributes, activity, key)
        return scaler.invert(x_hat)

    return release


def _restore(run_dir: Path, step: int | None) -> tuple[dict, Any]:
    return restore_sweep_run(
        run_dir,
        step,
        methods=DYSAN_METHODS,
        what="DySan",
        init_for=lambda meta: make_train(run_config(meta))[0],
    )


def _stats(meta: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    cond = meta["conditioning"]
    return (
        np.asarray(cond["attribute_min"], np.float32),
        np.asarray(cond["attribute_max"], np.float32),
    )


def load_stacked(run_dir: str | Path, *, step: int | None = None) -> tuple[dict, Any, Any]:
    """``(meta, san_params, release)``: every variant's sanitizer parameters stacked on a
    leading axis (the grid's length, padding removed, on the host) and the one-variant
    :func:`make_release` function. ``meta["alive"]`` lists which variants stayed finite."""
    run_dir = Path(run_dir)
    meta, state = _restore(run_dir, step)
    cfg = run_config(meta)
    n = len(meta["grid"])
    params = jax.device_get(release_params(cfg, state))
    params = jax.tree.map(lambda a: np.asarray(a)[:n], params)
    meta = {**meta, "alive": np.asarray(state["alive"])[:n].astype(bool).tolist()}
    scaler = Scaler.from_json(meta["prepared"]["scaler"])
    release = make_release(cfg, scaler, *_stats(meta))
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
    hp = meta["grid"][index]
    cfg = run_config(meta)
    lo, hi = _stats(meta)
    return SanitizerTransform(
        name=variant_name("dysan", hp, cfg),
        hp=hp,
        config=cfg,
        params=jax.device_get(select_variant(release_params(cfg, state), index)),
        scaler=Scaler.from_json(meta["prepared"]["scaler"]),
        attribute_min=lo,
        attribute_max=hi,
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
    "release_params",
    "run_config",
    "variant_name",
]
