"""Another dataset cut with a run's task: the users a run is released to and attacked on.

A run trained on one dataset may be released on another (DySan's protocol: train on
MotionSense, test on MobiAct). :func:`fit_test_data` checks, before anything trains,
that the other dataset can be cut exactly as the run's task cuts its own data: the same
sampling rate, the task's activities (the other dataset's names mapped onto them by its
profile where they differ, as :meth:`Task.fit_to` does), the task's channels and their
units. Each mismatch is a :class:`DataFormatError` naming the dataset, what differs and
the flag that fixes it. What passes is described by a :class:`TestPopulation`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxpriv.data.channels import select_channels
from jaxpriv.data.dataset import DataFormatError, Dataset
from jaxpriv.data.task import Task, rename_activities
from jaxpriv.data.windows import make_windows, vocabularies

FLAG = "--test-data"


@dataclasses.dataclass(frozen=True)
class TestPopulation:
    """The other dataset as the run's task cuts it."""

    __test__ = False  # not a pytest test class, despite its name

    name: str
    task: Task  # the run's task with the other dataset's activity mapping
    users: int
    windows: int
    genders: dict[str, int]  # users per gender: male, female, unknown
    notes: tuple[str, ...]  # what was mapped or left unchecked, for the user

    def describe(self) -> str:
        """One line for the console: the population and how it was fitted."""
        genders = ", ".join(f"{n} {g}" for g, n in self.genders.items() if n)
        notes = "".join(f"; {n}" for n in self.notes)
        return f"{self.name}: {self.users} users ({genders}), {self.windows} windows{notes}"


def fit_test_data(task: Task, ds: Dataset, test_ds: Dataset) -> TestPopulation:
    """``test_ds`` cut with ``task`` (the run's task, already fitted to its own data
    ``ds``), or a :class:`DataFormatError` naming ``test_ds``, the field that differs
    (rate, activities, channels, units, window) and the flag that fixes it."""
    where = f"{FLAG} {test_ds.name}"
    if not np.isclose(ds.rate_hz, test_ds.rate_hz, rtol=1e-6):
        raise DataFormatError(
            f"{where}: rate_hz is {test_ds.rate_hz:g} Hz, the run's data {ds.name} is "
            f"{ds.rate_hz:g} Hz; load it at the run's rate with --test-rate {ds.rate_hz:g} "
            f"(MobiAct, MobiFall and WISDM resample to it; a CSV without a time column is "
            "read at it), or train at its rate"
        )
    test_task, notes = _fit_activities(task, test_ds, where)
    renamed = rename_activities(test_ds, dict(test_task.activity_map))
    try:
        cut = select_channels(renamed.filter(activities=task.activities), task.channels)
    except DataFormatError as err:
        raise DataFormatError(
            f"{where}: cannot form the run's channels {list(task.channels)}: {err}. Train "
            f"on channels both datasets have (--channels), or give other {FLAG}"
        ) from None
    own = task.cut(ds)
    notes += _check_units(own, cut, where)
    vocab = vocabularies(cut, activities=task.activities)
    win = make_windows(cut, window=task.window, stride=task.stride, short="skip", **vocab)
    if len(win) == 0:
        raise DataFormatError(
            f"{where}: no recording of the task's activities is as long as the window "
            f"({task.window} samples); give other {FLAG}, or train with a shorter window"
        )
    users = np.unique(win.subject)
    genders = {"male": 0, "female": 0, "unknown": 0}
    for s in users:
        g = int(win.gender[win.subject == s][0])
        genders[{1: "male", 0: "female"}.get(g, "unknown")] += 1
    if genders["unknown"]:
        notes.append(
            f"{genders['unknown']} users without a gender (their windows are not "
            f"attacked for gender; --test-subjects adds a subjects table)"
        )
    return TestPopulation(
        name=test_ds.name,
        task=test_task,
        users=len(users),
        windows=len(win),
        genders=genders,
        notes=tuple(notes),
    )


def _fit_activities(task: Task, test_ds: Dataset, where: str) -> tuple[Task, list[str]]:
    """The run's task with the activity mapping ``test_ds`` needs: the run's own
    mapping when the test data has its source names, else none when the test data has
    the task's names, else the test data's profile mapping (:meth:`Task.fit_to`)."""
    present = set(test_ds.activities)
    own = dict(task.activity_map)
    if own and set(own) <= present:
        return task, []
    bare = dataclasses.replace(task, activity_map=())
    fitted, _ = bare.fit_to(test_ds, fixed=("channels",))
    fitted = dataclasses.replace(fitted, split=task.split, channels=task.channels)
    names = {dict(fitted.activity_map).get(a, a) for a in present}
    missing = [a for a in task.activities if a not in names]
    if missing or fitted.activities != task.activities:
        shown = ", ".join(f"{k}={v}" for k, v in fitted.activity_map)
        mapped = f" (mapped by its profile: {shown})" if shown else ""
        raise DataFormatError(
            f"{where}: activities {missing or list(fitted.activities)} of the run's task "
            f"{list(task.activities)} are not in it; it has {list(test_ds.activities)}"
            f"{mapped}. Train on activities both datasets have (--activities), or give "
            f"other {FLAG}"
        )
    notes = []
    used = [(k, v) for k, v in fitted.activity_map if v in task.activities]
    if used:
        shown = ", ".join(f"{k}={v}" for k, v in used)
        notes.append(f"activities mapped by its profile: {shown}")
    return fitted, notes


def _check_units(own: Dataset, other: Dataset, where: str) -> list[str]:
    """An error when a channel is in different units on the two sides; a note for the
    channels whose unit one side does not know."""
    unknown = []
    for channel in own.channels:
        a, b = own.units.get(channel), other.units.get(channel)
        if a is None or b is None:
            unknown.append(channel)
        elif a != b:
            raise DataFormatError(
                f"{where}: channel {channel!r} is in {b}, the run's data {own.name} in {a}; "
                f"load it with the task's units (profile=motionsense in the {FLAG} spec), "
                "or train on other channels (--channels)"
            )
    if unknown:
        return [f"units not known on both sides for {unknown}: not checked"]
    return []


def describe_test_data(
    spec: str, subjects: str | None, rate_hz: float | None, population: TestPopulation
) -> dict[str, Any]:
    """What a run records about the data it will be released on (``summary.json``'s
    ``test_data``): the flags that load it again, its name and its population."""
    return {
        "spec": spec,
        "subjects": subjects,
        "rate_hz": rate_hz,
        "name": population.name,
        "users": population.users,
        "windows": population.windows,
        "genders": dict(population.genders),
    }
