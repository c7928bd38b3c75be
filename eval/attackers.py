"""Attackers and utility models: fit on (raw or released) training windows, predict test.

Two modes, for every transform at once:
- **static**: one model fitted on the raw training windows, applied to every
  transform's released test windows (the app's model, or MSDA's frozen attacker);
- **adaptive**: one model per transform, fitted on that transform's released
  training windows (the attacker who knows the sanitizer; headline privacy).

Two families: the :class:`~jaxpriv.nn.classifiers.WindowCNN` (all transforms'
models trained in one compiled program, vmapped over the variant axis and
sharded over the devices by the sweep engine) and a scikit-learn random forest
on hand-crafted window features (:mod:`jaxpriv.features`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from eval.config import EvalConfig
from jaxpriv.classify import ClassifierConfig, make_fit, make_predict
from jaxpriv.features import fit_random_forest, window_features
from jaxpriv.sweep import make_variant_mesh, sweep_jit, to_host

FAMILIES = ("cnn", "rf")
MODES = ("static", "adaptive")
PREDICT_CHUNK = 512


def class_weights(y_N: np.ndarray, mask_N: np.ndarray, num_classes: int) -> np.ndarray:
    """Weights that sample every class equally often; 0 on masked rows."""
    counts = np.bincount(y_N[mask_N], minlength=num_classes).astype(np.float64)
    w = np.where(mask_N, 1.0 / np.maximum(counts[np.clip(y_N, 0, num_classes - 1)], 1.0), 0.0)
    return w.astype(np.float32)


def _standardizer(x_train_NxWxC: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x_train_NxWxC.mean(axis=(0, 1))
    std = x_train_NxWxC.std(axis=(0, 1))
    return mean, np.where(std > 1e-8, std, 1.0)


@functools.cache
def _cnn_programs(cfg: ClassifierConfig, num_classes: int, num_variants: int):
    # Cached so every task/split with the same shapes reuses one compiled program.
    vmesh = make_variant_mesh(num_variants)
    fit = sweep_jit(make_fit(cfg, num_classes), vmesh, data_argnums=(2, 3))
    predict_one = make_predict(cfg, num_classes)

    def predict(params, x_BxWxC):
        return jnp.argmax(predict_one(params, x_BxWxC), axis=-1).astype(jnp.int32)

    return vmesh, fit, sweep_jit(predict, vmesh)


def cnn_attack(
    x_train_VxNxWxC: np.ndarray,
    y_train_N: np.ndarray,
    mask_train_N: np.ndarray,
    x_test_VxMxWxC: np.ndarray,
    num_classes: int,
    *,
    mode: str,
    cfg: ClassifierConfig,
    seed: int,
) -> np.ndarray:
    """Predicted labels ``(V, M)`` of CNN attackers for every transform's test windows.

    Inputs are standardized per channel with the training statistics the
    attacker can see: the raw ones (static) or its transform's own (adaptive).
    """
    _check_mode(mode)
    num_transforms = x_test_VxMxWxC.shape[0]
    fitted = x_train_VxNxWxC[:1] if mode == "static" else x_train_VxNxWxC
    stats = [_standardizer(x) for x in fitted]
    vmesh, fit, predict = _cnn_programs(cfg, num_classes, len(fitted))
    x_fit = np.stack([(x - m) / s for x, (m, s) in zip(fitted, stats, strict=True)])
    weight = class_weights(y_train_N, mask_train_N, num_classes)
    keys = jax.random.split(jax.random.key(seed), len(fitted))
    params = fit(vmesh.pad(keys), vmesh.pad(x_fit), y_train_N.astype(np.int32), weight)
    del x_fit
    if mode == "static":  # one model for every transform: broadcast it over the variant axis
        vmesh, _, predict = _cnn_programs(cfg, num_classes, num_transforms)
        params = jax.tree.map(lambda a: np.repeat(a[:1], vmesh.padded, axis=0), to_host(params))
        stats = stats * num_transforms
    return _predict_chunks(predict, vmesh, params, x_test_VxMxWxC, stats)


def _predict_chunks(predict, vmesh, params, x_test_VxMxWxC, stats) -> np.ndarray:
    num_transforms, m = x_test_VxMxWxC.shape[:2]
    out = np.empty((num_transforms, m), np.int32)
    mean = np.stack([s[0] for s in stats])[:, None, None, :]
    std = np.stack([s[1] for s in stats])[:, None, None, :]
    for start in range(0, m, PREDICT_CHUNK):
        idx = np.minimum(np.arange(start, start + PREDICT_CHUNK), m - 1)
        x = (x_test_VxMxWxC[:, idx] - mean) / std
        pred = np.asarray(predict(params, vmesh.pad(x.astype(np.float32))))
        stop = min(start + PREDICT_CHUNK, m)
        out[:, start:stop] = pred[:num_transforms, : stop - start]
    return out


def rf_attack(
    features_train_VxNxD: np.ndarray,
    y_train_N: np.ndarray,
    mask_train_N: np.ndarray,
    features_test_VxMxD: np.ndarray,
    *,
    mode: str,
    cfg: EvalConfig,
    seed: int,
    progress: Callable[[int], object] | None = None,
) -> np.ndarray:
    """Predicted labels ``(V, M)`` of random-forest attackers on window features."""
    _check_mode(mode)
    fitted = features_train_VxNxD[:1] if mode == "static" else features_train_VxNxD
    models = []
    for v, feats in enumerate(fitted):
        models.append(
            fit_random_forest(
                feats[mask_train_N],
                y_train_N[mask_train_N],
                seed=seed + v,
                n_estimators=cfg.rf_trees,
                max_depth=cfg.rf_max_depth,
            )
        )
        if progress is not None:
            progress(1)
    if mode == "static":
        models = models * features_test_VxMxD.shape[0]
    return np.stack(
        [m.predict(f).astype(np.int32) for m, f in zip(models, features_test_VxMxD, strict=True)]
    )


def features_of(x_VxNxWxC: np.ndarray, rate_hz: float, channels: Sequence[str]) -> np.ndarray:
    """Hand-crafted features ``(V, N, D)`` of every transform's windows."""
    return np.stack([window_features(x, rate_hz, channels) for x in x_VxNxWxC])


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
