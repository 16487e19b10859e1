#!/usr/bin/env bash
# Installs Parley and starts the server with the default voice on ws://127.0.0.1:8765.
# Extra arguments go to `parley serve` (e.g. --host 0.0.0.0 --port 9000).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh play
exec .venv/bin/parley serve "$@"
