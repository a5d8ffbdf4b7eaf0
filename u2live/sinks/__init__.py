"""Sinks: where finished frames go. Several at once; see :class:`~u2live.sinks.base.Sink` for the contract."""
from __future__ import annotations

import threading

from ..frame import VideoInfo
from .base import Sink
from .file import FileSink
from .preview import PreviewSink
from .rtmp import RtmpSink
from .vcam import VirtualCameraSink

__all__ = ["Sink", "FileSink", "RtmpSink", "VirtualCameraSink", "PreviewSink", "open_sinks"]


def open_sinks(output=None, rtmp: str | None = None, vcam: bool = False, preview: bool = False, *,
               info: VideoInfo, alpha: bool = False, stop_event: threading.Event | None = None,
               vcam_backend: str | None = None, vcam_device: str | None = None) -> list[Sink]:
    """Open every sink asked for, in a fixed order (file, RTMP, virtual camera, preview). If one fails, those
    already opened are closed before the error propagates. ``alpha`` applies to the file only (a stream, a
    camera and a window show RGB)."""
    opened: list[Sink] = []
    try:
        if output is not None:
            opened.append(FileSink(output, info, alpha=alpha))
        if rtmp:
            opened.append(RtmpSink(rtmp, info))
        if vcam:
            opened.append(VirtualCameraSink(info, backend=vcam_backend, device=vcam_device))
        if preview:
            opened.append(PreviewSink(stop_event if stop_event is not None else threading.Event()))
    except BaseException:
        for sink in reversed(opened):
            try:
                sink.close()
            except Exception:  # noqa: BLE001 - the opening error is the one to report
                pass
        raise
    return opened
