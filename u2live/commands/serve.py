"""``u2live serve``: the HTTP API and web page on one model, localhost unless asked otherwise.

FastAPI and uvicorn (the optional ``serve`` extra) are imported when the command runs: ``--help`` needs neither,
and their absence is one line saying what to install."""
from __future__ import annotations

import ipaddress
import socket

import click

from ..errors import U2LiveError
from ..options import Finite, model_options, segmenter_options
from ..signals import Interrupted


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Any other than loopback needs --api-key.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True, help="TCP port.")
@click.option("--api-key", envvar="U2LIVE_API_KEY", default=None, callback=lambda c, p, v: _check_key(v),
              help="Key every /v1 request must send (X-API-Key or Authorization: Bearer); env U2LIVE_API_KEY. "
                   "Printable ASCII without spaces: what an HTTP header carries.")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Image requests and video jobs handled at once; the one model they share runs one call "
                   "at a time (decoding and encoding overlap).")
@click.option("--queue", "queue_size", type=click.IntRange(0, 1000), default=8, show_default=True,
              help="Image requests that may wait for a worker; past that the answer is 503 with Retry-After.")
@click.option("--max-upload-mb", type=Finite(min=0, min_open=True, max=2**20), default=200, show_default=True,
              help="Largest upload (image or video) in MiB; larger ones get 413.")
@click.option("--max-megapixels", type=Finite(min=0, min_open=True, max=10_000), default=50, show_default=True,
              help="Largest image in megapixels, read from its header; larger ones (decompression bombs) get 413. "
                   "A worker making a highlight of the largest costs ~100 bytes a pixel.")
@click.option("--max-video-megapixels", type=Finite(min=0, min_open=True, max=10_000), default=8.3,
              show_default=True, help="Largest video frame in megapixels (8.3: 4K UHD), and at most "
                                      "--max-megapixels; a running video job costs ~300 bytes a frame pixel.")
@click.option("--max-jobs", type=click.IntRange(1, 1000), default=4, show_default=True,
              help="Video jobs queued or running at once; past that the answer is 503.")
@click.option("--result-ttl", type=Finite(min=0, min_open=True, max=30 * 86400), default=3600, show_default=True,
              help="Seconds a finished video job and its result are kept.")
@click.option("--upload-timeout", type=Finite(min=0, min_open=True, max=3600), default=10, show_default=True,
              help="Seconds an upload may send nothing before it is cut off (408); one that averages under "
                   "32 KiB/s after that long is cut off too, and so is a connection whose request headers take "
                   "longer than 10 s.")
@model_options
def serve(host, port, api_key, workers, queue_size, max_upload_mb, max_megapixels, max_video_megapixels, max_jobs,
          result_ttl, upload_timeout, **model):
    """Serve the HTTP API and a web page: background removal of images and videos.

    POST /v1/segment (one image -> mask, cut-out, box or highlight), POST /v1/videos (a video job), GET /health,
    GET /ready; API docs at /docs, the page at /. The model loads once, at start-up; /ready answers 200 once it
    is loaded and warmed up.
    """
    if not _is_loopback(host) and not api_key:
        raise click.UsageError(f"--host {host} is reachable from other machines: give --api-key KEY "
                               "(or set U2LIVE_API_KEY) so that only clients with the key are served")
    try:
        import uvicorn

        from ..serve.app import create_app
        from ..serve.connections import MAX_CONNECTIONS, HeadDeadlineProtocol
        from ..serve.settings import MIB, ServeSettings
    except ImportError as err:
        raise U2LiveError(f"u2live serve needs FastAPI and uvicorn: pip install 'u2live[serve]' ({err})") from err
    _check_port_free(host, port)
    settings = ServeSettings(model=segmenter_options(**model), workers=workers, queue=queue_size,
                             max_upload_bytes=int(max_upload_mb * MIB), max_pixels=int(max_megapixels * 1e6),
                             max_video_pixels=int(max_video_megapixels * 1e6),
                             max_jobs=max_jobs, result_ttl=result_ttl, api_key=api_key or None,
                             upload_timeout=upload_timeout)
    failures: list[str] = []
    server = None

    def stop(message: str) -> None:
        failures.append(message)
        server.should_exit = True

    app = create_app(settings, on_failure=stop)
    server = _server_class(uvicorn)(uvicorn.Config(app, host=host, port=port, log_level="info",
                                                   timeout_graceful_shutdown=5, http=HeadDeadlineProtocol,
                                                   limit_concurrency=MAX_CONNECTIONS))
    click.echo(f"u2live: serving on http://{_url_host(host)}:{port}/ (API docs at /docs)", err=True)
    server.run()
    if failures:
        raise U2LiveError(failures[0])
    if server.stopped_by is not None:
        raise Interrupted(server.stopped_by)  # the CLI's last line: stopped by Ctrl-C, exit 130 (143: SIGTERM)


def _server_class(uvicorn):
    """uvicorn's server, told not to raise the signal that stopped it again once it has shut down: re-raised, it
    reached u2live's own handler after the shutdown, which announced a stop already done. The command reports the
    signal itself, as every other command does."""

    class Server(uvicorn.Server):
        stopped_by: int | None = None

        def handle_exit(self, sig, frame):
            super().handle_exit(sig, frame)
            self.stopped_by = self.stopped_by or sig
            getattr(self, "_captured_signals", []).clear()  # uvicorn >= 0.29 re-raises what it lists here

    return Server


def _check_key(key: str | None) -> str | None:
    """The key, unless no client could send it: a header is read as Latin-1 bytes, so a key with other
    characters would never match, and every client would be locked out."""
    if key and not all("!" <= char <= "~" for char in key):
        raise click.BadParameter("expected printable ASCII without spaces (HTTP headers carry ASCII; no client "
                                 "could send this key)", param_hint="--api-key")
    return key


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _check_port_free(host: str, port: int) -> None:
    """One line when the port is taken, before the model loads (uvicorn would log and exit later)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise U2LiveError(f"cannot listen on {host}:{port}: {err.strerror or err}") from err
