"""MSDA's procedure as pure functions of ONE variant (:func:`make_train`), vmapped over a
grid by :class:`jaxpriv.methods.msda_sweep.MsdaSweep`. See :mod:`jaxpriv.methods.msda`
for the procedure and its configuration."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxpriv import losses
from jaxpriv.methods.msda import (
    BETAS,
    EVAL_CHUNK,
    PRNG_IMPL,
    REGULARIZERS,
    MsdaConfig,
    make_networks,
)
from jaxpriv.nn.msda import l2_penalty

PyTree = Any
_PRETRAIN, _REG, _AAE = 0, 1, 2  # phases folded into the keys


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
