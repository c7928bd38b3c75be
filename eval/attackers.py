"""Attackers and utility models: fit on (raw or released) training windows, predict test.

Two modes, for every transform at once:
- **static**: one model fitted on the raw training windows, applied to every
  transform's released test windows (the app's model, or MSDA's frozen attacker);
- **adaptive**: one model per transform, fitted on that transform's released
  training windows (the attacker who knows the sanitizer; headline privacy).

Families are registered by name in :data:`REGISTRY` (:func:`register_family`):

- ``cnn``: the small :class:`~jaxpriv.nn.classifiers.WindowCNN`;
- ``rf``: a scikit-learn random forest on hand-crafted window features
  (:mod:`jaxpriv.features`);
- ``strong`` (:mod:`eval.strong_attacker`): a residual 1-D CNN trained to
  convergence with early stopping and augmentation. It is *staged*: the harness
  trains it only for the transforms its plan selects (:mod:`eval.attack_plan`).

A family's attack returns predicted labels ``(V, M)`` for the ``selected``
transforms and :data:`UNJUDGED` (-1) for the others, plus per-transform training
facts (``info``). Network families train one by one or vmapped over transforms
(:func:`resolve_execution`: vmapped on accelerators, one by one on CPU, where a
single small network already keeps the cores busy; ``benchmarks/eval_attackers.py``).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from eval.config import EvalConfig
from jaxpriv.classify import ClassifierConfig, make_fit, make_predict
from jaxpriv.features import fit_random_forest, window_features
from jaxpriv.sweep import make_variant_mesh, sweep_jit, to_host

MODES = ("static", "adaptive")
EXECUTIONS = ("auto", "vmap", "sequential")
UNJUDGED = -1  # predicted label of a transform a family was not trained for
PREDICT_CHUNK = 512


@dataclasses.dataclass(frozen=True)
class AttackData:
    """One (split, task): every transform's released windows and the labels."""

    x_train: np.ndarray  # (V, N, W, C)
    y_train: np.ndarray  # (N,) int
    mask_train: np.ndarray  # (N,) bool: rows with a label
    x_test: np.ndarray  # (V, M, W, C)
    num_classes: int
    features: Callable[[str], np.ndarray] | None = None  # "train"/"test" -> (V, N or M, D)
    # The strong family's own (train rows, validation rows), (N,) bool each; None: drawn at
    # random from the labelled rows (eval.strong_attacker.own_split).
    own_split: tuple[np.ndarray, np.ndarray] | None = None


Attack = Callable[..., tuple[np.ndarray, dict[str, Any]]]


@dataclasses.dataclass(frozen=True)
class Family:
    """``attack(data, selected_V, *, mode, cfg, seed, execution) -> (pred_VxM, info)``."""

    name: str
    attack: Attack
    staged: bool  # True: trained where the staged plan says; False: for every transform
    about: str


REGISTRY: dict[str, Family] = {}


def register_family(name: str, *, staged: bool = False, about: str = "") -> Callable:
    """Decorator adding an attack function to :data:`REGISTRY` under ``name``."""

    def wrap(fn: Attack) -> Attack:
        if name in REGISTRY or name == "strongest":
            raise ValueError(f"attacker family {name!r} registered twice or reserved")
        REGISTRY[name] = Family(name, fn, staged, about)
        return fn

    return wrap


def resolve_execution(execution: str, backend: str | None = None) -> str:
    """``"vmap"`` or ``"sequential"``: ``auto`` is one by one on CPU, vmapped elsewhere."""
    if execution not in EXECUTIONS:
        raise ValueError(f"execution must be one of {EXECUTIONS}, not {execution!r}")
    if execution != "auto":
        return execution
    return "sequential" if (backend or jax.default_backend()) == "cpu" else "vmap"


def class_weights(y_N: np.ndarray, mask_N: np.ndarray, num_classes: int) -> np.ndarray:
    """Weights that sample every class equally often; 0 on masked rows."""
    counts = np.bincount(y_N[mask_N], minlength=num_classes).astype(np.float64)
    w = np.where(mask_N, 1.0 / np.maximum(counts[np.clip(y_N, 0, num_classes - 1)], 1.0), 0.0)
    return w.astype(np.float32)


def _standardizer(x_train_NxWxC: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    mean = x_train_NxWxC.mean(axis=(0, 1))
    std = x_train_NxWxC.std(axis=(0, 1))
    return mean, np.where(std > 1e-8, std, 1.0)


# Network families: ``build(cfg, num_classes) -> (fit(key, x_NxWxC, shared) -> (model, info),
# predict(model, x_BxWxC) -> labels_B)``; ``shared`` (labels, weights, rows) is the same for
# every transform.
NETWORKS: dict[str, Callable] = {}


def _cnn_network(cfg: ClassifierConfig, num_classes: int):
    fit, logits = make_fit(cfg, num_classes), make_predict(cfg, num_classes)

    def fit_one(key, x_NxWxC, shared):
        return fit(key, x_NxWxC, shared["y"], shared["w"]), {}

    def predict(params, x_BxWxC):
        return jnp.argmax(logits(params, x_BxWxC), axis=-1).astype(jnp.int32)

    return fit_one, predict


NETWORKS["cnn"] = _cnn_network


@functools.cache
def network_programs(kind: str, cfg: Any, num_classes: int, num_variants: int | None):
    """``(vmesh, fit, predict)``: vmapped over ``num_variants`` transforms and sharded by the
    sweep engine, or (``None``) jitted for one transform. Cached, so every task and split
    with the same shapes reuses one compiled program."""
    fit, predict = NETWORKS[kind](cfg, num_classes)
    if num_variants is None:
        return None, jax.jit(fit), jax.jit(predict)
    vmesh = make_variant_mesh(num_variants)
    return vmesh, sweep_jit(fit, vmesh, data_argnums=(2,)), sweep_jit(predict, vmesh)


def network_attack(
    kind: str,
    cfg: Any,
    x_train_VxNxWxC: np.ndarray,
    shared: dict[str, np.ndarray],
    x_test_VxMxWxC: np.ndarray,
    num_classes: int,
    *,
    mode: str,
    seed: int,
    execution: str = "auto",
    selected: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Predicted labels ``(V, M)`` of network attackers, and their training facts.

    Inputs are standardized per channel with the training statistics the attacker can
    see: the raw ones (static) or its transform's own (adaptive). Transform ``v``'s key is
    ``fold_in(key(seed), v)``: the same attacker whether it trains alone or in a batch.
    """
    _check_mode(mode)
    num_transforms, m = x_test_VxMxWxC.shape[:2]
    sel = np.ones(num_transforms, bool) if selected is None else np.asarray(selected, bool)
    out = np.full((num_transforms, m), UNJUDGED, np.int32)
    fitted = np.array([0]) if mode == "static" else np.flatnonzero(sel)
    targets = np.flatnonzero(sel)
    if not len(targets):
        return out, {}
    stats = [_standardizer(x_train_VxNxWxC[v]) for v in fitted]
    keys = jnp.stack([jax.random.fold_in(jax.random.key(seed), int(v)) for v in fitted])
    if resolve_execution(execution) == "vmap":
        vmesh, fit, _ = network_programs(kind, cfg, num_classes, len(fitted))
        x_fit = np.stack(
            [(x_train_VxNxWxC[v] - m_) / s for v, (m_, s) in zip(fitted, stats, strict=True)]
        )
        models, info = vmesh.unpad(to_host(fit(vmesh.pad(keys), vmesh.pad(x_fit), shared)))
        del x_fit
    else:
        _, fit, _ = network_programs(kind, cfg, num_classes, None)
        runs = [
            to_host(fit(keys[i], (x_train_VxNxWxC[v] - m_) / s, shared))
            for i, (v, (m_, s)) in enumerate(zip(fitted, stats, strict=True))
        ]
        models = jax.tree.map(lambda *a: np.stack(a), *[r[0] for r in runs])
        info = jax.tree.map(lambda *a: np.stack(a), *[r[1] for r in runs]) if runs else {}
    # Which fitted model (and statistics) judges each target transform.
    which = np.zeros(len(targets), int) if mode == "static" else np.arange(len(targets))
    models = jax.tree.map(lambda a: a[which], models)
    stats = [stats[i] for i in which]
    out[targets] = _predict(kind, cfg, num_classes, models, x_test_VxMxWxC[targets], stats,
                            execution)  # fmt: skip
    facts = {"transforms": [int(v) for v in fitted]}
    facts.update({k: np.asarray(a).tolist() for k, a in info.items()})
    return out, facts


def _predict(kind, cfg, num_classes, models, x_test_TxMxWxC, stats, execution) -> np.ndarray:
    num_targets, m = x_test_TxMxWxC.shape[:2]
    out = np.empty((num_targets, m), np.int32)
    mean = np.stack([s[0] for s in stats])[:, None, None, :]
    std = np.stack([s[1] for s in stats])[:, None, None, :]
    vmapped = resolve_execution(execution) == "vmap"
    vmesh, _, predict = network_programs(kind, cfg, num_classes, num_targets if vmapped else None)
    for start in range(0, m, PREDICT_CHUNK):
        idx = np.minimum(np.arange(start, start + PREDICT_CHUNK), m - 1)
        x = ((x_test_TxMxWxC[:, idx] - mean) / std).astype(np.float32)
        stop = min(start + PREDICT_CHUNK, m)
        if vmapped:
            pred = np.asarray(predict(vmesh.pad(models), vmesh.pad(x)))[:num_targets]
        else:
            pred = np.stack(
                [np.asarray(predict(jax.tree.map(lambda a, t=t: a[t], models), x[t]))
                 for t in range(num_targets)]
            )  # fmt: skip
        out[:, start:stop] = pred[:, : stop - start]
    return out


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
    execution: str = "auto",
    selected: np.ndarray | None = None,
) -> np.ndarray:
    """Predicted labels ``(V, M)`` of CNN attackers for every transform's test windows."""
    shared = {
        "y": y_train_N.astype(np.int32),
        "w": class_weights(y_train_N, mask_train_N, num_classes),
    }
    pred, _ = network_attack(
        "cnn", cfg, x_train_VxNxWxC, shared, x_test_VxMxWxC, num_classes,
        mode=mode, seed=seed, execution=execution, selected=selected,
    )  # fmt: skip
    return pred


@register_family("cnn", about="small 1-D CNN (quick)")
def _cnn_family(data: AttackData, selected, *, mode, cfg: EvalConfig, seed, execution):
    pred = cnn_attack(
        data.x_train, data.y_train, data.mask_train, data.x_test, data.num_classes,
        mode=mode, cfg=cfg.cnn, seed=seed, execution=execution, selected=selected,
    )  # fmt: skip
    return pred, {}


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
    selected: np.ndarray | None = None,
) -> np.ndarray:
    """Predicted labels ``(V, M)`` of random-forest attackers on window features."""
    _check_mode(mode)
    num_transforms = features_test_VxMxD.shape[0]
    sel = np.ones(num_transforms, bool) if selected is None else np.asarray(selected, bool)
    fitted = [0] if mode == "static" else np.flatnonzero(sel)
    models = {}
    for v in fitted:
        models[int(v)] = fit_random_forest(
            features_train_VxNxD[v][mask_train_N],
            y_train_N[mask_train_N],
            seed=seed + int(v),
            n_estimators=cfg.rf_trees,
            max_depth=cfg.rf_max_depth,
        )
        if progress is not None:
            progress(1)
    out = np.full((num_transforms, features_test_VxMxD.shape[1]), UNJUDGED, np.int32)
    for v in np.flatnonzero(sel):
        model = models[0] if mode == "static" else models[int(v)]
        out[v] = model.predict(features_test_VxMxD[v]).astype(np.int32)
    return out


@register_family("rf", about="random forest on window features")
def _rf_family(data: AttackData, selected, *, mode, cfg: EvalConfig, seed, execution):
    pred = rf_attack(
        data.features("train"), data.y_train, data.mask_train, data.features("test"),
        mode=mode, cfg=cfg, seed=seed, selected=selected,
    )  # fmt: skip
    return pred, {}


def features_of(x_VxNxWxC: np.ndarray, rate_hz: float, channels: Sequence[str]) -> np.ndarray:
    """Hand-crafted features ``(V, N, D)`` of every transform's windows."""
    return np.stack([window_features(x, rate_hz, channels) for x in x_VxNxWxC])


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")


# The families trained for every transform and task (what evaluators outside the staged
# plan, e.g. online, replacement and figure2, iterate over).
FAMILIES = tuple(n for n, f in REGISTRY.items() if not f.staged)

# Importing registers the staged strong family.
from eval import strong_attacker  # noqa: E402, F401

ALL_FAMILIES = tuple(REGISTRY)
