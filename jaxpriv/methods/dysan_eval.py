"""Held-out evaluation of every DySan variant at once (the jointly trained nets).

For each variant: sanitize the held-out windows with its sanitizer, then
measure the activity accuracy of its predictor and the gender accuracy of
its discriminator on them (the authors' networks also see the reconstructed
attributes, the discriminator the true activity), plus the distortion. The shared evaluation
harness (eval/) adds honest attackers retrained on released data; this is
the quick check printed at the end of training.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpriv import losses
from jaxpriv.data.task import TaskData
from jaxpriv.methods.dysan import DysanConfig, dysan_arrays, make_nets
from jaxpriv.methods.dysan_inputs import conditioning
from jaxpriv.methods.dysan_steps import activity_input
from jaxpriv.sweep import VariantMesh, sweep_jit

EVAL_CHUNK = 256  # windows per evaluation step: bounds memory for many variants


def evaluate_variants(
    cfg: DysanConfig, vmesh: VariantMesh, state: Any, hp: Any, data: TaskData, seed: int = 0
) -> dict[str, np.ndarray]:
    """Per-variant metrics on held-out windows, arrays of shape ``(num_variants,)``."""
    nets = make_nets(cfg)

    def chunk_counts(state, hp, batch, key):
        del hp
        cond = conditioning(cfg, batch["attributes"], activity_input(cfg, state, batch), key)
        release = nets.sanitize(state["san"], batch["x"], cond)
        act = nets.predict(state["pred"], release).argmax(-1)
        one_hot = jax.nn.one_hot(batch["activity"], cfg.num_activities)
        gen = nets.discriminate(state["disc"], release, one_hot).argmax(-1)
        w = batch["weight"]
        return {
            "activity_correct": jnp.sum((act == batch["activity"]) * w),
            "gender_correct": jnp.sum((gen == batch["gender"]) * w),
            "l1": losses.l1_per_channel(batch["x"], release.x_hat, w) * jnp.sum(w),
            "count": jnp.sum(w),
        }

    counts_fn = sweep_jit(chunk_counts, vmesh, data_argnums=(2, 3))
    test = dysan_arrays(data)[1]
    n = test["x"].shape[0]
    totals: dict[str, np.ndarray] = {}
    for start in range(0, n, EVAL_CHUNK):
        idx = np.arange(start, start + EVAL_CHUNK)
        weight = (idx < n).astype(np.float32)
        idx = np.minimum(idx, n - 1)  # pad the last chunk; padded rows weigh 0
        batch = {k: v[idx] for k, v in test.items()} | {"weight": weight}
        key = jax.random.fold_in(jax.random.key(seed), start)
        out = counts_fn(state, hp, vmesh.replicate(batch), key)
        for k, v in out.items():
            totals[k] = totals.get(k, 0) + np.asarray(v)[: vmesh.num_variants]
    count = totals["count"]
    alive = np.asarray(state["alive"])[: vmesh.num_variants]
    return {
        "activity_acc": totals["activity_correct"] / count,
        "gender_acc": totals["gender_correct"] / count,
        "distortion": totals["l1"] / count,
        "alive": alive,
    }
