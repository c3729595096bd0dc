"""Stream helpers every reader shares: a window onto part of a stream, and a bounded spool.

Both are core (no format knowledge): format handlers, container readers and the trust commands use them to
look at a member or a byte range without copying it, or to make a non-seekable stream seekable within a limit.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

from mlvet.errors import LimitExceeded

#: Spooled copies of members stay in memory up to this size, then go to a temporary file.
SPOOL_BYTES = 16 * 1024 * 1024


@contextmanager
def spooled(source: BinaryIO, limit: int, what: str) -> Iterator[tuple[BinaryIO, int]]:
    """Copy a non-seekable stream into a seekable spool (memory, then disk), enforcing ``limit`` bytes."""
    import tempfile

    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed below
    try:
        total = 0
        while True:
            chunk = source.read(1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise LimitExceeded("max_member_bytes", limit, f"{what}: decompressed size exceeds {limit} bytes")
            spool.write(chunk)
        spool.seek(0)
        yield spool, total  # type: ignore[misc]
    finally:
        spool.close()


class Window(io.RawIOBase):
    """A read-only, seekable view of ``length`` bytes at ``offset`` of a seekable stream (no copy)."""

    def __init__(self, base: BinaryIO, offset: int, length: int) -> None:
        super().__init__()
        self._base = base
        self._offset = offset
        self._length = length
        self._pos = 0

    def readable(self) -> bool:
        """Always readable."""
        return True

    def seekable(self) -> bool:
        """Always seekable (the base stream must be)."""
        return True

    def tell(self) -> int:
        """Position inside the window."""
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        """Move inside the window; positions before its start clamp to 0."""
        if whence == 0:
            new = pos
        elif whence == 1:
            new = self._pos + pos
        else:
            new = self._length + pos
        self._pos = max(0, new)
        return self._pos

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        """Read from the base stream, never past the window's end."""
        n = min(len(b), self._length - self._pos)
        if n <= 0:
            return 0
        self._base.seek(self._offset + self._pos)
        data = self._base.read(n)
        b[: len(data)] = data
        self._pos += len(data)
        return len(data)
