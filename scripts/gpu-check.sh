#!/usr/bin/env bash
# One-command GPU verification for whoever next has an NVIDIA GPU: builds
# zerowasm with CUDA and Vulkan, runs the CUDA and Vulkan test files and the GPU
# benchmarks, and writes a short report. Sized to finish in about 8 minutes.
#
#   bash scripts/gpu-check.sh [report.md]        (default: gpu-check-report.md)
#
# Needs: an NVIDIA driver (libcuda.so.1 and its Vulkan ICD, nvidia_icd.json),
# nvcc for the CUDA kernels, libvulkan-dev + glslc for the Vulkan shaders.
# Missing pieces do not stop the run: that backend's tests skip with the reason,
# which the report shows.
#
# Report format (Markdown, one file):
#   # zerowasm GPU check
#   - date (UTC), git commit, host, `nvidia-smi -L` lines, `zerowasm info` backends
#   ## <step>             one section per step, in this order:
#     tests: cuda, tests: vulkan, tests: vulkan models, bench: cuda launch,
#     bench: cuda elementwise, bench: cuda matmul, bench: vulkan
#   `command` | exit status | seconds
#   ```  the step's last 25 output lines (pytest's summary / the bench table)  ```
#   ## Summary            one line per step: PASS / FAIL (exit status) / TIMEOUT
# Each step has its own time limit (timeout(1)); a step that hits it reads TIMEOUT.
set -uo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
REPORT="$(realpath -m "${1:-gpu-check-report.md}")"
LOG_DIR="$(mktemp -d)"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$LOG_DIR}"
export ZEROWASM_VULKAN_VALIDATION="${ZEROWASM_VULKAN_VALIDATION:-1}"
export ZEROWASM_VENV="${ZEROWASM_VENV:-$ROOT/.venv}"

# Build and install once, in the same environment scripts/test.sh uses.
ZEROWASM_EXTRAS="test" source "$ROOT/scripts/_env.sh"
set +e

summary=()
{
  echo "# zerowasm GPU check"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "- host: $(uname -nrm)"
  echo "- GPUs:"; (nvidia-smi -L 2>&1 || echo "nvidia-smi unavailable") | sed 's/^/  - /'
  echo "- backends:"
  python -c 'import zerowasm
for n, ok, d in zerowasm.backend_details(): print(f"  - {n}: {\"available\" if ok else \"unavailable\"}: {d}")'
} > "$REPORT"

step() {  # step <title> <seconds> <command...>
  local title="$1" limit="$2"
  shift 2
  local log="$LOG_DIR/step.log" t0 t1 rc status
  t0=$(date +%s)
  timeout "$limit" "$@" > "$log" 2>&1
  rc=$?
  t1=$(date +%s)
  if [ $rc -eq 0 ]; then status=PASS; elif [ $rc -eq 124 ]; then status=TIMEOUT; else status="FAIL ($rc)"; fi
  summary+=("- $title: $status")
  {
    echo
    echo "## $title"
    echo
    echo "\`$*\` | exit $rc | $((t1 - t0)) s"
    echo
    echo '```'
    tail -n 25 "$log"
    echo '```'
  } >> "$REPORT"
  echo "gpu-check: $title: $status ($((t1 - t0)) s)"
}

step "tests: op suite (every backend present)" 150 python -m pytest -q -ra tests/test_ops.py tests/test_hostile.py
step "tests: cuda" 150 python -m pytest -q -ra tests/test_cuda_backend.py
step "tests: vulkan" 120 python -m pytest -q -ra tests/test_vulkan.py
ZEROWASM_VULKAN_MODEL_TESTS=1 step "tests: vulkan models" 150 python -m pytest -q -ra tests/test_vulkan_models.py
step "bench: cuda launch" 30 python bench/bench_cuda_launch.py
step "bench: cuda elementwise" 45 python bench/bench_cuda_elementwise.py --max-mib 256
step "bench: cuda matmul" 45 python bench/bench_cuda_matmul.py
step "bench: vulkan" 45 python bench/bench_vulkan.py --max-mib 256

{
  echo
  echo "## Summary"
  echo
  printf '%s\n' "${summary[@]}"
} >> "$REPORT"
echo "gpu-check: report written to $REPORT"
