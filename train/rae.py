"""Train replacement autoencoders (RAE) for declared activity roles: ``python -m train.rae``.

    python -m train.rae --required dws,ups,wlk --sensitive jog --neutral std

Every sensitive window learns to become a random neutral training window (of the
same user by default, drawn again every epoch), every other window itself. Data:
MSDA's input (2 magnitudes, windows 128 / stride 10, standardised, Trial split).
All variants of the grid (by default the sensitive-window loss weights 1 and 3)
train in one compiled program, vmapped and sharded over devices. The run
checkpoints after each chunk of epochs into ``--out``; the same command resumes.
At the end a quick activity classifier trained on raw training windows measures,
on held-out windows, the raw data and every variant: sensitive recall, share of
sensitive windows predicted neutral, required macro-F1 and the privacy gap
(``summary.json``, ``summary.md``).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np

from jaxpriv.classify import ClassifierConfig, make_fit, make_predict
from jaxpriv.data.dataset import DataFormatError
from jaxpriv.data.task import TaskData, msda_task
from jaxpriv.grid import parse_grid
from jaxpriv.methods import rae
from jaxpriv.methods.rae_io import variant_name
from jaxpriv.plots import plot_loss_history
from jaxpriv.run import (
    Plan,
    Summary,
    drive,
    epoch_advance,
    epoch_counter,
    run_metadata,
)
from jaxpriv.run_io import format_table
from jaxpriv.sweep import VariantMesh, make_variant_mesh, sweep_jit, to_host
from train import (
    check_test_data,
    finish_run,
    parse_command,
    run_parser,
    run_spec,
    setup_error,
    task_from_args,
    task_identity,
)

LOSSES = ("loss", "mse_sensitive", "mse_kept")
DEFAULT_WEIGHTS = (1.0, 3.0)
EVAL_CHUNK = 512
ROLE_DEFAULTS = {k: ",".join(v) for k, v in rae.DEFAULT_ROLES.items()}


def build_parser() -> argparse.ArgumentParser:
    p = run_parser("rae", __doc__, rae.PRESETS, split="trial", test_data=True)
    for role, help_text in (
        ("required", "activities the app needs (kept)"),
        ("sensitive", "activities to hide (replaced by neutral-looking windows)"),
        ("neutral", "activities whose windows replace the sensitive ones"),
    ):
        p.add_argument(
            f"--{role}",
            default=ROLE_DEFAULTS[role],
            help=f"comma list: {help_text} (default {ROLE_DEFAULTS[role]})",
        )
    p.add_argument(
        "--grid",
        help="variants: 'sensitive_weight=1,3;lr=0.001', a JSON list, or @file.json; keys "
        f"{list(rae.HP_KEYS)} (default: sensitive_weight 1 and 3 at --lr)",
    )
    p.add_argument("--seed", type=int, default=0, help="base seed; variant i uses seed + i")
    p.add_argument("--lr", type=float, help="learning rate (default: 1e-3 Adam, 1.0 Adadelta)")
    p.add_argument("--epochs", type=int, help="override the preset's epochs")
    p.add_argument("--batch-size", type=int, help="override the preset's batch size")
    p.add_argument("--optimizer", choices=("adam", "adadelta"), help="override the preset's")
    p.add_argument(
        "--pairing",
        choices=("same_user", "any"),
        help="whose neutral windows replace a sensitive one (override the preset's)",
    )
    p.add_argument(
        "--resample",
        choices=("yes", "no"),
        help="draw new neutral targets every epoch (yes) or once (no; the authors' code)",
    )
    p.add_argument("--eval-steps", type=int, default=400, help="steps of the summary classifier")
    return p


def config_from(args: argparse.Namespace) -> rae.RaeConfig:
    overrides = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "optimizer": args.optimizer,
        "pairing": args.pairing,
        "resample": None if args.resample is None else args.resample == "yes",
    }
    return rae.preset_config(args.preset, **{k: v for k, v in overrides.items() if v is not None})


def make_grid(args: argparse.Namespace, cfg: rae.RaeConfig) -> list[dict[str, Any]]:
    lr = args.lr if args.lr is not None else rae.DEFAULT_LR[cfg.optimizer]
    default = [{"sensitive_weight": w} for w in DEFAULT_WEIGHTS]
    grid = parse_grid(args.grid, rae.HP_KEYS) if args.grid else default
    out = []
    for i, variant in enumerate(grid):
        full = {"lr": lr, "sensitive_weight": 1.0, "seed": args.seed + i} | variant
        if not full["lr"] > 0 or not full["sensitive_weight"] > 0:
            raise ValueError(f"--grid variant {i} {full}: lr and sensitive_weight must be > 0")
        out.append(
            {
                "lr": float(full["lr"]),
                "sensitive_weight": float(full["sensitive_weight"]),
                "seed": int(full["seed"]),
            }
        )
    return out


def held_out_metrics(
    cfg: rae.RaeConfig,
    state: Any,
    vmesh: VariantMesh,
    data: TaskData,
    roles: rae.Roles,
    steps: int,
    seed: int,
) -> tuple[dict[str, Any], list[dict[str, Any]], float]:
    """``(raw, per_variant, classifier_seconds)``: replacement metrics on held-out windows,
    by an activity CNN trained on raw training windows (the app's model), plus each
    variant's MSE on the kept (non-sensitive) windows in standardised units."""
    activities = data.train_windows.activities
    k = len(activities)
    t0 = time.time()
    clf = ClassifierConfig(features=(16, 32, 32), dense=32, steps=steps, batch_size=64)
    y = data.train["activity"]
    weight = (1.0 / np.bincount(y, minlength=k)[y]).astype(np.float32)
    clf_params = jax.jit(make_fit(clf, k))(jax.random.key(seed), data.train["x"], y, weight)
    predict = jax.jit(lambda p, x: make_predict(clf, k)(p, x).argmax(-1))
    replace = rae.make_replace(cfg)
    replace_all = sweep_jit(lambda s, x: replace(s["params"], x), vmesh, data_argnums=(1,))
    x_test, y_test = data.test["x"], data.test["activity"]
    n, v = len(x_test), vmesh.num_variants
    pred_raw = np.empty(n, np.int32)
    pred = np.empty((v, n), np.int32)
    sq_err = np.empty((v, n), np.float64)
    for start in range(0, n, EVAL_CHUNK):
        idx = np.minimum(np.arange(start, start + EVAL_CHUNK), n - 1)  # pad: one shape
        stop = min(start + EVAL_CHUNK, n)
        x = x_test[idx]
        x_rel = np.asarray(to_host(replace_all(state, x)))[:v]
        pred_raw[start:stop] = np.asarray(predict(clf_params, x))[: stop - start]
        flat = np.asarray(predict(clf_params, x_rel.reshape(-1, *x.shape[1:]))).reshape(v, -1)
        pred[:, start:stop] = flat[:, : stop - start]
        sq_err[:, start:stop] = ((x_rel - x) ** 2).mean(axis=(2, 3))[:, : stop - start]
    kept = ~np.isin(y_test, [activities.index(a) for a in roles.sensitive])
    raw = rae.replacement_metrics(y_test, pred_raw, activities, roles)
    variants = [
        rae.replacement_metrics(y_test, pred[i], activities, roles)
        | {"heldout_mse_kept": float(sq_err[i, kept].mean())}
        for i in range(v)
    ]
    return raw, variants, time.time() - t0


def main(argv: list[str] | None = None) -> int:
    argv, args = parse_command(build_parser(), argv)
    out = Path(args.out or f"runs/rae-{args.preset}")
    try:
        cfg = config_from(args)
        grid = make_grid(args, cfg)
        roles = rae.parse_roles(args.required, args.sensitive, args.neutral)
        base = msda_task(window=cfg.window, stride=cfg.stride, activities=roles.activities)
        task = task_from_args(args, base)
        ds = task.load(progress=True)
        roles.check_present(ds.activities, f"dataset {ds.name}")  # names the roles' flags
        data = task.prepare(ds, require=("activity", "subject"))
        cfg = dataclasses.replace(cfg, num_channels=len(data.train_windows.channels))
        arrays, fallbacks = rae.train_arrays(
            data.train["x"], data.train["activity"], data.train["subject"],
            data.train_windows.activities, roles, cfg.pairing,
        )  # fmt: skip
        test_data = check_test_data(args, task, ds)
    except (DataFormatError, ValueError) as err:
        return setup_error(err)
    counts = np.bincount(data.train["activity"], minlength=len(roles.activities))
    per_activity = zip(data.train_windows.activities, counts, strict=True)
    print(
        f"data: {ds.name}, {len(data.train_windows)} training windows "
        f"({', '.join(f'{a} {c}' for a, c in per_activity)}), "
        f"{len(data.test_windows)} held-out windows ({data.split} split)\n"
        f"roles: required {list(roles.required)}, sensitive {list(roles.sensitive)}, neutral "
        f"{list(roles.neutral)}; targets: {cfg.pairing} pairing, "
        f"{'resampled every epoch' if cfg.resample else 'drawn once'}"
    )
    if fallbacks:
        print(f"{fallbacks} sensitive windows of users without neutral windows draw from all users")

    vmesh = make_variant_mesh(len(grid))
    hp = vmesh.stack(grid)
    train_data = vmesh.replicate(arrays)
    init, run_epochs, _ = rae.make_train(cfg)
    run_all = sweep_jit(run_epochs, vmesh, data_argnums=(2,), static_argnums=(3,))
    names = [variant_name(v) for v in grid]

    plan = Plan.by_epochs(
        sweep_jit(init, vmesh),
        epoch_advance(
            lambda state, chunk: run_all(state, hp, train_data, chunk.n), len(grid), keys=LOSSES
        ),
        cfg.epochs,
        show=LOSSES,
        work_per_unit=max(len(data.train_windows) // cfg.batch_size, 1) * cfg.batch_size,
    )
    meta = run_metadata(
        method="rae", task=task_identity(task, ds), config=cfg, grid=grid,
        roles=roles.to_json(), identifying=("roles",), data=ds.description,
        prepared=data.describe(),
    )  # fmt: skip
    spec = run_spec(args, "rae", argv, out=out, meta=meta, names=names, vmesh=vmesh, hp=hp)

    def finish(state: Any, history: list[dict], seconds: float) -> Summary:
        if args.eval_steps > 0:
            print(f"held-out evaluation: activity CNN ({args.eval_steps} steps) on raw windows")
            raw, variants, clf_seconds = held_out_metrics(
                cfg, state, vmesh, data, roles, args.eval_steps, args.seed
            )
        else:  # --eval-steps 0: losses only
            raw, variants, clf_seconds = None, [{} for _ in grid], 0.0
        alive = np.asarray(state["alive"])[: len(grid)].astype(bool)
        last = {k: history[-1][k] for k in LOSSES} if history else {}
        summary = {
            "preset": args.preset,
            "epochs": epoch_counter(state),
            "classifier_seconds": round(clf_seconds, 1),
            "roles": roles.to_json(),
            "split": data.split,
            "held_out_windows": len(data.test_windows),
            "raw": raw,
            "variants": [
                {"variant": name, **hp_, "alive": bool(a)}
                | {f"train_{k}": float(v[i]) for k, v in last.items()}
                | m
                for i, (name, hp_, a, m) in enumerate(
                    zip(names, grid, alive, variants, strict=True)
                )
            ],
        }
        if history:
            plot_loss_history(history, names, list(LOSSES), out / "losses.png",
                              colour_by=[v["sensitive_weight"] for v in grid])  # fmt: skip
        table, about = _summary_table(summary, roles)
        return Summary(
            data=summary,
            markdown=f"# RAE {args.preset}\n\n{about}\n\n{table}\n",
            console=f"\n{about}\n{table}\n({seconds:.0f} s training, {clf_seconds:.0f} s "
            "evaluation)",
        )

    return finish_run(drive(plan, spec, finish), out, test_data)


def _summary_table(summary: dict[str, Any], roles: rae.Roles) -> tuple[str, str]:
    """The markdown table of ``summary`` (raw first when evaluated) and what it shows."""
    raw = [{"variant": "raw", **summary["raw"]}] if summary["raw"] else []
    rows = []
    for v in raw + summary["variants"]:
        row = {"variant": v["variant"]}
        if "privacy_gap" in v:
            row |= {
                **{f"recall {a}": v["sensitive_recall"][a] for a in roles.sensitive},
                "sensitive as neutral": v["sensitive_as_neutral"],
                "required F1": v["required_macro_f1"],
                "required acc": v["required_accuracy"],
                "neutral kept": v["neutral_kept"],
                "privacy gap": v["privacy_gap"],
                "held-out mse kept": v.get("heldout_mse_kept", 0.0),
            }
        losses = {k: v[f"train_{k}"] for k in LOSSES if f"train_{k}" in v}
        row |= {f"train {k.replace('_', ' ')}": x for k, x in losses.items()}
        rows.append(row | ({"alive": v["alive"]} if "alive" in v else {}))
    columns = list(dict.fromkeys(k for r in rows[::-1] for k in r))  # a variant's order
    if not summary["raw"]:
        return format_table(rows, columns), "Final training losses (held-out evaluation skipped)."
    about = (
        f"Held-out windows of the {summary['split']} split ({summary['held_out_windows']}), "
        f"activity CNN trained on raw training windows. Roles: required "
        f"{', '.join(roles.required)}; sensitive {', '.join(roles.sensitive)}; neutral "
        f"{', '.join(roles.neutral)}. privacy gap = |balanced accuracy of 'sensitive or not' - "
        "1/2|; mse kept = MSE of the non-sensitive windows to themselves (standardised units)."
    )
    return format_table(rows, columns), about


if __name__ == "__main__":
    raise SystemExit(main())
