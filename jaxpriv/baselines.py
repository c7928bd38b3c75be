"""Classic baselines of MSDA's Table 2 (systems.md section 2): transforms with no training.

- **FFT resampling** to a lower rate and back (:func:`resample_fft`): exactly
  ``scipy.signal.resample(scipy.signal.resample(x, m), n)``, written as a mask on the
  rFFT so the target rate may be a traced value (one program for every rate).
- **SSA** (singular spectrum analysis, :func:`ssa_reconstruct`): the window rebuilt
  from its ``k`` leading elementary components, per channel.
- **Additive Gaussian noise** at a given SNR (:func:`add_noise`).

Each function acts on one window ``x_WxC`` (time x channels); batches come from
``jax.vmap``. :func:`make_release` wraps them in one ``release_one(params, x_raw_BxWxC,
attributes_raw_Bx3, activity_B, key)`` dispatching on ``params["kind"]`` with
``lax.switch``, so a whole list of baselines is ONE stacked parameter pytree vmapped
over variants, like a trained method's grid. :func:`parse_transforms` reads specs such
as ``resample:10,resample:5,ssa:2,ssa:1,noise:20``.

Choices, from MSDA's code (``msda_table2_(I)id(trial).ipynb``):

- the reduced length is ``m = floor(n * target_hz / rate_hz)`` (its ``(128 * rate) //
  50``: 25 samples for "10 Hz", 12 for "5 Hz" on windows of 128 at 50 Hz);
- SSA uses an embedding window of ``L = 10`` samples (:data:`DEFAULT_SSA_WINDOW`);
- both act on the *standardised* windows. :func:`make_release` therefore applies the
  run's training scaler first and inverts it after (``space="scaled"``, the default).
  Resampling is linear and keeps constants, so it gives the same result in either
  space; SSA of a window depends on its offset, and the noise's SNR on its mean square.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpriv.data.scaling import Scaler

KINDS: tuple[str, ...] = ("resample", "ssa", "noise")  # params["kind"] indexes this
DEFAULT_SSA_WINDOW = 10  # MSDA's SSA embedding window (samples)
SPACES: tuple[str, ...] = ("scaled", "raw")
# floor(n * target / rate) must not fall one short when the product is a float just
# below an integer (e.g. 24.999998 in float32); the same tolerance on host and device.
_FLOOR_TOL = 1e-3


# -- the transforms, on one window -------------------------------------------------------


def resample_length(n: int, target_hz: float, rate_hz: float) -> int:
    """Samples a window of ``n`` at ``rate_hz`` keeps at ``target_hz`` (MSDA's floor)."""
    return math.floor(n * target_hz / rate_hz + _FLOOR_TOL)


def resample_fft(x_WxC: jax.Array, target_hz: jax.Array | float, rate_hz: float) -> jax.Array:
    """Resample to ``target_hz`` and back to the window's length, by FFT, per channel.

    Equals ``scipy.signal.resample(scipy.signal.resample(x, m, axis=0), n, axis=0)``
    with ``m = resample_length(n, target_hz, rate_hz)``: the rFFT bins below ``m / 2``
    are kept; for even ``m`` the unpaired bin ``m / 2`` keeps only its real part (scipy
    doubles it going down, the real inverse FFT drops its imaginary part, and scipy
    halves it going up); the rest is zeroed. ``target_hz`` may be traced.
    """
    n = x_WxC.shape[0]
    m = jnp.floor(n * jnp.asarray(target_hz, jnp.float32) / rate_hz + _FLOOR_TOL)
    spectrum = jnp.fft.rfft(x_WxC, axis=0)
    twice_bin = 2.0 * jnp.arange(spectrum.shape[0], dtype=jnp.float32)[:, None]
    nyquist = jnp.real(spectrum).astype(spectrum.dtype)
    kept = jnp.where(twice_bin < m, spectrum, jnp.where(twice_bin == m, nyquist, 0))
    return jnp.fft.irfft(kept, n=n, axis=0).astype(x_WxC.dtype)


def ssa_components(n: int, window: int = DEFAULT_SSA_WINDOW) -> int:
    """Number of elementary components of SSA on ``n`` samples with window ``window``."""
    return min(window, n - window + 1)


def check_ssa_window(n: int, window: int) -> None:
    """Raise ``ValueError`` unless ``2 <= window <= n - 1``."""
    if not 2 <= window <= n - 1:
        raise ValueError(
            f"SSA window must be between 2 and the window length - 1 ({n - 1}), got {window}"
        )


def ssa_reconstruct(
    x_WxC: jax.Array, k: jax.Array | float, window: int = DEFAULT_SSA_WINDOW
) -> jax.Array:
    """Rebuild each channel from its ``k`` leading SSA components (``k`` may be traced).

    Per channel: the ``window x (n - window + 1)`` Hankel (trajectory) matrix ``X``
    with ``X[i, j] = x[i + j]``; its ``k`` leading left singular vectors ``U_k``
    (eigenvectors of the lag-covariance ``X X^T``, cheaper than an SVD of ``X`` and
    the same subspace); ``X_k = U_k U_k^T X``, the sum of the ``k`` leading elementary
    matrices; the series back by diagonal averaging (the mean of ``X_k`` over each
    anti-diagonal ``i + j = t``). ``window`` (static) trades frequency resolution
    against the number of columns; MSDA used 10.
    """
    n = x_WxC.shape[0]
    check_ssa_window(n, window)
    cols = n - window + 1
    idx = np.arange(window)[:, None] + np.arange(cols)[None, :]  # (L, K): t = i + j
    counts = np.bincount(idx.ravel(), minlength=n).astype(np.float32)
    k = jnp.asarray(k, jnp.float32)

    traj_CxLxK = x_WxC.T[:, idx]
    # HIGHEST: full float32 products on accelerators too (TF32 would blur the spectrum).
    hi = jax.lax.Precision.HIGHEST
    cov_CxLxL = jnp.einsum("cik,cjk->cij", traj_CxLxK, traj_CxLxK, precision=hi)
    _, vecs_CxLxL = jnp.linalg.eigh(cov_CxLxL)  # eigenvalues ascending: leading last
    rank_from_top = jnp.arange(window - 1, -1, -1, dtype=jnp.float32)
    leading_CxLxL = vecs_CxLxL * (rank_from_top < k)
    coef_CxLxK = jnp.einsum("cil,cik->clk", leading_CxLxL, traj_CxLxK, precision=hi)
    recon_CxLxK = jnp.einsum("cil,clk->cik", leading_CxLxL, coef_CxLxK, precision=hi)
    # Row i of X_k covers times i .. i + K - 1: shifted sums beat a scatter-add.
    sums_CxW = sum(jnp.pad(recon_CxLxK[:, i], ((0, 0), (i, window - 1 - i))) for i in range(window))
    return (sums_CxW / counts).T.astype(x_WxC.dtype)


def add_noise(x_WxC: jax.Array, snr_db: jax.Array | float, key: jax.Array) -> jax.Array:
    """``x`` plus white Gaussian noise at ``snr_db`` per channel: the noise variance is
    the window's mean square of that channel divided by ``10 ** (snr_db / 10)``."""
    power_C = jnp.mean(jnp.square(x_WxC), axis=0)
    std_C = jnp.sqrt(power_C / 10.0 ** (jnp.asarray(snr_db, jnp.float32) / 10.0))
    noise = jax.random.normal(key, x_WxC.shape, x_WxC.dtype)
    return x_WxC + std_C * noise


# -- specs ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Baseline:
    """One baseline: ``kind`` in :data:`KINDS` and its value (target Hz, k, or SNR dB)."""

    kind: str
    value: float

    @property
    def name(self) -> str:
        """``resample-10hz``, ``ssa-k2`` (MSDA's "SSA(1,2)"), ``noise-20db``."""
        if self.kind == "resample":
            return f"resample-{self.value:g}hz"
        if self.kind == "ssa":
            return f"ssa-k{int(self.value)}"
        return f"noise-{self.value:g}db"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "name": self.name}


_ITEM = re.compile(r"^\s*([A-Za-z_]+)\s*:\s*(\S+)\s*$")


def parse_transforms(
    spec: str, *, rate_hz: float, window: int, ssa_window: int = DEFAULT_SSA_WINDOW
) -> list[Baseline]:
    """Parse ``"resample:10,resample:5,ssa:2,ssa:1,noise:20"`` for windows of ``window``
    samples at ``rate_hz``. Raises ``ValueError`` naming the bad item: an unknown kind, a
    target rate not below the data's or leaving no sample, an SSA ``k`` that is not an
    integer in ``[1, components]``, a non-finite SNR, or a repeated transform."""
    items = [s for s in (spec or "").split(",") if s.strip()]
    if not items:
        raise ValueError(f"--transforms {spec!r}: empty; e.g. 'resample:10,ssa:2,noise:20'")
    out: list[Baseline] = []
    for item in items:
        where = f"--transforms item {item.strip()!r}"
        match = _ITEM.match(item)
        if not match:
            raise ValueError(f"{where}: expected KIND:VALUE with KIND in {list(KINDS)}")
        kind, text = match.group(1).lower(), match.group(2)
        if kind not in KINDS:
            raise ValueError(f"{where}: unknown kind {kind!r}; choose from {list(KINDS)}")
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{where}: {text!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{where}: the value must be finite, got {text!r}")
        _check(kind, value, where, rate_hz=rate_hz, window=window, ssa_window=ssa_window)
        baseline = Baseline(kind, value)
        if any(b.name == baseline.name for b in out):
            raise ValueError(f"{where}: {baseline.name} is listed twice")
        out.append(baseline)
    return out


def _check(kind: str, value: float, where: str, *, rate_hz: float, window: int, ssa_window: int):
    if kind == "resample":
        if not 0 < value < rate_hz:
            raise ValueError(
                f"{where}: the target rate must be above 0 and below the data's rate "
                f"({rate_hz:g} Hz), got {value:g} Hz"
            )
        if resample_length(window, value, rate_hz) < 1:
            raise ValueError(
                f"{where}: {value:g} Hz keeps no sample of a {window}-sample window at "
                f"{rate_hz:g} Hz (needs at least {rate_hz / window:.3g} Hz)"
            )
    elif kind == "ssa":
        if not 2 <= ssa_window <= window - 1:
            raise ValueError(
                f"{where}: the SSA window (--ssa-window) must be between 2 and the window "
                f"length - 1 ({window - 1}), got {ssa_window}"
            )
        components = ssa_components(window, ssa_window)
        if value != int(value) or not 1 <= value <= components:
            raise ValueError(
                f"{where}: k must be an integer from 1 to {components} (the components of "
                f"a {window}-sample window with SSA window {ssa_window}), got {value:g}"
            )


def stack_params(baselines: Sequence[Baseline]) -> dict[str, np.ndarray]:
    """``{"kind": int32[V], "value": float32[V]}``: the variants stacked for vmap."""
    return {
        "kind": np.asarray([KINDS.index(b.kind) for b in baselines], np.int32),
        "value": np.asarray([b.value for b in baselines], np.float32),
    }


# -- the release function --------------------------------------------------------------


def apply_baseline(
    params: dict[str, jax.Array],
    x_WxC: jax.Array,
    key: jax.Array,
    *,
    rate_hz: float,
    ssa_window: int = DEFAULT_SSA_WINDOW,
) -> jax.Array:
    """One window through the baseline ``params`` (``kind`` int32, ``value`` float32)."""
    branches = (
        lambda v, x, _: resample_fft(x, v, rate_hz),
        lambda v, x, _: ssa_reconstruct(x, v, ssa_window),
        lambda v, x, k: add_noise(x, v, k),
    )
    return jax.lax.switch(params["kind"], branches, params["value"], x_WxC, key)


def make_release(
    *,
    rate_hz: float,
    ssa_window: int = DEFAULT_SSA_WINDOW,
    scaler: Scaler | None = None,
) -> Callable[..., jax.Array]:
    """``release_one(params, x_raw_BxWxC, attributes_raw_Bx3, activity_B, key)`` in raw
    units for one variant (the harness's signature; attributes and activity are unused).

    With a ``scaler`` the baseline acts on ``scaler.apply(x)`` and the result is mapped
    back (MSDA's baselines saw standardised windows); without, on the raw windows.
    Each window gets its own noise key, split from ``key``.
    """

    def release_one(params, x_raw_BxWxC, attributes_raw_Bx3, activity_B, key):
        del attributes_raw_Bx3, activity_B
        x = x_raw_BxWxC if scaler is None else scaler.apply(x_raw_BxWxC)
        keys = jax.random.split(key, x.shape[0])
        y = jax.vmap(
            lambda x_WxC, k: apply_baseline(
                params, x_WxC, k, rate_hz=rate_hz, ssa_window=ssa_window
            )
        )(x, keys)
        return y if scaler is None else scaler.invert(y)

    return release_one


__all__ = [
    "DEFAULT_SSA_WINDOW",
    "KINDS",
    "SPACES",
    "Baseline",
    "add_noise",
    "apply_baseline",
    "check_ssa_window",
    "make_release",
    "parse_transforms",
    "resample_fft",
    "resample_length",
    "ssa_components",
    "ssa_reconstruct",
    "stack_params",
]
