"""PaddlePaddle inference models: the ``.pdmodel`` program and the ``.pdiparams`` tensor stream.

``paddle.static.save_inference_model`` writes two files. The ``.pdmodel`` is a protobuf ``ProgramDesc``:
blocks of operators (``OpDesc``, named by type, with attributes) that the executor runs. Operators are
native kernels of Paddle's registry, and the code paths a program really has are the operators that leave
tensor math:

* file operators (``save``/``save_combine`` write a file at the op's ``file_path`` attribute,
  ``load``/``load_combine``/``read_file`` read one into the model): high, with the path as evidence;
* Python operators (``py_func`` calls a Python callable of the loading process, ``create_py_reader``
  pulls data from Python): high;
* operator types outside Paddle's registry are custom operators (``paddle.utils.cpp_extension``): native
  code the application must load, low (medium when the name suggests file/process/network access).

Paddle 3 writes the program as PIR JSON (``model.json``: ``base_code.magic`` = ``pir``) instead: operators
are ``"#": "<dialect>.<name>"`` entries of block ``ops`` lists, dialect ``1`` being Paddle's own operators and
``3`` custom operators; the same file, Python and custom checks apply.

The ``.pdiparams`` file is a headerless sequence of LoDTensors (version, LoD levels, a ``TensorDesc``
protobuf, raw data): data only; each tensor's declared size is checked against the file and skipped.
``.pdparams``/``.pdopt`` (``paddle.save``) are pickles and are recognised and analysed by the pickle
engine by their content, not here.
"""

from __future__ import annotations

import json
import struct
from functools import lru_cache
from importlib import resources
from typing import BinaryIO

from mlvet.analysis.protowire import LEN, VARINT, Message, WireReader
from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.native_refs import reference_severity
from mlvet.model import Severity
from mlvet.rules import define_rule

OTH075 = define_rule(
    "OTH075", "paddle-file-op", Severity.HIGH,
    "The Paddle program reads or writes files (save, save_combine, load, load_combine, read_file).",
    "Running the program writes the named file or reads it into the model's tensors: an inference model "
    "has no reason to do either, and the path is chosen by the file.",
    "Do not run the model; re-export it with paddle.static.save_inference_model from trusted code.",
    73,
)
OTH076 = define_rule(
    "OTH076", "paddle-python-op", Severity.HIGH,
    "The Paddle program calls back into Python (py_func, create_py_reader).",
    "These operators run a Python callable of the process that executes the program; which one is chosen "
    "by an id stored in the file.",
    "Do not run the model unless you know which Python callables the loading process has registered.",
    94,
)
OTH077 = define_rule(
    "OTH077", "paddle-custom-op", Severity.LOW,
    "The Paddle program uses operator types outside Paddle's operator registry (custom operators).",
    "A custom operator is native code that the application loads (paddle.utils.cpp_extension); the model "
    "cannot be reviewed without it. Names suggesting file, process or network access are medium.",
    "Check which library implements these operators and whether you trust it.",
    829,
)

_FILE_OPS = frozenset({"save", "save_combine", "save_combine_vocab", "save_sr", "load", "load_combine",
                       "load_combine_extended", "load_combine_vocab", "load_sr", "read_file"})
_PYTHON_OPS = frozenset({"py_func", "create_py_reader"})
_BLOCK0_HEAD = b"\x08\x00\x10\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"  # idx=0, parent_idx=-1
_MAX_OPS = 2_000_000
_MAX_TENSORS = 1_000_000
#: VarType.Type codes of tensor element types and their sizes in bytes.
_DTYPE_SIZE = {0: 1, 1: 2, 2: 4, 3: 8, 4: 2, 5: 4, 6: 8, 19: 8, 20: 1, 21: 1, 22: 2, 23: 8, 24: 16, 32: 1, 33: 1}


@lru_cache(maxsize=1)
def standard_ops() -> frozenset[str]:
    """Paddle's registered operator types (from Paddle itself; see the data file's header)."""
    text = resources.files("mlvet.formats").joinpath("data").joinpath("paddle_ops.txt").read_text("utf-8")
    return frozenset(s.strip() for s in text.splitlines() if s.strip() and not s.startswith("#"))


def looks_like_program(head: bytes) -> bool:
    """A ``ProgramDesc``: field 1 (a BlockDesc) whose first fields are ``idx=0`` and ``parent_idx=-1``."""
    if len(head) < 20 or head[0] != 0x0A:
        return False
    i = 1
    while i < 6 and head[i] & 0x80:
        i += 1
    return head[i + 1 : i + 1 + len(_BLOCK0_HEAD)] == _BLOCK0_HEAD


def _lod_header(head: bytes, pos: int) -> int | None:
    """Position of the TensorDesc length after a LoDTensor's version and LoD levels (None: not one)."""
    if len(head) < pos + 12 or head[pos : pos + 4] != b"\x00\x00\x00\x00":
        return None
    (levels,) = struct.unpack_from("<Q", head, pos + 4)
    if levels > 8:
        return None
    pos += 12
    for _ in range(levels):
        if len(head) < pos + 8:
            return None
        (n,) = struct.unpack_from("<Q", head, pos)
        pos += 8 + n
    return pos


def looks_like_params(head: bytes) -> bool:
    """``.pdiparams``: LoDTensor version 0, LoD levels, tensor version 0, a small TensorDesc starting 0x08."""
    pos = _lod_header(head, 0)
    if pos is None or len(head) < pos + 9 or head[pos : pos + 4] != b"\x00\x00\x00\x00":
        return False
    (n,) = struct.unpack_from("<i", head, pos + 4)
    return 2 <= n <= 4096 and head[pos + 8] == 0x08


class PaddleProgramHandler:
    """``.pdmodel`` ProgramDesc files: file, Python and custom operators are reported."""

    id = "paddle-program"
    priority = 57

    def sniff(self, probe: Probe) -> bool:
        return looks_like_program(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        r = WireReader(stream, size, what="Paddle program")
        ops: dict[str, int] = {}
        evidence: list[tuple[str, str]] = []
        for block in r.fields(r.root()):
            if block.number != 1 or block.wire != LEN:
                continue
            for op in r.fields(r.message(block)):
                if op.number != 4 or op.wire != LEN:
                    continue
                kind, paths = _op(r, r.message(op))
                if not kind:
                    raise AnalysisError(f"malformed Paddle program: an operator without a type at byte {op.offset}")
                ops[kind] = ops.get(kind, 0) + 1
                if sum(ops.values()) > _MAX_OPS:
                    raise LimitExceeded("max_ops", _MAX_OPS, f"Paddle program holds more than {_MAX_OPS} operators")
                if kind in _FILE_OPS or kind in _PYTHON_OPS:
                    evidence.append((kind, paths))
        if not ops:
            raise AnalysisError("malformed Paddle program: no operators")
        for kind, path in evidence[:20]:
            if kind in _FILE_OPS:
                ctx.report(OTH075, f"operator {kind} accesses the file {path or '(path set at run time)'!r}",
                           evidence=f"{kind} {path}"[:600])
            else:
                ctx.report(OTH076, f"operator {kind} runs a Python callable of the loading process", evidence=kind)
        known = standard_ops()
        for name in sorted(k for k in ops if k not in known)[:50]:
            ctx.report(OTH077, f"custom operator {name!r} (×{ops[name]}) is not in Paddle's registry",
                       severity=reference_severity(name), evidence=name)


def _op(r: WireReader, msg: Message) -> tuple[str, str]:
    """An OpDesc's type and the string value of its ``file_path``/``filename`` attribute, if any."""
    kind = ""
    path = ""
    for f in r.fields(msg):
        if f.number == 3 and f.wire == LEN:
            kind = r.text(f, 256)
        elif f.number == 4 and f.wire == LEN:
            name = ""
            value = ""
            for a in r.fields(r.message(f)):
                if a.number == 1 and a.wire == LEN:
                    name = r.text(a, 128)
                elif a.number == 5 and a.wire == LEN:
                    value = r.text(a, 512)
            if name in ("file_path", "filename", "path") and value:
                path = value
    return kind, path


class PaddleParamsHandler:
    """``.pdiparams``: the LoDTensor stream is walked tensor by tensor; data only."""

    id = "paddle-params"
    priority = 57

    def sniff(self, probe: Probe) -> bool:
        return looks_like_params(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        pos = 0
        count = 0
        while pos < size:
            count += 1
            if count > _MAX_TENSORS:
                raise LimitExceeded("max_tensors", _MAX_TENSORS,
                                    f"Paddle parameter file holds more than {_MAX_TENSORS} tensors")
            stream.seek(pos)
            head = stream.read(4096)
            at = _lod_header(head, 0)
            if at is None or len(head) < at + 8 or head[at : at + 4] != b"\x00\x00\x00\x00":
                raise AnalysisError(f"malformed Paddle parameter file: tensor {count} has no valid header "
                                    f"at byte {pos}")
            (n,) = struct.unpack_from("<i", head, at + 4)
            if not 0 < n <= len(head) - at - 8:
                raise AnalysisError(f"malformed Paddle parameter file: TensorDesc of {n} bytes at byte {pos + at}")
            nbytes = _tensor_bytes(head[at + 8 : at + 8 + n], pos + at + 8)
            pos += at + 8 + n
            if nbytes > size - pos:
                raise AnalysisError(f"malformed Paddle parameter file: tensor {count} declares {nbytes} bytes but "
                                    f"only {size - pos} remain (truncated?)")
            pos += nbytes


_PIR_OWN_DIALECTS = frozenset({"0", "1", "2", "4", "builtin", "pd_op", "cf", "dist"})
_PIR_SHORT = frozenset({"p", "c", "s", "g"})  # builtin parameter, combine, set/get parameter
_MAX_PIR = 64 * 1024 * 1024


def looks_like_pir(head: bytes) -> bool:
    """Paddle 3 PIR JSON: ``{"base_code": {"magic": "pir", ...}, "program": ...}``."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return text.startswith(b"{") and b'"base_code"' in text[:64] and b'"pir"' in text[:256]


class PaddlePirHandler:
    """Paddle 3 PIR programs (``model.json``): file, Python and custom-dialect operators are reported."""

    id = "paddle-program"
    priority = 54

    def sniff(self, probe: Probe) -> bool:
        return looks_like_pir(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        if size > _MAX_PIR:
            raise LimitExceeded("max_pir_bytes", _MAX_PIR, f"Paddle PIR program of {size} bytes is too large")
        try:
            doc = json.loads(stream.read(size))
        except (ValueError, RecursionError) as exc:
            raise AnalysisError(f"malformed Paddle PIR program: {exc}") from exc
        if not isinstance(doc, dict) or not isinstance(doc.get("program"), dict):
            raise AnalysisError("malformed Paddle PIR program: no program")
        ops: list[tuple[str, str]] = []
        _pir_ops(doc["program"], ops, 0)
        if not ops:
            raise AnalysisError("malformed Paddle PIR program: no operators")
        custom: dict[str, int] = {}
        for name, path in ops:
            dialect, _, op = name.partition(".")
            if name in _PIR_SHORT:
                continue
            if dialect not in _PIR_OWN_DIALECTS:
                custom[name] = custom.get(name, 0) + 1
            elif op in _FILE_OPS:
                ctx.report(OTH075, f"operator {op} accesses the file {path or '(path set at run time)'!r}",
                           evidence=f"{name} {path}"[:600])
            elif op in _PYTHON_OPS:
                ctx.report(OTH076, f"operator {op} runs a Python callable of the loading process", evidence=name)
        for name in sorted(custom)[:50]:
            ctx.report(OTH077, f"custom operator {name!r} (×{custom[name]}) is outside Paddle's dialects",
                       severity=reference_severity(name), evidence=name)


def _pir_ops(node: object, out: list[tuple[str, str]], depth: int) -> None:
    """Collect (op name, file path attribute) from every ``ops`` list under ``node``."""
    if depth > 200:
        raise LimitExceeded("max_depth", 200, "Paddle PIR program nested deeper than 200 levels")
    if isinstance(node, dict):
        listed = node.get("ops")
        if isinstance(listed, list):
            for op in listed:
                if isinstance(op, dict) and isinstance(op.get("#"), str):
                    if len(out) > _MAX_OPS:
                        raise LimitExceeded("max_ops", _MAX_OPS, f"Paddle program holds more than {_MAX_OPS} operators")
                    out.append((op["#"], _pir_path(op.get("A"))))
        for value in node.values():
            if isinstance(value, (dict, list)):
                _pir_ops(value, out, depth + 1)
    elif isinstance(node, list):
        for value in node:
            if isinstance(value, (dict, list)):
                _pir_ops(value, out, depth + 1)


def _pir_path(attrs: object) -> str:
    if not isinstance(attrs, list):
        return ""
    for a in attrs:
        if isinstance(a, dict) and a.get("N") in ("file_path", "filename", "path"):
            at = a.get("AT")
            if isinstance(at, dict) and isinstance(at.get("D"), str):
                return str(at["D"])[:512]
    return ""


def _tensor_bytes(desc: bytes, where: int) -> int:
    """Byte size of the data that follows a ``TensorDesc`` (data_type = 1, repeated int64 dims = 2)."""
    import io

    r = WireReader(io.BytesIO(desc), len(desc), what="Paddle TensorDesc")
    dtype = -1
    dims: list[int] = []
    for f in r.fields(r.root()):
        if f.number == 1 and f.wire == VARINT:
            dtype = f.value
        elif f.number == 2 and f.wire == VARINT:
            dims.append(f.signed)
        elif f.number == 2 and f.wire == LEN:  # packed dims
            sub = r.message(f)
            pos = sub.start
            while pos < sub.end:
                v, pos = r.varint(pos, sub.end)
                dims.append(v - (1 << 64) if v >= 1 << 63 else v)
    width = _DTYPE_SIZE.get(dtype)
    if width is None:
        raise AnalysisError(f"malformed Paddle parameter file: unknown data type {dtype} at byte {where}")
    total = width
    for d in dims:
        if d < 0:
            raise AnalysisError(f"malformed Paddle parameter file: negative dimension {d} at byte {where}")
        total *= d
        if total > 1 << 48:
            raise AnalysisError(f"malformed Paddle parameter file: tensor of more than 2**48 bytes at byte {where}")
    return total


register(PaddleProgramHandler())
register(PaddleParamsHandler())
register(PaddlePirHandler())
