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
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxpriv import losses
from jaxpriv.nn.msda import AAE, Regularizer, l2_penalty
from jaxpriv.sweep import VariantMesh, sweep_jit

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
_PRETRAIN, _REG, _AAE = 0, 1, 2  # phases folded into the keys
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


def _optimizer(lr: jax.Array) -> optax.GradientTransformation:
    # inject_hyperparams keeps the learning rate in the state: an array leaf per variant.
    return optax.inject_hyperparams(optax.adam)(learning_rate=lr)


class MsdaFns(NamedTuple):
    """Pure one-variant functions of the procedure (see :func:`make_train`)."""

    init: Callable
    pretrain_epoch: Callable
    features: Callable
    reg_begin: Callable
    reg_epoch: Callable
    reg_end: Callable
    aae_epoch: Callable
    end_round: Callable


def make_anonymize(cfg: MsdaConfig) -> Callable:
    """``anonymize(aae_variables, x_BxWxC) -> x'``: the autoencoder in evaluation mode."""
    aae, _ = make_networks(cfg)

    def anonymize(aae_variables, x_BxWxC):
        return aae.apply(aae_variables, x_BxWxC, train=False)[0]

    return anonymize


def make_train(cfg: MsdaConfig) -> MsdaFns:
    """The procedure's pure functions for ONE variant; vmap them over a grid.

    - ``init(hp) -> state``
    - ``pretrain_epoch(state, hp, data, epoch) -> (state, metrics)``: identity MSE.
    - ``features(state, data) -> feats``: ``Y`` and ``x'`` of the train and val windows.
    - ``reg_begin(state, feats, data) -> reg_state``; ``reg_epoch(state, reg_state, hp,
      feats, data, epoch) -> (state, reg_state, metrics)``; ``reg_end(state, reg_state)
      -> (state, metrics)``: the regularizers' training with early stopping.
    - ``aae_epoch(state, hp, data, epoch) -> (state, metrics)``: MSDA's loss, regs frozen.
    - ``end_round(state, hp, data) -> (state, metrics)``: validation loss, convergence.

    ``data`` is ``{"train": arrays, "val": arrays}`` with ``x`` (N, W, C) standardised,
    ``subject`` and ``activity`` (N,) int32, shared by all variants; ``epoch`` a scalar.
    """
    aae, regs = make_networks(cfg)

    def init(hp):
        key = jax.random.key(hp["seed"], impl=PRNG_IMPL)
        k_aae, k_run, *k_regs = jax.random.split(key, 2 + len(regs))
        x = jnp.zeros((1, cfg.window, cfg.num_channels), jnp.float32)
        y = jnp.zeros((1, cfg.window // 4, cfg.num_channels), jnp.float32)
        aae_vars = dict(aae.init(k_aae, x, train=False))
        reg_params = {
            name: net.init(k, y if REGULARIZERS[name][0] == "y" else x)["params"]
            for (name, net), k in zip(regs.items(), k_regs, strict=True)
        }
        return {
            "aae": aae_vars,
            "opt_aae": _optimizer(hp["lr"]).init(aae_vars["params"]),
            "reg": reg_params,
            "opt_reg": {n: _optimizer(hp["lr_reg"]).init(p) for n, p in reg_params.items()},
            "key": jax.random.key_data(k_run),
            "pretrain_epoch": jnp.zeros((), jnp.int32),
            "round": jnp.zeros((), jnp.int32),
            "converged": jnp.zeros((), jnp.bool_),
            "converged_round": jnp.full((), -1, jnp.int32),
            "alive": jnp.ones((), jnp.bool_),
            "val_loss": jnp.full((), jnp.inf, jnp.float32),
        }

    def phase_key(state, phase, *counters):
        key = jax.random.fold_in(jax.random.wrap_key_data(state["key"], impl=PRNG_IMPL), phase)
        for c in counters:
            key = jax.random.fold_in(key, c)
        return key

    def active(state):
        return state["alive"] & ~state["converged"]

    def aae_apply_train(aae_vars, params, x):
        (x_hat, y), upd = aae.apply(
            {"params": params, "batch_stats": aae_vars["batch_stats"]},
            x, train=True, mutable=["batch_stats"],
        )  # fmt: skip
        return x_hat, y, upd["batch_stats"]

    def aae_update(hp, grads, opt, aae_vars, batch_stats):
        """One Adam step of the autoencoder; the new running averages come with it."""
        updates, opt = _optimizer(hp["lr"]).update(grads, opt, aae_vars["params"])
        params = optax.apply_updates(aae_vars["params"], updates)
        return {"params": params, "batch_stats": batch_stats}, opt

    # -- pretraining -----------------------------------------------------------------

    def pretrain_epoch(state, hp, data, epoch):
        def step(carry, batch):
            aae_vars, opt = carry

            def loss_fn(p):
                x_hat, _, stats = aae_apply_train(aae_vars, p, batch["x"])
                mse = losses.mse(batch["x"], x_hat)
                return mse + cfg.l2 * l2_penalty(p), (mse, stats)

            (_, (mse, stats)), g = jax.value_and_grad(loss_fn, has_aux=True)(aae_vars["params"])
            return aae_update(hp, g, opt, aae_vars, stats), mse

        key = phase_key(state, _PRETRAIN, epoch)
        (aae_vars, opt), mse = jax.lax.scan(
            step, (state["aae"], state["opt_aae"]), _batches(data["train"], key, cfg.batch_size)
        )
        new = {**state, "aae": aae_vars, "opt_aae": opt}
        val_mse = _eval_mean(
            lambda b, m: losses.mse(b["x"], aae.apply(aae_vars, b["x"], train=False)[0], m),
            data["val"],
        )
        ok = _all_finite(aae_vars) & jnp.isfinite(val_mse)
        new = _select(state["alive"] & ok, new, state)
        new = {**new, "alive": state["alive"] & ok, "pretrain_epoch": state["pretrain_epoch"] + 1}
        return new, {"mse": jnp.mean(mse), "val_mse": val_mse}

    # -- the regularizers ------------------------------------------------------------

    def features(state, data):
        def one(b):
            x_hat, y = aae.apply(state["aae"], b["x"], train=False)
            return {"y": y, "xh": x_hat}

        return {side: _eval_map(one, data[side]) for side in ("train", "val")}

    def reg_val(params, feats, data):
        """Validation ``{name: (cross-entropy, accuracy)}`` of every regularizer."""

        def one(b, mask):
            out = {}
            for name, (feat, label) in REGULARIZERS.items():
                logits = regs[name].apply({"params": params[name]}, b[feat], train=False)
                correct = (jnp.argmax(logits, -1) == b[label]).astype(jnp.float32)
                out[name] = (
                    losses.cross_entropy(logits, b[label], mask),
                    jnp.sum(correct * mask) / jnp.maximum(jnp.sum(mask), 1.0),
                )
            return out

        return _eval_mean(one, {**data["val"], **feats["val"]})

    def reg_begin(state, feats, data):
        val = reg_val(state["reg"], feats, data)
        stopped = ~active(state)
        return {
            "best": state["reg"],
            "best_loss": {n: v[0] for n, v in val.items()},
            "best_acc": {n: v[1] for n, v in val.items()},
            "bad": {n: jnp.zeros((), jnp.int32) for n in REGULARIZERS},
            "stopped": {n: stopped for n in REGULARIZERS},
        }

    def reg_epoch(state, rs, hp, feats, data, epoch):
        def step(carry, inputs):
            params, opts = carry
            batch, k = inputs
            new_params, new_opts, batch_loss = {}, {}, {}
            for i, (name, (feat, label)) in enumerate(REGULARIZERS.items()):

                def loss_fn(p, name=name, feat=feat, label=label, i=i):
                    logits = regs[name].apply(
                        {"params": p}, batch[feat], train=True,
                        rngs={"dropout": jax.random.fold_in(k, i)},
                    )  # fmt: skip
                    return losses.cross_entropy(logits, batch[label])

                loss, g = jax.value_and_grad(loss_fn)(params[name])
                upd, new_opts[name] = _optimizer(hp["lr_reg"]).update(g, opts[name], params[name])
                new_params[name] = optax.apply_updates(params[name], upd)
                batch_loss[name] = loss
            return (new_params, new_opts), batch_loss

        key = phase_key(state, _REG, state["round"], epoch)
        k_perm, k_drop = jax.random.split(key)
        needed = {"subject": data["train"]["subject"], "activity": data["train"]["activity"]}
        batches = _batches(needed | feats["train"], k_perm, cfg.batch_size)
        steps = batches["y"].shape[0]
        (params, opts), train_loss = jax.lax.scan(
            step, (state["reg"], state["opt_reg"]), (batches, jax.random.split(k_drop, steps))
        )
        val = reg_val(params, feats, data)
        new_reg, new_opt, new_rs = {}, {}, {k: {} for k in rs}
        metrics = {}
        for name in REGULARIZERS:
            run = ~rs["stopped"][name] & _all_finite(params[name])
            new_reg[name] = _select(run, params[name], state["reg"][name])
            new_opt[name] = _select(run, opts[name], state["opt_reg"][name])
            loss, acc = val[name]
            better = run & (loss < rs["best_loss"][name])
            new_rs["best"][name] = _select(better, new_reg[name], rs["best"][name])
            new_rs["best_loss"][name] = jnp.where(better, loss, rs["best_loss"][name])
            new_rs["best_acc"][name] = jnp.where(better, acc, rs["best_acc"][name])
            bad = jnp.where(better, 0, rs["bad"][name] + run.astype(jnp.int32))
            new_rs["bad"][name] = bad
            # Keras' EarlyStopping: stop after `patience` epochs without improvement.
            new_rs["stopped"][name] = rs["stopped"][name] | (bad >= cfg.reg_patience) | ~run
            metrics |= {
                f"{name}_train_loss": jnp.mean(train_loss[name]),
                f"{name}_val_loss": loss,
                f"{name}_val_acc": acc,
                f"{name}_stopped": new_rs["stopped"][name],
            }
        return {**state, "reg": new_reg, "opt_reg": new_opt}, new_rs, metrics

    def reg_end(state, rs):
        """Keep each regularizer's best parameters (early stopping restores them)."""
        reg = _select(active(state), rs["best"], state["reg"])
        metrics = {f"{n}_val_acc": rs["best_acc"][n] for n in REGULARIZERS}
        metrics |= {f"{n}_val_loss": rs["best_loss"][n] for n in REGULARIZERS}
        return {**state, "reg": reg}, metrics

    # -- the autoencoder against frozen regularizers ---------------------------------

    def aae_terms(reg_params, hp, x_hat, y, batch, mask=None):
        def logits(name, inp):
            return regs[name].apply({"params": reg_params[name]}, inp, train=False)

        return losses.msda_aae_loss(
            logits("enc", y), logits("dec", x_hat), batch["subject"],
            logits("act", x_hat), batch["activity"], batch["x"], x_hat,
            **{b: hp[b] for b in BETAS}, mask_B=mask,
        )  # fmt: skip

    def aae_epoch(state, hp, data, epoch):
        reg_params = jax.lax.stop_gradient(state["reg"])  # frozen

        def step(carry, batch):
            aae_vars, opt = carry

            def loss_fn(p):
                x_hat, y, stats = aae_apply_train(aae_vars, p, batch["x"])
                total, terms = aae_terms(reg_params, hp, x_hat, y, batch)
                l2 = l2_penalty(p)
                return total + cfg.l2 * l2, (terms | {"l2": l2}, stats)

            (_, (terms, stats)), g = jax.value_and_grad(loss_fn, has_aux=True)(aae_vars["params"])
            return aae_update(hp, g, opt, aae_vars, stats), terms

        key = phase_key(state, _AAE, state["round"], epoch)
        (aae_vars, opt), terms = jax.lax.scan(
            step, (state["aae"], state["opt_aae"]), _batches(data["train"], key, cfg.batch_size)
        )
        terms = jax.tree.map(jnp.mean, terms)
        ok = _all_finite(aae_vars) & jnp.isfinite(terms["total"])
        new = _select(active(state) & ok, {**state, "aae": aae_vars, "opt_aae": opt}, state)
        return {**new, "alive": state["alive"] & ok}, terms

    def end_round(state, hp, data):
        def one(b, mask):
            x_hat, y = aae.apply(state["aae"], b["x"], train=False)
            return aae_terms(state["reg"], hp, x_hat, y, b, mask)[1]

        val = _eval_mean(one, data["val"])
        prev = state["val_loss"]
        change = jnp.abs(val["total"] - prev) / jnp.maximum(jnp.abs(prev), 1e-8)
        change = jnp.where(jnp.isfinite(prev), change, jnp.inf)
        now = active(state)
        rnd = state["round"] + 1
        converged = now & (rnd >= cfg.min_rounds) & (change <= cfg.converge_tol)
        new = {
            **state,
            "round": rnd,
            "val_loss": jnp.where(now, val["total"], prev),
            "converged": state["converged"] | converged,
            "converged_round": jnp.where(converged, rnd, state["converged_round"]),
        }
        metrics = {f"val_{k}": v for k, v in val.items()}
        return new, metrics | {"change": change, "converged": new["converged"], "active": now}

    return MsdaFns(
        init, pretrain_epoch, features, reg_begin, reg_epoch, reg_end, aae_epoch, end_round
    )


# ------------------------------------------------------------------------ helpers


def _batches(arrays: PyTree, key: jax.Array, batch_size: int) -> PyTree:
    """A shuffled epoch as ``(steps, batch, ...)`` arrays (the last partial batch dropped)."""
    n = jax.tree.leaves(arrays)[0].shape[0]
    b = min(batch_size, n)
    steps = n // b
    order = jax.random.permutation(key, n)[: steps * b].reshape(steps, b)
    return jax.tree.map(lambda a: a[order], arrays)


def _chunks(n: int) -> tuple[jax.Array, jax.Array]:
    """``(idx, mask)`` of shape ``(chunks, size)`` covering rows ``0..n-1``; the last chunk
    is padded by repeating row ``n - 1`` (mask False), so every chunk has one shape."""
    size = min(EVAL_CHUNK, n)
    count = -(-n // size)
    idx = jnp.arange(count * size)
    return jnp.minimum(idx, n - 1).reshape(count, size), (idx < n).reshape(count, size)


def _eval_map(fn: Callable, arrays: PyTree) -> PyTree:
    """``fn`` over all rows of ``arrays`` in chunks; outputs concatenated, length ``n``."""
    n = jax.tree.leaves(arrays)[0].shape[0]
    idx, _ = _chunks(n)
    out = jax.lax.map(lambda i: fn(jax.tree.map(lambda a: a[i], arrays)), idx)
    return jax.tree.map(lambda a: a.reshape(-1, *a.shape[2:])[:n], out)


def _eval_mean(fn: Callable, arrays: PyTree) -> PyTree:
    """The mean over all rows of ``fn(batch, mask_B)``, a masked mean over one chunk's rows
    (in evaluation mode no row affects another, so the padding only needs its mask)."""
    n = jax.tree.leaves(arrays)[0].shape[0]
    idx, mask = _chunks(n)
    out = jax.lax.map(lambda im: fn(jax.tree.map(lambda a: a[im[0]], arrays), im[1]), (idx, mask))
    weights = mask.sum(axis=1) / n
    return jax.tree.map(lambda a: jnp.tensordot(weights, a, axes=1), out)


def _select(pred: jax.Array, on_true: PyTree, on_false: PyTree) -> PyTree:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def _all_finite(tree: PyTree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves)) if leaves else jnp.ones((), jnp.bool_)


# ------------------------------------------------------------------------ the sweep


class MsdaSweep:
    """The procedure over a grid of variants: jitted vmapped phases, a Python loop of rounds.

    ``hp`` and the states carry a leading variant axis (``vmesh.padded``); ``data``
    is shared. ``log`` receives progress lines.
    """

    def __init__(self, cfg: MsdaConfig, vmesh: VariantMesh, log: Callable[[str], None] = print):
        self.cfg, self.vmesh, self.log = cfg, vmesh, log
        fns = make_train(cfg)
        self.fns = fns
        self.init = sweep_jit(fns.init, vmesh)
        self._pretrain = sweep_jit(fns.pretrain_epoch, vmesh, data_argnums=(2, 3))
        self._features = sweep_jit(fns.features, vmesh, data_argnums=(1,))
        self._reg_begin = sweep_jit(fns.reg_begin, vmesh, data_argnums=(2,))
        self._reg_epoch = sweep_jit(fns.reg_epoch, vmesh, data_argnums=(4, 5))
        self._reg_end = sweep_jit(fns.reg_end, vmesh)
        self._aae_epoch = sweep_jit(fns.aae_epoch, vmesh, data_argnums=(2, 3))
        self._end_round = sweep_jit(fns.end_round, vmesh, data_argnums=(2,))

    def _host(self, metrics: PyTree) -> dict[str, list]:
        """Metrics of the real variants (padding dropped) as lists."""
        n = self.vmesh.num_variants
        return {k: np.asarray(v)[:n].tolist() for k, v in metrics.items()}

    def pretrain(self, state: PyTree, hp: PyTree, data: PyTree) -> tuple[PyTree, list[dict]]:
        """The remaining pretraining epochs (the state counts those done)."""
        history = []
        done = int(np.asarray(state["pretrain_epoch"])[0])
        n_train = data["train"]["x"].shape[0]
        for epoch in range(done, self.cfg.pretrain_epochs):
            t0 = time.time()
            state, m = self._pretrain(state, hp, data, jnp.int32(epoch))
            m = self._host(m)
            dt = time.time() - t0
            history.append({"epoch": epoch + 1} | m)
            eta = dt * (self.cfg.pretrain_epochs - epoch - 1)
            self.log(
                f"pretrain {epoch + 1}/{self.cfg.pretrain_epochs}  {dt:6.1f} s  "
                f"{n_train * self.vmesh.num_variants / dt:7.0f} windows/s  ETA {eta:4.0f} s | "
                f"mse {_fmt(m['mse'])}  val_mse {_fmt(m['val_mse'])}"
            )
        return state, history

    def run_round(self, state: PyTree, hp: PyTree, data: PyTree) -> tuple[PyTree, dict]:
        """One round: regularizers to early stop, then ``aae_epochs`` AAE epochs."""
        cfg = self.cfg
        r = int(np.asarray(state["round"])[0]) + 1
        t_round = time.time()
        feats = self._features(state, data)
        rs = self._reg_begin(state, feats, data)
        reg_epochs = 0
        for epoch in range(cfg.reg_epochs):
            t0 = time.time()
            state, rs, m = self._reg_epoch(state, rs, hp, feats, data, jnp.int32(epoch))
            m = self._host(m)
            reg_epochs += 1
            self.log(
                f"round {r}/{cfg.rounds} regularizers epoch {epoch + 1}  {time.time() - t0:5.1f} s"
                " | val acc " + "  ".join(f"{n} {_fmt(m[f'{n}_val_acc'])}" for n in REGULARIZERS)
            )
            stopped = np.asarray([m[f"{n}_stopped"] for n in REGULARIZERS])
            if stopped.all():
                break
        state, reg_m = self._reg_end(state, rs)
        del feats, rs
        aae_hist = []
        for epoch in range(cfg.aae_epochs):
            t0 = time.time()
            state, m = self._aae_epoch(state, hp, data, jnp.int32(epoch))
            m = self._host(m)
            aae_hist.append(m)
            dt = time.time() - t0
            n = data["train"]["x"].shape[0] * self.vmesh.num_variants
            self.log(
                f"round {r}/{cfg.rounds} AAE epoch {epoch + 1}/{cfg.aae_epochs}  {dt:5.1f} s  "
                f"{n / dt:6.0f} windows/s | total {_fmt(m['total'])}  id_lat "
                f"{_fmt(m['identity_latent'])}  id_out {_fmt(m['identity_output'])}  act "
                f"{_fmt(m['activity'])}  mse {_fmt(m['distortion'])}"
            )
        state, end_m = self._end_round(state, hp, data)
        record = {
            "round": r,
            "seconds": round(time.time() - t_round, 1),
            "reg_epochs": reg_epochs,
            "regularizers": self._host(reg_m),
            "aae_train": aae_hist[-1] if aae_hist else {},
            "aae_val": self._host(end_m),
        }
        return state, record

    def audit(self, state: PyTree, hp: PyTree, data: PyTree) -> dict[str, list]:
        """Fresh regularizers' validation accuracies on the final ``Y`` and ``x'``.

        Trains copies of the regularizers (from their last parameters) to early stopping
        on the final outputs; the state itself is not changed. Converged variants are
        audited too (the masks are lifted on the copy).
        """
        probe = {**state, "converged": jnp.zeros_like(state["converged"])}
        feats = self._features(probe, data)
        rs = self._reg_begin(probe, feats, data)
        for epoch in range(self.cfg.reg_epochs):
            probe, rs, m = self._reg_epoch(probe, rs, hp, feats, data, jnp.int32(1000 + epoch))
            if np.asarray([np.asarray(v) for v in rs["stopped"].values()]).all():
                break
        _, m = self._reg_end(probe, rs)
        return self._host(m)


def _fmt(values: list[float]) -> str:
    return "/".join(f"{v:.3f}" for v in values)
