"""Zarr v2 array chunks (Orbax checkpoints written without OCDBT, zarr/TensorStore arrays).

A zarr array is a folder: ``.zarray`` (JSON: shape, chunk shape, dtype, compressor, filters) and one file per
chunk named by its grid index (``0``, ``0.1``, ``0/1``). A chunk is the compressed bytes of a block of the
array, so on its own it is "unknown binary"; with its ``.zarray`` it is data that zarr and TensorStore copy
into a buffer, except in one case: an object array (``dtype "|O"``) whose ``object_codec``/filter is
numcodecs' ``pickle`` is decoded with ``pickle.loads``. Then the decompressed chunk is analysed as a pickle.

A chunk is recognised by its file name *and* a ``.zarray`` beside it (the metadata that makes a loader read it);
it is decompressed within the size and ratio limits (zstd, zlib, gzip or none; other codecs are an error), and
a numeric chunk must hold exactly the bytes its chunk shape and dtype say.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
import zlib
from typing import Any, BinaryIO

from mlvet.errors import AnalysisError
from mlvet.formats.base import SPOOL_BYTES, Probe, ScanContext, register
from mlvet.formats.compressed import _inflate, _Zstd  # the bounded decompression loop, shared on purpose
from mlvet.formats.pickle import analyse_pickle_stream

_CHUNK_NAME = re.compile(r"\A\d{1,9}(?:[./]\d{1,9}){0,31}\Z")
_MAX_META = 1 << 20
_DTYPE = re.compile(r"\A[<>|=]?([biufcmMSUV?])(\d+)(?:\[\w+\])?\Z")
_FACTORIES: dict[str, Any] = {"zstd": _Zstd, "zlib": zlib.decompressobj, "gzip": lambda: zlib.decompressobj(31)}


def _array_folder(stream: BinaryIO) -> tuple[str, str] | None:
    """(folder, chunk key) when ``stream`` is a file named like a chunk key with a ``.zarray`` above it."""
    path = getattr(stream, "name", None)
    if not isinstance(path, str):
        return None
    folder, name = os.path.split(os.path.abspath(path))
    key = name
    for _ in range(32):  # "/"-separated keys put chunks in sub-folders of the array
        if not _CHUNK_NAME.match(key):
            return None
        if os.path.isfile(os.path.join(folder, ".zarray")):
            return folder, key
        folder, parent = os.path.split(folder)
        key = f"{parent}/{key}"
    return None


def _metadata(folder: str) -> dict[str, Any]:
    meta_path = os.path.join(folder, ".zarray")
    try:
        with open(meta_path, "rb") as f:
            raw = f.read(_MAX_META + 1)
        if len(raw) > _MAX_META:
            raise AnalysisError(".zarray larger than 1 MiB")
        meta = json.loads(raw)
    except (OSError, ValueError) as exc:
        raise AnalysisError(f"zarr chunk: its .zarray cannot be read: {exc}") from None
    if not isinstance(meta, dict) or meta.get("zarr_format") != 2:
        raise AnalysisError("zarr chunk: .zarray is not zarr format 2 metadata")
    return meta


def _codec_ids(meta: dict[str, Any]) -> list[str]:
    filters = meta.get("filters") or []
    return [str(f.get("id")) for f in filters if isinstance(f, dict)] if isinstance(filters, list) else ["?"]


class ZarrChunkHandler:
    """A zarr v2 chunk next to its ``.zarray``: decompressed within limits; pickle-coded object chunks analysed."""

    id = "zarr-chunk"
    priority = 29

    def sniff(self, probe: Probe) -> bool:
        return bool(_CHUNK_NAME.match(os.path.basename(probe.name) or "x")) and \
            _array_folder(probe.stream) is not None

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        found = _array_folder(stream)
        if found is None:  # pragma: no cover - sniff guarantees it
            raise AnalysisError("zarr chunk without .zarray")
        meta = _metadata(found[0])
        comp = meta.get("compressor")
        cid = comp.get("id") if isinstance(comp, dict) else None if comp is None else "?"
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            if cid is None:
                total = size
                stream.seek(0)
                while chunk := stream.read(1 << 20):
                    spool.write(chunk)
            elif cid in _FACTORIES:
                stream.seek(0)
                total = _inflate(stream, spool, _FACTORIES[cid], ctx.limits.max_member_bytes, size, ctx, cid)
            else:
                raise AnalysisError(f"zarr chunk compressed with {cid!r}, which mlvet cannot decompress "
                                    "(not analysed)")
            spool.seek(0)
            dtype = meta.get("dtype")
            if isinstance(dtype, str) and dtype.lstrip("<>|=").startswith("O"):
                if "pickle" in _codec_ids(meta):
                    ctx.saw_format("pickle")
                    analyse_pickle_stream(spool, ctx.child("<zarr pickle codec>"))  # type: ignore[arg-type]
                    return
                raise AnalysisError(f"zarr object array with codecs {_codec_ids(meta)}: not analysed")
            self._check_size(meta, dtype, total)

    @staticmethod
    def _check_size(meta: dict[str, Any], dtype: object, total: int) -> None:
        chunks = meta.get("chunks")
        m = _DTYPE.match(dtype) if isinstance(dtype, str) else None
        if m is None or not isinstance(chunks, list) or not all(isinstance(c, int) and c > 0 for c in chunks):
            raise AnalysisError(f"zarr chunk: unsupported dtype {dtype!r} or chunk shape {chunks!r}")
        width = int(m.group(2)) * (4 if m.group(1) == "U" else 1)
        expected = math.prod(chunks) * width
        if _codec_ids(meta):
            return  # filters (delta, quantize ...) change the stored size; numeric data either way
        if total != expected:
            raise AnalysisError(f"zarr chunk holds {total} bytes, its chunk shape and dtype say {expected}")


register(ZarrChunkHandler())
