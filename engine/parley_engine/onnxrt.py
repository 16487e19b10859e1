"""ONNX Runtime sessions with explicit options (threads, arenas, logging)."""

from __future__ import annotations

from pathlib import Path

import onnxruntime as ort

__all__ = ["make_session"]


def make_session(path: Path | str | bytes, *, threads: int = 1) -> ort.InferenceSession:
    """A CPU session with `threads` intra-op threads and one inter-op thread (Parley runs one
    session call per worker thread; more intra-op threads than cores slow concurrent streams down)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.enable_cpu_mem_arena = True
    so.log_severity_level = 3
    src = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
