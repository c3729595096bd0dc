"""One :class:`~mlvet.trust.tensorset.TensorSet` per tensor file format: safetensors and GGUF (headers read by
the shared readers in :mod:`mlvet.containers`), ``.npy``, ``.npz`` and pickle-based PyTorch checkpoints
(through :mod:`mlvet.trust.torchckpt`). Each locates every tensor exactly or refuses the file."""

from __future__ import annotations

import ast
import math
import re
import struct
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from mlvet.formats.numpy import has_object_dtype

if TYPE_CHECKING:
    from mlvet.containers.zipread import ZipArchive, ZipMember
from mlvet.trust.tensorset import (
    _DTYPE_BITS,
    _GGML_PLAIN,
    TensorFormatError,
    TensorInfo,
    TensorSet,
    _byteswapped,
    _check_dims,
    _iter_file,
    _iter_stream,
    _nbytes,
    canonical_dtype,
)

#: The safetensors library accepts headers up to 100 MB; parsed into Python objects that would cost
#: gigabytes, so mlvet stops at 16 MB (about 150,000 tensors in one file; real shards hold a few thousand).
_ST_MAX_HEADER = 16 * 1024 * 1024


class _SafetensorsSet(TensorSet):
    def __init__(self, path: Path, size: int) -> None:
        from mlvet.containers.safetensors import SafetensorsError, read_header

        self.format = "safetensors"
        self.path = path
        self._extent: dict[str, int] = {}
        with open(path, "rb") as fh:
            try:
                parsed = read_header(fh, size, limit=_ST_MAX_HEADER)
            except SafetensorsError as exc:
                if exc.kind == "short":
                    raise TensorFormatError("safetensors: file shorter than its 8-byte header length") from None
                if exc.kind in ("beyond-file", "over-limit"):
                    raise TensorFormatError(f"safetensors: header length {exc.length} exceeds the file or mlvet's "
                                            f"{_ST_MAX_HEADER >> 20} MB limit") from None
                if exc.kind == "not-object":
                    raise TensorFormatError("safetensors: header is not a JSON object") from None
                raise TensorFormatError(f"safetensors: header is not valid JSON ({exc})") from None
        if parsed.duplicates:
            raise TensorFormatError(f"safetensors header: duplicate key {parsed.duplicates[0]!r}")
        header = dict(parsed.entries)
        hlen = parsed.length
        base = 8 + hlen
        self.tensors = {}
        for name, entry in header.items():
            if name == "__metadata__":
                continue
            what = f"safetensors tensor {name!r}"
            if not isinstance(entry, dict) or not {"dtype", "shape", "data_offsets"} <= set(entry):
                raise TensorFormatError(f"{what}: entry lacks dtype/shape/data_offsets")
            raw_dtype, offsets = entry["dtype"], entry["data_offsets"]
            shape = _check_dims(entry["shape"], what)
            if not (isinstance(offsets, list) and len(offsets) == 2
                    and all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
                raise TensorFormatError(f"{what}: data_offsets {offsets!r} is not [begin, end]")
            begin, end = offsets
            if not isinstance(raw_dtype, str):
                raise TensorFormatError(f"{what}: dtype {raw_dtype!r} is not a string")
            if not 0 <= begin <= end or base + end > size:
                raise TensorFormatError(f"{what}: data [{begin}, {end}) lies outside the file ({size} bytes)")
            dtype = canonical_dtype(raw_dtype)
            nbytes = end - begin if dtype not in _DTYPE_BITS else _nbytes(dtype, shape, what)
            if nbytes != end - begin:
                raise TensorFormatError(f"{what}: {shape} {raw_dtype} needs {nbytes} bytes, the file gives "
                                        f"{end - begin}")
            self.tensors[name] = TensorInfo(name, dtype, shape, nbytes)
            self._extent[name] = base + begin

    def iter_bytes(self, name: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        info = self.tensors[name]
        return _iter_file(self.path, self._extent[name], info.nbytes, chunk, f"safetensors tensor {name!r}")


def _is_safetensors(head: bytes) -> bool:
    if len(head) < 9:
        return False
    (hlen,) = struct.unpack("<Q", head[:8])
    # An implausible length is still recognised (and then refused with a reason) when the JSON starts.
    return hlen >= 2 and head[8:9] == b"{"


class _GgufSet(TensorSet):
    """The tensor table of a GGUF file, read by the scanner's bounded reader (:mod:`mlvet.containers.gguf`).

    Stricter than the scanner, which reports what it can: a file whose tensors cannot all be located
    exactly (duplicate names, unknown types, extents past the end) is refused, since no comparison of it
    would be meaningful. Versions 2 and 3, little-endian, are what converters write today.
    """

    def __init__(self, path: Path, size: int) -> None:
        from mlvet.containers.gguf import GGML_TYPES, MAX_KV, MAX_TENSORS, T_UINT32, GgufError, GgufReader, align

        self.format = "gguf"
        self.path = path
        self.tensors = {}
        self._extent: dict[str, int] = {}
        with open(path, "rb") as fh:
            reader = GgufReader(fh, size)
            try:
                header = reader.read()
            except GgufError as exc:
                if reader.n_kv > min(size // 13, MAX_KV) or reader.n_tensors > min(size // 24, MAX_TENSORS):
                    raise TensorFormatError(
                        f"GGUF: {reader.n_kv} metadata entries / {reader.n_tensors} tensors cannot fit in a "
                        f"{size}-byte file or exceed mlvet's limits ({MAX_KV} / {MAX_TENSORS})") from None
                raise TensorFormatError(f"GGUF: {exc}") from None
        if header.version not in (2, 3) or header.big_endian:
            hint = " (a big-endian file?)" if header.raw_version > 0xFFFF else ""
            raise TensorFormatError(f"GGUF: version {header.raw_version} is not supported{hint}; versions 2 and 3 "
                                    "are")
        alignment = 32
        value = header.kv.get("general.alignment")
        if value is not None and value.vtype == T_UINT32 and isinstance(value.scalar, int):
            alignment = value.scalar
        if not 0 < alignment <= 1 << 16 or alignment % 8:
            raise TensorFormatError(f"GGUF: general.alignment {alignment} is invalid")
        data_start = align(header.header_end, alignment)
        for t in header.tensors:
            name, dims = t.name, t.dims
            what = f"GGUF tensor {name!r}"
            if name in self.tensors:
                raise TensorFormatError(f"{what}: the name appears twice")
            type_info = GGML_TYPES.get(t.ggml_type)
            if type_info is None:
                raise TensorFormatError(f"{what}: unknown ggml type {t.ggml_type}")
            type_name, block, type_size = type_info
            n = math.prod(dims)
            if dims and dims[0] % block:
                raise TensorFormatError(f"{what}: first dimension {dims[0]} is not a multiple of the {type_name} "
                                        f"block size {block}")
            nbytes = n // block * type_size
            start = data_start + t.offset
            if start + nbytes > size:
                raise TensorFormatError(f"{what}: data [{start}, {start + nbytes}) runs past the end of the file "
                                        f"({size} bytes)")
            self.tensors[name] = TensorInfo(name, _GGML_PLAIN.get(type_name, type_name), dims[::-1], nbytes)
            self._extent[name] = start

    def iter_bytes(self, name: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        info = self.tensors[name]
        return _iter_file(self.path, self._extent[name], info.nbytes, chunk, f"GGUF tensor {name!r}")


_NPY_MAGIC = b"\x93NUMPY"


_NPY_DESCR = re.compile(r"^([<>|=]?)([biufc?])(\d*)$")


_NPY_KINDS = {"i": "int", "u": "uint", "f": "float", "c": "complex"}


@dataclass(frozen=True)
class _NpyHeader:
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    header_bytes: int
    #: Byte-swap unit for big-endian data (0: already little-endian or single bytes).
    swap: int


def _parse_npy_header(stream: BinaryIO, what: str) -> _NpyHeader:
    """Read a ``.npy`` header from the stream's current position (the data follows it)."""
    head = stream.read(10)
    if len(head) < 10 or not head.startswith(_NPY_MAGIC):
        raise TensorFormatError(f"{what}: not a .npy array (bad magic or truncated header)")
    major = head[6]
    if major == 1:
        hlen, start = int.from_bytes(head[8:10], "little"), 10
    elif major in (2, 3):
        more = stream.read(2)
        if len(more) < 2:
            raise TensorFormatError(f"{what}: truncated .npy header")
        hlen, start = int.from_bytes(head[8:10] + more, "little"), 12
    else:
        raise TensorFormatError(f"{what}: unsupported .npy format version {major}")
    if hlen > 1 << 20:
        raise TensorFormatError(f"{what}: .npy header of {hlen} bytes is implausibly large")
    raw = stream.read(hlen)
    if len(raw) < hlen:
        raise TensorFormatError(f"{what}: truncated .npy header")
    try:
        # literal_eval parses literals only; it cannot call anything.
        header = ast.literal_eval(raw.decode("latin-1" if major < 3 else "utf-8"))
    except (ValueError, SyntaxError, UnicodeDecodeError, MemoryError, RecursionError):
        raise TensorFormatError(f"{what}: .npy header is not a valid Python literal") from None
    if not isinstance(header, dict) or not {"descr", "fortran_order", "shape"} <= set(header):
        raise TensorFormatError(f"{what}: .npy header lacks descr/fortran_order/shape")
    descr = header["descr"]
    if has_object_dtype(descr):
        raise TensorFormatError(f"{what}: object array refused (its data is a pickle, which mlvet never loads)")
    m = _NPY_DESCR.match(descr) if isinstance(descr, str) else None
    if m is None:
        raise TensorFormatError(f"{what}: dtype {descr!r} is not a plain numeric dtype (structured, string and "
                                "datetime arrays are not compared)")
    order, kind, digits = m.groups()
    size = 1 if kind in "?b" and not digits else int(digits or 0)
    # numpy spells bool '|b1' ('?' is an alias); int8 is 'i1'.
    dtype = ("bool" if size == 1 else f"b{size}") if kind in "?b" else f"{_NPY_KINDS[kind]}{size * 8}"
    if dtype not in _DTYPE_BITS or dtype == "complex32":
        raise TensorFormatError(f"{what}: dtype {descr!r} is not supported")
    shape = _check_dims(header["shape"], what)
    if header["fortran_order"] is True:
        # A Fortran-order array's bytes are the C-order bytes of its transpose: presenting it with the
        # reversed shape streams it without any reordering (and a diff against a C-order copy says so).
        shape = shape[::-1]
    swap = 0
    if order == ">" or (order == "=" and sys.byteorder == "big"):
        swap = size // 2 if kind == "c" else size
        if swap == 1:
            swap = 0
    return _NpyHeader(dtype, shape, _nbytes(dtype, shape, what), start + hlen, swap)


class _NpySet(TensorSet):
    #: A bare ``.npy`` holds one unnamed array; it gets this fixed name so two versions compare.
    NAME = "array"

    def __init__(self, path: Path, size: int) -> None:
        self.format = "npy"
        self.path = path
        with open(path, "rb") as fh:
            self._header = _parse_npy_header(fh, "npy")
        if self._header.header_bytes + self._header.nbytes > size:
            raise TensorFormatError(f"npy: truncated data ({size - self._header.header_bytes} bytes, the header "
                                    f"promises {self._header.nbytes})")
        self.tensors = {self.NAME: TensorInfo(self.NAME, self._header.dtype, self._header.shape,
                                              self._header.nbytes)}

    def iter_bytes(self, name: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        info = self.tensors[name]
        pieces = _iter_file(self.path, self._header.header_bytes, info.nbytes, chunk, "npy")
        return _byteswapped(pieces, self._header.swap, chunk) if self._header.swap else pieces


class _NpzSet(TensorSet):
    def __init__(self, fh: BinaryIO, archive: ZipArchive) -> None:
        self.format = "npz"
        self._fh = fh
        self._archive = archive
        self._members: dict[str, tuple[ZipMember, _NpyHeader]] = {}
        self.tensors = {}
        for member in archive.members:
            if member.is_dir or not member.name.endswith(".npy"):
                continue
            name = member.name.removesuffix(".npy")
            what = f"npz member {member.name!r}"
            if name in self.tensors:
                raise TensorFormatError(f"{what}: the name appears twice")
            with self._open(member) as stream:
                header = _parse_npy_header(stream, what)
            if header.header_bytes + header.nbytes != member.uncompressed_size:
                raise TensorFormatError(f"{what}: {member.uncompressed_size} bytes, the header promises "
                                        f"{header.header_bytes + header.nbytes}")
            self.tensors[name] = TensorInfo(name, header.dtype, header.shape, header.nbytes)
            self._members[name] = (member, header)

    def _open(self, member: ZipMember) -> BinaryIO:
        from mlvet.containers.zipread import ZipFormatError, ZipLimitError

        try:
            return self._archive.open(member, member.uncompressed_size)
        except (ZipFormatError, ZipLimitError) as exc:
            raise TensorFormatError(f"npz: {exc}") from None

    def iter_bytes(self, name: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        from mlvet.containers.zipread import ZipFormatError, ZipLimitError

        member, header = self._members[name]
        what = f"npz member {member.name!r}"
        try:
            with self._open(member) as stream:
                stream.read(header.header_bytes)
                pieces = _iter_stream(stream, header.nbytes, chunk, what)
                yield from _byteswapped(pieces, header.swap, chunk) if header.swap else pieces
        except (ZipFormatError, ZipLimitError) as exc:
            raise TensorFormatError(f"{what}: {exc}") from None

    def close(self) -> None:
        self._fh.close()


class _TorchSet(TensorSet):
    def __init__(self, path: Path) -> None:
        from mlvet.errors import MlvetError
        from mlvet.trust import torchckpt

        self.format = "pytorch"
        self._stack = ExitStack()
        try:
            self._ckpt = self._stack.enter_context(torchckpt.open_checkpoint(path))
            refs = dict(self._ckpt.tensors)
        except MlvetError as exc:
            self._stack.close()
            raise TensorFormatError(f"PyTorch checkpoint: {exc.diagnostics()}") from None
        self._refs = refs
        self.tensors = {}
        for name, ref in refs.items():
            dtype = canonical_dtype(str(ref.dtype))
            shape = tuple(int(d) for d in ref.shape)
            self.tensors[name] = TensorInfo(name, dtype, shape, _nbytes(dtype, shape, f"PyTorch tensor {name!r}"))

    def iter_bytes(self, name: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        from mlvet.errors import MlvetError

        try:
            yield from self._ckpt.iter_tensor_bytes(self._refs[name], chunk=chunk)
        except MlvetError as exc:
            if isinstance(exc, TensorFormatError):
                raise
            raise TensorFormatError(f"PyTorch tensor {name!r}: {exc.diagnostics()}") from None

    def close(self) -> None:
        self._stack.close()
