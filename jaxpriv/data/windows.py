"""Fixed-length windows over a :class:`Dataset`, with labels, as host numpy arrays.

Each recording is windowed on its own (starts ``0, stride, 2*stride, ...`` while
``start + window <= T``), so no window crosses a recording, a segment cut or a split.

Label indices point into vocabularies (``activities``, ``subjects``, ``trials``). Train
and test windows must share them: compute them once from the full dataset with
:func:`vocabularies` and pass them to every :func:`make_windows` call, or window both
sides of a split at once with :func:`window_splits`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from typing import Any, Literal, TypedDict

import numpy as np

from jaxpriv.data.dataset import DataFormatError, Dataset, Recording, natural_sorted

ATTRIBUTE_COLUMNS = ("height", "weight", "age")
"""Columns of :attr:`Windows.attributes` (what DySan's sanitizer is conditioned on)."""
LABELS = ("activity", "subject", "gender", "trial", "recording")
GENDER_NAMES = {1: "male", 0: "female", -1: "unknown"}


class Vocabularies(TypedDict):
    """Label vocabularies shared by every Windows built from one dataset."""

    activities: tuple[str, ...]
    subjects: tuple[str, ...]
    trials: tuple[str, ...]


@dataclasses.dataclass(frozen=True, eq=False)
class Windows:
    """``N`` windows of ``W`` samples x ``C`` channels with per-window labels.

    Index arrays (``activity``, ``subject``, ``trial``) point into the vocabularies;
    ``gender`` is 1 male, 0 female, -1 unknown; ``recording`` and ``start`` locate the
    window in the source :class:`Dataset` (``ds.recordings[recording].data[start:]``);
    ``attributes`` is ``(height, weight, age)`` with NaN where unknown. ``notes`` says
    what windowing excluded or skipped.
    """

    x: np.ndarray  # (N, W, C) float32
    activity: np.ndarray  # (N,) int32
    subject: np.ndarray  # (N,) int32
    gender: np.ndarray  # (N,) int32
    trial: np.ndarray  # (N,) int32
    recording: np.ndarray  # (N,) int32
    start: np.ndarray  # (N,) int32
    attributes: np.ndarray  # (N, 3) float32
    activities: tuple[str, ...]
    subjects: tuple[str, ...]
    trials: tuple[str, ...]
    channels: tuple[str, ...]
    rate_hz: float
    window: int
    stride: int
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        coerce = {"x": np.float32, "attributes": np.float32}
        for name in ("activity", "subject", "gender", "trial", "recording", "start"):
            coerce[name] = np.int32
        for name, dtype in coerce.items():
            object.__setattr__(self, name, np.asarray(getattr(self, name), dtype=dtype))
        for name in ("activities", "subjects", "trials", "channels", "notes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        self._check_shapes()

    def _check_shapes(self) -> None:
        n = self.x.shape[0] if self.x.ndim == 3 else -1
        if self.x.shape != (n, self.window, len(self.channels)):
            raise ValueError(
                f"x has shape {self.x.shape}, expected (N, {self.window}, {len(self.channels)})"
            )
        for name in (*LABELS, "start"):
            if getattr(self, name).shape != (n,):
                raise ValueError(f"{name} has shape {getattr(self, name).shape}, expected ({n},)")
        if self.attributes.shape != (n, len(ATTRIBUTE_COLUMNS)):
            raise ValueError(f"attributes has shape {self.attributes.shape}, expected ({n}, 3)")
        vocabs = {"activity": self.activities, "subject": self.subjects, "trial": self.trials}
        for name, vocab in vocabs.items():
            _check_range(name, getattr(self, name), len(vocab))
        if n and not np.isin(self.gender, (-1, 0, 1)).all():
            raise ValueError("gender values must be 1 (male), 0 (female) or -1 (unknown)")

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, mask_or_indices: np.ndarray | Sequence[int] | Sequence[bool]) -> Windows:
        """The windows selected by a boolean mask of length N or by integer indices."""
        idx = np.asarray(mask_or_indices)
        if idx.dtype == bool:
            if idx.shape != (len(self),):
                raise ValueError(f"boolean mask has shape {idx.shape}, expected ({len(self)},)")
        else:
            idx = idx.astype(np.intp)  # an empty list arrives as float64
        arrays = {name: getattr(self, name)[idx] for name in ("x", "attributes", "start", *LABELS)}
        return dataclasses.replace(self, **arrays)

    def labels(self, name: str) -> np.ndarray:
        """The ``(N,)`` int32 labels for ``name`` in activity/subject/gender/trial/recording."""
        if name not in LABELS:
            raise ValueError(f"unknown label {name!r}; expected one of {list(LABELS)}")
        return getattr(self, name)

    def num_classes(self, name: str) -> int:
        """Number of classes of label ``name`` (gender: 2; unknown gender is -1)."""
        sizes = {
            "activity": len(self.activities),
            "subject": len(self.subjects),
            "trial": len(self.trials),
            "gender": 2,
        }
        if name not in sizes:
            raise ValueError(f"unknown label {name!r}; expected one of {sorted(sizes)}")
        return sizes[name]

    def counts(self) -> dict[str, Any]:
        """Summary: shape and window counts per activity, subject, gender and trial."""
        return {
            "windows": len(self),
            "window": self.window,
            "stride": self.stride,
            "channels": list(self.channels),
            "recordings": len(np.unique(self.recording)),
            "activity": _count(self.activity, self.activities),
            "subject": _count(self.subject, self.subjects),
            "trial": _count(self.trial, self.trials),
            "gender": {
                GENDER_NAMES[g]: int(c) for g, c in sorted(Counter(self.gender.tolist()).items())
            },
        }


def vocabularies(*datasets: Dataset, activities: Sequence[str] | None = None) -> Vocabularies:
    """Vocabularies covering every dataset given (pass the full dataset before splitting).

    ``activities`` defaults to the activities present, in the first dataset's canonical
    order (``description["activity_order"]``) then natural order; pass it to restrict
    windows to those activities (e.g. DySan's ``("dws", "ups", "wlk", "jog")``).
    """
    if not datasets:
        raise ValueError("vocabularies() needs at least one dataset")
    recs = [r for ds in datasets for r in ds.recordings]
    if activities is None:
        present = {r.activity for r in recs}
        order = datasets[0].description.get("activity_order", ())
        canon = tuple(a for a in dict.fromkeys(order) if a in present)
        activities = canon + natural_sorted(present - set(canon))
    return Vocabularies(
        activities=tuple(str(a) for a in activities),
        subjects=natural_sorted({r.subject for r in recs}),
        trials=natural_sorted({r.trial for r in recs}),
    )


def make_windows(
    ds: Dataset,
    *,
    window: int,
    stride: int,
    activities: Sequence[str] | None = None,
    subjects: Sequence[str] | None = None,
    trials: Sequence[str] | None = None,
    short: Literal["error", "skip"] = "error",
) -> Windows:
    """Cut every recording of ``ds`` into windows of ``window`` samples every ``stride``.

    Vocabularies default to ``ds``'s own (:func:`vocabularies`); pass the full dataset's
    to keep label indices consistent across splits. Recordings whose activity is not in
    ``activities`` are excluded (reported in ``notes``); a subject or trial missing from
    its vocabulary is an error (the vocabulary was built from the wrong dataset). A
    recording shorter than ``window``: ``short="error"`` raises :class:`DataFormatError`,
    ``short="skip"`` skips it and says so in ``notes``.
    """
    _check_positive(window=window, stride=stride)
    if short not in ("error", "skip"):
        raise ValueError(f"short must be 'error' or 'skip', got {short!r}")
    own = vocabularies(ds, activities=activities)
    vocab = Vocabularies(
        activities=own["activities"],
        subjects=own["subjects"] if subjects is None else tuple(map(str, subjects)),
        trials=own["trials"] if trials is None else tuple(map(str, trials)),
    )
    kept, notes = _select_recordings(ds, vocab, window, short)
    counts = [(r.num_samples - window) // stride + 1 for _, r in kept]
    x_NxWxC = np.empty((sum(counts), window, len(ds.channels)), dtype=np.float32)
    pos = 0
    for (_, rec), n in zip(kept, counts, strict=True):
        # (T-W+1, C, W) view; every stride-th start, then time before channels.
        view = np.lib.stride_tricks.sliding_window_view(rec.data, window, axis=0)
        x_NxWxC[pos : pos + n] = view[::stride].transpose(0, 2, 1)
        pos += n
    labels = _window_labels(ds, kept, counts, stride, vocab)
    return Windows(
        x=x_NxWxC,
        **labels,
        **vocab,
        channels=ds.channels,
        rate_hz=ds.rate_hz,
        window=int(window),
        stride=int(stride),
        notes=tuple(notes),
    )


def window_splits(
    *splits: Dataset,
    window: int,
    stride: int,
    activities: Sequence[str] | None = None,
    short: Literal["error", "skip"] = "error",
) -> tuple[Windows, ...]:
    """Window several datasets (e.g. ``train, test``) with one shared set of vocabularies."""
    vocab = vocabularies(*splits, activities=activities)
    return tuple(
        make_windows(part, window=window, stride=stride, short=short, **vocab) for part in splits
    )


def _select_recordings(
    ds: Dataset, vocab: Vocabularies, window: int, short: str
) -> tuple[list[tuple[int, Recording]], list[str]]:
    """Recordings to window (with their index in ``ds``) and notes on what was left out."""
    kept: list[tuple[int, Recording]] = []
    notes: list[str] = []
    excluded = Counter(r.activity for r in ds.recordings if r.activity not in vocab["activities"])
    if excluded:
        notes.append(
            "excluded activities not in the vocabulary "
            f"{list(vocab['activities'])}: "
            + ", ".join(f"{a} ({n} recordings)" for a, n in sorted(excluded.items()))
        )
    for i, rec in enumerate(ds.recordings):
        if rec.activity not in vocab["activities"]:
            continue
        for field, names in (("subject", vocab["subjects"]), ("trial", vocab["trials"])):
            if getattr(rec, field) not in names:
                raise DataFormatError(
                    f"{_describe(rec)}: {field} {getattr(rec, field)!r} is not in the "
                    f"{field} vocabulary {list(names)}; build vocabularies from the full "
                    "dataset (vocabularies(ds)) before splitting"
                )
        if rec.num_samples < window:
            message = f"{_describe(rec)}: {rec.num_samples} samples, shorter than window {window}"
            if short == "error":
                raise DataFormatError(message + " (pass short='skip' to skip such recordings)")
            notes.append("skipped " + message)
            continue
        kept.append((i, rec))
    if not kept:
        raise DataFormatError(
            f"{ds.name}: no windows of {window} samples; " + ("; ".join(notes) or "no recordings")
        )
    return kept, notes


def _window_labels(
    ds: Dataset,
    kept: Sequence[tuple[int, Recording]],
    counts: Sequence[int],
    stride: int,
    vocab: Vocabularies,
) -> dict[str, np.ndarray]:
    """Per-window label arrays, built per recording and repeated over its windows."""
    per_rec = {
        "activity": [vocab["activities"].index(r.activity) for _, r in kept],
        "subject": [vocab["subjects"].index(r.subject) for _, r in kept],
        "trial": [vocab["trials"].index(r.trial) for _, r in kept],
        "recording": [i for i, _ in kept],
        "gender": [_gender(ds, r.subject) for _, r in kept],
    }
    labels = {k: np.repeat(np.asarray(v, np.int32), counts) for k, v in per_rec.items()}
    labels["start"] = np.concatenate([np.arange(n, dtype=np.int32) * stride for n in counts])
    attrs = np.asarray([_attributes(ds, r.subject) for _, r in kept], np.float32)
    labels["attributes"] = np.repeat(attrs.reshape(-1, len(ATTRIBUTE_COLUMNS)), counts, axis=0)
    return labels


def _gender(ds: Dataset, subject: str) -> int:
    info = ds.subjects.get(subject)
    return -1 if info is None or info.gender is None else int(info.gender)


def _attributes(ds: Dataset, subject: str) -> list[float]:
    info = ds.subjects.get(subject)
    values = [None if info is None else getattr(info, a) for a in ATTRIBUTE_COLUMNS]
    return [np.nan if v is None else float(v) for v in values]


def _describe(rec: Recording) -> str:
    where = rec.source or "recording"
    return f"{where} (subject {rec.subject}, activity {rec.activity}, trial {rec.trial})"


def _count(index: np.ndarray, vocab: Sequence[str]) -> dict[str, int]:
    counts = np.bincount(index, minlength=len(vocab))
    return {name: int(c) for name, c in zip(vocab, counts, strict=True) if c}


def _check_range(name: str, index: np.ndarray, size: int) -> None:
    if index.size and (index.min() < 0 or index.max() >= size):
        raise ValueError(
            f"{name} indices must lie in [0, {size}), got {index.min()}..{index.max()}"
        )


def _check_positive(**values: int) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value <= 0:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
