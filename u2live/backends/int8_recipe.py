"""How our INT8 graphs are made, torch-free: the quantisation recipe and the one choice that depends on the CPU.

:mod:`.quantize` makes graphs by it; :mod:`.prebuilt` picks, among the graphs shipped with the package, the one made
for this CPU, without importing torch.
"""
from __future__ import annotations

import platform
from pathlib import Path

#: The recipe is part of the cache key (and of the shipped graphs' manifest): changing it names a new file.
RECIPE = {"format": "QDQ", "activations": "QUInt8", "weights": "QInt8", "per_channel": True, "method": "MinMax",
          "keep_fp32": "last-convs+outliers-12x"}
#: CPU flags whose int8 dot products cannot saturate (AVX-512 VNNI, AVX-VNNI, AMX)
VNNI_FLAGS = ("avx512_vnni", "avx_vnni", "amx_int8")


def reduce_range() -> bool:
    """Whether to quantise weights to 7 bits: on x86 CPUs without VNNI, ONNX Runtime's U8S8 kernels multiply with
    VPMADDUBSW, whose 16-bit pair sums saturate with full-range weights. Measured on the 18 reference images
    (2-core AVX2 EPYC, no VNNI): INT8 vs FP32 masks MAE 0.0095 mean / 0.032 worst with 8-bit weights, 0.0047 /
    0.014 with 7-bit. Where VNNI is present (and on non-x86 CPUs) full range is exact and kept."""
    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        return False
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:  # not Linux: cannot tell, and 7-bit weights are the safe choice on x86
        return True
    return not any(flag in flags for flag in VNNI_FLAGS)
