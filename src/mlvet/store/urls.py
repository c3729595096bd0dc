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
