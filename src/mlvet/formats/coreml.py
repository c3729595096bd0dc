"""Core ML models: the ``.mlmodel`` protobuf ``Model`` and the weight blobs of an ``.mlpackage``.

A ``.mlmodel`` (alone, or as ``Data/com.apple.CoreML/model.mlmodel`` inside an ``.mlpackage`` folder) is
one protobuf ``Model``: a spec version, a description and exactly one model type (a neural network, an ML
program, tree ensembles, pipelines of nested models ...). Core ML's layers, MIL operations and classic
models are Apple's own kernels; the code paths a model file really has are the ones that make the
framework instantiate an Objective-C/Swift class *named by the file*:

* a neural-network layer of type ``custom`` (``CustomLayerParams.className``): Core ML looks the class up
  with ``NSClassFromString`` and calls its ``MLCustomLayer`` methods;
* a ``customModel`` (``CustomModel.className``): the whole model is that class (``MLCustomModel``).

The class must already be linked into the app, so this is reported low (medium when the name suggests
file, process or network access); nested networks (branch and loop layers) and pipeline members are
walked too. A ``linkedModel`` names another compiled model file; a path that is absolute or climbs out
with ``..`` is medium. The weight file of an ML program (``weights/weight.bin``, the MIL blob storage
format: a header, then ``0xDEADBEEF``-tagged blob records) is data only; its records are checked against
the file. The package's ``Manifest.json`` lists the items Core ML resolves under ``Data/``; an item path
that is absolute or climbs out with ``..`` is medium, and a root model that is not listed is an error.
"""

from __future__ import annotations

import json
import struct
from typing import Any, BinaryIO

from mlvet.analysis.protowire import LEN, VARINT, Message, WireReader
from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.native_refs import reference_severity
from mlvet.model import Severity
from mlvet.rules import define_rule

OTH070 = define_rule(
    "OTH070", "coreml-custom-class", Severity.LOW,
    "The Core ML model names an Objective-C/Swift class to run: a custom layer or a custom model.",
    "Core ML instantiates the named class (NSClassFromString) and calls it for every prediction; the class "
    "is app code, not in the file, so the model cannot be reviewed without it. Names suggesting file, "
    "process or network access are medium.",
    "Check which class implements the layer or model and whether you trust it.",
    470,
)
OTH071 = define_rule(
    "OTH071", "coreml-path-escape", Severity.MEDIUM,
    "A Core ML linked model or .mlpackage item points at a file outside the model's folder (absolute or '..').",
    "Core ML loads the linked compiled model, or the package item (the model spec, its weights), from that "
    "path, so the file makes the app load content the reviewer did not see.",
    "Keep linked models and package items inside the package with relative paths.",
    22,
)

#: Model field numbers: spec version, description, isUpdatable, then one field per model type.
_MODEL_FIELDS = frozenset({1, 2, 10, 200, 201, 202, 300, 301, 302, 303, 304, 400, 401, 402, 403, 404, 500,
                           501, 502, 555, 556, 560, 600, 601, 602, 603, 604, 606, 607, 609, 610, 900, 2000,
                           2001, 2002, 2003, 2004, 2005, 2006, 3000})
_PIPELINES = {200: 1, 201: 1}  # PipelineClassifier/Regressor.pipeline
_NETWORKS = frozenset({303, 403, 500})
_CUSTOM_MODEL, _LINKED_MODEL, _PIPELINE = 555, 556, 202
_LAYER_CUSTOM, _LAYER_BRANCH, _LAYER_LOOP = 500, 605, 615
_MAX_LAYERS = 1_000_000
_MAX_BLOBS = 1_000_000
_BLOB_SENTINEL = 0xDEADBEEF


def _top_fields(stream: BinaryIO, size: int) -> list[int] | None:
    try:
        r = WireReader(stream, size, what="Core ML model")
        out = []
        for f in r.fields(r.root()):
            out.append(f.number)
            if len(out) > 40:
                break
        return out
    except AnalysisError:
        return None


def looks_like_coreml(probe: Probe) -> bool:
    """``specificationVersion`` (field 1), a description (field 2), and only ``Model`` fields, with a type."""
    h = probe.head
    if len(h) < 4 or h[0] != 0x08 or not 1 <= h[1] <= 40 or h[2] != 0x12:
        return False
    numbers = _top_fields(probe.stream, probe.size)
    return numbers is not None and bool(numbers) and set(numbers) <= _MODEL_FIELDS and any(n >= 200 for n in numbers)


class _Walk:
    def __init__(self, r: WireReader) -> None:
        self.r = r
        self.layers = 0
        self.types: dict[int, int] = {}
        self.classes: list[tuple[str, str]] = []
        self.links: list[str] = []

    def model(self, msg: Message) -> None:
        for f in self.r.fields(msg):
            if f.number < 200 or f.wire != LEN:
                continue
            self.types[f.number] = self.types.get(f.number, 0) + 1
            sub = self.r.message(f)
            if f.number in _PIPELINES:
                for p in self.r.fields(sub):
                    if p.number == 1 and p.wire == LEN:
                        self.pipeline(self.r.message(p))
            elif f.number == _PIPELINE:
                self.pipeline(sub)
            elif f.number in _NETWORKS:
                self.network(sub)
            elif f.number == _CUSTOM_MODEL:
                self.classes.append(("custom model", self.class_name(sub)))
            elif f.number == _LINKED_MODEL:
                self.linked(sub)

    def pipeline(self, msg: Message) -> None:
        for f in self.r.fields(msg):
            if f.number == 1 and f.wire == LEN:
                self.model(self.r.message(f))

    def network(self, msg: Message) -> None:
        for f in self.r.fields(msg):
            if f.number != 1 or f.wire != LEN:
                continue
            self.layers += 1
            if self.layers > _MAX_LAYERS:
                raise LimitExceeded("max_layers", _MAX_LAYERS, f"Core ML model holds more than {_MAX_LAYERS} layers")
            name = ""
            for g in self.r.fields(self.r.message(f)):
                if g.number == 1 and g.wire == LEN:
                    name = self.r.text(g, 256)
                elif g.number == _LAYER_CUSTOM and g.wire == LEN:
                    self.classes.append((f"custom layer {name!r}", self.class_name(self.r.message(g))))
                elif g.number in (_LAYER_BRANCH, _LAYER_LOOP) and g.wire == LEN:
                    nested = (1, 2) if g.number == _LAYER_BRANCH else (3, 4)
                    for h in self.r.fields(self.r.message(g)):
                        if h.number in nested and h.wire == LEN:
                            self.network(self.r.message(h))

    def class_name(self, msg: Message) -> str:
        for f in self.r.fields(msg):
            if f.number == 10 and f.wire == LEN:
                return self.r.text(f, 256)
        return ""

    def linked(self, msg: Message) -> None:
        for f in self.r.fields(msg):  # LinkedModel.linkedModelFile
            if f.number != 1 or f.wire != LEN:
                continue
            for p in self.r.fields(self.r.message(f)):  # file name, search path: StringParameter
                if p.number in (1, 2) and p.wire == LEN:
                    for v in self.r.fields(self.r.message(p)):
                        if v.number == 1 and v.wire == LEN:
                            self.links.append(self.r.text(v, 1024))


class CoreMLHandler:
    """``.mlmodel`` protobuf models: custom layer and custom model classes, linked model paths."""

    id = "coreml"
    priority = 56

    def sniff(self, probe: Probe) -> bool:
        return looks_like_coreml(probe)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        r = WireReader(stream, size, what="Core ML model")
        walk = _Walk(r)
        version = 0
        for f in r.fields(r.root()):
            if f.number == 1 and f.wire == VARINT:
                version = f.value
        if not version:
            raise AnalysisError("malformed Core ML model: no specificationVersion")
        walk.model(r.root())
        if not walk.types:
            raise AnalysisError("malformed Core ML model: no model type")
        for where, cls in walk.classes[:50]:
            ctx.report(OTH070, f"{where} is implemented by the app class {cls or '(unnamed)'!r}",
                       severity=reference_severity(cls), evidence=cls)
        for path in walk.links[:20]:
            if escapes(path):
                ctx.report(OTH071, f"linked model path {path!r} leaves the model's folder", evidence=path[:400])


def escapes(path: str) -> bool:
    """True for an absolute path, a drive path or one with a ``..`` component."""
    return path.startswith(("/", "\\", "~")) or ".." in path.replace("\\", "/").split("/") or ":" in path[:3]


def looks_like_manifest(head: bytes) -> bool:
    """An ``.mlpackage`` ``Manifest.json``: its three top-level keys near the start."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return text.startswith(b"{") and b'"itemInfoEntries"' in text and (
        b'"fileFormatVersion"' in text or b'"rootModelIdentifier"' in text)


class CoreMLManifestHandler:
    """``.mlpackage`` manifests: item paths must stay inside the package; the root model must be listed."""

    id = "coreml-manifest"
    priority = 55

    def sniff(self, probe: Probe) -> bool:
        return looks_like_manifest(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        if size > 16 * 1024 * 1024:
            raise LimitExceeded("max_manifest_bytes", 16 * 1024 * 1024, "Core ML manifest larger than 16 MiB")
        try:
            doc: Any = json.loads(stream.read(size))
        except (ValueError, RecursionError) as exc:
            raise AnalysisError(f"malformed Core ML package manifest: {exc}") from exc
        items = doc.get("itemInfoEntries") if isinstance(doc, dict) else None
        if not isinstance(items, dict):
            raise AnalysisError("malformed Core ML package manifest: no itemInfoEntries")
        root = doc.get("rootModelIdentifier")
        if root is not None and root not in items:
            raise AnalysisError(f"malformed Core ML package manifest: root model {str(root)[:80]!r} is not listed")
        for key, item in list(items.items())[:1000]:
            path = item.get("path") if isinstance(item, dict) else None
            if not isinstance(path, str):
                raise AnalysisError(f"malformed Core ML package manifest: item {str(key)[:80]!r} has no path")
            if escapes(path):
                ctx.report(OTH071, f"package item {item.get('name', key)!s:.80} resolves to {path!r}, outside the "
                           "package", evidence=path[:400])


def looks_like_blob_storage(head: bytes, size: int) -> bool:
    """MIL blob storage (``weight.bin``): count, version 2, 56 reserved bytes, then a tagged record."""
    if len(head) < 72 or size < 128:
        return False
    count, version = struct.unpack_from("<II", head)
    return bool(version == 2 and count > 0 and struct.unpack_from("<I", head, 64)[0] == _BLOB_SENTINEL)


class CoreMLWeightsHandler:
    """``weights/weight.bin`` of an ML program: every blob record is checked to lie inside the file."""

    id = "coreml-weights"
    priority = 56

    def sniff(self, probe: Probe) -> bool:
        return looks_like_blob_storage(probe.head, probe.size)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        count = struct.unpack("<I", stream.read(4))[0]
        if count > _MAX_BLOBS:
            raise LimitExceeded("max_blobs", _MAX_BLOBS, f"Core ML weight file declares {count} blobs")
        pos = 64
        for i in range(count):
            stream.seek(pos)
            rec = stream.read(64)
            if len(rec) < 64:
                raise AnalysisError(f"malformed Core ML weight file: blob record {i} truncated at byte {pos}")
            sentinel, _dtype, nbytes, offset = struct.unpack_from("<IIQQ", rec)
            if sentinel != _BLOB_SENTINEL:
                raise AnalysisError(f"malformed Core ML weight file: blob record {i} has no sentinel at byte {pos}")
            if offset < pos + 64 or offset + nbytes > size:
                raise AnalysisError(f"malformed Core ML weight file: blob {i} ({nbytes} bytes at {offset}) lies "
                                    f"outside the file ({size} bytes)")
            pos = (offset + nbytes + 63) // 64 * 64


register(CoreMLHandler())
register(CoreMLWeightsHandler())
register(CoreMLManifestHandler())
