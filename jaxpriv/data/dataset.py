"""The one in-memory representation every loader returns.

A :class:`Dataset` is a list of :class:`Recording` s (one continuous, uniformly
sampled stream of one subject doing one activity in one trial) that share a
channel list and a sampling rate, plus a subjects table of attributes. Arrays
for JAX are derived from it by :mod:`jaxpriv.data.windows`.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

ATTRIBUTES = ("gender", "age", "height", "weight")
"""Subject attributes jaxpriv knows. gender: 1 = male, 0 = female (MotionSense's coding)."""


class DataFormatError(ValueError):
    """Input data is malformed. The message names the file (and row/column) and the problem."""


@dataclasses.dataclass(frozen=True)
class Subject:
    """Attributes of one subject; ``None`` where the source does not say."""

    gender: int | None = None  # 1 = male, 0 = female
    age: float | None = None  # years
    height: float | None = None  # cm
    weight: float | None = None  # kg

    def as_dict(self) -> dict[str, float | int | None]:
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True, eq=False)
class Recording:
    """One continuous stream: ``data`` is ``(T, C)`` sampled at the dataset's rate.

    ``segment`` numbers the pieces of a recording that was cut where invalid
    samples were dropped (0 when it was never cut); windows never cross pieces.
    ``source`` is where it was read from, for error messages and summaries.
    """

    subject: str
    activity: str
    trial: str
    data: np.ndarray
    source: str = ""
    segment: int = 0

    @property
    def num_samples(self) -> int:
        return int(self.data.shape[0])


@dataclasses.dataclass(frozen=True, eq=False)
class Dataset:
    """Recordings sharing channels and rate, with their subjects' attributes.

    ``description`` says how to load it again (stored in checkpoints);
    ``notes`` records what loading repaired or dropped, so nothing is silent;
    ``units`` maps a channel to its unit (``"g"``, ``"rad/s"``, ...; see
    :mod:`jaxpriv.data.units`); a channel left out is of unknown unit.
    """

    recordings: tuple[Recording, ...]
    channels: tuple[str, ...]
    rate_hz: float
    subjects: Mapping[str, Subject]
    description: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    notes: tuple[str, ...] = ()
    units: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.recordings:
            raise DataFormatError(f"{self.name}: the dataset has no recordings")
        if not (math.isfinite(self.rate_hz) and self.rate_hz > 0):
            raise DataFormatError(
                f"{self.name}: sampling rate must be positive, got {self.rate_hz}"
            )
        for rec in self.recordings:
            if rec.data.ndim != 2 or rec.data.shape[1] != len(self.channels):
                raise DataFormatError(
                    f"{rec.source or rec.subject}: data shape {rec.data.shape} does not match "
                    f"{len(self.channels)} channels {list(self.channels)}"
                )
        stray = [c for c in self.units if c not in self.channels]
        if stray:
            raise DataFormatError(f"{self.name}: units given for unknown channel(s) {stray}")

    @property
    def name(self) -> str:
        return str(self.description.get("name", self.description.get("kind", "dataset")))

    @property
    def subject_ids(self) -> tuple[str, ...]:
        """Subjects with at least one recording, in natural order (2 before 10)."""
        return natural_sorted({r.subject for r in self.recordings})

    @property
    def activities(self) -> tuple[str, ...]:
        """Activity codes present, in the dataset's canonical order when it has one."""
        present = {r.activity for r in self.recordings}
        order = [a for a in self.description.get("activity_order", ()) if a in present]
        return tuple(order) + natural_sorted(present - set(order))

    @property
    def trials(self) -> tuple[str, ...]:
        return natural_sorted({r.trial for r in self.recordings})

    def replace(self, **changes: Any) -> Dataset:
        return dataclasses.replace(self, **changes)

    def filter(
        self,
        *,
        subjects: Iterable[str] | None = None,
        activities: Iterable[str] | None = None,
        trials: Iterable[str] | None = None,
    ) -> Dataset:
        """Keep only recordings whose subject, activity and trial are in the given sets."""
        keep = {
            "subject": None if subjects is None else {str(s) for s in subjects},
            "activity": None if activities is None else {str(a) for a in activities},
            "trial": None if trials is None else {str(t) for t in trials},
        }
        recs = tuple(
            r
            for r in self.recordings
            if all(
                allowed is None or getattr(r, field) in allowed for field, allowed in keep.items()
            )
        )
        if not recs:
            raise DataFormatError(f"{self.name}: no recording left after filtering by {keep}")
        return self.replace(recordings=recs)

    def channel_index(self, names: Sequence[str]) -> list[int]:
        missing = [n for n in names if n not in self.channels]
        if missing:
            raise DataFormatError(
                f"{self.name}: unknown channel(s) {missing}; available: {list(self.channels)}"
            )
        return [self.channels.index(n) for n in names]


def natural_key(text: str) -> tuple:
    """Sort key that orders digit runs numerically: sub_2 < sub_10."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))


def natural_sorted(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(sorted(items, key=natural_key))


def parse_gender(value: Any, where: str) -> int | None:
    """Map the codings seen in the wild (1/0, male/female, m/f) to 1 = male, 0 = female."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("", "nan", "na", "none", "?"):
        return None
    if text in ("1", "1.0", "m", "male", "man"):
        return 1
    if text in ("0", "0.0", "f", "female", "woman"):
        return 0
    raise DataFormatError(f"{where}: gender {value!r} is not one of 1/0, male/female, m/f")
