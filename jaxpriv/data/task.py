"""The task: which data, cut how. Built once from the command line, used by every
method and by the harness, stored in every checkpoint and rebuilt from it.

A :class:`Task` names the dataset (``--data`` spec, subjects table, rate), the
activities and channels kept, the window and stride, the split and the scaler.
:meth:`Task.prepare` is the one pipeline every method trains on: filter the
activities -> select the channels -> split -> window -> scale (the scaler fitted
on the training windows only). The harness cuts its own splits with the same
:meth:`Task.cut` and :func:`window_pair`, so it sees exactly the run's windows.

The defaults of the systems (DySan's 6 axes, windows of 125 with stride 63,
min-max; MSDA's 2 magnitudes, 128/10, standardised, trial split) are the
constructors :func:`dysan_task` and :func:`msda_task`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxpriv.data.channels import DYSAN_CHANNELS, MSDA_CHANNELS, select_channels
from jaxpriv.data.dataset import DataFormatError, Dataset
from jaxpriv.data.scaling import Scaler, fit_scaler
from jaxpriv.data.splits import split_dataset
from jaxpriv.data.windows import Windows, make_windows, vocabularies

DYSAN_ACTIVITIES = ("dws", "ups", "wlk", "jog")
SPLITS = ("subject", "trial", "time")
SCALINGS = ("minmax", "standard")
LABELS = ("activity", "subject", "gender")


@dataclasses.dataclass(frozen=True)
class Task:
    """Which data and how it is cut into windows (immutable; JSON round-trips)."""

    activities: tuple[str, ...]
    channels: tuple[str, ...]
    window: int
    stride: int
    split: str = "subject"
    scaling: str = "minmax"
    data: str = "embedded"
    subjects: str | None = None
    rate_hz: float | None = None
    # (name in the data, name in the task): e.g. WISDM's walking -> wlk
    activity_map: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "activities", tuple(self.activities))
        object.__setattr__(self, "channels", tuple(self.channels))
        object.__setattr__(self, "activity_map", tuple(tuple(p) for p in self.activity_map))
        if self.split not in SPLITS:
            raise ValueError(f"split {self.split!r}: expected one of {list(SPLITS)}")
        if self.scaling not in SCALINGS:
            raise ValueError(f"scaling {self.scaling!r}: expected one of {list(SCALINGS)}")
        if self.window < 1 or self.stride < 1:
            raise ValueError(f"window and stride must be >= 1, got {self.window}, {self.stride}")
        if not self.activities or not self.channels:
            raise ValueError("a task needs at least one activity and one channel")

    def to_json(self) -> dict[str, Any]:
        return json_safe(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Task:
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in obj.items() if k in names})

    def load(self, *, progress: bool = False) -> Dataset:
        """The dataset this task names."""
        from jaxpriv.data.load import load_dataset

        return load_dataset(
            self.data, subjects=self.subjects, rate_hz=self.rate_hz, progress=progress
        )

    def fit_to(self, ds: Dataset, *, fixed: Sequence[str] = ()) -> tuple[Task, list[str]]:
        """This task as ``ds`` can give it, and what was changed (say it to the user);
        ``fixed``: what the user chose (``"activities"``, ``"channels"``), never changed.

        When the task names activities the data lacks and has no mapping of its own, the
        dataset profile's mapping onto MotionSense's codes is used (MobiAct's WAL -> wlk,
        WISDM's walking -> wlk); data whose stairs have no direction (WISDM) gives one
        ``stairs`` activity in place of ``dws`` and ``ups``; data with one recording per
        user and activity (WISDM) has no trial to hold out, so the trial split becomes the
        time split; data without a gyroscope (a watch's accelerometer) drops the channels
        made of ``rotationRate``. Otherwise the task is as is.
        """
        changes: list[str] = []
        task = self
        rotation = [c for c in self.channels if "rotationRate" in c]
        no_gyro = not any(c.startswith("rotationRate") for c in ds.channels)
        if "channels" not in fixed and no_gyro and 0 < len(rotation) < len(self.channels):
            kept = tuple(c for c in self.channels if c not in rotation)
            task = dataclasses.replace(task, channels=kept)
            changes.append(f"no gyroscope in the data: channels {list(kept)} only")
        trials: dict[tuple[str, str], set[str]] = {}
        for r in ds.recordings:
            trials.setdefault((r.subject, r.activity), set()).add(r.trial)
        if self.split == "trial" and trials and max(map(len, trials.values())) == 1:
            task = dataclasses.replace(task, split="time")
            changes.append("one recording per user and activity, so no trial to hold out: "
                           "the time split holds out the last part of each recording")  # fmt: skip
        if (
            "activities" in fixed
            or task.activity_map
            or all(a in ds.activities for a in task.activities)
        ):
            return task, changes
        profile = dict(ds.description.get("profile", {}).get("activity_map", {}))
        mapping = {k: v for k, v in profile.items() if k in ds.activities}
        names = set(mapping.get(a, a) for a in ds.activities)
        activities = list(task.activities)
        if mapping:
            shown = ", ".join(f"{k}={v}" for k, v in mapping.items())
            changes.append(f"activities mapped by the dataset's profile: {shown}")
        if {"dws", "ups"} <= set(activities) - names and "stairs" in names:
            at = min(activities.index("dws"), activities.index("ups"))
            activities = [a for a in activities if a not in ("dws", "ups")]
            activities.insert(at, "stairs")
            changes.append("the data's stairs have no direction: one 'stairs' activity "
                           "replaces dws and ups")  # fmt: skip
        fitted = dataclasses.replace(
            task, activities=tuple(activities), activity_map=tuple(mapping.items())
        )
        return fitted, changes

    def cut(self, ds: Dataset) -> Dataset:
        """``ds`` with its activities renamed by ``activity_map`` and only this task's
        activities and channels; an error names what the data lacks and the flag."""
        ds = rename_activities(ds, dict(self.activity_map))
        missing = [a for a in self.activities if a not in ds.activities]
        if missing:
            present = list(ds.activities)
            example = f"{present[0]}={missing[0]}" if present else "NAME=TASK"
            raise DataFormatError(
                f"{ds.name}: activities {missing} are not in the data (present: {present}); "
                f"the task needs {list(self.activities)}: choose others with --activities, "
                f"or map the data's names onto the task's, e.g. --activities {example}"
            )
        try:
            return select_channels(ds.filter(activities=self.activities), self.channels)
        except DataFormatError as err:
            raise DataFormatError(
                f"{err}; choose the channels with --channels (names, globs such as 'acc_*', "
                "magnitudes such as '|acc|', or a preset: dysan, msda, all)"
            ) from None

    def prepare(
        self, ds: Dataset, *, require: Sequence[str] = LABELS, **split_kwargs: Any
    ) -> TaskData:
        """Cut, split, window and scale ``ds``; ``require``: the labels every window must
        have (``gender`` only for methods that use it). ``split_kwargs`` go to
        :func:`split_dataset`."""
        unknown = set(require) - set(LABELS)
        if unknown:
            raise ValueError(f"require={sorted(unknown)}: labels are {list(LABELS)}")
        ds = self.cut(ds)
        if self.split == "time":
            split_kwargs.setdefault("gap", self.window)
        train_ds, test_ds = split_dataset(ds, self.split, **split_kwargs)
        train_w, test_w = window_pair(self, ds, train_ds, test_ds, self.split)
        scaler = fit_scaler(self.scaling, train_w.x, channels=train_w.channels)
        mean, std = attribute_statistics(train_w.attributes)
        return TaskData(
            task=self,
            train=_arrays(train_w, scaler, mean, std, ds.name, require),
            test=_arrays(test_w, scaler, mean, std, ds.name, require),
            train_windows=train_w,
            test_windows=test_w,
            scaler=scaler,
            attribute_mean=mean,
            attribute_std=std,
            split=self.split,
            test_subjects=test_ds.subject_ids,
        )


def dysan_task(**overrides: Any) -> Task:
    """DySan's task (seed 001): the 6 raw axes, windows of 125, stride 63, min-max."""
    base = dict(activities=DYSAN_ACTIVITIES, channels=DYSAN_CHANNELS, window=125, stride=63)
    return Task(**(base | overrides))


def msda_task(**overrides: Any) -> Task:
    """MSDA's task (seed 002): ``|rotationRate|`` and ``|userAcceleration + gravity|``,
    windows of 128 with stride 10, standardised, on the Trial split (every user's last
    trial of each activity held out, so every user is on both sides)."""
    base = dict(activities=DYSAN_ACTIVITIES, channels=MSDA_CHANNELS, window=128, stride=10,
                split="trial", scaling="standard")  # fmt: skip
    return Task(**(base | overrides))


def attribute_statistics(attributes_Nx3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of each attribute over the windows where it is known; 0 and 1 for
    one never known (e.g. WISDM, which records no body measures) or constant."""
    known = np.isfinite(attributes_Nx3).any(axis=0)
    if known.all():
        mean, std = np.nanmean(attributes_Nx3, axis=0), np.nanstd(attributes_Nx3, axis=0)
    else:  # nanmean would warn on the columns never known
        mean, std = np.zeros(len(known)), np.ones(len(known))
        mean[known] = np.nanmean(attributes_Nx3[:, known], axis=0)
        std[known] = np.nanstd(attributes_Nx3[:, known], axis=0)
    return mean, np.where(std > 0, std, 1.0)


def parse_activity_spec(text: str) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """``--activities``: a list of the task's activities, each either a name in the data
    or ``data_name=task_name``. ``'walking=wlk,jogging=jog,sit'`` -> ``(('wlk', 'jog',
    'sit'), (('walking', 'wlk'), ('jogging', 'jog')))``. Several data names may map to one
    task name (merged); a task name is listed once."""
    activities: list[str] = []
    mapping: list[tuple[str, str]] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        source, sep, target = (s.strip() for s in item.partition("="))
        if sep and not (source and target):
            raise ValueError(f"--activities {text!r}: {item!r} should be DATA_NAME=TASK_NAME")
        name = target if sep else source
        if sep:
            if any(s == source for s, _ in mapping):
                raise ValueError(f"--activities {text!r}: {source!r} is mapped twice")
            mapping.append((source, target))
        if name not in activities:
            activities.append(name)
    if not activities:
        raise ValueError(f"--activities {text!r} names no activity")
    return tuple(activities), tuple(mapping)


def rename_activities(ds: Dataset, mapping: Mapping[str, str]) -> Dataset:
    """``ds`` with every recording's activity renamed by ``mapping`` (others unchanged);
    the dataset's activity order follows. A data name the data lacks is an error."""
    if not mapping:
        return ds
    unknown = sorted(set(mapping) - set(ds.activities))
    if unknown:
        raise DataFormatError(
            f"{ds.name}: --activities maps {unknown}, which the data does not have "
            f"(present: {list(ds.activities)})"
        )
    recordings = tuple(
        dataclasses.replace(r, activity=mapping.get(r.activity, r.activity)) for r in ds.recordings
    )
    order = list(dict.fromkeys(mapping.get(a, a) for a in ds.activities))
    return ds.replace(
        recordings=recordings, description={**ds.description, "activity_order": order}
    )


def task_windows(task: Task, ds: Dataset, part: Dataset | None = None) -> Windows:
    """The windows of ``part`` (default: all) of ``ds`` (already cut), with ``ds``'s
    vocabulary: the same window of a recording is the same in every split."""
    vocab = vocabularies(ds, activities=task.activities)
    return make_windows(
        ds if part is None else part, window=task.window, stride=task.stride, short="skip",
        **vocab,
    )  # fmt: skip


def window_pair(
    task: Task, ds: Dataset, train_ds: Dataset, test_ds: Dataset, split: str
) -> tuple[Windows, Windows]:
    """Both sides of a split of ``ds`` (already cut) as windows with one vocabulary."""
    train, test = task_windows(task, ds, train_ds), task_windows(task, ds, test_ds)
    if len(train) == 0 or len(test) == 0:
        side = "training" if len(train) == 0 else "held-out"
        raise DataFormatError(
            f"{ds.name}: windows of {task.window} samples leave no {side} window after the "
            f"{split} split; use a shorter window"
        )
    return train, test


@dataclasses.dataclass(frozen=True)
class TaskData:
    """Arrays for training and held-out evaluation, plus what is needed to redo it."""

    task: Task
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
            "activity_map": [list(pair) for pair in self.task.activity_map],
            "channels": list(self.train_windows.channels),
            "window": self.train_windows.window,
            "stride": self.train_windows.stride,
            "train_windows": len(self.train_windows),
            "test_windows": len(self.test_windows),
            "scaler": self.scaler.to_json(),
            "attribute_mean": self.attribute_mean.tolist(),
            "attribute_std": self.attribute_std.tolist(),
        }


def _arrays(
    win: Windows,
    scaler: Scaler,
    mean: np.ndarray,
    std: np.ndarray,
    name: str,
    require: Sequence[str],
) -> dict[str, np.ndarray]:
    if "gender" in require and (win.gender < 0).any():
        unknown = sorted({win.subjects[s] for s in np.unique(win.subject[win.gender < 0])})
        raise DataFormatError(
            f"{name}: users {unknown} have no gender in the subjects table; this method "
            "needs every user's gender (give --subjects with a gender column)"
        )
    attributes = np.nan_to_num((win.attributes - mean) / std, nan=0.0).astype(np.float32)
    return {
        "x": np.asarray(scaler.apply(win.x), np.float32),
        "activity": win.activity.astype(np.int32),
        "gender": win.gender.astype(np.int32),
        "subject": win.subject.astype(np.int32),  # index into Windows.subjects (all users)
        "attributes": attributes,
    }


def json_safe(obj: Any) -> Any:
    """Tuples as lists, so a value compares equal after a JSON round trip."""
    if isinstance(obj, Mapping):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def dataset_identity(description: Mapping[str, Any]) -> dict[str, Any]:
    """What identifies a loaded dataset's content: its description, with the embedded
    dataset's cache location replaced by the build's name (a hash of its config and of
    the simulator's code), so the same data has the same identity in any cache."""
    desc = dict(description)
    if desc.get("kind") == "embedded" and "path" in desc:
        from pathlib import Path

        desc = {k: desc[k] for k in ("kind", "name", "config") if k in desc}
        desc["build"] = Path(description["path"]).name
    return json_safe(desc)
