"""What machine a benchmark ran on: CPU, its vector instructions, cores, memory, GPU and driver, library versions,
and how busy it was.

Every figure we publish carries this, read from the machine itself, so a number is never quoted without the machine
that produced it. The vector instructions matter as much as the model name: INT8 on an AVX2 CPU without VNNI runs
at FP32's speed, with AVX-512 VNNI about twice as fast, and kernels (hence the last digits of results) differ.
"""
from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata



def machine_info(note: str | None = None) -> dict:
    """A JSON-ready description of this machine; ``note`` records conditions (e.g. "cores shared")."""
    info = {
        "cpu": cpu_model(),
        "isa": cpu_features(),
        "cores_logical": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": _torch_threads(),
        "ram_gb": ram_gb(),
        "os": platform.platform(),
        "python": platform.python_version(),
        "versions": library_versions(),
        "gpu": gpu_info(),
        "load_average": load_average(),
    }
    if note:
        info["note"] = note
    return info


def finished(info: dict) -> dict:
    """``info`` with the load average at the end of the run added (``describe`` names both)."""
    info["load_average_end"] = load_average()
    return info


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (Linux), else what :mod:`platform` knows."""
    return _proc_value("/proc/cpuinfo", "model name") or platform.processor() or platform.machine()


#: /proc/cpuinfo flags that change how fast (and with which kernels) the model runs, in the order they are named
FEATURES = (("avx2", "AVX2"), ("avx512f", "AVX-512"), ("avx512_vnni", "AVX-512 VNNI"), ("avx_vnni", "AVX-VNNI"),
            ("amx_int8", "AMX-INT8"), ("amx_bf16", "AMX-BF16"))


def cpu_features(flags: str | None = None) -> list[str] | None:
    """The vector instruction sets of this CPU that matter here (``FEATURES``), from /proc/cpuinfo's flags (or
    ``flags``); None where the flags cannot be read (not Linux, not x86)."""
    flags = flags if flags is not None else _proc_value("/proc/cpuinfo", "flags")
    if not flags:
        return None
    have = set(flags.split())
    return [name for flag, name in FEATURES if flag in have]


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages: other work on the machine, written beside every figure."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def ram_gb() -> float | None:
    kilobytes = _proc_value("/proc/meminfo", "MemTotal")  # "16318204 kB"
    return round(int(kilobytes.split()[0]) / 2**20, 1) if kilobytes else None  # kB -> GiB


def _proc_value(path: str, key: str) -> str | None:
    """The value of the first ``key: value`` line of a /proc file (Linux); None where there is none."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name.strip() == key:
                    return value.strip()
    except OSError:
        pass
    return None


def library_versions() -> dict:
    """Installed versions of the libraries whose speed we measure (None when not installed)."""
    names = {"u2live": "u2live", "torch": "torch", "onnxruntime": "onnxruntime", "av": "av",
             "opencv": "opencv-python-headless", "numpy": "numpy", "torch_tensorrt": "torch-tensorrt",
             "tensorrt": "tensorrt"}
    versions = {}
    for key, dist in names.items():
        try:
            versions[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[key] = None
    if versions["opencv"] is None:  # the non-headless wheel, or a distribution build
        versions["opencv"] = _module_version("cv2")
    return versions


def _module_version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except (ImportError, AttributeError):
        return None


def _torch_threads() -> int:
    import torch  # here: benchmarks that only name the machine (servers, whole processes) need not load it

    return torch.get_num_threads()


def gpu_info() -> dict | None:
    """Name, compute capability, memory, driver and CUDA versions of GPU 0; None without a CUDA GPU."""
    import torch

    if not torch.cuda.is_available():
        return None
    props = torch.cuda.get_device_properties(0)
    return {
        "name": props.name,
        "capability": f"{props.major}.{props.minor}",
        "memory_gb": round(props.total_memory / 2**30, 1),
        "count": torch.cuda.device_count(),
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "driver": nvidia_driver(),
    }


def nvidia_driver() -> str | None:
    """The NVIDIA driver version from nvidia-smi (torch does not expose it)."""
    try:
        done = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip().splitlines()[0] if done.stdout.strip() else None


def describe(info: dict) -> str:
    """One line naming the machine, for table captions, e.g. "AMD EPYC (AVX2, AVX-512, AVX-512 VNNI), 2 cores,
    23.5 GiB RAM, no GPU; load average 0.3 0.2 0.1 at the start, 2.1 0.7 0.3 at the end"."""
    gpu = info.get("gpu")
    gpu_text = f"{gpu['name']} (driver {gpu.get('driver') or '?'})" if gpu else "no GPU"
    cores = info.get("cores_usable") or info.get("cores_logical")
    isa = info.get("isa")
    cpu = f"{info.get('cpu')} ({', '.join(isa) or 'no AVX2'})" if isa is not None else f"{info.get('cpu')}"
    text = f"{cpu}, {cores} cores, {info.get('ram_gb')} GiB RAM, {gpu_text}"
    loads = [f"{' '.join(f'{v:g}' for v in info[key])} {when}" for key, when in
             (("load_average", "at the start"), ("load_average_end", "at the end")) if info.get(key)]
    if loads:
        text += "; load average " + ", ".join(loads)
    return f"{text}; {info['note']}" if info.get("note") else text
