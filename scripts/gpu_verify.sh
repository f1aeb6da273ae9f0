#!/usr/bin/env bash
# One prepared GPU verification for the scaled track (run on a lent GPU machine, from the repository root):
#
#   bash scripts/gpu_verify.sh [OUT_FOLDER]     # results go to OUT_FOLDER, else $OUT, else build/gpu_verify
#
# Steps, most important first, each with its own time limit inside a total budget (GPU_VERIFY_BUDGET
# seconds, default 450 = 7.5 minutes); a step that would not fit is skipped with a message:
#   1. benchmarks/gpu_check.py: CUDA parity, bf16, masks on the GPU, training and feature throughput
#   2. notebooks/scaled/pretrain.ipynb through papermill with configs/pretrain_base_synthface_gpu.yaml
#      (ViT-B, SynthFace at 224x224 via a clip store, bf16, 300 steps); without papermill the same
#      functions run via `python -m marlin_lite.scaled pretrain --params ...` (no notebook copy then)
#   3. benchmarks/pretrain_throughput.py --preset base --batch 64 --device cuda
#   4. benchmarks/extract_throughput.py --preset base --batch 64 --device cuda   (needs PyAV: skipped without it)
#   5. benchmarks/loader_throughput.py --device cuda (clip store -> pinned batches -> GPU floats)
#   6. benchmarks/pretrain_throughput.py ... --compile
#   2b. configs/course.yaml (the course checkpoint's recipe) on CUDA, cut at 150 s: steps reached and clips/s
#   7. lip sync on the GPU: a few steps of the downstream lip-sync run with a random ViT-B (device cuda)
#
# Outputs (at most 7 files, so that all of them come back from a device machine's $OUT):
#   gpu_verify.log       every step's output, with headers, times and exit statuses
#   results.jsonl        every JSON line the steps printed, tagged {"step": ...}
#   gpu_check.jsonl      benchmarks/gpu_check.py's own file
#   pretrain_summary.json, loss_curve.png, reconstruction.png   the scaled pretraining run
#   pretrain_gpu.ipynb   the executed notebook (when papermill is there)
#
# Missing packages: the GPU image has torch, numpy, einops, matplotlib, pyyaml and tqdm, but maybe not
# PyAV, papermill, nbformat or ipykernel, and it cannot download. Wheels carried in .whl/ (see
# notebooks/scaled/README.md) are installed into /tmp/site first; otherwise a short pip install of the
# pinned versions is tried (it fails at once offline) and the steps that need them are skipped.
set -u
cd "$(dirname "$0")/.."
OUT_DIR="${1:-${OUT:-build/gpu_verify}}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
PY="${PYTHON:-python3}"
BUDGET="${GPU_VERIFY_BUDGET:-450}"
LOG="$OUT_DIR/gpu_verify.log"
RESULTS="$OUT_DIR/results.jsonl"
: >"$LOG"
: >"$RESULTS"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
export MPLBACKEND=Agg
START=$SECONDS

say() { echo "$*" | tee -a "$LOG"; }

# run_step NAME LIMIT_SECONDS COMMAND...: run with a time limit cut to the budget left; log it; keep its JSON lines.
run_step() {
    local name="$1" limit="$2"
    shift 2
    local left=$((BUDGET - (SECONDS - START)))
    if ((left < 30)); then
        say "== $name: SKIPPED (budget: ${left}s left of ${BUDGET}s)"
        echo "{\"step\": \"$name\", \"skipped\": \"budget\"}" >>"$RESULTS"
        return 0
    fi
    ((limit > left - 10)) && limit=$((left - 10))
    say "== $name (limit ${limit}s): $*"
    local t0=$SECONDS tmp
    tmp="$(mktemp)"
    timeout --kill-after=10 "$limit" "$@" >"$tmp" 2>&1
    local rc=$?
    cat "$tmp" >>"$LOG"
    grep -E '^\{.*\}$' "$tmp" | while IFS= read -r line; do echo "{\"step\": \"$name\", ${line#\{}"; done >>"$RESULTS"
    rm -f "$tmp"
    say "== $name: exit $rc after $((SECONDS - t0))s$([ $rc = 124 ] && echo ' (TIMED OUT)')"
    echo "{\"step\": \"$name\", \"exit\": $rc, \"seconds\": $((SECONDS - t0))}" >>"$RESULTS"
    return 0
}

have() { "$PY" -c "import $1" >/dev/null 2>&1; }

# ---- environment and packages -------------------------------------------------------
say "== environment ($(date -u +%Y-%m-%dT%H:%M:%SZ))"
"$PY" - >>"$LOG" 2>&1 <<'EOF'
import importlib, json, platform, torch
mods = {m: importlib.util.find_spec(m) is not None for m in ("av", "papermill", "nbformat", "ipykernel", "yaml", "einops", "matplotlib", "tqdm")}
print(json.dumps({"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.cuda.is_available(),
                  "gpus": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())], "modules": mods}))
EOF
tail -n 1 "$LOG"
missing=""
for m in av papermill nbformat ipykernel; do have "$m" || missing="$missing $m"; done
if [ -n "$missing" ]; then
    say "missing:$missing"
    if compgen -G ".whl/*.whl" >/dev/null; then
        say "installing the carried wheels in .whl/ into /tmp/site"
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl >>"$LOG" 2>&1 &&
            export PYTHONPATH="/tmp/site:$PYTHONPATH"
    else
        pins=$(grep -E '^(av|papermill|nbformat|nbclient|ipykernel)==' requirements.txt | tr '\n' ' ')
        say "trying: pip install $pins(offline machines fail here at once)"
        timeout 60 "$PY" -m pip install -q --retries 0 --timeout 5 $pins >>"$LOG" 2>&1 || say "pip install failed: steps that need these are skipped"
    fi
fi
if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    say "WARNING: no CUDA device; the steps below run (or fail) on the CPU"
fi

# ---- 1. model and masking on the GPU ------------------------------------------------
OUT="$OUT_DIR" run_step gpu_check 120 "$PY" benchmarks/gpu_check.py

# ---- 2. the scaled pretraining notebook ---------------------------------------------
PARAMS=configs/pretrain_base_synthface_gpu.yaml
RUN_DIR=$("$PY" -c "import yaml; from marlin_lite.scaled import resolve_path; print(resolve_path(yaml.safe_load(open('$PARAMS'))['out_dir']))")
if have papermill && have nbformat && have ipykernel; then
    run_step pretrain_notebook 170 "$PY" -m papermill notebooks/scaled/pretrain.ipynb "$OUT_DIR/pretrain_gpu.ipynb" \
        -f "$PARAMS" -k python3 --cwd "$PWD" --no-progress-bar --log-output
else
    say "papermill/nbformat/ipykernel missing: running the notebook's functions without Jupyter"
    run_step pretrain_scaled 170 "$PY" -m marlin_lite.scaled pretrain --params "$PARAMS"
fi
for f in summary.json loss_curve.png reconstruction.png; do
    [ -f "$RUN_DIR/$f" ] && cp "$RUN_DIR/$f" "$OUT_DIR/$([ $f = summary.json ] && echo pretrain_summary.json || echo $f)"
done
if [ -f "$OUT_DIR/pretrain_summary.json" ]; then
    "$PY" -c "import json; s = json.load(open('$OUT_DIR/pretrain_summary.json')); print(json.dumps({'step': 'pretrain_summary', 'steps': s['steps'], 'final': s['final'], 'throughput': s['throughput'], 'device': s['device'], 'wall_seconds': s['wall_seconds']}))" | tee -a "$LOG" >>"$RESULTS"
fi

# ---- 2b. the course checkpoint's recipe on the GPU (issue 13: "in minutes on a GPU") ------
# configs/course.yaml as shipped (tiny, 8,000 steps, batch 32), on CUDA with 8 loader workers; the
# last logged step and its clips/s tell how long the whole run takes when the limit cuts it short.
COURSE_DIR=/tmp/gpu_verify_course
rm -rf "$COURSE_DIR"
run_step course_recipe 150 "$PY" -m marlin_lite.pretrain --config configs/course.yaml --device cuda --num-workers 8 \
    --out-dir "$COURSE_DIR" --progress false
if [ -f "$COURSE_DIR/metrics.jsonl" ]; then
    "$PY" - "$COURSE_DIR/metrics.jsonl" <<'EOF' | tee -a "$LOG" >>"$RESULTS"
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
rows = [r for r in rows if "step" in r]
if rows:
    last = rows[-1]
    print(json.dumps({"step": "course_recipe_summary", "steps": int(last["step"]), "of": 8000, "throughput": last.get("clips_per_s"),
                      "loss": last.get("loss")}))
EOF
fi

# ---- 3-6. throughput benchmarks -----------------------------------------------------
run_step pretrain_throughput 60 "$PY" benchmarks/pretrain_throughput.py --preset base --batch 64 --device cuda
if have av; then
    run_step extract_throughput 45 "$PY" benchmarks/extract_throughput.py --preset base --batch 64 --device cuda
else
    say "== extract_throughput: SKIPPED (PyAV missing: marlin_lite.features imports marlin_lite.video; gpu_check measured extraction)"
    echo '{"step": "extract_throughput", "skipped": "no PyAV"}' >>"$RESULTS"
fi
run_step loader_throughput 60 "$PY" benchmarks/loader_throughput.py --clips 256 --batch 64 --batches 20 --workers 0,4,8 \
    --modes thread --device cuda --trainer-clips-per-s 1000
run_step pretrain_throughput_compile 90 "$PY" benchmarks/pretrain_throughput.py --preset base --batch 64 --device cuda --compile --rounds 3 --steps 5
run_step lipsync_gpu 60 "$PY" -m marlin_lite.scaled downstream --params configs/downstream_ls_synthface.yaml \
    --set checkpoint=random:base device=cuda 'seeds=[0]' 'methods=[copy_reference, pretrained, supervised_scratch]' progress=false \
    'lipsync={num_identities: 10, clips_per_identity: 1, clip_frames: 38, expert_steps: 5, expert_batch_size: 8, steps: 5, batch_size: 4, num_eval_windows: 8}' \
    out_dir=runs/gpu_verify_lipsync

# ---- summary (the last lines of the output) -----------------------------------------
say "== done in $((SECONDS - START))s; files in $OUT_DIR: $(ls "$OUT_DIR" | tr '\n' ' ')"
"$PY" - "$RESULTS" <<'EOF' | tee -a "$LOG"
import json, sys
keys = ("bench", "env", "device", "loop", "mode", "preset", "batch", "workers", "clips_per_s", "gb_per_s", "speedup", "tflops", "mfu", "max_abs_err",
        "rel_err", "error", "exit", "seconds", "skipped", "steps", "throughput")
for line in open(sys.argv[1]):
    try:
        row = json.loads(line)
    except ValueError:
        continue
    print(row.get("step", "?").ljust(28), " ".join(f"{k}={row[k]}" for k in keys if k in row)[:160])
EOF
