"""The window-data pipeline of DySan, MSDA and their baselines: any Dataset -> scaled
training and held-out arrays.

DySan's defaults: windows of 125 samples, stride 63, of rotationRate +
userAcceleration, activities dws/ups/wlk/jog, min-max scaled to [-1, 1] with a
scaler fitted on the training windows only (the original code fitted the test
scaler on the test set; we do not). The sanitizer's physical attributes
(height, weight, age) are standardised with training statistics; unknown ones
become 0. :func:`prepare_msda_data` gives MSDA's: the 2 magnitudes, windows of
128, stride 10, standardised, on the Trial split (all users on both sides).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxpriv.data.channels import DYSAN_CHANNELS, MSDA_CHANNELS, select_channels
from jaxpriv.data.dataset import DataFormatError, Dataset
from jaxpriv.data.scaling import Scaler, fit_scaler
from jaxpriv.data.splits import split_dataset
from jaxpriv.data.windows import Windows, make_windows, vocabularies

DYSAN_ACTIVITIES = ("dws", "ups", "wlk", "jog")


@dataclasses.dataclass(frozen=True)
class DysanData:
    """Arrays for training and held-out evaluation, plus what is needed to redo it."""

    train: dict[str, np.ndarray]
    test: dict[str, np.ndarray]
    train_windows: Windows
    test_windows: Windows
    scaler: Scaler
    attribute_mean: np.ndarray  # (3,)
    attribute_std: np.ndarray  # (3,)
    split: str
    test_subjects: tuple[str, ...]

    def describe(self) -> dict[str, Any]:
        """JSON-able facts stored in checkpoints (with the Dataset's own description)."""
        return {
            "split": self.split,
            "test_subjects": list(self.test_subjects),
            "activities": list(self.train_windows.activities),
            "channels": list(self.train_windows.channels),
            "window": self.train_windows.window,
            "stride": self.train_windows.stride,
            "train_windows": len(self.train_windows),
            "test_windows": len(self.test_windows),
            "scaler": self.scaler.to_json(),
            "attribute_mean": self.attribute_mean.tolist(),
            "attribute_std": self.attribute_std.tolist(),
        }


def _arrays(win: Windows, scaler: Scaler, mean: np.ndarray, std: np.ndarray) -> dict:
    attributes = np.nan_to_num((win.attributes - mean) / std, nan=0.0).astype(np.float32)
    if (win.gender < 0).any():
        raise DataFormatError(
            f"{int((win.gender < 0).sum())} windows have no gender in the subjects table; "
            "DySan needs every subject's gender"
        )
    return {
        "x": np.asarray(scaler.apply(win.x), np.float32),
        "activity": win.activity.astype(np.int32),
        "gender": win.gender.astype(np.int32),
        "subject": win.subject.astype(np.int32),  # index into Windows.subjects (all users)
        "attributes": attributes,
    }


def prepare_dysan_data(
    ds: Dataset,
    *,
    window: int = 125,
    stride: int = 63,
    split: str = "subject",
    activities: Sequence[str] = DYSAN_ACTIVITIES,
    channels: Sequence[str] = DYSAN_CHANNELS,
    scaling: str = "minmax",
    **split_kwargs: Any,
) -> DysanData:
    """Select channels and activities, split, window and scale ``ds`` (DySan's defaults).

    ``scaling`` is ``"minmax"`` (to [-1, 1]) or ``"standard"``; either is fitted on the
    training windows only. ``split_kwargs`` go to :func:`split_dataset`.
    """
    missing = [a for a in activities if a not in ds.activities]
    if missing:
        raise DataFormatError(
            f"{ds.name}: DySan needs activities {list(activities)}; missing {missing} "
            f"(present: {list(ds.activities)})"
        )
    ds = select_channels(ds.filter(activities=activities), channels)
    vocab = vocabularies(ds, activities=activities)
    if split == "time":
        split_kwargs.setdefault("gap", window)
    train_ds, test_ds = split_dataset(ds, split, **split_kwargs)
    train_w = make_windows(train_ds, window=window, stride=stride, short="skip", **vocab)
    test_w = make_windows(test_ds, window=window, stride=stride, short="skip", **vocab)
    if len(train_w) == 0 or len(test_w) == 0:
        raise DataFormatError(f"{ds.name}: the {split} split leaves no windows on one side")
    scaler = fit_scaler(scaling, train_w.x, channels=train_w.channels)
    mean = np.nanmean(train_w.attributes, axis=0)
    std = np.nanstd(train_w.attributes, axis=0)
    mean, std = np.nan_to_num(mean), np.where(np.nan_to_num(std) > 0, std, 1.0)
    return DysanData(
        train=_arrays(train_w, scaler, mean, std),
        test=_arrays(test_w, scaler, mean, std),
        train_windows=train_w,
        test_windows=test_w,
        scaler=scaler,
        attribute_mean=mean,
        attribute_std=std,
        split=split,
        test_subjects=test_ds.subject_ids,
    )


def prepare_msda_data(
    ds: Dataset,
    *,
    window: int = 128,
    stride: int = 10,
    split: str = "trial",
    activities: Sequence[str] = DYSAN_ACTIVITIES,
    **split_kwargs: Any,
) -> DysanData:
    """MSDA's input (systems.md section 2): ``|rotationRate|`` and ``|userAcceleration +
    gravity|``, windows of 128 with stride 10, standardised with training statistics.

    The default Trial split (the last trial of every user and activity held out;
    MotionSense's short trials 11-16) keeps every user on both sides, as the
    identity regularizers need; ``arrays["subject"]`` indexes all users.
    """
    return prepare_dysan_data(
        ds,
        window=window,
        stride=stride,
        split=split,
        activities=activities,
        channels=MSDA_CHANNELS,
        scaling="standard",
        **split_kwargs,
    )
