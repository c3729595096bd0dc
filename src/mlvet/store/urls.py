"""Where the inventory lives and how it is queried by name: database URLs (the default SQLite file,
normalising what users type), the key of a set of scanned roots, and shell globs as SQL ``LIKE`` patterns."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from mlvet.errors import MlvetError


class StoreError(MlvetError):
    """The inventory database cannot be opened, migrated or written."""


def default_url() -> str:
    """``MLVET_DB`` if set, else a SQLite file in the user's data folder (created if missing).

    The data folder is ``$XDG_DATA_HOME`` (when absolute) or ``~/.local/share`` on POSIX, and
    ``%LOCALAPPDATA%`` on Windows; the database is ``<data>/mlvet/inventory.db``.
    """
    env = os.environ.get("MLVET_DB")
    if env:
        return env
    base: str | None = None
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA")
    else:
        xdg = os.environ.get("XDG_DATA_HOME")
        if xdg and os.path.isabs(xdg):
            base = xdg
    if not base:
        base = os.path.join(os.path.expanduser("~"), ".local", "share")
    folder = Path(base) / "mlvet"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the database folder {folder}: {exc.strerror or exc}") from exc
    return f"sqlite:///{folder / 'inventory.db'}"


def normalize_url(url: str) -> URL:
    """Parse ``url``; plain ``postgresql://``/``postgres://`` URLs get the psycopg 3 driver."""
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError) as exc:
        raise StoreError(f"invalid database URL {url!r}: {exc}") from exc
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def roots_key(roots: Iterable[str]) -> str:
    """The identity of a set of roots: order and duplicates do not matter."""
    material = "\0".join(sorted(set(roots)))
    return hashlib.sha256(material.encode("utf-8", "surrogateescape")).hexdigest()


def glob_to_like(pattern: str) -> str:
    """A LIKE pattern (escape ``\\``) matching a superset of what :func:`fnmatch.fnmatchcase` matches.

    ``*`` becomes ``%`` and ``?`` becomes ``_``; a ``[...]`` class becomes ``_`` (any one character), which is
    why results are post-filtered with fnmatch for the exact answer.
    """
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == "*":
            out.append("%")
        elif c == "?":
            out.append("_")
        elif c == "[":
            j = i
            if j < n and pattern[j] == "!":
                j += 1
            if j < n and pattern[j] == "]":
                j += 1
            while j < n and pattern[j] != "]":
                j += 1
            if j < n:
                out.append("_")
                i = j + 1
            else:
                out.append("[")
        elif c in "%_\\":
            out.append("\\" + c)
        else:
            out.append(c)
    return "".join(out)


# ---- SQLite files: in-memory URLs, read-only access ----------------------------------------------------


def sqlite_memory(url: URL) -> bool:
    """True for an in-memory SQLite URL (``sqlite://``, ``sqlite:///:memory:``, ``file::memory:``)."""
    db = url.database or ""
    return db in ("", ":memory:") or db.startswith("file::memory:") or url.query.get("mode") == "memory"


def sqlite_file(url: URL) -> str | None:
    """The file of a SQLite URL (None for in-memory or ``file:`` URI databases, which are left alone)."""
    db = url.database or ""
    if sqlite_memory(url) or db.startswith("file:"):
        return None
    return db


def sqlite_read_only_reason(path: str) -> str | None:
    """Why an existing SQLite file can only be read (None when it can be written, or does not exist yet).

    A SQLite writer needs the file and, for its journal (WAL and shared-memory files), the folder.
    """
    if not os.path.exists(path):
        return None
    if not os.access(path, os.W_OK):
        return f"the file {path} is read-only"
    folder = os.path.dirname(os.path.abspath(path))
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"its folder {folder} is read-only"
    return None


def sqlite_read_only_url(path: str, *, immutable: bool) -> URL:
    """A URL opening ``path`` with SQLite's ``mode=ro`` (no write, no journal created).

    ``immutable`` also tells SQLite that nobody writes the file, which it needs to read a WAL database
    whose ``-shm`` file cannot be created (a read-only folder); used only when the folder is read-only,
    so that no writer can be working next to us.
    """
    from urllib.parse import quote

    query = "mode=ro&immutable=1" if immutable else "mode=ro"
    return make_url(f"sqlite:///file:{quote(os.path.abspath(path))}?{query}&uri=true")
