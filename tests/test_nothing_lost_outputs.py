"""u2live.outputs: the one mechanism for writing outputs without destroying anything (issue 9)."""
from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from u2live.errors import InputError, OutputError
from u2live.outputs import (StagedOutput, check_target, partial_name, refuse_overwriting_inputs, same_file,
                            write_atomically)


def test_same_file_sees_symlinks_and_hard_links(tmp_path):
    a = tmp_path / "a.mp4"
    a.write_bytes(b"x")
    (tmp_path / "link.mp4").symlink_to(a)
    os.link(a, tmp_path / "hard.mp4")
    (tmp_path / "b.mp4").write_bytes(b"x")
    assert same_file(a, tmp_path / "link.mp4") and same_file(a, tmp_path / "hard.mp4")
    assert not same_file(a, tmp_path / "b.mp4")
    assert not same_file(a, tmp_path / "missing.mp4") and not same_file(tmp_path / "missing.mp4", a)


def test_an_output_that_is_an_input_is_refused_naming_both(tmp_path):
    clip = tmp_path / "in.mp4"
    clip.write_bytes(b"x")
    (tmp_path / "alias.mp4").symlink_to(clip)
    with pytest.raises(InputError) as err:
        refuse_overwriting_inputs([tmp_path / "alias.mp4"], {clip: "background"})
    message = str(err.value)
    assert "alias.mp4" in message and "in.mp4" in message and "background" in message and "\n" not in message
    with pytest.raises(InputError):  # spelled differently, same file
        refuse_overwriting_inputs([tmp_path / "sub" / ".." / "in.mp4"], [clip])
    refuse_overwriting_inputs([tmp_path / "out.mp4", None], [clip, None])  # fine: nothing raised


def test_two_outputs_on_one_name_are_refused_naming_their_origins(tmp_path):
    with pytest.raises(InputError) as err:
        refuse_overwriting_inputs({tmp_path / "m" / "shot.png": "shot.jpg",
                                   tmp_path / "m" / ".." / "m" / "shot.png": "shot.png"}, [])
    assert "shot.jpg and shot.png would both be written to" in str(err.value)


def test_check_target_refuses_only_without_overwrite(tmp_path):
    target = tmp_path / "out.mp4"
    check_target(target, overwrite=False)  # missing: fine
    target.write_bytes(b"old")
    check_target(target, overwrite=True)
    with pytest.raises(OutputError, match=r"out.mp4 exists; .*\(--no-overwrite\)"):
        check_target(target, overwrite=False)


def test_write_atomically_replaces_only_when_complete(tmp_path):
    target = tmp_path / "mask.png"
    target.write_bytes(b"old")
    seen = []

    def failing(tmp):
        seen.append(tmp)
        tmp.write_bytes(b"half")
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        write_atomically(target, failing)
    assert target.read_bytes() == b"old" and not seen[0].exists()
    assert seen[0].parent == tmp_path and seen[0].name.startswith(".") and seen[0].suffix == ".png"
    assert write_atomically(target, lambda tmp: tmp.write_bytes(b"new")) == target
    assert target.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["mask.png"]
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()  # not mkstemp's 0600


def test_write_atomically_without_overwrite_never_replaces(tmp_path):
    target = tmp_path / "a.json"
    target.write_text("old")
    with pytest.raises(OutputError, match="--no-overwrite"):
        write_atomically(target, lambda tmp: tmp.write_text("new"), overwrite=False)

    def sneaky(tmp):  # the target appears while the work runs: still not replaced
        tmp.write_text("new")
        (tmp_path / "b.json").write_text("someone else's")

    with pytest.raises(OutputError, match="--no-overwrite") as lost:  # and its work is kept, and said where
        write_atomically(tmp_path / "b.json", sneaky, overwrite=False)
    assert str(lost.value).endswith(f"this run's result is kept in {tmp_path / 'b.partial.json'}")
    assert (tmp_path / "b.json").read_text() == "someone else's" and target.read_text() == "old"
    assert (tmp_path / "b.partial.json").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.json", "b.partial.json"]


def test_write_atomically_creates_missing_folders(tmp_path):
    target = tmp_path / "new" / "dir" / "x.txt"
    write_atomically(target, lambda tmp: tmp.write_text("hi"))
    assert target.read_text() == "hi"


def test_concurrent_writers_last_complete_one_wins(tmp_path):
    target = tmp_path / "out.bin"
    first_started, second_done = threading.Event(), threading.Event()

    def slow(tmp):
        tmp.write_bytes(b"A" * 100_000)
        first_started.set()
        second_done.wait(5)

    thread = threading.Thread(target=write_atomically, args=(target, slow))
    thread.start()
    first_started.wait(5)
    write_atomically(target, lambda tmp: tmp.write_bytes(b"B" * 50_000))
    assert target.read_bytes() == b"B" * 50_000  # the second run finished first: complete, not mixed
    second_done.set()
    thread.join()
    assert target.read_bytes() == b"A" * 100_000  # the last one to finish wins, whole
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_staged_file_commit_partial_and_discard(tmp_path):
    target = tmp_path / "out.mp4"
    target.write_bytes(b"old")
    staged = StagedOutput(target)
    assert staged.path.parent == tmp_path and staged.path.name.startswith("out.partial-")
    assert staged.path.suffix == ".mp4" and target.read_bytes() == b"old"
    staged.path.write_bytes(b"half")
    kept = staged.keep_partial()
    assert kept == tmp_path / "out.partial.mp4" and kept.read_bytes() == b"half" and target.read_bytes() == b"old"
    again = StagedOutput(target)
    again.path.write_bytes(b"half again")
    assert again.keep_partial() == tmp_path / "out.partial2.mp4"  # the earlier partial is not replaced
    empty = StagedOutput(target)
    assert empty.keep_partial() is None and not empty.path.exists()
    done = StagedOutput(target)
    done.path.write_bytes(b"new")
    assert done.commit() == target and target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp4", "out.partial.mp4", "out.partial2.mp4"]


def test_staged_folder_replaces_old_frames_and_keeps_other_files(tmp_path):
    target = tmp_path / "frames"
    target.mkdir()
    for n in (1, 2, 3):
        (target / f"{n:06d}.png").write_text("old")
    (target / "notes.txt").write_text("mine")
    staged = StagedOutput(target, folder=True, stale=lambda name: name.endswith(".png"))
    # staged inside an existing folder: its parent may not be ours to write (-o ./)
    assert staged.path.is_dir() and staged.path.parent == target
    for n in (1, 2):
        (staged.path / f"{n:06d}.png").write_text("new")
    staged.commit()
    assert sorted(p.name for p in target.iterdir()) == ["000001.png", "000002.png", "notes.txt"]
    assert {(target / f"{n:06d}.png").read_text() for n in (1, 2)} == {"new"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames"]
    fresh = StagedOutput(tmp_path / "other", folder=True)
    (fresh.path / "000001.png").write_text("x")
    fresh.commit()
    assert (tmp_path / "other" / "000001.png").read_text() == "x"


def test_partial_name_of_a_folder(tmp_path):
    assert partial_name(tmp_path / "frames") == tmp_path / "frames.partial"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_importing_the_outputs_and_the_sinks_changes_nothing_in_the_process():
    """No umask flipped, no environment variable set at import: the umask is read at the first output (a thread
    making a file meanwhile would get the flipped one), pygame's variable is set when pygame is imported."""
    code = ("import os, sys\n"
            "os.umask = lambda mask: sys.exit('umask changed at import')\n"
            "import av, cv2, numpy  # what they set at import (cv2: LD_LIBRARY_PATH) is theirs\n"
            "before = dict(os.environ)\n"
            "import u2live.outputs, u2live.sinks, u2live.sinks.preview\n"
            "print(dict(os.environ) == before)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.split() == ["True"], done.stderr
