"""Evaluators, registered by name: each is ``run(ctx) -> dict`` of JSON-able metrics.

Select them on the command line (``--evaluators privacy,utility``). Adding one
is a new module here with a function decorated by :func:`register`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eval.context import EvalContext

Evaluator = Callable[[EvalContext], dict[str, Any]]
EVALUATORS: dict[str, Evaluator] = {}


def register(name: str) -> Callable[[Evaluator], Evaluator]:
    """Decorator adding ``fn`` to :data:`EVALUATORS` under ``name``."""

    def wrap(fn: Evaluator) -> Evaluator:
        if name in EVALUATORS:
            raise ValueError(f"evaluator {name!r} registered twice")
        EVALUATORS[name] = fn
        return fn

    return wrap


# Importing the modules registers their evaluators (order = default run order).
from eval.evaluators import attacks, distortion, dtw, online, replacement  # noqa: E402, F401
