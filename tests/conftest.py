"""Shared test setup: no test ever writes to the user's ``~/.cache/jaxpriv``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def jaxpriv_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point ``$JAXPRIV_CACHE`` at a session temporary folder; restore it afterwards."""
    cache = tmp_path_factory.mktemp("jaxpriv-cache")
    previous = os.environ.get("JAXPRIV_CACHE")
    os.environ["JAXPRIV_CACHE"] = str(cache)
    try:
        yield cache
    finally:
        if previous is None:
            os.environ.pop("JAXPRIV_CACHE", None)
        else:
            os.environ["JAXPRIV_CACHE"] = previous
