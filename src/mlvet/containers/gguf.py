"""The GGUF header reader shared by the scanner, the inventory and the trust commands.

GGUF (llama.cpp's format) is a fixed header, a key/value metadata table and a tensor table, then aligned
tensor data. Every count and length in it is read from the file, and loaders size allocations from them:
the published llama.cpp heap overflows all came from trusting those numbers. This reader bounds each count
and length by the bytes left in the file *before* using it, reads through one bounded buffer, keeps only the
values its caller asks for (a vocabulary of 10^5 strings is stepped over without per-string calls), and
never reads the tensor data.

It returns data, never findings: a :class:`GgufHeader`, plus the :class:`GgufAnomaly` list of what a
parser attack or an inconsistent writer would look like (the scanner turns them into findings). Anything
that stops the read raises :class:`GgufError`; the anomalies found up to that point, and the metadata read
so far, stay on the :class:`GgufReader` (the inventory keeps a truncated file's metadata).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, Literal

from mlvet.errors import AnalysisError

__all__ = [
    "DEFAULT_ALIGNMENT", "GGML_TYPES", "MAGIC", "MAX_ALIGNMENT", "MAX_DIMS", "MAX_KV", "MAX_TENSORS",
    "MAX_TENSOR_NAME", "T_ARRAY", "T_STRING", "VTYPE_NAME", "GgufAnomaly", "GgufError", "GgufHeader",
    "GgufReader", "GgufTensorInfo", "GgufTruncated", "GgufValue", "align",
]

MAGIC = b"GGUF"

#: GGUF metadata value types (ggml's GGUF specification) → fixed size in bytes (None: string/array).
VTYPE_SIZE: dict[int, int | None] = {
    0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: None, 9: None, 10: 8, 11: 8, 12: 8,
}
VTYPE_NAME = {
    0: "uint8", 1: "int8", 2: "uint16", 3: "int16", 4: "uint32", 5: "int32", 6: "float32", 7: "bool",
    8: "string", 9: "array", 10: "uint64", 11: "int64", 12: "float64",
}
VTYPE_FMT = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
T_UINT32 = 4
T_STRING = 8
T_ARRAY = 9

#: ggml tensor types: id -> (name, elements per block, bytes per block).
#: Source: ``gguf.constants.GGML_QUANT_SIZES`` / ``GGMLQuantizationType`` of the ``gguf`` package 0.19.0
#: (llama.cpp's gguf-py), copied by ``tests/assets/make_gguf.py --print-type-table``. Ids missing here were
#: removed upstream (Q4_2, Q4_3, the Q4_0_x_y / IQ4_NL_x_y repacks) or are newer than this table.
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("F32", 1, 4),
    1: ("F16", 1, 2),
    2: ("Q4_0", 32, 18),
    3: ("Q4_1", 32, 20),
    6: ("Q5_0", 32, 22),
    7: ("Q5_1", 32, 24),
    8: ("Q8_0", 32, 34),
    9: ("Q8_1", 32, 40),
    10: ("Q2_K", 256, 84),
    11: ("Q3_K", 256, 110),
    12: ("Q4_K", 256, 144),
    13: ("Q5_K", 256, 176),
    14: ("Q6_K", 256, 210),
    15: ("Q8_K", 256, 292),
    16: ("IQ2_XXS", 256, 66),
    17: ("IQ2_XS", 256, 74),
    18: ("IQ3_XXS", 256, 98),
    19: ("IQ1_S", 256, 50),
    20: ("IQ4_NL", 32, 18),
    21: ("IQ3_S", 256, 110),
    22: ("IQ2_S", 256, 82),
    23: ("IQ4_XS", 256, 136),
    24: ("I8", 1, 1),
    25: ("I16", 1, 2),
    26: ("I32", 1, 4),
    27: ("I64", 1, 8),
    28: ("F64", 1, 8),
    29: ("IQ1_M", 256, 56),
    30: ("BF16", 1, 2),
    34: ("TQ1_0", 256, 54),
    35: ("TQ2_0", 256, 66),
    39: ("MXFP4", 32, 17),
    40: ("NVFP4", 64, 36),
    41: ("Q1_0", 128, 18),
}

#: llama.cpp's GGML_MAX_DIMS: tensors have at most 4 dimensions (more overflowed ``ne[]``, CVE-2024-21802).
MAX_DIMS = 4
#: llama.cpp's GGML_MAX_NAME: longer tensor names overflowed fixed buffers in older loaders.
MAX_TENSOR_NAME = 64
DEFAULT_ALIGNMENT = 32
#: Larger alignments overflow GGML_PAD on 32-bit builds and trip asserts; writers use 32 (or 64).
MAX_ALIGNMENT = 1 << 16
#: Nesting of arrays inside arrays; the Python reference reader recurses per level (RecursionError DoS).
MAX_ARRAY_DEPTH = 8
#: Far more than any real model has, but finite, so tables of attacker-chosen size stay small.
MAX_KV = 1 << 16
MAX_TENSORS = 1 << 18
#: Key length bound (the spec says keys are short ASCII paths).
MAX_KEY_BYTES = 1 << 16
#: A declared size this far beyond the file is an allocation attack rather than a truncated download.
ATTACK_SLACK = 64 * 1024 * 1024
INT64_MAX = (1 << 63) - 1
_CHUNK = 256 * 1024


class GgufError(AnalysisError):
    """The header cannot be read (truncated, or a count, length or type that stops any reader)."""


class GgufTruncated(GgufError):
    """A read ran past the end of the file."""


@dataclass(frozen=True, slots=True)
class GgufAnomaly:
    """Something a loader would trip on: an ``attack`` shape (published parser exploits) or an
    ``inconsistent`` header (loaders disagree on it)."""

    kind: Literal["attack", "inconsistent"]
    message: str
    evidence: str
    offset: int | None


@dataclass(slots=True)
class GgufValue:
    """What is kept of one metadata value: its type, scalar value, array shape, or (kept) string."""

    vtype: int
    offset: int
    scalar: int | float | bool | None = None
    text: str | None = None
    length: int = 0
    elem_type: int | None = None
    count: int = 0
    #: The kept strings of a string array the caller asked for (see ``GgufReader.keep_arrays``).
    items: tuple[str, ...] = ()


@dataclass(slots=True)
class GgufTensorInfo:
    """One tensor table entry: ``dims`` in GGUF's order (innermost first), ``offset`` from the data start."""

    name: str
    dims: tuple[int, ...]
    ggml_type: int
    offset: int
    info_offset: int


@dataclass(slots=True)
class GgufHeader:
    """A whole GGUF header: version, byte order, metadata (first occurrence of each key), every
    ``(key, value)`` in file order (duplicates included), the tensor table and where the header ends."""

    version: int
    big_endian: bool
    kv: dict[str, GgufValue]
    pairs: list[tuple[str, GgufValue]]
    tensors: list[GgufTensorInfo]
    #: Offset just after the tensor table; tensor data starts at the next multiple of the alignment.
    header_end: int
    #: The version field read as little-endian (a big-endian file shows up as a huge number).
    raw_version: int = 0
    anomalies: list[GgufAnomaly] = field(default_factory=list)


class _Buffer:
    """Little/big-endian GGUF primitives over a seekable stream, read through one bounded buffer."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream = stream
        self.size = size
        self.pos = 0
        self.order = "<"
        self.bytes_read = 0
        self.buf = b""
        self.buf_start = 0

    def remaining(self) -> int:
        return self.size - self.pos

    def window(self, n: int) -> int:
        """Make ``[pos, pos+n)`` available in the buffer; return its index there."""
        if n > self.remaining():
            raise GgufTruncated(f"truncated GGUF: the header ends at offset {self.pos:,} of {self.size:,} bytes")
        start = self.pos - self.buf_start
        if start < 0 or start + n > len(self.buf):
            self.stream.seek(self.pos)
            want = min(max(n, _CHUNK), self.remaining())
            self.buf = self.stream.read(want)
            self.bytes_read += len(self.buf)
            self.buf_start = self.pos
            if len(self.buf) < n:
                raise GgufTruncated(f"truncated GGUF: the header ends at offset {self.pos:,} of {self.size:,} "
                                    "bytes")
            start = 0
        return start

    def read(self, n: int) -> bytes:
        i = self.window(n)
        self.pos += n
        return self.buf[i : i + n]

    def skip(self, n: int) -> None:
        if n > self.remaining():
            raise GgufTruncated(f"truncated GGUF: the header ends at offset {self.pos:,} of {self.size:,} bytes")
        self.pos += n

    def unpack(self, fmt: str) -> int | float | bool:
        size = struct.calcsize(fmt)
        i = self.window(size)
        self.pos += size
        value: int | float | bool = struct.unpack_from(self.order + fmt, self.buf, i)[0]
        return value

    def u32(self) -> int:
        return int(self.unpack("I"))

    def u64(self) -> int:
        return int(self.unpack("Q"))


def _keep_short(_key: str, n: int) -> bool:
    return n <= 256


class GgufReader:
    """Reads one GGUF header. ``keep_text(key, n)`` says which string values of ``n`` bytes to keep (others
    are stepped over); ``keep_arrays`` names string arrays whose first ``max_items`` strings (of at most 256
    bytes) are kept in :attr:`GgufValue.items`."""

    def __init__(
        self,
        stream: BinaryIO,
        size: int,
        *,
        keep_text: Callable[[str, int], bool] = _keep_short,
        keep_arrays: frozenset[str] = frozenset(),
        max_items: int = 0,
    ) -> None:
        self.r = _Buffer(stream, size)
        self.size = size
        self.keep_text = keep_text
        self.keep_arrays = keep_arrays
        self.max_items = max_items
        self.version = 0
        self.raw_version = 0
        self.wide = True  # v2+: 64-bit counts and lengths; v1: 32-bit
        #: The declared counts, once read (-1 before).
        self.n_kv = -1
        self.n_tensors = -1
        #: Filled as the header is read: what is here stays usable when the read stops early.
        self.kv: dict[str, GgufValue] = {}
        self.pairs: list[tuple[str, GgufValue]] = []
        self.tensors: list[GgufTensorInfo] = []
        self.anomalies: list[GgufAnomaly] = []

    @property
    def pos(self) -> int:
        """Offset of the next byte to read."""
        return self.r.pos

    @property
    def bytes_read(self) -> int:
        """Bytes actually read from the stream so far."""
        return self.r.bytes_read

    # ---- primitives ---------------------------------------------------------------------------------

    def _count(self) -> int:
        return self.r.u64() if self.wide else self.r.u32()

    def _attack(self, message: str, evidence: str = "", offset: int | None = None) -> None:
        self.anomalies.append(GgufAnomaly("attack", message, evidence, offset))

    def _bound(self, what: str, n: int, unit: int, offset: int, cve: str) -> None:
        """Fail before using ``n`` if ``n`` items of at least ``unit`` bytes cannot fit in the file."""
        need = n * unit
        left = self.r.remaining()
        if need <= left:
            return
        if n >= 1 << 31 or need > self.size + ATTACK_SLACK:
            self._attack(
                f"{what} of {n:,} needs at least {need:,} bytes but only {left:,} remain in the file: "
                f"a crafted size that overflows loader allocations ({cve})",
                evidence=f"{what}={n:#x} at offset {offset}",
                offset=offset,
            )
            raise GgufError(f"GGUF {what} {n:,} exceeds the file ({left:,} bytes left at offset {offset})")
        raise GgufError(f"truncated GGUF: {what} {n:,} runs past the end of the file (offset {offset})")

    def _string_length(self, what: str, cve: str = "CVE-2024-23496") -> tuple[int, int]:
        at = self.r.pos
        n = self._count()
        self._bound(f"{what} length", n, 1, at, cve)
        return n, at

    def _read_string(self, what: str, limit: int) -> str:
        n, at = self._string_length(what)
        if n > limit:
            raise GgufError(f"GGUF {what} of {n:,} bytes at offset {at} exceeds {limit:,} bytes")
        return self.r.read(n).decode("utf-8", "replace")

    # ---- header, metadata, tensor table -------------------------------------------------------------

    def read(self) -> GgufHeader:
        """Read the header, metadata and tensor table; raise :class:`GgufError` where that is impossible."""
        r = self.r
        if r.read(4) != MAGIC:
            raise GgufError("not a GGUF file (bad magic)")
        raw = r.read(4)
        version = int.from_bytes(raw, "little")
        self.raw_version = version
        if version not in (1, 2, 3) and int.from_bytes(raw, "big") in (1, 2, 3):
            r.order = ">"  # GGUF v3 allows big-endian files; the magic stays "GGUF"
            version = int.from_bytes(raw, "big")
        if version not in (1, 2, 3):
            raise GgufError(f"unsupported GGUF version {version} (known: 1, 2, 3)")
        self.version = version
        self.wide = version >= 2
        n_tensors_at = r.pos
        n_tensors = self._count()
        n_kv_at = r.pos
        n_kv = self._count()
        self.n_kv, self.n_tensors = n_kv, n_tensors
        # Smallest possible entries: a KV is a key length, a type and a 1-byte value; a tensor info is a
        # name length, n_dims, type and offset.
        len_size = 8 if self.wide else 4
        self._bound("metadata count (n_kv)", n_kv, len_size + 4 + 1, n_kv_at, "CVE-2024-23605")
        self._bound("tensor count (n_tensors)", n_tensors, len_size + 4 + 4 + 8, n_tensors_at, "CVE-2024-21836")
        for what, n, limit, at in (("metadata entries", n_kv, MAX_KV, n_kv_at),
                                   ("tensors", n_tensors, MAX_TENSORS, n_tensors_at)):
            if n > limit:  # fits in the file, but no model has that many: sized to exhaust loader memory
                self._attack(f"GGUF declares {n:,} {what} (real models have far fewer than {limit:,})",
                             evidence=f"{what}: {n:,} at offset {at}", offset=at)
                raise GgufError(f"GGUF declares {n:,} {what} (more than {limit:,})")
        for _ in range(n_kv):
            self._read_kv()
        for _ in range(n_tensors):
            self.tensors.append(self._read_tensor_info())
        return GgufHeader(self.version, r.order == ">", self.kv, self.pairs, self.tensors, r.pos,
                          self.raw_version, self.anomalies)

    def _read_kv(self) -> None:
        key_at = self.r.pos
        key = self._read_string("metadata key", MAX_KEY_BYTES)
        vtype = self.r.u32()
        value = self._read_value(key, vtype, 0, key_at)
        if key in self.kv:
            self.anomalies.append(GgufAnomaly(
                "inconsistent", f"GGUF metadata key {key!r} appears more than once (loaders disagree on which wins)",
                f"key {key!r} at offsets {self.kv[key].offset} and {key_at}", key_at,
            ))
        else:
            self.kv[key] = value
        self.pairs.append((key, value))

    def _read_value(self, key: str, vtype: int, depth: int, key_at: int) -> GgufValue:
        r = self.r
        at = r.pos
        if vtype not in VTYPE_SIZE:
            if vtype >= 1 << 16:
                self._attack(f"GGUF metadata {key!r} has value type {vtype:#x}: an out-of-range type index",
                             evidence=f"{key}: type {vtype:#x}", offset=key_at)
            raise GgufError(f"GGUF metadata {key!r} has unknown value type {vtype} (offset {key_at})")
        if vtype == T_STRING:
            n, _ = self._string_length(f"string value of {key!r}")
            text = r.read(n).decode("utf-8", "replace") if self.keep_text(key, n) else None
            if text is None:
                r.skip(n)
            return GgufValue(vtype, at, text=text, length=n)
        if vtype == T_ARRAY:
            if depth >= MAX_ARRAY_DEPTH:
                self._attack(
                    f"GGUF metadata {key!r} nests arrays more than {MAX_ARRAY_DEPTH} deep: exhausts the "
                    "recursion of readers that parse arrays recursively (gguf-py RecursionError)",
                    evidence=f"{key}: array depth > {MAX_ARRAY_DEPTH}", offset=key_at,
                )
                raise GgufError(f"GGUF metadata {key!r} nests arrays too deeply")
            elem_type = r.u32()
            count_at = r.pos
            n = self._count()
            if elem_type not in VTYPE_SIZE:
                if elem_type >= 1 << 16:
                    self._attack(f"GGUF array {key!r} has element type {elem_type:#x}: an out-of-range type",
                                 evidence=f"{key}: element type {elem_type:#x}", offset=key_at)
                raise GgufError(f"GGUF array {key!r} has unknown element type {elem_type}")
            unit = VTYPE_SIZE[elem_type] or (8 if self.wide else 4) + (4 if elem_type == T_ARRAY else 0)
            self._bound(f"array length of {key!r}", n, unit, count_at, "CVE-2024-21825")
            items: tuple[str, ...] = ()
            if elem_type == T_STRING and depth == 0 and key in self.keep_arrays:
                items = self._keep_strings(n)
            elif elem_type == T_STRING:
                self._skip_strings(n, key)
            elif elem_type == T_ARRAY:
                for _ in range(n):
                    self._read_value(key, T_ARRAY, depth + 1, key_at)
            else:
                r.skip(n * (VTYPE_SIZE[elem_type] or 0))
            return GgufValue(vtype, at, elem_type=elem_type, count=n, items=items)
        return GgufValue(vtype, at, scalar=r.unpack(VTYPE_FMT[vtype]))

    def _keep_strings(self, n: int) -> tuple[str, ...]:
        kept: list[str] = []
        for i in range(n):
            length, _ = self._string_length("string in array")
            if i < self.max_items and length <= 256:
                kept.append(self.r.read(length).decode("utf-8", "replace"))
            else:
                self.r.skip(length)
        return tuple(kept)

    def _skip_strings(self, n: int, key: str) -> None:
        """Step over ``n`` strings (vocabularies hold ~10^5), bounding each length by the file."""
        r = self.r
        lsize = 8 if self.wide else 4
        unpack_from = struct.Struct(r.order + ("Q" if self.wide else "I")).unpack_from
        done = 0
        while done < n:
            p = r.window(lsize)  # at least one length prefix is buffered
            buf, base, end, size = r.buf, r.buf_start, len(r.buf), r.size
            # Walk every length prefix that lies in the buffer without per-string calls.
            while done < n and p + lsize <= end:
                length = unpack_from(buf, p)[0]
                nxt = p + lsize + length
                if base + nxt > size:
                    r.pos = base + p + lsize
                    self._bound(f"string length in array {key!r}", length, 1, base + p, "CVE-2024-21825")
                done += 1
                p = nxt
            r.pos = base + p

    def _read_tensor_info(self) -> GgufTensorInfo:
        r = self.r
        info_at = r.pos
        name_len, name_at = self._string_length("tensor name")
        if name_len >= MAX_TENSOR_NAME:
            self._attack(
                f"GGUF tensor name of {name_len:,} bytes (llama.cpp allows {MAX_TENSOR_NAME - 1}): overflowed "
                "fixed name buffers in older loaders",
                evidence=f"tensor name length {name_len} at offset {name_at}", offset=name_at,
            )
            if name_len > MAX_KEY_BYTES:
                raise GgufError(f"GGUF tensor name of {name_len:,} bytes at offset {name_at}")
        name = r.read(name_len).decode("utf-8", "replace")
        n_dims = r.u32()
        if n_dims > MAX_DIMS:
            self._attack(
                f"GGUF tensor {name!r} declares {n_dims:,} dimensions (at most {MAX_DIMS}): overflows the "
                "loader's fixed ne[] array (CVE-2024-21802)",
                evidence=f"{name}: n_dims={n_dims} at offset {info_at}", offset=info_at,
            )
            raise GgufError(f"GGUF tensor {name!r} has {n_dims} dimensions (at most {MAX_DIMS})")
        dims = tuple(self._count() for _ in range(n_dims))
        ggml_type = r.u32()
        offset = r.u64()
        return GgufTensorInfo(name, dims, ggml_type, offset, info_at)


def align(value: int, alignment: int) -> int:
    """``value`` rounded up to a multiple of ``alignment``."""
    return value + (-value % alignment)
