"""CNTK models (``.model``, ``.dnn``, ``.cmf``): the v2 protobuf ``Dictionary`` and the legacy v1 binary.

A v2 model (``Function.save``) is one ``CNTK.proto`` ``Dictionary``: string keys to typed values, nested
dictionaries and vectors, parameter tensors as ``NDArrayView``. Primitive functions are built-in C++
operators named by a number; the one code path is the **user-defined function** (``type`` =
``UserDefinedFunction``):

* ``native`` = true: ``Function::DeserializeNativeImpl`` loads the shared library named by the file's
  ``module`` string and calls the exported symbol named by ``deserialize_method`` — native code of the
  file's choosing. Critical.
* otherwise its state is handed to the Python deserializer, which imports the module and looks up the
  class the state names (``module`` / ``class``) and calls its ``deserialize``. The class's code is not in
  the file, but the file picks which module is imported. High.

The dictionary is walked with the streaming wire reader; tensor values are skipped by length. Legacy v1
models (a ``BCN`` section marker, the BrainScript computation network) hold node names and matrices in an
undocumented layout; they are recognised and reported as not parsed (an error, never clean).
"""

from __future__ import annotations

from typing import BinaryIO

from mlvet.analysis.protowire import LEN, VARINT, Field, Message, WireReader
from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.model import Severity
from mlvet.rules import define_rule

OTH073 = define_rule(
    "OTH073", "cntk-python-udf", Severity.HIGH,
    "The CNTK model contains a Python user-defined function that names a module and class to import.",
    "Loading the model imports the named module and calls the named class's deserialize method: code "
    "outside the file runs, chosen by the file.",
    "Check the module and class; load only if you trust them, or export the model without user functions.",
    470,
)
OTH074 = define_rule(
    "OTH074", "cntk-native-udf", Severity.CRITICAL,
    "The CNTK model contains a native user-defined function: a shared library and an exported function.",
    "Loading the model loads the shared library named in the file and calls the named factory function: "
    "native code runs with the loader's privileges.",
    "Do not load the file unless you ship and trust the named library.",
    114,
)

_LEGACY_MARKER = "BCN".encode("utf-16-le") + b"\x00\x00"
_KNOWN_KEYS = frozenset({b"version", b"type", b"root", b"uid", b"name", b"inputs", b"op", b"attributes",
                         b"primitive_functions", b"composite_function", b"output_vars", b"block_function_composite"})
_MAX_ENTRIES = 2_000_000
_MAX_DEPTH = 60


def looks_like_cntk(head: bytes) -> bool:
    """A ``Dictionary``: varint ``version`` (1), then ``data`` map entries whose key is a CNTK key."""
    if head.startswith(_LEGACY_MARKER):
        return True
    if len(head) < 8 or head[0] != 0x08 or head[1] >= 0x80:
        return False
    i = 2
    if head[i] != 0x12:
        return False
    # skip the entry length varint, then expect the map key (field 1, LEN)
    i += 1
    while i < len(head) and head[i] & 0x80:
        i += 1
    i += 1
    if i + 2 > len(head) or head[i] != 0x0A:
        return False
    n = head[i + 1]
    return head[i + 2 : i + 2 + n] in _KNOWN_KEYS


class _Dict:
    """The parts of a CNTK dictionary the findings need: string values and nested dictionaries by key."""

    __slots__ = ("children", "strings", "truths")

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}
        self.truths: dict[str, bool] = {}
        self.children: list[tuple[str, _Dict]] = []


class _Walker:
    def __init__(self, reader: WireReader) -> None:
        self.r = reader
        self.entries = 0
        self.udfs: list[_Dict] = []

    def dictionary(self, msg: Message) -> _Dict:
        if msg.depth > _MAX_DEPTH:
            raise LimitExceeded("max_depth", _MAX_DEPTH, f"CNTK dictionaries nested deeper than {_MAX_DEPTH} levels")
        out = _Dict()
        for f in self.r.fields(msg):
            if f.number != 2 or f.wire != LEN:
                continue
            self.entries += 1
            if self.entries > _MAX_ENTRIES:
                raise LimitExceeded("max_entries", _MAX_ENTRIES,
                                    f"CNTK model holds more than {_MAX_ENTRIES} dictionary entries")
            key = ""
            value: Field | None = None
            for e in self.r.fields(self.r.message(f)):
                if e.number == 1 and e.wire == LEN:
                    key = self.r.text(e, 256)
                elif e.number == 2 and e.wire == LEN:
                    value = e
            if value is not None:
                self.value(key, self.r.message(value), out)
        if out.strings.get("type") == "UserDefinedFunction":
            self.udfs.append(out)
        return out

    def value(self, key: str, msg: Message, into: _Dict) -> None:
        for v in self.r.fields(msg):
            if v.number == 8 and v.wire == LEN:
                into.strings[key] = self.r.text(v, 1024)
            elif v.number == 3 and v.wire == VARINT:
                into.truths[key] = bool(v.value)
            elif v.number == 12 and v.wire == LEN:
                into.children.append((key, self.dictionary(self.r.message(v))))
            elif v.number == 11 and v.wire == LEN:
                for item in self.r.fields(self.r.message(v)):
                    if item.number == 1 and item.wire == LEN:
                        self.value(key, self.r.message(item), into)
            # numbers, shapes, axes and NDArrayView tensors carry no names: skipped by length


class CntkHandler:
    """CNTK v2 protobuf models (user-defined functions reported); legacy v1 models fail closed."""

    id = "cntk"
    priority = 58

    def sniff(self, probe: Probe) -> bool:
        return looks_like_cntk(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        if stream.read(len(_LEGACY_MARKER)) == _LEGACY_MARKER:
            raise AnalysisError("legacy CNTK v1 model (BrainScript network): recognised but not parsed")
        walker = _Walker(WireReader(stream, size, what="CNTK model"))
        root = walker.dictionary(walker.r.root())
        if root.strings.get("type") not in ("CompositeFunction", "PrimitiveFunction", "UserDefinedFunction"):
            raise AnalysisError("malformed CNTK model: the root dictionary is not a Function")
        for udf in walker.udfs[:50]:
            _report(udf, ctx)


def _report(udf: _Dict, ctx: ScanContext) -> None:
    name = udf.strings.get("name") or udf.strings.get("uid", "?")
    state = next((d for k, d in udf.children if k == "user_defined_state"), _Dict())
    if udf.truths.get("native"):
        lib = state.strings.get("module", "?")
        sym = state.strings.get("deserialize_method", "?")
        ctx.report(OTH074, f"native user function {name!r} loads library {lib!r} and calls {sym!r}",
                   evidence=f"module={lib} deserialize_method={sym} op={state.strings.get('op', '')}"[:600])
        return
    module = state.strings.get("module", "")
    cls = state.strings.get("class", "")
    ctx.report(OTH073, f"Python user function {name!r}: the loader imports {module or '?'} and calls "
               f"{cls or '?'}.deserialize", evidence=f"module={module} class={cls} op_name="
               f"{state.strings.get('op_name', '')}"[:600])


register(CntkHandler())
