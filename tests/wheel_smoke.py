"""Smoke test of an installed wheel, run by scripts/build-wheel.sh from a clean venv with no
compiler (``--no-compiler`` asserts that) and by cibuildwheel (not collected by pytest: it
checks an installation, not the source tree).

Asserts the package is the installed one, that nothing could compile a guest here, that
every bundled guest comes prebuilt from the wheel, and that guests run and share their
memory through DLPack; the typed API's files are present.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import zerowasm
from zerowasm import guests, toolchain


def main() -> None:
    package = Path(zerowasm.__file__).parent
    assert "site-packages" in package.parts, f"not the installed package: {package}"
    if "--no-compiler" in sys.argv:  # scripts/build-wheel.sh removed every compiler: prove it
        try:
            compiler = toolchain.find_compiler()
        except toolchain.NoCompilerError:
            pass
        else:
            sys.exit(f"a guest compiler is reachable ({compiler}): this would not prove the prebuilt guests")

    for name in guests.GUESTS:
        path = guests.guest_path(name)
        assert path.parent == package / "prebuilt", f"{name}: {path} is not the wheel's prebuilt guest"

    inst = zerowasm.Runtime("cpu").load(guests.guest_path("vec_add")).instantiate()
    assert inst.exports.run(1000) == 1000 * 1000 / 2
    n = 4096
    a, b, out = (inst.exports.alloc(4 * n) for _ in range(3))
    x = np.from_dlpack(inst.memory.tensor(a, (n,), np.float32))
    assert x.ctypes.data == inst.memory.address + a
    x[:] = np.arange(n)
    inst.memory.view(b, (n,), np.float32)[:] = 1.0
    assert inst.exports.add_sum(a, b, out, n) == n * (n - 1) / 2 + n

    assert (package / "py.typed").is_file() and (package / "_zerowasm.pyi").is_file()
    assert "zerowasm.models.minilm" not in sys.modules
    assert zerowasm.models.MiniLM.__name__ == "MiniLM"
    print("wheel smoke: ok;", len(guests.GUESTS), "prebuilt guests;", ", ".join(zerowasm.backends()))


if __name__ == "__main__":
    main()  # locals (instances, DLPack arrays) are freed before the interpreter exits
