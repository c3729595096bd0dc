"""Column types that make any Python string and any aware datetime survive SQLite and PostgreSQL unchanged.

Why these exist: the strings mlvet stores come from adversarial input. File names on POSIX are bytes and
reach Python as ``str`` with lone surrogates (``surrogateescape``); evidence rendered from a pickle can hold
NUL. Neither sqlite3 nor psycopg can encode a lone surrogate, and PostgreSQL ``text``/``json`` reject NUL and
unpaired ``\\u`` escapes. A path that cannot be stored would lose the whole run, so text is escaped
reversibly (only when needed: ordinary strings are stored as they are, and stay queryable with ``LIKE``).

Datetimes: SQLite has no time zone type and returns naive values; PostgreSQL returns them in the session's
zone. Both are normalised to UTC-aware on the way out, and naive values are refused on the way in (a naive
time in an inventory is ambiguous by the time anyone reads it).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

#: The escape character: a Unicode noncharacter, so it does not occur in real names; when it does, it is
#: escaped itself.
_ESC = "\uffff"
_NEEDS_ESCAPE = re.compile("[\x00\ud800-\udfff\uffff]")
_ESCAPED = re.compile("\uffff(.)", re.DOTALL)
_SURROGATE_BASE = 0xD800
_PUA_BASE = 0xE000


def _escape_char(m: re.Match[str]) -> str:
    c = m.group(0)
    if c == _ESC:
        return _ESC + "e"
    if c == "\x00":
        return _ESC + "0"
    return _ESC + chr(_PUA_BASE + ord(c) - _SURROGATE_BASE)


def _unescape_char(m: re.Match[str]) -> str:
    c = m.group(1)
    if c == "e":
        return _ESC
    if c == "0":
        return "\x00"
    return chr(_SURROGATE_BASE + ord(c) - _PUA_BASE)


def escape_text(value: str) -> str:
    """Map any ``str`` to one both databases accept; :func:`unescape_text` inverts it exactly."""
    if value.isascii() and "\x00" not in value:
        return value
    return _NEEDS_ESCAPE.sub(_escape_char, value)


def unescape_text(value: str) -> str:
    """The text :func:`escape_text` stored (the inverse mapping)."""
    if _ESC not in value:
        return value
    return _ESCAPED.sub(_unescape_char, value)


def _escape_json(value: Any) -> Any:
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, list | tuple):
        return [_escape_json(v) for v in value]
    if isinstance(value, dict):
        return {escape_text(str(k)): _escape_json(v) for k, v in value.items()}
    return value


def _unescape_json(value: Any) -> Any:
    if isinstance(value, str):
        return unescape_text(value)
    if isinstance(value, list):
        return [_unescape_json(v) for v in value]
    if isinstance(value, dict):
        return {unescape_text(k): _unescape_json(v) for k, v in value.items()}
    return value


class SafeText(TypeDecorator[str]):
    """Unbounded text, escaped reversibly when it holds NUL or lone surrogates."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else escape_text(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else unescape_text(value)


class SafeString(TypeDecorator[str]):
    """Bounded text (identifiers, labels), escaped like :class:`SafeText`."""

    impl = sa.String
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else escape_text(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else unescape_text(value)


class SafeJSON(TypeDecorator[Any]):
    """Portable JSON (``json`` on PostgreSQL, text on SQLite) whose strings are escaped like :class:`SafeText`."""

    impl = sa.JSON
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else _escape_json(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        return None if value is None else _unescape_json(value)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored as UTC and always returned UTC-aware."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored: give it a time zone")
        value = value.astimezone(timezone.utc)
        # SQLite stores the text form; keep it free of an offset so that ordering by text is ordering by time.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


_INT64_LIMIT = 1 << 63


def to_signed64(value: int) -> int:
    """Store an unsigned 64-bit number (inode numbers can use all 64 bits) in a signed BIGINT column."""
    return value - (1 << 64) if value >= _INT64_LIMIT else value


def from_signed64(value: int) -> int:
    """The unsigned 64-bit value :func:`to_signed64` stored."""
    return value + (1 << 64) if value < 0 else value
