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

The scan reads the header, the metadata and the tensor table only, through the shared bounded reader
(:mod:`mlvet.containers.gguf`, which also serves the inventory and the trust commands) and turns what it
returns into findings. The tensor data section (gigabytes) is never read: tensor extents are checked
arithmetically against the file size (exact Python integers, so no overflow is possible here).
"""

from __future__ import annotations

from typing import BinaryIO

from mlvet.analysis.chat_template import GGF707, MAX_TEMPLATE_CHARS
from mlvet.containers.gguf import (
    DEFAULT_ALIGNMENT,
    GGML_TYPES,
    INT64_MAX,
    MAGIC,
    MAX_ALIGNMENT,
    MAX_KV,
    MAX_TENSORS,
    T_ARRAY,
    T_STRING,
    VTYPE_NAME,
    GgufAnomaly,
    GgufReader,
    GgufTensorInfo,
    GgufValue,
    align,
)
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, Window, register
from mlvet.formats.code_findings import report_template
from mlvet.model import Severity
from mlvet.rules import define_rule

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

#: Vocabulary arrays and the element types llama.cpp reads them as (it trusts the type: a shorter element
#: type makes it read past the array).
_VOCAB_ARRAYS = {
    "tokenizer.ggml.tokens": T_STRING,
    "tokenizer.ggml.scores": 6,
    "tokenizer.ggml.token_type": 5,
    "tokenizer.ggml.merges": T_STRING,
}

__all__ = ["GGML_TYPES", "MAGIC", "MAX_KV", "MAX_TENSORS", "GgufHandler"]


def _keep_text(key: str, n: int) -> bool:
    """Short strings, and chat templates up to what the template analysis accepts (with UTF-8 slack)."""
    return n <= 256 or (_is_template_key(key) and n <= 4 * MAX_TEMPLATE_CHARS)


class _Parser:
    """One GGUF header read by the shared reader, then the checks that need all of it."""

    def __init__(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        self.reader = GgufReader(stream, size, keep_text=_keep_text)
        self.stream = stream
        self.ctx = ctx
        self.size = size
        self.kv: dict[str, GgufValue] = {}

    def attack(self, message: str, evidence: str = "", offset: int | None = None) -> None:
        self.ctx.report(GGF720, message, offset=offset, evidence=evidence)

    def report_anomalies(self, anomalies: list[GgufAnomaly]) -> None:
        for a in anomalies:
            rule = GGF720 if a.kind == "attack" else GGF723
            self.ctx.report(rule, a.message, offset=a.offset, evidence=a.evidence)

    def parse(self) -> None:
        try:
            header = self.reader.read()
        finally:
            self.report_anomalies(self.reader.anomalies)
        self.kv = header.kv
        templates: list[tuple[str, GgufValue]] = []
        for key, value in header.pairs:
            if not _is_template_key(key):
                continue
            if value.vtype == T_STRING:
                templates.append((key, value))
            else:
                self.ctx.report(
                    GGF723, f"GGUF {key} is a {VTYPE_NAME.get(value.vtype, value.vtype)}, not a string",
                    offset=value.offset, evidence=f"{key}: type {value.vtype}",
                )
        self.check_vocab()
        alignment = self.alignment()
        for key, value in templates:  # every occurrence: a duplicate key may hide a second template
            self.analyse_template(key, value)
        self.check_tensors(header.tensors, header.header_end, alignment)

    # ---- consistency checks -------------------------------------------------------------------------

    def check_vocab(self) -> None:
        tokens = self.kv.get("tokenizer.ggml.tokens")
        for key, elem in _VOCAB_ARRAYS.items():
            value = self.kv.get(key)
            if value is None:
                continue
            if value.vtype != T_ARRAY or value.elem_type != elem:
                got = VTYPE_NAME.get(value.vtype, str(value.vtype))
                if value.vtype == T_ARRAY:
                    got = f"array of {VTYPE_NAME.get(value.elem_type or 0, value.elem_type)}"
                self.attack(
                    f"GGUF {key} is {got}, but loaders read it as an array of {VTYPE_NAME[elem]}: "
                    "type confusion that reads past the array (heap out-of-bounds read)",
                    evidence=f"{key}: {got}", offset=value.offset,
                )
            elif tokens is not None and key != "tokenizer.ggml.merges" and tokens.vtype == T_ARRAY \
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
                f"GGUF general.alignment is a {VTYPE_NAME.get(value.vtype, value.vtype)}, not uint32: "
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

    def analyse_template(self, key: str, value: GgufValue) -> None:
        offset = value.offset
        if value.text is None:
            msg = f"{key}: chat template of {value.length:,} bytes is too large to analyse"
            self.ctx.report(GGF707, msg, offset=offset)
            self.ctx.error(msg)
            return
        report_template(value.text, self.ctx, where=key, offset=offset)

    def check_tensors(self, tensors: list[GgufTensorInfo], header_end: int, alignment: int) -> None:
        if not tensors:
            return
        ctx = self.ctx
        data_start = align(header_end, alignment)
        names: dict[str, int] = {}
        placed: list[tuple[GgufTensorInfo, int]] = []
        for t in tensors:
            if t.name in names:
                ctx.report(GGF723, f"GGUF tensor name {t.name!r} appears more than once",
                           offset=t.info_offset, evidence=f"{t.name!r} at offsets {names[t.name]} and "
                           f"{t.info_offset}")
            names.setdefault(t.name, t.info_offset)
            nbytes = self.tensor_size(t)
            if nbytes is None:
                continue
            if t.offset % alignment:
                ctx.report(
                    GGF722, f"GGUF tensor {t.name!r} offset {t.offset:,} is not a multiple of the alignment "
                    f"{alignment}", offset=t.info_offset, evidence=f"{t.name}: offset {t.offset:#x}",
                )
            start = data_start + t.offset
            end = start + nbytes
            if end > self.size:
                ctx.report(
                    GGF721, f"GGUF tensor {t.name!r} data [{start:,}, {end:,}) extends beyond the end of the "
                    f"file ({self.size:,} bytes)", offset=t.info_offset,
                    evidence=f"{t.name}: {_shape(t)} {GGML_TYPES[t.ggml_type][0]} at data+{t.offset:#x}, "
                    f"{nbytes:,} bytes",
                )
                continue
            placed.append((t, nbytes))
        placed.sort(key=lambda tn: tn[0].offset)
        covered_to = 0  # relative to data_start, aligned
        prev: tuple[GgufTensorInfo, int] | None = None
        gaps = 0
        for t, nbytes in placed:
            if prev is not None and t.offset < prev[0].offset + prev[1]:
                p = prev[0]
                ctx.report(
                    GGF721, f"GGUF tensors {p.name!r} and {t.name!r} overlap", offset=t.info_offset,
                    evidence=f"{p.name}: [{p.offset:#x}, {p.offset + prev[1]:#x}); "
                    f"{t.name}: [{t.offset:#x}, {t.offset + nbytes:#x})",
                )
            elif t.offset > covered_to:
                gaps += t.offset - covered_to
            covered_to = max(covered_to, align(t.offset + nbytes, alignment))
            prev = (t, nbytes)
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
        window = Window(self.stream, start, length)
        self.ctx.child("<data after last tensor>", opaque_ok=True).scan_stream(
            window, length, "<data after last tensor>"  # type: ignore[arg-type]
        )

    def tensor_size(self, t: GgufTensorInfo) -> int | None:
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
        if any(d > INT64_MAX for d in t.dims):
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
        if n > INT64_MAX:
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
        if nbytes > INT64_MAX:
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


def _shape(t: GgufTensorInfo) -> str:
    return "[" + ", ".join(str(d) for d in t.dims) + "]"


class GgufHandler:
    """Recognised by the ``GGUF`` magic; everything after the tensor table is left unread."""

    id = "gguf"
    priority = 14

    def sniff(self, probe: Probe) -> bool:
        return probe.head.startswith(MAGIC)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        _Parser(stream, size, ctx).parse()


register(GgufHandler())
