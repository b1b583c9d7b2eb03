"""Where an index may be written, and replacing one without an instant of loss.

DESIGN.md section 4: never delete or replace what is not a Winnow index; replacing one needs
``overwrite``; a crash at any instant leaves the old or the new index and the next load
cleans up. The pieces, in the order a save uses them:

- :func:`check_output` refuses a path that exists and is not a Winnow index, an index
  without ``overwrite``, and an output that overlaps an input (the CLI calls it at argument
  time, before any work; ``save_directory`` again under the lock).
- :func:`save_lock`: a non-blocking ``flock`` on the sibling ``.NAME.winnow-lock``, so that of two
  concurrent saves to one path one wins and the other gets a clear error.
- :func:`install` moves the fully written, fsynced temporary sibling ``.NAME.tmp-PID`` into
  place: ``renameat2(RENAME_EXCHANGE)`` swaps it with the old index in one step (the old one
  is then deleted from the temporary name); where the kernel or file system lacks it, the
  old index is renamed to ``.NAME.old-PID`` first, a window that :func:`recover` closes.
- :func:`recover` (run by every load, through ``inspect``) puts a complete leftover back
  when the path is missing and deletes leftovers of saves whose process is gone.
"""
from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import re
import shutil
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterable, Iterator

AT_FDCWD = -100
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
# errno values meaning "this kernel / file system has no renameat2 flags": use the fallback
_UNSUPPORTED = {errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP}


# Written first into every temporary save directory and removed once meta.json is in it, so
# that at every instant a leftover of ours holds one or the other: cleanup deletes only such
# directories, never a user's folder that happens to have a matching name.
PARTIAL = ".winnow-partial"
# First line of every lock file a save creates: only such a file is ever unlinked.
LOCK_SIGNATURE = b"winnow index save lock\n"


def _step(name: str) -> None:
    """Called between the steps of a replace. Tests replace it to kill the process there
    ("exchanged", "moved-old", "renamed-new"); it does nothing otherwise."""


def sibling(path: Path, kind: str, pid: int | None = None) -> Path:
    """``.NAME.tmp-PID`` / ``.NAME.old-PID`` / ``.NAME.winnow-lock`` beside ``path``."""
    if kind == "lock":
        return path.parent / f".{path.name}.winnow-lock"
    return path.parent / f".{path.name}.{kind}-{os.getpid() if pid is None else pid}"


def is_winnow_index(path) -> bool:
    """A real directory (not a link) whose meta.json is a JSON object naming a ``winnow.*``
    format and a file list. A damaged payload still counts: it may be replaced."""
    path = Path(path)
    if path.is_symlink() or not path.is_dir():
        return False
    try:
        meta = json.loads((path / "meta.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(meta, dict) and isinstance(meta.get("format"), str)
            and meta["format"].startswith("winnow.") and isinstance(meta.get("files"), dict))


def check_output(path, overwrite: bool = False, inputs: Iterable = ()) -> None:
    """Raise ``ValueError`` (one line naming the path) unless an index may be written at
    ``path``: nothing there, or a Winnow index and ``overwrite``; never overlapping an input."""
    path = Path(path)
    resolved = path.resolve()
    for inp in inputs:
        if inp is None:
            continue
        other = Path(inp).resolve()
        if resolved == other or other in resolved.parents or resolved in other.parents:
            raise ValueError(f"{path}: the output overlaps the input {inp}; choose an output outside it")
    if not os.path.lexists(path):
        return
    if not is_winnow_index(path):
        what = "a link" if path.is_symlink() else "a directory" if path.is_dir() else "a file"
        raise ValueError(f"{path}: exists and is {what}, not a Winnow index; refusing to replace it "
                         "(choose another output)")
    if not overwrite:
        raise ValueError(f"{path}: an index exists there; pass --overwrite (overwrite=True) to replace it")


@contextmanager
def save_lock(path: Path, wait: float = 0.0) -> Iterator[None]:
    """Hold ``.NAME.winnow-lock`` exclusively. A save waits up to ``wait`` seconds (a load's
    brief clean-up may hold it), then fails: another save is writing to the same path. A file
    of that name without our signature is refused, never unlinked."""
    lock = sibling(path, "lock")
    deadline = time.monotonic() + wait
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            if time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            raise ValueError(f"{path}: another process is writing an index to {path}") from None
        try:
            current = os.stat(lock).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            current = False
        if current:
            _sign_lock(fd, lock)
            break
        # the previous holder unlinked this file as it finished: lock the file now at the name
        os.close(fd)
    try:
        yield
    finally:
        try:  # unlink while still holding it, so that no one can lock the old file after us
            os.unlink(lock)
        except FileNotFoundError:
            pass
        os.close(fd)


def _sign_lock(fd: int, lock: Path) -> None:
    """Write our signature into a lock file we created (or a killed save left empty); refuse
    (closing ``fd``) a file with other content: it is not ours to lock or unlink."""
    head = os.pread(fd, len(LOCK_SIGNATURE), 0)
    if head == LOCK_SIGNATURE:
        return
    if head:
        os.close(fd)
        raise ValueError(f"{lock}: exists and is not a Winnow lock file; refusing to use or remove it")
    os.pwrite(fd, LOCK_SIGNATURE, 0)


def is_our_leftover(p: Path) -> bool:
    """A directory one of our saves made: still being written (``PARTIAL`` inside) or a
    complete Winnow index (a finished temporary or a replaced old index)."""
    return (not p.is_symlink() and p.is_dir()
            and ((p / PARTIAL).is_file() or is_winnow_index(p)))


def remove_leftovers(path: Path) -> None:
    """Delete the leftovers of interrupted saves of ``path`` (see :func:`_leftovers`)."""
    for _kind, _pid, p in _leftovers(path):
        shutil.rmtree(p, ignore_errors=True)


def _renameat2(src: Path, dst: Path, flags: int) -> None:
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2  # glibc >= 2.28
    except (AttributeError, OSError):
        raise OSError(errno.ENOSYS, "renameat2 is not available") from None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if fn(AT_FDCWD, os.fsencode(src), AT_FDCWD, os.fsencode(dst), flags) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), str(dst))


def fsync_path(path: Path) -> None:
    """fsync a file or a directory (a directory's entries: renames into it are durable)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def install(tmp: Path, path: Path) -> None:
    """Move the complete directory ``tmp`` to ``path``, replacing the index there if any."""
    if not os.path.lexists(path):
        try:  # NOREPLACE: something created at path meanwhile is never overwritten
            _renameat2(tmp, path, RENAME_NOREPLACE)
        except OSError as exc:
            if exc.errno == errno.EEXIST:
                raise ValueError(f"{path}: appeared while the index was being written; refusing to "
                                 "replace it") from None
            if exc.errno not in _UNSUPPORTED:
                raise
            os.rename(tmp, path)
        fsync_path(path.parent)
        return
    try:
        _renameat2(tmp, path, RENAME_EXCHANGE)
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise
        _replace_in_two_steps(tmp, path)
        return
    fsync_path(path.parent)
    _step("exchanged")
    shutil.rmtree(tmp)  # the old index, now at the temporary name


def _replace_in_two_steps(tmp: Path, path: Path) -> None:
    """Without an atomic exchange: between the renames the path is missing, and the complete
    new index waits at ``tmp`` for :func:`recover` should the process die there."""
    old = sibling(path, "old")
    os.rename(path, old)
    fsync_path(path.parent)
    _step("moved-old")
    os.rename(tmp, path)
    fsync_path(path.parent)
    _step("renamed-new")
    shutil.rmtree(old)


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _leftovers(path: Path) -> list[tuple[str, int, Path]]:
    """(kind, pid, path) of the ``.NAME.tmp-PID`` / ``.NAME.old-PID`` directories of saves to
    ``path`` whose process is gone and that are ours (:func:`is_our_leftover`). Nothing else
    matches."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(tmp|old)-([0-9]+)")
    try:
        names = os.listdir(path.parent)
    except OSError:
        return []
    found = []
    for name in names:
        m = pattern.fullmatch(name)
        if m is None:
            continue
        p = path.parent / name
        if _pid_alive(int(m.group(2))) or not is_our_leftover(p):
            continue
        found.append((m.group(1), int(m.group(2)), p))
    return found


def _complete(candidate: Path) -> bool:
    from winnow.index.format import check_files, inspect

    try:
        check_files(inspect(candidate, recover_leftovers=False), candidate)
    except ValueError:
        return False
    return True


def recover(path) -> None:
    """Finish or undo interrupted saves of ``path``: when ``path`` is missing, move a
    complete leftover back (a new index that was fully written, else the old one); then delete
    the remaining leftovers of dead saves, and the lock file a killed save left. Best effort:
    a read-only directory is left as is, and nothing is touched while a save holds the lock."""
    path = Path(path)
    if not path.name or not (_leftovers(path) or os.path.lexists(sibling(path, "lock"))):
        return  # the common case: nothing to do, and no lock taken
    try:
        with save_lock(path):  # a save in progress holds it: then leave everything alone
            if not os.path.lexists(path):
                # "tmp" first: in the two-step replace it is the finished new index
                for _kind, _pid, cand in sorted(_leftovers(path), key=lambda f: (f[0] != "tmp", -f[1])):
                    if _complete(cand):
                        os.rename(cand, path)
                        fsync_path(path.parent)
                        break
            remove_leftovers(path)
    except (OSError, ValueError):
        pass
