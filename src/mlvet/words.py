"""Counts in human output read as English: ``1 file``, ``2 files``, never ``file(s)`` or ``1 files``."""

from __future__ import annotations

__all__ = ["plural"]


def plural(n: int, word: str, plural_form: str | None = None) -> str:
    """``n`` and ``word``, pluralised (``plural_form``, else ``word + "s"``) unless ``n`` is 1."""
    return f"{n} {word if n == 1 else (plural_form or word + 's')}"
