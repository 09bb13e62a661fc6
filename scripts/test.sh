#!/usr/bin/env bash
# The whole test suite (or the tests named as arguments): install zerowasm with its test dependencies, lint, test.
# GPU tests skip (with the reason) where no GPU backend is available.
ZEROWASM_EXTRAS="test" source "$(dirname "$0")/_env.sh"
# llama.cpp, the tests' independent reference (tests/test_llm.py: tokenizer ids, greedy tokens, and
# the SmolLM2 fixtures re-quantized with its quantize API), built once from its sdist. Its CLI tools,
# examples and multimodal library are left out: 4.6 min on 2 cores instead of ~14. If it cannot be
# built (no network, no compiler) those tests skip and say why. ZEROWASM_LLAMA_REFERENCE=0 skips it.
LLAMA_REFERENCE="llama-cpp-python==0.3.36"  # the pin of pyproject.toml's llama-reference extra
if [ "${ZEROWASM_LLAMA_REFERENCE:-1}" != 0 ] &&
   ! python -c "import importlib.metadata as m, sys; sys.exit(m.version('llama-cpp-python') != '${LLAMA_REFERENCE#*==}')" 2>/dev/null; then
  echo "test: building $LLAMA_REFERENCE, the tests' llama.cpp reference (once; ~5 min on 2 cores)"
  CMAKE_ARGS="-DLLAVA_BUILD=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_CURL=OFF" \
    python -m pip install -q "$LLAMA_REFERENCE" ||
    echo "test: could not build $LLAMA_REFERENCE; the tests that need llama.cpp will skip" >&2
fi
ruff check python tests bench
# The typed API: strict over python/zerowasm ([tool.mypy] in pyproject.toml; the compiled
# module is checked against the stubs the build generated into the installed package).
mypy
# Arguments replace the default target: `bash scripts/test.sh tests/test_ops.py -x`.
python -m pytest -q -ra --durations=25 "${@:-tests}"
