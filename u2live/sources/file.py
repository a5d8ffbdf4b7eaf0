"""Video files (and stream URLs read offline, and a spooled standard input) decoded by PyAV in a reader thread."""
from __future__ import annotations

import heapq
import queue
import threading
import time
from collections import deque
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

import av
import numpy as np

from ..console import say
from ..errors import InputError, TooLargeError
from ..frame import Frame, VideoInfo, plausible_rate
from ..images import MAX_PIXELS
from ..handoff import END, POLL_SECONDS, put_until_stopped
from .base import URL_TIMEOUT_SECONDS, Source, _network_reason, is_url, open_video

REORDER_WINDOW = 4  # frames of timestamp reordering repaired (see FileSource._timestamped)


def _open_container(path: str, max_pixels: int, name: str):
    if is_url(path):  # FFmpeg reads it; bounded waits instead of a hang on a server that never answers
        try:
            return open_video(path, max_pixels=max_pixels, name=name, metadata_errors="ignore",
                              timeout=(URL_TIMEOUT_SECONDS, URL_TIMEOUT_SECONDS))
        except (av.FFmpegError, OSError) as err:
            raise InputError(f"cannot read {path}: {_network_reason(path, err)}") from err
    if not Path(path).exists():
        raise InputError(f"input not found: {path}")
    if Path(path).is_dir():
        raise InputError(f"expected a video file, got a directory: {path}")
    try:
        return open_video(path, max_pixels=max_pixels, name=name, metadata_errors="ignore")
    except (av.FFmpegError, OSError) as err:
        raise InputError(f"cannot read {path} as a video: {err.strerror or err}") from err


def _rotation(frame: av.VideoFrame, stream) -> int:
    """Counter-clockwise degrees to turn the picture for display: the display matrix (PyAV's ``frame.rotation``),
    else the legacy clockwise ``rotate`` tag."""
    if frame.rotation:
        return int(frame.rotation)
    tag = stream.metadata.get("rotate")
    return -int(float(tag)) if tag and tag.lstrip("-").replace(".", "").isdigit() else 0


def _frame_count(container, stream, fps: Fraction) -> int | None:
    """The header's frame count, else an estimate from the duration (for progress bars); None when unknown."""
    if stream.frames:
        return int(stream.frames)
    if stream.duration and stream.time_base:
        return max(1, round(float(stream.duration * stream.time_base * fps)))
    if container.duration:
        return max(1, round(container.duration / av.time_base * float(fps)))
    return None


class FileSource(Source):
    """A video file decoded by PyAV in a reader thread. See the module docstring."""

    MAX_BAD_PACKETS = 100

    def __init__(self, path: str, *, live: bool = False, queue_size: int = 8,
                 log: Callable[[str], None] | None = None, temporary: bool = False, name: str | None = None,
                 max_pixels: int = MAX_PIXELS) -> None:
        super().__init__()
        self.path = str(path)
        self.name = name or self.path  # how messages call it ("-" for a spooled standard input)
        self.max_pixels = max_pixels  # larger frames are refused from their header, never decoded
        self._temporary = temporary  # a spooled standard input: deleted on close
        self.live = live
        self.log = log or say
        self.bad_packets = 0
        self._error: BaseException | None = None
        try:
            self._container = _open_container(self.path, max_pixels, self.name)
            try:
                self._start(queue_size)
            except BaseException:
                self._container.close()
                raise
        except BaseException:
            self._remove_temporary()
            raise

    def _start(self, queue_size: int) -> None:
        if not self._container.streams.video:
            raise InputError(f"expected a video stream in {self.name}, found none")
        self._stream = stream = self._container.streams.video[0]
        stream.thread_type = "AUTO"
        self._origin = stream.start_time or 0  # pts 0 = the video stream's start; sinks align audio to it
        self._decoded = self._decode()
        first = self._next_decoded()
        if first is None:
            raise InputError(f"expected video frames in {self.name}, decoded none")
        self._pending = first
        fps = plausible_rate(stream.average_rate, stream.guessed_rate, stream.base_rate)
        image = self._image(first)
        self.info = VideoInfo(width=image.shape[1], height=image.shape[0], fps=fps,
                              time_base=Fraction(stream.time_base or Fraction(1, 90000)),
                              frames=_frame_count(self._container, stream, fps),
                              audio=self.path if self._container.streams.audio else None,
                              live=self.live)
        self._first_image = image
        self._queue: queue.Queue = queue.Queue(maxsize=1 if self.live else max(1, queue_size))
        self._thread = threading.Thread(target=self._read, name="u2live-file-reader", daemon=True)
        self._thread.start()

    def _decode(self) -> Iterator[av.VideoFrame]:
        """Every decodable frame; a damaged packet is skipped (and counted) rather than ending the video."""
        for packet in self._container.demux(self._stream):
            try:
                yield from packet.decode()
            except av.InvalidDataError as err:
                self.bad_packets += 1
                if self.bad_packets > self.MAX_BAD_PACKETS:
                    raise InputError(f"cannot decode {self.name}: more than {self.MAX_BAD_PACKETS} damaged "
                                     f"packets ({err.strerror or err})") from err

    def _next_decoded(self) -> av.VideoFrame | None:
        try:
            return next(self._decoded, None)
        except av.ArgumentError as err:  # what a decoder told max_pixels says of a larger frame
            raise TooLargeError(f"cannot decode {self.name}: its frames are over the limit of "
                                f"{self.max_pixels / 1e6:g} Mpx, or their size is invalid") from err
        except (av.FFmpegError, OSError) as err:
            raise InputError(f"cannot decode {self.name}: {err.strerror or err}") from err

    def _image(self, frame: av.VideoFrame) -> np.ndarray:
        image = frame.to_ndarray(format="rgb24")  # [H, W, 3]
        turns = round(_rotation(frame, self._stream) / 90) % 4
        return np.ascontiguousarray(np.rot90(image, turns)) if turns else image

    def _read(self) -> None:
        """Reader thread: decode, time-stamp, hand over; errors are stored and re-raised by the iterator."""
        try:
            started, decoded = None, 0
            for index, (image, pts) in enumerate(self._timestamped()):
                if self.live:
                    started = started if started is not None else time.perf_counter() - pts
                    if self._stop.wait(max(0.0, started + pts - time.perf_counter())):
                        break
                self._hand_over(Frame(image, pts, index, time.perf_counter()))
                decoded = index + 1
                if self._stop.is_set():
                    break
            if not self._stop.is_set():
                self._warn_if_short(decoded)
        except BaseException as err:  # noqa: BLE001 - re-raised in the consumer's thread
            self._error = err
        finally:
            if self.bad_packets:
                self.log(f"u2live: warning: skipped {self.bad_packets} damaged packet(s) in {self.name}")
            self._hand_over(END)

    def _warn_if_short(self, decoded: int) -> None:
        """A file that ends well before the frame count its header announces was cut short (a copy or download
        that did not finish): the frames up to the cut are kept, and the user is told (issue 6)."""
        expected = int(self._stream.frames or 0)  # the header's count, not an estimate (wrong for VFR clips)
        if expected and decoded < 0.9 * expected and expected - decoded >= 2:
            self.log(f"u2live: warning: {self.name} ended after {decoded} of the {expected} frames its header "
                     "announces; is it truncated?")

    def _timestamped(self) -> Iterator[tuple[np.ndarray, float]]:
        """(image, seconds from the stream start) in display order. The decoder emits frames in display order but
        some files (AVI with packed B-frames, Megamind.avi among them) carry their timestamps permuted within a
        few frames: a small reorder window hands the sorted stamps out in decode order. Stamps stay the stream's
        own (VFR safe); a missing or still non-increasing one becomes the previous plus one frame period."""
        step = max(1, round(1 / (float(self.info.fps) * self._stream.time_base)))  # one frame, in stream ticks
        images: deque[np.ndarray] = deque()
        stamps: list[int] = []
        frame, newest, last = self._pending, None, None
        self._pending = None
        while frame is not None and not self._stop.is_set():
            raw = frame.pts if frame.pts is not None else frame.dts
            newest = raw if raw is not None else (newest + step if newest is not None else self._origin)
            heapq.heappush(stamps, newest)
            images.append(self._first_image if self._first_image is not None else self._image(frame))
            self._first_image = None
            if len(images) > REORDER_WINDOW:
                last = self._seconds(heapq.heappop(stamps), last, step)
                yield images.popleft(), last
            frame = self._next_decoded()
        while images and not self._stop.is_set():
            last = self._seconds(heapq.heappop(stamps), last, step)
            yield images.popleft(), last

    def _seconds(self, ticks: int, last: float | None, step: int) -> float:
        seconds = float((ticks - self._origin) * self._stream.time_base)
        return seconds if last is None or seconds > last else last + float(step * self._stream.time_base)

    def _hand_over(self, item) -> None:
        if self.live and item is not END:  # newest only: replace what the consumer has not taken yet
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
                try:
                    self._queue.put_nowait(item)
                    return
                except queue.Full:
                    continue
        put_until_stopped(self._queue, item, self._stop)

    def __iter__(self) -> Iterator[Frame]:
        while not self._closed:
            try:
                item = self._queue.get(timeout=POLL_SECONDS)
            except queue.Empty:
                if self._thread is not None and not self._thread.is_alive() and self._queue.empty():
                    return
                continue
            if item is END:
                self._put_back_end()
                if self._error is not None:
                    raise self._error
                return
            yield item

    def _put_back_end(self) -> None:
        """Later iterations end at once, too."""
        try:
            self._queue.put_nowait(END)
        except queue.Full:
            pass

    def _release(self) -> None:
        while True:  # unblock a reader waiting on a full queue
            try:
                self._queue.get_nowait()
            except (queue.Empty, AttributeError):
                break
        if self._thread is None or not self._thread.is_alive():
            self._container.close()
        self._remove_temporary()

    def _remove_temporary(self) -> None:
        if self._temporary:
            Path(self.path).unlink(missing_ok=True)
