"""The format layer's interface: identify content by its bytes, then scan it in a :class:`ScanContext`.

Every format is a module that registers a :class:`FormatHandler`. Dispatch (:mod:`mlvet.formats.dispatch`)
asks each handler in priority order whether it recognises the content (by magic bytes and structure, never
by extension) and hands the stream to the first that does. Containers recurse by calling
:meth:`ScanContext.scan_stream` on their members, so nesting (a pickle in a zip in a 7z) needs no special
code anywhere.

The scan context and the stream helpers are core (:mod:`mlvet.context`, :mod:`mlvet.streams`); they are
re-exported here so that format modules import their whole toolkit from one place.
"""

from __future__ import annotations

from typing import BinaryIO, Protocol

from mlvet.context import ScanContext, Sink
from mlvet.streams import SPOOL_BYTES, Window, spooled

__all__ = ["SPOOL_BYTES", "FormatHandler", "Probe", "ScanContext", "Sink", "Window", "handlers", "register",
           "spooled"]


class Probe:
    """What a handler may look at to recognise content: the first bytes, the size, and the tail on demand."""

    def __init__(self, stream: BinaryIO, size: int, name: str, head: bytes) -> None:
        self.stream = stream
        self.size = size
        self.name = name
        self.head = head
        self._tail: bytes | None = None

    def tail(self, n: int = 70_000) -> bytes:
        """The last ``n`` bytes (read once, lazily): end-of-central-directory records live there."""
        if self._tail is None:
            here = self.stream.tell()
            start = max(0, self.size - n)
            self.stream.seek(start)
            self._tail = self.stream.read(self.size - start)
            self.stream.seek(here)
        return self._tail


class FormatHandler(Protocol):
    """A format module's entry point."""

    #: Stable id reported as ``format`` in results (e.g. ``pickle``, ``pytorch-zip``).
    id: str
    #: Lower runs first; cheap, specific magic checks come before structural guesses.
    priority: int

    def sniff(self, probe: Probe) -> bool:
        """True if this handler recognises the content."""
        ...

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        """Analyse the stream, reporting through ``ctx``. Raise AnalysisError for what cannot be read."""
        ...


_HANDLERS: list[FormatHandler] = []


def register(handler: FormatHandler) -> FormatHandler:
    """Add a format handler (modules call this at import)."""
    _HANDLERS.append(handler)
    _HANDLERS.sort(key=lambda h: h.priority)
    return handler


def handlers() -> tuple[FormatHandler, ...]:
    """Every registered handler, in priority order."""
    return tuple(_HANDLERS)
