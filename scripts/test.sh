#!/usr/bin/env bash
# The whole test suite: install zerowasm with its test dependencies, lint, test.
# GPU tests skip (with the reason) where no GPU backend is available.
ZEROWASM_EXTRAS="test" source "$(dirname "$0")/_env.sh"
ruff check python tests bench
python -m pytest -q -ra tests "$@"
