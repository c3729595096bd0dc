"""GGUF model files (llama.cpp, Ollama, LM Studio, llama-cpp-python...).

GGUF carries no code, but two things in it run in every loader:

* its header is parsed by C/C++ code that sizes allocations from counts and lengths read from the file.
  The published llama.cpp heap overflows all came from trusting those numbers: ``n_kv``
  (CVE-2024-23605), ``n_tensors`` (CVE-2024-21836), string lengths (CVE-2024-23496), string arrays
  (CVE-2024-21825), tensor ``n_dims``/``ne`` (CVE-2024-21802), tensor byte sizes (CVE-2025-53630,
  CVE-2026-33298), alignment (GGML_PAD overflow) and array element types (vocab arrays read as float32);
* its ``tokenizer.chat_template`` (and ``tokenizer.chat_template.<name>``) is a Jinja program rendered by
  every chat loader: CVE-2024-34359 ran code through it. Templates go to
  :func:`mlvet.analysis.chat_template.analyse_template`.

The scan reads the header, the metadata and the tensor table only, through a small buffered reader that
bounds every count and length by the bytes left in the file *before* using it. The tensor data section
(gigabytes) is never read: tensor extents are checked arithmetically against the file size (exact Python
integers, so no overflow is possible here).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

from mlvet.analysis.chat_template import GGF707, MAX_TEMPLATE_CHARS
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, Window, register
from mlvet.formats.code_findings import report_template
from mlvet.model import Severity
from mlvet.rules import define_rule

MAGIC = b"GGUF"

GGF720 = define_rule(
    "GGF720", "gguf-parser-attack", Severity.HIGH,
    "The GGUF header declares counts, lengths, dimensions, types or alignment that cannot be real and "
    "match published llama.cpp parser exploits.",
    "GGUF loaders size memory from these numbers. Counts far beyond the file, string lengths near 2**64, "
    "more than 4 dimensions, byte sizes that overflow, or arrays of the wrong element type overflowed "
    "heap buffers in llama.cpp (CVE-2024-21802, -21825, -21836, -23496, -23605, CVE-2025-53630) and "
    "crash or compromise older or other loaders.",
    "Do not load the file. A GGUF written by a real converter never has these values.",
    787,
)
GGF721 = define_rule(
    "GGF721", "gguf-tensor-bounds", Severity.HIGH,
    "A GGUF tensor's data lies beyond the end of the file or overlaps another tensor.",
    "Loaders map tensor data by offset and size; an extent outside the file or shared between tensors "
    "makes them read out of bounds or alias memory (the heap out-of-bounds read family).",
    "Do not load the file; re-download it from its publisher (a truncated download also shows this).",
    125,
)
GGF722 = define_rule(
    "GGF722", "gguf-tensor-misaligned", Severity.MEDIUM,
    "A GGUF tensor offset is not a multiple of the file's alignment.",
    "Writers align every tensor; loaders that mmap and cast the data assume it. A misaligned offset is "
    "either corruption or crafted to break that assumption.",
    "Re-download the file from its publisher.",
    20,
)
GGF723 = define_rule(
    "GGF723", "gguf-inconsistent-metadata", Severity.MEDIUM,
    "GGUF metadata is inconsistent: duplicate keys or tensor names, zero-sized dimensions, tensor shapes "
    "that do not fit their quantisation blocks, or metadata values of the wrong type.",
    "Different loaders resolve duplicates and invalid shapes differently (one takes the first key, another "
    "the last, another crashes): what mlvet checks may not be what the loader uses.",
    "Re-download the file from its publisher, or reconvert it with a current converter.",
    20,
)
GGF724 = define_rule(
    "GGF724", "gguf-hidden-data", Severity.LOW,
    "The GGUF file holds bytes no tensor covers (gaps between tensors or data after the last one).",
    "Writers lay tensors out back to back with alignment padding only; unreferenced bytes can carry a "
    "payload for a second-stage loader (polyglot files). Embedded content is scanned by its own format.",
    "Review the file's origin; re-export it with a standard converter.",
    912,
)

#: GGUF metadata value types (gguf.md) → fixed size in bytes (None: string/array).
_VTYPE_SIZE: dict[int, int | None] = {
    0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 8: None, 9: None, 10: 8, 11: 8, 12: 8,
}
_VTYPE_NAME = {
    0: "uint8", 1: "int8", 2: "uint16", 3: "int16", 4: "uint32", 5: "int32", 6: "float32", 7: "bool",
    8: "string", 9: "array", 10: "uint64", 11: "int64", 12: "float64",
}
_VTYPE_FMT = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
_T_STRING = 8
_T_ARRAY = 9

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
_ATTACK_SLACK = 64 * 1024 * 1024
_CHUNK = 256 * 1024
_INT64_MAX = (1 << 63) - 1

#: Vocabulary arrays and the element types llama.cpp reads them as (it trusts the type: a shorter element
#: type makes it read past the array).
_VOCAB_ARRAYS = {
    "tokenizer.ggml.tokens": _T_STRING,
    "tokenizer.ggml.scores": 6,
    "tokenizer.ggml.token_type": 5,
    "tokenizer.ggml.merges": _T_STRING,
}


class _Truncated(Exception):
    """A read ran past the end of the file."""


class _Reader:
    """Little/big-endian GGUF primitives over a seekable stream, read through one bounded buffer."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        self.stream = stream
        self.size = size
        self.pos = 0
        self.order = "<"
        self.bytes_read = 0
        self._buf = b""
        self._buf_start = 0

    def remaining(self) -> int:
        return self.size - self.pos

    @property
    def buffer(self) -> bytes:
        return self._buf

    @property
    def buffer_start(self) -> int:
        return self._buf_start

    def window(self, n: int) -> int:
        """Make ``[pos, pos+n)`` available in the buffer; return its index there."""
        if n > self.remaining():
            raise _Truncated
        start = self.pos - self._buf_start
        if start < 0 or start + n > len(self._buf):
            self.stream.seek(self.pos)
            want = min(max(n, _CHUNK), self.remaining())
            self._buf = self.stream.read(want)
            self.bytes_read += len(self._buf)
            self._buf_start = self.pos
            if len(self._buf) < n:
                raise _Truncated
            start = 0
        return start

    def read(self, n: int) -> bytes:
        i = self.window(n)
        self.pos += n
        return self._buf[i : i + n]

    def skip(self, n: int) -> None:
        if n > self.remaining():
            raise _Truncated
        self.pos += n

    def unpack(self, fmt: str) -> int | float | bool:
        size = struct.calcsize(fmt)
        i = self.window(size)
        self.pos += size
        value: int | float | bool = struct.unpack_from(self.order + fmt, self._buf, i)[0]
        return value

    def u32(self) -> int:
        return int(self.unpack("I"))

    def u64(self) -> int:
        return int(self.unpack("Q"))


@dataclass(slots=True)
class _Value:
    """What is kept of one metadata value: its type, scalar value, array shape, or (short) string."""

    vtype: int
    offset: int
    scalar: int | float | bool | None = None
    text: str | None = None
    length: int = 0
    elem_type: int | None = None
    count: int = 0


@dataclass(slots=True)
class _Tensor:
    name: str
    dims: tuple[int, ...]
    ggml_type: int
    offset: int
    nbytes: int | None
    info_offset: int


class _Parser:
    """One GGUF header: version, metadata, tensor table, then the checks that need all of them."""

    def __init__(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        self.r = _Reader(stream, size)
        self.ctx = ctx
        self.size = size
        self.version = 0
        self.wide = True  # v2+: 64-bit counts and lengths; v1: 32-bit
        self.kv: dict[str, _Value] = {}
        self.templates: list[tuple[str, _Value]] = []

    # ---- primitives ---------------------------------------------------------------------------------

    def count(self) -> int:
        return self.r.u64() if self.wide else self.r.u32()

    def attack(self, message: str, evidence: str = "", offset: int | None = None) -> None:
        self.ctx.report(GGF720, message, offset=offset, evidence=evidence)

    def bound(self, what: str, n: int, unit: int, offset: int, cve: str) -> None:
        """Fail before using ``n`` if ``n`` items of at least ``unit`` bytes cannot fit in the file."""
        need = n * unit
        left = self.r.remaining()
        if need <= left:
            return
        if n >= 1 << 31 or need > self.size + _ATTACK_SLACK:
            self.attack(
                f"{what} of {n:,} needs at least {need:,} bytes but only {left:,} remain in the file: "
                f"a crafted size that overflows loader allocations ({cve})",
                evidence=f"{what}={n:#x} at offset {offset}",
                offset=offset,
            )
            raise AnalysisError(f"GGUF {what} {n:,} exceeds the file ({left:,} bytes left at offset {offset})")
        raise AnalysisError(f"truncated GGUF: {what} {n:,} runs past the end of the file (offset {offset})")

    def string_length(self, what: str, cve: str = "CVE-2024-23496") -> tuple[int, int]:
        at = self.r.pos
        n = self.count()
        self.bound(f"{what} length", n, 1, at, cve)
        return n, at

    def read_string(self, what: str, limit: int) -> tuple[str, int]:
        n, at = self.string_length(what)
        if n > limit:
            raise AnalysisError(f"GGUF {what} of {n:,} bytes at offset {at} exceeds {limit:,} bytes")
        return self.r.read(n).decode("utf-8", "replace"), n

    # ---- header and metadata ------------------------------------------------------------------------

    def parse(self) -> None:
        r = self.r
        if r.read(4) != MAGIC:
            raise AnalysisError("not a GGUF file (bad magic)")
        raw = r.read(4)
        version = int.from_bytes(raw, "little")
        if version not in (1, 2, 3) and int.from_bytes(raw, "big") in (1, 2, 3):
            r.order = ">"  # GGUF v3 allows big-endian files; the magic stays "GGUF"
            version = int.from_bytes(raw, "big")
        if version not in (1, 2, 3):
            raise AnalysisError(f"unsupported GGUF version {version} (known: 1, 2, 3)")
        self.version = version
        self.wide = version >= 2
        n_tensors_at = r.pos
        n_tensors = self.count()
        n_kv_at = r.pos
        n_kv = self.count()
        # Smallest possible entries: a KV is a key length, a type and a 1-byte value; a tensor info is a
        # name length, n_dims, type and offset.
        len_size = 8 if self.wide else 4
        self.bound("metadata count (n_kv)", n_kv, len_size + 4 + 1, n_kv_at, "CVE-2024-23605")
        self.bound("tensor count (n_tensors)", n_tensors, len_size + 4 + 4 + 8, n_tensors_at,
                   "CVE-2024-21836")
        for what, n, limit, at in (("metadata entries", n_kv, MAX_KV, n_kv_at),
                                   ("tensors", n_tensors, MAX_TENSORS, n_tensors_at)):
            if n > limit:  # fits in the file, but no model has that many: sized to exhaust loader memory
                self.attack(f"GGUF declares {n:,} {what} (real models have far fewer than {limit:,})",
                            evidence=f"{what}: {n:,} at offset {at}", offset=at)
                raise AnalysisError(f"GGUF declares {n:,} {what} (more than {limit:,})")
        for _ in range(n_kv):
            self.read_kv()
        tensors = [self.read_tensor_info() for _ in range(n_tensors)]
        self.check_vocab()
        alignment = self.alignment()
        for key, value in self.templates:  # every occurrence: a duplicate key may hide a second template
            self.analyse_template(key, value)
        self.check_tensors(tensors, alignment)

    def read_kv(self) -> None:
        key_at = self.r.pos
        key, _ = self.read_string("metadata key", MAX_KEY_BYTES)
        vtype = self.r.u32()
        value = self.read_value(key, vtype, 0, key_at)
        if key in self.kv:
            self.ctx.report(
                GGF723, f"GGUF metadata key {key!r} appears more than once (loaders disagree on which wins)",
                offset=key_at, evidence=f"key {key!r} at offsets {self.kv[key].offset} and {key_at}",
            )
        else:
            self.kv[key] = value
        if _is_template_key(key):
            if value.vtype == _T_STRING:
                self.templates.append((key, value))
            else:
                self.ctx.report(
                    GGF723, f"GGUF {key} is a {_VTYPE_NAME.get(value.vtype, value.vtype)}, not a string",
                    offset=key_at, evidence=f"{key}: type {value.vtype}",
                )

    def read_value(self, key: str, vtype: int, depth: int, key_at: int) -> _Value:
        r = self.r
        at = r.pos
        if vtype not in _VTYPE_SIZE:
            if vtype >= 1 << 16:
                self.attack(f"GGUF metadata {key!r} has value type {vtype:#x}: an out-of-range type index",
                            evidence=f"{key}: type {vtype:#x}", offset=key_at)
            raise AnalysisError(f"GGUF metadata {key!r} has unknown value type {vtype} (offset {key_at})")
        if vtype == _T_STRING:
            n, _ = self.string_length(f"string value of {key!r}")
            keep = n <= 256 or (_is_template_key(key) and n <= 4 * MAX_TEMPLATE_CHARS)
            text = r.read(n).decode("utf-8", "replace") if keep else None
            if text is None:
                r.skip(n)
            return _Value(vtype, at, text=text, length=n)
        if vtype == _T_ARRAY:
            if depth >= MAX_ARRAY_DEPTH:
                self.attack(
                    f"GGUF metadata {key!r} nests arrays more than {MAX_ARRAY_DEPTH} deep: exhausts the "
                    "recursion of readers that parse arrays recursively (gguf-py RecursionError)",
                    evidence=f"{key}: array depth > {MAX_ARRAY_DEPTH}", offset=key_at,
                )
                raise AnalysisError(f"GGUF metadata {key!r} nests arrays too deeply")
            elem_type = r.u32()
            count_at = r.pos
            n = self.count()
            if elem_type not in _VTYPE_SIZE:
                if elem_type >= 1 << 16:
                    self.attack(f"GGUF array {key!r} has element type {elem_type:#x}: an out-of-range type",
                                evidence=f"{key}: element type {elem_type:#x}", offset=key_at)
                raise AnalysisError(f"GGUF array {key!r} has unknown element type {elem_type}")
            unit = _VTYPE_SIZE[elem_type] or (8 if self.wide else 4) + (4 if elem_type == _T_ARRAY else 0)
            self.bound(f"array length of {key!r}", n, unit, count_at, "CVE-2024-21825")
            if elem_type == _T_STRING:
                self.skip_strings(n, key)
            elif elem_type == _T_ARRAY:
                for _ in range(n):
                    self.read_value(key, _T_ARRAY, depth + 1, key_at)
            else:
                r.skip(n * (_VTYPE_SIZE[elem_type] or 0))
            return _Value(vtype, at, elem_type=elem_type, count=n)
        return _Value(vtype, at, scalar=r.unpack(_VTYPE_FMT[vtype]))

    def skip_strings(self, n: int, key: str) -> None:
        """Step over ``n`` strings (vocabularies hold ~10^5), bounding each length by the file."""
        r = self.r
        lsize = 8 if self.wide else 4
        unpack_from = struct.Struct(r.order + ("Q" if self.wide else "I")).unpack_from
        done = 0
        while done < n:
            p = r.window(lsize)  # at least one length prefix is buffered
            buf, base, end, size = r.buffer, r.buffer_start, len(r.buffer), r.size
            # Walk every length prefix that lies in the buffer without per-string calls.
            while done < n and p + lsize <= end:
                length = unpack_from(buf, p)[0]
                nxt = p + lsize + length
                if base + nxt > size:
                    r.pos = base + p + lsize
                    self.bound(f"string length in array {key!r}", length, 1, base + p, "CVE-2024-21825")
                done += 1
                p = nxt
            r.pos = base + p

    def read_tensor_info(self) -> _Tensor:
        r = self.r
        info_at = r.pos
        name_len, name_at = self.string_length("tensor name")
        if name_len >= MAX_TENSOR_NAME:
            self.attack(
                f"GGUF tensor name of {name_len:,} bytes (llama.cpp allows {MAX_TENSOR_NAME - 1}): overflowed "
                "fixed name buffers in older loaders",
                evidence=f"tensor name length {name_len} at offset {name_at}", offset=name_at,
            )
            if name_len > MAX_KEY_BYTES:
                raise AnalysisError(f"GGUF tensor name of {name_len:,} bytes at offset {name_at}")
        name = r.read(name_len).decode("utf-8", "replace")
        n_dims = r.u32()
        if n_dims > MAX_DIMS:
            self.attack(
                f"GGUF tensor {name!r} declares {n_dims:,} dimensions (at most {MAX_DIMS}): overflows the "
                "loader's fixed ne[] array (CVE-2024-21802)",
                evidence=f"{name}: n_dims={n_dims} at offset {info_at}", offset=info_at,
            )
            raise AnalysisError(f"GGUF tensor {name!r} has {n_dims} dimensions (at most {MAX_DIMS})")
        dims = tuple(self.count() for _ in range(n_dims))
        ggml_type = r.u32()
        offset = r.u64()
        return _Tensor(name, dims, ggml_type, offset, None, info_at)

    # ---- consistency checks -------------------------------------------------------------------------

    def check_vocab(self) -> None:
        tokens = self.kv.get("tokenizer.ggml.tokens")
        for key, elem in _VOCAB_ARRAYS.items():
            value = self.kv.get(key)
            if value is None:
                continue
            if value.vtype != _T_ARRAY or value.elem_type != elem:
                got = _VTYPE_NAME.get(value.vtype, str(value.vtype))
                if value.vtype == _T_ARRAY:
                    got = f"array of {_VTYPE_NAME.get(value.elem_type or 0, value.elem_type)}"
                self.attack(
                    f"GGUF {key} is {got}, but loaders read it as an array of {_VTYPE_NAME[elem]}: "
                    "type confusion that reads past the array (heap out-of-bounds read)",
                    evidence=f"{key}: {got}", offset=value.offset,
                )
            elif tokens is not None and key != "tokenizer.ggml.merges" and tokens.vtype == _T_ARRAY \
                    and value.count != tokens.count:
                self.attack(
                    f"GGUF {key} has {value.count:,} entries for {tokens.count:,} tokens: loaders index it by "
                    "token id (out-of-bounds read)",
                    evidence=f"{key}: {value.count} entries; tokenizer.ggml.tokens: {tokens.count}",
                    offset=value.offset,
                )

    def alignment(self) -> int:
        value = self.kv.get("general.alignment")
        if value is None:
            return DEFAULT_ALIGNMENT
        if value.vtype != 4 or not isinstance(value.scalar, int):
            self.attack(
                f"GGUF general.alignment is a {_VTYPE_NAME.get(value.vtype, value.vtype)}, not uint32: "
                "loaders that read it as uint32 abort or misread it",
                evidence=f"general.alignment type {value.vtype}", offset=value.offset,
            )
            raise AnalysisError("GGUF general.alignment is not a uint32")
        align = value.scalar
        if align == 0 or align & (align - 1) or align > MAX_ALIGNMENT:
            self.attack(
                f"GGUF general.alignment is {align:#x}: zero, not a power of two or huge (division by zero "
                "and GGML_PAD overflow in loaders)",
                evidence=f"general.alignment={align:#x}", offset=value.offset,
            )
            raise AnalysisError(f"GGUF general.alignment {align} is invalid")
        return align

    def analyse_template(self, key: str, value: _Value) -> None:
        offset = value.offset
        if value.text is None:
            msg = f"{key}: chat template of {value.length:,} bytes is too large to analyse"
            self.ctx.report(GGF707, msg, offset=offset)
            self.ctx.error(msg)
            return
        report_template(value.text, self.ctx, where=key, offset=offset)

    def check_tensors(self, tensors: list[_Tensor], alignment: int) -> None:
        if not tensors:
            return
        ctx = self.ctx
        data_start = _align(self.r.pos, alignment)
        names: dict[str, int] = {}
        placed: list[_Tensor] = []
        for t in tensors:
            if t.name in names:
                ctx.report(GGF723, f"GGUF tensor name {t.name!r} appears more than once",
                           offset=t.info_offset, evidence=f"{t.name!r} at offsets {names[t.name]} and "
                           f"{t.info_offset}")
            names.setdefault(t.name, t.info_offset)
            t.nbytes = self.tensor_size(t)
            if t.nbytes is None:
                continue
            if t.offset % alignment:
                ctx.report(
                    GGF722, f"GGUF tensor {t.name!r} offset {t.offset:,} is not a multiple of the alignment "
                    f"{alignment}", offset=t.info_offset, evidence=f"{t.name}: offset {t.offset:#x}",
                )
            start = data_start + t.offset
            end = start + t.nbytes
            if end > self.size:
                ctx.report(
                    GGF721, f"GGUF tensor {t.name!r} data [{start:,}, {end:,}) extends beyond the end of the "
                    f"file ({self.size:,} bytes)", offset=t.info_offset,
                    evidence=f"{t.name}: {_shape(t)} {GGML_TYPES[t.ggml_type][0]} at data+{t.offset:#x}, "
                    f"{t.nbytes:,} bytes",
                )
                continue
            placed.append(t)
        placed.sort(key=lambda t: t.offset)
        covered_to = 0  # relative to data_start, aligned
        prev: _Tensor | None = None
        gaps = 0
        for t in placed:
            assert t.nbytes is not None
            if prev is not None and t.offset < prev.offset + (prev.nbytes or 0):
                ctx.report(
                    GGF721, f"GGUF tensors {prev.name!r} and {t.name!r} overlap", offset=t.info_offset,
                    evidence=f"{prev.name}: [{prev.offset:#x}, {prev.offset + (prev.nbytes or 0):#x}); "
                    f"{t.name}: [{t.offset:#x}, {t.offset + t.nbytes:#x})",
                )
            elif t.offset > covered_to:
                gaps += t.offset - covered_to
            covered_to = max(covered_to, _align(t.offset + t.nbytes, alignment))
            prev = t
        if gaps:
            ctx.report(GGF724, f"GGUF data section has {gaps:,} bytes between tensors that no tensor uses",
                       offset=data_start, evidence=f"{gaps} unreferenced bytes")
        end = data_start + covered_to
        if placed and self.size > end and len(placed) == len(tensors):
            extra = self.size - end
            ctx.report(GGF724, f"GGUF file has {extra:,} bytes after its last tensor", offset=end,
                       evidence=f"trailing data at offset {end:#x}")
            self.scan_trailing(end, extra)

    def scan_trailing(self, start: int, length: int) -> None:
        """Embedded content after the tensors is identified and scanned like any file (polyglots)."""
        window = Window(self.r.stream, start, length)
        self.ctx.child("<data after last tensor>", opaque_ok=True).scan_stream(
            window, length, "<data after last tensor>"  # type: ignore[arg-type]
        )

    def tensor_size(self, t: _Tensor) -> int | None:
        ctx = self.ctx
        info = GGML_TYPES.get(t.ggml_type)
        if info is None:
            if t.ggml_type >= 1 << 16:
                self.attack(
                    f"GGUF tensor {t.name!r} has ggml type {t.ggml_type:#x}: an out-of-range type index "
                    "(out-of-bounds read of the type table)", evidence=f"{t.name}: type {t.ggml_type:#x}",
                    offset=t.info_offset,
                )
            ctx.error(f"GGUF tensor {t.name!r} has unknown ggml type {t.ggml_type}; its size is not checked")
            return None
        type_name, block, type_size = info
        if any(d > _INT64_MAX for d in t.dims):
            self.attack(f"GGUF tensor {t.name!r} has a dimension above 2**63 (negative in loaders)",
                        evidence=f"{t.name}: {_shape(t)}", offset=t.info_offset)
            return None
        if any(d == 0 for d in t.dims):
            ctx.report(GGF723, f"GGUF tensor {t.name!r} has a zero-sized dimension (division by zero in "
                       "loaders' overflow checks)", offset=t.info_offset, evidence=f"{t.name}: {_shape(t)}")
            return 0
        n = 1
        for d in t.dims:
            n *= d
        if n > _INT64_MAX:
            self.attack(
                f"GGUF tensor {t.name!r} has {n:,} elements: the element count overflows 64-bit loaders",
                evidence=f"{t.name}: {_shape(t)}", offset=t.info_offset,
            )
            return None
        if t.dims and t.dims[0] % block:
            ctx.report(GGF723, f"GGUF tensor {t.name!r} first dimension {t.dims[0]} is not a multiple of the "
                       f"{type_name} block size {block}", offset=t.info_offset,
                       evidence=f"{t.name}: {_shape(t)} {type_name}")
            return None
        nbytes = n // block * type_size
        if nbytes > _INT64_MAX:
            self.attack(
                f"GGUF tensor {t.name!r} needs {nbytes:,} bytes: the byte size overflows loaders' size "
                "arithmetic (CVE-2025-53630, CVE-2026-33298 class)", evidence=f"{t.name}: {_shape(t)} {type_name}",
                offset=t.info_offset,
            )
            return None
        return nbytes


def _is_template_key(key: str) -> bool:
    return key == "tokenizer.chat_template" or key.startswith("tokenizer.chat_template.") \
        or key.endswith(".chat_template")


def _align(value: int, alignment: int) -> int:
    return value + (-value % alignment)


def _shape(t: _Tensor) -> str:
    return "[" + ", ".join(str(d) for d in t.dims) + "]"


class GgufHandler:
    """Recognised by the ``GGUF`` magic; everything after the tensor table is left unread."""

    id = "gguf"
    priority = 14

    def sniff(self, probe: Probe) -> bool:
        return probe.head.startswith(MAGIC)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        parser = _Parser(stream, size, ctx)
        try:
            parser.parse()
        except _Truncated:
            raise AnalysisError(
                f"truncated GGUF: the header ends at offset {parser.r.pos:,} of {size:,} bytes"
            ) from None


register(GgufHandler())
