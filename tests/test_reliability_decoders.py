"""Issue 21, class 4: decoders do not trust their input. Images are read through an allow-list of formats (an EPS
file never reaches Ghostscript) and refused by the pixel count in their header before a pixel is decoded (a small
PNG of 15000x15000 costs nothing), by every way in: the CLI (segment's inputs, --bg, eval's maps, a picture given
to ``video``), the Python API and the server.

A stand-in ``gs`` on the PATH records any call: Pillow runs ``gs`` to load EPS, so a record means untrusted
PostScript would have run. Peak memory is read from the kernel (a bound, not a timing).
"""
from __future__ import annotations

import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest
import requests
from PIL import Image

GiB = 1024 ** 3
FAST = ("--size", "64", "--backend", "cpu")


def png_bomb(path: Path, side: int) -> Path:
    """A bilevel PNG of side x side pixels, all zero: ~30 KB on disk for 15000x15000 (225 Mpx)."""
    row = b"\0" * (1 + (side + 7) // 8)
    packed = zlib.compressobj(9)
    data = b"".join(packed.compress(row) for _ in range(side)) + packed.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """A folder with an EPS picture (also under a .png name), a PNG bomb, a fake ``gs`` and a clip."""
    root = tmp_path_factory.mktemp("hostile")
    Image.new("RGB", (64, 48), (200, 30, 30)).save(root / "photo.eps")
    (root / "disguised.png").write_bytes((root / "photo.eps").read_bytes())
    png_bomb(root / "bomb.png", 15000)
    (root / "bin").mkdir()
    (root / "bin" / "gs").write_text(f"#!/bin/sh\necho \"$@\" >> {root / 'ghostscript-ran.txt'}\nexit 1\n")
    (root / "bin" / "gs").chmod(0o755)
    return root


def environment(root: Path) -> dict:
    return {**os.environ, "PATH": f"{root / 'bin'}:{os.environ['PATH']}", "PYTHONPATH": str(Path.cwd()),
            "OMP_NUM_THREADS": "1"}


def run_measured(cwd: Path, env: dict, *command: str) -> tuple[subprocess.CompletedProcess, int]:
    """``command`` in a child of a fresh Python; its peak RSS from the kernel (RUSAGE_CHILDREN)."""
    probe = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "sys.stderr.write(r.stderr); "
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024)")
    done = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, timeout=600,
                          cwd=cwd, env=env)
    code, peak = map(int, done.stdout.split())
    return subprocess.CompletedProcess(command, code, "", done.stderr), peak


API = textwrap.dedent("""
    import sys
    import u2live
    from u2live.errors import InputError
    model = u2live.load(backend="cpu", size=64)
    try:
        model.mask(sys.argv[1])
    except InputError as err:
        print(f"InputError: {err}", file=sys.stderr)
        sys.exit(1)
""")

ROUTES = {  # how the file gets in: the command, given the file's name
    "segment": lambda name: ["-m", "u2live", "segment", name, "-d", "out", *FAST],
    "video --bg": lambda name: ["-m", "u2live", "video", "clip.mp4", "-o", "out.mp4", "--bg", name, *FAST],
    "video input": lambda name: ["-m", "u2live", "video", name, "-o", "out.mp4", *FAST],
    "eval": lambda name: ["-m", "u2live", "eval", "--gt", "gt", "--pred", "pred"],
    "python api": lambda name: ["-c", API, name],
}
EXPECTED = {"photo.eps": "not a readable image", "disguised.png": "not a readable image",
            "bomb.png": "15000x15000 (225 Mpx), over the limit of 200 Mpx"}
#: FFmpeg reads what is not an allowed image (a video, or a picture FFmpeg knows): it says why it cannot
BY_FFMPEG = {"video --bg": {"photo.eps": "neither an image nor a video", "disguised.png": "--bg: cannot decode"},
             "video input": {"photo.eps": "cannot read", "disguised.png": "decoded none",
                             "bomb.png": "over the limit of 200 Mpx"}}


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_images_are_refused_from_their_header_by_every_route(hostile, write_clip, tmp_path, route, name):
    (tmp_path / name).symlink_to(hostile / name)
    write_clip(tmp_path / "clip.mp4", frames=2)
    for folder in ("gt", "pred"):  # eval: the file is a prediction to score
        (tmp_path / folder).mkdir()
    Image.new("L", (64, 48), 255).save(tmp_path / "gt" / "x.png")
    (tmp_path / "pred" / "x.png").symlink_to(hostile / name)
    result, peak = run_measured(tmp_path, environment(hostile), sys.executable, *ROUTES[route](name))
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    expected = BY_FFMPEG.get(route, {}).get(name, EXPECTED[name])
    assert expected in result.stderr, result.stderr
    assert not (hostile / "ghostscript-ran.txt").exists()  # no PostScript was run
    assert peak < GiB, f"{peak / 2**20:.0f} MiB"  # refused before decoding: 225 Mpx would be ~0.7 GB as RGB alone


def test_the_server_reads_uploads_through_the_same_gate(hostile, start_u2live_server, unused_port):
    server = start_u2live_server(unused_port, env={"PATH": environment(hostile)["PATH"]})
    for name, status, words in (("photo.eps", 400, "not a readable image"),
                                ("disguised.png", 400, "not a readable image"),
                                ("bomb.png", 413, "15000x15000 (225 Mpx), over the limit of 50 Mpx")):
        answer = requests.post(server.url + "/v1/segment", data=(hostile / name).read_bytes(), timeout=60)
        assert answer.status_code == status, answer.text
        assert words in answer.json()["error"], answer.text
    assert not (hostile / "ghostscript-ran.txt").exists()
    assert requests.get(server.url + "/ready", timeout=10).status_code == 200  # and it keeps serving
