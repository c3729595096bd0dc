"""Orbax / JAX checkpoint folders: TensorStore OCDBT files (``manifest.ocdbt``, ``d/<hash>``).

An Orbax checkpoint (``orbax.checkpoint``, the default of Flax/JAX training loops) is a folder: JSON metadata
(``_METADATA``, ``_CHECKPOINT_METADATA``, ``_sharding``, ``array_metadatas/``), which is text and scanned as
such, and the array data in TensorStore's OCDBT key-value store: a manifest and data files, each one encoded
unit with a 4-byte magic (``0x0cdb3a2a`` manifest, ``0x0cdb20de`` B-tree/data), a 64-bit little-endian length
equal to the file's size, a format version, a compression method (none or Zstandard), the payload and a CRC32C.
The values are array chunks that TensorStore copies into buffers; nothing in an OCDBT file names code, so it
is data. The framing is checked and a compressed payload is inflated within the limits (output discarded) so
a truncated, foreign or bomb file is an error or a limit finding, not clean.

Handler names in ``_CHECKPOINT_METADATA`` (``item_handlers``) are looked up in Orbax's registry of handler
types, not imported, so they are not a code path either.
"""

from __future__ import annotations

from typing import BinaryIO

from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.compressed import _Zstd  # the one Zstandard binding, shared on purpose

_MAGICS = {b"\x0c\xdb\x3a\x2a": "manifest", b"\x0c\xdb\x20\xde": "data"}
_CRC = 4


class OcdbtHandler:
    """TensorStore OCDBT manifest and data files (Orbax checkpoints): framing checked, payload inflated."""

    id = "orbax-ocdbt"
    priority = 16

    def sniff(self, probe: Probe) -> bool:
        h = probe.head
        return h[:4] in _MAGICS and len(h) >= 14 and int.from_bytes(h[4:12], "little") == probe.size

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        head = stream.read(14)
        kind = _MAGICS[head[:4]]
        version, compression = head[12], head[13]
        if version != 0 or compression not in (0, 1):
            raise AnalysisError(f"malformed OCDBT {kind} file: version {version}, compression {compression}")
        if size < 14 + _CRC:
            raise AnalysisError(f"malformed OCDBT {kind} file: {size} bytes")
        if compression == 0:
            return
        d = _Zstd()
        lim = ctx.limits
        total = 0
        left = size - 14
        while left and not d.eof:
            chunk = stream.read(min(left, 1 << 20))
            if not chunk:
                raise AnalysisError(f"malformed OCDBT {kind} file: truncated")
            left -= len(chunk)
            try:
                out = d.decompress(chunk, 1 << 22)
                while True:
                    total += len(out)
                    if total > lim.max_member_bytes or (total > lim.ratio_floor_bytes and total > size * lim.max_ratio):
                        raise LimitExceeded("max_ratio", lim.max_ratio,
                                            f"OCDBT {kind} payload expands past {total} bytes from {size}: "
                                            "possible decompression bomb")
                    if d.eof or d.needs_input:
                        break
                    out = d.decompress(b"", 1 << 22)
            except ValueError as exc:
                raise AnalysisError(f"malformed OCDBT {kind} file: corrupt Zstandard payload: {exc}") from None
            if d.eof:
                left += len(d.unused_data)
        if not d.eof or left != _CRC:
            raise AnalysisError(f"malformed OCDBT {kind} file: payload does not end 4 bytes before the file does")


register(OcdbtHandler())
