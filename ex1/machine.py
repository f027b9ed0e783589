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
def cpu_name() -> str:
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return name


NATIVE_BF16 = frozenset({"avx512_bf16", "amx_bf16"})


def simd() -> list[str]:
    """The vector instruction sets that decide this project's speed and precision, as the CPU reports them."""
    return [f for f in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if f in cpu_flags()]


def cpu_description() -> str:
    name = cpu_name()
    found = simd()
    return f"{name}, {os.cpu_count()} logical cores" + (f", {' '.join(found)}" if found else "")


def kernels_description() -> str:
    """Which CPU kernels TensorFlow trains with, for the provenance appendix and the benchmarks."""
    on = onednn_enabled()
    return {True: "oneDNN kernels", False: "Eigen kernels (oneDNN off)", None: "TensorFlow's default kernels"}[on]


def summary() -> dict:
    """This machine as a computed answer records it, so that a report rendered elsewhere (a TA's copy of a
    student's results) names the machine that trained the answers, not its own."""
    import sys

    v = versions()
    return {"cpu": cpu_name(), "logical_cores": os.cpu_count(),
            "simd": simd(),
            # only when TensorFlow is loaded already: a theory answer should not import it to say so
            "kernels": kernels_description() if "tensorflow" in sys.modules else None,
            "platform": f"{platform.system()} {platform.release()}, Python {platform.python_version()}",
            "tensorflow": v.get("tensorflow"), "keras": v.get("keras")}


def has_native_bf16() -> bool:
    """bfloat16 matmuls run natively (AVX512_BF16 or AMX); elsewhere oneDNN emulates them, slowly."""
    return bool(NATIVE_BF16 & cpu_flags())


PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def cpu_flags_known() -> bool:
    """Whether this OS tells the CPU's instruction sets (Linux's /proc/cpuinfo); macOS and Windows do not here."""
    return bool(cpu_flags())


def onednn_enabled() -> bool | None:
    """Whether TensorFlow runs its oneDNN CPU kernels in this process (None: this build does not say)."""
    import tensorflow  # noqa: F401  (the flag is read when TensorFlow loads)

    try:
        from tensorflow.python.util import _pywrap_util_port
        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def gpu_compute_capability() -> tuple[int, int] | None:
    """The compute capability of the first GPU TensorFlow sees, or None (no GPU, or not a CUDA one)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    cc = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
    return tuple(cc) if cc else None


def auto_precision() -> tuple[str, str]:
    """(precision, why) for --precision auto: the fastest one that trains to float32's accuracy here."""
    cc = gpu_compute_capability()
    if cc is not None:
        if cc >= (8, 0):
            return "mixed_bfloat16", f"a GPU of compute capability {cc[0]}.{cc[1]} runs bfloat16 natively"
        if cc >= (7, 0):
            return "mixed_float16", (f"a GPU of compute capability {cc[0]}.{cc[1]} has float16 tensor cores and no "
                                     "bfloat16; the loss is scaled so that small gradients survive")
        return "float32", f"a GPU of compute capability {cc[0]}.{cc[1]} has no fast half precision"
    if has_native_bf16():
        return "mixed_bfloat16", "the CPU has native bfloat16 (AVX512_BF16 or AMX)"
    if not cpu_flags_known():
        return "float32", "this OS does not tell the CPU's instruction sets; float32 is right everywhere"
    return "float32", "this CPU has no native bfloat16 (AVX512_BF16 or AMX); emulated, it trains several times slower"


def resolve_precision(precision: str) -> str:
    if precision == "auto":
        return auto_precision()[0]
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose auto, {', '.join(PRECISIONS)}")
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
