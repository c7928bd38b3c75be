"""The ``strong`` attacker family: a residual 1-D CNN trained to convergence.

:class:`~jaxpriv.nn.strong_attacker.ResNet1D` (the time-series classification
benchmarks' ResNet, smaller in the ``quick`` preset), trained by
:func:`jaxpriv.classify.make_fit_early_stopping`: augmented minibatches (random
shifts, per-channel gain, jitter), a validation check every ``eval_every``
steps, stopped after ``patience`` checks without improvement, best weights kept.

The validation rows come from the attacker's **own training windows**, never
from the test users (:func:`own_split`), held out the way the split tests:

- splits whose test users are not among the training users (``subject``,
  ``cross``): whole **users** are held out (a ``validation_fraction`` of the
  training users, stratified by each user's most common label, so both genders
  are in validation), since the attacker is judged on people it never saw;
- splits of known users (``trial``, ``time``): the **last** ``validation_fraction``
  of each training recording, and the windows overlapping it are dropped from
  training, since the attacker is judged on other data of people it knows (and
  holding out users would remove identity classes).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from eval.attackers import NETWORKS, AttackData, class_weights, network_attack, register_family
from eval.config import EvalConfig
from jaxpriv.classify import StrongConfig, make_fit_early_stopping, make_predict_variables
from jaxpriv.data.windows import Windows


def _strong_network(cfg: StrongConfig, num_classes: int):
    fit, logits = (
        make_fit_early_stopping(cfg, num_classes),
        make_predict_variables(cfg, num_classes),
    )

    def fit_one(key, x_NxWxC, shared):
        x_tr, x_val = x_NxWxC[shared["train_rows"]], x_NxWxC[shared["val_rows"]]
        return fit(key, x_tr, shared["y_tr"], shared["w_tr"], x_val, shared["y_val"],
                   shared["w_val"])  # fmt: skip

    def predict(variables, x_BxWxC):
        return jnp.argmax(logits(variables, x_BxWxC), axis=-1).astype(jnp.int32)

    return fit_one, predict


NETWORKS["strong"] = _strong_network


def own_split(
    windows: Windows | None,
    by_user: bool,
    y_N: np.ndarray,
    mask_N: np.ndarray,
    *,
    fraction: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """``(train_N, val_N)`` bool: the strong attacker's own validation rows (see above);
    ``by_user``: the split's test users are not among its training users.

    ``windows`` None (constructed data): a class-stratified random ``fraction`` of rows.
    """
    rng = np.random.default_rng(seed)
    if windows is None:
        val = np.zeros(len(y_N), bool)
        for c in np.unique(y_N[mask_N]):
            rows = np.flatnonzero(mask_N & (y_N == c))
            val[rng.choice(rows, max(1, round(fraction * len(rows))), replace=False)] = True
        return mask_N & ~val, mask_N & val
    if by_user:
        val_users = _held_out_users(windows.subject, y_N, mask_N, fraction, rng)
        if val_users:
            val = mask_N & np.isin(windows.subject, val_users)
            return mask_N & ~val, val
    return _recording_tails(windows, mask_N, fraction)


def _held_out_users(subject_N, y_N, mask_N, fraction, rng) -> list[int]:
    """Per most-common label, a ``fraction`` of its users (one at least, when it has two)."""
    users = np.unique(subject_N[mask_N])
    majority = np.array([np.bincount(y_N[mask_N & (subject_N == u)]).argmax() for u in users])
    chosen: list[int] = []
    for c in np.unique(majority):
        group = rng.permutation(users[majority == c])
        if len(group) >= 2:
            chosen += [int(u) for u in group[: max(1, round(fraction * len(group)))]]
    return chosen


def _recording_tails(windows: Windows, mask_N, fraction) -> tuple[np.ndarray, np.ndarray]:
    """The last ``fraction`` of each recording's windows; the windows overlapping them are
    left out of training (overlapping windows share samples)."""
    train, val = mask_N.copy(), np.zeros(len(mask_N), bool)
    length = windows.x.shape[1]
    for rec in np.unique(windows.recording):
        rows = np.flatnonzero(windows.recording == rec)
        rows = rows[np.argsort(windows.start[rows], kind="stable")]
        tail = int(np.ceil(fraction * len(rows))) if len(rows) >= 2 else 0
        if not tail:
            continue
        first = windows.start[rows[-tail]]
        val[rows[-tail:]] = True
        train[rows[windows.start[rows] + length > first]] = False
    return train, mask_N & val


@register_family("strong", staged=True, about="residual 1-D CNN, early-stopped, augmented")
def strong_family(
    data: AttackData, selected, *, mode: str, cfg: EvalConfig, seed: int, execution: str
) -> tuple[np.ndarray, dict[str, Any]]:
    """Strong attackers for the ``selected`` transforms (``UNJUDGED`` elsewhere)."""
    if data.own_split is None:
        train, val = own_split(None, False, data.y_train, data.mask_train,
                               fraction=cfg.strong.validation_fraction, seed=seed)  # fmt: skip
    else:
        train, val = data.own_split
    if not val.any() or not train.any():
        raise ValueError("the strong attacker needs training and validation rows")
    k, y = data.num_classes, data.y_train.astype(np.int32)
    shared = {
        "train_rows": np.flatnonzero(train),
        "val_rows": np.flatnonzero(val),
        "y_tr": y[train],
        "w_tr": class_weights(y, train, k)[train],
        "y_val": y[val],
        "w_val": class_weights(y, val, k)[val],
    }
    return network_attack(
        "strong", cfg.strong, data.x_train, shared, data.x_test, k,
        mode=mode, seed=seed, execution=execution, selected=selected,
    )  # fmt: skip
