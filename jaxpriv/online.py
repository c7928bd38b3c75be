"""DySan's online phase: per-chunk selection among many sanitizers, and its analyses.

The inputs are per-variant, per-window correctness arrays computed elsewhere: ``V``
sanitizers (variants) applied to the ``N`` stream windows of the test users, ``ok_VxN`` in
{0, 1} (bool or float; a soft correctness in [0, 1] works too). Two sets of arrays play
different roles:

- the *selector's* arrays feed :func:`selection_scores`: the utility model's correctness
  against the calibration RF's labels (DySan(o)) or the true labels (DySan), and the
  correctness of the gender discriminator the device uses to choose;
- the *evaluation* arrays feed :func:`policy_outcome`: the honest attackers' and utility
  model's correctness against the true labels.

Each user's stream (windows sorted by time) is cut into chunks of ``p`` windows; a policy
picks one variant per chunk (:func:`select`): ``"fixed"`` (one variant for everybody),
``"personalized"`` (one per user) or ``"dynamic"`` (one per chunk, DySan). Table 1 (fewer
variants to choose from) is :func:`subset_table`; Appendix F (the set of variants a user
selects as a fingerprint) is :func:`selected_sets` + :func:`fingerprint_uniqueness`.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np

POLICIES: tuple[str, ...] = ("fixed", "personalized", "dynamic")


def chunk_ids(user_N: np.ndarray, order_N: np.ndarray, p: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut each user's stream into chunks of ``p`` consecutive windows.

    A user's stream is its windows sorted by ``order_N`` (any sortable key, e.g.
    ``recording * 1e6 + start``; equal keys keep their input order). Consecutive runs of
    ``p`` windows form a chunk, the user's last one possibly shorter. Chunks are numbered
    0..K-1 by user (in sorted user order), then time.

    Returns ``(chunk_N, chunk_user_K)``: the int32 chunk id of every window (input order) and
    the user of every chunk (same dtype as ``user_N``).
    """
    user_N = np.asarray(user_N)
    order_N = np.asarray(order_N)
    if user_N.ndim != 1 or user_N.shape != order_N.shape:
        raise ValueError(
            f"user and order must be 1-D of equal length; {user_N.shape}, {order_N.shape}"
        )
    if p < 1:
        raise ValueError(f"chunk length p must be >= 1; got {p}")
    n = len(user_N)
    if n == 0:
        return np.zeros(0, np.int32), user_N[:0]
    users_U, code_N = np.unique(user_N, return_inverse=True)
    idx_N = np.lexsort((order_N, code_N))  # stable: ties in order keep input order
    code_S = code_N[idx_N]  # S = windows in stream order
    pos_S = np.arange(n)
    new_user_S = np.r_[True, code_S[1:] != code_S[:-1]]
    # Position inside the user's stream: distance to the user's first window.
    rank_S = pos_S - np.maximum.accumulate(np.where(new_user_S, pos_S, 0))
    new_chunk_S = new_user_S | (rank_S % p == 0)
    chunk_S = np.cumsum(new_chunk_S) - 1
    chunk_N = np.empty(n, np.int32)
    chunk_N[idx_N] = chunk_S
    chunk_user_K = users_U[code_S[new_chunk_S]]
    return chunk_N, chunk_user_K


def chunk_accuracy(ok_VxN: np.ndarray, chunk_N: np.ndarray, num_chunks: int) -> np.ndarray:
    """Mean of ``ok`` per (variant, chunk): ``(V, N)`` -> ``(V, K)`` float64.

    Every chunk id must be in ``[0, num_chunks)`` and every chunk must hold a window (an empty
    chunk means the ids do not belong to these windows, so it raises).
    """
    ok_VxN = np.asarray(ok_VxN, np.float64)
    chunk_N = _check_chunks(chunk_N, num_chunks, ok_VxN)
    v = ok_VxN.shape[0]
    count_K = np.bincount(chunk_N, minlength=num_chunks)
    if np.any(count_K == 0):
        raise ValueError(f"chunks {np.flatnonzero(count_K == 0)[:10].tolist()} have no windows")
    # One bincount over (variant, chunk) pairs flattened to v * K + k.
    flat_VxN = np.arange(v)[:, None] * num_chunks + chunk_N[None, :]
    sum_VxK = np.bincount(flat_VxN.ravel(), ok_VxN.ravel(), minlength=v * num_chunks).reshape(
        v, num_chunks
    )
    return sum_VxK / count_K


def selection_scores(
    activity_ok_VxN: np.ndarray,
    gender_ok_VxN: np.ndarray,
    chunk_N: np.ndarray,
    num_chunks: int,
    *,
    x: float = 0.2,
    y: float = 0.8,
) -> np.ndarray:
    """DySan's trade-off per (variant, chunk): ``x * act_acc + y * (1 - |0.5 - gender_acc|)``.

    Higher is better: activity recognised, gender at chance (0.5); the code's x = 0.2, y = 0.8.
    """
    act_VxK = chunk_accuracy(activity_ok_VxN, chunk_N, num_chunks)
    gen_VxK = chunk_accuracy(gender_ok_VxN, chunk_N, num_chunks)
    if act_VxK.shape != gen_VxK.shape:
        raise ValueError(f"activity and gender arrays differ: {act_VxK.shape}, {gen_VxK.shape}")
    return x * act_VxK + y * (1.0 - np.abs(0.5 - gen_VxK))


def select(
    policy: str,
    score_VxK: np.ndarray,
    chunk_user_K: np.ndarray,
    *,
    available: np.ndarray | None = None,
) -> np.ndarray:
    """The variant index (int64) each chunk is released with, ``(K,)``.

    - ``"fixed"``: the variant with the best mean score over all chunks, for every chunk;
    - ``"personalized"``: per user, the best mean score over that user's chunks;
    - ``"dynamic"``: per chunk, the best score.

    ``available`` (bool ``(V,)``) restricts the choice to a subset (Table 1). Exact ties go to
    the lowest variant index (``argmax`` order), so results are deterministic.
    """
    score_VxK = np.asarray(score_VxK, np.float64)
    chunk_user_K = np.asarray(chunk_user_K)
    if score_VxK.ndim != 2 or chunk_user_K.shape != score_VxK.shape[1:]:
        raise ValueError(
            f"need score (V, K) and chunk users (K,); {score_VxK.shape}, {chunk_user_K.shape}"
        )
    v, k = score_VxK.shape
    if available is None:
        idx_A = np.arange(v)
    else:
        available = np.asarray(available, bool)
        if available.shape != (v,):
            raise ValueError(f"available must be bool ({v},); got {available.shape}")
        idx_A = np.flatnonzero(available)  # sorted, so ties still go to the lowest index
        if len(idx_A) == 0:
            raise ValueError("no variant available")
    s_AxK = score_VxK[idx_A]
    if policy == "fixed":
        return np.full(k, idx_A[np.argmax(s_AxK.mean(1))], np.int64)
    if policy == "personalized":
        users_U, code_K = np.unique(chunk_user_K, return_inverse=True)
        u = len(users_U)
        flat_AxK = np.arange(len(idx_A))[:, None] * u + code_K[None, :]
        sum_AxU = np.bincount(flat_AxK.ravel(), s_AxK.ravel(), minlength=len(idx_A) * u)
        mean_AxU = sum_AxU.reshape(len(idx_A), u) / np.bincount(code_K, minlength=u)
        return idx_A[np.argmax(mean_AxU, 0)][code_K].astype(np.int64)
    if policy == "dynamic":
        return idx_A[np.argmax(s_AxK, 0)].astype(np.int64)
    raise ValueError(f"unknown policy {policy!r}; choose from {POLICIES}")


def policy_outcome(
    choice_K: np.ndarray,
    chunk_N: np.ndarray,
    user_N: np.ndarray,
    activity_ok_VxN: np.ndarray,
    gender_ok_VxN: np.ndarray,
) -> dict[str, Any]:
    """What the evaluation models achieve on the released stream.

    Each window takes the correctness of the variant chosen for its chunk. Returns
    ``{"users": (U,) sorted ids, "activity_per_user": (U,), "gender_per_user": (U,),
    "activity": pooled mean over windows, "gender": pooled mean, "activity_ok": (N,),
    "gender_ok": (N,)}`` (per-window arrays in input order, for CDFs or bootstraps).
    """
    act_VxN = np.asarray(activity_ok_VxN, np.float64)
    gen_VxN = np.asarray(gender_ok_VxN, np.float64)
    choice_K = np.asarray(choice_K)
    user_N = np.asarray(user_N)
    if act_VxN.shape != gen_VxN.shape or user_N.shape != act_VxN.shape[1:]:
        raise ValueError(
            f"shapes differ: activity {act_VxN.shape}, gender {gen_VxN.shape}, users {user_N.shape}"
        )
    chunk_N = _check_chunks(chunk_N, len(choice_K), act_VxN)
    if np.any((choice_K < 0) | (choice_K >= act_VxN.shape[0])):
        raise ValueError(f"choices must index the {act_VxN.shape[0]} variants")
    variant_N = choice_K[chunk_N]
    window_N = np.arange(len(user_N))
    act_N = act_VxN[variant_N, window_N]
    gen_N = gen_VxN[variant_N, window_N]
    users_U, code_N = np.unique(user_N, return_inverse=True)
    count_U = np.bincount(code_N, minlength=len(users_U))
    return {
        "users": users_U,
        "activity_per_user": np.bincount(code_N, act_N, len(users_U)) / count_U,
        "gender_per_user": np.bincount(code_N, gen_N, len(users_U)) / count_U,
        "activity": float(act_N.mean()),
        "gender": float(gen_N.mean()),
        "activity_ok": act_N,
        "gender_ok": gen_N,
    }


def subset_table(
    sizes: Sequence[int],
    score_VxK: np.ndarray,
    chunk_user_K: np.ndarray,
    chunk_N: np.ndarray,
    user_N: np.ndarray,
    activity_ok_VxN: np.ndarray,
    gender_ok_VxN: np.ndarray,
    *,
    draws: int = 20,
    seed: int = 0,
    policy: str = "dynamic",
) -> list[dict[str, Any]]:
    """DySan Table 1: outcomes when only ``S`` of the ``V`` variants may be selected.

    For each size ``S``: ``draws`` uniform random subsets of ``S`` distinct variants (``S = V``:
    the single full set), ``policy`` selection within each, evaluated with
    :func:`policy_outcome`. The generator for size ``S`` is seeded with ``(seed, S)``, so a
    row does not depend on the other sizes asked for. Returns one dict per size:
    ``{"size", "draws", "activity", "activity_std", "gender", "gender_std", "subsets"}`` with
    the means and (population) stds over draws of the pooled accuracies and the drawn
    subsets ``(draws, S)``.
    """
    v = np.shape(score_VxK)[0]
    bad = [s for s in sizes if not 1 <= s <= v]
    if bad:
        raise ValueError(f"subset sizes {bad} are outside 1..{v} (the number of variants)")
    if draws < 1:
        raise ValueError(f"draws must be >= 1; got {draws}")
    rows = []
    for size in sizes:
        if size == v:
            subsets_DxS = np.arange(v)[None, :]
        else:
            rng = np.random.default_rng((seed, size))
            # Random permutations' first S entries: uniform S-subsets, sorted for display.
            perm_DxV = np.argsort(rng.random((draws, v)), axis=1)
            subsets_DxS = np.sort(perm_DxV[:, :size], axis=1)
        act_D, gen_D = [], []
        for subset_S in subsets_DxS:
            available_V = np.zeros(v, bool)
            available_V[subset_S] = True
            choice_K = select(policy, score_VxK, chunk_user_K, available=available_V)
            out = policy_outcome(choice_K, chunk_N, user_N, activity_ok_VxN, gender_ok_VxN)
            act_D.append(out["activity"])
            gen_D.append(out["gender"])
        rows.append(
            {
                "size": int(size),
                "draws": len(subsets_DxS),
                "activity": float(np.mean(act_D)),
                "activity_std": float(np.std(act_D)),
                "gender": float(np.mean(gen_D)),
                "gender_std": float(np.std(gen_D)),
                "subsets": subsets_DxS,
            }
        )
    return rows


def selected_sets(choice_K: np.ndarray, chunk_user_K: np.ndarray) -> dict[Any, frozenset[int]]:
    """The set of variants each user's chunks were released with (sorted user keys)."""
    choice_K = np.asarray(choice_K)
    chunk_user_K = np.asarray(chunk_user_K)
    if choice_K.shape != chunk_user_K.shape:
        raise ValueError(f"choice and chunk users differ: {choice_K.shape}, {chunk_user_K.shape}")
    users_U, code_K = np.unique(chunk_user_K, return_inverse=True)
    pairs_Px2 = np.unique(np.stack([code_K, choice_K.astype(np.int64)], 1), axis=0)
    sets: dict[Any, frozenset[int]] = {}
    for u, user in enumerate(users_U.tolist()):
        sets[user] = frozenset(pairs_Px2[pairs_Px2[:, 0] == u, 1].tolist())
    return sets


def fingerprint_uniqueness(
    sets: Mapping[Hashable, frozenset[int]],
    p_values: Sequence[int] = (1, 2, 3, 4, 5),
    *,
    draws: int = 100,
    seed: int = 0,
) -> dict[int, dict[str, float | int]]:
    """DySan Appendix F: how often a user's selected variants single the user out.

    For each ``p`` and each user whose set has at least ``p`` variants (others are skipped):
    ``draws`` random size-``p`` subsets of the user's set (each uniform over subsets, drawn
    independently, so repeats happen when few subsets exist); a subset is *unique* if no
    other user's set contains it. uniqueness(p) = mean over counted users of the share of
    unique subsets (NaN if nobody counts). Users are visited in the mapping's order with one
    generator per ``p`` seeded ``(seed, p)``. Returns ``{p: {"uniqueness", "users"}}``.
    """
    if draws < 1:
        raise ValueError(f"draws must be >= 1; got {draws}")
    users = list(sets)
    members = [np.array(sorted(sets[u]), np.int64) for u in users]
    v = 1 + max((int(m.max()) for m in members if len(m)), default=-1)
    if any(len(m) and m.min() < 0 for m in members):
        raise ValueError("variant indices must be >= 0")
    has_UxV = np.zeros((len(users), max(v, 1)), bool)
    for u, m in enumerate(members):
        has_UxV[u, m] = True
    result: dict[int, dict[str, float | int]] = {}
    for p in p_values:
        if p < 1:
            raise ValueError(f"fingerprint sizes must be >= 1; got {p}")
        rng = np.random.default_rng((seed, p))
        shares = []
        for u, m in enumerate(members):
            if len(m) < p:
                continue
            pick_DxP = np.argsort(rng.random((draws, len(m))), axis=1)[:, :p]
            subset_DxP = m[pick_DxP]
            # Which users hold every variant of each subset; the owner does not count.
            contains_UxD = has_UxV[:, subset_DxP].all(-1)
            contains_UxD[u] = False
            shares.append(np.mean(~contains_UxD.any(0)))
        result[int(p)] = {
            "uniqueness": float(np.mean(shares)) if shares else float("nan"),
            "users": len(shares),
        }
    return result


def _check_chunks(chunk_N: np.ndarray, num_chunks: int, ok_VxN: np.ndarray) -> np.ndarray:
    chunk_N = np.asarray(chunk_N)
    if ok_VxN.ndim != 2 or chunk_N.shape != ok_VxN.shape[1:]:
        raise ValueError(f"need ok (V, N) and chunk ids (N,); got {ok_VxN.shape}, {chunk_N.shape}")
    if not np.issubdtype(chunk_N.dtype, np.integer):
        raise ValueError(f"chunk ids must be integers; got {chunk_N.dtype}")
    if len(chunk_N) and (chunk_N.min() < 0 or chunk_N.max() >= num_chunks):
        raise ValueError(f"chunk ids must lie in [0, {num_chunks})")
    return chunk_N.astype(np.int64)
