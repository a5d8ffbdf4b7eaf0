"""Virtual camera output through pyvirtualcam (v4l2loopback on Linux, OBS on macOS/Windows)."""
from __future__ import annotations

import platform

import numpy as np

from ..errors import OutputError
from ..frame import Frame, VideoInfo
from .base import Sink, even, pad_to, with_channels

V4L2LOOPBACK_HINT = ("no v4l2loopback device found: install v4l2loopback and load it with "
                     "'sudo modprobe v4l2loopback exclusive_caps=1' (exclusive_caps=1 lets Chrome and Zoom see it), "
                     "or run without a virtual camera: --no-vcam with --preview, -o FILE or --rtmp URL")


class VirtualCameraSink(Sink):
    """``VirtualCameraSink(info, backend=None, device=None)``: sends RGB frames to the real
    :class:`pyvirtualcam.Camera`. Sizes are padded to even (v4l2loopback and YUV consumers reject odd widths);
    an alpha channel is dropped (a camera has none)."""

    name = "vcam"

    def __init__(self, info: VideoInfo, *, backend: str | None = None, device: str | None = None) -> None:
        import pyvirtualcam

        self.info = info
        self.width, self.height = even(info.width), even(info.height)
        self.frames = 0
        if backend is not None and backend not in pyvirtualcam.camera.BACKENDS:
            known = ", ".join(sorted(pyvirtualcam.camera.BACKENDS)) or "none"
            raise OutputError(f"unknown virtual camera backend {backend!r}: expected one of {known}")
        try:
            self._camera = pyvirtualcam.Camera(self.width, self.height, float(info.fps),
                                               fmt=pyvirtualcam.PixelFormat.RGB, backend=backend, device=device)
        except Exception as err:  # pyvirtualcam collects every backend's failure into one RuntimeError
            raise OutputError(_explain(err, device)) from err
        self.device = self._camera.device
        self.backend = self._camera.backend

    def write(self, frame: Frame) -> None:
        image = with_channels(np.asarray(frame.image), 3)
        if image.shape[:2] != (self.info.height, self.info.width):
            raise OutputError(f"expected {self.info.width}x{self.info.height} frames for the virtual camera, "
                              f"got {image.shape[1]}x{image.shape[0]}")
        self._camera.send(np.ascontiguousarray(pad_to(image, self.width, self.height)))  # [H', W', 3] RGB
        self.frames += 1

    def _close(self) -> None:
        self._camera.close()


def _explain(err: Exception, device: str | None) -> str:
    text = " ".join(str(err).split())
    if platform.system() == "Linux" and ("v4l2" in text.lower() or "no such file" in text.lower()):
        where = f" at {device}" if device else ""
        return V4L2LOOPBACK_HINT.replace("device found", f"device found{where}")
    return f"cannot open the virtual camera: {text}"
