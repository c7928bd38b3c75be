"""What DySan's sanitizer is conditioned on: attributes, activity input and noise.

The authors' code (systems.md section 1) conditions the sanitizer on the user's
physical attributes (height, weight, age) min-max scaled to ``[-1, 1]``, an
activity vector and 2 uniform noise values in ``[0, 1)``. Here:

- the attribute scaling is fitted on the *training* windows (the code fits the
  test set's scaler on the test set: not copied); an unknown value (NaN) is 0,
  the middle of the range, in training and at release alike;
- the activity vector follows ``DysanConfig.activity_mode``: zeros
  (``original``), the one-hot label of an on-device activity classifier trained on
  the raw training windows (``predicted``, DySan(o)), nothing (``none``) or the true
  one-hot label (``true``, a diagnostic that leaks).

Everything here is a pure function; randomness comes from explicit keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpriv.classify import ClassifierConfig, make_fit, make_predict
from jaxpriv.data.task import TaskData
from jaxpriv.methods.dysan_config import DysanConfig

PyTree = Any
NUM_NOISE = 2
# The on-device activity classifier of the ``predicted`` mode: small, trained once on
# the raw (scaled, unsanitized) training windows.
ACTIVITY_CLASSIFIER = ClassifierConfig(features=(16, 32, 32), dense=32, steps=400, batch_size=128)


def attribute_range(attributes_raw_NxA: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-attribute ``(min, max)`` of the training windows' raw attributes, NaN-aware;
    an attribute never known gets ``(0, 1)``."""
    a = np.asarray(attributes_raw_NxA, np.float64)
    known = np.isfinite(a).any(axis=0)
    lo = np.where(known, np.nanmin(np.where(np.isfinite(a), a, np.inf), axis=0), 0.0)
    hi = np.where(known, np.nanmax(np.where(np.isfinite(a), a, -np.inf), axis=0), 1.0)
    return lo.astype(np.float32), hi.astype(np.float32)


def scale_attributes(attributes_raw_BxA, lo, hi) -> jax.Array:
    """Raw attributes -> ``[-1, 1]`` on the training range (sklearn's ``MinMaxScaler(-1, 1)``:
    values outside the range go outside, no clipping); unknown (NaN) -> 0; a constant
    attribute -> 0."""
    a = jnp.asarray(attributes_raw_BxA, jnp.float32)
    lo, hi = jnp.asarray(lo, jnp.float32), jnp.asarray(hi, jnp.float32)
    span = hi - lo
    scaled = 2 * (a - lo) / jnp.where(span > 0, span, 1) - 1
    scaled = jnp.where(span > 0, scaled, 0.0)
    return jnp.where(jnp.isfinite(a), scaled, 0.0)


def conditioning_stats(data: TaskData) -> dict[str, list[float]]:
    """What the release needs to condition like training, JSON-able (stored in the
    checkpoint's metadata under ``"conditioning"``)."""
    lo, hi = attribute_range(data.train_windows.attributes)
    return {"attribute_min": lo.tolist(), "attribute_max": hi.tolist()}


def dysan_arrays(data: TaskData) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(train, test)`` arrays for DySan: the task's arrays with ``attributes`` replaced
    by the raw attributes scaled to ``[-1, 1]`` on the training range."""
    stats = conditioning_stats(data)
    lo, hi = stats["attribute_min"], stats["attribute_max"]

    def arrays(split: Mapping[str, np.ndarray], windows) -> dict[str, np.ndarray]:
        scaled = np.asarray(scale_attributes(windows.attributes, lo, hi), np.float32)
        return {**split, "attributes": scaled}

    return arrays(data.train, data.train_windows), arrays(data.test, data.test_windows)


def activity_vector(
    cfg: DysanConfig, activity_B: jax.Array, predicted_B: jax.Array | None = None
) -> jax.Array | None:
    """The sanitizer's activity input ``(B, A)`` for ``cfg.activity_mode`` (None: ``none``).
    ``predicted_B``: the on-device classifier's labels (``predicted`` mode)."""
    mode, a = cfg.activity_mode, cfg.num_activities
    if mode == "none":
        return None
    if mode == "original":  # the code's SanitizeActivities = False: zeroed
        return jnp.zeros((activity_B.shape[0], a), jnp.float32)
    if mode == "predicted":
        if predicted_B is None:
            raise ValueError("activity_mode 'predicted' needs the classifier's labels")
        return jax.nn.one_hot(predicted_B, a, dtype=jnp.float32)
    return jax.nn.one_hot(activity_B, a, dtype=jnp.float32)  # "true": leaks, a diagnostic


def conditioning(
    cfg: DysanConfig, attributes_Bx3: jax.Array, activity_BxA: jax.Array | None, key: jax.Array
) -> jax.Array | None:
    """``[attributes (3), activity input (A or nothing), noise (2)]`` per window, the
    code's order; None for an unconditional (light) sanitizer. Noise: uniform [0, 1)."""
    if not cfg.conditional:
        return None
    noise_Bx2 = jax.random.uniform(key, (attributes_Bx3.shape[0], NUM_NOISE))
    parts = [jnp.asarray(attributes_Bx3, jnp.float32)]
    if activity_BxA is not None:
        parts.append(activity_BxA)
    return jnp.concatenate([*parts, noise_Bx2], axis=-1)


# ---------------------------------------------------------------- the on-device classifier


def fit_activity_classifier(cfg: DysanConfig, key: jax.Array, data: Mapping[str, Any]) -> PyTree:
    """The ``predicted`` mode's activity classifier, trained on the raw (scaled,
    unsanitized) training windows ``data["x"]`` with their labels. Pure."""
    fit = make_fit(ACTIVITY_CLASSIFIER, cfg.num_activities)
    x = jnp.asarray(data["x"])
    return fit(key, x, jnp.asarray(data["activity"]), jnp.ones((x.shape[0],), jnp.float32))


def predict_activity(cfg: DysanConfig, params: PyTree, x_BxWxC: jax.Array) -> jax.Array:
    """The on-device classifier's label for each (scaled, raw) window."""
    logits = make_predict(ACTIVITY_CLASSIFIER, cfg.num_activities)(params, x_BxWxC)
    return jnp.argmax(logits, axis=-1).astype(jnp.int32)


def activity_classifier_shape(cfg: DysanConfig) -> PyTree:
    """The classifier's parameters as shapes (no computation), for templates."""
    model = ACTIVITY_CLASSIFIER.model(cfg.num_activities)
    x = jax.ShapeDtypeStruct((1, cfg.window, cfg.num_channels), jnp.float32)
    return jax.eval_shape(lambda k, x: model.init(k, x)["params"], jax.random.key(0), x)
