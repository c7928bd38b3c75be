"""Calibration of a dataset (by default the embedded one): is the private information in it?

The embedded simulator must carry activity, identity and gender the way real
gait does, and not trivially. Measured here with a small CNN on windows of
128 samples (stride 64) of DySan's channels (rotationRate + userAcceleration),
min-max scaled on each fold's training windows, activities dws/ups/wlk/jog:

- activity on held-out users  (k gender-stratified user folds; target >= 90%)
- gender on held-out users    (same folds;                    target >= 80%)
- identity on held-out trials (train trials 1-9, test 11-16;  target >= 85%)
- not trivial: a logistic regression on any single per-window statistic
  (mean or std of one of the 12 channels or of |rotationRate|,
  |userAcceleration|, |userAcceleration + gravity|) stays < 80% on gender.

The folds train at once: ``jax.vmap`` over (key, training mask).

    python benchmarks/calibration.py [--data SPEC] [--steps 800] [--folds 6] [--out FILE]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.linear_model import LogisticRegression

from jaxpriv.classify import ClassifierConfig, make_fit, make_predict
from jaxpriv.data.channels import DYSAN_CHANNELS, select_channels
from jaxpriv.data.load import load_dataset
from jaxpriv.data.scaling import fit_minmax
from jaxpriv.data.splits import split_last_trial, subject_folds
from jaxpriv.data.windows import make_windows, vocabularies
from jaxpriv.records import load_average, write_record

ACTIVITIES = ("dws", "ups", "wlk", "jog")
TARGETS = {
    "activity_heldout_users": (">=", 0.90),
    "gender_heldout_users": (">=", 0.80),
    "identity_heldout_trials": (">=", 0.85),
    "single_statistic_gender_max": ("<", 0.80),
}


def log(msg: str, t0: float) -> None:
    print(f"[{time.time() - t0:6.0f}s] {msg}", flush=True)


def cnn_accuracy(x_NxWxC, y_N, test_masks, num_classes, cfg, seed):
    """Train one CNN per (train = not test) mask, all at once; per-mask correctness of tests."""
    x_stack, weights = [], []
    for test in test_masks:
        scaler = fit_minmax(x_NxWxC[~test])
        x_stack.append(scaler.apply(x_NxWxC))
        weights.append((~test).astype(np.float32))
    fit = jax.jit(jax.vmap(make_fit(cfg, num_classes), in_axes=(0, 0, None, 0)))
    predict = jax.jit(jax.vmap(make_predict(cfg, num_classes)))
    x_FxNxWxC = jnp.asarray(np.stack(x_stack))
    keys = jax.random.split(jax.random.key(seed), len(test_masks))
    params = fit(keys, x_FxNxWxC, jnp.asarray(y_N), jnp.asarray(np.stack(weights)))
    pred_FxN = np.asarray(predict(params, x_FxNxWxC)).argmax(-1)
    return [pred_FxN[f][test] == y_N[test] for f, test in enumerate(test_masks)]


def window_statistics(x_NxWxC: np.ndarray, channels: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Per-window mean and std of every channel and of the three magnitudes."""
    idx = {c: i for i, c in enumerate(channels)}

    def group(prefix: str) -> np.ndarray:
        return x_NxWxC[..., [idx[f"{prefix}.{a}"] for a in "xyz"]]

    series = {c: x_NxWxC[..., i] for c, i in idx.items()}
    series["|rotationRate|"] = np.linalg.norm(group("rotationRate"), axis=-1)
    series["|userAcceleration|"] = np.linalg.norm(group("userAcceleration"), axis=-1)
    series["|userAcceleration+gravity|"] = np.linalg.norm(
        group("userAcceleration") + group("gravity"), axis=-1
    )
    stats = {}
    for name, s in series.items():
        stats[f"mean({name})"] = s.mean(axis=1)
        stats[f"std({name})"] = s.std(axis=1)
    return stats


def single_statistic_gender(stats, gender_N, test_masks) -> dict[str, float]:
    """Held-out-user gender accuracy of a logistic regression on each statistic alone."""
    out = {}
    for name, feature in stats.items():
        correct = []
        for test in test_masks:
            mu, sd = feature[~test].mean(), feature[~test].std() + 1e-12
            model = LogisticRegression().fit(((feature[~test] - mu) / sd)[:, None], gender_N[~test])
            correct.append(model.predict(((feature[test] - mu) / sd)[:, None]) == gender_N[test])
        out[name] = float(np.concatenate(correct).mean())
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--data", default="embedded")
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--folds", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="benchmarks/results/calibration.json")
    args = parser.parse_args(argv)
    t0 = time.time()
    load_at_start = load_average()

    full = load_dataset(args.data, activities=ACTIVITIES, progress=True)
    ds = select_channels(full, DYSAN_CHANNELS)
    vocab = vocabularies(ds, activities=ACTIVITIES)
    win = make_windows(ds, window=128, stride=64, **vocab)
    raw = make_windows(full, window=128, stride=64, **vocab)  # all 12 channels, same windows
    log(f"{len(win)} windows of {win.x.shape[1:]} from {len(ds.subject_ids)} users", t0)

    folds = subject_folds(ds, args.folds, seed=args.seed)
    user_tests = [np.isin(win.subject, [win.subjects.index(s) for s in f]) for f in folds]
    _, trial_test_ds = split_last_trial(ds)
    test_trials = [win.trials.index(t) for t in trial_test_ds.trials]
    trial_test = np.isin(win.trial, test_trials)
    cfg = ClassifierConfig(steps=args.steps)

    results: dict = {}
    correct = cnn_accuracy(win.x, win.activity, user_tests, len(ACTIVITIES), cfg, args.seed)
    results["activity_heldout_users"] = float(np.concatenate(correct).mean())
    log(f"activity, held-out users: {results['activity_heldout_users']:.3f}", t0)

    correct = cnn_accuracy(win.x, win.gender, user_tests, 2, cfg, args.seed + 1)
    results["gender_heldout_users"] = float(np.concatenate(correct).mean())
    per_user = {}
    for test, c in zip(user_tests, correct, strict=True):
        for u in np.unique(win.subject[test]):
            per_user[win.subjects[u]] = float(c[win.subject[test] == u].mean())
    results["gender_per_user"] = per_user
    log(f"gender, held-out users: {results['gender_heldout_users']:.3f}", t0)

    (correct,) = cnn_accuracy(
        win.x, win.subject, [trial_test], len(win.subjects), cfg, args.seed + 2
    )
    results["identity_heldout_trials"] = float(correct.mean())
    log(f"identity, held-out trials {sorted(trial_test_ds.trials)}: {correct.mean():.3f}", t0)

    single = single_statistic_gender(window_statistics(raw.x, raw.channels), raw.gender, user_tests)
    best = max(single, key=single.get)
    results["single_statistic_gender_max"] = single[best]
    results["single_statistic_gender_best"] = best
    results["single_statistic_gender"] = single
    log(f"best single statistic for gender: {best} {single[best]:.3f}", t0)

    passed = {
        k: (results[k] >= v) if op == ">=" else (results[k] < v) for k, (op, v) in TARGETS.items()
    }
    record = {
        "data": full.description,
        "windows": len(win),
        "users": len(win.subjects),
        "folds": args.folds,
        "classifier": {"steps": cfg.steps, "batch_size": cfg.batch_size, "features": cfg.features},
        "results": results,
        "targets": {k: f"{op} {v}" for k, (op, v) in TARGETS.items()},
        "passed": passed,
        "seconds": round(time.time() - t0, 1),
        "machine": f"{platform.machine()} {os.cpu_count()} cores, {jax.devices()[0].device_kind}",
        "versions": {"jax": jax.__version__, "python": platform.python_version()},
    }
    out = Path(args.out)
    argv = sys.argv[1:] if argv is None else argv
    write_record(
        out,
        record,
        command=["python3", "benchmarks/calibration.py", *argv],
        load_at_start=load_at_start,
    )
    print("\n| measure | value | target | met |\n|---|---|---|---|")
    for k, (op, v) in TARGETS.items():
        print(f"| {k} | {results[k]:.3f} | {op} {v} | {'yes' if passed[k] else 'NO'} |")
    print(f"\nwritten to {out} ({record['seconds']} s)")
    return 0 if all(passed.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
