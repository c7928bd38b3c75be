"""Progress of a run: tqdm on a terminal, one plain line per chunk otherwise (logs, CI,
pipes), with the rate, the time left and the losses over variants."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import numpy as np

if TYPE_CHECKING:
    from jaxpriv.run import Chunk, Plan, Record

_NAMED_VARIANTS = 4  # each variant's losses are shown by name up to this many


class Progress:
    """tqdm on a terminal; one plain line per chunk otherwise (logs, CI, pipes)."""

    def __init__(self, plan: Plan, names: Sequence[str], position: int, stream: TextIO):
        self.plan, self.names, self.stream = plan, list(names), stream
        self.start, self.done_s, self.first = position, 0.0, True
        self.bar = None
        if stream.isatty():
            from tqdm.auto import tqdm

            self.bar = tqdm(total=plan.total or None, initial=position, unit=plan.unit,
                            file=stream, dynamic_ncols=True)  # fmt: skip

    def update(
        self, chunk: Chunk, position: int, seconds: float, records: list[Record], state: Any
    ) -> None:
        self.done_s += seconds
        show = self.plan.show
        keys = show.get(chunk.phase, ()) if isinstance(show, Mapping) else show
        stats = _stats(records[-1] if records else {}, keys, self.names)
        dead = _diverged(state, self.names)
        tail = (f" | {stats}" if stats else "") + (f" | diverged: {dead}" if dead else "")
        rate = ""
        if self.plan.work_per_unit:
            per_s = self.plan.work_per_unit * chunk.n * len(self.names) / max(seconds, 1e-9)
            rate = f"  {per_s:9.0f} {self.plan.work_name}/s (all variants" + (
                ", incl. compiling)" if self.first else ")"
            )
        self.first = False
        if self.bar is not None:
            if chunk.phase:
                self.bar.set_description(chunk.phase)
            self.bar.set_postfix_str((rate.strip() + tail).strip(" |"), refresh=False)
            self.bar.update(chunk.n)
            return
        total = self.plan.total
        left = max(total - position, 0)
        eta = left * self.done_s / max(position - self.start, 1) if total else math.nan
        phase = f" {chunk.phase:9s}" if chunk.phase else ""
        print(
            f"{self.plan.unit} {position}/{total or '?'}{phase} {seconds / chunk.n:6.1f} "
            f"s/{self.plan.unit}{rate}  ETA {eta:5.0f} s{tail}",
            file=self.stream,
            flush=True,
        )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _stats(record: Mapping[str, Any], keys: Sequence[str], names: Sequence[str]) -> str:
    """Per key: each variant's value by name when there are a few, else the median
    [min-max] over variants."""
    parts = []
    for k in keys:
        if k not in record:
            continue
        v = np.asarray(record[k], np.float64)
        if v.size <= _NAMED_VARIANTS:
            parts.append(f"{k} " + ", ".join(f"{n} {x:.3f}" for n, x in zip(names, v, strict=True)))
        elif np.isfinite(v).any():
            parts.append(f"{k} {np.nanmedian(v):.3f} [{np.nanmin(v):.3f}-{np.nanmax(v):.3f}]")
    return "  ".join(parts)


def _diverged(state: Any, names: Sequence[str]) -> str:
    if not isinstance(state, Mapping) or "alive" not in state:
        return ""
    alive = np.asarray(state["alive"])[: len(names)].astype(bool)
    return ", ".join(names[i] for i in np.flatnonzero(~alive))
