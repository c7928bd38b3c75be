"""Loss terms: small pure functions that methods compose and researchers extend.

Conventions shared by every function here:

- Inputs are batched on the first axis; ``logits_BxK`` are unnormalised scores
  and ``labels_B`` integer class ids in ``[0, K)``.
- ``mask_B`` (optional, bool or float) weights the rows: 0 drops a row (a padded
  row of a fixed-shape batch), 1 keeps it, other values weight it. Dropping a
  row with the mask gives exactly the value computed without that row.
  Masked rows must still hold finite values (0 times NaN is NaN).
- Results are float32 scalars (float64 when x64 is on and the inputs are
  float64), traceable under ``jit``, ``vmap`` and ``grad``. Weights such as
  DySan's ``alpha`` and ``lam`` may be traced arrays, so a grid of them is one
  ``vmap``.
- An empty batch (all rows masked) gives 0, not NaN.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

# SenseGen's mixture density terms live in losses/mdn.py; they are part of this module.
from jaxpriv.losses.mdn import MDN_LOG_VAR_MAX as MDN_LOG_VAR_MAX
from jaxpriv.losses.mdn import MDN_LOG_VAR_MIN as MDN_LOG_VAR_MIN
from jaxpriv.losses.mdn import mdn_nll as mdn_nll
from jaxpriv.losses.reduce import _float, _row_weights, _safe_div, _weighted_mean

Array = jax.Array

# The order in which DySan's "vector" mode takes its optimizer steps, one per term.


SANITIZER_TERM_NAMES = ("ber_activity", "ber_gap_gender", "distortion")


def cross_entropy(logits_BxK: Array, labels_B: Array, mask_B: Array | None = None) -> Array:
    """Mean softmax cross-entropy over the (masked) rows."""
    logits_BxK = _float(logits_BxK)
    logp_BxK = jax.nn.log_softmax(logits_BxK, axis=-1)
    # One-hot rather than a gather: a padded row's out-of-range label gives 0, not NaN.
    onehot_BxK = jax.nn.one_hot(labels_B, logits_BxK.shape[-1], dtype=logp_BxK.dtype)
    nll_B = -jnp.sum(onehot_BxK * logp_BxK, axis=-1)
    return _weighted_mean(nll_B, mask_B)


def soft_ber(
    logits_BxK: Array, labels_B: Array, num_classes: int, mask_B: Array | None = None
) -> Array:
    """Soft balanced error rate, differentiable.

    With ``p = softmax(logits)``: for each class present in the (masked) batch,
    the (weighted) mean of ``1 - p[true class]`` over that class's rows; then the
    plain mean over the classes present. Classes without rows do not count (a
    batch without women does not pull the BER towards 0 or 1); no row at all
    gives 0. Labels outside ``[0, num_classes)`` are ignored like masked rows.
    Unlike the overall error, a majority class cannot dominate it: chance level
    is ``1 - 1/K`` whatever the class balance.
    """
    logits_BxK = _float(logits_BxK)
    p_BxK = jax.nn.softmax(logits_BxK, axis=-1)
    onehot_BxK = jax.nn.one_hot(labels_B, num_classes, dtype=p_BxK.dtype)
    w_BxK = onehot_BxK * _row_weights(mask_B, p_BxK.shape[0], p_BxK.dtype)[:, None]
    err_B = 1 - jnp.sum(p_BxK * onehot_BxK, axis=-1)
    count_K = jnp.sum(w_BxK, axis=0)
    class_err_K = _safe_div(w_BxK.T @ err_B, count_K)
    present_K = (count_K > 0).astype(p_BxK.dtype)
    return _safe_div(jnp.sum(class_err_K * present_K), jnp.sum(present_K))


def ber_gap(
    logits_BxK: Array, labels_B: Array, num_classes: int, mask_B: Array | None = None
) -> Array:
    """``|1/2 - soft_ber|``: DySan's privacy term for a binary sensitive attribute.

    0 when the attacker is at chance level for two classes (BER 1/2); both a
    perfect attacker (BER 0) and a perfectly inverted one (BER 1) cost 1/2. For
    more than two classes chance is ``1 - 1/K``, not 1/2: build that gap from
    :func:`soft_ber` directly.
    """
    return jnp.abs(0.5 - soft_ber(logits_BxK, labels_B, num_classes, mask_B))


def l1_per_channel(x_BxWxC: Array, x_hat_BxWxC: Array, mask_B: Array | None = None) -> Array:
    """DySan's distortion: the mean over channels of each channel's mean absolute error.

    The per-channel means are over rows (weighted by the mask) and time. With
    every channel the same length this equals the global mean absolute error;
    the per-channel form follows the original code and keeps the channel axis
    explicit for variants that weight channels.
    """
    err_BxWxC = jnp.abs(_float(x_BxWxC) - _float(x_hat_BxWxC))
    err_BxC = err_BxWxC.reshape(err_BxWxC.shape[0], -1, err_BxWxC.shape[-1]).mean(axis=1)
    w_B = _row_weights(mask_B, err_BxC.shape[0], err_BxC.dtype)
    channel_err_C = _safe_div(w_B @ err_BxC, jnp.sum(w_B))
    return jnp.mean(channel_err_C)


def mse(x: Array, x_hat: Array, mask_B: Array | None = None) -> Array:
    """Mean squared error: per row over all non-batch axes, then the (masked) mean of rows."""
    sq = jnp.square(_float(x) - _float(x_hat))
    return _weighted_mean(sq.reshape(sq.shape[0], -1).mean(axis=1), mask_B)


def _dysan_raw_terms(
    act_logits: Array,
    act_labels: Array,
    gen_logits: Array,
    gen_labels: Array,
    x: Array,
    x_hat: Array,
    num_activities: int,
    num_genders: int,
    mask_B: Array | None,
) -> dict[str, Array]:
    """DySan's three unweighted terms, keyed by :data:`SANITIZER_TERM_NAMES`."""
    return {
        "ber_activity": soft_ber(act_logits, act_labels, num_activities, mask_B),
        "ber_gap_gender": ber_gap(gen_logits, gen_labels, num_genders, mask_B),
        "distortion": l1_per_channel(x, x_hat, mask_B),
    }


def _dysan_weights(alpha: Array | float, lam: Array | float) -> dict[str, Array]:
    """The weight of each term: lam for utility, alpha for privacy, the rest for distortion."""
    alpha, lam = _float(alpha), _float(lam)
    return {"ber_activity": lam, "ber_gap_gender": alpha, "distortion": 1 - alpha - lam}


def dysan_sanitizer_loss(
    act_logits: Array,
    act_labels: Array,
    gen_logits: Array,
    gen_labels: Array,
    x: Array,
    x_hat: Array,
    alpha: Array | float,
    lam: Array | float,
    *,
    num_activities: int,
    num_genders: int = 2,
    mask_B: Array | None = None,
) -> tuple[Array, dict[str, Array]]:
    """DySan's sanitizer objective ``J_San`` for one ``(alpha, lam)`` pair.

    ``J_San = lam * soft_ber(activity) + alpha * ber_gap(gender)
    + (1 - alpha - lam) * l1_per_channel(x, x_hat)``, where the activity and
    gender logits are the frozen predictor's and discriminator's outputs on the
    sanitized ``x_hat``. The sanitizer minimises it: activity stays recognisable
    (low BER), gender is at chance (BER near 1/2), distortion stays small.
    ``alpha`` and ``lam`` may be traced (a vmapped grid; the original uses
    ``alpha + lam <= 1``).

    Returns ``(total, metrics)``; ``metrics`` holds the *unweighted* terms
    ``"ber_activity"``, ``"ber_gap_gender"``, ``"distortion"`` and ``"total"``.
    """
    raw = _dysan_raw_terms(
        act_logits,
        act_labels,
        gen_logits,
        gen_labels,
        x,
        x_hat,
        num_activities,
        num_genders,
        mask_B,
    )
    weights = _dysan_weights(alpha, lam)
    total = sum(weights[name] * raw[name] for name in SANITIZER_TERM_NAMES)
    return total, {**raw, "total": total}


def dysan_sanitizer_terms(
    act_logits: Array,
    act_labels: Array,
    gen_logits: Array,
    gen_labels: Array,
    x: Array,
    x_hat: Array,
    alpha: Array | float,
    lam: Array | float,
    *,
    num_activities: int,
    num_genders: int = 2,
    mask_B: Array | None = None,
) -> dict[str, Array]:
    """The three *weighted* terms of :func:`dysan_sanitizer_loss`, for DySan's "vector" mode.

    Same inputs as :func:`dysan_sanitizer_loss`. Returns ``{"ber_activity":
    lam * ..., "ber_gap_gender": alpha * ..., "distortion": (1 - alpha - lam) * ...}``
    (scalars); their sum is ``J_San``. The original code takes one optimizer step
    per term, in the order of :data:`SANITIZER_TERM_NAMES`: differentiate
    ``lambda p: terms_fn(p)[name]`` for each name in turn (recomputing ``x_hat``
    after each step, as the original does), or ``jax.jacrev`` of the dict for the
    three gradients at the same parameters.
    """
    raw = _dysan_raw_terms(
        act_logits,
        act_labels,
        gen_logits,
        gen_labels,
        x,
        x_hat,
        num_activities,
        num_genders,
        mask_B,
    )
    weights = _dysan_weights(alpha, lam)
    return {name: weights[name] * raw[name] for name in SANITIZER_TERM_NAMES}


def soft_ber_by_group(
    logits_BxK: Array,
    labels_B: Array,
    groups_B: Array,
    num_classes: int,
    num_groups: int,
    mask_B: Array | None = None,
) -> Array:
    """Soft error ``1 - p[true class]`` averaged within each *group*, then over the groups.

    The authors' ``BalancedErrorRateLoss`` (DySan's code, ``CustomLosses.py``): the rows
    are grouped by ``groups_B`` (DySan: the sensitive attribute, gender), not by their
    class. For ``groups_B == labels_B`` it is :func:`soft_ber`. With ``p =
    softmax(logits)``: for each group present in the (masked) batch, the (weighted) mean
    of ``1 - p[label]`` over its rows; then the plain mean over the groups present.
    Rows whose label or group is out of range are ignored like masked rows; no row at
    all gives 0.
    """
    logits_BxK = _float(logits_BxK)
    p_BxK = jax.nn.softmax(logits_BxK, axis=-1)
    onehot_BxK = jax.nn.one_hot(labels_B, num_classes, dtype=p_BxK.dtype)
    valid_B = jnp.sum(onehot_BxK, axis=-1)  # 0 for an out-of-range label
    w_B = _row_weights(mask_B, p_BxK.shape[0], p_BxK.dtype) * valid_B
    w_BxG = jax.nn.one_hot(groups_B, num_groups, dtype=p_BxK.dtype) * w_B[:, None]
    err_B = 1 - jnp.sum(p_BxK * onehot_BxK, axis=-1)
    count_G = jnp.sum(w_BxG, axis=0)
    group_err_G = _safe_div(w_BxG.T @ err_B, count_G)
    present_G = (count_G > 0).astype(p_BxK.dtype)
    return _safe_div(jnp.sum(group_err_G * present_G), jnp.sum(present_G))


def l1_by_channel(x: Array, x_hat: Array, mask_B: Array | None = None) -> Array:
    """Mean absolute error of each channel (last axis), shape ``(C,)``: the mean over the
    (masked) rows and every axis in between (time). ``(B, C)`` inputs (one value per
    row, e.g. attributes) work too. The authors' vector-mode distortion
    (``L1Loss(reduction="none").sum(0).sum(1) / (B * T)``); its mean over channels is
    :func:`l1_per_channel`."""
    err = jnp.abs(_float(x) - _float(x_hat))
    err_BxC = err.reshape(err.shape[0], -1, err.shape[-1]).mean(axis=1)
    w_B = _row_weights(mask_B, err_BxC.shape[0], err_BxC.dtype)
    return _safe_div(w_B @ err_BxC, jnp.sum(w_B))


def dysan_vector_terms(
    act_logits: Array,
    act_labels: Array,
    gen_logits: Array,
    gen_labels: Array,
    distortions_D: Array,
    alpha: Array | float,
    lam: Array | float,
    *,
    num_activities: int,
    num_genders: int = 2,
    mask_B: Array | None = None,
) -> Array:
    """DySan's sanitizer loss as its authors' code builds it: a vector of weighted terms.

    ``[lam * BER_act, alpha * |1/2 - BER_gender|, (1 - alpha - lam) * distortions_D...]``,
    shape ``(2 + D,)``, both BERs grouped by gender (:func:`soft_ber_by_group` with
    ``groups = gen_labels``); ``act_logits``/``gen_logits`` are the predictor's and the
    discriminator's outputs on the release. ``distortions_D`` are the distortion terms
    already computed: in the code's vector mode the L1 of each sensor channel and of
    each reconstructed attribute (:func:`l1_by_channel`), one optimizer step per
    component; a single mean distortion gives the code's "mean" mode once summed.
    """
    alpha, lam = _float(alpha), _float(lam)
    ber_act = soft_ber_by_group(
        act_logits, act_labels, gen_labels, num_activities, num_genders, mask_B
    )
    ber_gen = soft_ber_by_group(
        gen_logits, gen_labels, gen_labels, num_genders, num_genders, mask_B
    )
    adversarial = jnp.stack([lam * ber_act, alpha * jnp.abs(0.5 - ber_gen)])
    distortions_D = jnp.asarray(distortions_D).reshape(-1).astype(adversarial.dtype)
    return jnp.concatenate([adversarial, (1 - alpha - lam) * distortions_D])


def _log_one_minus_softmax_at(logits_BxK: Array, index_B: Array) -> Array:
    """``log(1 - softmax(logits)[index])`` per row, exactly and stably.

    ``1 - p[u]`` is the probability of every other class, so its log is the
    logsumexp of the other logits minus that of all: no ``log(0)`` when
    ``p[u]`` rounds to 1, and the gradient stays bounded. Needs ``K >= 2``.
    """
    onehot_BxK = jax.nn.one_hot(index_B, logits_BxK.shape[-1], dtype=bool)
    others_BxK = jnp.where(onehot_BxK, -jnp.inf, logits_BxK)
    return jax.nn.logsumexp(others_BxK, axis=-1) - jax.nn.logsumexp(logits_BxK, axis=-1)


def msda_identity_loss(logits_BxU: Array, labels_B: Array, mask_B: Array | None = None) -> Array:
    """MSDA's identity loss ``L_i`` (systems.md section 2, Eq. 7), mean over (masked) rows.

    With ``U_hat = softmax(logits)``:
    ``L_i = -( sum_u U_onehot[u] log(1 - U_hat[u]) + log(1 - max_u U_hat[u]) )``.
    It pushes probability away from the true user and flattens the most
    confident guess, so a uniform prediction over ``U`` users costs
    ``-2 log(1 - 1/U)`` (0.446 for 5 users), a confident correct one far more and
    a confident wrong one about half of that. Computed in log space (see
    :func:`_log_one_minus_softmax_at`), exact for any logits; ``U >= 2``.
    """
    logits_BxU = _float(logits_BxU)
    true_term_B = _log_one_minus_softmax_at(logits_BxU, labels_B)
    max_term_B = _log_one_minus_softmax_at(logits_BxU, jnp.argmax(logits_BxU, axis=-1))
    return _weighted_mean(-(true_term_B + max_term_B), mask_B)


MSDA_TERM_NAMES = ("identity_latent", "identity_output", "activity", "distortion")


def msda_aae_loss(
    enc_logits_BxU: Array,
    dec_logits_BxU: Array,
    user_labels_B: Array,
    act_logits_BxK: Array,
    act_labels_B: Array,
    x: Array,
    x_hat: Array,
    beta_enc: Array | float = 1.0,
    beta_dec: Array | float = 1.0,
    beta_act: Array | float = 2.0,
    beta_dist: Array | float = 0.01,
    mask_B: Array | None = None,
) -> tuple[Array, dict[str, Array]]:
    """MSDA's anonymizing-autoencoder objective (systems.md section 2, Eq. 4 and 7).

    ``L = beta_enc L_i(EncReg(Y)) + beta_dec L_i(DecReg(x')) + beta_act CE(ActReg(x'))
    + beta_dist MSE(x, x')``, where the logits are the frozen regularizers' outputs
    on the latent ``Y`` and the output ``x' = x_hat``. The defaults are the
    authors' code's weights (L_i 1 and 1, CE 2, MSE 0.01). ``beta_dec = 0`` is REP
    (only the latent term). The betas may be traced: a beta grid is one ``vmap``.

    Returns ``(total, metrics)``; ``metrics`` holds the *unweighted* terms keyed by
    :data:`MSDA_TERM_NAMES` and ``"total"``.
    """
    raw = {
        "identity_latent": msda_identity_loss(enc_logits_BxU, user_labels_B, mask_B),
        "identity_output": msda_identity_loss(dec_logits_BxU, user_labels_B, mask_B),
        "activity": cross_entropy(act_logits_BxK, act_labels_B, mask_B),
        "distortion": mse(x, x_hat, mask_B),
    }
    weights = dict(zip(MSDA_TERM_NAMES, (beta_enc, beta_dec, beta_act, beta_dist), strict=True))
    total = sum(_float(weights[name]) * raw[name] for name in MSDA_TERM_NAMES)
    return total, {**raw, "total": total}


def gen_guardian_loss(
    act_logits_BxK: Array,
    act_labels_B: Array,
    gender_logit_B: Array,
    privacy_weight: Array | float = 1.0,
    utility_weight: Array | float = 1.0,
    mask_B: Array | None = None,
) -> tuple[Array, dict[str, Array]]:
    """GEN's guardian objective (systems.md section 3): keep the activity, neutralise gender.

    ``L = utility_weight * CE(activity) + privacy_weight * mean |1/2 - sigmoid(gender)|``,
    both computed from the *frozen* estimator's outputs on the guardian's release
    (activity logits, one gender logit per row). The gender term is 0 when the
    estimator answers 1/2 for every window. Returns ``(total, metrics)`` with the
    unweighted ``"activity"`` and ``"gender_gap"`` terms and ``"total"``.
    """
    gender_p_B = jax.nn.sigmoid(_float(gender_logit_B).reshape(-1))
    raw = {
        "activity": cross_entropy(act_logits_BxK, act_labels_B, mask_B),
        "gender_gap": _weighted_mean(jnp.abs(0.5 - gender_p_B), mask_B),
    }
    total = _float(utility_weight) * raw["activity"] + _float(privacy_weight) * raw["gender_gap"]
    return total, {**raw, "total": total}
