#!/usr/bin/env bash
# Build the extension with AddressSanitizer + UndefinedBehaviorSanitizer and run
# the foundation, ops and hostile-guest tests under it. Any ASan/UBSan report
# fails the run (UBSan is built with -fno-sanitize-recover: reports abort).
#
#   bash scripts/sanitize.sh [extra pytest args]
#
# Own virtualenv (build/sanitize/venv) and build directory, so the normal
# build is untouched. CUDA is off: the sanitizers check the host code.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VENV="${ZEROWASM_SANITIZE_VENV:-$ROOT/build/sanitize/venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
python -m pip install -q --upgrade pip
# Only what these three test files import (the full test extras pull in torch).
python -m pip install -q "numpy>=1.24" "wasmtime==50.0.1" "ziglang==0.17.1" "pytest>=8" "hypothesis>=6.100" \
  "gguf>=0.10" "cmake>=3.24" ninja "scikit-build-core>=0.10" "nanobind>=2.0"
SKBUILD_BUILD_DIR="$ROOT/build/sanitize/{wheel_tag}" \
SKBUILD_CMAKE_ARGS="-DZEROWASM_CUDA=OFF;-DZEROWASM_SANITIZE=address,undefined;-DCMAKE_BUILD_TYPE=RelWithDebInfo" \
  python -m pip install -q --no-deps --no-build-isolation "$ROOT"

# Python itself is not built with ASan: the runtime must be loaded first, and
# CPython's deliberate process-lifetime allocations are not leaks worth failing on.
ASAN_LIB="$(${CC:-gcc} -print-file-name=libasan.so)"
UBSAN_LIB="$(${CC:-gcc} -print-file-name=libubsan.so)"
export LD_PRELOAD="$ASAN_LIB:$UBSAN_LIB"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:allow_user_segv_handler=1:${ASAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"
LOG="$ROOT/build/sanitize/pytest.log"
set +e
# RSS-based tests are deselected: ASan's quarantine and shadow memory make RSS
# meaningless (leaks are LeakSanitizer's job, and the normal suite runs them).
# The CPU backend only: the sanitizers check zerowasm's host code, not a GPU driver's.
ZEROWASM_TEST_BACKENDS=cpu python -m pytest -q -p no:cacheprovider tests/test_foundation.py tests/test_ops.py tests/test_hostile.py \
  -k "not do_not_leak and not does_not_amplify" "$@" 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}
set -e
# A report that did not abort (e.g. in a subprocess) still fails the run.
if grep -qE "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer" "$LOG"; then
  echo "sanitize.sh: sanitizer reports found (see $LOG)" >&2
  exit 1
fi
exit "$status"
