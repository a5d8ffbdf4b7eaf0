"""Shared fixtures: the authors' reference images and real media clips.

Reference images live in ``../shared/reference/u2net`` beside the checkout (or ``$U2LIVE_REFERENCE``). Real clips
come from Debian's opencv-doc package, unpacked by ``.ci/run`` into ``.cache/opencv-doc`` (or
``$U2LIVE_MEDIA``, or an installed opencv-doc).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
REFERENCE_CANDIDATES = [os.environ.get("U2LIVE_REFERENCE"), REPO.parent / "shared" / "reference" / "u2net",
                        REPO / "shared" / "reference" / "u2net"]
MEDIA_CANDIDATES = [os.environ.get("U2LIVE_MEDIA"),
                    REPO / ".cache" / "opencv-doc" / "usr" / "share" / "doc" / "opencv-doc" / "examples" / "data",
                    "/usr/share/doc/opencv-doc/examples/data"]


def _first_dir(candidates, probe: str) -> Path | None:
    for candidate in candidates:
        if candidate and (Path(candidate) / probe).exists():
            return Path(candidate)
    return None


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    found = _first_dir(REFERENCE_CANDIDATES, "test_images")
    if found is None:
        pytest.skip("the authors' reference images are missing: set U2LIVE_REFERENCE to shared/reference/u2net")
    return found


@pytest.fixture(scope="session")
def media_dir() -> Path:
    found = _first_dir(MEDIA_CANDIDATES, "Megamind.avi")
    if found is None:
        pytest.skip("opencv-doc clips are missing: run .ci/run's media step or set U2LIVE_MEDIA")
    return found


@pytest.fixture(scope="session")
def megamind(media_dir) -> Path:
    return media_dir / "Megamind.avi"


@pytest.fixture(scope="session")
def rembg_onnx() -> Path:
    """rembg's u2netp.onnx from the PyPI wheel, unpacked by .ci/run into .cache/rembg (or $U2LIVE_REMBG_ONNX)."""
    for candidate in (os.environ.get("U2LIVE_REMBG_ONNX"), REPO / ".cache" / "rembg" / "rembg" / "u2netp.onnx"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    pytest.skip("rembg's u2netp.onnx is missing: run .ci/run's media step or set U2LIVE_REMBG_ONNX")
