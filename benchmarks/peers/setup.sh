#!/usr/bin/env bash
# Creates benchmarks/.venv-peers (git-ignored) with the peer runtimes that must not share Parley's
# venv: kokoro-onnx 0.6.1 (it pins its own onnxruntime/phonemizer stack). Idempotent.
# piper-tts 1.8.0 needs no separate venv: it is in Parley's `bench` extra.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv-peers/bin/python ]; then
  "$PYTHON" -m venv .venv-peers
fi
.venv-peers/bin/python -m pip install --quiet "kokoro-onnx==0.6.1"
.venv-peers/bin/python -c "import kokoro_onnx, importlib.metadata as m; print('kokoro-onnx', m.version('kokoro-onnx'))"
