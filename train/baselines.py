"""Write MSDA's classic baselines as a run folder: ``python -m train.baselines``.

Nothing trains: FFT resampling, SSA and additive noise (:mod:`jaxpriv.baselines`) are
fixed transforms. The command still writes a real run folder, so the evaluation harness
treats the baselines like any trained method: an Orbax checkpoint (the stacked
parameters of every transform, one variant each, plus metadata: the transforms, the
data spec of the preset and the dataset's description), and ``summary.json`` /
``summary.md`` with each transform's measured distortion on a sample of held-out
windows and its release speed.

    python -m train.baselines [--data embedded] [--out runs/baselines-msda]
        [--preset msda|dysan] [--transforms resample:10,resample:5,ssa:2,ssa:1]
        [--ssa-window 10] [--space scaled|raw] [--test-data SPEC]

Presets give the data spec the baselines are compared under: ``msda`` (the 2
magnitudes, windows of 128 with stride 10, standardised, Trial split) or ``dysan``
(6 channels, 125/63, min-max, Subject split). Transform specs: ``resample:HZ``
(target rate), ``ssa:K`` (leading components kept), ``noise:DB`` (SNR).

Running it again over the same ``--out`` reuses the checkpoint when it describes the
same transforms and data; ``--fresh`` writes a new step over a different one.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxpriv import baselines
from jaxpriv.checkpoint import Checkpointer, CheckpointError
from jaxpriv.data.dataset import DataFormatError
from jaxpriv.data.task import TaskData, dysan_task, msda_task
from jaxpriv.run import check_identity, run_metadata
from jaxpriv.run_io import format_table, write_json_atomic, write_text_atomic
from train import (
    add_task_arguments,
    add_test_data_arguments,
    check_test_data,
    finish_run,
    load_task,
    task_identity,
)

PRESETS = {"msda": msda_task, "dysan": dysan_task}  # the data spec compared under
DEFAULT_TRANSFORMS = "resample:10,resample:5,ssa:2,ssa:1"  # MSDA's Table 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m train.baselines",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", default="embedded", help="dataset spec (default: embedded)")
    p.add_argument("--subjects", help="subjects table (recordings CSV, MotionSense)")
    p.add_argument("--rate", type=float, help="sampling rate when the CSV has no time column")
    p.add_argument("--out", help="run folder (default: runs/baselines-<preset>)")
    p.add_argument("--preset", default="msda", choices=sorted(PRESETS), help="data spec")
    p.add_argument(
        "--transforms",
        default=DEFAULT_TRANSFORMS,
        help=f"comma list of resample:HZ, ssa:K, noise:DB (default: {DEFAULT_TRANSFORMS})",
    )
    p.add_argument(
        "--ssa-window",
        type=int,
        default=baselines.DEFAULT_SSA_WINDOW,
        help=f"SSA embedding window in samples (default: {baselines.DEFAULT_SSA_WINDOW}, MSDA's)",
    )
    p.add_argument(
        "--space",
        default="scaled",
        choices=baselines.SPACES,
        help="apply the baselines to the training-scaled windows (MSDA's choice) or raw ones",
    )
    p.add_argument(
        "--sample", type=int, default=2048, help="held-out windows measured for the summary"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the sample and of the noise")
    p.add_argument("--fresh", action="store_true", help="write over a different checkpoint")
    add_task_arguments(p)
    add_test_data_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    out = Path(args.out or f"runs/baselines-{args.preset}")
    started = time.perf_counter()
    try:
        if args.sample < 1:
            raise ValueError(f"--sample must be >= 1, got {args.sample}")
        task, ds, data = load_task(args, PRESETS[args.preset](), require=("activity", "subject"))
        window = data.train_windows.window
        specs = baselines.parse_transforms(
            args.transforms, rate_hz=ds.rate_hz, window=window, ssa_window=args.ssa_window
        )
        test_data = check_test_data(args, task, ds)
    except (DataFormatError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"data: {ds.name} at {ds.rate_hz:g} Hz, {args.preset} spec: {len(data.train_windows)} "
        f"training / {len(data.test_windows)} held-out windows of {window} x "
        f"{len(data.train_windows.channels)} ({data.split} split)\n"
        f"transforms: {', '.join(b.name for b in specs)}"
    )
    config = {
        "preset": args.preset,
        "rate_hz": float(ds.rate_hz),
        "window": int(window),
        "ssa_window": args.ssa_window,
        "space": args.space,
    }
    meta = run_metadata(
        method="baselines",
        task=task_identity(task, ds),
        config=config,
        grid=[b.to_json() for b in specs],
        transforms=args.transforms,
        names=[b.name for b in specs],
        data=ds.description,
        prepared=data.describe(),
    )
    params = baselines.stack_params(specs)
    try:
        step = _save(out, params, meta, fresh=args.fresh)
    except CheckpointError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    release_one = baselines.make_release(
        rate_hz=ds.rate_hz,
        ssa_window=args.ssa_window,
        scaler=data.scaler if args.space == "scaled" else None,
    )
    rows, speed = measure(
        release_one, params, specs, data, sample=args.sample, seed=args.seed, space=args.space
    )
    summary = {
        "run": str(out),
        "method": "baselines",
        "fingerprint": meta["fingerprint"],
        "preset": args.preset,
        "data": ds.name,
        "rate_hz": float(ds.rate_hz),
        "config": config,
        "step": step,
        "held_out_users": list(data.test_subjects),
        "sample_windows": rows[0]["windows"] if rows else 0,
        "release_windows_per_s": speed,
        "seconds": round(time.perf_counter() - started, 1),
        "transforms": rows,
    }
    columns = ["name", "kind", "value", "samples_kept", "rel_l2", "rmse_scaled", "snr_db"]
    table = format_table(rows, columns)
    write_json_atomic(out / "summary.json", summary)
    write_text_atomic(
        out / "summary.md",
        f"# Baselines ({args.preset} spec, {ds.name})\n\n"
        f"Distortion on {summary['sample_windows']} held-out windows: rel_l2 = mean "
        "||x' - x|| / ||x|| in raw units; rmse_scaled in training-scaled units; snr_db = "
        f"signal / change energy in the {args.space} space the transforms act on.\n\n"
        f"{table}\n",
    )
    print(
        f"\n{table}\n\nreleased {speed:,.0f} windows/s (all {len(specs)} transforms); "
        f"checkpoint step {step} in {out / 'checkpoints'}; written {out}/summary.json, "
        f"summary.md ({summary['seconds']:.1f} s)"
    )
    return finish_run(0, out, test_data)


def _save(out: Path, params: dict[str, np.ndarray], meta: dict[str, Any], *, fresh: bool) -> int:
    """Checkpoint ``params``; reuse an identical checkpoint, refuse a different one."""
    with Checkpointer(out / "checkpoints", keep=2) as ckpt:
        latest = ckpt.latest_step()
        if latest is not None:
            same = ckpt.restore_meta(latest).get("fingerprint") == meta["fingerprint"]
            if same and not fresh:
                print(f"checkpoint step {latest} in {out / 'checkpoints'} already holds these")
                return latest
            if not fresh:
                check_identity(ckpt.restore_meta(latest), meta, out)
        step = 0 if latest is None else latest + 1
        ckpt.save(step, params, meta, force=True)
    return step


def measure(
    release_one,
    params: dict[str, np.ndarray],
    specs: list[baselines.Baseline],
    data: TaskData,
    *,
    sample: int,
    seed: int,
    space: str,
) -> tuple[list[dict[str, Any]], float]:
    """Per transform, its distortion on a sample of held-out windows; and the release
    speed (windows per second, every transform, after compilation). ``snr_db`` compares
    the window's energy with the change's in the ``space`` the transforms act on."""
    win = data.test_windows
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(win), size=min(sample, len(win)), replace=False))
    x = win.x[idx]
    release = jax.jit(jax.vmap(release_one, in_axes=(0, None, None, None, 0)))
    keys = jax.random.split(jax.random.key(seed), len(specs))
    call = (
        params,
        jnp.asarray(x),
        jnp.asarray(np.nan_to_num(win.attributes[idx])),
        jnp.asarray(win.activity[idx]),
        keys,
    )
    t0 = time.perf_counter()
    released = np.asarray(release(*call))
    compiled = time.perf_counter() - t0
    t0 = time.perf_counter()
    jax.block_until_ready(release(*call))
    speed = len(x) / (time.perf_counter() - t0)
    print(f"measured {len(x)} held-out windows (compile + first call {compiled:.1f} s)")

    x64 = x.astype(np.float64)
    scaled = data.scaler.apply(x64)
    acting = scaled if space == "scaled" else x64
    rows = []
    for b, x_rel in zip(specs, released.astype(np.float64), strict=True):
        change = x_rel - x64
        rel = np.linalg.norm(change, axis=(1, 2)) / np.maximum(
            np.linalg.norm(x64, axis=(1, 2)), 1e-12
        )
        change_scaled = data.scaler.apply(x_rel) - scaled
        change_acting = change_scaled if space == "scaled" else change
        kept = {}
        if b.kind == "resample":  # MSDA's floor: 25 samples of 128 for "10 Hz" at 50 Hz
            kept = {"samples_kept": baselines.resample_length(win.window, b.value, win.rate_hz)}
        rows.append(
            {
                **b.to_json(),
                **kept,
                "windows": len(x),
                "rel_l2": float(np.mean(rel)),
                "rmse_scaled": float(np.sqrt(np.mean(change_scaled**2))),
                "snr_db": float(
                    10 * np.log10(np.sum(acting**2) / max(np.sum(change_acting**2), 1e-30))
                ),
                "finite": bool(np.isfinite(x_rel).all()),
            }
        )
    return rows, speed


if __name__ == "__main__":
    raise SystemExit(main())
