"""safetensors files: an 8-byte little-endian header length, a JSON header, then raw tensor bytes.

The format has no code path, which is why it is the recommended replacement for pickles. What remains is
the header: loaders (the Rust library, but also candle, JS and C++ readers that mmap the file and trust the
offsets) turn ``dtype``, ``shape`` and ``data_offsets`` into memory reads. This module checks what the
reference implementation checks, and reports each violation with what is wrong:

* header length within the file and under the library's 100 MB limit; UTF-8 JSON object starting with
  ``{``; no duplicate keys (parsers disagree on which wins);
* ``__metadata__`` a map of strings to strings;
* every tensor: a known dtype, a shape of non-negative integers, ``data_offsets`` ``[begin, end]`` with
  ``end - begin == prod(shape) × dtype bits / 8`` (sub-byte dtypes included), no arithmetic overflow;
* offsets inside the data section, sorted without overlaps, and covering it exactly: gaps and trailing
  bytes are reported and their content is scanned by format (a pickle hidden after the tensors is found).

Only the header is read, by the shared reader (:mod:`mlvet.containers.safetensors`): a clean multi-GB file
costs one ``read(8)`` and one ``read(N)``.
"""

from __future__ import annotations

import json
from typing import Any, BinaryIO

from mlvet.containers.safetensors import (
    DTYPE_BITS,
    MAX_HEADER,
    SafetensorsError,
    is_uint,
    read_header,
    sniff_length,
)
from mlvet.formats.base import Probe, ScanContext, Window, register
from mlvet.model import Severity
from mlvet.rules import define_rule

SFT800 = define_rule(
    "SFT800", "safetensors-out-of-bounds", Severity.HIGH,
    "A safetensors tensor's data_offsets point outside the file's data section (or end before they begin).",
    "Loaders that mmap the file and slice it by data_offsets read outside the mapping: a crash, or an "
    "out-of-bounds read of process memory in loaders without the reference library's checks.",
    "Do not load the file; re-download it from its publisher.",
    125,
)
SFT801 = define_rule(
    "SFT801", "safetensors-overlap", Severity.HIGH,
    "Two safetensors tensors share bytes of the data section.",
    "The reference library rejects overlapping tensors; other loaders alias the same memory as two "
    "tensors, which a crafted file uses to corrupt one tensor through another or confuse validators.",
    "Do not load the file; re-export it with the safetensors library.",
    119,
)
SFT802 = define_rule(
    "SFT802", "safetensors-size-mismatch", Severity.MEDIUM,
    "A safetensors tensor's byte span does not equal its shape × dtype size, or the size overflows.",
    "Loaders that trust shape and dtype read that many bytes from data_offsets' start: a larger tensor "
    "reads into its neighbour or past the file (high), a smaller one leaves bytes unaccounted for.",
    "Do not load the file; re-export it with the safetensors library.",
    130,
)
SFT803 = define_rule(
    "SFT803", "safetensors-hidden-data", Severity.MEDIUM,
    "The safetensors data section holds bytes no tensor covers (gaps or data after the last tensor).",
    "The reference library requires tensors to cover the data section exactly. Unreferenced bytes can "
    "carry a second payload (a polyglot); their content is scanned by format.",
    "Re-export the file with the safetensors library; review where it came from.",
    912,
)
SFT804 = define_rule(
    "SFT804", "safetensors-invalid-header", Severity.MEDIUM,
    "The safetensors header breaks the format: duplicate keys, non-string metadata, unknown dtypes, "
    "invalid shapes or offsets, or unexpected fields.",
    "The reference library rejects such headers; other parsers accept them and may disagree on what the "
    "file contains (for duplicate keys, one takes the first value and another the last).",
    "Re-export the file with the safetensors library.",
    20,
)
SFT805 = define_rule(
    "SFT805", "safetensors-header-size", Severity.HIGH,
    "The safetensors header length is beyond the file or the library's 100 MB limit.",
    "Parsers allocate the declared header size before reading it; a length near 2**64 or beyond the file "
    "is a memory-exhaustion or overflow attempt against parsers without the library's limit.",
    "Do not load the file.",
    789,
)

_TENSOR_FIELDS = frozenset({"dtype", "shape", "data_offsets"})
#: Regions of unreferenced bytes scanned for embedded content, per file.
_MAX_HIDDEN_SCANS = 8
_U64 = 1 << 64
#: Findings of one kind per file; the rest are counted in the last message.
_MAX_REPORTS = 20

__all__ = ["DTYPE_BITS", "MAX_HEADER", "SafetensorsHandler"]


class SafetensorsHandler:
    """Recognised by structure: a plausible 8-byte length followed by ``{``."""

    id = "safetensors"
    priority = 15

    def sniff(self, probe: Probe) -> bool:
        return sniff_length(probe.head) is not None

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        try:
            header = read_header(stream, size)
        except SafetensorsError as exc:
            n = exc.length or 0
            if exc.kind == "beyond-file" and n > MAX_HEADER:  # an allocation attack, not a truncated download
                ctx.report(SFT805, f"safetensors header length {n:,} exceeds the {size - 8:,} bytes after it",
                           offset=0, evidence=f"header length {n:#x}; file size {size}")
            elif exc.kind == "over-limit":
                ctx.report(SFT805, f"safetensors header of {n:,} bytes exceeds the library's {MAX_HEADER:,}-byte "
                           "limit", severity=Severity.MEDIUM, offset=0, evidence=f"header length {n:,}")
            raise
        if header.duplicates:
            shown = ", ".join(repr(k) for k in dict.fromkeys(header.duplicates[:10]))
            ctx.report(SFT804, f"safetensors header repeats keys ({shown}): parsers disagree on which value "
                       "wins", severity=Severity.HIGH, offset=8, evidence=f"duplicate keys: {shown}")
        _Checker(ctx, stream, size, header.length, list(header.entries)).run()
        from mlvet.formats.weight_outliers import report_safetensors_outliers  # backdoor heuristics (BKD101)

        report_safetensors_outliers(stream, size, 8 + header.length, list(header.entries), ctx)


class _Checker:
    def __init__(
        self, ctx: ScanContext, stream: BinaryIO, size: int, n: int, entries: list[tuple[str, Any]]
    ) -> None:
        self.ctx = ctx
        self.stream = stream
        self.size = size
        self.data_start = 8 + n
        self.data_len = size - 8 - n
        self.entries = entries
        self.counts: dict[str, int] = {}

    def report(self, rule: Any, message: str, evidence: str, severity: Severity | None = None) -> None:
        count = self.counts.get(rule.id, 0) + 1
        self.counts[rule.id] = count
        if count <= _MAX_REPORTS:
            self.ctx.report(rule, message, severity=severity, offset=8, evidence=evidence)

    def run(self) -> None:
        spans: list[tuple[int, int, str]] = []
        invalid = 0
        unplaced = 0
        for name, entry in self.entries:
            if name == "__metadata__":
                self.check_metadata(entry)
                continue
            span, valid = self.check_tensor(name, entry)
            invalid += not valid
            if span is None:
                unplaced += 1
            else:
                spans.append(span)
        if invalid:
            # Fail closed: a tensor mlvet could not fully validate leaves the file unverified.
            self.ctx.error(f"safetensors header has {invalid} invalid tensor entr{'y' if invalid == 1 else 'ies'}")
        # Coverage is only meaningful when every tensor's extent is known.
        self.check_layout(spans, coverage=unplaced == 0)
        for rule_id, count in self.counts.items():
            if count > _MAX_REPORTS:
                self.ctx.error(f"{count - _MAX_REPORTS} more {rule_id} problems not listed")

    def check_metadata(self, entry: Any) -> None:
        if not isinstance(entry, dict):
            self.report(SFT804, f"safetensors __metadata__ is a {_kind(entry)}, not a map of strings",
                        evidence=f"__metadata__: {_short(entry)}")
            return
        for key, value in entry.items():
            if not isinstance(value, str):
                self.report(SFT804, f"safetensors __metadata__[{key!r}] is a {_kind(value)}, not a string",
                            evidence=f"{key}: {_short(value)}")

    def check_tensor(self, name: str, entry: Any) -> tuple[tuple[int, int, str] | None, bool]:
        """Validate one entry: its byte span when its offsets are usable, and whether it is fully valid."""
        if not isinstance(entry, dict):
            self.report(SFT804, f"safetensors entry {name!r} is a {_kind(entry)}, not a tensor description",
                        evidence=f"{name}: {_short(entry)}")
            return None, False
        extra = set(entry) - _TENSOR_FIELDS
        if extra:
            self.report(SFT804, f"safetensors tensor {name!r} has unexpected fields {sorted(extra)}",
                        evidence=f"{name}: {_short(entry)}", severity=Severity.LOW)
        dtype = entry.get("dtype")
        shape = entry.get("shape")
        offsets = entry.get("data_offsets")
        ok = True
        if not isinstance(dtype, str) or dtype not in DTYPE_BITS:
            self.report(SFT804, f"safetensors tensor {name!r} has unknown dtype {_short(dtype)}",
                        evidence=f"{name}: dtype {_short(dtype)}")
            ok = False
        if not isinstance(shape, list) or not all(is_uint(d) for d in shape):
            self.report(SFT804, f"safetensors tensor {name!r} has an invalid shape {_short(shape)} "
                        "(must be a list of non-negative integers)", evidence=f"{name}: shape {_short(shape)}")
            ok = False
        if not isinstance(offsets, list) or len(offsets) != 2 or not all(is_uint(o) for o in offsets):
            self.report(SFT804, f"safetensors tensor {name!r} has invalid data_offsets {_short(offsets)} "
                        "(must be [begin, end] non-negative integers)",
                        evidence=f"{name}: data_offsets {_short(offsets)}")
            return None, False
        begin, end = int(offsets[0]), int(offsets[1])
        if end < begin or end > self.data_len or begin >= _U64 or end >= _U64:
            self.report(SFT800, f"safetensors tensor {name!r} data_offsets [{begin:,}, {end:,}] lie outside "
                        f"the {self.data_len:,}-byte data section", evidence=f"{name}: data_offsets "
                        f"[{begin}, {end}], data section [0, {self.data_len})")
            return None, ok
        if ok:
            assert isinstance(dtype, str) and isinstance(shape, list)
            self.check_size(name, dtype, shape, begin, end)
        return (begin, end, name), ok

    def check_size(self, name: str, dtype: str, shape: list[int], begin: int, end: int) -> None:
        count = 1
        for d in shape:
            count *= int(d)
        bits = count * DTYPE_BITS[dtype]
        span = end - begin
        where = f"{name}: shape {shape} × {dtype} vs data_offsets [{begin}, {end}] ({span} bytes)"
        if count >= _U64 or bits >= _U64:
            self.report(SFT802, f"safetensors tensor {name!r} shape {shape} overflows 64-bit size "
                        "arithmetic", evidence=where, severity=Severity.HIGH)
            return
        if bits % 8:
            self.report(SFT802, f"safetensors tensor {name!r} has {count:,} {dtype} elements, not a whole "
                        "number of bytes", evidence=where)
            return
        nbytes = bits // 8
        if nbytes > span:
            self.report(SFT802, f"safetensors tensor {name!r} needs {nbytes:,} bytes but spans {span:,}: "
                        "loaders that trust the shape read past it", evidence=where, severity=Severity.HIGH)
        elif nbytes < span:
            self.report(SFT802, f"safetensors tensor {name!r} needs {nbytes:,} bytes but spans {span:,}",
                        evidence=where)

    def check_layout(self, spans: list[tuple[int, int, str]], *, coverage: bool) -> None:
        spans.sort()
        covered = 0
        prev: tuple[int, int, str] | None = None
        hidden: list[tuple[int, int]] = []
        for begin, end, name in spans:
            if prev is not None and begin < prev[1]:
                self.report(SFT801, f"safetensors tensors {prev[2]!r} and {name!r} overlap",
                            evidence=f"{prev[2]}: [{prev[0]}, {prev[1]}); {name}: [{begin}, {end})")
            elif begin > covered:
                hidden.append((covered, begin))
            covered = max(covered, end)
            prev = (begin, end, name)
        if not coverage:
            return
        gap_bytes = sum(e - b for b, e in hidden)
        if gap_bytes:
            self.report(SFT803, f"safetensors data section has {gap_bytes:,} bytes between tensors that no "
                        f"tensor covers ({len(hidden)} gap{'s' if len(hidden) > 1 else ''})",
                        evidence=", ".join(f"[{b}, {e})" for b, e in hidden[:5]))
        if self.data_len > covered:
            self.report(SFT803, f"safetensors file has {self.data_len - covered:,} bytes after its last tensor",
                        evidence=f"data section [{covered}, {self.data_len}) unreferenced")
            hidden.append((covered, self.data_len))
        for b, e in hidden[:_MAX_HIDDEN_SCANS]:
            start = self.data_start + b
            label = f"<unreferenced bytes at {start}>"
            window = Window(self.stream, start, e - b)
            self.ctx.child(label, opaque_ok=True).scan_stream(window, e - b, label)  # type: ignore[arg-type]


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _short(value: Any, n: int = 120) -> str:
    """A bounded rendering of a header value (never serialises a huge value in full)."""
    text = _render(value, 0)
    return text if len(text) <= n else text[: n - 1] + "…"


def _render(value: Any, depth: int) -> str:
    if depth > 3:
        return "…"
    if isinstance(value, dict):
        items = [f"{json.dumps(str(k)[:40])}: {_render(v, depth + 1)}" for k, v in list(value.items())[:6]]
        return "{" + ", ".join(items) + (", …" if len(value) > 6 else "") + "}"
    if isinstance(value, list):
        items = [_render(v, depth + 1) for v in value[:8]]
        return "[" + ", ".join(items) + (", …" if len(value) > 8 else "") + "]"
    if isinstance(value, str):
        return json.dumps(value[:80], ensure_ascii=False) + ("…" if len(value) > 80 else "")
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"<{value.bit_length()}-bit integer>"
    return json.dumps(value)


register(SafetensorsHandler())
