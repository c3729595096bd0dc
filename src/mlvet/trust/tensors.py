"""Framework-free, streaming access to the tensors of a model: names, dtypes, shapes and raw bytes.

Why this exists: the tamper diff, the report card and the inventory need to know *what tensors a model
holds* (and, for the diff, their bytes) without loading any framework and without executing anything.
Each supported format is parsed from its header only; tensor bytes are read on demand, in bounded
chunks, straight from the file (safetensors, GGUF, ``.npy``), from a ZIP member stream (``.npz``) or
through the pickle engine's tensor references (PyTorch checkpoints, :mod:`mlvet.trust.torchckpt`), so
memory stays bounded whatever the model's size. Nothing is memory-mapped: mapped pages would count
against the process's resident memory.

Formats are recognised by content, never by extension:

* safetensors: an 8-byte little-endian header length followed by ``{``;
* GGUF: the ``GGUF`` magic (versions 2 and 3, little-endian);
* NumPy: the ``\\x93NUMPY`` magic; ``.npz`` is a ZIP whose members are ``.npy`` files;
* PyTorch: a ZIP with a ``<prefix>/data.pkl`` record, or a bare pickle (the legacy format);
* a folder or a ``*.index.json`` file with a ``weight_map``: a sharded model (any of the above per shard);
  a folder without an index is the union of its top-level tensor files (safetensors preferred when a
  folder holds both safetensors and pickle weights, as Hugging Face repositories often do).

Dtypes are reported in one vocabulary across formats (``float32``, ``bfloat16``, ``int8`` ...; the numpy
/ torch spelling), so a safetensors file and the PyTorch checkpoint it was converted from compare
tensor by tensor. GGUF quantised types keep their ggml name (``Q4_K``) and are opaque blocks of bytes.
:meth:`TensorSet.iter_bytes` always yields the C-order, little-endian bytes of a tensor.
"""

from __future__ import annotations

import array
import ast
import json
import math
import os
import re
import struct
import sys
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

from mlvet.errors import AnalysisError
from mlvet.formats.numpy import has_object_dtype

if TYPE_CHECKING:
    from mlvet.containers.zipread import ZipArchive, ZipMember

__all__ = [
    "TensorFormatError",
    "TensorInfo",
    "TensorSet",
    "canonical_dtype",
    "dtype_itemsize",
    "open_tensors",
    "rechunk",
]


class TensorFormatError(AnalysisError):
    """The input cannot be read as a set of tensors: unknown, malformed, truncated or refused."""


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as its file declares it."""

    #: The tensor's name in its file (state-dict key, safetensors key, GGUF tensor name, npz member).
    name: str
    #: Canonical dtype (``float32``, ``bfloat16``, ``int8`` ...) or an opaque format-specific name
    #: (GGUF ``Q4_K``) when the elements are not plain scalars.
    dtype: str
    #: Shape in C (row-major) order, outermost dimension first (GGUF's reversed ``ne`` order is undone).
    shape: tuple[int, ...]
    #: Bytes :meth:`TensorSet.iter_bytes` yields for it.
    nbytes: int

    @property
    def numel(self) -> int:
        """Number of elements (parameters) the shape declares."""
        return math.prod(self.shape)


class TensorSet(ABC):
    """The tensors of one model (one file, or the shards of one model), readable chunk by chunk.

    A context manager: :meth:`close` releases open files (PyTorch checkpoints, ``.npz`` archives). Opening
    reads headers only; bytes are read when :meth:`iter_bytes` is iterated.
    """

    #: Short format id: ``safetensors``, ``gguf``, ``npy``, ``npz``, ``pytorch``, or ``sharded:<format>``.
    format: str
    #: Tensors by name, in file order.
    tensors: dict[str, TensorInfo]

    @abstractmethod
    def iter_bytes(self, name: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        """The tensor's C-order little-endian bytes, in pieces of at most ``chunk`` bytes (exactly
        :attr:`TensorInfo.nbytes` in total). Raises :class:`TensorFormatError` on truncated data."""

    def parameter_count(self) -> int:
        """Total number of elements over all tensors (what model cards call parameters)."""
        return sum(t.numel for t in self.tensors.values())

    def close(self) -> None:
        """Release open files; iterating afterwards is an error."""
        return

    def __enter__(self) -> TensorSet:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


# ---- dtypes -----------------------------------------------------------------------------------------------

#: Bits per element of every canonical dtype.
_DTYPE_BITS: dict[str, int] = {
    "float64": 64, "float32": 32, "float16": 16, "bfloat16": 16,
    "float8_e4m3fn": 8, "float8_e5m2": 8, "float8_e4m3fnuz": 8, "float8_e5m2fnuz": 8, "float8_e8m0fnu": 8,
    "float4_e2m1fn": 4, "float6_e2m3fn": 6, "float6_e3m2fn": 6,
    "int64": 64, "int32": 32, "int16": 16, "int8": 8,
    "uint64": 64, "uint32": 32, "uint16": 16, "uint8": 8,
    "bool": 8, "complex128": 128, "complex64": 64, "complex32": 32,
}

_SAFETENSORS_DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2", "F8_E8M0": "float8_e8m0fnu",
    "F6_E2M3": "float6_e2m3fn", "F6_E3M2": "float6_e3m2fn", "F4": "float4_e2m1fn",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8",
    "BOOL": "bool", "C64": "complex64",
}

#: Torch spellings (``torch.float``, legacy ``FloatStorage`` class names) and short aliases.
_ALIASES = {
    "float": "float32", "double": "float64", "half": "float16", "long": "int64", "int": "int32",
    "short": "int16", "char": "int8", "byte": "uint8", "cfloat": "complex64", "cdouble": "complex128",
    "chalf": "complex32", "complexfloat": "complex64", "complexdouble": "complex128",
    "f4": "float32", "f8": "float64", "f2": "float16", "bf16": "bfloat16",
}

_GGML_PLAIN = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "I8": "int8", "I16": "int16", "I32": "int32", "I64": "int64",
}


def canonical_dtype(name: str) -> str:
    """The canonical spelling of a dtype written by torch, safetensors or GGUF (unknown names unchanged)."""
    if name in _SAFETENSORS_DTYPES:
        return _SAFETENSORS_DTYPES[name]
    text = name.removeprefix("torch.")
    if text.endswith("Storage"):  # legacy storage class names: FloatStorage, BFloat16Storage ...
        text = text.removesuffix("Storage")
    low = text.lower()
    if low in _DTYPE_BITS:
        return low
    return _ALIASES.get(low, name)


def dtype_itemsize(dtype: str) -> int | None:
    """Bytes per element of a canonical byte-aligned dtype; None for sub-byte or opaque dtypes."""
    bits = _DTYPE_BITS.get(dtype)
    if bits is None or bits % 8:
        return None
    return bits // 8


def _nbytes(dtype: str, shape: tuple[int, ...], what: str) -> int:
    bits = _DTYPE_BITS.get(dtype)
    if bits is None:
        raise TensorFormatError(f"{what}: unknown dtype {dtype!r}")
    total = math.prod(shape) * bits
    if total % 8:
        raise TensorFormatError(f"{what}: {math.prod(shape)} elements of {dtype} do not fill whole bytes")
    return total // 8


# ---- byte streaming helpers -------------------------------------------------------------------------------


def rechunk(pieces: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Re-cut a byte stream into pieces of exactly ``size`` bytes (the last may be shorter).

    Two tensors compared element by element must be cut at the same offsets, and a cut must never split
    an element; different sources yield differently sized pieces, so the diff re-cuts both.
    """
    if size <= 0:
        raise ValueError("size must be positive")
    buf = bytearray()
    for piece in pieces:
        if not buf and len(piece) == size:
            yield bytes(piece)
            continue
        buf += piece
        while len(buf) >= size:
            yield bytes(buf[:size])
            del buf[:size]
    if buf:
        yield bytes(buf)


def _iter_file(path: Path, offset: int, length: int, chunk: int, what: str) -> Iterator[bytes]:
    chunk = max(1, chunk)
    with open(path, "rb", buffering=0) as fh:
        fh.seek(offset)
        left = length
        while left > 0:
            data = fh.read(min(chunk, left))
            if not data:
                raise TensorFormatError(f"{what}: data truncated ({length - left} of {length} bytes present)")
            left -= len(data)
            yield data


def _iter_stream(stream: BinaryIO, length: int, chunk: int, what: str) -> Iterator[bytes]:
    chunk = max(1, chunk)
    left = length
    while left > 0:
        data = stream.read(min(chunk, left))
        if not data:
            raise TensorFormatError(f"{what}: data truncated ({length - left} of {length} bytes present)")
        left -= len(data)
        yield data


def _byteswapped(pieces: Iterator[bytes], unit: int, chunk: int) -> Iterator[bytes]:
    """Big-endian elements to little-endian, ``unit`` bytes at a time (complex numbers swap per half)."""
    code = {2: "H", 4: "I", 8: "Q"}[unit]
    for piece in rechunk(pieces, max(unit, chunk - chunk % unit)):
        arr = array.array(code)
        arr.frombytes(piece)
        arr.byteswap()
        yield arr.tobytes()


def _check_dims(shape: object, what: str) -> tuple[int, ...]:
    if not isinstance(shape, (list, tuple)) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise TensorFormatError(f"{what}: shape {shape!r} is not a list of non-negative integers")
    if len(shape) > 64:
        raise TensorFormatError(f"{what}: {len(shape)} dimensions")
    return tuple(shape)


# ---- safetensors ------------------------------------------------------------------------------------------

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


# ---- GGUF -------------------------------------------------------------------------------------------------


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


# ---- NumPy ------------------------------------------------------------------------------------------------

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


# ---- PyTorch (through the pickle engine) ------------------------------------------------------------------


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


# ---- shards -----------------------------------------------------------------------------------------------


class _ShardedSet(TensorSet):
    """Several tensor files that together form one model (Hugging Face sharded checkpoints)."""

    def __init__(self, shards: list[TensorSet], label: str) -> None:
        self._shards = shards
        self._owner: dict[str, TensorSet] = {}
        self.tensors = {}
        formats = sorted({s.format for s in shards})
        self.format = f"sharded:{'+'.join(formats)}"
        for shard in shards:
            for name, info in shard.tensors.items():
                if name in self.tensors:
                    self.close()
                    raise TensorFormatError(f"{label}: tensor {name!r} appears in more than one shard")
                self.tensors[name] = info
                self._owner[name] = shard

    def iter_bytes(self, name: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        return self._owner[name].iter_bytes(name, chunk)

    def close(self) -> None:
        for shard in self._shards:
            shard.close()


_MAX_INDEX_BYTES = 16 * 1024 * 1024


def _read_index(path: Path) -> dict[str, str] | None:
    """The ``weight_map`` of a sharded-checkpoint index, or None if the file is not one."""
    try:
        if path.stat().st_size > _MAX_INDEX_BYTES:
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()
    ):
        return None
    return weight_map


def _open_index(index: Path, weight_map: dict[str, str]) -> TensorSet:
    folder = index.parent.resolve()
    shard_names = list(dict.fromkeys(weight_map.values()))
    sets: list[TensorSet] = []
    try:
        for shard in shard_names:
            target = (folder / shard).resolve()
            if Path(shard).is_absolute() or not target.is_relative_to(folder):
                raise TensorFormatError(f"{index.name}: shard {shard!r} lies outside the model folder")
            if not target.is_file():
                raise TensorFormatError(f"{index.name}: shard {shard!r} is missing")
            sets.append(_open_file(target))
        combined = _ShardedSet(sets, index.name)
    except BaseException:
        for s in sets:
            s.close()
        raise
    for name, shard in weight_map.items():
        if name not in combined.tensors:
            combined.close()
            raise TensorFormatError(f"{index.name}: tensor {name!r} is listed in shard {shard!r} but absent")
    return combined


def _open_folder(folder: Path) -> TensorSet:
    indexes = sorted(p for p in folder.iterdir() if p.name.endswith(".index.json") and p.is_file())
    # safetensors first: a Hugging Face repository with both formats holds the same weights twice.
    indexes.sort(key=lambda p: "safetensors" not in p.name)
    for index in indexes:
        weight_map = _read_index(index)
        if weight_map is not None:
            return _open_index(index, weight_map)
    found: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_file():
            kind = _sniff(entry)
            if kind is not None and kind != "index":
                found.setdefault(kind, []).append(entry)
    # "zip" is a PyTorch checkpoint or an .npz; "pytorch" a bare-pickle (legacy) checkpoint.
    for kind in ("safetensors", "zip", "pytorch", "gguf", "npy"):
        files = found.get(kind)
        if files:
            sets: list[TensorSet] = []
            try:
                for f in files:
                    try:
                        sets.append(_open_file(f))
                    except TensorFormatError as exc:
                        raise TensorFormatError(f"{f.name}: {exc.diagnostics()} (pass the model file itself "
                                                "rather than its folder to compare only that file)") from None
                return sets[0] if len(sets) == 1 else _ShardedSet(sets, str(folder))
            except BaseException:
                for s in sets:
                    s.close()
                raise
    raise TensorFormatError(f"{folder}: no tensor files (safetensors, PyTorch, GGUF, NumPy) in this folder")


# ---- detection --------------------------------------------------------------------------------------------


def _sniff(path: Path) -> str | None:
    """The tensor format of a file by its content, or None."""
    from mlvet.containers.zipread import looks_like_zip

    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return None
    if head.startswith(b"GGUF"):
        return "gguf"
    if head.startswith(_NPY_MAGIC):
        return "npy"
    if _is_safetensors(head):
        return "safetensors"
    if looks_like_zip(head):
        return "zip"
    if head[:1] == b"\x80" or head[257:262] == b"ustar":  # pickle PROTO: legacy torch.save; tar: pre-0.4
        return "pytorch"
    if head.lstrip()[:1] == b"{" and _read_index(path) is not None:
        return "index"
    return None


def _open_file(path: Path) -> TensorSet:
    kind = _sniff(path)
    size = path.stat().st_size
    if kind == "gguf":
        return _GgufSet(path, size)
    if kind == "npy":
        return _NpySet(path, size)
    if kind == "safetensors":
        return _SafetensorsSet(path, size)
    if kind == "pytorch":
        return _TorchSet(path)
    if kind == "index":
        weight_map = _read_index(path)
        assert weight_map is not None
        return _open_index(path, weight_map)
    if kind == "zip":
        return _open_zip(path, size)
    raise TensorFormatError(f"{path.name}: not a recognised tensor file (safetensors, PyTorch, GGUF, .npy or "
                            ".npz, recognised by content)")


def _open_zip(path: Path, size: int) -> TensorSet:
    from mlvet.containers.zipread import ZipArchive, ZipFormatError, ZipLimitError

    fh = open(path, "rb")  # noqa: SIM115  (owned by the returned set, closed by its close())
    try:
        try:
            archive = ZipArchive(fh, size)
        except (ZipFormatError, ZipLimitError) as exc:
            raise TensorFormatError(f"{path.name}: unreadable ZIP archive ({exc})") from None
        if archive.torch_record("data.pkl") is not None:
            fh.close()
            return _TorchSet(path)
        if any(m.name.endswith(".npy") for m in archive.members):
            return _NpzSet(fh, archive)
    except BaseException:
        fh.close()
        raise
    fh.close()
    raise TensorFormatError(f"{path.name}: a ZIP archive that is neither a PyTorch checkpoint nor an .npz")


def open_tensors(path: str | os.PathLike[str]) -> TensorSet:
    """Open a model file or folder as a :class:`TensorSet`, recognising the format by content.

    Reads headers only. Raises :class:`TensorFormatError` (an :class:`~mlvet.errors.AnalysisError`) for
    missing, unrecognised, malformed or refused input, with a message a user can act on.
    """
    p = Path(path)
    try:
        if p.is_dir():
            return _open_folder(p)
        if not p.is_file():
            raise TensorFormatError(f"{p}: no such file or folder")
        return _open_file(p)
    except OSError as exc:
        raise TensorFormatError(f"{p}: cannot read ({exc.strerror or exc})") from None
    except RecursionError:
        raise TensorFormatError(f"{p}: nesting too deep") from None
