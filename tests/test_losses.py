"""Loss terms on hand-computed cases, masks, gradients (float64), jit and vmap."""

from __future__ import annotations

import functools
import itertools
import math

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from jaxpriv import losses
from jaxpriv.losses import SANITIZER_TERM_NAMES

# Jitted once per shape: eager mode would compile every primitive separately (slow on CPU).
# Jit does not change the values; the chex variants below also run the composite loss eagerly.
_SIZES = ("num_activities", "num_genders")
cross_entropy = jax.jit(losses.cross_entropy)
soft_ber = jax.jit(losses.soft_ber, static_argnums=2)
ber_gap = jax.jit(losses.ber_gap, static_argnums=2)
l1_per_channel = jax.jit(losses.l1_per_channel)
mse = jax.jit(losses.mse)
msda_identity_loss = jax.jit(losses.msda_identity_loss)
msda_aae_loss = jax.jit(losses.msda_aae_loss)
gen_guardian_loss = jax.jit(losses.gen_guardian_loss)
dysan_sanitizer_loss = jax.jit(losses.dysan_sanitizer_loss, static_argnames=_SIZES)
dysan_sanitizer_terms = jax.jit(losses.dysan_sanitizer_terms, static_argnames=_SIZES)
soft_ber_by_group = jax.jit(losses.soft_ber_by_group, static_argnums=(3, 4))
l1_by_channel = jax.jit(losses.l1_by_channel)
dysan_vector_terms = jax.jit(losses.dysan_vector_terms, static_argnames=_SIZES)


def logits_of(probs: list[list[float]]) -> np.ndarray:
    """Logits whose softmax is exactly ``probs`` (rows summing to 1)."""
    return np.log(np.asarray(probs, np.float32))


def close(a: jax.Array | float, b: jax.Array | float, tol: float = 1e-6) -> None:
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# A 4-row binary batch: true-class probabilities 0.9, 0.6, 0.3 (class 0) and 0.8 (class 1).
BER_LOGITS = logits_of([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
BER_LABELS = np.array([0, 0, 0, 1])


# ---------------------------------------------------------------- cross-entropy


def test_cross_entropy_by_hand() -> None:
    logits = logits_of([[0.25, 0.75], [0.5, 0.5]])
    labels = np.array([1, 0])
    expected = (-math.log(0.75) - math.log(0.5)) / 2
    close(cross_entropy(logits, labels), expected)
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 4)).astype(np.float32)
    y = rng.integers(0, 4, 6)
    z64 = z.astype(np.float64)
    log_softmax = z64 - np.log(np.exp(z64).sum(-1, keepdims=True))
    close(cross_entropy(z, y), -log_softmax[np.arange(6), y].mean(), 1e-5)


def test_cross_entropy_mask_drops_rows_and_weights_count() -> None:
    rng = np.random.default_rng(1)
    z = rng.standard_normal((5, 3)).astype(np.float32)
    y = np.array([0, 2, 1, 1, 0])
    keep = np.array([1, 0, 1, 1, 0])
    close(cross_entropy(z, y, keep), cross_entropy(z[keep == 1], y[keep == 1]))
    close(cross_entropy(z, y, keep.astype(bool)), cross_entropy(z[keep == 1], y[keep == 1]))
    # A weight of 2 counts a row twice.
    twice = np.array([2.0, 1, 1, 1, 1])
    close(cross_entropy(z, y, twice), cross_entropy(np.vstack([z[:1], z]), np.r_[y[:1], y]))
    # A padded row's label may be out of range: it is masked, and does not poison the mean.
    y_pad = np.where(keep == 1, y, -1)
    close(cross_entropy(z, y_pad, keep), cross_entropy(z[keep == 1], y[keep == 1]))


# ---------------------------------------------------------------- soft BER and its gap


def test_soft_ber_by_hand_is_the_mean_of_per_class_errors() -> None:
    # Class 0 errors 0.1, 0.4, 0.7 -> 0.4; class 1 error 0.2 -> BER (0.4 + 0.2) / 2 = 0.3.
    close(soft_ber(BER_LOGITS, BER_LABELS, 2), 0.3)
    # The overall (unbalanced) soft error would be 1.4 / 4 = 0.35: BER is not that.
    overall = np.mean(1 - np.exp(BER_LOGITS)[np.arange(4), BER_LABELS])
    close(overall, 0.35)
    close(ber_gap(BER_LOGITS, BER_LABELS, 2), 0.2)


def test_soft_ber_extremes() -> None:
    labels = np.array([0, 1, 1, 0, 1])
    perfect = 50.0 * (2 * np.eye(2, dtype=np.float32)[labels] - 1)
    close(soft_ber(perfect, labels, 2), 0.0)
    close(ber_gap(perfect, labels, 2), 0.5)
    close(soft_ber(-perfect, labels, 2), 1.0)  # always wrong
    uniform = np.zeros((5, 2), np.float32)
    close(soft_ber(uniform, labels, 2), 0.5)
    close(ber_gap(uniform, labels, 2), 0.0)
    # Chance level for K classes is 1 - 1/K, whatever the class balance.
    close(soft_ber(np.zeros((5, 4), np.float32), np.array([0, 0, 0, 0, 3]), 4), 0.75)


def test_soft_ber_is_balanced_on_imbalanced_classes() -> None:
    # 9 rows of class 0 predicted perfectly, 1 row of class 1 always wrong:
    # overall error 0.1, but BER (0 + 1) / 2 = 0.5: the minority class counts as much.
    labels = np.array([0] * 9 + [1])
    logits = np.tile(np.array([[50.0, -50.0]], np.float32), (10, 1))
    close(soft_ber(logits, labels, 2), 0.5)


def test_soft_ber_mask_is_the_same_as_removing_rows() -> None:
    keep = np.array([1.0, 0.0, 1.0, 1.0])
    removed = soft_ber(BER_LOGITS[keep == 1], BER_LABELS[keep == 1], 2)
    close(soft_ber(BER_LOGITS, BER_LABELS, 2, keep), removed)
    close(soft_ber(BER_LOGITS, BER_LABELS, 2, keep.astype(bool)), removed)
    close(removed, ((0.1 + 0.7) / 2 + 0.2) / 2)  # and that is (0.4 + 0.2) / 2 by hand


def test_soft_ber_absent_classes_do_not_count() -> None:
    # Three classes, only 0 and 1 in the batch: the mean is over those two.
    logits = logits_of([[0.5, 0.25, 0.25], [0.2, 0.6, 0.2]])
    labels = np.array([0, 1])
    close(soft_ber(logits, labels, 3), (0.5 + 0.4) / 2)
    # A class present only in masked rows is absent too.
    logits3 = np.vstack([logits, logits_of([[0.1, 0.1, 0.8]])])
    labels3 = np.array([0, 1, 2])
    close(soft_ber(logits3, labels3, 3, np.array([1, 1, 0])), (0.5 + 0.4) / 2)
    close(soft_ber(logits3, labels3, 3), (0.5 + 0.4 + 0.2) / 3)


def test_soft_ber_with_no_row_is_zero_with_a_finite_gradient() -> None:
    none = np.zeros(4, np.float32)
    close(soft_ber(BER_LOGITS, BER_LABELS, 2, none), 0.0)
    grad = jax.jit(jax.grad(lambda z: ber_gap(z, BER_LABELS, 2, none)))(BER_LOGITS)
    chex.assert_tree_all_finite(grad)
    close(grad, np.zeros_like(grad))


# ---------------------------------------------------------------- distortion


def test_l1_per_channel_by_hand() -> None:
    x = np.zeros((2, 2, 2), np.float32)
    # Channel 0 errors 1, 3, 1, 3 -> 2; channel 1 errors 2, 6, 0, 0 -> 2. Mean 2.
    x_hat = np.array([[[1.0, 2.0], [-3.0, 6.0]], [[1.0, 0.0], [3.0, 0.0]]], np.float32)
    close(l1_per_channel(x, x_hat), 2.0)
    # Keeping the first row only: channel 0 -> 2, channel 1 -> 4, mean 3.
    close(l1_per_channel(x, x_hat, np.array([1, 0])), 3.0)
    close(l1_per_channel(x, x_hat, np.array([1, 0])), l1_per_channel(x[:1], x_hat[:1]))
    close(l1_per_channel(x_hat, x), 2.0)  # symmetric


def test_mse_by_hand_and_mask() -> None:
    x = np.zeros((2, 2, 1), np.float32)
    x_hat = np.array([[[1.0], [3.0]], [[2.0], [2.0]]], np.float32)
    close(mse(x, x_hat), (1 + 9 + 4 + 4) / 4)
    close(mse(x, x_hat, np.array([0.0, 1.0])), 4.0)
    close(mse(x, x_hat, np.zeros(2)), 0.0)
    # Any trailing shape: (B, C, W) as MSDA's 2 x 128 windows.
    close(mse(np.ones((3, 2, 5), np.float32), np.zeros((3, 2, 5), np.float32)), 1.0)


# ---------------------------------------------------------------- MSDA identity loss


def naive_identity_loss(logits: np.ndarray, labels: np.ndarray) -> float:
    """Eq. 7 as written, in float64 numpy (fine for moderate logits)."""
    z = logits - logits.max(-1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(-1, keepdims=True)
    onehot = np.eye(p.shape[-1])[labels]
    per_row = -((onehot * np.log(1 - p)).sum(-1) + np.log(1 - p.max(-1)))
    return float(per_row.mean())


def test_msda_identity_loss_uniform_over_five_users() -> None:
    loss = msda_identity_loss(np.zeros((3, 5), np.float32), np.array([0, 2, 4]))
    close(loss, -2 * math.log(0.8), 1e-6)
    close(loss, 0.446, 1e-3)


def test_msda_identity_loss_confident_correct_costs_far_more_than_confident_wrong() -> None:
    confident = np.array([[12.0, 0.0, 0.0, 0.0, 0.0]], np.float32)
    correct = float(msda_identity_loss(confident, np.array([0])))
    wrong = float(msda_identity_loss(confident, np.array([3])))
    uniform = -2 * math.log(0.8)
    # Correct: both terms pay ~ -log(1 - p_max); wrong: only the max term does.
    assert correct > 1.9 * wrong > 10 * uniform
    close(correct, naive_identity_loss(np.asarray(confident, np.float64), np.array([0])), 1e-4)
    close(wrong, naive_identity_loss(np.asarray(confident, np.float64), np.array([3])), 1e-4)


def test_msda_identity_loss_matches_eq7_and_is_stable() -> None:
    rng = np.random.default_rng(2)
    z = rng.standard_normal((8, 6)) * 3
    y = rng.integers(0, 6, 8)
    close(
        msda_identity_loss(jnp.asarray(z, jnp.float32), jnp.asarray(y)), naive_identity_loss(z, y)
    )
    # p[true] rounds to 1 in float32: the naive form gives inf, this stays finite with
    # a finite gradient (log(1 - p) = logsumexp(others) - logsumexp(all) = -200 here).
    extreme = np.array([[200.0, 0.0, 0.0]], np.float32)
    value, grad = jax.jit(jax.value_and_grad(msda_identity_loss))(extreme, np.array([0]))
    close(value, 2 * (200 - math.log(2)), 1e-5)
    chex.assert_tree_all_finite(grad)
    # Masked rows are dropped.
    keep = np.r_[1, rng.integers(0, 2, 7)]
    close(
        msda_identity_loss(jnp.asarray(z, jnp.float32), jnp.asarray(y), jnp.asarray(keep)),
        naive_identity_loss(z[keep == 1], y[keep == 1]),
    )


# ---------------------------------------------------------------- MSDA's AAE and GEN's guardian


def test_msda_aae_loss_is_the_weighted_sum_with_the_codes_defaults() -> None:
    rng = np.random.default_rng(5)
    b = sanitizer_batch(rng, B=6, A=4, W=8, C=2)
    enc, dec = (jnp.asarray(rng.standard_normal((6, 5)), jnp.float32) for _ in range(2))
    users = jnp.asarray(rng.integers(0, 5, 6))
    args = (enc, dec, users, b["act_logits"], b["act_labels"], b["x"], b["x_hat"])
    total, terms = msda_aae_loss(*args)
    close(terms["identity_latent"], msda_identity_loss(enc, users))
    close(terms["identity_output"], msda_identity_loss(dec, users))
    close(terms["activity"], cross_entropy(b["act_logits"], b["act_labels"]))
    close(terms["distortion"], mse(b["x"], b["x_hat"]))
    expected = (
        terms["identity_latent"]
        + terms["identity_output"]
        + 2 * terms["activity"]
        + 0.01 * terms["distortion"]
    )
    close(total, expected, 1e-5)
    # REP: only the latent term (beta_dec = 0); the betas vmap as a grid.
    rep, _ = msda_aae_loss(*args, beta_dec=0.0)
    close(rep, expected - terms["identity_output"], 1e-5)
    betas = jnp.array([0.0, 1.0, 3.0])
    grid = jax.vmap(lambda bd: msda_aae_loss(*args, beta_dec=bd)[0])(betas)
    close(grid, expected + (betas - 1) * terms["identity_output"], 1e-5)


def test_gen_guardian_loss_by_hand() -> None:
    act = logits_of([[0.5, 0.5], [0.25, 0.75]])
    labels = np.array([0, 1])
    # Gender probabilities 1/2 and 0.9: gaps 0 and 0.4 -> mean 0.2.
    gender = np.log(np.array([1.0, 9.0], np.float32))
    total, terms = gen_guardian_loss(act, labels, gender)
    close(terms["gender_gap"], 0.2)
    close(terms["activity"], (-math.log(0.5) - math.log(0.75)) / 2)
    close(total, terms["activity"] + 0.2)
    weighted, _ = gen_guardian_loss(act, labels, gender, privacy_weight=3.0, utility_weight=0.5)
    close(weighted, 0.5 * terms["activity"] + 0.6)
    # A masked row is dropped.
    _, masked = gen_guardian_loss(act, labels, gender, mask_B=np.array([0.0, 1.0]))
    close(masked["gender_gap"], 0.4)


# ---------------------------------------------------------------- gradients, float64


def term_functions(rng: np.random.Generator):
    """Every term as a function of its float arguments only (labels and masks closed over)."""
    B, K, W, C = 6, 3, 5, 2
    # float64 numpy arrays: check_grads then perturbs them in numpy, without compiling.
    labels = np.array([0, 1, 2, 0, 1, 1])
    genders = np.array([0, 1, 1, 0, 0, 1])
    mask = np.array([1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
    logits = rng.standard_normal((B, K))
    # Shifted towards class 0 so the gender BER is away from the kink of |1/2 - BER|.
    gen_logits = rng.standard_normal((B, 2)) + np.array([1.5, 0.0])
    x = rng.standard_normal((B, W, C))
    # At least 0.2 from x everywhere, away from the kink of |x - x_hat|.
    x_hat = x + rng.uniform(0.2, 1.0, (B, W, C)) * rng.choice([-1, 1], (B, W, C))
    alpha, lam = np.asarray(0.3), np.asarray(0.5)
    users = np.array([0, 3, 1, 2, 3, 0])
    # Gender logits away from 0, the kink of |1/2 - sigmoid|.
    gender_logit = rng.uniform(0.3, 2.0, B) * rng.choice([-1, 1], B)

    def sanitizer_total(a, g, xh, al, la):
        return dysan_sanitizer_loss(
            a, labels, g, genders, x, xh, al, la, num_activities=K, mask_B=mask
        )[0]

    def vector_terms(a, g, d, al, la):
        return jnp.sum(
            dysan_vector_terms(a, labels, g, genders, d, al, la, num_activities=K, mask_B=mask)
            * jnp.arange(1.0, 3.0 + d.shape[0])  # every term weighs differently
        )

    return {
        "soft_ber_by_group": (
            lambda z: soft_ber_by_group(z, labels, genders, K, 2, mask),
            (logits,),
        ),
        "l1_by_channel": (
            lambda a, b: jnp.sum(l1_by_channel(a, b, mask) * np.array([1.0, -2.0])),
            (x, x_hat),
        ),
        "dysan_vector_terms": (
            vector_terms,
            (logits, gen_logits, rng.uniform(0.1, 1.0, 4), alpha, lam),
        ),
        "cross_entropy": (lambda z: cross_entropy(z, labels, mask), (logits,)),
        "soft_ber": (lambda z: soft_ber(z, labels, K, mask), (logits,)),
        "ber_gap": (lambda z: ber_gap(z, genders, 2, mask), (gen_logits,)),
        "l1_per_channel": (lambda a, b: l1_per_channel(a, b, mask), (x, x_hat)),
        "mse": (lambda a, b: mse(a, b, mask), (x, x_hat)),
        "msda_identity_loss": (lambda z: msda_identity_loss(z, labels, mask), (logits,)),
        "dysan_sanitizer_loss": (sanitizer_total, (logits, gen_logits, x_hat, alpha, lam)),
        "msda_aae_loss": (
            lambda e, d, a, xh, be, bd: msda_aae_loss(
                e, d, users, a, labels, x, xh, be, bd, 2.0, 0.01, mask
            )[0],
            (
                rng.standard_normal((B, 4)),
                rng.standard_normal((B, 4)),
                logits,
                x_hat,
                np.asarray(1.0),
                np.asarray(0.5),
            ),
        ),
        "gen_guardian_loss": (
            lambda a, g, w: gen_guardian_loss(a, labels, g, w, 1.0, mask)[0],
            (logits, gender_logit, np.asarray(0.7)),
        ),
    }


@pytest.mark.parametrize(
    "name",
    [
        "soft_ber_by_group",
        "l1_by_channel",
        "dysan_vector_terms",
        "cross_entropy",
        "soft_ber",
        "ber_gap",
        "l1_per_channel",
        "mse",
        "msda_identity_loss",
        "dysan_sanitizer_loss",
        "msda_aae_loss",
        "gen_guardian_loss",
    ],
)
def test_gradients_match_finite_differences_in_float64(name: str) -> None:
    with jax.enable_x64(True):
        fn, args = term_functions(np.random.default_rng(3))[name]
        assert all(a.dtype == np.float64 for a in args)
        fn = jax.jit(fn)
        value = fn(*args)
        assert value.dtype == jnp.float64
        chex.assert_shape(value, ())
        check_grads(fn, args, order=1, modes=["rev"])
    # x64 does not leak into other tests.
    assert jnp.zeros(1).dtype == jnp.float32


def test_every_public_loss_has_a_gradient_test() -> None:
    public = {n for n in dir(losses) if not n.startswith("_") and callable(getattr(losses, n))}
    # dysan_sanitizer_terms only splits the checked total: its per-term gradients are
    # tested against the checked scalar gradient in test_vector_mode_terms_...
    # mdn_nll's gradient test is in tests/test_mdn.py.
    checked = {
        *term_functions(np.random.default_rng(0)),
        *("dysan_sanitizer_terms", "mdn_nll", "Array"),
    }
    assert public == checked


# ---------------------------------------------------------------- DySan's composite loss


def sanitizer_batch(rng: np.random.Generator, B: int = 8, A: int = 4, W: int = 7, C: int = 3):
    return {
        "act_logits": jnp.asarray(rng.standard_normal((B, A)), jnp.float32),
        "act_labels": jnp.asarray(rng.integers(0, A, B)),
        "gen_logits": jnp.asarray(rng.standard_normal((B, 2)), jnp.float32),
        "gen_labels": jnp.asarray(rng.integers(0, 2, B)),
        "x": jnp.asarray(rng.standard_normal((B, W, C)), jnp.float32),
        "x_hat": jnp.asarray(rng.standard_normal((B, W, C)), jnp.float32),
    }


def hand_combined(batch: dict, alpha: float, lam: float, mask=None) -> float:
    return (
        lam * soft_ber(batch["act_logits"], batch["act_labels"], 4, mask)
        + alpha * ber_gap(batch["gen_logits"], batch["gen_labels"], 2, mask)
        + (1 - alpha - lam) * l1_per_channel(batch["x"], batch["x_hat"], mask)
    )


class SanitizerLossTest(chex.TestCase):
    @chex.variants(with_jit=True, without_jit=True)
    def test_total_is_the_hand_combined_terms(self) -> None:
        batch = sanitizer_batch(np.random.default_rng(4))
        mask = jnp.array([1, 1, 0, 1, 1, 1, 0, 1], jnp.float32)
        loss_fn = self.variant(functools.partial(losses.dysan_sanitizer_loss, num_activities=4))
        total, metrics = loss_fn(**batch, alpha=0.3, lam=0.2, mask_B=mask)
        chex.assert_shape(total, ())
        chex.assert_tree_all_finite((total, metrics))
        assert total.dtype == jnp.float32
        assert set(metrics) == {*SANITIZER_TERM_NAMES, "total"}
        close(total, hand_combined(batch, 0.3, 0.2, mask), 1e-5)
        close(metrics["total"], total)
        # The metrics are the unweighted terms.
        close(metrics["distortion"], l1_per_channel(batch["x"], batch["x_hat"], mask))
        gen = ber_gap(batch["gen_logits"], batch["gen_labels"], 2, mask)
        close(metrics["ber_gap_gender"], gen)


def test_vector_mode_terms_are_the_weighted_terms_and_their_gradients_sum_up() -> None:
    """Vector mode: one (value, gradient) per weighted term; together they are J_San's."""
    batch = sanitizer_batch(np.random.default_rng(6))
    labels = {k: batch[k] for k in ("act_labels", "gen_labels", "x")}
    # The sanitizer reaches J_San through the logits and x_hat: differentiate all three.
    inputs = {k: batch[k] for k in ("act_logits", "gen_logits", "x_hat")}
    weights = {"alpha": np.float32(0.1), "lam": np.float32(0.6), "num_activities": 4}

    @jax.jit
    def values_and_gradients(inputs):
        def terms_fn(i):
            return dysan_sanitizer_terms(**i, **labels, **weights)

        def total_fn(i):
            return dysan_sanitizer_loss(**i, **labels, **weights)

        return (
            terms_fn(inputs),
            total_fn(inputs),
            jax.jacrev(terms_fn)(inputs),
            jax.grad(lambda i: total_fn(i)[0])(inputs),
        )

    terms, (total, raw), per_term, grad_total = values_and_gradients(inputs)
    assert tuple(terms) == tuple(per_term) == SANITIZER_TERM_NAMES
    chex.assert_tree_shape_prefix(terms, ())
    close(sum(terms.values()), total, 1e-6)
    close(terms["ber_activity"], 0.6 * raw["ber_activity"])
    close(terms["ber_gap_gender"], 0.1 * raw["ber_gap_gender"])
    close(terms["distortion"], 0.3 * raw["distortion"], 1e-6)
    summed = jax.tree.map(lambda *g: sum(g), *per_term.values())
    chex.assert_trees_all_close(summed, grad_total, atol=1e-7)
    # Each term moves only its own input.
    owner = {"ber_activity": "act_logits", "ber_gap_gender": "gen_logits", "distortion": "x_hat"}
    for term, grads in per_term.items():
        for name, g in grads.items():
            assert (np.abs(g).sum() > 0) == (name == owner[term]), (term, name)


def test_vmap_over_the_alpha_lambda_grid_equals_per_pair_calls() -> None:
    values = [i / 10 for i in range(1, 9)]
    grid = [(a, b) for a, b in itertools.product(values, values) if a + b <= 0.9 + 1e-9]
    assert len(grid) == 36  # DySan's 36 sanitizers
    alphas = jnp.asarray([a for a, _ in grid], jnp.float32)
    lams = jnp.asarray([b for _, b in grid], jnp.float32)
    batch = sanitizer_batch(np.random.default_rng(7))

    def loss(alpha, lam):
        return dysan_sanitizer_loss(**batch, alpha=alpha, lam=lam, num_activities=4)

    totals, metrics = jax.jit(jax.vmap(loss))(alphas, lams)
    chex.assert_shape(totals, (36,))
    chex.assert_tree_shape_prefix(metrics, (36,))
    chex.assert_tree_all_finite((totals, metrics))
    for i, (a, b) in enumerate(grid):
        close(totals[i], loss(a, b)[0], 1e-6)
    # The raw terms do not depend on the weights; the totals do.
    close(metrics["distortion"], jnp.full(36, metrics["distortion"][0]))
    assert len(np.unique(np.round(np.asarray(totals), 6))) > 30


def test_vmap_over_stacked_batches_with_masks() -> None:
    """Each variant sees its own batch and mask (as in a vmapped sweep)."""
    rng = np.random.default_rng(8)
    z = rng.standard_normal((3, 6, 2)).astype(np.float32)
    y = rng.integers(0, 2, (3, 6))
    m = rng.integers(0, 2, (3, 6)).astype(np.float32)
    m[:, 0] = 1
    for fn in (
        lambda a, b, c: soft_ber(a, b, 2, c),
        lambda a, b, c: cross_entropy(a, b, c),
        lambda a, b, c: msda_identity_loss(a, b, c),
    ):
        batched = jax.jit(jax.vmap(fn))(z, y, m)
        chex.assert_shape(batched, (3,))
        for i in range(3):
            close(batched[i], fn(z[i], y[i], m[i]), 1e-6)


# ---------------------------------------------------------------- the authors' terms


def test_soft_ber_by_group_averages_within_genders_then_over_genders() -> None:
    # Activity probabilities of the true class: 0.9, 0.5 (women), 0.6, 0.2, 0.4 (men).
    p_true = np.array([0.9, 0.5, 0.6, 0.2, 0.4])
    labels = np.array([0, 1, 2, 0, 1])
    probs = np.full((5, 3), 0.0)
    probs[np.arange(5), labels] = p_true
    probs[np.arange(5), (labels + 1) % 3] = 1 - p_true
    genders = np.array([0, 0, 1, 1, 1])
    got = soft_ber_by_group(np.log(probs + 1e-30), labels, genders, 3, 2)
    close(got, ((0.1 + 0.5) / 2 + (0.4 + 0.8 + 0.6) / 3) / 2, 1e-5)
    # Grouped by gender, not by class: the class-balanced BER differs on this batch.
    assert abs(float(got) - float(soft_ber(np.log(probs + 1e-30), labels, 3))) > 0.01
    # Grouping by the labels themselves is the class-balanced soft BER.
    by_class = soft_ber(BER_LOGITS, BER_LABELS, 2)
    close(soft_ber_by_group(BER_LOGITS, BER_LABELS, BER_LABELS, 2, 2), by_class)
    # A missing gender does not count; a masked row is the same as a removed one.
    one_group = soft_ber_by_group(np.log(probs + 1e-30), labels, np.ones(5, int), 3, 2)
    close(one_group, (0.1 + 0.5 + 0.4 + 0.8 + 0.6) / 5, 1e-5)
    mask = np.array([1.0, 1.0, 0.0, 1.0, 1.0])
    kept = np.array([0, 1, 3, 4])
    close(
        soft_ber_by_group(np.log(probs + 1e-30), labels, genders, 3, 2, mask),
        soft_ber_by_group(np.log(probs[kept] + 1e-30), labels[kept], genders[kept], 3, 2),
        1e-6,
    )


def test_l1_by_channel_is_per_channel_and_averages_to_l1_per_channel() -> None:
    x = np.zeros((2, 3, 2), np.float32)
    x_hat = np.zeros((2, 3, 2), np.float32)
    x_hat[:, :, 0] = 1.0  # channel 0 off by 1 everywhere
    x_hat[0, :, 1] = 3.0  # channel 1 off by 3 in the first row only
    close(l1_by_channel(x, x_hat), [1.0, 1.5])
    close(jnp.mean(l1_by_channel(x, x_hat)), l1_per_channel(x, x_hat))
    close(l1_by_channel(x, x_hat, np.array([0.0, 1.0])), [1.0, 0.0])
    # One value per row (attributes): (B, C) works as (B, 1, C).
    close(l1_by_channel(np.zeros((2, 3)), np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])), [2.0] * 3)


def test_dysan_vector_terms_are_the_codes_weighted_components() -> None:
    rng = np.random.default_rng(9)
    act = rng.standard_normal((6, 4)).astype(np.float32)
    act_y = rng.integers(0, 4, 6)
    gen = rng.standard_normal((6, 2)).astype(np.float32)
    gen_y = np.array([0, 1, 0, 1, 1, 0])
    dist = np.array([0.2, 0.4, 0.6], np.float32)
    terms = dysan_vector_terms(act, act_y, gen, gen_y, dist, 0.3, 0.5, num_activities=4)
    chex.assert_shape(terms, (5,))
    close(terms[0], 0.5 * soft_ber_by_group(act, act_y, gen_y, 4, 2), 1e-6)
    close(terms[1], 0.3 * abs(0.5 - soft_ber(gen, gen_y, 2)), 1e-6)
    close(terms[2:], 0.2 * dist, 1e-6)
    # No distortion term: the two adversarial ones only.
    chex.assert_shape(
        dysan_vector_terms(act, act_y, gen, gen_y, np.zeros(0), 0.3, 0.5, num_activities=4), (2,)
    )
