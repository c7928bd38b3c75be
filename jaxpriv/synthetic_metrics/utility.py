"""Utility of synthetic labels: train on synthetic, test on real (TSTR) against TRTR."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpriv.classify import ClassifierConfig, make_fit, make_predict
from jaxpriv.metrics import classification_metrics
from jaxpriv.sweep import make_variant_mesh, sweep_jit, to_host
from jaxpriv.synthetic_metrics.samples import (
    PREDICT_CHUNK,
    channel_scale,
    check_labels,
    check_same_shape,
    check_samples,
)


def _balanced_weights(y: np.ndarray, n_pad: int, num_classes: int) -> np.ndarray:
    counts = np.bincount(y, minlength=num_classes)
    w = np.zeros(n_pad, np.float32)
    w[: len(y)] = 1.0 / counts[y]
    return w


@functools.cache
def _tstr_programs(cfg: ClassifierConfig, num_classes: int, num_variants: int):
    vmesh = make_variant_mesh(num_variants)
    predict_one = make_predict(cfg, num_classes)

    def predict(params, x_BxWxC):
        return jnp.argmax(predict_one(params, x_BxWxC), axis=-1).astype(jnp.int32)

    return vmesh, sweep_jit(make_fit(cfg, num_classes), vmesh), sweep_jit(predict, vmesh)


def tstr(
    real_train: Any,
    y_real_train: Any,
    synthetic: Any,
    y_synthetic: Any,
    real_test: Any,
    y_test: Any,
    *,
    num_classes: int,
    cfg: ClassifierConfig = ClassifierConfig(),  # noqa: B008 (frozen, hashable)
    key: jax.Array,
    seeds: int = 1,
) -> dict[str, Any]:
    """Train on synthetic, test on real (TSTR) vs train on real, test on real (TRTR).

    The same :class:`~jaxpriv.nn.classifiers.WindowCNN` (``cfg``) is fit on the labelled
    real training windows and on the labelled synthetic windows, ``seeds`` times each, all
    ``2 * seeds`` fits in one vmapped program (the smaller set is padded with zero-weight
    rows). Each model standardizes per channel with its own training set's statistics and
    samples its classes equally often. Both are scored on ``real_test``: ``accuracy``,
    ``balanced_accuracy`` and ``macro_f1`` (means over seeds, plus per-seed accuracies),
    and ``accuracy_gap = trtr - tstr`` (0: the synthetic labels teach as much as real ones).
    """
    xr = check_samples(real_train, "real_train", windows=True)
    xs = check_samples(synthetic, "synthetic", windows=True)
    xt = check_samples(real_test, "real_test", min_n=1, windows=True)
    check_same_shape(xr, "real_train", xs, "synthetic")
    check_same_shape(xr, "real_train", xt, "real_test")
    if not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if not isinstance(seeds, int) or seeds < 1:
        raise ValueError(f"seeds must be a positive int, got {seeds!r}")
    yr = check_labels(y_real_train, "y_real_train", len(xr), num_classes)
    ys = check_labels(y_synthetic, "y_synthetic", len(xs), num_classes)
    yt = check_labels(y_test, "y_test", len(xt), num_classes)
    n = max(len(xr), len(xs))
    sets = []
    for x, y in ((xr, yr), (xs, ys)):
        mean, std = channel_scale(x)
        pad = n - len(x)
        x_pad = np.concatenate([(x - mean) / std, np.zeros((pad, *x.shape[1:]), np.float32)])
        sets.append((x_pad, np.pad(y, (0, pad)), _balanced_weights(y, n, num_classes), mean, std))
    order = [0] * seeds + [1] * seeds  # variants: TRTR seeds, then TSTR seeds
    vmesh, fit, predict = _tstr_programs(cfg, num_classes, 2 * seeds)
    keys = jax.random.split(key, 2 * seeds)
    x_VxNxWxC, y_VxN, w_VxN = (np.stack([sets[v][i] for v in order]) for i in (0, 1, 2))
    params = fit(vmesh.pad(keys), vmesh.pad(x_VxNxWxC), vmesh.pad(y_VxN), vmesh.pad(w_VxN))
    del x_VxNxWxC
    m = len(xt)
    pred = np.empty((2 * seeds, m), np.int32)
    chunk = min(m, PREDICT_CHUNK)
    for start in range(0, m, chunk):
        idx = np.minimum(np.arange(start, start + chunk), m - 1)  # pad: one shape
        # Each model sees the test windows standardized with its own training statistics.
        batch = np.stack([(xt[idx] - sets[v][3]) / sets[v][4] for v in order])
        stop = min(start + chunk, m)
        pred[:, start:stop] = to_host(predict(params, vmesh.pad(batch)))[
            : len(order), : stop - start
        ]
    out: dict[str, Any] = {"num_classes": num_classes, "seeds": seeds}
    for name, rows in (("trtr", range(seeds)), ("tstr", range(seeds, 2 * seeds))):
        per = [classification_metrics(yt, pred[v], num_classes) for v in rows]
        out[name] = {
            k: float(np.mean([float(p[k]) for p in per]))
            for k in ("accuracy", "balanced_accuracy", "macro_f1")
        }
        out[name]["accuracy_per_seed"] = [float(p["accuracy"]) for p in per]
    out["accuracy_gap"] = out["trtr"]["accuracy"] - out["tstr"]["accuracy"]
    out.update(n_real_train=len(xr), n_synthetic=len(xs), n_real_test=m)
    return out
