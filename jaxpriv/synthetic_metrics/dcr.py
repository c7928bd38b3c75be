"""Memorisation: distance to the closest training record (DCR), synthetic vs held-out."""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpriv.synthetic_metrics.samples import channel_scale, check_same_shape, check_samples


@functools.partial(jax.jit, static_argnums=3)
def _nearest(q_BxD: jax.Array, ref_NxD: jax.Array, ref_sq_N: jax.Array, k: int) -> jax.Array:
    """Exact distance from each query to its nearest reference row.

    ``|q|^2 + |r|^2 - 2 q.r`` ranks the references; the ``k`` best are then re-measured
    as ``|q - r|`` (no cancellation), so an exact copy gives exactly 0.
    """
    hi = jax.lax.Precision.HIGHEST
    d2_BxN = (
        jnp.sum(q_BxD**2, 1)[:, None]
        + ref_sq_N[None]
        - 2 * jnp.matmul(q_BxD, ref_NxD.T, precision=hi)
    )
    _, idx_BxK = jax.lax.top_k(-d2_BxN, k)
    diff_BxKxD = q_BxD[:, None, :] - ref_NxD[idx_BxK]
    return jnp.min(jnp.sqrt(jnp.sum(diff_BxKxD**2, axis=-1)), axis=1)


def _nearest_distances(q: np.ndarray, ref: jax.Array, ref_sq: jax.Array, chunk: int, k: int):
    out = np.empty(len(q), np.float32)
    for start in range(0, len(q), chunk):
        idx = np.minimum(np.arange(start, start + chunk), len(q) - 1)  # pad: one shape
        stop = min(start + chunk, len(q))
        out[start:stop] = np.asarray(_nearest(q[idx], ref, ref_sq, k))[: stop - start]
    return out


def closest_record(
    real_train: Any,
    synthetic: Any,
    real_test: Any,
    *,
    max_entries: int = 1 << 24,
    candidates: int = 8,
    copy_tol: float = 1e-6,
) -> dict[str, Any]:
    """Distance to the closest training record: synthetic samples vs held-out real ones.

    Samples are standardized with ``real_train``'s per-channel (windows; over samples and
    time) or per-column (rows) statistics and flattened; distances are Euclidean, computed
    in jitted chunks of queries so that at most about ``max_entries`` values (query-train
    distances, or candidate differences) exist at once. The held-out real samples give the
    reference: a generator that learned the distribution, not the records, puts about 5% of
    its samples closer to a training record than the 5th percentile of the real-test
    distances (``share_below_real_p5``); far more flags memorisation (when ``real_test``
    holds other users than ``real_train`` its distances are larger and the expected share
    is larger too). ``exact_copies`` counts synthetic samples within ``copy_tol`` of a
    training record.
    """
    train = check_samples(real_train, "real_train", min_n=1)
    syn = check_samples(synthetic, "synthetic", min_n=1)
    test = check_samples(real_test, "real_test", min_n=1)
    check_same_shape(train, "real_train", syn, "synthetic")
    check_same_shape(train, "real_train", test, "real_test")
    mean, std = channel_scale(train)

    def flat(x: np.ndarray) -> np.ndarray:
        return ((x - mean) / std).reshape(len(x), -1)

    ref = jnp.asarray(flat(train))
    ref_sq = jnp.sum(ref**2, axis=1)
    k = min(candidates, len(train))
    # Per query: a row of distances to every training record, then k candidate differences.
    per_query = max(len(train), k * ref.shape[1])
    chunk = max(1, min(max_entries // per_query, max(len(syn), len(test))))
    d_syn = _nearest_distances(flat(syn), ref, ref_sq, chunk, k)
    d_test = _nearest_distances(flat(test), ref, ref_sq, chunk, k)
    p5 = float(np.percentile(d_test, 5))

    def summary(d: np.ndarray) -> dict[str, float]:
        return {
            "median": float(np.median(d)),
            "p5": float(np.percentile(d, 5)),
            "mean": float(d.mean()),
            "min": float(d.min()),
        }

    copies = int(np.sum(d_syn <= copy_tol))
    s_med, t_med = float(np.median(d_syn)), float(np.median(d_test))
    return {
        "synthetic": summary(d_syn),
        "real_test": summary(d_test),
        "median_ratio": s_med / t_med if t_med > 0 else float("nan"),
        "share_below_real_p5": float(np.mean(d_syn < p5)),
        "exact_copies": copies,
        "exact_copy_share": copies / len(syn),
        "n_train": len(train),
        "n_synthetic": len(syn),
        "n_real_test": len(test),
    }
