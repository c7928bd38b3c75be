#!/usr/bin/env bash
# The device check (issue 16, item 5): DySan and the harness's attackers on one GPU, in
# at most 8 minutes, on a machine with no network and a preinstalled CUDA build of jax,
# flax, optax, orbax and scikit-learn.
#
#   bash benchmarks/device_check.sh                      # on the GPU machine
#   DEVICE_CHECK_TINY=1 bash benchmarks/device_check.sh  # tiny settings: proves it runs (CPU)
#
# Stages, each under its own time limit (the sum stays under 8 minutes):
#   0. what is here (python, GPU, the libraries), jaxpriv installed from this tree with
#      `pip install --no-deps --no-build-isolation -e .` (missing libraries come from
#      $WHEELS, a folder of wheels, if given; this tree is on PYTHONPATH either way);
#   1. the sweep benchmark: the paper preset's networks and steps, 36 variants vmapped in
#      one program vs a sample of variants one by one, scaled to 36 (target: >= 20x);
#   2. one epoch of the paper preset (the authors' networks, vector mode, K = 50, batch
#      256) for the 36-variant grid, then its held-out evaluation;
#   3. the harness's attackers: 37 transforms' CNN attackers vmapped vs one by one.
# Records (JSON, with the device's name) go to $OUT if set, else benchmarks/results/
# (tiny settings: $OUT, else a temporary folder that is printed); device_check.json
# lists every stage with its status, time and command, and the sweep's ratio against
# the target. A stage that fails or runs out of time is recorded as such; the others run.
set -u -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
TINY="${DEVICE_CHECK_TINY:-0}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
if [ "$TINY" = "1" ]; then
    RESULTS="${OUT:-$(mktemp -d)/device-check}"
    TOTAL_S=1800  # CPU: no 8-minute promise, but an end
else
    RESULTS="${OUT:-$ROOT/benchmarks/results}"
    TOTAL_S=470  # 8 minutes less a margin for start-up and the summary
fi
mkdir -p "$RESULTS"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# One persistent compilation cache for the whole check: a program compiled in one stage
# (or for one sequential variant) is not compiled again.
export JAX_COMPILATION_CACHE_DIR="$WORK/xla-cache"
export JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS=0
START=$(date +%s)
STAGES="$WORK/stages.tsv"
: > "$STAGES"

elapsed() { echo $(( $(date +%s) - START )); }
log() { echo "[device_check $(elapsed)s] $*"; }

# run_stage NAME BUDGET_S COMMAND...: runs under the smaller of its budget and the time
# left; appends "name, status, exit code, seconds, command" to the stage list.
run_stage() {
    local name="$1" budget="$2"
    shift 2
    local left=$(( TOTAL_S - $(elapsed) ))
    if [ "$left" -lt "$budget" ]; then budget="$left"; fi
    if [ "$budget" -lt 10 ]; then
        log "$name: skipped (no time left)"
        printf '%s\tskipped\t-\t0\t%s\n' "$name" "$*" >> "$STAGES"
        return
    fi
    log "$name (at most ${budget}s): $*"
    local t0 rc status
    t0=$(date +%s)
    timeout --signal=INT --kill-after=15 "$budget" "$@"
    rc=$?
    case "$rc" in
        0) status=ok ;;
        124|137) status=timeout ;;
        *) status=failed ;;
    esac
    log "$name: $status (exit $rc) in $(( $(date +%s) - t0 ))s"
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$rc" "$(( $(date +%s) - t0 ))" "$*" \
        >> "$STAGES"
}

# ---------------------------------------------------------------- 0. what is here
log "tree $ROOT; records to $RESULTS; tiny=$TINY"
"$PY" --version
GPU="$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null \
    | head -n 1)"
log "GPU: ${GPU:-none found by nvidia-smi}"
MISSING="$("$PY" - <<'EOF'
import importlib.util
# import name -> pip name; what jaxpriv's benchmarks and trainers import
needed = {"numpy": "numpy", "scipy": "scipy", "sklearn": "scikit-learn", "jax": "jax",
          "flax": "flax", "optax": "optax", "orbax.checkpoint": "orbax-checkpoint",
          "matplotlib": "matplotlib", "tqdm": "tqdm", "flatbuffers": "flatbuffers",
          "dtaidistance": "dtaidistance"}
missing = []
for module, package in needed.items():
    try:
        found = importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        found = False
    if not found:
        missing.append(package)
print(" ".join(missing))
EOF
)"
if [ -n "$MISSING" ]; then
    log "missing: $MISSING"
    if [ -n "${WHEELS:-}" ] && [ -d "$WHEELS" ]; then
        # shellcheck disable=SC2086  # one word per package
        "$PY" -m pip install --no-index --find-links "$WHEELS" --no-deps $MISSING \
            || log "some wheels were not in $WHEELS"
    else
        log "no \$WHEELS folder: stages that import them may fail (they are recorded)"
    fi
fi
# Tiny settings run where others share the Python environment: pip's --dry-run checks
# the install without changing what is installed.
DRY=()
if [ "$TINY" = "1" ]; then DRY=(--dry-run); fi
if timeout 120 "$PY" -m pip install --quiet ${DRY[@]+"${DRY[@]}"} --no-deps \
        --no-build-isolation -e . > "$WORK/pip.log" 2>&1; then
    log "jaxpriv installed from this tree (pip install --no-deps --no-build-isolation -e .)"
else
    grep -E "^(error|ERROR)" "$WORK/pip.log" | tail -n 2
    log "pip could not install jaxpriv (setuptools or wheel missing?); this tree is on" \
        "PYTHONPATH, which is all the stages need"
fi
"$PY" -c "import jax; print('jax', jax.__version__, 'devices', jax.devices())"

# ---------------------------------------------------------------- settings
if [ "$TINY" = "1" ]; then
    DATA="embedded:users=6,long_s=6,short_s=4"
    SWEEP=(--preset paper --variants 2 --sequential-variants 1 --epochs 1 --max-batches 2
           --batch-size 32 --k 1 --data "$DATA")
    EPOCH=(--epoch-preset paper --variants 2 --batch-size 32 --k 1 --data "$DATA")
    ATTACK=(--family cnn --preset test --variants 3 --sequential-variants 1)
    BUDGETS=(600 600 600)
else
    # The paper's networks and steps; 2 batches per variant and way: compiling the
    # programs is most of this stage (the second sequential variant hits the cache).
    SWEEP=(--preset paper --variants 36 --sequential-variants 2 --epochs 1 --max-batches 2)
    EPOCH=(--epoch-preset paper --variants 36)
    ATTACK=(--family cnn --preset quick --variants 37 --sequential-variants 4)
    BUDGETS=(190 170 80)
fi

# ---------------------------------------------------------------- 1-3. the stages
run_stage sweep "${BUDGETS[0]}" "$PY" benchmarks/sweep_dysan.py "${SWEEP[@]}" \
    --out "$RESULTS/sweep_dysan-device.json"
run_stage paper_epoch "${BUDGETS[1]}" "$PY" benchmarks/dysan_speed.py "${EPOCH[@]}" \
    --out "$RESULTS/dysan_paper_epoch-device.json"
run_stage attackers "${BUDGETS[2]}" "$PY" benchmarks/eval_attackers.py "${ATTACK[@]}" \
    --out "$RESULTS/eval_attackers-device.json"

# ---------------------------------------------------------------- summary record
"$PY" - "$STAGES" "$RESULTS" "$TINY" "${GPU:-}" "$(elapsed)" <<'EOF'
import json
import os
import sys

from jaxpriv.records import write_record

stages_tsv, results, tiny, gpu, seconds = sys.argv[1:6]
stages = []
for line in open(stages_tsv, encoding="utf-8"):
    name, status, rc, secs, command = line.rstrip("\n").split("\t", 4)
    stages.append({"stage": name, "status": status, "exit": rc, "seconds": int(secs),
                   "command": command})
summary = {"tiny": tiny == "1", "gpu": gpu or None, "total_seconds": int(seconds),
           "stages": stages}
sweep = os.path.join(results, "sweep_dysan-device.json")
if os.path.exists(sweep):
    record = json.load(open(sweep, encoding="utf-8"))["results"]
    speedup, variants = record["speedup"], record["variants"]
    summary["sweep_variants"] = variants
    summary["sweep_speedup_vmapped_vs_sequential"] = round(speedup, 2)
    summary["sweep_target_20x_met"] = speedup >= 20 if variants == 36 else None
    verdict = ("met" if speedup >= 20 else "NOT met") if variants == 36 else "not judged"
    print(f"sweep: {variants} vmapped vs sequential {speedup:.1f}x (target for 36, "
          f">= 20x: {verdict})")
write_record(os.path.join(results, "device_check.json"), summary,
             command=["bash", "benchmarks/device_check.sh"]
             + (["(DEVICE_CHECK_TINY=1)"] if tiny == "1" else []))
for s in stages:
    print(f"{s['stage']:12s} {s['status']:8s} {s['seconds']:5d} s")
print(f"records in {results}")
EOF
log "done"
