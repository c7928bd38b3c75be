"""``dtw``: DTW distance between raw and released windows, and MSDA's DTW k-NN rank.

- distance: the DTW distance between each sampled held-out window and its own
  release (0 for raw), averaged, per transform;
- k-NN rank (needs a known-users split): each user's released held-out windows
  are compared with every user's raw training windows; the 0-based rank of the
  true user among the users sorted by distance, averaged over users (MSDA
  Table 2: 0 for raw data; higher = harder to re-identify).

Both sample windows (sizes in the config) because DTW is quadratic in the
window length; the samples are fixed by the seed.

The distance is dtaidistance's multivariate ("dependent") DTW, ``dtw_ndim``, in its C
code: the local cost of matching ``a[i]`` with ``b[j]`` is the squared Euclidean distance
between the two C-vectors, summed along the cheapest monotone warping path from
``(0, 0)`` to ``(T-1, S-1)``, and the result is the square root of that sum::

    D[i, j] = |a[i] - b[j]|^2 + min(D[i-1, j], D[i-1, j-1], D[i, j-1]),  dtw = sqrt(D[T-1, S-1])

``window`` is dtaidistance's Sakoe-Chiba band: cell ``(i, j)`` may be used only if
``i - max(0, T-S) - window < j < i + max(0, S-T) + window``, so ``window=1`` with equal
lengths allows only the diagonal (the Euclidean distance); ``None`` or ``0`` means no
band. dtaidistance replaced a hand-written JAX kernel (``jaxpriv/dtw.py``) that was no
faster without a band and 5x slower with one on CPU: see ``benchmarks/results/dtw.json``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from dtaidistance import dtw_ndim

from eval.context import EvalContext
from eval.evaluators import register
from eval.splits import KNOWN_USERS


def _check_window(window: int | None) -> int | None:
    """Normalise ``window``: None or 0 mean no band; otherwise a positive int."""
    if window is None:
        return None
    if isinstance(window, bool) or not isinstance(window, int | np.integer):
        raise ValueError(f"window must be None or a non-negative int, got {window!r}")
    if window < 0:
        raise ValueError(f"window must be None or a non-negative int, got {window}")
    return None if window == 0 else int(window)


def _series(x: Any, name: str) -> np.ndarray:
    """(N, T, C) windows as the C-contiguous float64 array dtaidistance's C code reads."""
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"{name} must have 3 dims (windows, time, channels), got {x.shape}")
    if x.shape[1] == 0:
        raise ValueError(f"{name} must have at least one time step, got {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{name} must be numeric, got dtype {x.dtype}")
    return np.ascontiguousarray(x, dtype=np.float64)


def dtw_paired(a_NxTxC: Any, b_NxSxC: Any, *, window: int | None = None) -> np.ndarray:
    """DTW distance between ``a[n]`` and ``b[n]`` for each n (pairs, not all pairs): (N,)."""
    a, b = _series(a_NxTxC, "a_NxTxC"), _series(b_NxSxC, "b_NxSxC")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[2]:
        raise ValueError(
            f"a_NxTxC and b_NxSxC must have the same windows and channels, "
            f"got {a.shape} and {b.shape}"
        )
    window = _check_window(window)
    pairs = zip(a, b, strict=True)
    return np.array([dtw_ndim.distance_fast(x, y, window=window) for x, y in pairs])


def dtw_cross(a_NxTxC: Any, b_MxSxC: Any, *, window: int | None = None) -> np.ndarray:
    """DTW distance of every ``a[n]`` to every ``b[m]``: an (N, M) float64 array.

    One call of ``dtw_ndim.distance_matrix_fast`` (C, OpenMP over pairs) restricted with
    ``block`` to the cross pairs of ``a + b``.
    """
    a, b = _series(a_NxTxC, "a_NxTxC"), _series(b_MxSxC, "b_MxSxC")
    if a.shape[2] != b.shape[2]:
        raise ValueError(
            f"a_NxTxC and b_MxSxC must have the same channels, got {a.shape} and {b.shape}"
        )
    N, M = a.shape[0], b.shape[0]
    if N == 0 or M == 0:
        return np.empty((N, M))
    both = np.concatenate([a, b]) if a.shape[1] == b.shape[1] else [*a, *b]
    full = dtw_ndim.distance_matrix_fast(
        both, window=_check_window(window), block=((0, N), (N, N + M)), parallel=True
    )
    return np.array(np.asarray(full)[:N, N:])


def dtw_user_ranks(
    query_NxTxC: Any,
    query_user_N: Any,
    reference_MxTxC: Any,
    reference_user_M: Any,
    *,
    window: int | None = None,
) -> dict:
    """MSDA's DTW k-NN re-identification rank (Malekzadeh et al., Table 2, "DTW mean Rank").

    The query windows are released (e.g. anonymised) data; the reference windows are the
    users' raw data, which the adversary holds. For a query user k and a reference user l,

        user_distance[k, l] = mean over k's query windows q of min over l's reference
                              windows r of dtw(q, r).

    Reference users are sorted by that distance, nearest first, and k's rank is its
    0-based position: 0 means k's own raw data is the nearest, i.e. re-identified. A tie
    with k counts against k (rank = number of other users l with distance <= k's own),
    so that an output that makes every user look alike cannot score as re-identified.

    Returns:
      ``users`` (U,) sorted query user ids; ``rank`` (U,) int; ``mean_rank`` and
      ``std_rank`` (population) floats; ``top1`` the share of users with rank 0;
      ``user_distance`` (U, L) with columns in the order of ``reference_users`` (L,)
      sorted ids; ``window`` as used.
    """
    query_user_N = np.asarray(query_user_N)
    reference_user_M = np.asarray(reference_user_M)
    query = _series(query_NxTxC, "query_NxTxC")
    reference = _series(reference_MxTxC, "reference_MxTxC")
    if query_user_N.shape != (query.shape[0],):
        raise ValueError(
            f"query_user_N must have shape ({query.shape[0]},), got {query_user_N.shape}"
        )
    if reference_user_M.shape != (reference.shape[0],):
        raise ValueError(
            f"reference_user_M must have shape ({reference.shape[0]},), "
            f"got {reference_user_M.shape}"
        )
    if query.shape[0] == 0 or reference.shape[0] == 0:
        raise ValueError("query_NxTxC and reference_MxTxC must each hold at least one window")
    for x, name in ((query, "query_NxTxC"), (reference, "reference_MxTxC")):
        if not np.all(np.isfinite(x)):  # a NaN distance would compare as "not nearer"
            raise ValueError(f"{name} contains non-finite values")
    users_U = np.unique(query_user_N)
    reference_users_L = np.unique(reference_user_M)
    missing = np.setdiff1d(users_U, reference_users_L)
    if missing.size:
        raise ValueError(
            f"query users {missing.tolist()} have no windows in reference_user_M: "
            "their rank is undefined"
        )

    dist_NxM = dtw_cross(query, reference, window=window)
    # Nearest window of each reference user, then the mean over each query user's windows.
    nearest_NxL = np.stack(
        [dist_NxM[:, reference_user_M == u].min(axis=1) for u in reference_users_L], axis=1
    )
    user_distance_UxL = np.stack([nearest_NxL[query_user_N == u].mean(axis=0) for u in users_U])
    own_col_U = np.searchsorted(reference_users_L, users_U)
    own_U = user_distance_UxL[np.arange(users_U.size), own_col_U]
    # Other users at least as near as k's own data; k itself is always <= own, so drop 1.
    rank_U = (user_distance_UxL <= own_U[:, None]).sum(axis=1) - 1
    return {
        "users": users_U,
        "rank": rank_U.astype(np.int64),
        "mean_rank": float(rank_U.mean()),
        "std_rank": float(rank_U.std()),
        "top1": float(np.mean(rank_U == 0)),
        "user_distance": user_distance_UxL,
        "reference_users": reference_users_L,
        "window": _check_window(window),
    }


def _sample_per_user(user_N: np.ndarray, per_user: int, rng: np.random.Generator) -> np.ndarray:
    picks = []
    for u in np.unique(user_N):
        rows = np.flatnonzero(user_N == u)
        picks.append(rng.choice(rows, size=min(per_user, len(rows)), replace=False))
    return np.sort(np.concatenate(picks))


@register("dtw")
def dtw(ctx: EvalContext) -> dict[str, Any]:
    cfg = ctx.config
    rng = np.random.default_rng(ctx.seed)
    split_name, split = next(iter(ctx.splits.items()))
    n = split.test.x.shape[0]
    rows = np.sort(rng.choice(n, size=min(cfg.dtw_pairs, n), replace=False))
    raw = split.released_test[0][rows]
    out: dict[str, Any] = {"distance": {"split": split_name, "windows": len(rows)}}
    with ctx.step(f"DTW raw vs released, {len(rows)} windows x {len(ctx.transforms)} transforms"):
        out["distance"]["per_transform"] = {
            name: float(np.mean(dtw_paired(raw, released[rows], window=cfg.dtw_window)))
            for name, released in zip(ctx.transforms.names, split.released_test, strict=True)
        }
    known = [name for name in ctx.splits if name in KNOWN_USERS]
    if not known:
        out["rank"] = {"skipped": "needs a known-users split (--splits trial or time)"}
        return out
    split_name, split = known[0], ctx.splits[known[0]]
    q = _sample_per_user(split.test.subject, cfg.dtw_queries_per_user, rng)
    r = _sample_per_user(split.train.subject, cfg.dtw_references_per_user, rng)
    query_users = split.test.subject[q]
    known_users = np.isin(query_users, split.train.subject[r])
    q, query_users = q[known_users], query_users[known_users]
    reference = split.released_train[0][r]
    ranks = {}
    with ctx.step(f"DTW k-NN rank, {len(q)} x {len(r)} windows x {len(ctx.transforms)} transforms"):
        for name, released in zip(ctx.transforms.names, split.released_test, strict=True):
            res = dtw_user_ranks(
                released[q], query_users, reference, split.train.subject[r], window=cfg.dtw_window
            )
            ranks[name] = {"mean_rank": float(res["mean_rank"]), "top1": float(res["top1"])}
    out["rank"] = {
        "split": split_name,
        "threat": split.threat,
        "users": len(np.unique(query_users)),
        "queries": len(q),
        "references": len(r),
        "per_transform": ranks,
    }
    return out
