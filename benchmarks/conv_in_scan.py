"""Why jaxpriv has its own Conv1D: training steps inside ``lax.scan``, nn.Conv vs Conv1D.

Times the same CNN training step (the calibration/attacker CNN shape: batch
128 of 128 x 6 windows, convs 32-64-64 with kernel 5, Adam) three ways:
inside a ``lax.scan`` of S steps with ``flax.linen.Conv``, the same with
``jaxpriv.nn.layers.Conv1D`` (im2col + matmul), and a plain jitted step
called from Python (no loop in the program) for reference.

    python benchmarks/conv_in_scan.py [--steps 20] [--repeats 3] [--out FILE]

Writes the record ``benchmarks/results/conv_in_scan.json`` (``jaxpriv.records``).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxpriv.nn.layers import Conv1D
from jaxpriv.records import load_average, write_record


class CNN(nn.Module):
    im2col: bool

    @nn.compact
    def __call__(self, x):
        h = x
        for i, f in enumerate((32, 64, 64)):
            conv = Conv1D(f, 5) if self.im2col else nn.Conv(f, (5,))
            h = nn.relu(conv(h))
            if i < 2:
                h = nn.max_pool(h, (2,), strides=(2,))
        h = jnp.concatenate([h.mean(1), h.max(1)], -1)
        return nn.Dense(4)(nn.relu(nn.Dense(64)(h)))


def timed(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(fn(*args))
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", default="benchmarks/results/conv_in_scan.json")
    args = parser.parse_args()
    load_at_start = load_average()
    rows = []
    rng = np.random.default_rng(0)
    X = jnp.asarray(rng.normal(size=(4096, 128, 6)).astype(np.float32))
    Y = jnp.asarray(rng.integers(0, 4, 4096))
    opt = optax.adam(1e-3)
    print(f"device: {jax.devices()[0].device_kind}, {os.cpu_count()} cores, {platform.machine()}")
    print("| layer | in lax.scan (ms/step) | jitted step from Python (ms/step) |\n|---|---|---|")
    for im2col in (False, True):
        model = CNN(im2col)
        params = model.init(jax.random.key(0), X[:2])["params"]

        def loss(p, x, y, model=model):
            logits = model.apply({"params": p}, x)
            return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

        def step(carry, key, loss=loss):
            p, o = carry
            idx = jax.random.randint(key, (128,), 0, X.shape[0])
            grads = jax.grad(loss)(p, X[idx], Y[idx])
            updates, o = opt.update(grads, o, p)
            return (optax.apply_updates(p, updates), o), None

        def scanned(p, key, step=step):
            carry = (p, opt.init(p))
            return jax.lax.scan(step, carry, jax.random.split(key, args.steps))[0][0]

        in_scan = timed(jax.jit(scanned), params, jax.random.key(1), repeats=args.repeats)
        one = jax.jit(lambda c, k, step=step: step(c, k)[0])
        carry = (params, opt.init(params))

        def loop(c, one=one):
            for k in jax.random.split(jax.random.key(2), args.steps):
                c = one(c, k)
            return c

        from_python = timed(loop, carry, repeats=args.repeats)
        name = "jaxpriv Conv1D (im2col)" if im2col else "flax.linen.Conv"
        print(
            f"| {name} | {1e3 * in_scan / args.steps:.1f} | {1e3 * from_python / args.steps:.1f} |"
        )
        rows.append(
            {
                "layer": name,
                "in_scan_ms_per_step": 1e3 * in_scan / args.steps,
                "from_python_ms_per_step": 1e3 * from_python / args.steps,
            }
        )
    results = {"steps": args.steps, "repeats": args.repeats, "batch": 128, "rows": rows}
    results["scan_speedup_conv1d"] = rows[0]["in_scan_ms_per_step"] / rows[1]["in_scan_ms_per_step"]
    write_record(
        args.out,
        results,
        command=["python3", "benchmarks/conv_in_scan.py", *sys.argv[1:]],
        load_at_start=load_at_start,
    )
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
