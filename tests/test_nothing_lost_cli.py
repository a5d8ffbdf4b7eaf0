"""Issue 9, end to end: a run that fails never destroys a file that existed before it (input, background, an old
output), its error is one line with a non-zero exit, and a good run replaces an output only when complete.

Every case runs the real CLI in a subprocess on a small real clip (``write_clip``), the model at --size 64 on the
torch CPU backend; the cases that fail are caught before the model loads.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import av
import pytest

FAST = ("--size", "64", "--backend", "torch", "--quiet")


def run_cli(*args, env=None, timeout=300, **kwargs):
    return subprocess.run([sys.executable, "-m", "u2live", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=env, **kwargs)


def digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def frames_in(path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def one_line_error(result, *words):
    lines = result.stderr.strip().splitlines()
    assert result.returncode != 0, result.stderr
    assert len(lines) == 1 and lines[0].startswith("u2live: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def clip(write_clip, tmp_path):
    return write_clip(tmp_path / "in.mp4", frames=12)


@pytest.fixture
def old_output(write_clip, tmp_path):
    """An earlier run's result, fine before this run starts."""
    return write_clip(tmp_path / "rec.mp4", frames=6, size=(64, 48))


def files(folder):
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("alias", ["same", "symlink", "hardlink"])
def test_output_that_is_the_input_is_refused(clip, tmp_path, alias):
    out = {"same": clip, "symlink": tmp_path / "link.mp4", "hardlink": tmp_path / "hard.mp4"}[alias]
    if alias == "symlink":
        out.symlink_to(clip)
    elif alias == "hardlink":
        os.link(clip, out)
    before = digest(clip)
    result = run_cli("video", clip, "-o", out, *FAST)
    one_line_error(result, str(out), str(clip), "the input")
    assert digest(clip) == before


def test_output_that_is_the_background_is_refused(clip, write_clip, tmp_path):
    bg = write_clip(tmp_path / "bg.mp4", frames=6)
    before = digest(bg)
    one_line_error(run_cli("video", clip, "--bg", bg, "-o", bg, *FAST), "the background", "bg.mp4")
    assert digest(bg) == before


@pytest.mark.parametrize("case", ["rtmp typo", "no vcam", "preview without display", "truncated bg",
                                  "no overwrite", "bad size", "unknown format"])
def test_a_run_that_fails_before_work_leaves_the_old_output_alone(case, clip, old_output, tmp_path):
    before, env = digest(old_output), dict(os.environ)
    args = ["video", clip, "-o", old_output, *FAST]
    if case == "rtmp typo":
        args += ["--rtmp", "rtmp:/typo"]
    elif case == "no vcam":  # this machine has no v4l2loopback; --vcam is the default
        args = ["webcam", "--source", clip, "-o", old_output, *FAST]
    elif case == "preview without display":
        env.pop("DISPLAY", None), env.pop("WAYLAND_DISPLAY", None)
        args += ["--preview"]
    elif case == "truncated bg":
        whole = tmp_path / "bg.mp4"
        subprocess.run(["ffmpeg", "-loglevel", "error", "-i", clip, "-movflags", "+faststart", "-c", "copy",
                        whole], check=True)
        cut = tmp_path / "cut.mp4"
        data = whole.read_bytes()
        cut.write_bytes(data[:data.index(b"mdat") + 64])  # the header whole, the frames' data cut off
        args += ["--bg", cut]
    elif case == "no overwrite":
        args += ["-n"]
    elif case == "bad size":
        args[args.index("64")] = "4096"
    elif case == "unknown format":
        args[2] = tmp_path / "rec.xyz"
    result = run_cli(*args, env=env)
    words = {"rtmp typo": ["rtmp:/typo"], "no vcam": ["v4l2loopback", "--no-vcam"],
             "preview without display": ["display"], "truncated bg": ["cut.mp4", "first frame"],
             "no overwrite": ["rec.mp4 exists", "--no-overwrite"], "bad size": ["at most 1024"],
             "unknown format": [".xyz"]}[case]
    one_line_error(result, *words)
    assert digest(old_output) == before
    assert not [name for name in files(tmp_path) if "partial" in name or name.startswith(".")]


def test_rtmp_with_nothing_listening_keeps_the_old_output_and_says_where_the_frames_are(clip, old_output,
                                                                                          tmp_path, unused_port):
    before = digest(old_output)
    result = run_cli("video", clip, "-o", old_output, "--rtmp", f"rtmp://127.0.0.1:{unused_port}/live/x", *FAST)
    line = one_line_error(result, f"127.0.0.1:{unused_port}")
    assert digest(old_output) == before
    partial = tmp_path / "rec.partial.mp4"
    if partial.exists():  # frames reached the file before the stream's failure surfaced: kept, and said so
        assert str(partial) in line and frames_in(partial) > 0
    assert not [name for name in files(tmp_path) if name.startswith(("rec.partial-", "."))]


def test_a_good_run_replaces_the_old_output_with_the_complete_new_one(clip, old_output, tmp_path):
    result = run_cli("video", clip, "-o", old_output, *FAST)
    assert result.returncode == 0, result.stderr
    assert frames_in(old_output) == 12 and files(tmp_path) == ["in.mp4", "rec.mp4"]
    assert old_output.stat().st_mode & 0o777 == 0o666 & ~_umask()  # the usual permissions, not mkstemp's


def test_png_sequence_into_a_folder_with_old_frames_does_not_mix_them(clip, tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    for n in range(1, 21):  # an older, longer run
        (folder / f"{n:06d}.png").write_bytes(b"old")
    (folder / "notes.txt").write_text("mine")
    result = run_cli("video", clip, "-o", f"{folder}/", *FAST)
    assert result.returncode == 0, result.stderr
    assert files(folder) == [f"{n:06d}.png" for n in range(1, 13)] + ["notes.txt"]
    assert all((folder / f"{n:06d}.png").read_bytes()[:4] == b"\x89PNG" for n in range(1, 13))
    assert files(tmp_path) == ["frames", "in.mp4"]


def test_output_into_a_new_folder_is_created(clip, tmp_path):
    result = run_cli("video", clip, "-o", tmp_path / "new" / "deeper" / "out.mkv", *FAST)
    assert result.returncode == 0, result.stderr
    assert frames_in(tmp_path / "new" / "deeper" / "out.mkv") == 12
    result = run_cli("video", clip, "-o", f"{tmp_path / 'newdir'}/", *FAST)
    assert result.returncode == 0, result.stderr
    assert len(files(tmp_path / "newdir")) == 12


def test_two_runs_writing_one_output_at_once_leave_one_complete_result(write_clip, tmp_path):
    """Each run writes its own temporary file and renames it into place: the last to finish wins, whole."""
    short, long = write_clip(tmp_path / "a.mp4", frames=8), write_clip(tmp_path / "b.mp4", frames=16)
    out = tmp_path / "out.mp4"
    command = [sys.executable, "-m", "u2live", "video"]
    runs = [subprocess.Popen([*command, clip, "-o", out, *FAST], stderr=subprocess.PIPE, text=True)
            for clip in (short, long)]
    for run in runs:
        assert run.wait(timeout=300) == 0, run.stderr.read()
    assert frames_in(out) in (8, 16)  # one whole result, not a mix or a stub
    assert files(tmp_path) == ["a.mp4", "b.mp4", "out.mp4"]  # no temporary left


def test_file_named_like_a_camera_or_with_colon_and_percent_is_a_file(write_clip, tmp_path):
    for name in ("5", "12:30.mp4", "100% done.mp4"):
        write_clip(tmp_path / "plain.mp4", frames=4).rename(tmp_path / name)
        out = tmp_path / f"out {name}.mkv"
        result = run_cli("video", name, "-o", out.name, *FAST, cwd=tmp_path)
        assert result.returncode == 0, (name, result.stderr)
        assert frames_in(out) == 4


def test_standard_input_is_read_once_audio_included(clip, tmp_path):
    out = tmp_path / "out.mp4"
    with open(clip, "rb") as stdin:
        result = run_cli("video", "-", "-o", out, *FAST, stdin=stdin)
    assert result.returncode == 0, result.stderr
    with av.open(str(out)) as container:
        assert container.streams.audio, "the audio of piped input is kept"
    assert frames_in(out) == 12


def test_variable_frame_rate_clip_is_not_called_truncated(write_clip, tmp_path):
    ticks = [0, 10, 20, 60, 70, 200, 210, 220, 400, 410]  # gaps: a VFR clip, nothing missing
    for suffix in (".mp4", ".mkv"):
        clip = write_clip(tmp_path / f"vfr{suffix}", frames=len(ticks), ticks=ticks)
        result = run_cli("video", clip, "-o", tmp_path / f"out{suffix}", *FAST)
        assert result.returncode == 0, result.stderr
        assert "truncated" not in result.stderr
        assert frames_in(tmp_path / f"out{suffix}") == len(ticks)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_url_is_an_input(clip, tmp_path):
    """http://host/clip.mp4 keeps its // (click.Path folded it) and FFmpeg reads it, audio included."""
    server = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1"], cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        port = int(server.stdout.readline().split("port ")[1].split()[0])
        result = run_cli("video", f"http://127.0.0.1:{port}/in.mp4", "-o", tmp_path / "out.mkv", *FAST)
    finally:
        server.terminate()
        server.wait(10)
    assert result.returncode == 0, result.stderr
    assert frames_in(tmp_path / "out.mkv") == 12
    with av.open(str(tmp_path / "out.mkv")) as container:
        assert container.streams.audio
