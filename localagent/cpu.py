"""What CPU this is, in the terms that decide how fast the models run on it.

ONNX Runtime and CTranslate2 pick int8 kernels by the vector extensions a CPU has, so the
same model runs several times slower on a CPU with AVX2 only than on one with AVX-512 VNNI.
Every timing the product logs or a benchmark prints names the CPU it came from.
"""

from __future__ import annotations

import functools
import platform

__all__ = ["cpu_summary"]


@functools.cache  # read once: benchmarks name it on every figure
def cpu_summary() -> str:
    """The CPU's model and the vector extensions the models' kernels pick from (Linux)."""
    model, flags = platform.processor() or platform.machine(), set[str]()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() == "model name":
                    model = value.strip()
                elif key.strip() == "flags":
                    flags = set(value.split())
                    break
    except OSError:
        pass
    wanted = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "amx_int8")
    return f"{model}, {' '.join(f for f in wanted if f in flags) or 'no AVX2'}"
