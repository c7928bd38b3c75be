"""The symbolic generators' network and its training pieces: model, log-probs, AdamW.

:func:`make_network` builds the next-symbol model a ``SymbolicConfig`` names
(:mod:`jaxpriv.nn.symbolic`: WaveNet, RNN or Transformer); :func:`masked_log_probs`
leaves out the symbols a feature does not use; :func:`make_optimizer` is AdamW with a
per-variant learning rate; :func:`make_step` is one update of
:func:`jaxpriv.methods.symbolic.make_train`, and :func:`select` / :func:`all_finite`
keep a diverged variant at its last finite state there.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import optax

from jaxpriv.nn.symbolic import RNNLM, TransformerLM, WaveNetLM

if TYPE_CHECKING:
    from jaxpriv.methods.symbolic import SymbolicConfig

PyTree = Any


def make_network(cfg: SymbolicConfig):
    common = dict(
        vocab=cfg.num_bins, num_starts=cfg.num_starts, seq_len=cfg.seq_len, num_slots=cfg.num_slots
    )
    if cfg.model == "wavenet":
        return WaveNetLM(
            **common, embed=cfg.embed, channels=cfg.wavenet_channels, dilations=cfg.dilations,
            kernel=cfg.wavenet_kernel, hidden=cfg.hidden, norm=cfg.norm,
        )  # fmt: skip
    if cfg.model == "rnn":
        return RNNLM(**common, cell=cfg.cell, embed=cfg.embed, hidden=cfg.hidden, layers=cfg.layers)
    return TransformerLM(**common, dim=cfg.embed, blocks=cfg.blocks, heads=cfg.heads)


def uses_batch_stats(cfg: SymbolicConfig) -> bool:
    return cfg.model == "wavenet" and cfg.norm == "batch"


def masked_log_probs(logits_BxLxV: jax.Array, valid_SxV: jax.Array) -> jax.Array:
    """Log-probabilities over the symbols each position's feature really uses."""
    length, slots = logits_BxLxV.shape[-2], valid_SxV.shape[0]
    valid_LxV = valid_SxV[jnp.arange(length) % slots]
    return jax.nn.log_softmax(jnp.where(valid_LxV, logits_BxLxV, -1e9), axis=-1)


def token_nll(model, variables, tokens_BxL1: jax.Array, valid_SxV: jax.Array) -> jax.Array:
    """``(B, L)`` negative log-likelihood of every symbol (evaluation mode)."""
    logits = model.apply(variables, tokens_BxL1[:, :-1], train=False)
    logp = masked_log_probs(logits, valid_SxV)
    return -jnp.take_along_axis(logp, tokens_BxL1[:, 1:, None], axis=-1)[..., 0]


def _adamw(learning_rate, weight_decay: float, grad_clip: float):
    return optax.chain(
        optax.clip_by_global_norm(grad_clip),
        optax.adamw(learning_rate, weight_decay=weight_decay),
    )


def make_optimizer(cfg: SymbolicConfig) -> Callable[..., optax.GradientTransformation]:
    """``optimizer(lr, total_steps)``: AdamW with gradient clipping; the learning rate
    follows ``cfg.lr_schedule`` over ``total_steps`` (cosine: down to 5% of ``lr``).

    ``inject_hyperparams`` keeps the current learning rate in the optimizer state, an
    array leaf that differs per vmapped variant. The state's structure does not depend
    on ``total_steps``, so ``init`` can build it before the data size is known.
    """

    def optimizer(lr: jax.Array, total_steps: int = 1) -> optax.GradientTransformation:
        if cfg.lr_schedule == "cosine":
            decay = optax.cosine_decay_schedule(1.0, max(total_steps, 1), alpha=0.05)
            learning_rate = lambda count: lr * decay(count)  # noqa: E731
        else:
            learning_rate = lr
        return optax.inject_hyperparams(_adamw, static_args=("weight_decay", "grad_clip"))(
            learning_rate=learning_rate, weight_decay=cfg.weight_decay, grad_clip=cfg.grad_clip
        )

    return optimizer


def make_step(cfg: SymbolicConfig) -> Callable:
    """``step(state, hp, tokens, valid, total_steps) -> (state, loss)``: one AdamW update
    of ``state["variables"]`` on a batch of token rows (the mean masked cross-entropy;
    BatchNorm statistics are updated too when the model has them), the learning rate
    following ``cfg.lr_schedule`` over ``total_steps``."""
    model = make_network(cfg)
    optimizer = make_optimizer(cfg)
    batch_norm = uses_batch_stats(cfg)

    def loss_fn(params, variables, tokens, valid):
        full = {**variables, "params": params}
        if batch_norm:
            logits, updates = model.apply(full, tokens[:, :-1], train=True, mutable=["batch_stats"])
        else:
            logits, updates = model.apply(full, tokens[:, :-1], train=True), {}
        logp = masked_log_probs(logits, valid)
        nll = -jnp.take_along_axis(logp, tokens[:, 1:, None], axis=-1)[..., 0]
        return jnp.mean(nll), updates

    def step(state, hp, tokens, valid, total_steps: int):
        variables = state["variables"]
        (loss, updates), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            variables["params"], variables, tokens, valid
        )
        opt = optimizer(hp["lr"], total_steps)
        param_updates, opt = opt.update(grads, state["opt"], variables["params"])
        params = optax.apply_updates(variables["params"], param_updates)
        variables = {**variables, **updates, "params": params}
        return {**state, "variables": variables, "opt": opt}, loss

    return step


def select(pred: jax.Array, on_true: PyTree, on_false: PyTree) -> PyTree:
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), on_true, on_false)


def all_finite(tree: PyTree) -> jax.Array:
    leaves = [jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(tree)]
    return jnp.all(jnp.stack(leaves))
