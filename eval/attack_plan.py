"""The staged plan: where the expensive attacker family is spent.

Every transform gets the cheap families (``cnn``, ``rf``). A staged family
(``strong``) is trained, per split and privacy task, for:

- **raw data** (index 0): its strength, the reference every verdict is read against;
- the released transforms **on or near the privacy-utility front** drawn by the
  cheap attackers: utility = the best cheap adaptive activity accuracy on the
  same split, leakage = the best cheap adaptive privacy gap ``|accuracy - chance|``.
  :func:`front_distance` says how far each transform is from that front; by
  default every transform within ``front_margin`` of it, or the
  ``strong_transforms`` nearest when that is set;
- except the transforms (raw included) the cheap attackers already judge **at the
  ceiling**: a privacy gap within ``saturation`` of the largest possible one
  (accuracy 1 for gender), where a stronger attacker could add at most
  ``saturation`` and no verdict can change (on known users nearly every release
  of gender sits there);
- the sanitizers **the online policies release** (DySan runs, gender on held-out
  users): the fixed and personalized choices, and the dynamic policy's choices
  that release at least ``policy_min_share`` of the stream's chunks, chosen as the
  online evaluator chooses them (against the cheap CNN).

``--attackers all`` trains it for every transform, ``--attackers cheap`` for none.
Static attackers are one model on raw data: the staged family judges every
transform there.
"""

from __future__ import annotations

from typing import Any

import numpy as np

PLANS = ("staged", "all", "cheap")


def chance_level(task: str, y_N: np.ndarray) -> float:
    """The accuracy of a guess that ignores the data: 1/2 for gender, else the majority
    class's share (what a constant guess scores)."""
    if task == "gender":
        return 0.5
    return float(np.bincount(y_N).max() / len(y_N)) if len(y_N) else float("nan")


def front_distance(utility_V: np.ndarray, leakage_V: np.ndarray) -> np.ndarray:
    """How far each point is from the privacy-utility front (more utility, less leakage).

    The front is the set of points no other point dominates (at least as useful and as
    private, better in one). ``d[v] = min over front points f of max(utility[f] -
    utility[v], leakage[v] - leakage[f], 0)``: the smallest improvement of both scores that
    would bring ``v`` level with a front point. 0 on the front itself.
    """
    u = np.asarray(utility_V, np.float64)
    leak = np.asarray(leakage_V, np.float64)
    geq = (u[:, None] >= u[None, :]) & (leak[:, None] <= leak[None, :])  # [a, b]: a >= b
    strict = (u[:, None] > u[None, :]) | (leak[:, None] < leak[None, :])
    front = ~(geq & strict).any(axis=0)
    gap_VxF = np.maximum(u[front][None, :] - u[:, None], leak[:, None] - leak[front][None, :])
    return np.maximum(gap_VxF.min(axis=1), 0.0)


def near_front(
    utility_V: np.ndarray,
    leakage_V: np.ndarray,
    *,
    margin: float,
    count: int | None = None,
) -> np.ndarray:
    """Indices of the points within ``margin`` of the front, or (``count``) the ``count``
    nearest to it (ties: less leakage first), nearest first."""
    d = front_distance(utility_V, leakage_V)
    order = np.lexsort((np.asarray(leakage_V), d))
    if count is not None:
        return order[: max(count, 0)]
    return order[d[order] <= margin + 1e-12]


def policy_sanitizers(
    act_ok_VxN: np.ndarray,
    gender_ok_VxN: np.ndarray,
    chunk_N: np.ndarray,
    chunk_user_K: np.ndarray,
    *,
    weights: tuple[float, float],
    min_share: float,
) -> dict[str, list[int]]:
    """Sanitizer indices (0 = the first sanitizer) each online policy releases, chosen as
    the online evaluator does: the fixed and personalized choices, and the dynamic
    policy's choices that release at least ``min_share`` of the chunks."""
    from jaxpriv import online

    score = online.selection_scores(
        act_ok_VxN, gender_ok_VxN, chunk_N, len(chunk_user_K), x=weights[0], y=weights[1]
    )
    out = {}
    for policy in ("fixed", "personalized", "dynamic"):
        choice = online.select(policy, score, chunk_user_K)
        picks, counts = np.unique(choice, return_counts=True)
        keep = counts >= min_share * len(choice) if policy == "dynamic" else counts > 0
        out[policy] = sorted(int(p) for p in picks[keep])
    return out


def max_gap(chance: float) -> float:
    """The largest privacy gap ``|accuracy - chance|`` any attacker can reach."""
    return max(1.0 - chance, chance)


def staged_selection(
    num_transforms: int,
    utility_V: np.ndarray,
    leakage_V: np.ndarray,
    *,
    margin: float,
    count: int | None,
    policies: dict[str, list[int]] | None = None,
    ceiling: float | None = None,
    saturation: float = 0.0,
) -> tuple[np.ndarray, dict[str, Any]]:
    """``(selected_V, why)``: raw, the released transforms near the front (by the cheap
    attackers' scores, raw left out), and the policies' sanitizers (index + 1), less those
    whose cheap leakage is within ``saturation`` of ``ceiling`` (the largest possible gap:
    :func:`max_gap`; None: no ceiling), listed under ``why["saturated"]``."""
    selected = np.zeros(num_transforms, bool)
    selected[0] = True
    released = np.arange(1, num_transforms)
    utility = np.asarray(utility_V)[1:]
    front = released[near_front(utility, np.asarray(leakage_V)[1:], margin=margin, count=count)]
    selected[front] = True
    why: dict[str, Any] = {
        "raw": [0],
        "front": [int(v) for v in front],
        "front_distance": [0.0]
        + [float(d) for d in front_distance(utility, np.asarray(leakage_V)[1:])],
    }
    for policy, picks in (policies or {}).items():
        idx = [p + 1 for p in picks]
        selected[idx] = True
        why[f"policy {policy}"] = idx
    if ceiling is not None:
        at_ceiling = selected & (np.asarray(leakage_V) >= ceiling - saturation - 1e-12)
        selected &= ~at_ceiling
        why["saturated"] = [int(v) for v in np.flatnonzero(at_ceiling)]
    return selected, why
