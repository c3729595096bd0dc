"""Recognising TensorFlow files by content: SavedModel, GraphDef, Keras metadata, fingerprint, checkpoint.

Each file of a SavedModel folder is recognised by its protobuf shape (the scanner sees files one at a
time, whatever their names); the sniffers read only the head of a file through ``try_fields`` and
never raise. Checkpoint data shards, which have no signature, are recognised by name and accepted by
the handlers only next to a valid index.
"""

from __future__ import annotations

import re

from mlvet.analysis.protowire import LEN, VARINT, try_fields
from mlvet.formats.base import Probe

_IDENT = re.compile(rb"^[A-Za-z_][A-Za-z0-9_>.\-]{0,199}$")
_NODE_FIELDS = {1: LEN, 2: LEN, 3: LEN, 4: LEN, 5: LEN, 6: LEN, 7: LEN}
_GRAPH_FIELDS = {1: LEN, 2: LEN, 3: VARINT, 4: LEN, 5: LEN}
_META_GRAPH_FIELDS = {1: LEN, 2: LEN, 3: LEN, 4: LEN, 5: LEN, 6: LEN, 7: LEN}
_FINGERPRINT_FIELDS = {1: VARINT, 2: VARINT, 3: VARINT, 4: VARINT, 5: VARINT, 6: LEN, 7: LEN}
_KERAS_OBJECT_FIELDS = {2: VARINT, 3: LEN, 4: LEN, 5: LEN, 6: LEN}
SSTABLE_MAGIC = (0xDB4775248B80FB57).to_bytes(8, "little")
SHARD_NAME = re.compile(r"^(?P<prefix>.+)\.data-(?P<i>\d{5})-of-(?P<n>\d{5})$")


def _inner(head: bytes, start: int, length: int, limit: int = 8) -> list[tuple[int, int, int, int]] | None:
    if start >= len(head):
        return []
    return try_fields(head[start : min(len(head), start + length)], limit)


def _looks_like_node(head: bytes, start: int, length: int) -> bool:
    inner = _inner(head, start, length)
    if not inner:
        return False
    sub = head[start : start + length]
    has_op = False
    for n, w, v, s in inner:
        if _NODE_FIELDS.get(n) != w:
            return False
        if n in (1, 2) and s + v <= len(sub):
            if not _IDENT.match(sub[s : s + v]) and not (n == 1 and v and sub[s:s + v].isascii()):
                return False
            has_op = has_op or n == 2
    return has_op or len(sub) < length  # op may sit beyond the head when the name is long


def looks_like_graphdef(head: bytes) -> bool:
    """A GraphDef: only GraphDef fields, the first a NodeDef with an operator name or a library."""
    fields = try_fields(head, 16)
    if not fields:
        return False
    if any(_GRAPH_FIELDS.get(f[0]) != f[1] for f in fields):
        return False
    n, _w, v, s = fields[0]
    if n == 1:
        return _looks_like_node(head, s, v)
    if n == 2:  # function library first (no top-level nodes)
        inner = _inner(head, s, v)
        if not inner:
            return False
        return all(f[0] in (1, 2, 3) and f[1] == LEN for f in inner)
    return False


def looks_like_saved_model(head: bytes) -> bool:
    """A SavedModel: schema_version, then a MetaGraphDef."""
    fields = try_fields(head, 4)
    if not fields or len(fields) < 2:
        return False
    if fields[0][:2] != (1, VARINT) or fields[0][2] > 16:
        return False
    n, w, v, s = fields[1]
    if (n, w) != (2, LEN):
        return False
    inner = _inner(head, s, v, 4)
    if not inner:
        return False
    return all(_META_GRAPH_FIELDS.get(f[0]) == f[1] for f in inner)


def looks_like_keras_metadata(head: bytes) -> bool:
    """keras_metadata.pb: SavedMetadata nodes with a _tf_keras identifier or JSON metadata."""
    fields = try_fields(head, 4)
    if not fields or any(f[:2] != (1, LEN) for f in fields):
        return False
    _n, _w, v, s = fields[0]
    inner = _inner(head, s, v, 6)
    if not inner or any(_KERAS_OBJECT_FIELDS.get(f[0]) != f[1] for f in inner):
        return False
    sub = head[s : s + v]
    for fn, _fw, fv, fs in inner:
        if fn == 4 and sub[fs : fs + fv].startswith(b"_tf_keras"):
            return True
        if fn == 5 and sub[fs : fs + 1] == b"{":
            return True
    return False


def looks_like_fingerprint(head: bytes, size: int) -> bool:
    """fingerprint.pb: a small message of hash varints."""
    if size > 4096:
        return False
    fields = try_fields(head, 16)
    if not fields or len(head) < size:
        return False
    numbers = [f[0] for f in fields]
    if any(_FINGERPRINT_FIELDS.get(f[0]) != f[1] for f in fields) or len(set(numbers)) != len(numbers):
        return False
    return len({1, 2, 3, 4, 5} & set(numbers)) >= 3


def starts_like_pickle_proto(head: bytes) -> bool:
    """A PROTO opcode with a valid protocol: every protocol-2+ pickle starts this way."""
    return len(head) >= 2 and head[0] == 0x80 and head[1] <= 5


def looks_like_checkpoint_index(probe: Probe) -> bool:
    """A checkpoint index: an SSTable whose footer ends with the table magic."""
    return probe.size >= 48 and probe.tail(48)[-8:] == SSTABLE_MAGIC

