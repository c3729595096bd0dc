"""OpenVINO IR: the ``.xml`` network description and its ``.bin`` weights.

An IR is an XML ``<net>`` of ``<layer type=... version=...>`` elements and ``<edges>``; ``Const`` layers
point at ``offset``/``size`` byte ranges of the ``.bin`` file beside it, which holds nothing but those raw
tensors. Layers whose ``version`` is an ``opsetN`` (or OpenVINO's internal and experimental sets) are
built-in kernels. The one code path is a layer from any other operation set: a *custom layer* that only
loads when the application registered an extension library (``core.add_extension``) implementing it —
native code outside the file, reported low (medium when the name suggests file, process or network
access). A plain IR is clean.

Parsing uses expat without DTD processing; an IR with a DOCTYPE or entities is left to the XML/PMML
handler, which reports entity tricks (OpenVINO's own parser ignores DTDs, other tools may not). The
``.bin`` has no header: it is recognised only as the sibling of an IR ``.xml`` with the same stem, and
checked to hold every range the IR declares (a shorter file means the pair does not belong together).
"""

from __future__ import annotations

import os
import re
from typing import BinaryIO
from xml.parsers import expat

from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.native_refs import reference_severity
from mlvet.model import Severity
from mlvet.rules import define_rule

OTH078 = define_rule(
    "OTH078", "openvino-custom-layer", Severity.LOW,
    "The OpenVINO IR uses layers outside OpenVINO's operation sets (custom layers from an extension).",
    "A custom layer runs native code of an extension library the application registers; the IR cannot be "
    "reviewed without it. Names suggesting file, process or network access are medium.",
    "Check which extension implements these layers and whether you trust it.",
    829,
)

_STANDARD_SET = re.compile(r"^(opset\d+|internal|ie_internal_opset|experimental|type_relaxed_opset)$")
_MAX_XML = 512 * 1024 * 1024
_MAX_LAYERS = 2_000_000
_CHUNK = 1 << 16


def looks_like_ir(head: bytes) -> bool:
    """An XML document whose root element is ``<net`` (no DTD: those go to the XML/PMML handler)."""
    text = head[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"<"):
        return False
    if b"<!DOCTYPE" in text or b"<!ENTITY" in text:
        return False
    body = re.sub(rb"^(<\?xml[^>]*\?>|<!--.*?-->|\s)*", b"", text, flags=re.S)
    return body.startswith((b"<net ", b"<net>", b"<net\n", b"<net\t"))


class _IR:
    def __init__(self) -> None:
        self.layers = 0
        self.custom: dict[str, int] = {}
        self.extent = 0
        self.versions: set[str] = set()
        self.net_version = ""

    def start(self, name: str, attrs: dict[str, str]) -> None:
        if name == "net" and not self.net_version:
            self.net_version = attrs.get("version", "?")
        elif name == "layer":
            self.layers += 1
            if self.layers > _MAX_LAYERS:
                raise LimitExceeded("max_layers", _MAX_LAYERS, f"OpenVINO IR holds more than {_MAX_LAYERS} layers")
            version = attrs.get("version")
            if version is not None and not _STANDARD_SET.match(version):
                label = f"{attrs.get('type', '?')} ({version})"
                self.custom[label] = self.custom.get(label, 0) + 1
        elif name == "data" and "offset" in attrs and "size" in attrs:
            try:
                end = int(attrs["offset"]) + int(attrs["size"])
            except ValueError:
                return
            self.extent = max(self.extent, end)


def parse_ir(stream: BinaryIO, size: int) -> _IR:
    """Walk an IR document (streaming expat, no DTD) and collect layers and weight ranges."""
    if size > _MAX_XML:
        raise LimitExceeded("max_xml_bytes", _MAX_XML, f"OpenVINO IR of {size} bytes is larger than {_MAX_XML}")
    ir = _IR()
    parser = expat.ParserCreate()
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def doctype(*_args: object) -> None:
        raise AnalysisError("OpenVINO IR declares a DTD after its first 4 KiB: not analysed (a DTD near the start "
                            "is checked by the XML handler)")

    parser.StartDoctypeDeclHandler = doctype
    parser.StartElementHandler = ir.start
    stream.seek(0)
    try:
        while True:
            chunk = stream.read(_CHUNK)
            parser.Parse(chunk, not chunk)
            if not chunk:
                break
    except expat.ExpatError as exc:
        raise AnalysisError(f"malformed OpenVINO IR at line {exc.lineno}: {expat.ErrorString(exc.code)}") from exc
    if not ir.net_version:
        raise AnalysisError("malformed OpenVINO IR: no <net> element")
    return ir


class OpenVinoIrHandler:
    """OpenVINO IR ``.xml``: custom layers are reported; the weights file is checked against the IR."""

    id = "openvino-ir"
    priority = 55

    def sniff(self, probe: Probe) -> bool:
        return looks_like_ir(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        ir = parse_ir(stream, size)
        if not ir.layers:
            raise AnalysisError("malformed OpenVINO IR: no layers")
        for label, n in sorted(ir.custom.items())[:50]:
            ctx.report(OTH078, f"custom layer {label} ×{n}: needs an extension library",
                       severity=reference_severity(label), evidence=label)


def _sibling_ir(path: str) -> str | None:
    stem, ext = os.path.splitext(path)
    if ext.lower() != ".bin":
        return None
    xml = stem + ".xml"
    try:
        with open(xml, "rb") as fh:
            return xml if looks_like_ir(fh.read(4096)) else None
    except OSError:
        return None


class OpenVinoWeightsHandler:
    """The ``.bin`` beside an IR: raw tensors, recognised by the IR that describes it (data only)."""

    id = "openvino-weights"
    priority = 85

    def sniff(self, probe: Probe) -> bool:
        path = getattr(probe.stream, "name", None)
        return isinstance(path, str) and _sibling_ir(path) is not None

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        path = getattr(stream, "name", "")
        xml = _sibling_ir(path) if isinstance(path, str) else None
        if xml is None:
            raise AnalysisError("OpenVINO weights: the IR beside this file disappeared")
        with open(xml, "rb") as fh:
            ir = parse_ir(fh, os.fstat(fh.fileno()).st_size)
        if ir.extent > size:
            raise AnalysisError(f"OpenVINO weights file holds {size} bytes but its IR reads up to byte {ir.extent}")


register(OpenVinoIrHandler())
register(OpenVinoWeightsHandler())
