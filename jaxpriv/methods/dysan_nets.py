"""DySan's three networks behind one interface, for either architecture.

:func:`make_nets` returns a :class:`DysanNets` whose functions are pure and the same
for ``arch="original"`` (the authors' networks, :mod:`jaxpriv.nn.dysan_original`) and
``arch="light"`` (jaxpriv's, :mod:`jaxpriv.nn.dysan`): the light networks simply
ignore what they do not use (the reconstructed attributes, the activity input of the
discriminator).

- ``sanitize(san_params, x, cond) -> Release(x_hat, activity, attributes)``: the
  reconstructed activity (logits) and attributes are ``None`` where the network has
  none. ``encode``/``decode`` split it before the transposed convolutions.
- ``predict(pred_vars, release, train, key)`` and
  ``discriminate(disc_vars, release, activity_BxA, train, key)``: logits, plus the
  batch-statistics updates in training mode (``key``: dropout).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from jaxpriv.methods.dysan_config import DysanConfig
from jaxpriv.nn import dysan as light
from jaxpriv.nn import dysan_original as original

PyTree = Any
NUM_ATTRIBUTES = 3
DECODER = ("dec_first", "dec_second")  # the authors' sanitizer's transposed convolutions


class Release(NamedTuple):
    """The sanitizer's outputs for a batch."""

    x_hat: jax.Array  # (B, W, C)
    activity: jax.Array | None  # (B, A) logits of the reconstructed activity
    attributes: jax.Array | None  # (B, 3) reconstructed attributes


def cond_size(cfg: DysanConfig) -> int:
    """Length of the conditioning vector: attributes, activity input, noise."""
    return NUM_ATTRIBUTES + cfg.activity_inputs + 2


def torch_default_init(key: jax.Array, params: PyTree, transposed: tuple[str, ...] = ()) -> PyTree:
    """Draw every kernel and bias as PyTorch's default initialisation does:
    ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` for weights and biases alike, with PyTorch's
    fan-in (``in x k`` for a convolution; ``out x k`` for a transposed one, listed in
    ``transposed``; ``in`` for a Linear). ``params`` may hold shapes only. One draw for
    all layers (one random-bits kernel to compile, not one per layer)."""
    layers = sorted(params)
    bounds, leaves = [], []
    for name in layers:
        kernel = params[name]["kernel"]
        if len(kernel.shape) == 3:  # (k, in, out)
            fan_in = kernel.shape[0] * kernel.shape[2 if name in transposed else 1]
        else:
            fan_in = kernel.shape[0]
        for leaf in (kernel, params[name]["bias"]):
            leaves.append(leaf)
            bounds.append(1.0 / float(fan_in) ** 0.5)
    sizes = [math.prod(leaf.shape) for leaf in leaves]
    u = jax.random.uniform(key, (sum(sizes),), jnp.float32, -1.0, 1.0)
    out, start = {}, 0
    for i, (leaf, size, bound) in enumerate(zip(leaves, sizes, bounds, strict=True)):
        value = (u[start : start + size] * bound).reshape(leaf.shape)
        start += size
        out.setdefault(layers[i // 2], {})["kernel" if i % 2 == 0 else "bias"] = value
    return out


@dataclasses.dataclass(frozen=True)
class DysanNets:
    cfg: DysanConfig
    sanitizer: Any
    predictor: Any
    discriminator: Any

    @property
    def original(self) -> bool:
        return self.cfg.arch == "original"

    def init(self, key: jax.Array) -> dict[str, PyTree]:
        """``{"san": params, "pred": variables, "disc": variables}`` from one key."""
        cfg = self.cfg
        k_san, k_pred, k_disc = jax.random.split(key, 3)
        x = jnp.zeros((1, cfg.window, cfg.num_channels), jnp.float32)
        cond = jnp.zeros((1, cond_size(cfg))) if cfg.conditional else None
        release = Release(x, None, jnp.zeros((1, NUM_ATTRIBUTES)))
        act = jnp.zeros((1, cfg.num_activities))

        def san_init(k):
            return self.sanitizer.init(k, x, cond)["params"]

        def pred_init(k):
            return self._predict(self.predictor.init, {"params": k}, release, False)

        def disc_init(k):
            return self._discriminate(self.discriminator.init, {"params": k}, release, act, False)

        if not self.original:
            return {"san": san_init(k_san), "pred": pred_init(k_pred), "disc": disc_init(k_disc)}
        # The authors' networks start from PyTorch's initialisation: drawn directly on the
        # shapes (Flax's own initialisers would only be thrown away).
        shapes = {n: jax.eval_shape(f, k_san) for n, f in
                  (("san", san_init), ("pred", pred_init), ("disc", disc_init))}  # fmt: skip
        san = torch_default_init(k_san, shapes["san"], transposed=DECODER)
        return {
            "san": san,
            "pred": _torch_variables(k_pred, shapes["pred"]),
            "disc": _torch_variables(k_disc, shapes["disc"]),
        }

    def encode(self, san_params: PyTree, x, cond):
        """Original only: ``(features, activity logits or None, attributes)``."""
        return self.sanitizer.apply({"params": san_params}, x, cond, method="encode")

    def decode(self, san_params: PyTree, features):
        """Original only: the transposed convolutions."""
        return self.sanitizer.apply({"params": san_params}, features, method="decode")

    def sanitize(self, san_params: PyTree, x, cond) -> Release:
        out = self.sanitizer.apply({"params": san_params}, x, cond)
        if self.original:
            return Release(*out)
        return Release(out, None, None)

    def _predict(self, fn, variables, release: Release, train: bool, **kw):
        if self.original:
            return fn(variables, release.x_hat, release.attributes, train=train, **kw)
        return fn(variables, release.x_hat, train=train, **kw)

    def _discriminate(self, fn, variables, release: Release, activity_BxA, train: bool, **kw):
        if self.original:
            return fn(variables, release.x_hat, release.attributes, activity_BxA, train=train, **kw)
        return fn(variables, release.x_hat, train=train, **kw)

    def predict(self, variables, release: Release, train: bool = False, key=None):
        """Activity logits; in training mode ``(logits, {"batch_stats": ...})``."""
        if not train:
            return self._predict(self.predictor.apply, variables, release, False)
        return self._predict(self.predictor.apply, variables, release, True,
                             rngs={"dropout": key}, mutable=["batch_stats"])  # fmt: skip

    def discriminate(self, variables, release: Release, activity_BxA, train=False, key=None):
        """Gender logits; ``activity_BxA``: the ORIGINAL activity one-hot (the authors'
        decorrelation input; ignored by the light network)."""
        fn = self.discriminator.apply
        if not train:
            return self._discriminate(fn, variables, release, activity_BxA, False)
        return self._discriminate(fn, variables, release, activity_BxA, True,
                                  rngs={"dropout": key}, mutable=["batch_stats"])  # fmt: skip


def _torch_variables(key: jax.Array, shapes: PyTree) -> PyTree:
    """A classifier's variables from their shapes: :func:`torch_default_init` for its
    layers, PyTorch's (and Flax's) BatchNorm start: scale 1, bias 0, running mean 0,
    running variance 1."""
    params = shapes["params"]
    dense = {k: v for k, v in params.items() if "kernel" in v}
    norms = {k: {"scale": jnp.ones(v["scale"].shape), "bias": jnp.zeros(v["bias"].shape)}
             for k, v in params.items() if "scale" in v}  # fmt: skip
    stats = {k: {"mean": jnp.zeros(v["mean"].shape), "var": jnp.ones(v["var"].shape)}
             for k, v in shapes["batch_stats"].items()}  # fmt: skip
    return {"params": {**torch_default_init(key, dense), **norms}, "batch_stats": stats}


def make_nets(cfg: DysanConfig) -> DysanNets:
    if cfg.arch == "original":
        return DysanNets(
            cfg,
            original.OriginalSanitizer(cfg.window, cfg.num_channels, cfg.activity_inputs),
            original.OriginalPredictor(cfg.num_activities),
            original.OriginalDiscriminator(2),
        )
    return DysanNets(
        cfg,
        light.Sanitizer(cfg.num_channels, cfg.conditional, width=cfg.width),
        light.Predictor(cfg.num_activities, width=cfg.width),
        light.Discriminator(2, width=cfg.width),
    )
