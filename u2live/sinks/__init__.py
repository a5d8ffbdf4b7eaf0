"""Sinks: where finished frames go. Several at once; see :class:`~u2live.sinks.base.Sink` for the contract."""
from __future__ import annotations

import threading

from ..frame import VideoInfo
from .base import Sink
from .file import FileSink, check_output, kept_note
from .preview import PreviewSink, check_preview
from .rtmp import RtmpSink, check_rtmp_url
from .vcam import VirtualCameraSink

__all__ = ["Sink", "FileSink", "RtmpSink", "VirtualCameraSink", "PreviewSink", "open_sinks", "check_sinks",
           "kept_note"]


def check_sinks(output=None, rtmp: str | None = None, preview: bool = False, *, alpha: bool = False,
                overwrite: bool = True, inputs: dict | None = None) -> None:
    """Everything about the outputs that can be known before the source and the model open: the file's format
    (from its extension) and overwrite policy, that it destroys none of ``inputs`` ({path: "input"/"background"/
    "weights"}), the RTMP URL, a display for the preview. Creates nothing; raises the first problem as a one-line
    error."""
    if output is not None:
        check_output(output, alpha=alpha, overwrite=overwrite, inputs=inputs or {})
    if rtmp:
        check_rtmp_url(rtmp)
    if preview:
        check_preview()


def open_sinks(output=None, rtmp: str | None = None, vcam: bool | Sink = False, preview: bool = False, *,
               info: VideoInfo, alpha: bool = False, stop_event: threading.Event | None = None,
               vcam_backend: str | None = None, vcam_device: str | None = None,
               overwrite: bool = True) -> list[Sink]:
    """Open every sink asked for, in a fixed order (file, RTMP, virtual camera, preview). If one fails, those
    already opened are closed before the error propagates. ``alpha`` applies to the file only (a stream, a
    camera and a window show RGB). ``vcam`` may be a virtual camera opened already (``u2live webcam`` opens it
    before the model loads, so that a missing v4l2loopback fails at once): it takes its place in the order, and
    stays open if another sink fails (its opener closes it)."""
    opened: list[Sink] = []
    try:
        if output is not None:
            opened.append(FileSink(output, info, alpha=alpha, overwrite=overwrite))
        if rtmp:
            opened.append(RtmpSink(rtmp, info))
        if isinstance(vcam, Sink):
            opened.append(vcam)
        elif vcam:
            opened.append(VirtualCameraSink(info, backend=vcam_backend, device=vcam_device))
        if preview:
            opened.append(PreviewSink(stop_event if stop_event is not None else threading.Event()))
    except BaseException as err:
        for sink in reversed(opened):
            if sink is vcam:
                continue
            try:
                if hasattr(sink, "failed"):
                    sink.failed(err)
                sink.close()
            except Exception:  # noqa: BLE001 - the opening error is the one to report
                pass
        raise
    return opened
