"""The one-class SVM judge (seed 004): how much synthetic data a real-fit SVM accepts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from sklearn.svm import OneClassSVM

from jaxpriv.features import window_features
from jaxpriv.synthetic_metrics.samples import (
    TINY_STD,
    channel_scale,
    check_same_shape,
    check_samples,
    subsample,
)

KERNELS = ("linear", "rbf")
WINDOWS_AS = ("features", "flat")
SCALINGS = ("auto", "standard", "minmax")


def _vectors(
    x: np.ndarray, windows_as: str, rate_hz: float, channels: Sequence[str] | None
) -> np.ndarray:
    if x.ndim == 2:
        return x
    if windows_as == "flat":
        return x.reshape(len(x), -1)
    names = list(channels) if channels is not None else [f"c{i}" for i in range(x.shape[2])]
    return window_features(x, rate_hz, names)


def oneclass_svm_inliers(
    real_train: Any,
    synthetic: Any,
    real_test: Any,
    *,
    kernel: Literal["linear", "rbf"] = "linear",
    nu: float = 0.1,
    gamma: float | str = "scale",
    scaling: Literal["auto", "standard", "minmax"] = "auto",
    seed: int = 0,
    windows_as: Literal["features", "flat"] = "features",
    rate_hz: float = 1.0,
    channels: Sequence[str] | None = None,
    max_train: int | None = 3000,
) -> dict[str, Any]:
    """Fraction of ``synthetic`` and of held-out ``real_test`` a real-fit one-class SVM accepts.

    sklearn's ``OneClassSVM(kernel, nu, gamma)`` is fit on ``real_train`` only (at most
    ``max_train`` samples, drawn with ``seed``: the fit is quadratic in the samples), on
    vectors scaled per column with the training statistics. Windows are vectorized as in
    the module docstring (``rate_hz``/``channels`` feed :func:`window_features`; after
    scaling the rate's unit does not matter). ``gamma`` is the RBF width (``"scale"`` =
    1 / (D * var)). Returns the three inlier fractions and the sizes.

    ``scaling``: ``"standard"`` (zero mean, unit std) or ``"minmax"`` (the training range
    to [0, 1]); ``"auto"`` takes min-max for the linear kernel and standard for RBF. The
    one-class SVM separates the data from the *origin*; with a linear kernel on centred
    data the origin sits inside the cloud and the fit degenerates (on the test sinusoids
    with ``nu=0.1`` it accepted ~55% of its own training set instead of ~90%), while in
    [0, 1]^D the origin is a corner outside the data, the textbook setting. The RBF kernel
    is translation invariant, so centring does not matter there.
    """
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    if windows_as not in WINDOWS_AS:
        raise ValueError(f"windows_as must be one of {WINDOWS_AS}, got {windows_as!r}")
    if scaling not in SCALINGS:
        raise ValueError(f"scaling must be one of {SCALINGS}, got {scaling!r}")
    if scaling == "auto":
        scaling = "minmax" if kernel == "linear" else "standard"
    if not 0 < nu <= 1:
        raise ValueError(f"nu must be in (0, 1], got {nu}")
    train = check_samples(real_train, "real_train")
    syn = check_samples(synthetic, "synthetic", min_n=1)
    test = check_samples(real_test, "real_test", min_n=1)
    check_same_shape(train, "real_train", syn, "synthetic")
    check_same_shape(train, "real_train", test, "real_test")
    train = subsample(train, max_train, np.random.default_rng(seed))
    v_train, v_syn, v_test = (
        _vectors(x, windows_as, rate_hz, channels) for x in (train, syn, test)
    )
    if scaling == "standard":
        shift, scale = channel_scale(v_train)
    else:
        shift, high = v_train.min(axis=0), v_train.max(axis=0)
        scale = np.where(high - shift > TINY_STD, high - shift, 1.0)
    model = OneClassSVM(kernel=kernel, nu=nu, gamma=gamma).fit((v_train - shift) / scale)

    def inliers(v: np.ndarray) -> float:
        return float(np.mean(model.predict((v - shift) / scale) == 1))

    return {
        "kernel": kernel,
        "nu": nu,
        "scaling": scaling,
        "representation": "rows" if train.ndim == 2 else windows_as,
        "dims": int(v_train.shape[1]),
        "synthetic_inliers": inliers(v_syn),
        "real_test_inliers": inliers(v_test),
        "real_train_inliers": inliers(v_train),
        "n_train": len(train),
        "n_synthetic": len(syn),
        "n_real_test": len(test),
    }
