"""MessagePack models: Flax/JAX checkpoints, thinc/spaCy weights, spaCy tokenizers and DocBins.

msgpack itself carries only values: maps, arrays, strings, numbers, binary and extension payloads. What can
run code is what the *loaders* do with some of those values:

* msgpack-numpy (vendored by srsly, which spaCy and thinc load with) turns a map
  ``{"nd": True, "kind": "O", "data": <bytes>}`` into an object array with ``pickle.loads(data)``. Every
  such record is found anywhere in the document and its bytes are scanned as what they are (a pickle).
* thinc's shims (``PyTorchShim``, ``TensorFlowShim``, ``MXNetShim``) store the wrapped framework's own
  serialisation (``torch.save`` bytes ...) inside the msgpack: each shim's values are scanned by content.
* thinc layer attributes and spaCy DocBin span groups / user data are msgpack documents stored as binary
  values and loaded with srsly again: they are parsed and walked the same way.

Flax's ``to_bytes``/``msgpack_serialize`` stores arrays and NumPy scalars as extension values (codes 1 and
3) whose payload is a msgpack ``(shape, dtype name, buffer)`` that ``np.frombuffer`` reads: numeric data
only (numpy refuses object dtypes there), so a Flax checkpoint or train state is data. Its payload structure
is still checked so a damaged or crafted file is an error, not clean. Regular expressions in a spaCy tokenizer
are compiled, never run as code.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from mlvet.containers.msgpack import Blob, Ext, MsgpackError, Value, parse, plausible_head
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, Window, register

_THINC = frozenset({"nodes", "attrs", "params", "shims"})
_TOKENIZER = frozenset({"prefix_search", "suffix_search", "infix_finditer", "token_match", "exceptions"})
_DOCBIN = frozenset({"attrs", "tokens", "spaces", "lengths", "strings"})
_FLAX_NDARRAY, _FLAX_NPSCALAR = 1, 3
#: Nested documents walked per file (a bound on the work a crafted file can ask for).
_MAX_NESTED = 10_000


def kind_of(doc: Value) -> str:
    """The format id of a parsed document, from its top-level keys and values."""
    if isinstance(doc, dict):
        keys = {k for k in doc if isinstance(k, str)}
        if keys >= _THINC or {"nodes", "params"} <= keys:
            return "thinc-msgpack"
        if keys >= _DOCBIN:
            return "spacy-docbin"
        if keys & _TOKENIZER and len(keys & _TOKENIZER) >= 2:
            return "spacy-msgpack"
        if _has_ext(doc, _FLAX_NDARRAY, 0):
            return "flax-msgpack"
    return "msgpack"


def _has_ext(v: Value, code: int, depth: int) -> bool:
    if isinstance(v, Ext):
        return v.code == code
    if depth > 64:
        return False
    if isinstance(v, dict):
        return any(_has_ext(x, code, depth + 1) for x in v.values())
    if isinstance(v, list):
        return any(_has_ext(x, code, depth + 1) for x in v)
    return False


def _get(d: dict[object, Value], key: str) -> Value:
    """``d[key]`` whether the key was packed as text or as bytes (msgpack-numpy packs ``b"nd"``)."""
    if key in d:
        return d[key]
    return d.get(key.encode())


class _Walker:
    """Walks one document, scanning the values a loader would unpickle or load with another format."""

    def __init__(self, stream: BinaryIO, ctx: ScanContext) -> None:
        self.stream = stream
        self.ctx = ctx
        self.nested = 0

    def _bytes(self, v: bytes | Blob) -> tuple[BinaryIO, int]:
        if isinstance(v, Blob):
            return Window(self.stream, v.offset, v.length), v.length  # type: ignore[return-value]
        return io.BytesIO(v), len(v)

    def scan_value(self, v: Value, label: str) -> None:
        """Scan a binary value by its content (a pickle, a torch zip ...); unrecognised bytes are an error."""
        if not isinstance(v, (bytes, Blob)):
            self.ctx.error(f"{label}: expected binary data, found {type(v).__name__}")
            return
        sub, n = self._bytes(v)
        child = self.ctx.child(label)
        if child.scan_stream(sub, n, "") is None:
            child.error("content is not a recognised model, archive or data format")

    def nested_doc(self, v: Value, label: str) -> None:
        """A binary value that srsly loads as msgpack again: parse it and walk it."""
        if not isinstance(v, (bytes, Blob)):
            self.walk(v, label, 0)
            return
        self.nested += 1
        if self.nested > _MAX_NESTED:
            raise AnalysisError(f"more than {_MAX_NESTED} nested msgpack documents")
        doc = parse(self.stream, v.offset, v.offset + v.length) if isinstance(v, Blob) else parse(io.BytesIO(v))
        self.walk(doc, label, 0)

    def walk(self, v: Value, label: str, depth: int) -> None:
        if isinstance(v, list):
            for x in v:
                self.walk(x, label, depth + 1)
        elif isinstance(v, dict):
            if _get(v, "nd") is True and _get(v, "kind") in (b"O", "O"):
                # msgpack-numpy: pickle.loads(data) rebuilds the object array.
                self.scan_value(_get(v, "data"), f"{label}<msgpack-numpy object array>")
            for x in v.values():
                self.walk(x, label, depth + 1)
        elif isinstance(v, Ext) and v.code in (_FLAX_NDARRAY, _FLAX_NPSCALAR):
            self._flax_array(v)

    def _flax_array(self, v: Ext) -> None:
        data = v.data
        inner = parse(self.stream, data.offset, data.offset + data.length) if isinstance(data, Blob) \
            else parse(io.BytesIO(data))
        ok = (isinstance(inner, list) and len(inner) == 3 and isinstance(inner[0], list)
              and all(isinstance(d, int) and d >= 0 for d in inner[0])
              and isinstance(inner[1], (bytes, str)) and isinstance(inner[2], (bytes, Blob)))
        if not ok:
            raise MsgpackError("Flax array/scalar record is not (shape, dtype, buffer)")

    def thinc(self, doc: dict[object, Value]) -> None:
        attrs = _get(doc, "attrs")
        for layer in attrs if isinstance(attrs, list) else []:
            if isinstance(layer, dict):
                for name, raw in layer.items():
                    self.nested_doc(raw, f"<attr {name!s:.80}>")
        params = _get(doc, "params")
        self.walk(params, "<params>", 0)
        shims = _get(doc, "shims")
        for i, layer_shims in enumerate(shims if isinstance(shims, list) else []):
            for j, shim in enumerate(layer_shims if isinstance(layer_shims, list) else [layer_shims]):
                self._shim(shim, f"<shim {i}.{j}>")
        self.walk(_get(doc, "nodes"), "<nodes>", 0)

    def _shim(self, shim: Value, label: str) -> None:
        """A shim's bytes: a msgpack map whose binary values are the framework's own files (torch.save ...)."""
        if not isinstance(shim, (bytes, Blob)):
            self.ctx.error(f"{label}: a thinc shim is not binary data")
            return
        sub, _n = self._bytes(shim)
        head = sub.read(8)
        sub.seek(0)
        if plausible_head(head):
            doc = parse(self.stream, shim.offset, shim.offset + shim.length) if isinstance(shim, Blob) \
                else parse(io.BytesIO(shim))
            if isinstance(doc, dict):
                for key, val in doc.items():
                    if isinstance(val, (bytes, Blob)) and (isinstance(val, Blob) or len(val) > 16):
                        self.scan_value(val, f"{label}[{key!s:.40}]")
                    else:
                        self.walk(val, label, 0)
                return
        self.scan_value(shim, label)

    def docbin(self, doc: dict[object, Value]) -> None:
        for key in ("span_groups", "user_data"):
            items = _get(doc, key)
            for item in items if isinstance(items, list) else []:
                self.nested_doc(item, f"<{key}>")
        self.walk(doc, "", 0)


class MsgpackHandler:
    """A msgpack map (Flax, thinc, spaCy): parsed within bounds; values that loaders unpickle are scanned."""

    id = "msgpack"
    priority = 85

    def sniff(self, probe: Probe) -> bool:
        return plausible_head(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        try:
            doc = parse(stream, 0, size)
            kind = kind_of(doc)
            ctx.saw_format(kind)
            walker = _Walker(stream, ctx)
            if kind == "thinc-msgpack" and isinstance(doc, dict):
                walker.thinc(doc)
            elif kind == "spacy-docbin" and isinstance(doc, dict):
                walker.docbin(doc)
            else:
                walker.walk(doc, "", 0)
        except MsgpackError as exc:
            raise AnalysisError(f"malformed msgpack: {exc}") from None


register(MsgpackHandler())
