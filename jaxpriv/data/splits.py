"""Train/test splits of a :class:`Dataset`, made on recordings so no window straddles them.

Every split returns ``(train, test)`` Datasets; anything a split leaves out or cannot
place is appended to both sides' ``notes`` (never silent). Window both sides with the
same vocabularies (:func:`jaxpriv.data.windows.vocabularies` of the full dataset, or
:func:`jaxpriv.data.windows.window_splits`) so label indices agree.

- by subject: held-out users (MSDA's activity split; DySan's generalisation to new users);
- by trial: held-out recordings of known users (MSDA's identity split);
- by time: the end of every recording, for datasets with one long trial per activity;
- random / k-fold subject splits, stratified by gender, for leave-users-out evaluation.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Literal

import numpy as np

from jaxpriv.data.dataset import DataFormatError, Dataset, Recording, natural_key

MOTIONSENSE_SUBJECT_TEST: tuple[str, ...] = ("5", "10", "12", "22")
"""MSDA's held-out users (0-based ids 4, 9, 11, 21 in its code): 2 female, 2 male."""
MOTIONSENSE_TRIAL_TEST: tuple[str, ...] = ("11", "12", "13", "14", "15", "16")
"""MotionSense's short trials, one per activity: MSDA's test set for identity."""
SPLIT_KINDS: tuple[str, ...] = ("subject", "trial", "time")

Split = tuple[Dataset, Dataset]
Seed = int | np.random.Generator
Stratify = Literal["gender"] | None


def split_by_subject(ds: Dataset, test_subjects: Sequence[str]) -> Split:
    """All recordings of ``test_subjects`` in test, the other subjects' in train."""
    return _split_on(ds, "subject", test_subjects, ds.subject_ids)


def split_by_trial(
    ds: Dataset, test_trials: Sequence[str], *, allow_missing: bool = False
) -> Split:
    """All recordings of ``test_trials`` in test, the other trials in train.

    ``allow_missing=True`` ignores test trials the dataset lacks (listed in ``notes``), so
    :data:`MOTIONSENSE_TRIAL_TEST` applies to MotionSense restricted to some activities.
    """
    return _split_on(ds, "trial", test_trials, ds.trials, allow_missing=allow_missing)


def split_last_trial(ds: Dataset) -> Split:
    """Per (subject, activity), the last trial (natural order) in test, the others in train.

    On MotionSense this is exactly the short trials 11-16 (MSDA's identity split); it
    also works for datasets numbering trials 1..n per activity. Pairs with a single
    trial stay in train and are listed in ``notes``.
    """
    trials: dict[tuple[str, str], set[str]] = defaultdict(set)
    for rec in ds.recordings:
        trials[rec.subject, rec.activity].add(rec.trial)
    last = {k: max(v, key=natural_key) for k, v in trials.items() if len(v) > 1}
    single = sorted((k for k, v in trials.items() if len(v) == 1), key=_pair_key)
    notes = []
    if single:
        shown = ", ".join(f"{s}/{a}" for s, a in single[:10]) + (" ..." if len(single) > 10 else "")
        notes.append(
            f"split_last_trial: {len(single)} (subject, activity) pairs have a single trial "
            f"and stay in train: {shown}"
        )
    return _partition(ds, lambda r: last.get((r.subject, r.activity)) == r.trial, notes)


def split_by_time(
    ds: Dataset, test_fraction: float, *, gap: int, min_samples: int | None = None
) -> Split:
    """Hold out the last ``test_fraction`` of every recording, ``gap`` samples after train.

    Pieces of one recording cut by invalid samples (same subject, activity, trial and
    source; ordered by ``segment``) are treated as one stream, so train never follows
    test in time. Pass ``gap`` = window length so no window touches both sides. Parts
    shorter than ``min_samples`` (default ``max(gap, 1)``: with gap = window, each kept
    part holds at least one window) are dropped; a stream left without a train or test
    part is dropped entirely. Both are listed in ``notes``.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
    if isinstance(gap, bool) or not isinstance(gap, int | np.integer) or gap < 0:
        raise ValueError(f"gap must be a non-negative integer, got {gap!r}")
    min_samples = max(int(gap), 1) if min_samples is None else int(min_samples)
    if min_samples < 1:
        raise ValueError(f"min_samples must be at least 1, got {min_samples}")
    streams: dict[tuple[str, str, str, str], list[Recording]] = defaultdict(list)
    for rec in ds.recordings:
        streams[rec.subject, rec.activity, rec.trial, rec.source].append(rec)
    train: list[Recording] = []
    test: list[Recording] = []
    notes: list[str] = []
    for pieces in streams.values():
        pieces.sort(key=lambda r: r.segment)
        tr, te = _cut_stream(pieces, test_fraction, int(gap), min_samples, notes)
        train += tr
        test += te
    if not train or not test:
        raise DataFormatError(
            f"{ds.name}: no recording is long enough for a time split "
            f"(test_fraction {test_fraction}, gap {gap}, min_samples {min_samples})"
        )
    return _with(ds, train, notes), _with(ds, test, notes)


def random_test_subjects(
    ds: Dataset,
    *,
    test_fraction: float | None = None,
    n_test: int | None = None,
    seed: Seed = 0,
    stratify_by: Stratify = "gender",
) -> tuple[str, ...]:
    """Reproducibly choose held-out subjects, proportionally from each gender group.

    Give exactly one of ``test_fraction`` (rounded, at least 1) and ``n_test``. Subjects
    of unknown gender form their own group. Same ``seed`` -> same subjects.
    """
    subjects = ds.subject_ids
    if (test_fraction is None) == (n_test is None):
        raise ValueError("give exactly one of test_fraction and n_test")
    if n_test is None:
        if not 0.0 < float(test_fraction) < 1.0:  # type: ignore[arg-type]
            raise ValueError(f"test_fraction must lie in (0, 1), got {test_fraction!r}")
        n_test = max(1, round(float(test_fraction) * len(subjects)))  # type: ignore[arg-type]
    if not 1 <= n_test < len(subjects):
        raise ValueError(
            f"n_test must lie in [1, {len(subjects) - 1}] for {len(subjects)} subjects, "
            f"got {n_test}"
        )
    groups = _strata(ds, stratify_by)
    quotas = _largest_remainder(n_test, [len(g) for g in groups])
    rng = np.random.default_rng(seed)
    chosen = {str(s) for g, q in zip(groups, quotas, strict=True) for s in rng.choice(g, q, False)}
    return tuple(s for s in subjects if s in chosen)


def random_subject_split(
    ds: Dataset,
    *,
    test_fraction: float | None = None,
    n_test: int | None = None,
    seed: Seed = 0,
    stratify_by: Stratify = "gender",
) -> Split:
    """:func:`split_by_subject` on :func:`random_test_subjects`."""
    test = random_test_subjects(
        ds, test_fraction=test_fraction, n_test=n_test, seed=seed, stratify_by=stratify_by
    )
    return split_by_subject(ds, test)


def subject_folds(
    ds: Dataset, k: int, seed: Seed = 0, *, stratify_by: Stratify = "gender"
) -> list[tuple[str, ...]]:
    """Partition the subjects into ``k`` folds of near-equal size, each gender spread evenly.

    Subjects are shuffled within their gender group, the groups concatenated, and dealt
    round-robin to the folds, so fold sizes differ by at most one.
    """
    subjects = ds.subject_ids
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 2 <= k <= len(subjects):
        raise ValueError(f"k must be an integer in [2, {len(subjects)}], got {k!r}")
    rng = np.random.default_rng(seed)
    order = [str(s) for g in _strata(ds, stratify_by) for s in rng.permutation(g)]
    folds = [set(order[i::k]) for i in range(k)]
    return [tuple(s for s in subjects if s in fold) for fold in folds]


def kfold_subjects(
    ds: Dataset, k: int, seed: Seed = 0, *, stratify_by: Stratify = "gender"
) -> list[Split]:
    """``k`` leave-users-out ``(train, test)`` splits; every subject is tested exactly once."""
    return [
        split_by_subject(ds, fold) for fold in subject_folds(ds, k, seed, stratify_by=stratify_by)
    ]


def split_dataset(ds: Dataset, kind: str, **kwargs: Any) -> Split:
    """Split by name with the systems' defaults.

    - ``"subject"``: ``test_subjects=`` if given; else MSDA's :data:`MOTIONSENSE_SUBJECT_TEST`
      when all four are present (and no random-split argument is given); else
      :func:`random_subject_split` with ``test_fraction=0.2`` (or the given ``test_fraction``
      / ``n_test``), ``seed=0``, stratified by gender.
    - ``"trial"``: ``test_trials=`` if given, else :func:`split_last_trial` (= trials 11-16
      on MotionSense).
    - ``"time"``: :func:`split_by_time` with ``test_fraction=0.2``; ``gap`` is required.
    """
    if kind == "subject":
        if "test_subjects" in kwargs:
            return split_by_subject(ds, kwargs.pop("test_subjects"), **kwargs)
        random_args = {"test_fraction", "n_test", "seed", "stratify_by"} & kwargs.keys()
        if not random_args and set(MOTIONSENSE_SUBJECT_TEST) < set(ds.subject_ids):
            return split_by_subject(ds, MOTIONSENSE_SUBJECT_TEST, **kwargs)
        if "n_test" not in kwargs:
            kwargs.setdefault("test_fraction", 0.2)
        return random_subject_split(ds, **kwargs)
    if kind == "trial":
        if "test_trials" in kwargs:
            return split_by_trial(ds, kwargs.pop("test_trials"), **kwargs)
        return split_last_trial(ds, **kwargs)
    if kind == "time":
        if "gap" not in kwargs:
            raise ValueError("a time split needs gap= (the window length, so no window straddles)")
        kwargs.setdefault("test_fraction", 0.2)
        return split_by_time(ds, **kwargs)
    raise ValueError(f"unknown split kind {kind!r}; expected one of {list(SPLIT_KINDS)}")


def _split_on(
    ds: Dataset,
    field: str,
    test_values: Sequence[str],
    available: Sequence[str],
    *,
    allow_missing: bool = False,
) -> Split:
    """Recordings whose ``field`` is in ``test_values`` go to test."""
    if isinstance(test_values, str):
        raise TypeError(f"test {field}s must be a sequence of ids, not the string {test_values!r}")
    wanted = {str(v) for v in test_values}
    unknown = sorted(wanted - set(available), key=natural_key)
    notes = []
    if unknown and not allow_missing:
        raise DataFormatError(
            f"{ds.name}: unknown test {field}(s) {unknown}; available: {list(available)}"
        )
    if unknown:
        notes.append(f"split by {field}: test {field}(s) {unknown} absent from the dataset")
    return _partition(ds, lambda r: getattr(r, field) in wanted, notes)


def _partition(ds: Dataset, is_test: Callable[[Recording], bool], notes: list[str]) -> Split:
    """``(train, test)`` by a per-recording predicate; both sides must be non-empty."""
    test = [r for r in ds.recordings if is_test(r)]
    train = [r for r in ds.recordings if not is_test(r)]
    for side, recs in (("train", train), ("test", test)):
        if not recs:
            raise DataFormatError(f"{ds.name}: the split leaves the {side} side empty")
    return _with(ds, train, notes), _with(ds, test, notes)


def _with(ds: Dataset, recordings: Sequence[Recording], notes: Sequence[str]) -> Dataset:
    return ds.replace(recordings=tuple(recordings), notes=tuple(ds.notes) + tuple(notes))


def _cut_stream(
    pieces: Sequence[Recording], test_fraction: float, gap: int, min_samples: int, notes: list
) -> tuple[list[Recording], list[Recording]]:
    """Train and test parts of one stream (its pieces laid end to end)."""
    lengths = np.array([p.num_samples for p in pieces])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    total = int(offsets[-1])
    test_start = total - round(test_fraction * total)
    train_end = test_start - gap
    train, test = [], []
    for piece, off in zip(pieces, offsets[:-1].tolist(), strict=True):
        for side, lo, hi in (("train", 0, train_end - off), ("test", test_start - off, total)):
            lo, hi = max(lo, 0), min(hi, piece.num_samples)
            if hi - lo <= 0:
                continue
            if hi - lo < min_samples:
                notes.append(
                    f"time split: dropped {_where(piece)} {side} samples [{lo}, {hi}): "
                    f"shorter than {min_samples}"
                )
                continue
            part = dataclasses.replace(
                piece,
                data=piece.data[lo:hi],
                source=f"{piece.source or 'recording'} [{side} samples {lo}:{hi}]",
            )
            (train if side == "train" else test).append(part)
    if not train or not test:
        notes.append(
            f"time split: dropped {_where(pieces[0])} ({total} samples): too short for both "
            f"a train and a test part (test_fraction {test_fraction}, gap {gap}, "
            f"min_samples {min_samples})"
        )
        return [], []
    return train, test


def _strata(ds: Dataset, stratify_by: Stratify) -> list[list[str]]:
    """Subjects grouped by the stratifying attribute (unknown last), each in natural order."""
    if stratify_by not in (None, "gender"):
        raise ValueError(f"stratify_by must be 'gender' or None, got {stratify_by!r}")
    groups: dict[Hashable, list[str]] = defaultdict(list)
    for s in ds.subject_ids:
        info = ds.subjects.get(s)
        value = None if stratify_by is None or info is None else getattr(info, stratify_by)
        groups[value].append(s)
    return [groups[v] for v in sorted(groups, key=lambda v: (v is None, v if v is not None else 0))]


def _largest_remainder(total: int, sizes: Sequence[int]) -> list[int]:
    """Split ``total`` across groups proportionally to ``sizes`` (Hamilton's method)."""
    exact = np.asarray(sizes, float) * total / sum(sizes)
    quotas = np.floor(exact).astype(int)
    order = np.argsort(-(exact - quotas), kind="stable")
    quotas[order[: total - quotas.sum()]] += 1
    return quotas.tolist()


def _pair_key(pair: tuple[str, str]) -> tuple:
    return natural_key(pair[0]), natural_key(pair[1])


def _where(rec: Recording) -> str:
    return f"{rec.source or 'recording'} (subject {rec.subject}, {rec.activity}, trial {rec.trial})"
