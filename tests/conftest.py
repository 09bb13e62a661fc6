"""Shared test fixtures: guest modules built with a content-addressed cache, the
backend parametrization of the op suite (tests/backends.py) and the native test
build (tests/native_build.py).

Use the session fixture in any test module:

    def test_x(build_guest):
        wasm = build_guest("int f(void) { return 1; }", exports=["f"])
        wasm = build_guest(EXAMPLES_DIR / "hello.c", opt="-O1")

Builds land in tests/.guest_cache/ (not in git), keyed by a hash of the sources, the
build options, the SDK headers, the toolchain module and the compiler's identity, so a
second run of the suite compiles nothing. If no compiler is available the test skips.
"""

from __future__ import annotations

import gc
import hashlib
import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

# Vulkan tests run under the Khronos validation layer and fail on any message; the
# backend reads this once, when it is first probed, so it must be set before any test
# module touches zerowasm. An explicit ZEROWASM_VULKAN_VALIDATION=0 still wins.
os.environ.setdefault("ZEROWASM_VULKAN_VALIDATION", "1")
if not os.environ.get("XDG_RUNTIME_DIR"):  # the Vulkan loader's layers want one
    import tempfile

    os.environ["XDG_RUNTIME_DIR"] = tempfile.mkdtemp(prefix="zw-xdg-")

import pytest  # noqa: E402
from native_build import NativeBuild, NativeBuildError, build

if TYPE_CHECKING:
    from backends import OpTarget

REPO = Path(__file__).resolve().parents[1]
EXAMPLES_DIR = REPO / "guest" / "examples"
GUEST_CACHE_DIR = Path(__file__).resolve().parent / ".guest_cache"


def _load_toolchain() -> ModuleType:
    """The installed zerowasm.toolchain, else the source tree's file (no native build needed)."""
    try:
        from zerowasm import toolchain

        return toolchain
    except (ImportError, OSError):
        path = REPO / "python" / "zerowasm" / "toolchain.py"
        spec = importlib.util.spec_from_file_location("zerowasm_toolchain_src", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up here
        spec.loader.exec_module(module)
        return module


toolchain = _load_toolchain()


class GuestBuilder:
    """Callable `build_guest(source, **compile_c_kwargs) -> Path`, with hit/miss counts.

    `source` is a Path (or a str naming an existing file, without newlines) to compile
    that file, else a str of C source text. `name=` picks the file stem for text sources.
    """

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self.hits = 0
        self.misses = 0

    def __call__(self, source: str | Path, *, name: str = "guest", **kw: Any) -> Path:
        is_file = isinstance(source, Path) or ("\n" not in source and os.path.isfile(source))
        if is_file:
            src_path = Path(source)
            text = src_path.read_text()
            stem = src_path.stem
            # Local headers next to the source can change the build too.
            siblings = sorted(src_path.parent.glob("*.h"))
        else:
            text, stem, siblings = str(source), name, []
        key = self._key(text, stem, siblings, kw)
        out = self.cache_dir / f"{stem}-{key}.wasm"
        if out.is_file():
            self.hits += 1
            return out
        self.misses += 1
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        if not is_file:
            src_path = self.cache_dir / f"{stem}-{key}.c"
            src_path.write_text(text)
        try:
            return toolchain.compile_c([src_path], out, **kw)
        except toolchain.NoCompilerError as exc:
            pytest.skip(f"no guest compiler: {exc}")

    def _key(self, text: str, stem: str, siblings: list[Path], kw: dict[str, Any]) -> str:
        compiler = toolchain.find_compiler() if "compiler" not in kw else kw["compiler"]
        h = hashlib.sha256()
        parts = {
            "source": text,
            "stem": stem,
            "siblings": {p.name: p.read_text() for p in siblings},
            "options": {k: repr(v) for k, v in sorted(kw.items()) if k != "compiler"},
            "compiler": [compiler.ident, list(compiler.cc), list(compiler.flags)],
            "sdk": {p.name: p.read_text() for p in sorted(toolchain.sdk_include_dir().glob("*.h"))},
            "toolchain": Path(toolchain.__file__).read_text(),
        }
        h.update(json.dumps(parts, sort_keys=True).encode())
        return h.hexdigest()[:20]


@pytest.fixture(scope="session")
def build_guest() -> Iterator[GuestBuilder]:
    """Session-wide guest builder; skips the requesting test if no compiler exists."""
    try:
        toolchain.find_compiler()
    except toolchain.NoCompilerError as exc:
        pytest.skip(f"no guest compiler: {exc}")
    yield GuestBuilder(GUEST_CACHE_DIR)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "heavy: large op-suite shapes, left out of emulated backends' runs")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "op_target" in metafunc.fixturenames:
        from backends import op_targets  # imports zerowasm: only where a test asks for it

        targets = op_targets()
        metafunc.parametrize("op_target", targets, ids=[t.label for t in targets], scope="module", indirect=True)


@pytest.fixture(scope="module")
def op_target(request: pytest.FixtureRequest) -> OpTarget:
    """Each backend and memory mode the op suite runs on in this process (tests/backends.py)."""
    target = request.param
    if target.why_unavailable is not None:
        pytest.fail(f"backend {target.backend!r} was asked for but cannot start: {target.why_unavailable}")
    return target


_NATIVE: list[NativeBuild | NativeBuildError] = []


def vulkan_validation_messages() -> int | None:
    """Messages the Khronos validation layer has reported in this process, or None when
    the Vulkan backend is not running under it (the count is in the registry's detail)."""
    import zerowasm

    for name, available, detail in zerowasm.backend_details():
        label = "validation on: "
        if name == "vulkan" and available and label in detail:
            return int(detail.split(label, 1)[1].split()[0].rstrip(";"))
    return None


@pytest.fixture(autouse=True)
def _no_vulkan_validation_messages(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that runs on Vulkan (its id or file names it) fails on any validation message."""
    before = vulkan_validation_messages() if "vulkan" in request.node.nodeid else None
    yield
    if before is None:
        return
    gc.collect()  # instances this test freed are torn down (and validated) now
    after = vulkan_validation_messages()
    assert after == before, f"Vulkan validation reported {(after or 0) - before} message(s)"


@pytest.fixture(scope="session")
def native_build() -> NativeBuild:
    """The native test build, configured and built once per session; a failed build
    fails every test that needs it (with cmake's output)."""
    if not _NATIVE:
        try:
            _NATIVE.append(build())
        except NativeBuildError as err:
            _NATIVE.append(err)
    result = _NATIVE[0]
    if isinstance(result, NativeBuildError):
        pytest.fail(str(result), pytrace=False)
    return result
