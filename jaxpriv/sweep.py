"""The one sweep engine: train a grid of hyperparameter variants at once.

A *grid* (:mod:`jaxpriv.grid`) is a list of dicts of hyperparameter values, e.g.
``[{"alpha": 0.1, "lam": 0.1, "lr": 5e-4, "seed": 0}, ...]``. :func:`jaxpriv.grid.stack_grid`
turns it into a *hyperparameter pytree*: one array leaf per name with a leading
variant axis ``V`` (float32 for floats, int32 for ints). A method writes pure
functions over ONE variant, e.g. ``init(key, hp) -> state`` and
``step(state, hp, data) -> (state, metrics)``; the engine vmaps them over the
variant axis (data shared, not batched) and shards that axis over every device
with a 1-D mesh whose single axis is named ``"variants"``::

    grid = product_grid(lr=[1e-3, 3e-3], seed=[0, 1, 2])  # jaxpriv.grid
    vmesh = sweep.make_variant_mesh(len(grid))          # over jax.devices()
    hp = vmesh.stack(grid)                               # V padded to a multiple of devices
    data = vmesh.replicate(data)                         # one copy per device
    fit_all = sweep.sweep_jit(fit, vmesh, data_argnums=(1,))
    params = vmesh.unpad(sweep.to_host(fit_all(hp, data)))

Variants never talk to each other, so sharding the variant axis needs no
collectives: each device trains its own slice of the grid. A grid that does not
divide the device count is padded by repeating the last variant (valid values,
so the padding cannot produce NaNs) and the padding is dropped afterwards.

Multi-host
----------
JAX is multi-controller: every host runs the same program on its own devices.
There is no home-made distribution here; the recipe is:

1. Each process calls :func:`initialize_distributed` first, before any other JAX
   call. It calls ``jax.distributed.initialize()`` when a cluster is detected
   (explicit arguments; ``JAX_COORDINATOR_ADDRESS`` with ``JAX_NUM_PROCESSES``
   and ``JAX_PROCESS_ID``; a multi-task Slurm step; an Open MPI launch; a
   multi-host Cloud TPU slice) and is a no-op on a single machine.
2. Each process builds the same grid and calls :func:`make_variant_mesh`, which
   spans ``jax.devices()``: the *global* device list of all processes.
3. :meth:`VariantMesh.shard` / :meth:`VariantMesh.replicate` are
   ``jax.device_put`` onto global ``NamedSharding``s. For host values JAX checks
   that every process passed the same value, so the grid and the shared data
   must be identical on every process (same command line, same seeds).
4. The :func:`sweep_jit` function returns global arrays; each process holds the
   shards of its own devices. :func:`to_host` gathers them
   (``multihost_utils.process_allgather``) when a process needs all variants,
   e.g. to write a report.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

from jaxpriv.grid import stack_grid

AXIS = "variants"


# --------------------------------------------------------------------------- devices


def padded_count(num_variants: int, num_devices: int) -> int:
    """``num_variants`` rounded up to a multiple of ``num_devices``."""
    return -(-num_variants // num_devices) * num_devices


@dataclasses.dataclass(frozen=True)
class VariantMesh:
    """How the variant axis is laid out on devices.

    Every variant-batched leaf has ``padded`` rows on the device; rows from
    ``num_variants`` on repeat the last real variant.
    """

    mesh: jax.sharding.Mesh
    num_variants: int
    padded: int

    def __post_init__(self) -> None:
        if self.mesh.axis_names != (AXIS,):
            raise ValueError(f"the mesh must be 1-D with axis {AXIS!r}, got {self.mesh.axis_names}")
        if self.num_variants < 1 or self.padded < self.num_variants:
            raise ValueError(f"need 1 <= num_variants <= padded, got {self}")
        if self.padded % self.mesh.size:
            raise ValueError(f"padded={self.padded} is not a multiple of {self.mesh.size} devices")

    @property
    def variant_sharding(self) -> NamedSharding:
        """Leading axis split over the devices."""
        return NamedSharding(self.mesh, P(AXIS))

    @property
    def replicated_sharding(self) -> NamedSharding:
        """A full copy on every device."""
        return NamedSharding(self.mesh, P())

    @property
    def real_mask(self) -> np.ndarray:
        """``(padded,)`` bool: True for real variants, False for padding."""
        return np.arange(self.padded) < self.num_variants

    def _check_leading(self, tree: Any, size: int, what: str) -> None:
        for path, leaf in jax.tree_util.tree_leaves_with_path(tree):
            shape = np.shape(leaf)
            if not shape or shape[0] != size:
                raise ValueError(
                    f"{what}: leaf {jax.tree_util.keystr(path) or '<root>'} has shape {shape}, "
                    f"expected a leading variant axis of {size}"
                )

    def shard(self, tree: Any) -> Any:
        """Place every leaf split on its leading (variant) axis; pad first."""
        self._check_leading(tree, self.padded, "shard (did you pad?)")
        return jax.device_put(tree, self.variant_sharding)

    def replicate(self, tree: Any) -> Any:
        """Place every leaf whole on every device (data shared by all variants)."""
        return jax.device_put(tree, self.replicated_sharding)

    def stack(self, grid: Sequence[Mapping[str, float | int]]) -> dict[str, jax.Array]:
        """The grid's hyperparameter pytree, padded and sharded over the devices."""
        return self.shard(self.pad(stack_grid(grid)))

    def pad(self, tree: Any) -> Any:
        """Grow the leading axis from ``num_variants`` to ``padded`` by repeating the last row."""
        self._check_leading(tree, self.num_variants, "pad")
        extra = self.padded - self.num_variants
        if not extra:
            return tree

        def pad_leaf(x):
            # Host arrays stay on the host (no device round trip before shard()).
            xp = jnp if isinstance(x, jax.Array) else np
            x = xp.asarray(x)
            return xp.concatenate([x, xp.repeat(x[-1:], extra, axis=0)], axis=0)

        return jax.tree.map(pad_leaf, tree)

    def unpad(self, tree: Any) -> Any:
        """Drop the padding rows (host or device arrays)."""
        self._check_leading(tree, self.padded, "unpad")
        return jax.tree.map(lambda x: x[: self.num_variants], tree)


def make_variant_mesh(
    num_variants: int, devices: Sequence[jax.Device] | None = None
) -> VariantMesh:
    """A 1-D ``"variants"`` mesh over ``devices`` (default: all global devices)."""
    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("make_variant_mesh needs at least one device")
    if num_variants < 1:
        raise ValueError(f"num_variants must be >= 1, got {num_variants}")
    # jax.make_mesh defaults to Explicit axes (sharding in the types); the
    # per-variant functions carry no sharding annotations, so let the compiler
    # propagate the jit in/out shardings (Auto).
    mesh = jax.make_mesh((len(devices),), (AXIS,), axis_types=(AxisType.Auto,), devices=devices)
    return VariantMesh(mesh, num_variants, padded_count(num_variants, len(devices)))


def to_host(tree: Any) -> Any:
    """Fetch a pytree as numpy arrays, gathering from all processes when needed."""
    from jax.experimental import multihost_utils

    def fetch(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return multihost_utils.process_allgather(x)
        return np.asarray(x)

    return jax.tree.map(fetch, tree)


# --------------------------------------------------------------------------- transforms


def _normalize(argnums: int | Sequence[int], nargs: int, what: str) -> frozenset[int]:
    argnums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    out = set()
    for i in argnums:
        if not -nargs <= i < nargs:
            raise ValueError(f"{what}={i} is out of range for {nargs} positional arguments")
        out.add(i % nargs)
    return frozenset(out)


def vmap_variants(
    fn: Callable[..., Any],
    *,
    data_argnums: int | Sequence[int] = (),
    static_argnums: int | Sequence[int] = (),
) -> Callable[..., Any]:
    """``jax.vmap`` of a one-variant ``fn`` over the leading axis of its arguments.

    Every positional argument is mapped on axis 0 except those in
    ``data_argnums`` (shared by all variants) and ``static_argnums`` (plain
    Python values passed through untouched, for use under ``jax.jit``'s
    ``static_argnums``). Outputs get the variant axis first. Keyword arguments
    are mapped on axis 0.
    """

    @functools.wraps(fn)
    def batched(*args, **kwargs):
        nargs = len(args)
        static = _normalize(static_argnums, nargs, "static_argnums")
        data = _normalize(data_argnums, nargs, "data_argnums")
        if static & data:
            raise ValueError(f"arguments {sorted(static & data)} are both static and data")
        dynamic = [i for i in range(nargs) if i not in static]

        def one_variant(*dyn, **kw):
            full = list(args)
            for i, value in zip(dynamic, dyn, strict=True):
                full[i] = value
            return fn(*full, **kw)

        in_axes = tuple(None if i in data else 0 for i in dynamic)
        return jax.vmap(one_variant, in_axes=in_axes, out_axes=0)(
            *(args[i] for i in dynamic), **kwargs
        )

    return batched


def _num_positional(fn: Callable[..., Any]) -> int:
    params = inspect.signature(fn).parameters.values()
    kinds = [p.kind for p in params]
    if inspect.Parameter.VAR_POSITIONAL in kinds:
        raise ValueError("fn takes *args: pass num_args= to sweep_jit")
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(kind in positional for kind in kinds)


def sweep_jit(
    fn: Callable[..., Any],
    vmesh: VariantMesh,
    *,
    data_argnums: int | Sequence[int] = (),
    static_argnums: int | Sequence[int] = (),
    donate_argnums: int | Sequence[int] = (),
    num_args: int | None = None,
) -> Callable[..., Any]:
    """``jax.jit(vmap_variants(fn))`` laid out on ``vmesh``.

    Variant-batched arguments and every output are sharded on ``"variants"``
    (leading axis ``vmesh.padded``); ``data_argnums`` are replicated. The
    shardings are given to ``jit`` as ``in_shardings``/``out_shardings``, so it
    compiles once per input shapes and places host inputs itself; already placed
    inputs (:meth:`VariantMesh.shard`, :meth:`VariantMesh.replicate`, needed
    with several processes) are used as they are; an array committed to another
    multi-device sharding is an error. Call it with all positional arguments and
    no keywords (``num_args`` overrides the count taken from ``fn``'s signature).
    """
    nargs = _num_positional(fn) if num_args is None else num_args
    static = _normalize(static_argnums, nargs, "static_argnums")
    data = _normalize(data_argnums, nargs, "data_argnums")
    # jit's in_shardings lists the non-static positional arguments only.
    in_shardings = tuple(
        vmesh.replicated_sharding if i in data else vmesh.variant_sharding
        for i in range(nargs)
        if i not in static
    )
    batched = vmap_variants(fn, data_argnums=tuple(data), static_argnums=tuple(static))
    return jax.jit(
        batched,
        in_shardings=in_shardings,
        out_shardings=vmesh.variant_sharding,
        static_argnums=tuple(sorted(static)),
        donate_argnums=donate_argnums,
    )


# --------------------------------------------------------------------------- multi-host


def _distributed_kwargs(
    explicit: Mapping[str, Any], environ: Mapping[str, str]
) -> dict[str, Any] | None:
    """Arguments for ``jax.distributed.initialize``, or None on a single machine."""
    given = {k: v for k, v in explicit.items() if v is not None}
    if given:
        return given
    if "JAX_COORDINATOR_ADDRESS" in environ:
        # JAX reads the address (and JAX_LOCAL_DEVICE_IDS) itself but has no
        # variable for the process count and id; these two are our convention.
        kwargs: dict[str, Any] = {}
        for var, arg in (("JAX_NUM_PROCESSES", "num_processes"), ("JAX_PROCESS_ID", "process_id")):
            if var in environ:
                kwargs[arg] = int(environ[var])
        return kwargs
    slurm = ("SLURM_JOB_ID", "SLURM_STEP_NODELIST", "SLURM_NTASKS", "SLURM_PROCID", "SLURM_LOCALID")
    if all(v in environ for v in slurm) and int(environ["SLURM_NTASKS"]) > 1:
        return {}  # JAX's own Slurm detection fills in the rest
    if "OMPI_MCA_orte_hnp_uri" in environ and int(environ.get("OMPI_COMM_WORLD_SIZE", "1")) > 1:
        return {}  # mpirun / mpiexec
    hosts = [h for h in environ.get("TPU_WORKER_HOSTNAMES", "").split(",") if h.strip()]
    if len(hosts) > 1 or "MEGASCALE_COORDINATOR_ADDRESS" in environ:
        return {}  # multi-host Cloud TPU slice
    return None


def initialize_distributed(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    local_device_ids: int | Sequence[int] | None = None,
) -> bool:
    """Join a multi-process JAX run when there is one; call first, in every process.

    Calls ``jax.distributed.initialize`` when arguments are given or the
    environment names a multi-process launch (see the module docstring), and
    does nothing on a single machine or when already initialized. Returns
    whether it initialized. Afterwards ``jax.devices()`` lists the devices of
    all processes, which is what :func:`make_variant_mesh` spans.
    """
    if jax.distributed.is_initialized():
        return False
    explicit = {
        "coordinator_address": coordinator_address,
        "num_processes": num_processes,
        "process_id": process_id,
        "local_device_ids": local_device_ids,
    }
    kwargs = _distributed_kwargs(explicit, os.environ)
    if kwargs is None:
        return False
    jax.distributed.initialize(**kwargs)
    return True
