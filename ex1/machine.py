"""Facts about the machine and the software, for precision choice and the provenance appendix."""

from __future__ import annotations

import os
import platform
from functools import lru_cache
from importlib import metadata


@lru_cache(maxsize=None)
def cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


@lru_cache(maxsize=None)
def cpu_description() -> str:
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    simd = [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in cpu_flags()]
    return f"{name}, {os.cpu_count()} logical cores" + (f", {' '.join(simd)}" if simd else "")


def has_native_bf16() -> bool:
    """bfloat16 matmuls run natively (AVX512_BF16 or AMX); elsewhere oneDNN emulates them, slowly."""
    return bool({"avx512_bf16", "amx_bf16"} & cpu_flags())


def resolve_precision(precision: str) -> str:
    if precision == "auto":
        return "mixed_bfloat16" if has_native_bf16() else "float32"
    if precision not in ("float32", "mixed_bfloat16"):
        raise ValueError(f"unknown precision {precision!r}; choose auto, float32 or mixed_bfloat16")
    return precision


PACKAGES = ("ex1", "tensorflow", "keras", "numpy", "pandas", "matplotlib", "tensorflow-datasets",
            "jinja2", "weasyprint", "ziamath")


def versions() -> dict[str, str]:
    from . import __version__

    out = {"python": platform.python_version(), "ex1": __version__}
    for p in PACKAGES[1:]:
        try:
            out[p] = metadata.version(p)
        except metadata.PackageNotFoundError:
            out[p] = "not installed"
    return out
