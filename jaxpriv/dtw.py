"""Dynamic time warping (DTW) in JAX, and MSDA's DTW k-NN re-identification rank.

The distance is the multivariate ("dependent") DTW of ``dtaidistance.dtw_ndim.distance``:
the local cost of matching ``a[i]`` with ``b[j]`` is the squared Euclidean distance between
the two C-vectors, costs are summed along the cheapest monotone warping path from
``(0, 0)`` to ``(T-1, S-1)`` (steps: down, right, diagonal; no penalty), and the result is
the square root of that sum::

    D[i, j] = |a[i] - b[j]|^2 + min(D[i-1, j], D[i-1, j-1], D[i, j-1]),  dtw = sqrt(D[T-1, S-1])

``window`` is dtaidistance's Sakoe-Chiba band: cell ``(i, j)`` may be used only if
``i - max(0, T-S) - window < j < i + max(0, S-T) + window``. So ``window=1`` with equal
lengths allows only the diagonal (Euclidean distance), the band widens by ``|T - S|`` on
the side of the longer series (a path always exists), and ``window=None`` or ``0`` means
no band (dtaidistance's documented meaning of 0; its C code agrees, its pure-Python code
returns inf for 0).

How it is computed: cells on one anti-diagonal ``k = i + j`` depend only on the two
previous anti-diagonals, so a ``lax.scan`` over the ``T + S - 1`` anti-diagonals updates
one whole diagonal as a vector per step. The kernel computes all local costs first,
skews them so that each anti-diagonal is one slice, and keeps the batch of pairs in the
minor (contiguous) axis, a few dozen pairs per scan so that the costs stay in cache.
Measured on 2 shared CPU cores with 125 x 6 windows, in pairs/s. One run, 1024 pairs:
``jax.vmap`` of a per-pair anti-diagonal scan 3.3k, ``jax.vmap`` of a scan over rows with
a cumsum/cummin row update 2.9k, a batch-minor anti-diagonal scan that computes the costs
at each step 6.3k. Two runs, 2048 pairs: that scan in chunks of 512 pairs 8.6k-11.4k,
this kernel (costs first) in chunks of 32 pairs 19k-21k. ``scan(unroll=4)`` was slower.
Hence ``dtw_pairwise`` calls the batched kernel rather than ``jax.vmap(dtw_distance)``
(which still works, more slowly). With a narrow ``window`` the kernel still computes the
whole grid and masks it, unlike dtaidistance, which visits only the band.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

# Bytes of skewed local costs per kernel call. 32 pairs of 125 x 125 (4 MiB) ran 1.1x
# faster than 128 pairs, 1.4x faster than 256 and 1.7x faster than 16 (2-core EPYC).
_CHUNK_BYTES = 4 << 20


def _check_window(window: int | None) -> int | None:
    """Normalise ``window``: None or 0 mean no band; otherwise a positive int."""
    if window is None:
        return None
    if isinstance(window, bool) or not isinstance(window, int | np.integer):
        raise ValueError(f"window must be None or a non-negative int, got {window!r}")
    if window < 0:
        raise ValueError(f"window must be None or a non-negative int, got {window}")
    return None if window == 0 else int(window)


def _band_mask(T: int, S: int, window: int | None) -> np.ndarray:
    """Which (anti-diagonal k, row i) slots are real cells ``(i, j = k - i)`` of the band.

    Static (numpy), so it is a constant in the compiled program.
    """
    k_Kx1 = np.arange(T + S - 1)[:, None]
    i_1xT = np.arange(T)[None, :]
    j_KxT = k_Kx1 - i_1xT
    ok_KxT = (j_KxT >= 0) & (j_KxT < S)
    if window is not None:  # dtaidistance's band, widened by |T - S| on the longer side
        ok_KxT &= j_KxT > i_1xT - max(0, T - S) - window
        ok_KxT &= j_KxT < i_1xT + max(0, S - T) + window
    return ok_KxT


def _as_float(x: jax.Array | np.ndarray) -> jax.Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def _dtw_chunk(a_BxTxC: jax.Array, b_BxSxC: jax.Array, window: int | None) -> jax.Array:
    """The kernel: DTW of B pairs at once; holds T * (S + T) costs per pair in memory."""
    B, T, _ = a_BxTxC.shape
    S = b_BxSxC.shape[1]
    inf = jnp.array(jnp.inf, a_BxTxC.dtype)
    # Batch last: every step then works on contiguous (T, B) slabs, which vectorise well.
    a_TxCxB = jnp.transpose(a_BxTxC, (1, 2, 0))
    b_SxCxB = jnp.transpose(b_BxSxC, (1, 2, 0))
    # All local costs up front, computed once per cell: cheaper than recomputing them from
    # the samples at every step (measured 1.9x), since a step then reads T values per pair.
    cost_TxSxB = jnp.sum(jnp.square(a_TxCxB[:, None] - b_SxCxB[None]), axis=2)
    # Skew without a gather: pad each row by T and re-read the buffer with rows of S + T - 1,
    # so row i moves i places right, skew[i, i + j] = cost[i, j], and column k of the
    # result is anti-diagonal k. Slots that are not cells of the band are masked to inf.
    pad_TxWxB = jnp.pad(cost_TxSxB, ((0, 0), (0, T), (0, 0)))
    skew_TxKxB = pad_TxWxB.reshape(T * (S + T), B)[: T * (S + T - 1)].reshape(T, S + T - 1, B)
    ok_KxT = jnp.asarray(_band_mask(T, S, window))
    cost_KxTxB = jnp.where(ok_KxT[:, :, None], jnp.transpose(skew_TxKxB, (1, 0, 2)), inf)

    def step(carry, cost_TxB):
        # d1/d2: accumulated cost on diagonals k-1 and k-2; slot 0 is the virtual row i = -1.
        d1_T1xB, d2_T1xB = carry
        # (i-1, j) and (i, j-1) lie on diagonal k-1; (i-1, j-1) on diagonal k-2.
        best_TxB = jnp.minimum(jnp.minimum(d1_T1xB[:-1], d2_T1xB[:-1]), d1_T1xB[1:])
        d_T1xB = jnp.concatenate([jnp.full((1, B), inf), cost_TxB + best_TxB])
        return (d_T1xB, d1_T1xB), None

    d1_T1xB = jnp.full((T + 1, B), inf)
    d2_T1xB = d1_T1xB.at[0].set(0)  # D[-1, -1] = 0 starts every path at (0, 0)
    (d_T1xB, _), _ = lax.scan(step, (d1_T1xB, d2_T1xB), cost_KxTxB)
    return jnp.sqrt(d_T1xB[T])


def _chunk_size(T: int, S: int) -> int:
    """Pairs per kernel call: a power of two whose skewed costs stay near cache size."""
    per_pair = T * (S + T) * 4
    return int(np.clip(2 ** math.floor(math.log2(max(1, _CHUNK_BYTES // per_pair))), 1, 1024))


def dtw_distance_batch(
    a_BxTxC: jax.Array | np.ndarray,
    b_BxSxC: jax.Array | np.ndarray,
    *,
    window: int | None = None,
) -> jax.Array:
    """DTW distance between ``a[n]`` and ``b[n]`` for each n (pairs, not all pairs): (B,).

    The batched kernel behind ``dtw_distance`` and ``dtw_pairwise``; jit- and
    vmap-compatible (``window`` must be static). Large batches run in chunks of a few
    dozen pairs (``lax.map``), so memory grows with B only through the inputs.
    """
    window = _check_window(window)
    a_BxTxC, b_BxSxC = _as_float(a_BxTxC), _as_float(b_BxSxC)
    if a_BxTxC.ndim != 3:
        raise ValueError(f"a_BxTxC must have 3 dims (B, T, C), got shape {a_BxTxC.shape}")
    if b_BxSxC.ndim != 3:
        raise ValueError(f"b_BxSxC must have 3 dims (B, S, C), got shape {b_BxSxC.shape}")
    B, T, C = a_BxTxC.shape
    if b_BxSxC.shape[0] != B or b_BxSxC.shape[2] != C:
        raise ValueError(
            f"b_BxSxC must have the batch size and channels of a_BxTxC {a_BxTxC.shape}, "
            f"got shape {b_BxSxC.shape}"
        )
    S = b_BxSxC.shape[1]
    if T == 0 or S == 0:
        raise ValueError(f"series must not be empty, got lengths T={T}, S={S}")
    dtype = jnp.result_type(a_BxTxC, b_BxSxC)
    a_BxTxC, b_BxSxC = a_BxTxC.astype(dtype), b_BxSxC.astype(dtype)
    chunk = _chunk_size(T, S)
    if chunk >= B:  # one kernel call
        return _dtw_chunk(a_BxTxC, b_BxSxC, window)
    # Pad to whole chunks (the padding pairs are computed and dropped) and loop over them.
    n_chunks = -(-B // chunk)
    pad = ((0, n_chunks * chunk - B), (0, 0), (0, 0))
    a_KxRxTxC = jnp.pad(a_BxTxC, pad).reshape(n_chunks, chunk, T, C)
    b_KxRxSxC = jnp.pad(b_BxSxC, pad).reshape(n_chunks, chunk, S, C)
    dist_KxR = lax.map(lambda ab: _dtw_chunk(*ab, window), (a_KxRxTxC, b_KxRxSxC))
    return dist_KxR.reshape(-1)[:B]


@functools.partial(jax.jit, static_argnames=("window",))
def dtw_distance(
    a_TxC: jax.Array | np.ndarray,
    b_SxC: jax.Array | np.ndarray,
    *,
    window: int | None = None,
) -> jax.Array:
    """DTW distance between two multivariate series, as ``dtaidistance.dtw_ndim.distance``.

    Args:
      a_TxC: first series, T time steps of C channels (a 1-D series counts as C = 1).
      b_SxC: second series; S may differ from T, C may not.
      window: Sakoe-Chiba band as dtaidistance defines it (see the module docstring);
        None or 0 for no band. Static under jit.

    Returns:
      A scalar: sqrt of the summed squared Euclidean costs along the best warping path.

    For many pairs prefer ``dtw_pairwise`` or ``dtw_distance_batch``: ``jax.vmap`` of this
    function is correct but puts the batch in the major axis and, unchunked, holds the
    T x (S + T) costs of every pair at once.
    """
    a_TxC, b_SxC = _as_float(a_TxC), _as_float(b_SxC)
    a_TxC = a_TxC[:, None] if a_TxC.ndim == 1 else a_TxC
    b_SxC = b_SxC[:, None] if b_SxC.ndim == 1 else b_SxC
    if a_TxC.ndim != 2:
        raise ValueError(f"a_TxC must have shape (T, C) or (T,), got {a_TxC.shape}")
    if b_SxC.ndim != 2:
        raise ValueError(f"b_SxC must have shape (S, C) or (S,), got {b_SxC.shape}")
    if a_TxC.shape[1] != b_SxC.shape[1]:
        raise ValueError(
            f"a_TxC and b_SxC must have the same channels, got {a_TxC.shape} and {b_SxC.shape}"
        )
    return dtw_distance_batch(a_TxC[None], b_SxC[None], window=window)[0]


@functools.partial(jax.jit, static_argnames=("window",))
def _pairwise_block(
    a_NxTxC: jax.Array,
    b_MxSxC: jax.Array,
    ia_P: jax.Array,
    ib_P: jax.Array,
    *,
    window: int | None,
) -> jax.Array:
    """Distances of the P pairs ``(a[ia], b[ib])``."""
    return dtw_distance_batch(a_NxTxC[ia_P], b_MxSxC[ib_P], window=window)


def _check_batch(x: np.ndarray | jax.Array, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError(f"{name} must have 3 dims (windows, time, channels), got {x.shape}")
    if x.shape[1] == 0:
        raise ValueError(f"{name} must have at least one time step, got {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{name} must be numeric, got dtype {x.dtype}")
    return x.astype(np.float32, copy=False)


def dtw_pairwise(
    a_NxTxC: np.ndarray | jax.Array,
    b_MxSxC: np.ndarray | jax.Array,
    *,
    window: int | None = None,
    block: int = 4096,
) -> np.ndarray:
    """DTW distance of every ``a[n]`` to every ``b[m]``: an (N, M) float32 array.

    Pairs are computed in blocks of at most ``block`` pairs (padded to a fixed size, so
    one compilation serves every block of a call), so memory stays bounded for any N * M.
    ``window`` as in ``dtw_distance``. T and S may differ; C must match.
    """
    a_NxTxC = _check_batch(a_NxTxC, "a_NxTxC")
    b_MxSxC = _check_batch(b_MxSxC, "b_MxSxC")
    if a_NxTxC.shape[2] != b_MxSxC.shape[2]:
        raise ValueError(
            f"a_NxTxC and b_MxSxC must have the same channels, "
            f"got {a_NxTxC.shape} and {b_MxSxC.shape}"
        )
    if isinstance(block, bool) or not isinstance(block, int | np.integer) or block < 1:
        raise ValueError(f"block must be a positive int, got {block!r}")
    window = _check_window(window)
    N, M = a_NxTxC.shape[0], b_MxSxC.shape[0]
    n_pairs = N * M
    dist_P = np.empty(n_pairs, np.float32)
    if n_pairs == 0:
        return dist_P.reshape(N, M)

    pairs_per_block = min(int(block), n_pairs)
    a_dev, b_dev = jnp.asarray(a_NxTxC), jnp.asarray(b_MxSxC)

    def launch(start: int) -> jax.Array:
        # The last block repeats the last pair instead of shrinking: same shape, no recompile.
        p_P = np.minimum(np.arange(start, start + pairs_per_block), n_pairs - 1)
        ia_P, ib_P = (p_P // M).astype(np.int32), (p_P % M).astype(np.int32)
        return _pairwise_block(a_dev, b_dev, ia_P, ib_P, window=window)

    starts = range(0, n_pairs, pairs_per_block)
    pending: tuple[int, jax.Array] | None = None
    for start in starts:
        # Dispatch the next block before waiting for the previous one (JAX is async).
        current = (start, launch(start))
        if pending is not None:
            s, out = pending
            dist_P[s : s + pairs_per_block] = np.asarray(out)[: n_pairs - s]
        pending = current
    s, out = pending
    dist_P[s:] = np.asarray(out)[: n_pairs - s]
    return dist_P.reshape(N, M)


def dtw_user_ranks(
    query_NxTxC: np.ndarray | jax.Array,
    query_user_N: np.ndarray,
    reference_MxTxC: np.ndarray | jax.Array,
    reference_user_M: np.ndarray,
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
    query = _check_batch(query_NxTxC, "query_NxTxC")
    reference = _check_batch(reference_MxTxC, "reference_MxTxC")
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

    dist_NxM = dtw_pairwise(query, reference, window=window)
    # Nearest window of each reference user, then the mean over each query user's windows.
    nearest_NxL = np.stack(
        [dist_NxM[:, reference_user_M == u].min(axis=1) for u in reference_users_L], axis=1
    )
    user_distance_UxL = np.stack(
        [nearest_NxL[query_user_N == u].mean(axis=0) for u in users_U]
    ).astype(np.float64)
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
