#!/usr/bin/env bash
# The one GPU check: every measurement this project needs a CUDA device for, in one command that
# fits about 8 minutes on one H100/H200, each part under its own time limit.
#
#   benchmarks/gpu_check.sh OUT            # on a GPU machine (refuses to start without CUDA)
#   benchmarks/gpu_check.sh --smoke OUT    # the same parts on the CPU, each shrunk to seconds
#   benchmarks/gpu_check.sh --parts bench,step_dpc OUT   # rerun some parts only (OUT new or empty)
#
# Parts (each writes its log and JSON under OUT/<part>/):
#   data            CIFAR-10 prepared from ../shared/data (once per machine; the step parts read it)
#   pytest_gpu      python -m pytest -m gpu on the test files that hold gpu-marked tests
#                   (sync-debug "error" around every transform, compiled ones with CUDA graphs)
#   bench           nda bench: ours eager and compiled (inductor, CUDA graphs) beside kornia and
#                   torchvision v2, default shapes
#   step_moco       benchmarks/moco_step.py       (mmselfsup MoCo-v2, bf16 autocast)
#   step_lightly    benchmarks/lightly_step.py    (lightly MoCo, bf16 autocast)
#   step_studiogan  benchmarks/studiogan_step.py  (StudioGAN D step, bf16 autocast)
#   step_dpc        benchmarks/dpc_step.py        (DPC, bf16 autocast)
#   demo            the numerosity GAN of nda demo, plain vs NDA, trained on the GPU (--device cuda, float32),
#                   one seed per process, merged. It runs in the background beside the GPU parts, on the same
#                   GPU, its processes pinned to the upper half of the cores (the GPU parts use the lower half).
#                   Budget: 10 times the CPU demo's (`nda demo`: 3 seeds x 1,000 steps), as 10 seeds x 3,000
#                   steps (the steps of `nda demo numerosity`), 10 processes. Estimate from the model: G and D
#                   (width 16, 32 px, batch 32) hold 0.28 M parameters and a plain or NDA step costs about
#                   6 GFLOP, so a step is bound by launching its ~1,800 small ops (CPU profile): about 10 ms
#                   of one core per step, i.e. 2 x 3,000 steps = 60 s per process (120 s where two share a
#                   core), plus ~25 s of start-up, data and CPU evaluation, while the GPU, time-sliced between
#                   the processes, executes about 2-3 ms of kernels per step (60,000 steps: 2-3 min in all,
#                   beside the other parts): within the part's 420 s. DEMO_STEPS / DEMO_SEEDS shrink it if a
#                   machine is slower; a seed that runs out of time is left out of the merge (and fails the part).
#
# OUT/summary.json lists each part's exit status, seconds and limit. The script runs every part
# and exits 1 if any failed (2 for a usage error). Nothing is written outside OUT: the lead copies
# the JSON files into docs/results after checking them, and renders the tables with
# python -m benchmarks.report.
#
# Environment: PYTHON (default .venv/bin/python if present, else python); STUDIOGAN_ROOT (an
# extracted StudioGAN 947b35e; default: ../shared/vendor's archive extracted into OUT);
# DEMO_STEPS, DEMO_SEEDS (number of seeds) to change the demo's budget.
set -u -o pipefail

usage() {
    echo "usage: benchmarks/gpu_check.sh [--smoke] [--parts PART[,PART...]] OUT" >&2
    echo "gpu_check.sh: error: $1" >&2
    exit 2
}

ALL_PARTS="data pytest_gpu bench step_moco step_lightly step_studiogan step_dpc demo"
MODE=gpu
PARTS=$ALL_PARTS
OUT=
while [ $# -gt 0 ]; do
    case "$1" in
        --smoke) MODE=smoke ;;
        --parts) [ $# -ge 2 ] || usage "--parts needs a comma-separated list from: $ALL_PARTS"
                 PARTS=${2//,/ }; shift ;;
        -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d'; exit 0 ;;
        -*) usage "unknown option $1" ;;
        *) [ -z "$OUT" ] || usage "one OUT folder, got '$OUT' and '$1'"; OUT=$1 ;;
    esac
    shift
done
[ -n "$OUT" ] || usage "give the folder to write into, e.g. benchmarks/gpu_check.sh --smoke /tmp/gpu_check"
for part in $PARTS; do
    case " $ALL_PARTS " in *" $part "*) ;; *) usage "unknown part '$part'; choose from: $ALL_PARTS" ;; esac
done
if [ -e "$OUT" ] && [ -n "$(ls -A "$OUT" 2>/dev/null)" ]; then
    usage "$OUT exists and is not empty; give a new folder (this script never overwrites)"
fi

REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO" || exit 2
if [ -z "${PYTHON:-}" ]; then
    if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python; fi
fi
mkdir -p "$OUT" || usage "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" WANDB_MODE=disabled

if [ "$MODE" = gpu ]; then
    if ! "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        usage "torch sees no CUDA device here; run with --smoke on a CPU-only machine"
    fi
    DEVICE=cuda
else
    DEVICE=cpu
fi

# ---------------------------------------------------------------- settings of each mode
# Limits (seconds): the GPU parts run one after another (sum 480 s); the demo runs beside them.
declare -A LIMIT
# the CPUs this process may run on (not nproc, which honours OMP_NUM_THREADS)
mapfile -t ALLOWED < <("$PYTHON" -c "import os; print(*sorted(os.sched_getaffinity(0)), sep='\n')")
CORES=${#ALLOWED[@]}
if [ "$MODE" = gpu ]; then
    LIMIT=([data]=30 [pytest_gpu]=115 [bench]=155 [step_moco]=50 [step_lightly]=40 [step_studiogan]=55 [step_dpc]=35
           [demo]=420)
    THREADS=$(( CORES > 2 ? CORES / 2 : 1 ))
    DEMO_STEPS=${DEMO_STEPS:-3000}
    DEMO_SEEDS=${DEMO_SEEDS:-10}
    DEMO_ARGS=(--device cuda)
    DEMO_ENV=()
    MERGE_LIMIT=20
    BENCH_ARGS=(--device cuda --threads "$THREADS" --rounds 3 --min-run-time 0.05
                --compile inductor --compile-mode reduce-overhead)
    MOCO_ARGS=(--batch 256 --width 64 --rounds 5 --min-run-time 0.5)
    LIGHTLY_ARGS=(--batch 256 --width 1.0 --rounds 5 --steps 5)
    STUDIOGAN_ARGS=(--config plugins/studiogan/configs/CIFAR10/BigGAN-NDA-jigsaw.yaml --batch-size 64 --rounds 5 --min-run-time 0.5)
    DPC_ARGS=(--preset dpc --batch 8 --rounds 5 --number 2)
    AUTOCAST=bf16
else
    # generous: a smoke run takes about a minute on 2 idle cores, but a shared CI machine may be loaded
    LIMIT=([data]=120 [pytest_gpu]=120 [bench]=120 [step_moco]=120 [step_lightly]=120 [step_studiogan]=120 [step_dpc]=120 [demo]=240)
    THREADS=1
    DEMO_STEPS=${DEMO_STEPS:-2}
    DEMO_SEEDS=${DEMO_SEEDS:-2}
    DEMO_ARGS=(--samples 64 --device cpu)
    DEMO_ENV=(CUDA_VISIBLE_DEVICES=)
    MERGE_LIMIT=60
    BENCH_ARGS=(--device cpu --threads 1 --shapes 4x3x16x16 --nda jigsaw mixup --rounds 1 --min-run-time 0.01
                --compile eager)
    MOCO_ARGS=(--batch 4 --width 4 --rounds 1 --min-run-time 0.01)
    LIGHTLY_ARGS=(--batch 4 --width 0.125 --rounds 1 --steps 1)
    STUDIOGAN_ARGS=(--batch-size 4 --rounds 1 --min-run-time 0.01)
    DPC_ARGS=(--preset cpu --batch 2 --rounds 1 --number 1)
    AUTOCAST=bf16  # CPU autocast runs bfloat16 too: the smoke run checks the flag end to end
fi
# GPU parts on the lower half of the cores, the demo's processes (one core each) on the upper half.
GPU_CPUS=(); DEMO_CPUS=()
if [ "$MODE" = gpu ] && [ "$CORES" -ge 4 ] && command -v taskset >/dev/null; then
    lower=$(IFS=,; echo "${ALLOWED[*]:0:CORES / 2}")
    if taskset -c "$lower" true 2>/dev/null; then
        GPU_CPUS=(taskset -c "$lower"); DEMO_CPUS=("${ALLOWED[@]:CORES / 2}")
    fi
fi

RECORDS="$OUT/.parts.tsv"
: > "$RECORDS"

# run_part NAME CMD...: CMD under `timeout ${LIMIT[NAME]}`, log in OUT/NAME/log.txt, status recorded.
run_part() {
    local name=$1; shift
    local limit=${LIMIT[$name]} start status
    mkdir -p "$OUT/$name"
    echo "gpu_check: $name (limit ${limit} s) ..." >&2
    start=$(date +%s.%N)
    timeout --kill-after=10 "$limit" "$@" > "$OUT/$name/log.txt" 2>&1
    status=$?
    record "$name" "$status" "$start" "$limit"
}

record() {  # record NAME STATUS START LIMIT [SECONDS]: SECONDS default now - START
    local seconds=${5:-}
    [ -n "$seconds" ] || seconds=$(awk -v t0="$3" -v t1="$(date +%s.%N)" 'BEGIN { printf "%.1f", t1 - t0 }')
    printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$seconds" "$4" >> "$RECORDS"
    echo "gpu_check: $1 exit $2 after $seconds s$([ "$2" = 124 ] && echo ' (time limit)')" >&2
}

wanted() { case " $PARTS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

# ---------------------------------------------------------------- demo (background; GPU, or CPU in smoke mode)
DEMO_PIDS=()
DEMO_START=
if wanted demo; then
    mkdir -p "$OUT/demo"
    DEMO_START=$(date +%s.%N)
    echo "gpu_check: demo in the background: $DEMO_SEEDS seed(s) x $DEMO_STEPS steps, plain and NDA" >&2
    for (( seed = 0; seed < DEMO_SEEDS; seed++ )); do
        pin=()
        if [ "${#DEMO_CPUS[@]}" -gt 0 ]; then
            pin=(taskset -c "${DEMO_CPUS[seed % ${#DEMO_CPUS[@]}]}")
        fi
        env OMP_NUM_THREADS=1 "${DEMO_ENV[@]}" timeout --kill-after=10 "$(( LIMIT[demo] - MERGE_LIMIT ))" "${pin[@]}" \
            "$PYTHON" -m nda_demo --steps "$DEMO_STEPS" --seeds "$seed" --threads 1 --no-progress \
            "${DEMO_ARGS[@]}" --out "$OUT/demo/seed$seed" \
            > "$OUT/demo/seed$seed.log" 2>&1 &
        DEMO_PIDS+=($!)
    done
fi

# ---------------------------------------------------------------- GPU parts, one after another
if wanted data; then  # CIFAR-10 extracted before the step parts, so that none of them times it
    run_part data "$PYTHON" -c "import json, sys; from nda_core.data import cifar10_root; \
json.dump({'schema': 'nda-gpu-data/1', 'cifar10_root': str(cifar10_root())}, open(sys.argv[1], 'w'))" "$OUT/data/data.json"
fi

if wanted pytest_gpu; then
    mapfile -t GPU_TESTS < <(grep -l "mark\.gpu" tests/test_*.py)
    run_part pytest_gpu "${GPU_CPUS[@]}" "$PYTHON" -m pytest -m gpu -rs -p no:cacheprovider \
        --junitxml "$OUT/pytest_gpu/junit.xml" "${GPU_TESTS[@]}"
    # pytest.json: the counts and every skip reason, from pytest's own JUnit report
    "$PYTHON" - "$OUT/pytest_gpu" "${GPU_TESTS[@]}" <<'EOF' || echo "gpu_check: could not summarise the pytest report" >&2
import json, sys, xml.etree.ElementTree as ET
folder, files = sys.argv[1], sys.argv[2:]
cases = ET.parse(f"{folder}/junit.xml").getroot().iter("testcase")
outcome, reasons = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}, {}
for case in cases:
    kinds = [child.tag for child in case]
    key = "failed" if "failure" in kinds else "errors" if "error" in kinds else "skipped" if "skipped" in kinds else "passed"
    outcome[key] += 1
    for child in case.iter("skipped"):
        reasons[child.get("message", "")] = reasons.get(child.get("message", ""), 0) + 1
record = {"schema": "nda-gpu-pytest/1", "files": files, "tests": sum(outcome.values()), **outcome, "skip_reasons": reasons}
json.dump(record, open(f"{folder}/pytest.json", "w"), indent=1)
EOF
fi

if wanted bench; then
    run_part bench "${GPU_CPUS[@]}" "$PYTHON" -m nda_core.benchmark "${BENCH_ARGS[@]}" --json "$OUT/bench/transforms_$DEVICE.json"
fi

if wanted step_moco; then
    run_part step_moco "${GPU_CPUS[@]}" "$PYTHON" benchmarks/moco_step.py "${MOCO_ARGS[@]}" --threads "$THREADS" \
        --device "$DEVICE" --autocast "$AUTOCAST" --json "$OUT/step_moco/step_moco_$DEVICE.json"
fi

if wanted step_lightly; then
    run_part step_lightly "${GPU_CPUS[@]}" "$PYTHON" benchmarks/lightly_step.py "${LIGHTLY_ARGS[@]}" --threads "$THREADS" \
        --device "$DEVICE" --autocast "$AUTOCAST" --json "$OUT/step_lightly/step_lightly_$DEVICE.json"
fi

if wanted step_studiogan; then
    mkdir -p "$OUT/step_studiogan"
    SG=${STUDIOGAN_ROOT:-}
    if [ -z "$SG" ]; then  # extract the vendored snapshot into OUT (part of this part's time)
        ARCHIVE=$("$PYTHON" -c "from nda_core.data import shared_data_dir; print(shared_data_dir().parent / 'vendor' / 'PyTorch-StudioGAN-947b35e.tar.xz')")
        mkdir -p "$OUT/step_studiogan/src"
        timeout 60 tar -xJf "$ARCHIVE" -C "$OUT/step_studiogan/src" && SG="$OUT/step_studiogan/src/PyTorch-StudioGAN"
    fi
    if [ -n "$SG" ]; then
        run_part step_studiogan env STUDIOGAN_ROOT="$SG" "${GPU_CPUS[@]}" "$PYTHON" benchmarks/studiogan_step.py \
            "${STUDIOGAN_ARGS[@]}" --threads "$THREADS" --device "$DEVICE" --autocast "$AUTOCAST" \
            --json "$OUT/step_studiogan/step_studiogan_$DEVICE.json"
        [ -n "${STUDIOGAN_ROOT:-}" ] || rm -rf "$OUT/step_studiogan/src"  # the copy this script extracted
    else
        echo "StudioGAN sources not found: set STUDIOGAN_ROOT or put the archive in ../shared/vendor" > "$OUT/step_studiogan/log.txt"
        record step_studiogan 3 "$(date +%s.%N)" "${LIMIT[step_studiogan]}"
    fi
fi

if wanted step_dpc; then
    run_part step_dpc "${GPU_CPUS[@]}" "$PYTHON" benchmarks/dpc_step.py "${DPC_ARGS[@]}" --threads "$THREADS" \
        --device "$DEVICE" --autocast "$AUTOCAST" --json "$OUT/step_dpc/step_dpc_$DEVICE.json"
fi

# ---------------------------------------------------------------- demo: wait, merge
if wanted demo; then
    status=0
    for pid in "${DEMO_PIDS[@]}"; do wait "$pid" || status=$?; done
    # the demo's time: until its last seed finished (its log's last write), then the merge
    SEEDS_END=$(stat -c %Y "$OUT"/demo/seed*.log | sort -n | tail -1)
    MERGE_START=$(date +%s.%N)
    SEED_DIRS=()
    for (( seed = 0; seed < DEMO_SEEDS; seed++ )); do
        [ -f "$OUT/demo/seed$seed/results.json" ] && SEED_DIRS+=("$OUT/demo/seed$seed")
    done
    if [ "${#SEED_DIRS[@]}" -gt 0 ]; then  # merge what finished, even if a seed ran out of time
        timeout "$MERGE_LIMIT" "$PYTHON" -m nda_demo merge "${SEED_DIRS[@]}" --out "$OUT/demo/merged" > "$OUT/demo/log.txt" 2>&1 || status=$?
    else
        echo "no seed finished; see seed*.log" > "$OUT/demo/log.txt"; [ "$status" != 0 ] || status=1
    fi
    record demo "$status" "$DEMO_START" "${LIMIT[demo]}" \
        "$(awk -v t0="$DEMO_START" -v s="$SEEDS_END" -v m0="$MERGE_START" -v m1="$(date +%s.%N)" 'BEGIN { printf "%.1f", s - t0 + m1 - m0 }')"
fi

# ---------------------------------------------------------------- summary
"$PYTHON" - "$OUT" "$MODE" "$DEVICE" "$DEMO_STEPS" "$DEMO_SEEDS" <<'EOF'
import json, os, platform, subprocess, sys
out, mode, device, demo_steps, demo_seeds = sys.argv[1:]
parts = {}
for line in open(os.path.join(out, ".parts.tsv")):
    name, status, seconds, limit = line.rstrip("\n").split("\t")
    parts[name] = {"status": int(status), "passed": int(status) == 0, "seconds": float(seconds), "limit_s": int(limit),
                   "timed_out": int(status) in (124, 137), "log": f"{name}/log.txt"}
commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip() or None
try:
    import torch
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    torch_version = torch.__version__
except Exception:
    gpu, torch_version = None, None
summary = {"schema": "nda-gpu-check/1", "mode": mode, "device": device, "gpu": gpu, "torch": torch_version,
           "cpu_count": os.cpu_count(), "platform": platform.platform(), "commit": commit,
           "demo": {"steps": int(demo_steps), "seeds": int(demo_seeds)},
           "parts": parts, "passed": all(p["passed"] for p in parts.values())}
json.dump(summary, open(os.path.join(out, "summary.json"), "w"), indent=1)
for name, part in parts.items():
    print(f"{name:15s} {'ok' if part['passed'] else 'FAILED (exit %d)' % part['status']:16s} {part['seconds']:7.1f} s of {part['limit_s']} s")
print(f"summary: {os.path.join(out, 'summary.json')}")
EOF
rm -f "$RECORDS"
"$PYTHON" -c "import json, sys; sys.exit(0 if json.load(open(sys.argv[1]))['passed'] else 1)" "$OUT/summary.json"
