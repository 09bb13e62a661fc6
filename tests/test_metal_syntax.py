"""The Metal backend's sources, checked on Linux (no Apple SDK here).

The checks are CTest tests (label ``metal``) defined by
csrc/backend/metal/linux_check/checks.cmake in the project's CMake build:

- every shader (csrc/backend/metal/kernels/*.metal) and the single string the
  library embeds parse as C++ in Metal mode (a declaration-only
  <metal_stdlib>; `half` is a keyword there too), with the C++ compiler and
  clang++; so does the shared csrc/kernels/kernel_math.h;
- the Objective-C++ backend (.mm) parses with clang, ARC on, against
  stand-ins of the Metal/Foundation declarations it uses;
- ZW_METAL_KERNELS (kernels/zw_metal_kernels.h, the one kernel list) names
  exactly the shaders' kernels;
- the library's embedded kSource is byte for byte the combined source.

What this cannot catch: Metal-only semantics (address-space rules, what the
real compiler rejects beyond C++), and selector typos the stand-ins repeat.
csrc/backend/metal/README.md lists how to verify on a Mac.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import metal_linux_checks as checks

LINUX_CHECK = checks.ROOT / "csrc" / "backend" / "metal" / "linux_check"


def test_metal_linux_checks_pass() -> None:
    done = checks.ctest("-L", "metal")
    assert done.returncode == 0, done.stdout + done.stderr
    ran = re.search(r"100% tests passed out of (\d+)", done.stdout)
    assert ran is not None and int(ran.group(1)) > 0, done.stdout
    assert re.search(r"metal_syntax_.*_matmul", done.stdout), "the shader syntax checks did not run"
    # The names checks.cmake looks for.
    if any(shutil.which(name) for name in ["clang++", *(f"clang++-{v}" for v in range(14, 21))]):
        assert "metal_objcxx_metal_executor" in done.stdout, "clang++ is present but the .mm were not checked"


def test_kernel_name_check_fails_when_the_list_and_shaders_disagree(tmp_path: Path) -> None:
    """The name check can fail: a shader set without zwk_silu no longer matches the list."""
    build = checks.build()
    combined = build / "zerowasm_metal_shaders.metal"
    broken = tmp_path / "shaders.metal"
    broken.write_text(combined.read_text().replace("void zwk_silu(", "void zw_not_a_listed_kernel("))
    compiler = shutil.which("c++") or shutil.which("g++")
    assert compiler is not None and checks.CMAKE is not None
    done = subprocess.run(
        [
            checks.CMAKE,
            f"-DDRIVER={build / 'zw_metal_kernel_driver'}",
            f"-DCOMPILER={compiler}",
            f"-DPRELUDE={LINUX_CHECK / 'syntax_prelude.h'}",
            f"-DSTDLIB_DIR={LINUX_CHECK / 'msl_declarations'}",
            f"-DCOMBINED={broken}",
            "-P",
            str(LINUX_CHECK / "check_kernel_names.cmake"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode != 0
    assert "Listed but not defined: zwk_silu" in done.stderr
