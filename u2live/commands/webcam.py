"""``u2live webcam``: live background replacement from a camera into a virtual camera (and/or preview, file, RTMP)."""
from __future__ import annotations

import click

from ..options import Finite, video_options
from .video import run_spec


@click.command(context_settings={"default_map": {"size": "auto"}})  # live: measured while running (u2live.adaptive)
@click.option("--source", "source_spec", default="0", show_default=True, metavar="0|/dev/videoN|FILE|URL",
              help="Camera index, V4L2 device, stream URL, or a video file standing in for a camera "
                   "(paced at its own frame rate).")
@click.option("--vcam/--no-vcam", default=True, show_default=True,
              help="Send the result to a virtual camera (v4l2loopback on Linux) for Zoom, Meet, OBS...")
@click.option("--width", type=click.IntRange(min=1), default=None, help="Ask the camera for this width.")
@click.option("--height", type=click.IntRange(min=1), default=None, help="Ask the camera for this height.")
@click.option("--fps", type=Finite(min=0, min_open=True, max=1000), default=None,
              help="Ask the camera for this frame rate.")
@click.option("--sync", is_flag=True,
              help="One mask per output frame: each frame waits for the model (exact, for comparisons; on a CPU "
                   "the output then runs at the model's rate, not the camera's).")
@click.option("--warp/--no-warp", default=True, show_default=True,
              help="Move the newest mask along the motion (optical flow) from the frame it was computed on to the "
                   "frame shown. Not used with --sync.")
@video_options
def webcam(source_spec, vcam, output, rtmp, preview, **options):
    """Replace the background of a live camera feed at the camera's frame rate.

    Every camera frame is composited, with the newest mask: the model runs beside the picture on the newest frame
    whenever it is free, and its mask is moved to where the person is now. Ctrl-C (or q / Esc in the preview)
    stops and closes every output cleanly.

    On the CPU the model computes on every core at a lower priority than the picture (it takes what the picture
    leaves). --size auto (the default) starts at once, at the size remembered for this machine and model (160 the
    first time), and while running moves to the largest size refreshing masks at >= 8 Hz beside the picture (down
    to 160), remembering it for the next run. A recording (-o) is encoded with x264's ultrafast preset, to keep up
    beside the model (files ~2.5x larger than u2live video's, at the veryfast preset).
    """
    if not (vcam or preview or output or rtmp):
        raise click.UsageError("nothing to write to: use --vcam, --preview, -o FILE or --rtmp URL")
    from ..job import run_job  # here, not at the top: `u2live webcam --help` answers without importing torch

    run_job(run_spec(source_spec, options, live=True, output=output, rtmp=rtmp, vcam=vcam, preview=preview))
