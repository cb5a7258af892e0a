"""Giving a finished call's memory back to the system.

A call's pipeline is a web of processors that point at each other, so it is freed by the
cyclic garbage collector, not when the call ends; until a full collection runs, each ended
call keeps its ONNX sessions, codec buffers and worker threads. And glibc keeps freed
native memory in its arenas unless asked to return it; without this the server grows with
every call (`scripts/soak.py` measures it).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from typing import Any

__all__ = ["limit_malloc_arenas", "release_memory"]

_M_ARENA_MAX = -8  # mallopt parameter (glibc malloc.h)


@functools.cache
def _glibc(function: str) -> Any:
    """A glibc function, or None where there is none (macOS, musl, Windows)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return getattr(ctypes.CDLL(name), function)
    except (OSError, AttributeError):
        return None


def limit_malloc_arenas(arenas: int = 2) -> None:
    """Fewer glibc malloc arenas: each worker thread (whisper, Piper, ONNX, codecs) would
    otherwise get its own, and freed memory stranded across many arenas is not reused."""
    mallopt = _glibc("mallopt")
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, arenas)


def shared_onnx(path: str, *, optimize: bool = False) -> Any:
    """An ONNX Runtime CPU session for a model every call shares, with pipecat's options
    (one thread each) but without ORT's memory arena: the arena grows to the largest
    concurrent use and never gives memory back, which the soak showed as RSS creeping up
    after rounds of concurrent calls."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.inter_op_num_threads = 1
    opts.intra_op_num_threads = 1
    opts.enable_cpu_mem_arena = False
    if optimize:
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, sess_options=opts, providers=["CPUExecutionProvider"])


def release_memory() -> None:
    """Collect unreachable cycles and return free heap to the OS (blocks ~0.1 s: call it
    when no call is live)."""
    gc.collect()
    trim = _glibc("malloc_trim")
    if trim is not None:
        trim(0)
