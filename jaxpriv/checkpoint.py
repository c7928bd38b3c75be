"""Save and restore batched sweep states with Orbax.

A sweep trains V variants at once, so its state is one pytree whose leaves all
carry a leading variant axis. A checkpoint step holds two Orbax items:

- ``state``: that pytree (``ocp.args.StandardSave`` / ``StandardRestore``);
- ``meta``: a JSON dict (``ocp.args.JsonSave`` / ``JsonRestore``) with the
  config, the grid (``meta["grid"][i]`` describes variant ``i``), the data
  description, the scaler, the library versions and the epoch/step.

Usage::

    with Checkpointer(run_dir, keep=2, save_every=10) as ckpt:
        for epoch in range(epochs):
            state = train_epoch(state)
            ckpt.save(epoch, state, meta)  # async; skipped unless epoch % 10 == 0
        ckpt.save(epochs, state, meta, force=True)  # final save
    # leaving the block waits for the async saves

    template = jax.eval_shape(init_fn, keys_V, hp_V)
    params, meta = restore_variant(run_dir, template, alpha=0.3, lam=0.5)  # jaxpriv.variants

Restore is checked against the template: structure, shapes and dtypes must
match the saved tree exactly (no silent casts), otherwise ``CheckpointError``
lists the differing leaves.

Typed PRNG keys (``jax.random.key``, any implementation) are saved as they are:
Orbax stores their ``key_data`` plus the implementation name. The template
decides the restored form: a key-typed leaf gives typed keys, a ``uint32`` leaf
of the key-data shape gives the raw data (either way round, whichever was saved).

Sharding: restored leaves are placed on the template's ``sharding``. To restore
the variant axis sharded over devices, give the template that sharding, e.g.
``with_sharding(template, NamedSharding(mesh, P("v")))``. Leaves without a
sharding go to the first local device, so a checkpoint saved on N devices can
be read on a machine with any number of them.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

PyTree = Any

_STATE, _META = "state", "meta"
# Written by Orbax when a step is finalized (local and cloud storage); older
# versions record the commit time in the step metadata instead.
_COMMIT_FILE = "commit_success.txt"
_STEP_METADATA_FILE = "_CHECKPOINT_METADATA"
_MAX_LISTED = 8


class CheckpointError(RuntimeError):
    """A checkpoint is missing, incomplete, corrupted or does not fit the template."""


class Checkpointer:
    """A series of checkpoints in one directory, wrapping ``ocp.CheckpointManager``.

    Args:
        directory: where the step folders live; created unless ``read_only``.
        keep: number of latest checkpoints kept (older ones are deleted).
        save_every: ``save(step, ...)`` writes only when ``step % save_every == 0``
            (or ``force=True``).
        async_save: write in a background thread; call ``wait()`` / ``close()``
            (or use ``with``) before reading or exiting.
        read_only: open an existing directory for reading only (never creates it).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        keep: int = 2,
        save_every: int = 1,
        async_save: bool = True,
        read_only: bool = False,
    ) -> None:
        if keep < 1 or save_every < 1:
            raise ValueError(f"keep and save_every must be >= 1, got {keep=}, {save_every=}")
        self.directory = Path(directory).expanduser().absolute()
        self.read_only = read_only
        if read_only and not self.directory.is_dir():
            raise CheckpointError(f"no checkpoint in {self.directory}: directory does not exist")
        policies = ocp.checkpoint_managers
        with _quiet_absl(read_only):
            options = ocp.CheckpointManagerOptions(
                # The policy forms replace the deprecated save_interval_steps /
                # max_to_keep options; FixedIntervalPolicy(n) is save_interval_steps=n.
                save_decision_policy=policies.AnySavePolicy(
                    [
                        policies.FixedIntervalPolicy(save_every),
                        policies.PreemptionCheckpointingPolicy(),
                    ]
                ),
                preservation_policy=policies.LatestN(keep),
                enable_async_checkpointing=async_save,
                create=not read_only,
                read_only=read_only,
            )
            self._manager = ocp.CheckpointManager(
                self.directory,
                options=options,
                item_names=(_STATE, _META),
                # Registered handlers (not `checkpointers=`) also let item_metadata
                # report the saved tree without reading any array.
                item_handlers={
                    _STATE: ocp.StandardCheckpointHandler(),
                    _META: ocp.JsonCheckpointHandler(),
                },
            )
        self._closed = False

    # -- writing -----------------------------------------------------------------

    def save(self, step: int, state: PyTree, meta: dict, *, force: bool = False) -> bool:
        """Save ``state`` and the JSON dict ``meta`` as ``step``; returns whether it saved.

        Both are validated before anything is written: a leaf that is not a numeric
        array or scalar, or a ``meta`` value that is not JSON, raises ``TypeError``
        naming it. Tuples in ``meta`` come back as lists (JSON). With ``async_save``
        the write finishes in the background; the step is listed once finalized.
        """
        if self.read_only:
            raise CheckpointError(f"{self.directory} was opened read-only; cannot save")
        if not isinstance(meta, dict):
            raise TypeError(f"meta must be a dict, got {type(meta).__name__}")
        _check_state(state)
        _check_json(meta, "meta")
        if step in self._manager.all_steps():
            raise CheckpointError(f"step {step} already exists in {self.directory}")
        args = ocp.args.Composite(
            **{_STATE: ocp.args.StandardSave(state), _META: ocp.args.JsonSave(dict(meta))}
        )
        try:
            return bool(self._manager.save(step, args=args, force=force))
        except Exception as err:
            raise CheckpointError(f"could not save step {step} to {self.directory}: {err}") from err

    def wait(self) -> None:
        """Block until the async saves have finished (call before exiting or reading)."""
        try:
            self._manager.wait_until_finished()
        except Exception as err:
            raise CheckpointError(f"an async save to {self.directory} failed: {err}") from err

    def close(self) -> None:
        """Wait for pending saves and release the manager; idempotent."""
        if self._closed:
            return
        try:
            self.wait()
        finally:
            self._closed = True
            self._manager.close()

    def __enter__(self) -> Checkpointer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------

    def all_steps(self) -> list[int]:
        """Sorted steps of the finalized checkpoints (in-flight or broken ones are left out)."""
        if self.read_only:
            self._manager.reload()  # another process may have written since
        return sorted(s for s in self._manager.all_steps() if self._is_finalized(s))

    def latest_step(self) -> int | None:
        """The newest finalized step, or ``None``."""
        steps = self.all_steps()
        return steps[-1] if steps else None

    def restore(self, template: PyTree, step: int | None = None) -> tuple[PyTree, dict]:
        """Restore ``(state, meta)`` of ``step`` (default: the latest).

        ``template`` is a pytree of ``jax.ShapeDtypeStruct`` (e.g. from
        ``jax.eval_shape``) or arrays with the saved structure, shapes and dtypes;
        leaves are placed on its shardings (see the module docstring).
        """
        self.wait()
        step = self.resolve_step(step)
        target = jax.tree.map(_abstract, template)
        where = f"step {step} in {self.directory}"
        try:
            saved = self._manager.item_metadata(step)[_STATE]
        except Exception as err:
            raise _corrupted(where, err) from err
        if saved is None:
            raise CheckpointError(f"{where} has no state item (corrupted or incomplete)")
        _check_compatible(target, getattr(saved, "tree", saved), where)
        args = ocp.args.Composite(
            **{_STATE: ocp.args.StandardRestore(target), _META: ocp.args.JsonRestore()}
        )
        try:
            restored = self._manager.restore(step, args=args)
        except Exception as err:
            raise _corrupted(where, err) from err
        state = jax.tree.map(lambda t, x: _key_form(t, x, where), target, restored[_STATE])
        return state, restored[_META]

    def restore_meta(self, step: int | None = None) -> dict:
        """Only the JSON metadata of ``step`` (default: the latest); reads no array."""
        self.wait()
        step = self.resolve_step(step)
        args = ocp.args.Composite(**{_META: ocp.args.JsonRestore()})
        try:
            meta = self._manager.restore(step, args=args)[_META]
        except Exception as err:
            raise _corrupted(f"step {step} in {self.directory}", err) from err
        if not isinstance(meta, dict):
            raise CheckpointError(f"metadata of step {step} in {self.directory} is not a dict")
        return meta

    def resolve_step(self, step: int | None) -> int:
        """``step``, or the latest when ``None``; an error lists the steps there are."""
        steps = self.all_steps()
        if not steps:
            raise CheckpointError(f"no checkpoint in {self.directory}")
        if step is None:
            return steps[-1]
        if step not in steps:
            raise CheckpointError(
                f"no checkpoint for step {step} in {self.directory}; available steps: {steps}"
            )
        return step

    def _is_finalized(self, step: int) -> bool:
        # Orbax already skips `<step>.orbax-checkpoint-tmp*` folders; this also skips
        # a plain step folder that Orbax never committed (e.g. a partial copy).
        folder = self.directory / str(step)
        if (folder / _COMMIT_FILE).is_file():
            return True
        try:
            info = json.loads((folder / _STEP_METADATA_FILE).read_text())
        except (OSError, ValueError):
            return False
        return isinstance(info, dict) and info.get("commit_timestamp_nsecs") is not None


@contextlib.contextmanager
def _quiet_absl(quiet: bool):
    """Orbax warns that a read-only manager will not save; a reader knows that."""
    logger = logging.getLogger("absl")
    level = logger.level
    if quiet:
        logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


# -- helpers -------------------------------------------------------------------------


def with_sharding(template: PyTree, sharding: jax.sharding.Sharding) -> PyTree:
    """``template`` as ``ShapeDtypeStruct`` leaves placed on ``sharding``.

    E.g. ``NamedSharding(mesh, P("v"))`` restores the variant axis split over a
    1-D device mesh, as the sweep engine lays it out.
    """
    return jax.tree.map(
        lambda leaf: jax.ShapeDtypeStruct(np.shape(leaf), _dtype(leaf), sharding=sharding),
        template,
    )


def _dtype(leaf: Any) -> Any:
    return leaf.dtype if hasattr(leaf, "dtype") else np.result_type(leaf)


def _is_key(dtype: Any) -> bool:
    return jax.dtypes.issubdtype(dtype, jax.dtypes.prng_key)


def _abstract(leaf: Any) -> jax.ShapeDtypeStruct:
    """A restore target for ``leaf``; missing shardings become the first local device."""
    sharding = getattr(leaf, "sharding", None)
    if sharding is None:
        # Without it Orbax would reuse the saved device layout, which fails on a
        # machine with another device count.
        sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    return jax.ShapeDtypeStruct(np.shape(leaf), _dtype(leaf), sharding=sharding)


def _key_form(target: jax.ShapeDtypeStruct, leaf: jax.Array, where: str) -> jax.Array:
    """Give a restored leaf the template's form: typed key or raw ``uint32`` key data.

    Orbax rewraps saved typed keys whatever the template says, and leaves saved
    raw key data raw, so the template is applied here.
    """
    want_key, is_key = _is_key(target.dtype), _is_key(leaf.dtype)
    if is_key and not want_key:
        return jax.random.key_data(leaf)
    if want_key and not is_key:
        impl = jax.random.key_impl(jnp.zeros((), target.dtype))
        return jax.random.wrap_key_data(leaf, impl=impl)
    if is_key and leaf.dtype != target.dtype:
        raise CheckpointError(f"{where} holds {leaf.dtype} keys, the template asks {target.dtype}")
    return leaf


def _path(path: Sequence[Any]) -> str:
    # Orbax stores attributes and sequence indices as dict keys, so compare by name.
    parts = [str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path]
    return "/".join(parts) or "<root>"


def _check_compatible(target: PyTree, saved: PyTree, where: str) -> None:
    """Raise ``CheckpointError`` listing leaves whose path, shape or dtype differ."""

    def stored(leaf: Any) -> tuple[tuple[int, ...], str]:
        if _is_key(leaf.dtype):  # Orbax stores typed keys as their uint32 key data
            leaf = jax.eval_shape(jax.random.key_data, leaf)
        return tuple(leaf.shape), str(np.dtype(leaf.dtype))

    want = {_path(p): stored(x) for p, x in jax.tree_util.tree_flatten_with_path(target)[0]}
    have = {
        _path(p): (tuple(x.shape), str(np.dtype(x.dtype)))
        for p, x in jax.tree_util.tree_flatten_with_path(saved)[0]
    }
    problems = [
        f"{p}: checkpoint {_fmt(have[p])}, template {_fmt(want[p])}"
        for p in sorted(want.keys() & have.keys())
        if want[p] != have[p]
    ]
    problems += [f"{p}: only in the template" for p in sorted(want.keys() - have.keys())]
    problems += [f"{p}: only in the checkpoint" for p in sorted(have.keys() - want.keys())]
    if problems:
        shown = "\n  ".join(problems[:_MAX_LISTED])
        extra = len(problems) - _MAX_LISTED
        more = f"\n  ... and {extra} more" if extra > 0 else ""
        raise CheckpointError(
            f"template does not match {where} ({len(problems)} leaves differ; a different "
            f"grid or model size?):\n  {shown}{more}"
        )


def _fmt(shape_dtype: tuple[tuple[int, ...], str]) -> str:
    return f"{shape_dtype[1]}{list(shape_dtype[0])}"


def _corrupted(where: str, err: BaseException) -> CheckpointError:
    first_line = (str(err).strip().splitlines() or [""])[0][:300]
    return CheckpointError(
        f"cannot read {where}: corrupted or incomplete ({type(err).__name__}: {first_line})"
    )


def _check_state(state: PyTree) -> None:
    """Reject leaves Orbax cannot store before it starts its save threads.

    A failure inside Orbax's async save can leave its background threads waiting
    for minutes, so bad input is stopped here.
    """
    for path, leaf in jax.tree_util.tree_flatten_with_path(state)[0]:
        ok = isinstance(leaf, (int, float, np.generic, np.ndarray, jax.Array))
        ok = ok and (_is_key(_dtype(leaf)) or np.dtype(_dtype(leaf)).kind in "biufc")
        if not ok:
            raise TypeError(
                f"state leaf {_path(path)!r} ({type(leaf).__name__}) is not a numeric array; "
                "checkpoints hold arrays only (put other values in meta)"
            )


def _check_json(value: Any, where: str) -> None:
    """Raise ``TypeError`` naming the first entry that JSON cannot round-trip."""
    if value is None or isinstance(value, (str, bool, int, float)):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"{where}: key {key!r} is not a string (JSON keys must be)")
            _check_json(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
    else:
        raise TypeError(
            f"{where} is a {type(value).__name__}, which is not JSON-serializable; "
            "convert it (e.g. float(x), x.tolist(), str(x))"
        )
