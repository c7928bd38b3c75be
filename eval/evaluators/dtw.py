"""``dtw``: DTW distance between raw and released windows, and MSDA's DTW k-NN rank.

- distance: the DTW distance between each sampled held-out window and its own
  release (0 for raw), averaged, per transform;
- k-NN rank (needs a known-users split): each user's released held-out windows
  are compared with every user's raw training windows; the 0-based rank of the
  true user among the users sorted by distance, averaged over users (MSDA
  Table 2: 0 for raw data; higher = harder to re-identify).

Both sample windows (sizes in the config) because DTW is quadratic in the
window length; the samples are fixed by the seed.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import numpy as np

from eval.context import EvalContext
from eval.evaluators import register
from jaxpriv.dtw import dtw_distance, dtw_user_ranks


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
    paired = jax.jit(jax.vmap(functools.partial(dtw_distance, window=cfg.dtw_window)))
    raw = split.released_test[0][rows]
    out: dict[str, Any] = {"distance": {"split": split_name, "windows": len(rows)}}
    with ctx.step(f"DTW raw vs released, {len(rows)} windows x {len(ctx.transforms)} transforms"):
        out["distance"]["per_transform"] = {
            name: float(np.mean(np.asarray(paired(raw, released[rows]))))
            for name, released in zip(ctx.transforms.names, split.released_test, strict=True)
        }
    known = [name for name in ctx.splits if name != "subject"]
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
