"""C++ embedding: the installed CMake package, an example app built against it, and
identical results from C++ and Python for the same guest."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import zerowasm

REPO = Path(__file__).resolve().parents[1]
HEADERS = sorted((REPO / "csrc" / "include" / "zerowasm").glob("*.hpp"))
CXX = os.environ.get("CXX", "c++")

pytestmark = pytest.mark.skipif(shutil.which("cmake") is None or shutil.which(CXX) is None,
                                reason="needs cmake and a C++ compiler")


def run(cmd: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, capture_output=True, text=True, **kw)  # type: ignore[call-overload]
    assert done.returncode == 0, f"{' '.join(map(str, cmd))}\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.parametrize("header", HEADERS, ids=lambda p: p.name)
def test_public_header_compiles_alone(header: Path, tmp_path: Path) -> None:
    tu = tmp_path / "tu.cpp"
    tu.write_text(f"#include <zerowasm/{header.name}>\nint main() {{ return 0; }}\n")
    run([CXX, "-std=c++20", "-fsyntax-only", "-Wall", "-Wextra", "-Werror", "-Wpedantic",
         f"-I{REPO / 'csrc' / 'include'}", str(tu)])


GEN = ["-G", "Ninja"] if shutil.which("ninja") else []


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Configure, build and install zerowasm into a prefix; returns the prefix."""
    root = tmp_path_factory.mktemp("cpp")
    build, prefix = root / "build", root / "prefix"
    # The CUDA backend is left out only to keep this packaging test fast.
    run(["cmake", "-S", str(REPO), "-B", str(build), *GEN, "-DCMAKE_BUILD_TYPE=Release",
         "-DZEROWASM_CUDA=OFF", f"-DCMAKE_INSTALL_PREFIX={prefix}"])
    run(["cmake", "--build", str(build), "-j", str(os.cpu_count() or 2)])
    run(["cmake", "--install", str(build)])
    assert (prefix / "lib" / "cmake" / "zerowasm" / "zerowasmConfig.cmake").is_file() or \
        any(prefix.glob("lib*/cmake/zerowasm/zerowasmConfigVersion.cmake"))
    return prefix


@pytest.fixture(scope="module")
def example_app(installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """examples/embed_cpp built against the installed package."""
    app = tmp_path_factory.mktemp("app")
    run(["cmake", "-S", str(REPO / "examples" / "embed_cpp"), "-B", str(app), *GEN,
         f"-DCMAKE_PREFIX_PATH={installed}", "-DCMAKE_BUILD_TYPE=Release"])
    run(["cmake", "--build", str(app)])
    exe = app / "embed_matmul"
    assert exe.is_file()
    return exe


def header_example() -> str:
    """The usage example at the top of zerowasm.hpp: its first block of `//   ` lines, verbatim."""
    lines: list[str] = []
    for line in (REPO / "csrc" / "include" / "zerowasm" / "zerowasm.hpp").read_text().splitlines():
        if line.startswith("//   "):
            lines.append(line[len("//   "):])
        elif lines or not line.startswith("//"):
            break  # the example ends at its first non-example line
    assert any("inst.call(" in line for line in lines), lines
    return "\n".join(lines)


# A model.wasm for the example: run(n) writes float(n) at element n-1 of the
# floats at byte 1024, which the example's view (made before the call) then shows.
EXAMPLE_GUEST = """
(module
  (memory (export "memory") 1)
  (func (export "run") (param $n i32)
    (f32.store (i32.add (i32.const 1020) (i32.shl (local.get $n) (i32.const 2)))
               (f32.convert_i32_s (local.get $n)))))
"""


def test_header_example_compiles_and_runs(installed: Path, tmp_path: Path) -> None:
    import wasmtime

    (tmp_path / "model.wasm").write_bytes(wasmtime.wat2wasm(EXAMPLE_GUEST))
    main = tmp_path / "main.cpp"
    main.write_text(
        "#include <zerowasm/zerowasm.hpp>\n#include <cstdio>\n"
        "int main() {\n  size_t offset = 1024;\n  int32_t n = 5;\n"
        f"{header_example()}\n"
        '  std::printf("%g %zu\\n", double(x[n - 1]), x.size());\n  return 0;\n}\n'
    )
    libs = sorted(installed.glob("lib*/libzerowasm.a"))
    assert libs, list(installed.rglob("*"))
    exe = tmp_path / "header_example"
    run([CXX, "-std=c++20", "-Wall", "-Wextra", "-Werror", f"-I{installed / 'include'}", str(main), str(libs[0]),
         "-pthread", "-ldl", "-o", str(exe)])
    env = {**os.environ, "ZEROWASM_WASMTIME_LIB": zerowasm.wasmtime_library(), "ZEROWASM_BACKEND": "cpu"}
    done = run([str(exe)], cwd=tmp_path, env=env)
    assert done.stdout.split() == ["5", "5"]


def lcg_fill(count: int, seed: int) -> np.ndarray:
    """The example's deterministic input generator, restated."""
    out = np.empty(count, np.float32)
    state = seed
    for i in range(count):
        state = (state * 1664525 + 1013904223) & 0xFFFFFFFF
        out[i] = np.float32(state >> 8) / np.float32(1 << 23) - np.float32(1.0)
    return out


def test_example_runs_against_installed_package(example_app: Path, build_guest, tmp_path: Path) -> None:
    guest = build_guest(REPO / "examples" / "embed_cpp" / "matmul_guest.c")
    m, n, k = 24, 40, 72
    out = tmp_path / "c.bin"
    done = run([str(example_app), str(guest), "--wasmtime", zerowasm.wasmtime_library(), "--backend", "cpu",
                "--m", str(m), "--n", str(n), "--k", str(k), "--out", str(out)])
    assert "OK" in done.stdout and "copies: 0" in done.stdout, done.stdout
    from_cpp = np.fromfile(out, np.float32).reshape(m, n)

    # The same guest from Python gives bit-identical results.
    inst = zerowasm.Runtime("cpu").load(guest).instantiate()
    assert inst.exports.setup(m, n, k) == 0
    a = inst.memory.view(inst.exports.a_ptr(), (m, k), np.float32)
    b = inst.memory.view(inst.exports.b_ptr(), (n, k), np.float32)
    a[:] = lcg_fill(m * k, 1).reshape(m, k)
    b[:] = lcg_fill(n * k, 2).reshape(n, k)
    inst.exports.run()
    from_python = inst.memory.view(inst.exports.c_ptr(), (m, n), np.float32)
    assert np.array_equal(from_cpp, from_python)
    ref = a.astype(np.float64) @ b.astype(np.float64).T
    assert np.abs(from_python - ref).max() <= 1e-5 * np.abs(ref).max()


def test_example_reports_a_bad_wasmtime_library(example_app: Path, build_guest, tmp_path: Path) -> None:
    guest = build_guest(REPO / "examples" / "embed_cpp" / "matmul_guest.c")
    done = subprocess.run([str(example_app), str(guest), "--wasmtime", str(tmp_path / "missing.so")],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert "cannot load the wasmtime C API library" in done.stderr
