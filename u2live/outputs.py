"""Writing outputs without losing anything: the one mechanism every command uses.

- Nothing that existed before a run is destroyed by it. An output is written under a temporary name beside its
  target and moved into place with ``os.replace`` only when complete, so an existing target is never touched by a
  run that fails, and an output at its final name is always complete.
- An output that is one of the run's inputs (the same file, also through a symlink or a hard link: device and
  inode are compared) is refused before anything is written, and so are two outputs that would land on one name.
- A PNG sequence claims the names its pattern makes in its folder (it writes some and removes older ones): an
  input among them is refused too (:func:`refuse_claiming_inputs`). Every file a command reads counts as an
  input: the video or images, ``--bg``, ``--weights``, ground truth labels.
- The overwrite policy (``--no-overwrite``) is checked before the work starts and again when the result is moved
  into place (``os.link`` refuses an existing name atomically); a run that loses that race keeps its work under
  the partial name and says where.
- An interrupted run (Ctrl-C, SIGTERM) of work that has an end (a file, not a camera) is not complete: it never
  reaches the final name either, so a file at its final name is always a whole result (``batch`` relies on it).
- Concurrent runs writing the same target: each run writes its own temporary file, the last one to finish wins;
  neither is corrupted, because the target only ever changes by a whole-file rename.

Small outputs (images, masks, JSON) use :func:`write_atomically`. Long ones (video files, PNG-sequence folders)
use :class:`StagedOutput`, whose temporary name is visible and says ``partial`` (a ``kill -9`` leaves a playable
``out.partial-xxxx.mp4`` that a user can find), and which keeps a failed or interrupted run's result as ``out.partial.mp4`` (``out.partial2.mp4``, ... when that
name is taken: nothing is replaced).
"""
from __future__ import annotations

import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from .errors import InputError, OutputError

OVERWRITE_HELP = ("Never replace an existing output: fail before any work instead. By default an existing output "
                  "is replaced, but only once the new one is complete (written under a temporary name beside it "
                  "and renamed into place); a failed run leaves it untouched. Two runs writing the same output "
                  "each write their own temporary file: the last one to finish wins, neither is corrupted.")


@functools.lru_cache(maxsize=None)
def _umask() -> int:
    """The process's umask, read once, at the first output made (not at import): from /proc on Linux, which
    leaves it alone; elsewhere set and set back, the only way POSIX offers."""
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1], 8) for line in status if line.startswith("Umask:"))
    except (OSError, StopIteration, ValueError):
        mask = os.umask(0o022)
        os.umask(mask)
        return mask


def _file_mode() -> int:
    return 0o666 & ~_umask()  # mkstemp makes 0600 files; an output should get the usual permissions


def _dir_mode() -> int:
    return 0o777 & ~_umask()


def same_file(a, b) -> bool:
    """True when ``a`` and ``b`` are one file (same device and inode: symlinks and hard links count); False when
    either does not exist or cannot be asked."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except (OSError, ValueError, TypeError):
        return False
    return (sa.st_dev, sa.st_ino) == (sb.st_dev, sb.st_ino)


def _named(paths) -> list[tuple]:
    """[(path, label)] from a mapping, from (path, label) pairs, or from paths (label None); None paths go. A list,
    not a dict: two writers of one name are exactly what :func:`refuse_overwriting_inputs` must see."""
    items = paths.items() if isinstance(paths, Mapping) else (p if isinstance(p, tuple) else (p, None) for p in paths)
    return [(p, label) for p, label in items if p is not None]


def _key(path) -> str:
    """A name that is equal for two spellings of one future file (``a/../b.png`` and ``b.png``)."""
    return os.path.realpath(os.path.abspath(os.fspath(path)))


def refuse_overwriting_inputs(outputs, inputs) -> None:
    """Raise :class:`InputError` (one line naming both paths) when an output is one of the inputs, or two outputs
    are one file. ``outputs`` and ``inputs`` are iterables of paths or of (path, what it is) pairs, or mappings
    {path: what it is} (e.g. ``{bg: "background"}``, or for outputs the input each comes from) that make the
    message clearer."""
    outputs, inputs = _named(outputs), _named(inputs)
    seen: dict[str, tuple] = {}  # _key(output) -> (output, origin)
    for out, origin in outputs:
        for source, role in inputs:
            if same_file(out, source) or _key(out) == _key(source):
                what = f"the {role}" if role else "an input"
                raise InputError(f"output {out} is {what} ({source}): writing it would destroy it; "
                                 "choose another output name")
        key = _key(out)
        clash = seen.get(key) or next((pair for pair in seen.values() if same_file(pair[0], out)), None)
        if clash is not None:
            first, second = clash[1] or clash[0], origin or out
            raise InputError(f"{first} and {second} would both be written to {out}: one would be lost; "
                             "write them to different names or folders")
        seen[key] = (out, origin)


def refuse_claiming_inputs(folder, owns: Callable[[str], bool], inputs) -> None:
    """Raise :class:`InputError` when an input is a file in ``folder`` whose name ``owns(name)`` says belongs to
    the output written there (a PNG sequence writes those names and removes older ones), by its own name or
    through a symbolic link pointing there. ``inputs`` as for :func:`refuse_overwriting_inputs`."""
    where = _key(folder)
    for source, role in _named(inputs):
        spelled = os.path.abspath(os.fspath(source))
        for name in {spelled, os.path.realpath(spelled)}:
            if _key(os.path.dirname(name)) == where and owns(os.path.basename(name)):
                what = f"the {role}" if role else "an input"
                raise InputError(f"the frames written to {folder} would replace or remove {what} ({source}): "
                                 "choose another output folder or pattern")


def plan_outputs(outputs, inputs, *, overwrite: bool = True) -> None:
    """What a command checks before any work: no output is an input or another output
    (:func:`refuse_overwriting_inputs`), and none exists when ``overwrite`` is False (:func:`check_target`)."""
    refuse_overwriting_inputs(outputs, inputs)
    for out, _ in _named(outputs):
        check_target(out, overwrite=overwrite)


def check_target(path, *, overwrite: bool) -> None:
    """Raise :class:`OutputError` when ``path`` exists and ``overwrite`` is False."""
    if not overwrite and os.path.lexists(path):
        raise OutputError(f"{path} exists; not replacing it (--no-overwrite)")


def make_parent(path) -> Path:
    """Create the folder that will hold ``path`` (like ``-o newdir/out.mp4``); an OutputError says why not."""
    parent = Path(os.path.abspath(os.fspath(path))).parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create the folder {parent} for {path}: {err.strerror or err}") from err
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputError(f"cannot write {path}: the folder {parent} is not writable")
    return parent


def _temporary_file(path: Path, prefix: str, suffix: str) -> Path:
    make_parent(path)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix, suffix=suffix)
    except OSError as err:
        raise OutputError(f"cannot write {path}: {err.strerror or err}") from err
    os.fchmod(fd, _file_mode())
    os.close(fd)
    return Path(tmp)


class _Refused(OutputError):
    """The target appeared while the run worked and ``--no-overwrite`` forbids replacing it."""


def _move_into_place(tmp: Path, path: Path, overwrite: bool) -> None:
    """Rename ``tmp`` to ``path``; without ``overwrite`` an existing ``path`` (even one that appeared while the
    run was working) is never replaced: a hard link cannot replace a name. Raises :class:`_Refused` then, with
    ``tmp`` left as it is."""
    if overwrite:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise _Refused(path) from None
    except OSError:  # filesystems without hard links: check, then rename (a small window)
        if os.path.lexists(path):
            raise _Refused(path) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def _kept_instead(tmp: Path, target: Path) -> OutputError:
    """A run that lost the ``--no-overwrite`` race: its result moves to the partial name, and the error says so."""
    kept = partial_name(target)
    os.replace(tmp, kept)
    return OutputError(f"{target} appeared while this run worked; not replacing it (--no-overwrite): this run's "
                       f"result is kept in {kept}")


def write_atomically(path, write: Callable[[Path], None], *, overwrite: bool = True) -> Path:
    """Call ``write(tmp)`` for a hidden temporary path beside ``path`` (same suffix, so format-by-extension
    writers work), then move it into place; the temporary is removed if anything fails. Returns ``path``."""
    path = Path(path)
    check_target(path, overwrite=overwrite)
    tmp = _temporary_file(path, f".{path.stem}.", f".tmp{path.suffix}")
    try:
        write(tmp)
        _move_into_place(tmp, path, overwrite)
    except _Refused:
        raise _kept_instead(tmp, path) from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def partial_name(path: Path) -> Path:
    """``out.mp4`` -> ``out.partial.mp4`` (``frames/`` -> ``frames.partial``); a number is added rather than
    replace a file that is already there."""
    path = Path(path)
    candidate, n = path.with_name(f"{path.stem}.partial{path.suffix}"), 1
    while os.path.lexists(candidate):
        n += 1
        candidate = path.with_name(f"{path.stem}.partial{n}{path.suffix}")
    return candidate


class StagedOutput:
    """A long output written under a temporary name beside ``target``: :attr:`path` is where to write.

    - :meth:`commit` (the run completed, or the user ended a live recording) moves it to ``target``; when
      ``--no-overwrite`` finds ``target`` taken by then, the work is kept under the partial name instead and the
      OutputError says where;
    - :meth:`keep_partial` (the run failed or was interrupted) moves it to ``<stem>.partial<suffix>`` and returns
      that name, never touching ``target``;
    - :meth:`discard` removes it (nothing was written).

    ``folder=True`` stages a folder (a PNG sequence); committing it into a folder that already holds files moves
    the new files in one by one and then deletes the files that ``stale(name)`` says belong to an older result,
    so old and new frames never mix and unrelated files stay.
    """

    def __init__(self, target, *, overwrite: bool = True, folder: bool = False,
                 stale: Callable[[str], bool] | None = None) -> None:
        self.target = Path(target)
        self.overwrite, self.folder, self.stale = overwrite, folder, stale
        self._inside = False
        if not folder:
            check_target(self.target, overwrite=overwrite)
            self.path = _temporary_file(self.target, f"{self.target.stem}.partial-", self.target.suffix)
            return
        make_parent(self.target)
        # beside a new folder; inside an existing one (its parent may not be ours to write: ``-o ./``)
        self._inside = self.target.is_dir()
        where, name = (self.target, ".u2live") if self._inside else (self.target.parent, self.target.name)
        try:
            self.path = Path(tempfile.mkdtemp(dir=where, prefix=f"{name}.partial-"))
            os.chmod(self.path, _dir_mode())
        except OSError as err:
            raise OutputError(f"cannot write {self.target}: {err.strerror or err}") from err

    def commit(self) -> Path:
        try:
            if self.folder:
                self._commit_folder()
            else:
                _move_into_place(self.path, self.target, self.overwrite)
        except _Refused:
            raise OutputError(f"{self.target} appeared while this run worked; not replacing it (--no-overwrite): "
                              f"this run's result is kept in {self.keep_partial()}") from None
        return self.target

    def _commit_folder(self) -> None:
        if not self._inside and (not self.target.exists() or self.target.is_dir() and not any(self.target.iterdir())):
            os.replace(self.path, self.target)  # a missing or empty folder: one atomic rename
            return
        if not self.target.is_dir():
            raise OutputError(f"cannot write the frames to {self.target}: it is a file, not a folder")
        new = {entry.name for entry in self.path.iterdir()}
        if not self.overwrite and any(os.path.lexists(self.target / name) for name in new):
            raise _Refused(self.target)
        for name in sorted(new):
            os.replace(self.path / name, self.target / name)
        for entry in self.target.iterdir():
            if entry.name not in new and entry.is_file() and self.stale is not None and self.stale(entry.name):
                entry.unlink()
        self.path.rmdir()

    def keep_partial(self) -> Path | None:
        """Move what was written to the partial name and return it; None (and nothing kept) if nothing was."""
        if self._empty():
            self.discard()
            return None
        kept = partial_name(self.target / self.target.name if self.folder and self._inside else self.target)
        os.replace(self.path, kept)
        return kept

    def discard(self) -> None:
        if self.folder:
            shutil.rmtree(self.path, ignore_errors=True)
        elif self.path.exists():
            self.path.unlink()

    def _empty(self) -> bool:
        if not self.path.exists():
            return True
        return not any(self.path.iterdir()) if self.folder else self.path.stat().st_size == 0
