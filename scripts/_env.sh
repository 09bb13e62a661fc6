# Sourced by scripts/demo.sh and scripts/test.sh: a project virtualenv with
# zerowasm (built from this checkout) and what the given extras need.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${ZEROWASM_VENV:-$ROOT/.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
# shellcheck disable=SC1091
source "$VENV/bin/activate"
python -m pip install -q --upgrade pip
# scikit-build-core reuses build/<wheel tag>, so a re-install only rebuilds what changed.
python -m pip install -q "$ROOT${ZEROWASM_EXTRAS:+[$ZEROWASM_EXTRAS]}"
