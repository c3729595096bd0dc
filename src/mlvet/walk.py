"""The input walk: every file under the paths the user named, and everything the walk could not cover.

A walk that drops what it cannot read fails open: a folder without read permission, or a link whose
target lies outside the scanned folder, would leave the verdict "clean" although the loader may read
content nobody analysed. So the walk yields two kinds of item: paths to scan, and :class:`WalkIssue`
records that callers turn into results (the scanner into ``error`` or ``skipped`` results, the
inventory into incomplete assets).

Symbolic links, decided once here:

* a link to a file inside the scanned folder is scanned (the loader reads the same bytes);
* a link into a Hugging Face cache ``blobs/`` folder is scanned: that is how the hub cache (and older
  ``local_dir`` downloads) lay files out, and the blob is content the hub delivered;
* any other link whose target lies outside the scanned folder is **not read**: its content depends on the
  machine it is opened on (an absolute ``/tmp/x`` can be written by someone else later), reading it here
  would widen the scan beyond what the user named, and copying bytes of arbitrary local files (a link to
  ``~/.ssh/id_rsa``) into findings and reports would leak them. The link becomes a finding and the
  result an ``error``, so the scan is incomplete rather than silently clean;
* a link to a folder is never followed (as before); inside the scanned folder its content is scanned
  under its real path, so it is only mentioned; pointing outside it is treated like a file link out.
"""

from __future__ import annotations

import enum
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from mlvet.errors import UsageError


class IssueKind(enum.Enum):
    """Why a walk item is not a plain file to scan."""

    #: A folder that could not be listed, or an entry that could not be examined (permission denied ...).
    UNREADABLE = "unreadable"
    #: A symbolic link (to a file or a folder) whose target lies outside the scanned folder; not read.
    LINK_OUTSIDE = "link-outside"
    #: A symbolic link to a folder inside the scanned folder; not followed, its content is walked anyway.
    LINK_FOLDER = "link-folder"


@dataclass(frozen=True)
class WalkIssue:
    """Something under a scanned folder that the walk did not turn into a file to scan."""

    path: str
    kind: IssueKind
    #: What happened, for users ("Permission denied", "points to /etc/passwd").
    detail: str
    #: The link's target as stored (for links), else None.
    target: str | None = None
    #: The scanned folder the item was found under.
    root: str | None = None


def _inside(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def link_issue(path: str, root: str, root_real: str, is_dir: bool) -> WalkIssue | None:
    """None when the link may be followed (target inside the root, or a hub cache blob)."""
    try:
        target = os.readlink(path)
    except OSError as exc:
        return WalkIssue(path, IssueKind.UNREADABLE, f"cannot read the link: {exc.strerror or exc}", root=root)
    real = os.path.realpath(path)
    if _inside(real, root_real):
        if is_dir:
            return WalkIssue(path, IssueKind.LINK_FOLDER, f"symbolic link to the folder {target!r} inside the "
                             "scanned folder: not followed (its files are scanned under their own path)", target, root)
        return None
    from mlvet.hfcache import is_cache_blob  # only a symbolic link out of the folder needs it

    if not is_dir and is_cache_blob(real):
        return None
    what = "folder" if is_dir else "file"
    return WalkIssue(path, IssueKind.LINK_OUTSIDE, f"points to the {what} {target!r} (resolves to {real!r}), "
                     f"outside the scanned folder {root!r}", target, root)


def walk(paths: Iterable[str | os.PathLike[str]], max_files: int) -> Iterator[str | WalkIssue]:
    """Files to scan (sorted per folder) and the issues met on the way; raises UsageError for a missing path.

    A path named directly is taken as the user's choice: a file (or a link to one) is scanned, a folder is
    walked without following folder links. Non-regular files (FIFOs, devices, sockets) are yielded as paths:
    the scanner stats them and skips them with a reason, never opening them.
    """
    count = 0
    for raw in paths:
        p = os.fspath(raw)
        if not os.path.lexists(p):
            raise UsageError(f"no such file or directory: {p}")
        if not (os.path.isdir(p) and not os.path.islink(p)):
            count += 1
            yield p
            continue
        root_real = os.path.realpath(p)
        found: list[str | WalkIssue] = []
        errors: list[OSError] = []
        for root, dirs, files in os.walk(p, onerror=errors.append):
            for name in dirs:
                sub = os.path.join(root, name)
                if os.path.islink(sub):
                    issue = link_issue(sub, p, root_real, is_dir=True)
                    if issue is not None:
                        found.append(issue)
            for name in files:
                count += 1
                if count > max_files:
                    raise UsageError(f"more than {max_files} files; raise limits.max_files to scan them")
                path = os.path.join(root, name)
                issue = link_issue(path, p, root_real, is_dir=False) if os.path.islink(path) else None
                found.append(path if issue is None else issue)
        for exc in errors:
            where = exc.filename if isinstance(exc.filename, str) else p
            found.append(WalkIssue(where, IssueKind.UNREADABLE, f"cannot read folder: {exc.strerror or exc}",
                                   root=p))
        yield from sorted(found, key=lambda item: item if isinstance(item, str) else item.path)


def iter_files(paths: Iterable[str | os.PathLike[str]], max_files: int) -> Iterator[str]:
    """Every file under the given paths that the walk lets through, sorted per folder (issues left out)."""
    for item in walk(paths, max_files):
        if isinstance(item, str):
            yield item


def is_regular(path: str) -> bool:
    """True for a regular file (after following links); False for FIFOs, devices, sockets, folders, errors."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False



def open_regular(path: str) -> BinaryIO | None:
    """Open ``path`` for reading only if it is a regular file (links followed); None otherwise.

    Opening a FIFO blocks until a writer appears (forever, in a scanned folder) and a device can be
    endless, so the file is opened non-blocking and checked with ``fstat`` on the open descriptor (no
    race between the check and the open); regular files are unaffected by ``O_NONBLOCK``.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        return os.fdopen(fd, "rb")
    except OSError:
        os.close(fd)
        return None
