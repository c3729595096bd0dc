"""TensorFlow Lite models (``.tflite``): a FlatBuffer with the file identifier ``TFL3`` at bytes 4..8.

TFLite builtin operators are fixed native kernels with no file, process or network access; what needs
review is the *custom* operator codes. A custom op is native code the application must register, and
``Flex<Op>`` custom ops run full TensorFlow operators through the Flex delegate — ``FlexReadFile``,
``FlexWriteFile`` or ``FlexPyFunc`` in a TFLite file do exactly what their TensorFlow counterparts do.
The operator codes are read by hand from the FlatBuffer (root table → vtable → vectors), with every
offset and length checked against the file, so a crafted file yields an ``error`` result, not a crash.
Tensor buffers are never read. Associated files that metadata tools append as a zip are scanned as a
zip archive.
"""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from importlib import resources
from typing import Any, BinaryIO

from mlvet.containers.flatbuf import FlatBuffer
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.tf_ops import TFG500, TFG502, TFG503, TFG504, classify_op, standard_ops
from mlvet.model import Severity
from mlvet.rules import Rule, define_rule

TFG509 = define_rule(
    "TFG509", "tflite-custom-op", Severity.LOW,
    "The TFLite model uses custom operators (not TFLite builtins and not Flex TensorFlow ops).",
    "A custom operator is native code that the application registers with the interpreter; the model "
    "cannot be reviewed without it. Names suggesting file, process or network access are medium.",
    "Check which library implements these operators and whether you trust it.",
    829,
)

IDENTIFIER = b"TFL3"
_CUSTOM = 32  # BuiltinOperator.CUSTOM
_MAX_VECTOR = 10_000_000
_MAX_OPTIONS = 1 << 20
_URL = re.compile(rb"(?:file|grpc)://[\x21-\x7e]{0,400}")
_SUSPICIOUS = re.compile(r"(?i)(file|read|write|exec|shell|system|popen|process|socket|http|url|download|upload|"
                         r"rpc|python|pyfunc|eval|command|spawn)")


@lru_cache(maxsize=1)
def builtin_names() -> dict[int, str]:
    """The TFLite builtin operator names, by opcode (from the schema's BuiltinOperator enum)."""
    text = resources.files("mlvet.formats").joinpath("data").joinpath("tflite_builtins.txt").read_text("utf-8")
    out: dict[int, str] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, name = line.split(None, 1)
            out[int(code)] = name.strip()
    return out


class _FlatBuffer(FlatBuffer):
    """The shared bounds-checked FlatBuffer reader, plus the position-based accessors the TFLite walk uses."""

    def __init__(self, stream: BinaryIO, size: int) -> None:
        super().__init__(stream, size, "TFLite model")

    def i8(self, pos: int) -> int:
        return int.from_bytes(self.read(pos, 1), "little", signed=True)

    def vector_at(self, pos: int, what: str, width: int = 4) -> tuple[int, int]:
        """(first element position, length) of the vector referenced at ``pos`` (``width``-byte elements)."""
        vec = self.deref(pos)
        n = self.u32(vec)
        if n > _MAX_VECTOR or vec + 4 + width * n > self.size:
            raise self.fail(f"{what} vector of {n} elements does not fit in the file", vec)
        return vec + 4, n

    def table_at(self, elem: int) -> int:
        return self.deref(elem)

    def string_at(self, pos: int, limit: int = 256) -> str:
        s = self.deref(pos)
        n = self.u32(s)
        if s + 4 + n > self.size:
            raise self.fail(f"string of {n} bytes runs past the end of the file", s)
        text = self.read(s + 4, min(n, limit)).decode("utf-8", "backslashreplace")
        return text + "…" if n > limit else text


def looks_like_tflite(head: bytes, size: int) -> bool:
    """True if ``head`` starts like a TFLite flatbuffer (the ``TFL3`` identifier)."""
    if len(head) < 16 or head[4:8] != IDENTIFIER:
        return False
    root = int.from_bytes(head[:4], "little")
    return 8 <= root < size


class TfliteHandler:
    """TFLite flatbuffers: operators and custom ops are listed; Flex (TensorFlow) ops are checked like graph ops."""
    id = "tflite"
    priority = 15

    def sniff(self, probe: Probe) -> bool:
        return looks_like_tflite(probe.head, probe.size)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        fb = _FlatBuffer(stream, size)
        root = fb.deref(0)
        version_at = fb.field(root, 0)
        version = fb.u32(version_at) if version_at is not None else 0
        codes_at = fb.field(root, 1)
        if codes_at is None:
            raise AnalysisError("malformed TFLite model: no operator_codes")
        first, count = fb.vector_at(codes_at, "operator_codes")
        codes: list[tuple[int, str]] = []
        for i in range(count):
            table = fb.table_at(first + 4 * i)
            deprecated = fb.field(table, 0)
            custom = fb.field(table, 1)
            builtin = fb.field(table, 3)
            code = max(fb.i8(deprecated) if deprecated is not None else 0,
                       fb.i32(builtin) if builtin is not None else 0)
            codes.append((code, fb.string_at(custom) if custom is not None else ""))
        usage = Counter[int]()
        operators = 0
        flex_urls: list[tuple[str, str]] = []
        subgraphs_at = fb.field(root, 2)
        if subgraphs_at is not None:
            sg_first, sg_count = fb.vector_at(subgraphs_at, "subgraphs")
            for s in range(sg_count):
                sg = fb.table_at(sg_first + 4 * s)
                ops_at = fb.field(sg, 3)
                if ops_at is None:
                    continue
                op_first, op_count = fb.vector_at(ops_at, "operators")
                for k in range(op_count):
                    op = fb.table_at(op_first + 4 * k)
                    idx_at = fb.field(op, 0)
                    idx = fb.u32(idx_at) if idx_at is not None else 0
                    if idx >= len(codes):
                        raise AnalysisError(f"malformed TFLite model: operator uses opcode {idx} of {len(codes)}")
                    usage[idx] += 1
                    operators += 1
                    if codes[idx][1].startswith("Flex") and len(flex_urls) < 64:
                        flex_urls.extend((codes[idx][1], u) for u in _flex_urls(fb, op))
        meta_names: list[str] = []
        meta_at = fb.field(root, 6)
        if meta_at is not None:
            m_first, m_count = fb.vector_at(meta_at, "metadata")
            for k in range(min(m_count, 64)):
                name_at = fb.field(fb.table_at(m_first + 4 * k), 0)
                if name_at is not None:
                    meta_names.append(fb.string_at(name_at, 128))
        _report(codes, usage, operators, version, meta_names, ctx)
        for flex_op, url in dict.fromkeys(flex_urls):
            rule = TFG502 if url.startswith("file://") else TFG503
            ctx.report(rule, f"{flex_op} is configured with {url[:200]!r} (file output or network stream)",
                       evidence=f"{flex_op} {url}"[:400])
        _scan_appended_zip(stream, size, ctx)


def _flex_urls(fb: _FlatBuffer, op: int) -> list[str]:
    """URLs inside a Flex op's custom_options (a FlexBuffer holding the op's serialized NodeDef).

    PrintV2 (``output_stream``) and the Debug ops (``debug_urls``) decide by attribute whether they write
    a file or open a stream; a byte search of the NodeDef finds those values without a FlexBuffer parser.
    """
    at = fb.field(op, 5)
    if at is None:
        return []
    first, n = fb.vector_at(at, "custom_options", 1)
    blob = fb.read(first, min(n, _MAX_OPTIONS))
    urls = []
    for m in _URL.finditer(blob):
        text = m.group(0)
        j = m.start()
        # In the NodeDef the value is AttrValue.s: tag 0x12 then a one-byte length right before it.
        if j >= 2 and blob[j - 2] == 0x12 and 7 <= blob[j - 1] <= len(text):
            text = text[: blob[j - 1]]
        urls.append(text.decode("utf-8", "replace"))
    return urls


def _report(codes: list[tuple[int, str]], usage: Counter[int], operators: int, version: int,
            meta_names: list[str], ctx: ScanContext) -> None:
    names = builtin_names()
    inventory: list[str] = []
    custom: list[str] = []
    for i, (code, custom_code) in enumerate(codes):
        if code == _CUSTOM or custom_code:
            label = custom_code or "<unnamed custom op>"
            if label.startswith("Flex"):
                _judge_flex(label[4:], ctx)
            else:
                custom.append(label)
        else:
            label = names.get(code, f"builtin#{code}")
        n = usage.get(i, 0)
        inventory.append(f"{label}×{n}" if n > 1 else label)
    msg = f"{operators} operators, {len(codes)} operator codes; schema version {version}"
    if meta_names:
        msg += f"; metadata {', '.join(meta_names[:10])}"
    ctx.report(TFG500, msg, evidence=", ".join(inventory)[:4000])
    for name in sorted(set(custom)):
        suspicious = bool(_SUSPICIOUS.search(name))
        ctx.report(TFG509, f"custom operator {name!r}", severity=Severity.MEDIUM if suspicious else None,
                   evidence=name)


def _judge_flex(op: str, ctx: ScanContext) -> None:
    found = classify_op(op)
    if found is not None:
        rule, sev, what = found
        ctx.report(rule, f"Flex (TensorFlow) operator {op} {what}", severity=sev, evidence=f"Flex{op}")
    elif op not in standard_ops():
        ctx.report(TFG504, f"Flex operator {op!r} is not a standard TensorFlow operator", evidence=f"Flex{op}")


def _scan_appended_zip(stream: BinaryIO, size: int, ctx: ScanContext) -> None:
    """TFLite metadata tools append associated files (labels, vocabularies) to the model as a zip."""
    from mlvet.containers.zipread import find_eocd_any
    from mlvet.formats.zip import ZipHandler

    stream.seek(max(0, size - 70_000))
    if b"PK\x05\x06" not in stream.read():
        return
    if find_eocd_any(stream, size) is None:
        return
    stream.seek(0)
    ctx.saw_format("zip")
    sub = _AppendedZipContext(ctx.path, ctx.policy, ctx.sink, (*ctx.members, "<associated files>"), ctx.depth + 1)
    ZipHandler().scan(stream, size, sub)


class _AppendedZipContext(ScanContext):
    """The zip's members are scanned as usual; only the "bytes before the zip" anomaly is dropped,
    because those bytes are the TFLite model itself, which was just analysed."""

    def report(self, rule: Rule, message: str, **kwargs: Any) -> None:
        if rule.id == "ARC300" and kwargs.get("evidence") == "prefix_bytes":
            return
        super().report(rule, message, **kwargs)


register(TfliteHandler())
