"""The Metal backend's sources, checked with host compilers (no Apple SDK here).

- Shaders: every metal/*.metal, and the single string the library embeds,
  parsed as C++ under metal/host_check_prelude.h, which makes them take their
  Metal code path with a declaration-only <metal_stdlib> (signatures from the
  Metal Shading Language specification; `half` is a keyword there too).
- The shared csrc/kernels/kernel_math.h under the same prelude.
- The Objective-C++ backend (.mm) with clang, ARC on, against stand-ins of
  the Metal/Foundation declarations it uses (metal/host_check/objc).
- Kernel names the executor asks for exist in the shaders, and vice versa.

What this cannot catch: Metal-only semantics (address-space rules, what the
real compiler rejects beyond C++), and selector typos the stand-ins repeat.
metal/README.md lists how to verify on a Mac.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
METAL = ROOT / "metal"
BACKEND = ROOT / "csrc" / "backend" / "metal"
KERNEL_MATH = ROOT / "csrc" / "kernels" / "kernel_math.h"
SHADERS = sorted(METAL.glob("*.metal"))

GXX = shutil.which("g++")
CLANGXX = shutil.which("clang++")
CMAKE = shutil.which("cmake")
COMPILERS = [c for c in (GXX, CLANGXX) if c is not None]

pytestmark = pytest.mark.skipif(not COMPILERS, reason="no C++ compiler (g++ or clang++) on PATH")

# kernel_math.h names a local variable `half` (a Metal keyword); the shaders
# work around it in zw_metal_common.h, but the header itself is not MSL-clean
# until it is renamed. Only clang's stand-in for `half` rejects it.


def compiler_id(path: str) -> str:
    return Path(path).name


def shader_flags(compiler: str, std: str = "c++14") -> list[str]:
    # MSL is based on C++14; unknown attributes ([[buffer(0)]], ...) are Metal's.
    unknown_attributes = "-Wno-unknown-attributes" if "clang" in compiler else "-Wno-attributes"
    return [
        compiler,
        "-fsyntax-only",
        "-x",
        "c++",
        f"-std={std}",
        "-Wall",
        "-Wextra",
        "-Werror",
        unknown_attributes,
        "-include",
        str(METAL / "host_check_prelude.h"),
        f"-I{METAL / 'host_check'}",
    ]


def check(command: list[str], source: str | None = None) -> None:
    done = subprocess.run(command, input=source, capture_output=True, text=True)
    assert done.returncode == 0, f"{' '.join(command)}\n{done.stderr}"


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(combined .metal, generated .cpp) from embed_shaders.cmake."""
    if CMAKE is None:
        pytest.skip("cmake not on PATH: cannot run embed_shaders.cmake")
    out = tmp_path_factory.mktemp("metal_embed")
    combined, cpp = out / "zerowasm_shaders.metal", out / "zerowasm_metal_shaders.cpp"
    check(
        [
            CMAKE,
            f"-DSHADER_DIR={METAL}",
            f"-DSHARED_DIR={ROOT / 'csrc' / 'kernels'}",
            f"-DOUTPUT_METAL={combined}",
            f"-DOUTPUT_CPP={cpp}",
            "-P",
            str(BACKEND / "embed_shaders.cmake"),
        ]
    )
    return combined, cpp


@pytest.mark.parametrize("compiler", COMPILERS, ids=compiler_id)
@pytest.mark.parametrize("shader", SHADERS, ids=lambda p: p.name)
def test_shader_parses(compiler: str, shader: Path) -> None:
    check([*shader_flags(compiler), f"-I{METAL}", f"-I{KERNEL_MATH.parent}", str(shader)])


@pytest.mark.parametrize("compiler", COMPILERS, ids=compiler_id)
@pytest.mark.parametrize("std", ["c++14", "c++17"])
def test_embedded_source_parses_without_include_paths(compiler: str, std: str, embedded: tuple[Path, Path]) -> None:
    """The string handed to newLibraryWithSource needs no include file of ours."""
    combined, _ = embedded
    check([*shader_flags(compiler, std), str(combined)])


def test_embedded_cpp_holds_exactly_the_combined_source(embedded: tuple[Path, Path]) -> None:
    combined, cpp = embedded
    compiler = GXX or CLANGXX
    assert compiler is not None
    check([compiler, "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", str(cpp)])
    text = cpp.read_text()
    data = bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", text))
    assert data[-1] == 0, "kSource must be NUL-terminated"
    assert data[:-1] == combined.read_bytes()
    assert f"kSourceSize = {len(data) - 1};" in text
    assert "kernel_math.h" in combined.read_text()  # the shared math travels with the shaders
    assert '#include "' not in combined.read_text()


@pytest.mark.parametrize("compiler", COMPILERS, ids=compiler_id)
@pytest.mark.parametrize("std", ["c++14", "c++17"])
def test_kernel_math_parses_as_the_shaders_include_it(compiler: str, std: str) -> None:
    source = '#include "zw_metal_common.h"\nfloat probe(float x) { return zw_gelu(x) + zw_silu(x); }\n'
    check([*shader_flags(compiler, std), f"-I{METAL}", f"-I{KERNEL_MATH.parent}", "-"], source)


@pytest.mark.parametrize("compiler", COMPILERS, ids=compiler_id)
def test_kernel_math_is_metal_clean_on_its_own(compiler: str) -> None:
    source = '#include <metal_stdlib>\nusing namespace metal;\n#include "kernel_math.h"\n'
    check([*shader_flags(compiler), f"-I{KERNEL_MATH.parent}", "-"], source)


def test_kernel_names_match_the_executor(embedded: tuple[Path, Path]) -> None:
    combined, _ = embedded
    compiler = GXX or CLANGXX
    assert compiler is not None
    flags = shader_flags(compiler)
    flags[flags.index("-fsyntax-only")] = "-E"
    done = subprocess.run([*flags, str(combined)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    in_shaders = set(re.findall(r"\bvoid\s+(zwk_\w+)\s*\(", done.stdout))
    executor = (BACKEND / "metal_executor.mm").read_text()
    table = executor[executor.index("kKernelNames[] = {") : executor.index("};", executor.index("kKernelNames"))]
    requested = set(re.findall(r'"(zwk_\w+)"', table))
    assert requested == in_shaders


@pytest.mark.skipif(CLANGXX is None, reason="clang++ not on PATH: Objective-C++ needs clang")
@pytest.mark.parametrize("source", sorted(BACKEND.glob("*.mm")), ids=lambda p: p.name)
def test_objcxx_backend_parses_with_arc(source: Path) -> None:
    assert CLANGXX is not None
    check(
        [
            CLANGXX,
            "-x",
            "objective-c++",
            "-std=c++20",  # the project's C++ standard (OBJCXX_STANDARD follows it)
            "-fsyntax-only",
            "-fobjc-arc",
            "-fblocks",
            "-fobjc-runtime=macosx-11.0",
            "-Wall",
            "-Wextra",
            "-Wshorten-64-to-32",
            "-Werror",
            "-Wno-nullability-completeness",
            f"-I{METAL / 'host_check' / 'objc'}",
            f"-I{ROOT / 'csrc'}",
            f"-I{ROOT / 'csrc' / 'include'}",
            f"-I{METAL}",
            f"-I{KERNEL_MATH.parent}",
            str(source),
        ]
    )


@pytest.mark.parametrize("compiler", COMPILERS, ids=compiler_id)
def test_buffer_views_compile(compiler: str) -> None:
    check(
        [
            compiler,
            "-std=c++20",
            "-fsyntax-only",
            "-Wall",
            "-Wextra",
            "-Werror",
            f"-I{ROOT / 'csrc'}",
            str(BACKEND / "buffer_views.cpp"),
        ]
    )
