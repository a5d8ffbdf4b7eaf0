"""``u2live doctor``: what works on this machine, what does not, and the fix — one line per check.

Checks only look (sysfs, imports, library queries); none loads the model or opens a device for long, so the
command takes about a second. Exit status 1 when something ``u2live video`` needs is missing, else 0.
"""
from __future__ import annotations

import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import click

SYSFS = Path("/sys")
LOOPBACK_FIX = ("sudo apt install v4l2loopback-dkms && sudo modprobe v4l2loopback devices=1 exclusive_caps=1 "
                "card_label=u2live")


@dataclass
class Check:
    """One line of the report. ``ok``: True passes, False fails (with ``fix``), None is information only."""

    name: str
    ok: bool | None
    detail: str
    fix: str = ""
    required: bool = False  # a failure here means u2live video cannot run

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "info"}[self.ok]
        text = f"{mark} {self.name}: {self.detail}"
        return f"{text} -> fix: {self.fix}" if self.ok is False and self.fix else text


@click.command()
def doctor():
    """Check this machine for u2live: virtual camera, cameras, display, encoders, torch and GPU, what
    --backend/--precision auto will take and why, ONNX Runtime, caches. One line per check, with the fix."""
    checks = run_checks()
    for check in checks:
        click.echo(check.line())
    failed = [c.name for c in checks if c.ok is False and c.required]
    if failed:
        raise click.exceptions.Exit(1)


def run_checks(sysfs: Path = SYSFS) -> list[Check]:
    return [check_torch(), *check_gpu(), check_auto(), check_tensorrt(), check_onnxruntime(), *check_encoders(),
            check_loopback(sysfs), check_cameras(sysfs), check_display(), *check_caches()]


def check_torch() -> Check:
    import torch

    build = f"CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only"
    return Check("torch", True, f"{torch.__version__} ({build} build, {torch.get_num_threads()} threads)",
                 required=True)


def check_gpu() -> list[Check]:
    import torch

    if not torch.version.cuda:
        return [Check("GPU", None, "not usable by this torch (CPU-only build); for an NVIDIA GPU: "
                      "pip install torch --index-url https://download.pytorch.org/whl/cu128")]
    if not torch.cuda.is_available():
        return [Check("GPU", False, "torch has CUDA but sees no GPU", "check the NVIDIA driver (nvidia-smi)")]
    props = torch.cuda.get_device_properties(0)
    return [Check("GPU", True, f"{props.name}, compute capability {props.major}.{props.minor}, "
                  f"{props.total_memory / 2**30:.1f} GiB: {gpu_class(props.major, props.minor)}")]


def gpu_class(major: int, minor: int) -> str:
    """What u2live does on a GPU of this compute capability (the policy in u2live.backends)."""
    if (major, minor) < (7, 5):
        return "Pascal-class or older (FP16 at a fraction of FP32 rate): torch CUDA graph at fp32, no TensorRT"
    if (major, minor) == (7, 5):
        return "Turing (GTX 16xx / RTX 20xx): TensorRT fp16 (torch CUDA fp16 without torch-tensorrt)"
    return "Ampere or newer: TensorRT fp16 (torch CUDA fp16 without torch-tensorrt)"


def check_auto() -> Check:
    from ..backends import AUTO_ORDER, BACKENDS
    from ..options import VIDEO_PRECISION

    skipped = []
    for name in AUTO_ORDER:
        reason = BACKENDS[name].unavailable_reason()
        if reason is None:
            video = VIDEO_PRECISION.get(name, "its default")
            why = f"; not {'; not '.join(skipped)}" if skipped else ""
            return Check("auto", True, f"--backend auto -> {name}, --precision auto -> {video} for video/webcam"
                         f"{', fp32 for segment/serve' if name == 'cpu' else ''}{why}", required=True)
        skipped.append(f"{name}: {reason}")
    return Check("auto", False, "no backend can run: " + "; ".join(skipped), "pip install onnxruntime",
                 required=True)


def check_tensorrt() -> Check:
    from ..backends.tensorrt import torch_tensorrt_missing_reason

    reason = torch_tensorrt_missing_reason()
    if reason is None:
        import torch_tensorrt

        return Check("torch-tensorrt", True, torch_tensorrt.__version__)
    return Check("torch-tensorrt", None, f"not used: {reason}")


def check_onnxruntime() -> Check:
    try:
        import onnxruntime
    except ImportError:
        return Check("ONNX Runtime", False, "not installed", "pip install onnxruntime", required=True)
    providers = onnxruntime.get_available_providers()
    ok = "CPUExecutionProvider" in providers
    return Check("ONNX Runtime", ok, f"{onnxruntime.__version__}, providers {', '.join(providers)}",
                 "pip install --force-reinstall onnxruntime", required=True)


def check_encoders() -> list[Check]:
    import av

    checks = []
    for label, names, fix in [("H.264 encoder", ["libx264", "h264_nvenc", "h264_videotoolbox", "h264_mf"],
                               "pip install --force-reinstall av (its wheels bundle FFmpeg with libx264)"),
                              ("AAC encoder", ["aac"], "pip install --force-reinstall av")]:
        found = [name for name in names if _encoder(av, name)]
        checks.append(Check(label, bool(found), f"PyAV {av.__version__}: {', '.join(found) or 'none'}", fix,
                            required=True))
    return checks


def _encoder(av, name: str) -> bool:
    try:
        av.codec.Codec(name, "w")
    except Exception:  # noqa: BLE001 - PyAV raises different errors for unknown and decoder-only codecs
        return False
    return True


def video_devices(sysfs: Path) -> list[tuple[str, str, bool]]:
    """(/dev/videoN, name, is_loopback) for each V4L2 device; loopback devices are virtual (no hardware)."""
    devices = []
    for entry in sorted((sysfs / "class" / "video4linux").glob("video*"), key=lambda p: int(p.name[5:] or 0)):
        name = (entry / "name").read_text().strip() if (entry / "name").is_file() else "?"
        virtual = "/virtual/" in str(entry.resolve()) or not (entry / "device").exists()
        devices.append((f"/dev/{entry.name}", name, virtual))
    return devices


def check_loopback(sysfs: Path) -> Check:
    if platform.system() != "Linux":
        return Check("virtual camera", None, "macOS/Windows: pyvirtualcam uses OBS Virtual Camera (install OBS 28+)")
    module = sysfs / "module" / "v4l2loopback"
    if not module.is_dir():
        return Check("v4l2loopback", False, "kernel module not loaded (webcam --vcam needs it)", LOOPBACK_FIX)
    loops = [f"{dev} ({name})" for dev, name, virtual in video_devices(sysfs) if virtual]
    if not loops:
        return Check("v4l2loopback", False, "module loaded but no loopback device", LOOPBACK_FIX)
    caps_file = module / "parameters" / "exclusive_caps"
    caps = caps_file.read_text().strip() if caps_file.is_file() else "?"
    exclusive = caps.split(",")[0] in ("1", "Y")
    return Check("v4l2loopback", exclusive, f"{', '.join(loops)}; exclusive_caps={caps}",
                 "sudo modprobe -r v4l2loopback && sudo modprobe v4l2loopback exclusive_caps=1 "
                 "(browsers and Zoom list the device only with it)")


def check_cameras(sysfs: Path) -> Check:
    if platform.system() != "Linux":
        return Check("cameras", None, "listing needs Linux; try u2live webcam --source 0 --preview")
    cameras = [(dev, name) for dev, name, virtual in video_devices(sysfs) if not virtual]
    if not cameras:
        return Check("cameras", None, "none found (/dev/video*); plug one in, or stand in a file: "
                     "u2live webcam --source clip.mp4")
    return Check("cameras", True, "; ".join(f"{dev} {name}: {camera_modes(dev)}" for dev, name in cameras))


def camera_modes(device: str) -> str:
    """Sizes and rates the camera offers, from v4l2-ctl when installed (v4l-utils), else a hint."""
    if shutil.which("v4l2-ctl") is None:
        return "sizes/rates: install v4l-utils (v4l2-ctl) to list them"
    try:
        out = subprocess.run(["v4l2-ctl", "-d", device, "--list-formats-ext"], capture_output=True, text=True,
                             timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return "sizes/rates unknown (v4l2-ctl failed)"
    return summarize_modes(out) or "no capture formats (metadata node?)"


def summarize_modes(text: str) -> str:
    """``v4l2-ctl --list-formats-ext`` output -> "1280x720@30,10 640x480@30" (sizes with their frame rates)."""
    modes: dict[str, list[str]] = {}
    size = None
    for line in text.splitlines():
        words = line.split()
        if "Size:" in words:
            size = words[-1]
            modes.setdefault(size, [])
        elif size and "fps)" in line:
            rate = line.rsplit("(", 1)[1].split()[0]
            rate = f"{float(rate):g}"
            if rate not in modes[size]:
                modes[size].append(rate)
    return " ".join(f"{s}@{','.join(r)}" if r else s for s, r in modes.items())


def check_display() -> Check:
    from ..sinks.preview import preview_unavailable_reason

    reason = preview_unavailable_reason()
    if reason is None:
        return Check("display", True, "--preview can open a window")
    return Check("display", None, f"--preview unavailable: {reason}")


def check_caches() -> list[Check]:
    from ..backends.engine_cache import cache_dir

    return [Check("cache", None, f"{path} {folder_size(path)}") for path in (cache_dir(), Path.home() / ".u2net")]


def folder_size(path: Path) -> str:
    if not path.is_dir():
        return "(absent)"
    total = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    files = sum(1 for f in path.rglob("*") if f.is_file())
    return f"{total / 2**20:.1f} MiB in {files} files"
