"""The typed API: the compiled module's generated stubs (nanobind stubgen at build time)
cover every public class, function and member; the package is marked typed; and
``zerowasm.models`` is an attribute of ``import zerowasm`` without importing model code.
(``mypy --strict`` itself runs in scripts/test.sh, next to ruff.)"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import zerowasm
from zerowasm import _zerowasm

PACKAGE = Path(zerowasm.__file__).parent


def stub_tree() -> ast.Module:
    stub = PACKAGE / "_zerowasm.pyi"
    assert stub.is_file(), f"no generated stub at {stub} (CMake nanobind_add_stub)"
    return ast.parse(stub.read_text())


def public(names) -> set[str]:
    return {n for n in names if not n.startswith("_")}


def test_stubs_list_every_public_class_function_and_member():
    tree = stub_tree()
    top = {n.name: n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef))}
    assert public(dir(_zerowasm)) <= set(top), public(dir(_zerowasm)) - set(top)
    classes = [name for name in public(dir(_zerowasm)) if isinstance(getattr(_zerowasm, name), type)]
    assert {"Runtime", "Module", "Instance", "Memory", "Function"} <= set(classes)
    for name in classes:
        body = top[name]
        assert isinstance(body, ast.ClassDef)
        members = {n.name for n in body.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
        missing = public(vars(getattr(_zerowasm, name))) - members
        assert not missing, f"{name}: {missing} missing from the stub"


def test_package_is_marked_typed():
    assert (PACKAGE / "py.typed").is_file()


def test_models_is_a_lazy_attribute():
    code = (
        "import sys, zerowasm\n"
        "assert 'zerowasm.models' not in sys.modules and 'zerowasm.models.minilm' not in sys.modules\n"
        "assert zerowasm.models.MiniLM.__name__ == 'MiniLM'\n"
        "assert 'zerowasm.models.minilm' in sys.modules and 'zerowasm.models.smollm' not in sys.modules\n"
        "try:\n    zerowasm.no_such_thing\nexcept AttributeError:\n    pass\nelse:\n    raise SystemExit(1)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
