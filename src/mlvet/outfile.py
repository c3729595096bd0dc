"""Output files written the way a script can rely on: checked before the work, replaced atomically.

Every file mlvet writes for a user (reports, BOMs, signatures, converted weights, lock files) goes through
:func:`check_writable` (called before the work starts, so a typo in ``-o`` costs nothing) and
:func:`atomic_writer` (the content goes to a hidden temporary file in the target's folder, is flushed and
fsynced, gets the mode a plain ``open()`` would have given it, and only then replaces the target with one
``rename``). A reader therefore sees the old file or the complete new one, never half of one; a full disk,
an interruption (Ctrl-C, SIGTERM — see :mod:`mlvet.commands._io`) or an exception leaves the old file in
place and removes the temporary one.

Core layer: no click, no rich; the command line, the trust tools and the library API all use it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from typing import Any

from mlvet.errors import EXIT_INCOMPLETE, MlvetError, UsageError

__all__ = ["OutputError", "atomic_writer", "check_writable", "default_file_mode"]


class OutputError(MlvetError):
    """An output file could not be written (disk full, quota, I/O error): the work is not delivered (exit 2)."""

    exit_code = EXIT_INCOMPLETE


def default_file_mode() -> int:
    """The mode ``open(path, "w")`` would give a new file under the current umask (``0o644`` under ``022``)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def check_writable(path: str | os.PathLike[str], *, what: str = "output") -> None:
    """Raise :class:`~mlvet.errors.UsageError` (exit 4) unless ``path`` can be created or replaced.

    Called before any work: the folder must exist, be a folder and be writable, and the target must not be
    a folder. (The real write can still fail later, e.g. on a full disk: that is an :class:`OutputError`.)
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target)) or "."
    if os.path.isdir(target):
        raise UsageError(f"cannot write the {what} to {target}: it is a folder")
    if not os.path.exists(folder):
        raise UsageError(f"cannot write the {what} to {target}: the folder {folder} does not exist")
    if not os.path.isdir(folder):
        raise UsageError(f"cannot write the {what} to {target}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write the {what} to {target}: the folder {folder} is not writable")
    if os.path.exists(target) and not os.path.isfile(target):
        raise UsageError(f"cannot write the {what} to {target}: it exists and is not a regular file")


def atomic_writer(path: str | os.PathLike[str], *, binary: bool = False, mode: int | None = None,
                  what: str = "output") -> contextlib.AbstractContextManager[Any]:
    """A context manager yielding a file object whose content replaces ``path`` when the block succeeds.

    ``mode`` is the file mode of the result; by default an existing target keeps its mode and a new file
    gets :func:`default_file_mode` (``tempfile`` alone would leave ``0600``). On any exception, including
    ``KeyboardInterrupt`` and the SIGTERM the command line turns into one, the temporary file is removed,
    the target is untouched and the exception propagates; an ``OSError`` while writing becomes
    :class:`OutputError` naming the target.
    """
    return _atomic_writer(os.fspath(path), binary, mode, what)


@contextlib.contextmanager
def _atomic_writer(target: str, binary: bool, mode: int | None, what: str) -> Iterator[Any]:
    folder = os.path.dirname(os.path.abspath(target))
    name = os.path.basename(target)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".partial", dir=folder)
    except OSError as exc:
        raise UsageError(f"cannot write the {what} to {target}: {exc.strerror or exc}") from None
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, _final_mode(target, mode))
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError) and not isinstance(exc, BrokenPipeError):
            kept = "the previous file is unchanged" if os.path.exists(target) else "nothing was written"
            raise OutputError(f"cannot write the {what} to {target}: {exc.strerror or exc}; {kept}") from None
        raise


def _final_mode(target: str, mode: int | None) -> int:
    if mode is not None:
        return mode
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        return default_file_mode()
