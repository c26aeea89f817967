#!/usr/bin/env bash
# The one GPU check (at most 8 minutes on one H100/H200: every part has a time limit; figures print as they come,
# so a part cut short still leaves what it measured in its log): the CUDA tests, the GPU benchmarks
# (`make bench-gpu`'s command, without its venv step), the eager-vs-graph 50-step loss comparison and the
# SAM-step profile. Logs and JSON go to $OUT (default /tmp/gpu_check_out); exit 1 if any part failed.
#   BENCH_GPU_COMPILE=1 adds the torch.compile variant (minutes of compilation; off here to fit the budget).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/gpu_check_out}
mkdir -p "$OUT"
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
export NO_ALBUMENTATIONS_UPDATE=1 WANDB_MODE=offline HF_HUB_OFFLINE=1 TIMM_OFFLINE=1
export BENCH_GPU_COMPILE=${BENCH_GPU_COMPILE:-0}
status=0

part() {  # part <name> <seconds> <command...>: run with a time limit, log to $OUT/<name>.log, show its tail
  local name=$1 limit=$2 start rc
  shift 2
  echo "== $name (limit ${limit}s)"
  start=$(date +%s)
  timeout "$limit" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  echo "   $name: rc=$rc in $(($(date +%s) - start))s"
  tail -n 30 "$OUT/$name.log"
  [ "$rc" -eq 0 ] || status=1
}

{ nvidia-smi; "$PY" -c "import torch; print(torch.__version__, torch.version.cuda, torch.cuda.get_device_name(0))"; } \
  >"$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
part cuda_tests 120 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests/test_cuda_graphs.py \
  tests/test_gpu_embedding.py tests/test_gpu_extractor.py tests/test_gmm_torch.py tests/test_onnx_export.py
part graph_vs_eager 75 "$PY" -m benchmarks.graph_vs_eager steps=50 out="$OUT/graph_vs_eager.json"
part bench_gpu 230 "$PY" -m benchmarks.run_all --gpu --out "$OUT/bench-gpu.json"
part profile_sam_step 45 "$PY" -m benchmarks.profile_sam_step out="$OUT/profile_sam_step.json"
echo "gpu_check: $([ $status -eq 0 ] && echo all parts passed || echo some part failed), outputs in $OUT"
exit $status
