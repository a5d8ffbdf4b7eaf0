"""Issue 9, item 6: a fast start without torch for --help/--version, a stream source that stops at once and says
why it did not open, the smaller messages (--no-vcam hint, --size bound)."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time

import pytest

from u2live.cli import COMMANDS
from u2live.signals import BY

HEAVY = ("torch", "cv2", "av", "onnxruntime", "numpy")


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_no_heavy_module(args):
    code = ("import sys\nfrom u2live.cli import main\n"
            f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout + result.stderr


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_help_imports_no_torch(command):
    """Issue 9/11: ``u2live COMMAND --help`` imports the command's module, never torch (seconds on a small machine)."""
    code = ("import sys\nfrom u2live.cli import main\n"
            f"try:\n    main([{command!r}, '--help'])\nexcept SystemExit:\n    pass\n"
            "print('torch' in sys.modules, 'u2live.commands.' in ' '.join(sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "Usage:" in result.stdout, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False True", result.stdout + result.stderr


def test_top_level_help_lists_every_command_and_the_overwrite_policy():
    result = subprocess.run([sys.executable, "-m", "u2live", "--help"], capture_output=True, text=True, timeout=60)
    for name in ("segment", "video", "webcam", "bench", "build-engine", "serve", "--no-overwrite", "--verbose"):
        assert name in result.stdout


def test_video_help_documents_no_overwrite_and_concurrent_runs():
    result = subprocess.run([sys.executable, "-m", "u2live", "video", "--help"], capture_output=True, text=True,
                            timeout=120)
    text = " ".join(result.stdout.split())
    assert "-n, --no-overwrite" in text and "the last one to finish wins" in text


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never answers (a stream URL that hangs)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    yield server.getsockname()[1]
    server.close()


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_hanging_stream_source_stops_within_a_second(silent_server, tmp_path, signum, code):
    process = subprocess.Popen([sys.executable, "-m", "u2live", "webcam", "--source",
                                f"rtsp://127.0.0.1:{silent_server}/live", "--no-vcam", "-o", tmp_path / "x.mp4"],
                               stderr=subprocess.PIPE, text=True)
    time.sleep(4)  # inside OpenCV's open by now
    assert process.poll() is None
    sent = time.monotonic()
    process.send_signal(signum)
    _, err = process.communicate(timeout=30)
    # a second on an idle machine (measured 0.3 s); the bound leaves room for a loaded one's interpreter exit
    assert time.monotonic() - sent < 3.0 and process.returncode == code, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == f"u2live: stopped by {BY[signum]}"
    assert list(tmp_path.iterdir()) == []


def test_a_hanging_stream_source_times_out_and_says_so(silent_server, tmp_path):
    result = subprocess.run([sys.executable, "-m", "u2live", "webcam", "--source",
                             f"rtsp://127.0.0.1:{silent_server}/live", "--no-vcam", "-o", tmp_path / "x.mp4"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "timed out" in result.stderr and "no such device" not in result.stderr


def test_a_refused_stream_url_says_connection_refused(tmp_path):
    with socket.socket() as probe:  # a port with nothing listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    for args in (["webcam", "--source", f"rtsp://127.0.0.1:{port}/x", "--no-vcam"],
                 ["video", f"http://127.0.0.1:{port}/clip.mp4"]):
        result = subprocess.run([sys.executable, "-m", "u2live", *args, "-o", tmp_path / "x.mp4"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert "connection refused" in result.stderr and f"127.0.0.1:{port}" in result.stderr  # // kept


def test_ctrl_c_while_torch_imports_is_one_line(tmp_path, write_clip):
    """The CPU's default path never imports torch; ``--backend torch`` does, after the command has started (torch's
    import takes 1.5-2 s here): Ctrl-C in the middle of it is the one stop line, no traceback."""
    write_clip(tmp_path / "in.mp4", frames=12, audio=False)
    process = subprocess.Popen([sys.executable, "-m", "u2live", "video", "in.mp4", "-o", "out.mp4", "--backend",
                                "torch"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    time.sleep(0.8)  # the command started (0.3-0.4 s) and its backend is importing torch now
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err, err
    assert err.strip().endswith("u2live: stopped by Ctrl-C (SIGINT)"), err


def test_a_live_run_says_how_many_frames_it_dropped(capsys):
    from u2live.job import _summary
    from u2live.stats import PipelineStats

    stats = PipelineStats()
    stats.start()
    for _ in range(7):
        stats.frame_written(0.0)
    stats.finish()
    _summary(stats, False, [0, 99])  # the source frames written were numbers 0 to 99: 100 delivered, 7 kept
    line = capsys.readouterr().err.strip()
    assert "\n" not in line and line.startswith("u2live: 7 frames") and "dropped 93 of the 100 frames" in line
    assert "93 to keep up live" in line and "starting" not in line
    _summary(stats, False, [5, 99])  # the first 5 came while the model loaded
    line = capsys.readouterr().err.strip()
    assert "dropped 93 of the 100 frames" in line and "5 while starting, 88 to keep up live" in line
    _summary(stats, False, None)  # offline: nothing is dropped, nothing said
    assert "dropped" not in capsys.readouterr().err
