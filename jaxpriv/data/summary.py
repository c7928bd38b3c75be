"""``python -m jaxpriv.data.summary --data SPEC``: what a dataset holds, before training on it.

Prints the channels with their units and the profile that made them, subjects (with
attributes), activities (recordings, minutes, windows), and the windows on each side
of the subject, trial and time splits, plus every repair or choice the loader made
(header quirks, left-out falls, gaps...). ``--json`` prints the same as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxpriv.data.dataset import ATTRIBUTES, DataFormatError, Dataset
from jaxpriv.data.load import load_dataset
from jaxpriv.data.profiles import describe_profile
from jaxpriv.data.splits import SPLIT_KINDS, split_dataset
from jaxpriv.data.windows import make_windows


def _window_count(ds: Dataset, window: int, stride: int) -> int:
    return sum(max(0, (r.num_samples - window) // stride + 1) for r in ds.recordings)


def summarize(ds: Dataset, *, window: int = 128, stride: int = 64) -> dict[str, Any]:
    """Counts that let a user check what they loaded (all plain JSON types)."""
    for name, value in (("window", window), ("stride", stride)):
        if value < 1:  # a zero stride would divide by zero below
            raise ValueError(f"{name} must be a positive integer, got {value}")
    genders = Counter(
        {1: "male", 0: "female", None: "unknown"}[s.gender] for s in ds.subjects.values()
    )
    attributes = {}
    for name in ATTRIBUTES[1:]:
        values = [getattr(s, name) for s in ds.subjects.values() if getattr(s, name) is not None]
        if values:
            attributes[name] = {
                "min": min(values),
                "mean": float(np.mean(values)),
                "max": max(values),
            }
    activities = {}
    for act in ds.activities:
        recs = [r for r in ds.recordings if r.activity == act]
        activities[act] = {
            "recordings": len(recs),
            "subjects": len({r.subject for r in recs}),
            "minutes": round(sum(r.num_samples for r in recs) / ds.rate_hz / 60.0, 2),
            "windows": sum(max(0, (r.num_samples - window) // stride + 1) for r in recs),
        }
    splits = {}
    for kind in SPLIT_KINDS:
        try:
            kwargs = {"gap": window} if kind == "time" else {}
            train, test = split_dataset(ds, kind, **kwargs)
        except (DataFormatError, ValueError) as err:
            splits[kind] = {"error": str(err)}
            continue
        splits[kind] = {
            side: {
                "subjects": len(part.subject_ids),
                "recordings": len(part.recordings),
                "windows": _window_count(part, window, stride),
            }
            for side, part in (("train", train), ("test", test))
        }
        splits[kind]["test_subjects"] = list(test.subject_ids) if kind == "subject" else None
    # Windowing once checks the whole dataset the way training will (short recordings etc.).
    windows = make_windows(ds, window=window, stride=stride, short="skip")
    return {
        "name": ds.name,
        "kind": ds.description.get("kind"),
        "path": ds.description.get("path"),
        "layout": ds.description.get("layout"),
        "rate_hz": ds.rate_hz,
        "channels": list(ds.channels),
        "units": {c: ds.units.get(c) for c in ds.channels},
        "profile": describe_profile(ds.description.get("profile")),
        "subjects": {"count": len(ds.subjects), "gender": dict(genders), "attributes": attributes},
        "recordings": len(ds.recordings),
        "minutes": round(sum(r.num_samples for r in ds.recordings) / ds.rate_hz / 60.0, 2),
        "window": window,
        "stride": stride,
        "windows": len(windows),
        "activities": activities,
        "splits": splits,
        "notes": list(ds.notes) + list(windows.notes),
    }


def format_summary(s: dict[str, Any]) -> str:
    """The summary as aligned text tables."""
    subj = s["subjects"]
    lines = [
        f"dataset   {s['name']} ({s['kind']}){'  ' + s['path'] if s['path'] else ''}",
        f"rate      {s['rate_hz']:g} Hz, {len(s['channels'])} channels: {', '.join(s['channels'])}",
        f"units     {_units_text(s.get('units', {}))}",
        f"profile   {s.get('profile', describe_profile(None))}",
        f"subjects  {subj['count']} ("
        + ", ".join(f"{n} {g}" for g, n in sorted(subj["gender"].items()))
        + ")"
        + "".join(
            f"; {k} {v['min']:g}-{v['max']:g} (mean {v['mean']:.1f})"
            for k, v in subj["attributes"].items()
        ),
        f"total     {s['recordings']} recordings, {s['minutes']:.1f} min, "
        f"{s['windows']} windows of {s['window']} (stride {s['stride']})",
        "",
        f"{'activity':<10}{'recordings':>11}{'subjects':>10}{'minutes':>10}{'windows':>10}",
    ]
    for act, a in s["activities"].items():
        lines.append(
            f"{act:<10}{a['recordings']:>11}{a['subjects']:>10}{a['minutes']:>10.1f}{a['windows']:>10}"
        )
    lines += ["", f"{'split':<10}{'side':<7}{'subjects':>10}{'recordings':>11}{'windows':>10}"]
    for kind, sp in s["splits"].items():
        if "error" in sp:
            lines.append(f"{kind:<10}unavailable: {sp['error']}")
            continue
        for side in ("train", "test"):
            part = sp[side]
            lines.append(
                f"{kind if side == 'train' else '':<10}{side:<7}{part['subjects']:>10}"
                f"{part['recordings']:>11}{part['windows']:>10}"
            )
        if sp.get("test_subjects"):
            lines.append(f"{'':<10}test subjects: {', '.join(sp['test_subjects'])}")
    if s["notes"]:
        lines += ["", f"notes ({len(s['notes'])}):"] + [f"  - {n}" for n in s["notes"]]
    return "\n".join(lines)


def _units_text(units: dict[str, str | None]) -> str:
    """``g: gravity.x, ...; rad/s: ...`` (channels grouped by unit, in channel order)."""
    groups: dict[str, list[str]] = {}
    for channel, unit in units.items():
        groups.setdefault(unit or "unknown", []).append(channel)
    return "; ".join(f"{u}: {', '.join(cs)}" for u, cs in groups.items()) or "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jaxpriv.data.summary", description=__doc__)
    parser.add_argument("--data", default="embedded", help="dataset spec (default: embedded)")
    parser.add_argument("--subjects", help="subjects table for a recordings CSV or MotionSense")
    parser.add_argument(
        "--rate", type=float, help="sampling rate (Hz) when there is no time column"
    )
    parser.add_argument("--invalid", choices=("error", "drop", "interpolate"), default="error")
    parser.add_argument("--window", type=int, default=128)
    parser.add_argument("--stride", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    try:
        ds = load_dataset(
            args.data,
            subjects=args.subjects,
            rate_hz=args.rate,
            invalid=args.invalid,
            progress=True,
        )
        summary = summarize(ds, window=args.window, stride=args.stride)
    except (DataFormatError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2) if args.json else format_summary(summary))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
