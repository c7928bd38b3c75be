"""``distortion``: how far each release is from the raw windows (DySan Figure 4).

On the first split's held-out windows: the MSE, the mean absolute error, and
the relative error of each window statistic (mean, std, skewness, kurtosis,
energy), per transform.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from eval.context import EvalContext
from eval.evaluators import register
from jaxpriv import metrics


@register("distortion")
def distortion(ctx: EvalContext) -> dict[str, Any]:
    split_name, split = next(iter(ctx.splits.items()))
    raw = split.released_test[0]
    per_transform = {}
    with ctx.step(f"distortion of {len(ctx.transforms)} transforms"):
        for name, released in zip(ctx.transforms.names, split.released_test, strict=True):
            errors = metrics.relative_errors(raw, released)
            errors["mae"] = float(np.mean(np.abs(released - raw)))
            per_transform[name] = {k: float(v) for k, v in errors.items()}
    return {"split": split_name, "windows": int(raw.shape[0]), "per_transform": per_transform}
