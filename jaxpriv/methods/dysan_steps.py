"""One iteration of DySan's Algorithm 1 for one variant, as pure functions.

Per minibatch: one sanitizer step against the predictor and the discriminator (both
in *training* mode, as the authors' code: dropout on, batch statistics updated), then
``k_pred`` predictor and ``k_disc`` discriminator steps on sanitized batches with the
sanitizer frozen. Less work than the authors' code, same algorithm:

- the inner steps differentiate only the network they train: no gradient through
  the frozen sanitizer (the code back-propagates through it and drops the result);
- the predictor's and the discriminator's k-th steps share one sanitized batch
  (the sanitizer is frozen for both loops; each network still sees a fresh random
  batch at each of its steps), and when the whole training set is smaller than the
  batches the inner loops would sanitize, it is sanitized once and the inner batches
  are drawn from it (``DysanConfig.inner_pool``; the noise of a window is then drawn
  once per iteration rather than once per use);
- vector mode takes every term's gradient from one forward pass (one VJP per term
  from the same residuals, as the code's ``backward(retain_graph=True)`` per term)
  and then one Adam step per term, in the code's order;
- the code's early stop of the inner loops is a ``lax.while_loop`` per phase (both
  networks, then whichever still runs), so a stopped network costs nothing when a
  single variant runs; vmapped variants run until the last one stops.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax

from jaxpriv import losses
from jaxpriv.methods import dysan_inputs as inputs
from jaxpriv.methods.dysan_config import DysanConfig
from jaxpriv.methods.dysan_nets import DECODER, DysanNets, Release

PyTree = Any
Optimizer = Callable[[jax.Array], optax.GradientTransformation]


def term_names(cfg: DysanConfig) -> tuple[str, ...]:
    """The sanitizer's loss terms in the code's order: one optimizer step each in vector
    mode. The original networks add the reconstructed attributes and, when the
    sanitizer has an activity input, its reconstruction (zero when that input is
    zeroed, as the code's ``SanitizeActivities = False``: a step with a zero gradient,
    which Adam's momentum still moves, as in the code)."""
    if cfg.mode == "sum":
        return ("ber_activity", "ber_gap_gender", "distortion")
    names = ["ber_activity", "ber_gap_gender"]
    names += [f"l1_channel_{c}" for c in range(cfg.num_channels)]
    if cfg.arch == "original":
        names += ["l1_height", "l1_weight", "l1_age"]
        if cfg.activity_inputs:
            names.append("l1_activity")
    return tuple(names)


def activity_input(cfg: DysanConfig, state: PyTree, batch: PyTree) -> jax.Array | None:
    """The sanitizer's activity input for ``batch`` (see :mod:`dysan_inputs`)."""
    predicted = None
    if cfg.activity_mode == "predicted":
        predicted = inputs.predict_activity(cfg, state["act_clf"], batch["x"])
    return inputs.activity_vector(cfg, batch["activity"], predicted)


def distortions(cfg: DysanConfig, batch: PyTree, release: Release, act_in) -> jax.Array:
    """The distortion terms: per channel (and, original networks, per reconstructed
    attribute and the reconstructed activity input) in vector mode; in sum mode one
    value, the code's "mean" mode: the mean of the sensor L1 and of the others' L1."""
    sensor_C = losses.l1_by_channel(batch["x"], release.x_hat)
    others = []
    if release.attributes is not None:
        others.append(losses.l1_by_channel(batch["attributes"], release.attributes))
    if release.activity is not None:
        # Reconstructing the activity input, both sides zeroed where the code zeroes it.
        on = 0.0 if cfg.activity_mode == "original" else 1.0
        act_hat = jax.nn.softmax(release.activity, axis=-1) * on
        others.append(jnp.mean(losses.l1_by_channel(act_in * on, act_hat))[None])
    if cfg.mode == "vector":
        return jnp.concatenate([sensor_C, *others])
    if not others:
        return jnp.mean(sensor_C)[None]
    return (0.5 * (jnp.mean(sensor_C) + jnp.mean(jnp.concatenate(others))))[None]


def make_sanitizer_step(cfg: DysanConfig, nets: DysanNets, optimizer: Optimizer) -> Callable:
    """``step(state, hp, batch, key) -> (state, metrics)``: the sanitizer's step(s), the
    predictor and the discriminator in training mode (their batch statistics move)."""
    names = term_names(cfg)

    def step(state, hp, batch, key):
        k_noise, k_pred, k_disc = jax.random.split(key, 3)
        act_in = activity_input(cfg, state, batch)
        cond = inputs.conditioning(cfg, batch["attributes"], act_in, k_noise)
        act_true = jax.nn.one_hot(batch["activity"], cfg.num_activities)

        def adversarial(x_hat, attributes):
            """``[lam * BER_act, alpha * |1/2 - BER_gender|]`` on the release."""
            release = Release(x_hat, None, attributes)
            act_logits, pred_upd = nets.predict(state["pred"], release, True, k_pred)
            gen_logits, disc_upd = nets.discriminate(state["disc"], release, act_true, True, k_disc)
            terms = losses.dysan_vector_terms(
                act_logits, batch["activity"], gen_logits, batch["gender"], jnp.zeros((0,)),
                hp["alpha"], hp["lam"], num_activities=cfg.num_activities,
            )  # fmt: skip
            return terms, (pred_upd["batch_stats"], disc_upd["batch_stats"])

        def distortion(x_hat, attributes, activity):
            """The weighted distortion term(s)."""
            release = Release(x_hat, activity, attributes)
            return (1 - hp["alpha"] - hp["lam"]) * distortions(cfg, batch, release, act_in)

        san, opt = state["san"], state["opt_san"]
        update = optimizer(hp["lr_san"]).update
        if cfg.mode == "sum":

            def total_fn(p):
                release = nets.sanitize(p, batch["x"], cond)
                adv, aux = adversarial(release.x_hat, release.attributes)
                dist = distortion(release.x_hat, release.attributes, release.activity)
                terms = jnp.concatenate([adv, dist])
                return jnp.sum(terms), (terms, aux)

            (_, (terms, stats)), grads = jax.value_and_grad(total_fn, has_aux=True)(san)
            updates, opt = update(grads, opt, san)
            san = optax.apply_updates(san, updates)
        else:  # one forward pass, one VJP per term, then one Adam step per term in order
            terms, gradient_of, stats = _vector_gradients(
                cfg, nets, san, batch["x"], cond, adversarial, distortion
            )

            def term_step(carry, t):  # term t's gradient, then its Adam step
                params, opt_state = carry
                updates, opt_state = update(gradient_of(t), opt_state, params)
                return (optax.apply_updates(params, updates), opt_state), None

            (san, opt), _ = jax.lax.scan(term_step, (san, opt), jnp.arange(len(names)))
        pred_stats, disc_stats = stats
        new_state = {
            **state,
            "san": san,
            "opt_san": opt,
            "pred": {**state["pred"], "batch_stats": pred_stats},
            "disc": {**state["disc"], "batch_stats": disc_stats},
        }
        metrics = {f"san_{n}": terms[i] for i, n in enumerate(names)}
        return new_state, metrics | {"san_loss": jnp.sum(terms)}

    return step


def _vector_gradients(cfg, nets, san, x, cond, adversarial, distortion):
    """Every term's gradient with respect to the sanitizer, from ONE forward pass.

    Returns ``(terms, gradient_of, batch-statistics updates)``; ``gradient_of(t)`` (``t``
    may be traced, e.g. a scan index) is term ``t``'s gradient, a back-propagation of
    the residuals of that one forward pass. It is split where the terms' paths part:
    the two adversarial terms reach the release through the predictor and the
    discriminator (one VJP each, not one per term), the distortion terms directly; the
    authors' decoder (transposed convolutions) is back-propagated only for the terms
    that reach ``x_hat`` (not the attribute and activity reconstructions), and a term
    that is identically zero (the zeroed activity input's reconstruction) gets a zero
    gradient without a backward pass (``lax.cond`` on the term's index).
    """
    c = cfg.num_channels
    if nets.original:
        encoder = {k: v for k, v in san.items() if k not in DECODER}
        decoder = {k: san[k] for k in DECODER}
        (features, activity, attributes), vjp_enc = jax.vjp(
            lambda p: nets.encode(p, x, cond), encoder
        )
        x_hat, vjp_dec = jax.vjp(lambda p, f: nets.decode(p, f), decoder, features)
    else:
        x_hat, vjp_san = jax.vjp(lambda p: nets.sanitize(p, x, cond).x_hat, san)
        activity = attributes = None
    adv, vjp_adv, stats = jax.vjp(adversarial, x_hat, attributes, has_aux=True)
    dx_adv, dattr_adv = jax.vmap(vjp_adv)(jnp.eye(2, dtype=adv.dtype))
    dist, vjp_dist = jax.vjp(distortion, x_hat, attributes, activity)
    dx_dist, dattr_dist, dact_dist = jax.vmap(vjp_dist)(jnp.eye(dist.shape[0], dtype=dist.dtype))
    terms = jnp.concatenate([adv, dist])
    num_terms = terms.shape[0]
    if not nets.original:  # light: every term reaches the output through x_hat only
        dx = jnp.concatenate([dx_adv, dx_dist])
        return terms, lambda t: vjp_san(dx[t])[0], stats
    # Terms 0..2+c-1 reach x_hat (the adversarial ones, then one per channel).
    through_x = 2 + c
    dx = jnp.concatenate([dx_adv, dx_dist[:c]])
    dattr = jnp.concatenate([dattr_adv, dattr_dist])
    dact = None
    if activity is not None:
        dact = jnp.concatenate([jnp.zeros((2, *dact_dist.shape[1:]), dact_dist.dtype), dact_dist])
    zero_term = num_terms - 1 if cfg.activity_mode == "original" and dact is not None else None

    def gradient_of(t):
        def through_decoder():
            return vjp_dec(dx[jnp.minimum(t, through_x - 1)])

        def not_through_decoder():
            return jax.tree.map(jnp.zeros_like, (decoder, features))

        dec, dfeatures = jax.lax.cond(t < through_x, through_decoder, not_through_decoder)

        def encoder_grads():
            (grads,) = vjp_enc((dfeatures, None if dact is None else dact[t], dattr[t]))
            return grads

        if zero_term is None:
            enc = encoder_grads()
        else:  # identically zero: Adam still takes its step, as the code does
            zeros = lambda: jax.tree.map(jnp.zeros_like, encoder)  # noqa: E731
            enc = jax.lax.cond(t == zero_term, zeros, encoder_grads)
        return {**enc, **dec}

    return terms, gradient_of, stats
