"""What the server does with a request, run in the model pool or a job thread: thin adapters over the code the
CLI runs, so ``/v1/segment`` answers what ``u2live segment`` writes and a video job makes what ``u2live video``
makes. Those modules (torch, PyAV, the pipeline) are imported by the functions, on the first request that needs
them: the server answers ``/health`` at once (:mod:`u2live.serve.inference` loads the model in the background)."""
from __future__ import annotations

import io
import json
from contextlib import ExitStack

from PIL import Image

from ..errors import InputError, TooLargeError
from .jobs import VideoJob, check_input_size
from .uploads import decode_image


def segment_bytes(segmenter, data, *, fmt: str, bg: str | None, threshold: float, name: str,
                  max_pixels: int) -> tuple[bytes, str]:
    """The encoded result of one uploaded image (a binary file, or bytes) and its media type: the Python API's
    functions (what ``u2live segment`` writes), ``box`` as its JSON record, the rest as PNG."""
    from ..api import cutout_of, mask_of
    from ..salient import box_record, highlight

    image = decode_image(data, max_pixels)
    mask = mask_of(segmenter, image)
    if fmt == "box":
        return json.dumps(box_record(name, mask, threshold)).encode(), "application/json"
    if fmt == "highlight":
        picture = highlight(image, mask, threshold)
    elif fmt == "cutout":
        picture = cutout_of(image, mask, bg)  # RGBA, or RGB over the background ``bg``
    else:
        picture = mask
    return _png(Image.fromarray(picture)), "image/png"


def _png(picture: Image.Image) -> bytes:
    from ..commands.segment import PNG_COMPRESS_LEVEL  # the CLI's trade of encoding time for bytes

    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=PNG_COMPRESS_LEVEL)
    return buffer.getvalue()


def run_video(segmenter, job: VideoJob, *, max_pixels: int) -> None:
    """The job's input through the pipeline of ``u2live video`` into its result file."""
    from ..job import build_stages, run_frames
    from ..sinks import open_sinks
    from ..sources import FileSource
    from ..stats import PipelineStats

    spec = job.spec
    with ExitStack() as handed:  # source, stages and sinks, closed here only until the frame loop takes them
        source = handed.enter_context(FileSource(spec.source, live=False, name="the upload", max_pixels=max_pixels))
        check_input_size(max_pixels, source.info.width, source.info.height)
        limit = spec.max_frames
        total = source.info.frames
        job.frames_total = min(total, limit) if total and limit else total or limit
        stages = build_stages(segmenter, mode=spec.mode, smoothing=spec.smoothing, background=spec.background)
        handed.callback(stages.close)
        sinks = open_sinks(output=spec.output, info=source.info, alpha=stages.writes_rgba, stop_event=job.stop)
        for sink in sinks:
            handed.enter_context(sink)

        def done_one(_frame) -> None:
            job.frames_done += 1

        handed.pop_all()  # the frame loop closes them, however it ends
        run_frames(source, segmenter, stages, sinks, live=False, stats=PipelineStats(), max_frames=limit,
                   stop_event=job.stop, on_frame=done_one)


def probe_video(path, max_pixels: int) -> None:
    """InputError unless ``path`` holds a video stream FFmpeg can open, with frames of at most ``max_pixels``
    (checked before the job is queued, from the headers: FFmpeg is told the limit, so a picture sent as a video is
    not decoded to learn its size, and its first frame is refused at its header)."""
    import av

    from ..sources.base import open_video

    try:
        with open_video(path, max_pixels=max_pixels, name="upload", metadata_errors="ignore") as container:
            if not container.streams.video:
                raise InputError("the upload has no video stream")
            next(container.decode(video=0), None)
    except av.ArgumentError as err:  # what a decoder told max_pixels says of a larger frame
        raise TooLargeError(f"the upload's frames are over this server's limit of {max_pixels / 1e6:g} Mpx, "
                            "or their size is invalid") from err
    except (av.FFmpegError, OSError) as err:
        raise InputError("the upload is not a video FFmpeg can read") from err
