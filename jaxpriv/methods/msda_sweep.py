"""MSDA's procedure over a grid of variants: the vmapped phases and the Python loop of
rounds (:class:`MsdaSweep`). Progress goes to a ``log`` callback; nothing here prints."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxpriv.methods.msda import REGULARIZERS, MsdaConfig
from jaxpriv.methods.msda_train import make_train
from jaxpriv.sweep import VariantMesh, sweep_jit

PyTree = Any


class MsdaSweep:
    """The procedure over a grid of variants: jitted vmapped phases, a Python loop of rounds.

    ``hp`` and the states carry a leading variant axis (``vmesh.padded``); ``data``
    is shared. ``log`` receives progress lines.
    """

    def __init__(
        self, cfg: MsdaConfig, vmesh: VariantMesh, log: Callable[[str], None] | None = None
    ):
        self.cfg, self.vmesh = cfg, vmesh
        self.log = log or (lambda line: None)
        fns = make_train(cfg)
        self.fns = fns
        self.init = sweep_jit(fns.init, vmesh)
        self._pretrain = sweep_jit(fns.pretrain_epoch, vmesh, data_argnums=(2, 3))
        self._features = sweep_jit(fns.features, vmesh, data_argnums=(1,))
        self._reg_begin = sweep_jit(fns.reg_begin, vmesh, data_argnums=(2,))
        self._reg_epoch = sweep_jit(fns.reg_epoch, vmesh, data_argnums=(4, 5))
        self._reg_end = sweep_jit(fns.reg_end, vmesh)
        self._aae_epoch = sweep_jit(fns.aae_epoch, vmesh, data_argnums=(2, 3))
        self._end_round = sweep_jit(fns.end_round, vmesh, data_argnums=(2,))

    def _host(self, metrics: PyTree) -> dict[str, list]:
        """Metrics of the real variants (padding dropped) as lists."""
        n = self.vmesh.num_variants
        return {k: np.asarray(v)[:n].tolist() for k, v in metrics.items()}

    def pretrain(self, state: PyTree, hp: PyTree, data: PyTree) -> tuple[PyTree, list[dict]]:
        """The remaining pretraining epochs (the state counts those done)."""
        history = []
        done = int(np.asarray(state["pretrain_epoch"])[0])
        n_train = data["train"]["x"].shape[0]
        for epoch in range(done, self.cfg.pretrain_epochs):
            t0 = time.time()
            state, m = self._pretrain(state, hp, data, jnp.int32(epoch))
            m = self._host(m)
            dt = time.time() - t0
            history.append({"epoch": epoch + 1} | m)
            eta = dt * (self.cfg.pretrain_epochs - epoch - 1)
            self.log(
                f"pretrain {epoch + 1}/{self.cfg.pretrain_epochs}  {dt:6.1f} s  "
                f"{n_train * self.vmesh.num_variants / dt:7.0f} windows/s  ETA {eta:4.0f} s | "
                f"mse {_fmt(m['mse'])}  val_mse {_fmt(m['val_mse'])}"
            )
        return state, history

    def run_round(self, state: PyTree, hp: PyTree, data: PyTree) -> tuple[PyTree, dict]:
        """One round: regularizers to early stop, then ``aae_epochs`` AAE epochs."""
        cfg = self.cfg
        r = int(np.asarray(state["round"])[0]) + 1
        t_round = time.time()
        feats = self._features(state, data)
        rs = self._reg_begin(state, feats, data)
        reg_epochs = 0
        for epoch in range(cfg.reg_epochs):
            t0 = time.time()
            state, rs, m = self._reg_epoch(state, rs, hp, feats, data, jnp.int32(epoch))
            m = self._host(m)
            reg_epochs += 1
            self.log(
                f"round {r}/{cfg.rounds} regularizers epoch {epoch + 1}  {time.time() - t0:5.1f} s"
                " | val acc " + "  ".join(f"{n} {_fmt(m[f'{n}_val_acc'])}" for n in REGULARIZERS)
            )
            stopped = np.asarray([m[f"{n}_stopped"] for n in REGULARIZERS])
            if stopped.all():
                break
        state, reg_m = self._reg_end(state, rs)
        del feats, rs
        aae_hist = []
        for epoch in range(cfg.aae_epochs):
            t0 = time.time()
            state, m = self._aae_epoch(state, hp, data, jnp.int32(epoch))
            m = self._host(m)
            aae_hist.append(m)
            dt = time.time() - t0
            n = data["train"]["x"].shape[0] * self.vmesh.num_variants
            self.log(
                f"round {r}/{cfg.rounds} AAE epoch {epoch + 1}/{cfg.aae_epochs}  {dt:5.1f} s  "
                f"{n / dt:6.0f} windows/s | total {_fmt(m['total'])}  id_lat "
                f"{_fmt(m['identity_latent'])}  id_out {_fmt(m['identity_output'])}  act "
                f"{_fmt(m['activity'])}  mse {_fmt(m['distortion'])}"
            )
        state, end_m = self._end_round(state, hp, data)
        record = {
            "round": r,
            "seconds": round(time.time() - t_round, 1),
            "reg_epochs": reg_epochs,
            "regularizers": self._host(reg_m),
            "aae_train": aae_hist[-1] if aae_hist else {},
            "aae_val": self._host(end_m),
        }
        return state, record

    def audit(self, state: PyTree, hp: PyTree, data: PyTree) -> dict[str, list]:
        """Fresh regularizers' validation accuracies on the final ``Y`` and ``x'``.

        Trains copies of the regularizers (from their last parameters) to early stopping
        on the final outputs; the state itself is not changed. Converged variants are
        audited too (the masks are lifted on the copy).
        """
        probe = {**state, "converged": jnp.zeros_like(state["converged"])}
        feats = self._features(probe, data)
        rs = self._reg_begin(probe, feats, data)
        for epoch in range(self.cfg.reg_epochs):
            probe, rs, m = self._reg_epoch(probe, rs, hp, feats, data, jnp.int32(1000 + epoch))
            if np.asarray([np.asarray(v) for v in rs["stopped"].values()]).all():
                break
        _, m = self._reg_end(probe, rs)
        return self._host(m)


def _fmt(values: list[float]) -> str:
    return "/".join(f"{v:.3f}" for v in values)
