"""Read the schema of an Arrow IPC file or stream (or a Parquet file's ``ARROW:schema``) without its columns.

Arrow data carries no code, but its schema can name *extension types*, whose parameters
(``ARROW:extension:metadata``) are bytes that the registered type deserialises: the legacy
``pyarrow.PyExtensionType`` (``arrow.py_extension_type``) and some third-party types do that with pickle. The
schema is the first message of a file or stream: ``[0xFFFFFFFF] int32 length`` then a FlatBuffer ``Message``
whose header is a ``Schema`` (Arrow's ``Message.fbs``/``Schema.fbs``). Only that message is read, through the
bounds-checked FlatBuffer reader; record batches are never touched.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import BinaryIO

from mlvet.containers.flatbuf import FlatBuffer
from mlvet.errors import AnalysisError

__all__ = ["MAX_SCHEMA_BYTES", "ArrowField", "ArrowSchema", "parse_encapsulated", "read_file_footer_schema",
           "read_schema_message"]

#: A schema message larger than this is refused (real ones are kilobytes, wide tables a few megabytes).
MAX_SCHEMA_BYTES = 64 * 1024 * 1024
#: Fields (columns and nested children together) listed before the schema is called implausible.
MAX_FIELDS = 200_000
#: Bytes of one metadata value kept (a pickled extension type is small; longer values are cut).
MAX_VALUE_BYTES = 16 * 1024 * 1024
_SCHEMA_HEADER = 1  # MessageHeader union: Schema


@dataclass(frozen=True)
class ArrowField:
    """One field (column or nested child): its dotted path and its custom metadata."""

    path: str
    metadata: tuple[tuple[str, bytes], ...]

    def get(self, key: str) -> bytes | None:
        """The metadata value under ``key`` (None when absent)."""
        return next((v for k, v in self.metadata if k == key), None)


@dataclass
class ArrowSchema:
    """The schema-level metadata and every field (depth first), as read from the Schema message."""

    metadata: list[tuple[str, bytes]] = field(default_factory=list)
    fields: list[ArrowField] = field(default_factory=list)


def _raw_string(fb: FlatBuffer, table: int, index: int) -> bytes | None:
    pos = fb.field(table, index)
    if pos is None:
        return None
    s = fb.deref(pos)
    n = fb.u32(s)
    if s + 4 + n > fb.size:
        raise fb.fail(f"string of {n} bytes runs past the end of the buffer", s)
    return fb.read(s + 4, min(n, MAX_VALUE_BYTES))


def _key_values(fb: FlatBuffer, table: int, index: int) -> list[tuple[str, bytes]]:
    out = []
    for kv in fb.tables(table, index):
        key = _raw_string(fb, kv, 0) or b""
        out.append((key.decode("utf-8", "backslashreplace"), _raw_string(fb, kv, 1) or b""))
    return out


def _fields(fb: FlatBuffer, table: int, index: int, prefix: str, out: list[ArrowField], depth: int) -> None:
    if depth > 64:
        raise fb.fail("fields nested too deeply", table)
    for f in fb.tables(table, index):
        if len(out) >= MAX_FIELDS:
            raise fb.fail(f"more than {MAX_FIELDS} fields", f)
        name = fb.string(f, 0) or ""
        path = f"{prefix}.{name}" if prefix else name
        out.append(ArrowField(path, tuple(_key_values(fb, f, 6))))
        _fields(fb, f, 5, path, out, depth + 1)


def _schema(fb: FlatBuffer, schema: int) -> ArrowSchema:
    out = ArrowSchema(metadata=_key_values(fb, schema, 2))
    _fields(fb, schema, 1, "", out.fields, 0)
    return out


def parse_message(buf: bytes, label: str) -> ArrowSchema:
    """Parse a FlatBuffer ``Message`` (without its length prefix) that must hold a Schema."""
    fb = FlatBuffer(io.BytesIO(buf), len(buf), label)
    msg = fb.root()
    kind = fb.field(msg, 1)
    if kind is None or fb.read(kind, 1)[0] != _SCHEMA_HEADER:
        raise AnalysisError(f"{label}: the first message is not a schema")
    schema = fb.table(msg, 2)
    if schema is None:
        raise AnalysisError(f"{label}: the schema message has no schema")
    return _schema(fb, schema)


def read_file_footer_schema(stream: BinaryIO, size: int, label: str) -> ArrowSchema:
    """The schema in an Arrow IPC *file*'s footer (``Footer.schema``): what ``pyarrow.ipc.open_file`` and feather
    readers use, which need not be the schema message at the start of the file."""
    if size < 18:
        raise AnalysisError(f"{label}: too short for an Arrow file footer")
    stream.seek(size - 10)
    tail = stream.read(10)
    if len(tail) < 10 or tail[4:] != b"ARROW1":
        raise AnalysisError(f"{label}: no ARROW1 magic at the end (truncated Arrow file)")
    n = int.from_bytes(tail[:4], "little", signed=True)
    if not 0 < n <= min(MAX_SCHEMA_BYTES, size - 18):
        raise AnalysisError(f"{label}: implausible footer length {n}")
    stream.seek(size - 10 - n)
    buf = stream.read(n)
    if len(buf) < n:
        raise AnalysisError(f"{label}: file ends inside the footer")
    fb = FlatBuffer(io.BytesIO(buf), n, label)
    schema = fb.table(fb.root(), 1)
    if schema is None:
        raise AnalysisError(f"{label}: the footer has no schema")
    return _schema(fb, schema)


def _frame(head: bytes, label: str) -> tuple[int, int]:
    """(offset of the FlatBuffer after the prefix, its length) from the first 8 bytes of a message."""
    if len(head) < 8:
        raise AnalysisError(f"{label}: truncated message prefix")
    if head[:4] == b"\xff\xff\xff\xff":
        start, n = 8, int.from_bytes(head[4:8], "little", signed=True)
    else:  # pre-0.15 streams: the length alone
        start, n = 4, int.from_bytes(head[:4], "little", signed=True)
    if not 0 < n <= MAX_SCHEMA_BYTES:
        raise AnalysisError(f"{label}: implausible schema message length {n}")
    return start, n


def parse_encapsulated(data: bytes, label: str) -> ArrowSchema:
    """Parse an encapsulated schema message held in memory (a Parquet file's base64-decoded ``ARROW:schema``)."""
    start, n = _frame(data[:8], label)
    if start + n > len(data):
        raise AnalysisError(f"{label}: schema message runs past the end")
    return parse_message(data[start : start + n], label)


def read_schema_message(stream: BinaryIO, offset: int, size: int, label: str) -> ArrowSchema:
    """Read the schema message at ``offset`` of an Arrow file (8 after the magic) or stream (0)."""
    stream.seek(offset)
    start, n = _frame(stream.read(8), label)
    if offset + start + n > size:
        raise AnalysisError(f"{label}: schema message of {n} bytes runs past the end of the file")
    stream.seek(offset + start)
    buf = stream.read(n)
    if len(buf) < n:
        raise AnalysisError(f"{label}: file ends inside the schema message")
    return parse_message(buf, label)
