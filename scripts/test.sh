#!/usr/bin/env bash
# The whole test suite (or the tests named as arguments): install zerowasm with its test dependencies, lint, test.
# GPU tests skip (with the reason) where no GPU backend is available.
ZEROWASM_EXTRAS="test" source "$(dirname "$0")/_env.sh"
ruff check python tests bench
# The typed API: strict over python/zerowasm ([tool.mypy] in pyproject.toml; the compiled
# module is checked against the stubs the build generated into the installed package).
mypy
# Arguments replace the default target: `bash scripts/test.sh tests/test_ops.py -x`.
python -m pytest -q -ra --durations=25 "${@:-tests}"
