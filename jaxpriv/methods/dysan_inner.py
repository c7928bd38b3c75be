"""DySan's inner loops: ``k_pred`` predictor and ``k_disc`` discriminator steps on
sanitized batches with the sanitizer frozen (Algorithm 1), for one variant.

See :mod:`jaxpriv.methods.dysan_steps` for what is done with less work than the
authors' code. Both networks minimise their BER grouped by gender (the code's
``BalancedErrorRateLoss(targetBer=0)`` with the sensitive attribute as groups), in
training mode. The k-th step of either network uses the k-th random batch (keys
``fold_in(key, k)``), whichever loop runs it, so the result does not depend on when
the other network stopped.

Early stop (``DysanConfig.early_stop``), the code's rule: a network stops once it has
taken more than ``EARLY_STOP_WINDOW`` steps and the largest of its last
``EARLY_STOP_WINDOW`` batch losses is below ``1/EARLY_STOP_FACTOR`` of the first loss
it recorded (its first iteration's mean inner loss; ``EARLY_STOP_FIRST_LOSS`` before
that). The reported loss is the code's: the sum of the losses divided by ``K``. (The
code runs its discriminator loop for ``K_pred`` steps too; here each loop has its own
``K``, equal in the paper's setting.)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxpriv import losses
from jaxpriv.methods import dysan_inputs as inputs
from jaxpriv.methods.dysan_config import (
    EARLY_STOP_FACTOR,
    EARLY_STOP_FIRST_LOSS,
    EARLY_STOP_WINDOW,
    DysanConfig,
)
from jaxpriv.methods.dysan_nets import DysanNets, Release
from jaxpriv.methods.dysan_steps import activity_input

PyTree = Any
NETS = ("pred", "disc")


def uses_pool(cfg: DysanConfig, num_windows: int) -> bool:
    """Whether the inner loops draw from the whole training set sanitized once per
    iteration: always, never, or (``auto``) when that sanitizes fewer windows than one
    sanitized batch per inner step would."""
    if cfg.inner_pool != "auto":
        return cfg.inner_pool == "always"
    return math.ceil(num_windows / cfg.batch_size) < max(cfg.k_pred, cfg.k_disc)


def make_inner_loops(cfg: DysanConfig, nets: DysanNets, optimizer: Callable) -> Callable:
    """``inner(state, hp, data, key) -> (state, metrics)``."""
    ks = {"pred": cfg.k_pred, "disc": cfg.k_disc}
    b = cfg.batch_size

    def sanitized(state, batch, key) -> Release:
        """The frozen sanitizer's release of ``batch``: no gradient flows back."""
        act_in = activity_input(cfg, state, batch)
        cond = inputs.conditioning(cfg, batch["attributes"], act_in, key)
        release = nets.sanitize(jax.lax.stop_gradient(state["san"]), batch["x"], cond)
        return jax.lax.stop_gradient(release._replace(activity=None))

    def pool(state, data, key) -> Release:
        """Every training window sanitized once, in chunks of one batch."""
        n = data["x"].shape[0]
        chunks = math.ceil(n / b)
        idx = jnp.minimum(jnp.arange(chunks * b), n - 1).reshape(chunks, b)

        def chunk(args):
            i, k = args
            return sanitized(state, jax.tree.map(lambda a: a[i], data), k)

        out = jax.lax.map(chunk, (idx, jax.random.split(key, chunks)))
        return jax.tree.map(lambda a: a.reshape(chunks * b, *a.shape[2:])[:n], out)

    def loss_of(which, variables, params, release, batch, key):
        act_true = jax.nn.one_hot(batch["activity"], cfg.num_activities)
        v = {**variables, "params": params}
        if which == "pred":
            logits, upd = nets.predict(v, release, True, key)
            labels, k = batch["activity"], cfg.num_activities
        else:
            logits, upd = nets.discriminate(v, release, act_true, True, key)
            labels, k = batch["gender"], 2
        loss = losses.soft_ber_by_group(logits, labels, batch["gender"], k, 2)
        return loss, upd["batch_stats"]

    def net_step(which, carry, hp, release, batch, key, first):
        """One Adam step of ``which`` on the release; the early-stop bookkeeping."""
        variables = carry["vars"]
        (loss, stats), grads = jax.value_and_grad(
            lambda p: loss_of(which, variables, p, release, batch, key), has_aux=True
        )(variables["params"])
        updates, opt = optimizer(hp[f"lr_{which}"]).update(grads, carry["opt"], variables["params"])
        steps = carry["steps"] + 1
        recent = carry["recent"].at[carry["steps"] % EARLY_STOP_WINDOW].set(loss)
        stopped = carry["stopped"]
        if cfg.early_stop:
            low = jnp.max(recent) < first / EARLY_STOP_FACTOR
            stopped = stopped | ((steps > EARLY_STOP_WINDOW) & low)
        return {
            "vars": {
                "params": optax.apply_updates(variables["params"], updates),
                "batch_stats": stats,
            },
            "opt": opt,
            "steps": steps,
            "recent": recent,
            "total": carry["total"] + loss,
            "stopped": stopped,
        }

    def inner(state, hp, data, key):
        n = data["x"].shape[0]
        k_batch, k_noise, k_drop, k_pool = jax.random.split(key, 4)
        pooled = pool(state, data, k_pool) if uses_pool(cfg, n) else None
        first = jnp.where(state["first_loss"] >= 0, state["first_loss"], EARLY_STOP_FIRST_LOSS)

        def batch_at(step):
            idx = jax.random.randint(jax.random.fold_in(k_batch, step), (b,), 0, n)
            batch = jax.tree.map(lambda a: a[idx], data)
            if pooled is not None:
                return batch, jax.tree.map(lambda a: a[idx], pooled)
            return batch, sanitized(state, batch, jax.random.fold_in(k_noise, step))

        def active(carry, which):
            return (carry[which]["steps"] < ks[which]) & ~carry[which]["stopped"]

        def body(which_nets):
            def run(carry):
                step = carry[which_nets[0]]["steps"]  # equal for both nets in phase A
                batch, release = batch_at(step)
                out = dict(carry)
                for i, which in enumerate(NETS):
                    if which in which_nets:
                        k = jax.random.fold_in(jax.random.fold_in(k_drop, step), i)
                        out[which] = net_step(which, carry[which], hp, release, batch, k, first[i])
                return out

            return run

        carry = {
            which: {
                "vars": state[which],
                "opt": state[f"opt_{which}"],
                "steps": jnp.zeros((), jnp.int32),
                "recent": jnp.full((EARLY_STOP_WINDOW,), jnp.inf, jnp.float32),
                "total": jnp.zeros((), jnp.float32),
                "stopped": jnp.zeros((), jnp.bool_),
            }
            for which in NETS
        }
        running = tuple(w for w in NETS if ks[w] > 0)
        if len(running) == 2:  # phase A: both networks share each sanitized batch
            carry = jax.lax.while_loop(
                lambda c: active(c, "pred") & active(c, "disc"), body(running), carry
            )
        for which in running:  # then whichever still runs, alone
            carry = jax.lax.while_loop(lambda c, w=which: active(c, w), body((which,)), carry)
        metrics, new = {}, dict(state)
        means = []
        for which in NETS:
            c = carry[which]
            mean = c["total"] / max(ks[which], 1)
            means.append(mean)
            new[which], new[f"opt_{which}"] = c["vars"], c["opt"]
            if ks[which]:
                metrics[f"{which}_loss"] = mean
                metrics[f"{which}_steps"] = c["steps"].astype(jnp.float32)
        recorded = jnp.stack(means)
        new["first_loss"] = jnp.where(
            (state["first_loss"] < 0) & (jnp.asarray([ks[w] for w in NETS]) > 0),
            recorded,
            state["first_loss"],
        )
        return new, metrics

    return inner
