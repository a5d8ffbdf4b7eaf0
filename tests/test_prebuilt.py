"""Graphs built ahead and shipped (u2live.backends.prebuilt): they match the code that would build them, are used
with the bundled weights without torch or any export, give the masks of freshly built ones, are checked and
replaced when damaged; a graph not shipped is built once, in a child process, with a timed line, and Ctrl-C ends
that build at once."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from u2live import backends, weights
from u2live.backends import graph_build, onnx_rewrite, prebuilt
from u2live.backends.int8_recipe import RECIPE, reduce_range
from u2live.backends.onnx_runtime import session
from u2live.errors import BackendError
from u2live.images import read_rgb
from u2live.preprocess import normalise_minmax, resize_mask, to_model_input

MODELS = sorted({model for model, _, _ in prebuilt.PREBUILT})


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("U2LIVE_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def manifest(model: str) -> dict:
    return json.loads(prebuilt.manifest_path(model).read_text())


def shipped_bytes(model: str, file: str) -> bytes:
    entry = next(g for g in manifest(model)["graphs"] if g["file"] == file)
    with tarfile.open(prebuilt.GRAPHS / entry["archive"], "r:xz") as archive:
        return archive.extractfile(file).read()


def shipped_file(model: str, file: str, folder: Path) -> Path:
    path = folder / f"shipped-{file}"
    path.write_bytes(shipped_bytes(model, file))
    return path


@pytest.mark.parametrize("model", MODELS)
def test_the_manifest_matches_the_code_and_holds_every_graph_listed(model):
    """Fails when the export's rewrites, the INT8 recipe, the calibration frames or the bundled weights changed
    without ``python scripts/build_graphs.py``."""
    from u2live.backends import quantize

    shipped = manifest(model)
    made = shipped["made_with"]
    assert shipped["weights_sha256"] == hashlib.sha256(weights.BUNDLED[model].read_bytes()).hexdigest()
    assert shipped["weights_sha256"] == weights.BUNDLED_SHA256.get(model, shipped["weights_sha256"])
    assert made["rewrite"] == onnx_rewrite.REVISION and made["recipe"] == RECIPE
    assert made["calibration"] == quantize.calibration_hash()
    wanted = {(size, precision, bits) for name, size, precision in prebuilt.PREBUILT if name == model
              for bits in ((False, True) if precision == "int8" else (None,))}
    assert {(g["size"], g["precision"], g["weights_7bit"]) for g in shipped["graphs"]} == wanted
    for archive, about in shipped["archives"].items():
        assert hashlib.sha256((prebuilt.GRAPHS / archive).read_bytes()).hexdigest() == about["sha256"]
    for graph in shipped["graphs"]:
        assert hashlib.sha256(shipped_bytes(model, graph["file"])).hexdigest() == graph["sha256"]


def test_a_shipped_graph_runs_at_once_without_torch_or_any_export(tmp_path):
    """A fresh install (empty cache): every graph of PREBUILT (video's INT8 at 320, webcam's first size, the person
    model, FP32 at 320...) opens from the shipped graphs, unpacked and verified, without a line of building and
    without torch; an INT8 one is the one made for this CPU's weight range."""
    code = ("import sys\nfrom u2live import backends\nfrom u2live.backends.prebuilt import PREBUILT\nlines = []\n"
            "for model, size, precision in PREBUILT:\n"
            "    with backends.create('cpu', model=model, size=size, precision=precision, log=lines.append) as s:\n"
            "        print(s.graph_path)\n"
            "print(lines, 'torch' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "U2LIVE_CACHE": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    *paths, last = done.stdout.strip().splitlines()
    assert last == "[] False"
    bits = "-w7" if reduce_range() else "-w8"
    for path, (model, size, precision) in zip(map(Path, paths), prebuilt.PREBUILT, strict=True):
        assert path.parent == tmp_path / "prebuilt"
        assert path.name.startswith(f"{model}-{size}-{precision}{bits if precision == 'int8' else ''}-")


def test_only_the_bundled_weights_and_the_listed_sizes_get_a_shipped_graph(tmp_path):
    copy = tmp_path / "u2netp.pth"
    shutil.copyfile(weights.BUNDLED["u2netp"], copy)
    log = []
    assert prebuilt.graph("u2netp", None, 320, "int8", log=log.append, directory=tmp_path) is not None
    assert prebuilt.graph("u2netp", weights.BUNDLED["u2netp"], 160, "int8", log=log.append, directory=tmp_path)
    assert prebuilt.graph("u2netp", copy, 320, "int8", log=log.append, directory=tmp_path) is None  # not ours
    assert prebuilt.graph("u2netp", None, 352, "int8", log=log.append, directory=tmp_path) is None
    assert prebuilt.graph("u2netp", None, 256, "fp32", log=log.append, directory=tmp_path) is None
    assert prebuilt.graph("u2net", None, 320, "int8", log=log.append, directory=tmp_path) is None
    assert log == []


def test_a_damaged_graph_is_unpacked_again_and_a_damaged_archive_is_built_around(tmp_path, monkeypatch):
    log = []
    path = prebuilt.graph("u2netp", None, 320, "int8", log=log.append, directory=tmp_path)
    good = path.read_bytes()
    path.write_bytes(good[:1000])  # truncated in the cache
    assert prebuilt.graph("u2netp", None, 320, "int8", log=log.append, directory=tmp_path) == path
    assert path.read_bytes() == good and log == []
    graphs = tmp_path / "graphs"
    shutil.copytree(prebuilt.GRAPHS, graphs)
    archive = graphs / "u2netp-int8.tar.xz"
    archive.write_bytes(archive.read_bytes()[:200_000])  # a damaged install
    monkeypatch.setattr(prebuilt, "GRAPHS", graphs)
    assert prebuilt.graph("u2netp", None, 256, "int8", log=log.append, directory=tmp_path / "other") is None
    assert len(log) == 1 and "cannot be used" in log[0] and "building one instead" in log[0]


def masks(graph: Path, images, size: int) -> list[np.ndarray]:
    """The authors' final masks (min-max normalised d0 at each image's size) from the graph."""
    run = session(graph)
    return [resize_mask(normalise_minmax(run.run(None, {"input": to_model_input([im], size)})[0][:, 0])[0],
                        *im.shape[:2]) for im in images]


def same_versions(model: str) -> bool:
    made = manifest(model)["made_with"]
    return all(made[name] == metadata.version(name) for name in ("torch", "onnx", "onnxruntime"))


@pytest.mark.slow
def test_the_shipped_graphs_give_the_masks_of_freshly_built_ones(reference_dir, tmp_path):
    """Both graphs run here, on the same kernels, so the CPU's ISA (AVX2, AVX-512, VNNI) cancels out: what differs
    is only how they were made. With the library versions that made the shipped ones, a fresh build is the same
    bytes. With others, the FP32 graph may differ by float rounding in the export (the rewrites measured 4e-7):
    bound 1e-4 on the masks; an INT8 graph rounded differently may move a tensor's 8-bit scale by a level: bound
    MAE 0.001 (a fifth of INT8's own distance to FP32, 0.005) and 0.02 on any pixel, on the authors' images."""
    from u2live.backends import export, quantize

    images = [read_rgb(p) for p in sorted((reference_dir / "test_images").iterdir())]
    fresh = export.cached_onnx("u2netp", None, 320, log=lambda line: None, directory=tmp_path)[0]
    shipped = shipped_file("u2netp", "u2netp-320-fp32.onnx", tmp_path)
    if same_versions("u2netp"):
        assert fresh.read_bytes() == shipped.read_bytes()
    assert max(np.abs(a - b).max() for a, b in zip(masks(fresh, images, 320), masks(shipped, images, 320))) < 1e-4
    for bits, weights_7bit in (("w8", False), ("w7", True)):  # both run here, whichever this CPU would use
        fresh = quantize.cached_int8("u2netp", None, 160, log=lambda line: None, directory=tmp_path,
                                     weights_7bit=weights_7bit)
        shipped = shipped_file("u2netp", f"u2netp-160-int8-{bits}.onnx", tmp_path)
        if same_versions("u2netp"):
            assert fresh.read_bytes() == shipped.read_bytes()
        errors = [np.abs(a - b) for a, b in zip(masks(fresh, images, 160), masks(shipped, images, 160))]
        assert np.mean([e.mean() for e in errors]) <= 0.001 and max(e.max() for e in errors) <= 0.02


@pytest.mark.slow
def test_a_graph_not_shipped_is_built_once_saying_what_and_how_long(fresh_cache):
    lines = []
    with backends.create("cpu", size=96, precision="int8", log=lines.append) as segmenter:
        assert segmenter.predict([np.zeros((64, 80, 3), np.uint8)]).shape == (1, 96, 96)
    assert [line.split(" (")[0] for line in lines[::2]] == [
        "u2live: exporting ONNX graph of u2netp at 96x96", "u2live: calibrating INT8 graph of u2netp at 96x96"]
    assert all(line.startswith("u2live: ") and " ready in " in line and line.endswith(" s") for line in lines[1::2])
    assert "once; later runs reuse it" in lines[0] and str(fresh_cache) in lines[0]
    with backends.create("cpu", size=96, precision="int8", log=lines.append):
        assert len(lines) == 4  # reused: nothing said, nothing built


def test_ctrl_c_while_a_graph_is_built_ends_the_build_child(fresh_cache):
    """The build runs in a child process: Ctrl-C in the caller ends it (exporting would otherwise run on in
    torch's native code); another thread's :func:`graph_build.cancel_all` ends it too."""
    started = threading.Event()

    def log(line):
        if "exporting" in line:
            started.set()

    def interrupt():
        if started.wait(120):
            os.kill(os.getpid(), signal.SIGINT)

    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Thread(target=interrupt)
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            graph_build.build("u2netp", None, 352, "fp32", log=log)
    finally:
        timer.join()
        signal.signal(signal.SIGINT, previous)
    assert started.is_set() and not graph_build._children
    errors = []
    thread = threading.Thread(target=lambda: _build_catching(errors))
    thread.start()
    while not graph_build._children and thread.is_alive():
        thread.join(0.05)
    graph_build.cancel_all()
    thread.join(60)
    assert not thread.is_alive() and isinstance(errors[0], graph_build.BuildStopped)
    assert "was stopped" in str(errors[0]) and not isinstance(errors[0], BackendError)  # auto must not go on


def _build_catching(errors: list) -> None:
    try:
        graph_build.build("u2netp", None, 384, "fp32", log=lambda line: None)
    except Exception as err:  # noqa: BLE001 - the test looks at what it was
        errors.append(err)


def test_a_build_cancel_all_ended_is_stopped_whatever_the_child_says_on_its_way_out():
    """SIGTERM can reach the build child inside an import, where Python turns its handler's SystemExit into another
    error (seen once in torch's: "RuntimeError: Error calling __set_name__"), and the child reports a failed build.
    A child that :func:`graph_build.cancel_all` ended is stopped all the same. The child here is a stand-in program
    that answers SIGTERM exactly so, on its protocol's stdout."""
    code = ("import signal, sys, time\n"
            "def said(*_):\n"
            "    print('error BackendError building the graph failed: RuntimeError: Error calling __set_name__',"
            " flush=True)\n"
            "    sys.exit(143)\n"
            "signal.signal(signal.SIGTERM, said)\n"
            "print('log started', flush=True)\n"
            "time.sleep(60)\n")
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    with graph_build._lock:
        graph_build._children.add(child)
    canceller = threading.Thread(target=graph_build.cancel_all)
    try:
        with pytest.raises(graph_build.BuildStopped, match="was stopped"):
            graph_build._follow(child, lambda line: canceller.start(), "a stand-in graph")
    finally:
        canceller.join()
        graph_build._end(child)
        with graph_build._lock:
            graph_build._children.discard(child)
            graph_build._stopped.discard(child)
