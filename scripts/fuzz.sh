#!/usr/bin/env bash
# Coverage-guided fuzzing of the zw.* op table (tests/fuzz/fuzz_ops.cpp) with
# libFuzzer under ASan + UBSan: arbitrary argument tuples, memory sizes and
# contents through validation into the CPU kernels.
#
#   bash scripts/fuzz.sh [SECONDS] [extra libFuzzer flags...]   (default 60 s)
#
# Builds build/fuzz with clang (installs Debian's clang-14 + libclang-rt-14-dev
# when missing and we are root), runs from the committed seeds in
# tests/fuzz/corpus into build/fuzz/corpus (new inputs stay out of the tree).
# Crashes land in build/fuzz/artifacts/; the script fails on any.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
SECONDS_BUDGET="${1:-60}"
shift || true
BUILD="${ZEROWASM_FUZZ_BUILD:-$ROOT/build/fuzz}"

CXX_BIN="$(command -v clang++-14 || command -v clang++ || true)"
if [ -z "$CXX_BIN" ] || ! ls /usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get install -y -q clang-14 libclang-rt-14-dev >/dev/null
    CXX_BIN="$(command -v clang++-14)"
  else
    echo "fuzz.sh: needs clang with libFuzzer (Debian: apt-get install clang-14 libclang-rt-14-dev)" >&2
    exit 1
  fi
fi
CC_BIN="${CXX_BIN/clang++/clang}"

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER="$CC_BIN" -DCMAKE_CXX_COMPILER="$CXX_BIN" \
  -DZEROWASM_CUDA=OFF -DZEROWASM_FUZZ=ON -DZEROWASM_SANITIZE=address,undefined >/dev/null
cmake --build "$BUILD" --target fuzz_ops

mkdir -p "$BUILD/corpus" "$BUILD/artifacts"
# One kernel thread: reproducible runs, and the fuzzer's own cores stay free.
export ZEROWASM_NUM_THREADS="${ZEROWASM_NUM_THREADS:-1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
"$BUILD/fuzz_ops" "$BUILD/corpus" tests/fuzz/corpus \
  -max_total_time="$SECONDS_BUDGET" -max_len=4096 -rss_limit_mb=2048 -timeout=30 \
  -artifact_prefix="$BUILD/artifacts/" -print_final_stats=1 "$@"
