"""The hostile-client round of ``benchmarks/serve.py`` (``python benchmarks/serve.py --hostile``).

One ``u2live serve`` on loopback at its default limits, and clients that try to make it cost more than it allows,
one phase after another, each bounded in count and time:

- idle: uploads that send their headers (and a little body) and go quiet, to both upload routes, and connections
  whose request head never ends;
- slow: uploads that send a byte every half second (never idle, far under the minimum rate);
- bombs: small PNGs that decode to 256 and 625 Mpx, and an EPS file, by every input route (``/v1/segment`` and
  ``/v1/videos``, raw body and multipart);
- large: many 45 MB bodies at once to both upload routes.

Meanwhile a normal client asks ``/health`` and a job's status every 0.25 s and segments a small photo every 2 s,
timing each answer, and a sampler reads the server's RSS every 0.1 s. The report says whether every normal probe
was answered within 1 s and whether RSS stayed under the budget of ``ServeSettings.budget_bytes`` (the base
measured after warm-up). Results go to ``benchmarks/results/serve-hostile.{json,md}``.
"""
from __future__ import annotations

import io
import json
import os
import select
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from u2live.serve.connections import MAX_CONNECTIONS  # noqa: E402
from u2live.serve.settings import ServeSettings  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
PHOTO = ROOT / "tests" / "data" / "u2net" / "test_images"
MiB = 1024 * 1024
ANSWER_GUARD = 60  # seconds a hostile socket waits for an answer before it is counted as unanswered
PROBE_LIMIT = 1.0  # seconds: the promise to normal clients


def png(side: int, depth: int, colour: int) -> bytes:
    """A PNG of side x side zeros (``depth`` bits, ``colour`` type): tens of KB that decode into hundreds of MB."""
    bits = {0: 1, 2: 3}[colour] * depth
    row = b"\0" * (1 + (side * bits + 7) // 8)
    packed = zlib.compressobj(9)
    data = b"".join(packed.compress(row) for _ in range(side)) + packed.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    head = struct.pack(">IIBBBBB", side, side, depth, colour, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def eps() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buffer, format="EPS")
    return buffer.getvalue()


class Sampler(threading.Thread):
    """The server's VmRSS every 0.1 s; ``peak_mib`` since the last ``reset()``."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.stop, self.peak, self.samples = pid, threading.Event(), 0, []

    def run(self) -> None:
        while not self.stop.wait(0.1):
            rss = kib(self.pid, "VmRSS")
            self.peak = max(self.peak, rss)
            self.samples.append(rss)

    def reset(self) -> None:
        self.peak = 0

    @property
    def peak_mib(self) -> float:
        return round(self.peak / 1024, 1)


def kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


class NormalClient(threading.Thread):
    """Probes (``/health``, a job's status) every 0.25 s and a small photo's mask every 2 s, timed."""

    def __init__(self, url: str, job: str, photo: bytes):
        super().__init__(daemon=True)
        self.url, self.job, self.photo = url, job, photo
        self.stop = threading.Event()
        self.phase = "warm"
        self.probes: list[tuple[str, float, int]] = []  # (phase, seconds, status)
        self.images: list[tuple[str, float, int]] = []

    def run(self) -> None:
        last_image = 0.0
        while not self.stop.wait(0.25):
            for path in ("/health", f"/v1/videos/{self.job}"):
                self.probes.append((self.phase, *timed(lambda: requests.get(self.url + path, timeout=30))))
            if time.monotonic() - last_image >= 2.0:
                last_image = time.monotonic()
                self.images.append((self.phase, *timed(lambda: requests.post(
                    self.url + "/v1/segment", data=self.photo, timeout=60))))


def timed(call) -> tuple[float, int]:
    began = time.perf_counter()
    try:
        status = call().status_code
    except requests.RequestException:
        status = 0
    return time.perf_counter() - began, status


def hostile_upload(port: int, path: str, length: int, first: bytes, *, dribble: bool = False,
                   body: bytes = b"") -> tuple[int, float]:
    """A raw POST: headers announcing ``length``, then ``first``; then ``body`` (all of it, as fast as the server
    reads), or one byte every 0.5 s (``dribble``), or nothing. (status or 0 if unanswered, seconds to answer)."""
    began = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=ANSWER_GUARD) as conn:
        try:
            conn.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
                         f"Content-Length: {length}\r\n\r\n".encode() + first)
            if body:
                conn.sendall(body)
            while dribble and not select.select([conn], [], [], 0.5)[0]:
                conn.sendall(b"\0")
            head = conn.recv(4096)
        except OSError:  # the server cut the body off before it was all sent: its answer may still be there
            head = _leftover(conn)
    status = int(head.split()[1]) if head.startswith(b"HTTP/") else 0
    return status, time.perf_counter() - began


def _leftover(conn: socket.socket) -> bytes:
    try:
        return conn.recv(4096)
    except OSError:
        return b""


def open_heads(port: int, count: int) -> list[float]:
    """``count`` connections whose request head never ends; seconds until the server closed each."""
    conns = [socket.create_connection(("127.0.0.1", port), timeout=ANSWER_GUARD) for _ in range(count)]
    began = time.perf_counter()
    for conn in conns:
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    closed = []
    for conn in conns:
        try:
            conn.recv(1)
        except OSError:
            pass
        closed.append(time.perf_counter() - began)
        conn.close()
    return closed


def bomb_request(url: str, path: str, how: str, name: str, data: bytes) -> tuple[int, float]:
    body = {"data": data} if how == "raw" else {"files": {"file": (name, data)}}
    seconds, status = timed(lambda: requests.post(url + path, timeout=ANSWER_GUARD, **body))
    return status, seconds


def at_once(count: int, call) -> list:
    with ThreadPoolExecutor(count) as clients:
        return list(clients.map(call, range(count)))


def summary(results, sent: str, **more) -> dict:
    """Status counts and the slowest answer of one phase's requests ((status, seconds) pairs)."""
    codes: dict[str, int] = {}
    for status, _ in results:
        codes[str(status)] = codes.get(str(status), 0) + 1
    return {"sent": sent, "answers": codes, "slowest_s": round(max(seconds for _, seconds in results), 2), **more}


def hostile_phases(url: str, port: int) -> list:
    """(name, what it does) for each phase; each returns its summary."""
    route = lambda i: "/v1/videos" if i % 2 else "/v1/segment"  # noqa: E731

    def idle() -> dict:
        closed: list[float] = []
        heads = threading.Thread(target=lambda: closed.extend(open_heads(port, 50)))
        heads.start()
        results = at_once(12, lambda i: hostile_upload(port, route(i), 10 * MiB, b"\0" * 1024))
        heads.join()
        return summary(results, "12 uploads (6 per route) that stop after 1 KiB; 50 connections whose request "
                                "head never ends", heads_closed_after_s=round(max(closed), 1))

    def slow() -> dict:
        return summary(at_once(4, lambda i: hostile_upload(port, route(i), 10 * MiB, b"", dribble=True)),
                       "4 uploads of one byte every 0.5 s (2 per route)")

    def bombs() -> dict:
        made = {"png-16000x16000-rgb": png(16000, 8, 2), "png-25000x25000-bilevel": png(25000, 1, 0), "eps": eps()}
        results = [bomb_request(url, path, how, name, data) for _ in range(3) for name, data in made.items()
                   for path in ("/v1/segment", "/v1/videos") for how in ("raw", "multipart")]
        return summary(results, "3 rounds of " + ", ".join(f"{name} ({len(data) // 1024} KiB)"
                                                           for name, data in made.items())
                       + " to /v1/segment and /v1/videos, raw and multipart")

    def large() -> dict:
        body = os.urandom(45 * MiB)
        results = at_once(24, lambda i: hostile_upload(port, "/v1/videos" if i % 3 == 0 else "/v1/segment",
                                                       len(body), b"", body=body))
        return summary(results, "24 bodies of 45 MiB at once (16 to /v1/segment, 8 to /v1/videos)")

    return [("idle", idle), ("slow", slow), ("bombs", bombs), ("large", large)]


def latency(rows, phase: str | None = None) -> dict:
    seconds = sorted(s for p, s, status in rows if (phase is None or p == phase) and status)
    failed = sum(1 for p, _, status in rows if (phase is None or p == phase) and status != 200)
    if not seconds:
        return {"count": 0, "not_200": failed}
    return {"count": len(seconds), "not_200": failed, "p50_ms": round(1000 * statistics.median(seconds), 1),
            "p99_ms": round(1000 * seconds[min(len(seconds) - 1, round(0.99 * (len(seconds) - 1)))], 1),
            "max_ms": round(1000 * seconds[-1], 1), "over_1s": sum(1 for s in seconds if s > PROBE_LIMIT)}


def run(args) -> dict:
    """Start the server, warm it up, run every phase with the normal client and the sampler beside it."""
    from serve import free_port, machine  # benchmarks/serve.py

    port = free_port()
    command = [sys.executable, "-m", "u2live", "serve", "--port", str(port), "--backend", args.backend,
               "--precision", args.precision, "--size", str(args.size)]
    settings = ServeSettings()
    with tempfile.TemporaryDirectory(prefix="u2live-hostile-") as scratch:
        log = Path(scratch) / "server.log"
        with log.open("wb") as sink:
            process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT,
                                       env={**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": scratch})
        try:
            return _measure(f"http://127.0.0.1:{port}", port, process, settings, command, machine)
        finally:
            process.terminate()
            process.wait(timeout=60)


def _measure(url: str, port: int, process, settings: ServeSettings, command: list[str], machine) -> dict:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if requests.get(url + "/ready", timeout=5).status_code == 200:
                break
        except requests.ConnectionError:
            time.sleep(0.2)
    photo = sorted(PHOTO.iterdir())[0].read_bytes()
    job = _warm_up(url, photo)
    base_mib = kib(process.pid, "VmHWM") / 1024
    budget_mib = settings.budget_bytes(int(base_mib * MiB), MAX_CONNECTIONS) / MiB
    sampler, client = Sampler(process.pid), NormalClient(url, job, photo)
    sampler.start(), client.start()
    load_before, peaks, results, began = os.getloadavg(), {}, {}, time.perf_counter()
    for name, run_phase in hostile_phases(url, port):
        client.phase = name
        sampler.reset()
        results[name] = run_phase()
        time.sleep(1.0)  # what the phase left running settles
        peaks[name] = sampler.peak_mib
    client.stop.set(), sampler.stop.set()
    client.join(), sampler.join()
    return {"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": machine(),
            "load_before": [round(x, 2) for x in load_before], "load_after": [round(x, 2) for x in os.getloadavg()],
            "command": " ".join(command), "seconds": round(time.perf_counter() - began, 1),
            "settings": {"workers": settings.workers, "queue": settings.queue, "max_jobs": settings.max_jobs,
                         "max_upload_mb": settings.max_upload_bytes / MiB, "max_megapixels": settings.max_pixels / 1e6,
                         "max_video_megapixels": settings.video_pixels / 1e6,
                         "upload_timeout_s": settings.upload_timeout, "max_connections": MAX_CONNECTIONS},
            "base_rss_mib": round(base_mib, 1), "budget_mib": round(budget_mib, 1),
            "peak_rss_mib": round(kib(process.pid, "VmHWM") / 1024, 1), "phase_peak_rss_mib": peaks,
            "phases": results,
            "normal_probes": {name: latency(client.probes, name) for name in peaks},
            "normal_images": {name: latency(client.images, name) for name in peaks}}


def _warm_up(url: str, photo: bytes) -> str:
    """One image and one small video job, so that the base includes what normal work loads; the job's id."""
    from fractions import Fraction

    import av
    import numpy as np

    requests.post(url + "/v1/segment", data=photo, timeout=120).raise_for_status()
    clip = io.BytesIO()
    with av.open(clip, "w", format="mp4") as out:
        stream = out.add_stream("libx264", rate=12, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 12)
        for i in range(12):
            frame = av.VideoFrame.from_ndarray(np.full((120, 160, 3), i * 20, np.uint8), format="rgb24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    job = requests.post(url + "/v1/videos", data=clip.getvalue(), timeout=60).json()["id"]
    deadline = time.monotonic() + 300
    while requests.get(f"{url}/v1/videos/{job}", timeout=10).json()["state"] != "done":
        if time.monotonic() > deadline:
            raise SystemExit("the warm-up video job did not finish")
        time.sleep(0.2)
    return job


def markdown(report: dict) -> str:
    probes_ok = all(row.get("over_1s", 0) == 0 and row["not_200"] == 0 for row in report["normal_probes"].values())
    lines = [f"# `u2live serve` against hostile clients ({report['when']})", "",
             f"{report['machine']}; load average {report['load_before']} before, {report['load_after']} after "
             "(other jobs share the CPU). Loopback only; every phase bounded in count and time.", "",
             f"Server: `{report['command']}` (default limits: {report['settings']}).", "",
             f"RSS: base {report['base_rss_mib']:.0f} MiB after warm-up (a photo and a small video job); peak "
             f"{report['peak_rss_mib']:.0f} MiB over the whole round; budget {report['budget_mib']:.0f} MiB "
             f"(`ServeSettings.budget_bytes`): {'under' if report['peak_rss_mib'] < report['budget_mib'] else 'OVER'} "
             "it.", "",
             f"Normal probes (`/health`, a job's status, every 0.25 s) answered within 1 s in every phase: "
             f"{'yes' if probes_ok else 'NO'}.", "",
             "| phase | what the hostile clients sent | answers | slowest answer s | peak RSS MiB | probes p50 / "
             "p99 / max ms | small photo masks p50 / max ms |", "| --- | --- | --- | ---: | ---: | --- | --- |"]
    for name, phase in report["phases"].items():
        probe, image = report["normal_probes"][name], report["normal_images"][name]
        lines.append(f"| {name} | {phase['sent']} | {phase['answers']} | {phase['slowest_s']} | "
                     f"{report['phase_peak_rss_mib'][name]:.0f} | {probe.get('p50_ms')} / {probe.get('p99_ms')} / "
                     f"{probe.get('max_ms')} | {image.get('p50_ms')} / {image.get('max_ms')} |")
    idle = report["phases"]["idle"]
    lines += ["", f"Connections with a never-ending request head were closed by the server after "
                  f"{idle['heads_closed_after_s']} s at most.", ""]
    return "\n".join(lines)


def main(args) -> None:
    report = run(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serve-hostile.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / "serve-hostile.md").write_text(markdown(report))
    print(markdown(report))
