"""``u2live serve`` under load on loopback: 200 image requests from 8 concurrent clients, bounded in count and time.

The server gets a small queue (``--queue 4``: 5 requests admitted at once for 8 clients), so both answers the issue
allows appear: ``200`` with a result, or a deliberate ``503`` with ``Retry-After``, never a hang. Its resident memory
after the run must stay within 10% of what it was after the first 20 requests (rembg's server grew without bound
under parallel requests, its #289 and #752).
"""
import io
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from PIL import Image

pytestmark = pytest.mark.slow

CLIENTS = 8
REQUESTS = 200
WARM_UP = 20
FORMATS = ("mask", "cutout", "highlight", "box")
MEDIA_TYPES = {"mask": "image/png", "cutout": "image/png", "highlight": "image/png", "box": "application/json"}
REQUEST_TIMEOUT = 60  # a request not answered by then counts as hung and fails the test
RUN_TIMEOUT = 600
BACK_OFF = 0.25  # a client told 503 waits this long (shorter than Retry-After, to keep the test short)


def small_jpegs(folder: Path, count: int = 8, longest: int = 160) -> list[bytes]:
    """The first reference images, shrunk so that the test measures the server, not the model."""
    images = []
    for path in sorted(folder.iterdir())[:count]:
        with Image.open(path) as image:
            picture = image.convert("RGB")
        picture.thumbnail((longest, longest))
        buffer = io.BytesIO()
        picture.save(buffer, format="JPEG", quality=90)
        images.append(buffer.getvalue())
    return images


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def check_answer(answer: requests.Response, fmt: str) -> None:
    """A 200 carries the format's result; a 503 says so in one JSON line with Retry-After."""
    assert answer.status_code in (200, 503), (answer.status_code, answer.text[:200])
    if answer.status_code == 503:
        assert int(answer.headers["retry-after"]) >= 1 and "busy" in answer.json()["error"]
        return
    assert answer.headers["content-type"] == MEDIA_TYPES[fmt]
    if fmt == "box":
        assert set(json.loads(answer.content)) >= {"box", "regions", "width", "height"}
    else:
        assert Image.open(io.BytesIO(answer.content)).size[0] > 0


def test_200_requests_from_8_clients(start_u2live_server, unused_port, reference_dir):
    server = start_u2live_server(unused_port, "--size", "128", "--queue", "4")
    images = small_jpegs(reference_dir / "test_images")

    def request(i: int) -> int:
        fmt = FORMATS[i % len(FORMATS)]
        answer = requests.post(server.url + "/v1/segment", params={"format": fmt}, data=images[i % len(images)],
                               timeout=REQUEST_TIMEOUT)
        check_answer(answer, fmt)
        if answer.status_code == 503:
            time.sleep(BACK_OFF)
        return answer.status_code

    with ThreadPoolExecutor(CLIENTS) as clients:
        codes = list(clients.map(request, range(WARM_UP), timeout=RUN_TIMEOUT))
        after_warm_up = rss_kib(server.process.pid)
        codes += clients.map(request, range(WARM_UP, REQUESTS), timeout=RUN_TIMEOUT)
        after_run = rss_kib(server.process.pid)

    assert len(codes) == REQUESTS
    assert codes.count(200) >= WARM_UP, f"{codes.count(200)} of {REQUESTS} served"
    assert 503 in codes, "8 clients never filled 5 places: the bound on the queue was not exercised"
    assert after_run <= 1.10 * after_warm_up, f"RSS grew from {after_warm_up} KiB to {after_run} KiB"
    assert requests.get(server.url + "/health", timeout=10).json() == {"status": "ok"}
