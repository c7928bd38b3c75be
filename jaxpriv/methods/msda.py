"""MSDA's anonymizing autoencoder (AAE) and REP, trained by the Figure 6 procedure of seed 002.

1. Pretrain the autoencoder as the identity (MSE).
2. Rounds: compute the latent ``Y`` and the output ``x'`` of every training
   window (evaluation mode); train EncReg on ``Y`` -> user, DecReg on ``x'`` ->
   user and ActReg on ``x'`` -> activity, each until its validation loss stops
   improving (early stopping, best parameters kept); freeze them; train the
   autoencoder for ``aae_epochs`` epochs with MSDA's loss
   (:func:`jaxpriv.losses.msda_aae_loss`) plus an L2 penalty on its kernels.
3. A variant has converged when its validation loss changes by at most
   ``converge_tol`` (relative) between two rounds (after ``min_rounds``); from
   then on its state stops changing (masked updates) while the others go on, up
   to ``rounds`` rounds.

REP is the same procedure with ``beta_dec = 0`` (only the latent term), so AAE and
REP are two variants of one grid (:data:`DEFAULT_GRID`) trained at once: every
function here is written for ONE variant and vmapped by :class:`MsdaSweep`
through :mod:`jaxpriv.sweep`. Static settings live in :class:`MsdaConfig`;
``hp`` holds what may differ per variant (:data:`HP_KEYS`).

Randomness: each epoch folds ``(phase, round, epoch)`` into the variant's key,
never a Python-side counter, so a run resumed from the checkpoint taken after a
round ends where an uninterrupted run ends.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np

from jaxpriv.nn.msda import AAE, Regularizer

PyTree = Any
HP_KEYS = ("beta_enc", "beta_dec", "beta_act", "beta_dist", "lr", "lr_reg", "seed")
BETAS = ("beta_enc", "beta_dec", "beta_act", "beta_dist")
# The authors' code's weights: L_i 1 (EncReg) and 1 (DecReg), activity CE 2, MSE 0.01.
AAE_BETAS = {"beta_enc": 1.0, "beta_dec": 1.0, "beta_act": 2.0, "beta_dist": 0.01}
REP_BETAS = {**AAE_BETAS, "beta_dec": 0.0}
DEFAULT_GRID: list[dict[str, float]] = [dict(AAE_BETAS), dict(REP_BETAS)]
DEFAULT_LR = 1e-3  # Keras' Adam default, which the authors' code uses

# Each regularizer: (input feature, label).
REGULARIZERS = {"enc": ("y", "subject"), "dec": ("xh", "subject"), "act": ("xh", "activity")}
EVAL_CHUNK = 512  # windows per evaluation-mode call (bounds memory)
# XLA's RngBitGenerator keys: ample quality for initialisation, shuffling and dropout, and
# XLA:CPU compiles them about 3x faster than threefry's unrolled rounds (init: 20 s -> 8 s
# on 2 busy cores). Results stay deterministic for a given program and device.
PRNG_IMPL = "rbg"


@dataclasses.dataclass(frozen=True)
class MsdaConfig:
    """Static settings of an MSDA run (they fix shapes and code paths)."""

    window: int = 128
    stride: int = 10
    num_channels: int = 2
    num_users: int = 24
    num_activities: int = 4
    filters: int = 100  # autoencoder conv filters (the code's 100)
    activation: str = "selu"
    bn_momentum: float = 0.99  # Keras' default
    reg_features: int = 32  # regularizer conv filters
    reg_dense: int = 128
    l2: float = 1e-3  # weight of the sum of squared autoencoder kernels (Keras l2(1e-3))
    batch_size: int = 128
    pretrain_epochs: int = 32
    rounds: int = 8
    reg_epochs: int = 20  # at most, per regularizer and round (early stopping)
    reg_patience: int = 2  # epochs without improvement before a regularizer stops
    aae_epochs: int = 5
    converge_tol: float = 0.01  # relative change of the validation loss between rounds
    min_rounds: int = 2
    val_fraction: float = 0.2  # of each training recording's windows (its end), as MSDA's 20%
    subsample: int = 1  # keep every k-th training and validation window (k x the stride)

    def __post_init__(self) -> None:
        positive = ("window", "num_channels", "filters", "reg_features", "reg_dense")
        positive += ("batch_size", "reg_epochs", "aae_epochs", "subsample", "stride")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.reg_patience < 1:
            raise ValueError(f"reg_patience must be >= 1, got {self.reg_patience}")
        for name in ("pretrain_epochs", "rounds", "min_rounds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.window % 4:
            raise ValueError(f"window must be divisible by 4 (two poolings), got {self.window}")
        if self.num_users < 2 or self.num_activities < 2:
            raise ValueError(
                f"need >= 2 users and activities, got {self.num_users}, {self.num_activities}"
            )
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"val_fraction must be in (0, 1), got {self.val_fraction}")
        if not 0.0 < self.bn_momentum < 1.0:
            raise ValueError(f"bn_momentum must be in (0, 1), got {self.bn_momentum}")
        if self.l2 < 0 or self.converge_tol < 0:
            raise ValueError(
                f"l2 and converge_tol must be >= 0, got {self.l2}, {self.converge_tol}"
            )


PRESETS: dict[str, dict[str, Any]] = {
    # About 5 minutes for AAE + REP on the embedded dataset on 2 busy CPU cores: 12 filters
    # instead of 100 (regularizers 16), every 4th window (stride 40 instead of 10: a
    # quarter of the windows, which overlap less), 3 pretraining epochs, 4 rounds of at most
    # 5 regularizer epochs (patience 2) and 2 AAE epochs.
    "quick": dict(
        filters=12,
        bn_momentum=0.9,
        reg_features=16,
        reg_dense=64,
        pretrain_epochs=3,
        rounds=4,
        reg_epochs=5,
        reg_patience=2,
        aae_epochs=2,
        subsample=4,
    ),
    # The authors' code: 100 filters, batch 128, 32 pretraining epochs, 8 rounds.
    "paper": dict(),
}


def preset_config(name: str, **overrides: Any) -> MsdaConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
    return MsdaConfig(**{**PRESETS[name], **overrides})


def variant_kind(hp: dict[str, Any]) -> str:
    """``"rep"`` when the output identity term is off (``beta_dec == 0``), else ``"aae"``."""
    return "rep" if float(hp["beta_dec"]) == 0.0 else "aae"


def variant_names(grid: list[dict[str, Any]]) -> list[str]:
    """``aae`` / ``rep``; with beta suffixes when the grid has several of a kind."""
    kinds = [variant_kind(hp) for hp in grid]
    names = []
    for kind, hp in zip(kinds, grid, strict=True):
        if kinds.count(kind) == 1:
            names.append(kind)
            continue
        shown = [k for k in BETAS if not (kind == "rep" and k == "beta_dec")]
        suffix = "-".join(f"{k.removeprefix('beta_')}{float(hp[k]):g}" for k in shown)
        names.append(f"{kind}-{suffix}")
    if len(set(names)) < len(names):  # same betas, other seeds or learning rates
        names = [f"{n}-s{int(hp['seed'])}" for n, hp in zip(names, grid, strict=True)]
    return names


# ------------------------------------------------------------------------ data


def split_validation(
    recording_N: np.ndarray, start_N: np.ndarray, window: int, fraction: float, subsample: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """``(train_idx, val_idx)``: the last ``fraction`` of each recording's windows validate.

    MSDA holds out 20% of the training data for validation. Windows with stride 10
    overlap their neighbours by 118 of 128 samples, so a random 20% would validate
    on near-copies of training windows; the end of each recording is held out
    instead, and training windows overlapping the first validation window are
    dropped. ``subsample`` keeps every k-th window of both sides.
    """
    if len(recording_N) != len(start_N):
        raise ValueError("recording_N and start_N must have the same length")
    n = len(recording_N)
    is_val = np.zeros(n, bool)
    drop = np.zeros(n, bool)
    for rec in np.unique(recording_N):
        idx = np.flatnonzero(recording_N == rec)
        idx = idx[np.argsort(start_N[idx], kind="stable")]
        k = round(len(idx) * fraction)
        if k == 0 or k == len(idx):  # too short to split: all training
            continue
        val, train = idx[-k:], idx[:-k]
        is_val[val] = True
        drop[train[start_N[train] + window > start_N[val[0]]]] = True
    train_idx = np.flatnonzero(~is_val & ~drop)[::subsample]
    val_idx = np.flatnonzero(is_val)[::subsample]
    if len(train_idx) == 0 or len(val_idx) == 0:
        raise ValueError(
            f"the validation split left {len(train_idx)} training and {len(val_idx)} "
            "validation windows; need more data or a smaller subsample"
        )
    return train_idx, val_idx


def training_arrays(arrays: dict[str, np.ndarray], idx: np.ndarray) -> dict[str, np.ndarray]:
    """The three arrays the procedure uses, at ``idx``: ``x``, ``subject``, ``activity``."""
    return {k: np.asarray(arrays[k])[idx] for k in ("x", "subject", "activity")}


# ------------------------------------------------------------------------ one variant


def make_networks(cfg: MsdaConfig) -> tuple[AAE, dict[str, Regularizer]]:
    aae = AAE(cfg.filters, cfg.activation, cfg.bn_momentum)
    classes = {"enc": cfg.num_users, "dec": cfg.num_users, "act": cfg.num_activities}
    regs = {
        name: Regularizer(k, cfg.reg_features, blocks=2, dense=cfg.reg_dense)
        for name, k in classes.items()
    }
    return aae, regs


def make_anonymize(cfg: MsdaConfig) -> Callable:
    """``anonymize(aae_variables, x_BxWxC) -> x'``: the autoencoder in evaluation mode."""
    aae, _ = make_networks(cfg)

    def anonymize(aae_variables, x_BxWxC):
        return aae.apply(aae_variables, x_BxWxC, train=False)[0]

    return anonymize
