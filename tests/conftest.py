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


@pytest.fixture(scope="module")
def shared_compilation_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A module whose CLI runs compile the same programs shares them on disk
    (``pytestmark = pytest.mark.usefixtures("shared_compilation_cache")``)."""
    import jax
    from jax.experimental.compilation_cache import compilation_cache as xla_cache

    names = ("jax_compilation_cache_dir", "jax_persistent_cache_min_compile_time_secs")
    old = {k: getattr(jax.config, k) for k in names}
    jax.config.update(names[0], str(tmp_path_factory.mktemp("xla")))
    jax.config.update(names[1], 0)
    xla_cache.reset_cache()  # take the new folder even if the cache was set up before
    yield
    for k, v in old.items():
        jax.config.update(k, v)
    xla_cache.reset_cache()  # later tests do not write into this module's folder
