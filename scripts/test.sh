#!/usr/bin/env bash
# The whole test suite (or the tests named as arguments): install zerowasm with its test dependencies, lint, test.
# GPU tests skip (with the reason) where no GPU backend is available.
ZEROWASM_EXTRAS="test" source "$(dirname "$0")/_env.sh"
ruff check python tests bench
# Arguments replace the default target: `bash scripts/test.sh tests/test_ops.py -x`.
python -m pytest -q -ra --durations=25 "${@:-tests}"
