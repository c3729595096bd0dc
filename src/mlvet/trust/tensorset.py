"""The tensor-set interface every tensor file reader implements, the dtype vocabulary they share, and
bounded byte streaming (chunks straight from a file or a stream, byte-swapped when the file is big-endian)."""

from __future__ import annotations

import array
import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from mlvet.errors import AnalysisError


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
