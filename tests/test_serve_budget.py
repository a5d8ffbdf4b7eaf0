"""Issue 21, class 3: what a client can cost the server is bounded before its bytes arrive or are decoded.

One real ``u2live serve`` on loopback with small limits (one worker and one queued request, two video jobs, 4 Mpx;
the default upload timeout of 10 s), driven by raw sockets so that a client can do exactly what a hostile one does: send
headers and go quiet, dribble a body, open many large uploads at once, upload a decompression bomb by every route.
Each time the server answers on its own (a hang guard of a minute, no timing claim), stays within memory bounds
read from the kernel (its peak RSS, VmHWM), and keeps serving normal clients.
"""
from __future__ import annotations

import io
import select
import socket
import struct
import time
import zlib

import pytest
import requests
from PIL import Image

LIMITS = ("--workers", "1", "--queue", "1", "--max-jobs", "2", "--max-upload-mb", "20",
          "--max-megapixels", "4")
GUARD = 60  # seconds a socket waits for the server's answer before the test calls it a hang
MiB = 1024 * 1024


def kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith(key + ":"))


def png_bomb(side: int) -> bytes:
    """An 8-bit grayscale PNG of side x side zeros: a few hundred KB that decode into side² bytes and more."""
    row = b"\0" * (1 + side)
    packed = zlib.compressobj(9)
    data = b"".join(packed.compress(row) for _ in range(side)) + packed.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def post_head(server, path: str, length: int, first: bytes = b"") -> socket.socket:
    """A connection that has sent a POST's headers (announcing ``length`` bytes) and ``first`` bytes of body."""
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=GUARD)
    connection.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                       f"Content-Length: {length}\r\n\r\n".encode() + first)
    return connection


def answer_of(connection: socket.socket) -> tuple[int, bytes]:
    """(status, body) of the server's answer on ``connection``; raises socket.timeout after GUARD seconds."""
    data = b""
    while b"\r\n\r\n" not in data:
        more = connection.recv(65536)
        if not more:
            break
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.lower().split(b"\r\n")
                   if line.startswith(b"content-length:")), 0)
    while len(body) < length:
        more = connection.recv(65536)
        if not more:
            break
        body += more
    return int(head.split()[1]), body


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import socket as sockets

    from conftest import SERVER_MODEL_ARGS, _start_u2live_server, _stop_u2live_server

    with sockets.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    started = _start_u2live_server(port, tmp_path_factory.mktemp("budget"), *SERVER_MODEL_ARGS, *LIMITS)
    small = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 200)).save(small, format="PNG")
    warm = requests.post(started.url + "/v1/segment", data=small.getvalue(), timeout=GUARD)  # first-use imports
    assert warm.status_code == 200, warm.text
    yield started
    _stop_u2live_server(started)


def test_quiet_and_slow_uploads_are_cut_off_and_free_their_place(server, write_clip, tmp_path):
    # both video job places (--max-jobs 2) taken by uploads that stall: one sends nothing more, one a byte now
    # and then (never quiet for 10 s, far under 32 KiB/s); on their own they would hold the places for ever
    quiet = post_head(server, "/v1/videos", 10 * MiB, b"\0" * 1000)
    slow = post_head(server, "/v1/videos", 10 * MiB)
    heads = socket.create_connection(("127.0.0.1", server.port), timeout=GUARD)
    heads.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # a request head that never ends
    for _ in range(60):  # a byte every half second until the server answers
        if select.select([slow], [], [], 0.5)[0]:
            break
        slow.sendall(b"\0")
    quiet_status, quiet_body = answer_of(quiet)
    slow_status, slow_body = answer_of(slow)
    assert quiet_status == 408 and b"sent nothing for 10 s" in quiet_body, quiet_body
    assert slow_status == 408 and b"KiB/s" in slow_body, slow_body
    assert heads.recv(1) == b""  # closed by the server, unanswered
    clip = write_clip(tmp_path / "clip.mp4", frames=4)
    jobs = [requests.post(server.url + "/v1/videos", data=clip.read_bytes(), timeout=GUARD) for _ in range(2)]
    assert [job.status_code for job in jobs] == [202, 202], [job.text for job in jobs]  # both places free again
    for job in jobs:
        wait_until_done(server, job.json()["id"])


def wait_until_done(server, job_id: str) -> None:
    deadline = time.monotonic() + 300
    while requests.get(f"{server.url}/v1/videos/{job_id}", timeout=10).json()["state"] not in ("done", "failed"):
        assert time.monotonic() < deadline, "the job did not end"
        time.sleep(0.2)


def test_room_is_reserved_before_a_body_is_read(server):
    before = kib(server.process.pid, "VmHWM")
    holding = [post_head(server, "/v1/segment", 15 * MiB, b"\0" * MiB) for _ in range(2)]  # worker + queue
    time.sleep(0.5)
    # eight more large uploads at once, each announcing 15 MiB and sending its first MiB: refused at once,
    # without waiting for (or holding) their bodies
    refused = [post_head(server, "/v1/segment", 15 * MiB, b"\0" * MiB) for _ in range(8)]
    answers = [answer_of(connection) for connection in refused]
    assert all(status == 503 and b"busy" in body for status, body in answers), answers
    for connection in holding:
        connection.sendall(b"\0" * (14 * MiB))  # the two admitted bodies complete: on disk beyond 1 MiB
    assert [answer_of(connection)[0] for connection in holding] == [400, 400]  # zeros are no image
    grown = (kib(server.process.pid, "VmHWM") - before) / 1024
    assert grown < 48, f"peak RSS grew {grown:.0f} MiB for ten bodies of 15 MiB"


@pytest.mark.parametrize("route", ["/v1/segment raw", "/v1/segment multipart", "/v1/videos raw",
                                   "/v1/videos multipart"])
def test_a_decompression_bomb_is_refused_from_its_header_by_every_route(server, route):
    bomb = png_bomb(8000)  # 64 Mpx over the 4 Mpx limit: ~70 KB, 64 MB as gray, ~190 MB as RGB
    path, how = route.split()
    before = kib(server.process.pid, "VmHWM")
    body = {"data": bomb} if how == "raw" else {"files": {"file": ("bomb.png", io.BytesIO(bomb))}}
    answer = requests.post(server.url + path, timeout=GUARD, **body)
    assert answer.status_code == 413 and "limit of 4 Mpx" in answer.json()["error"], answer.text
    grown = (kib(server.process.pid, "VmHWM") - before) / 1024
    assert grown < 32, f"peak RSS grew {grown:.0f} MiB: the picture was decoded"
    assert requests.get(server.url + "/ready", timeout=10).status_code == 200
