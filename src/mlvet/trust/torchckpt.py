"""The tensors of a pickle-based PyTorch checkpoint, read without unpickling it.

Why: converting a checkpoint or diffing two versions needs its tensor *structure* (names, dtypes, shapes,
strides, which storage each tensor views) and its bytes, and the only way the format offers to get them
is to run its pickle. Here the pickle is evaluated by a small, exact interpreter that knows a closed set
of callables: the tensor-rebuilding functions ``torch.save`` writes (``torch._utils._rebuild_tensor_v2``
and friends), ``collections.OrderedDict``, ``torch.Size`` and a few inert builtins. Each of them is also
required to sit in the policy's *safe* tier, so a user policy that distrusts one disables it here too.
A reference to anything else stops evaluation with :class:`ConversionRefused` naming the callable; no
Python object is ever created from the file and no module is ever imported.

Why not the scanner's symbolic machine (:mod:`mlvet.analysis.pickle_vm`) as is: it is built to *summarise*
(persistent ids are kept as rendered text, integers beyond 32 bits become "a number", containers keep a
bounded number of items), which is right for finding code and wrong for rebuilding exact shapes, strides
and storage keys. The interpreter here reuses the machine's stream layer (bounded buffered reads, skipping
of large payloads, the same truncation faults) and computes exact values for the data opcodes only.

Supported layouts (as ``torch.load`` in torch 2.x reads them):

* **zip** (``torch.save`` since 1.6): ``<dir>/data.pkl`` plus one record ``<dir>/data/<key>`` per storage,
  found through :class:`mlvet.containers.zipread.ZipArchive` with torch's (miniz's) lookup rules, so the
  bytes read are the bytes torch would read; a ``<dir>/byteorder`` record of ``big`` means the storages
  are byte-swapped per storage dtype on load, and so they are here.
* **legacy** (``_use_new_zipfile_serialization=False``): five pickles (magic number, protocol version,
  system info, the object, the sorted storage keys) followed by each storage as an 8-byte little-endian
  element count and its raw little-endian bytes.
* the pre-0.4 **tar** layout is refused: ``torch.load(weights_only=True)`` refuses it too.

:meth:`Checkpoint.iter_tensor_bytes` yields what ``tensor.contiguous()`` would hold, in bounded memory:
contiguous tensors are streamed straight from the file; views (storage offsets, strides, transposes,
broadcast zero strides) are gathered from windows of at most :data:`GATHER_BUDGET` bytes. Nothing is
memory-mapped (mapped pages would count against the process's resident memory).
"""

from __future__ import annotations

import itertools
import math
import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from mlvet.analysis.pickle_vm import Machine, PickleFault
from mlvet.errors import AnalysisError, MlvetError
from mlvet.limits import Limits
from mlvet.policy import Policy, Tier, default_policy, normalise_module

__all__ = [
    "DTYPE_SIZES",
    "GATHER_BUDGET",
    "Checkpoint",
    "CheckpointError",
    "ConversionRefused",
    "TensorRef",
    "open_checkpoint",
]

_MiB = 1 << 20
#: Largest window of storage bytes read at once to gather a non-contiguous view.
GATHER_BUDGET = 64 * _MiB
#: Opcodes evaluated in one pickle; a real state dict of 100k tensors needs a few million.
_MAX_OPCODES = 20_000_000
#: Longest string kept as a value (longer ones are metadata summaries).
_MAX_STR = 1 * _MiB
#: Largest data.pkl spooled for evaluation (torch itself reads it into memory whole).
_MAX_PICKLE_BYTES = 4096 * _MiB
#: Flattening: deepest nesting and most leaves before the structure counts as hostile.
_MAX_DEPTH = 200
_MAX_LEAVES = 5_000_000
#: ``torch.serialization.MAGIC_NUMBER`` and ``PROTOCOL_VERSION`` of the legacy format.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001

#: Element size of every dtype code (safetensors' vocabulary; C128 has no safetensors code).
DTYPE_SIZES: dict[str, int] = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
    "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E4M3FNUZ": 1, "F8_E5M2FNUZ": 1,
    "F8_E8M0": 1, "C64": 8, "C128": 16,
}
#: Legacy typed storage classes (``torch.FloatStorage`` ...) and the dtype of their elements.
_STORAGE_DTYPES: dict[str, str] = {
    "DoubleStorage": "F64", "FloatStorage": "F32", "HalfStorage": "F16", "BFloat16Storage": "BF16",
    "LongStorage": "I64", "IntStorage": "I32", "ShortStorage": "I16", "CharStorage": "I8",
    "ByteStorage": "U8", "BoolStorage": "BOOL", "ComplexFloatStorage": "C64", "ComplexDoubleStorage": "C128",
    "UntypedStorage": "U8",
}
#: ``torch.<dtype>`` constants (``_rebuild_tensor_v3``'s dtype argument, or plain metadata values).
_TORCH_DTYPES: dict[str, str] = {
    "float64": "F64", "double": "F64", "float32": "F32", "float": "F32", "float16": "F16", "half": "F16",
    "bfloat16": "BF16", "int64": "I64", "long": "I64", "int32": "I32", "int": "I32", "int16": "I16",
    "short": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL", "uint16": "U16", "uint32": "U32",
    "uint64": "U64", "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2", "float8_e4m3fnuz": "F8_E4M3FNUZ",
    "float8_e5m2fnuz": "F8_E5M2FNUZ", "float8_e8m0fnu": "F8_E8M0", "complex64": "C64", "cfloat": "C64",
    "complex128": "C128", "cdouble": "C128",
}
_REBUILDERS = frozenset(
    {
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2",
    }
)
#: Classes ``_rebuild_from_type_v2`` may turn a rebuilt tensor into (the tensor's bytes are unchanged).
_TENSOR_TYPES = frozenset({"torch.Tensor", "torch.nn.parameter.Parameter", "torch.nn.parameter.Buffer"})
#: Other callables accepted: containers and inert values (no code of the file's choosing runs).
_VALUE_CALLABLES = frozenset(
    {"collections.OrderedDict", "torch.Size", "builtins.set", "builtins.frozenset", "builtins.slice",
     "torch.device"}
)
#: ``torch.load`` maps this old module name before importing (``load_module_mapping``).
_MODULE_MAPPING = {"torch.tensor": "torch._tensor"}


# ---- public data ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TensorRef:
    """Where one tensor's elements live: a view (offset and strides, in elements) of one storage."""

    #: Flattened, dot-joined path in the checkpoint (``model.layer.weight``; a bare tensor is ``tensor``).
    name: str
    #: safetensors dtype code: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL U16 U32 U64 F8_* C64 (C128: none).
    dtype: str
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    #: The storage's key in the checkpoint: tensors with the same key share (alias) the same bytes.
    storage_key: str
    #: Offset of element ``[0, ..., 0]`` in the storage, in elements of ``dtype``.
    storage_offset: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return DTYPE_SIZES[self.dtype]

    @property
    def nbytes(self) -> int:
        """Bytes of the materialised (contiguous) tensor."""
        return self.numel * self.itemsize


class ConversionRefused(MlvetError):
    """The file does something mlvet will not reproduce: a callable outside the accepted set, or a scan
    finding. ``reason`` says what, naming the callable or rule."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CheckpointError(AnalysisError):
    """The file is not a readable PyTorch checkpoint (malformed, truncated, unsupported layout or dtype)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---- symbolic values the interpreter builds ----------------------------------------------------------------


class _Global:
    """A reference that passed both the policy (safe tier) and the accepted set."""

    __slots__ = ("qualified",)

    def __init__(self, qualified: str) -> None:
        self.qualified = qualified


class _ODict(dict[Any, Any]):
    """``collections.OrderedDict`` (a dict that may also receive BUILD state, e.g. ``_metadata``)."""


class _Meta:
    """A value that is not a tensor and that conversion leaves out (sets, devices, big payloads ...)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


@dataclass
class _Storage:
    """One storage record: its dtype (from the first reference, as torch does) and size in bytes."""

    key: str
    dtype: str
    nbytes: int
    #: Absolute offset of the bytes in ``_source`` (``-1`` until located).
    offset: int = -1
    #: ZIP member to spool when the record is compressed (torch.save never compresses).
    member: Any = None


class _StorageView:
    """What ``persistent_load`` returns: a storage, or (legacy) a byte window of one."""

    __slots__ = ("byte_offset", "nbytes", "storage")

    def __init__(self, storage: _Storage, byte_offset: int, nbytes: int) -> None:
        self.storage = storage
        self.byte_offset = byte_offset
        self.nbytes = nbytes


class _Tensor:
    __slots__ = ("dtype", "offset", "shape", "storage", "stride")

    def __init__(self, storage: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...],
                 dtype: str) -> None:
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.stride = stride
        self.dtype = dtype


# ---- the interpreter ----------------------------------------------------------------------------------------


class _Interpreter:
    """Evaluates one pickle stream exactly, over data values and the accepted callables only."""

    def __init__(self, machine: Machine, policy: Policy, persistent_load: Callable[[Any], Any]) -> None:
        self.m = machine
        self.policy = policy
        self.persistent_load = persistent_load

    # -- globals --------------------------------------------------------------------------------------

    def resolve(self, module: str, name: str) -> _Global:
        """Refuse any reference outside the policy's safe tier or outside what conversion understands."""
        module = _MODULE_MAPPING.get(module, module)
        verdict = self.policy.classify(module, name)
        qualified = f"{normalise_module(module, self.policy.aliases)}.{name}"
        if verdict.tier is not Tier.SAFE:
            raise ConversionRefused(
                f"the pickle references {qualified} ({verdict.tier.value} in the policy: {verdict.reason}); "
                "only tensor-rebuilding callables of the safe tier are accepted"
            )
        accepted = (
            qualified in _REBUILDERS
            or qualified in _TENSOR_TYPES
            or qualified in _VALUE_CALLABLES
            or (qualified.startswith("torch.") and qualified[6:] in _STORAGE_DTYPES)
            or (qualified.startswith("torch.storage.") and qualified[14:] == "UntypedStorage")
            or (qualified.startswith("torch.") and qualified[6:] in _TORCH_DTYPES)
        )
        if not accepted:
            raise ConversionRefused(
                f"the pickle references {qualified}: safe to import per the policy, but not a plain tensor, "
                "storage or container that can be converted without running it"
            )
        return _Global(qualified)

    # -- calls ----------------------------------------------------------------------------------------

    def call(self, func: Any, args: Any) -> Any:
        if type(func) is not _Global:
            raise CheckpointError(f"the pickle calls a {_describe(func)}, which is not callable")
        if type(args) is not tuple:
            raise CheckpointError(f"arguments of {func.qualified} are not a tuple")
        q = func.qualified
        if q in _REBUILDERS:
            return self._rebuild(q, args)
        if q == "collections.OrderedDict":
            out = _ODict()
            if args:
                if len(args) != 1 or type(args[0]) not in (list, tuple):
                    raise CheckpointError("collections.OrderedDict called with unexpected arguments")
                for pair in args[0]:
                    if type(pair) not in (list, tuple) or len(pair) != 2:
                        raise CheckpointError("collections.OrderedDict item is not a (key, value) pair")
                    out[_key(pair[0])] = pair[1]
            return out
        if q == "torch.Size":
            if len(args) != 1 or type(args[0]) not in (list, tuple) or not all(type(d) is int for d in args[0]):
                raise CheckpointError("torch.Size called with something other than a tuple of integers")
            return tuple(args[0])
        if q in ("builtins.set", "builtins.frozenset"):
            n = len(args[0]) if args and type(args[0]) in (list, tuple) else 0
            return _Meta(f"{q[9:]} of {n} items")
        if q == "builtins.slice":
            return _Meta(f"slice{_short(args)}")
        if q == "torch.device":
            return _Meta(f"device{_short(args)}")
        raise ConversionRefused(f"the pickle calls {q}, which is not a tensor-rebuilding callable")

    def _rebuild(self, q: str, args: tuple[Any, ...]) -> _Tensor:
        name = q.rsplit(".", 1)[1]
        if name == "_rebuild_from_type_v2":
            if len(args) != 4 or type(args[0]) is not _Global or type(args[1]) is not _Global:
                raise CheckpointError("_rebuild_from_type_v2 called with unexpected arguments")
            if args[0].qualified not in _REBUILDERS or args[1].qualified not in _TENSOR_TYPES:
                raise ConversionRefused(
                    f"_rebuild_from_type_v2 rebuilds through {args[0].qualified} as {args[1].qualified}"
                )
            return _as_tensor(self.call(args[0], args[2] if type(args[2]) is tuple else ()), name)
        if name in ("_rebuild_parameter", "_rebuild_parameter_with_state"):
            want = 3 if name == "_rebuild_parameter" else 4
            if len(args) != want:
                raise CheckpointError(f"{name} called with {len(args)} arguments instead of {want}")
            if type(args[1]) is not bool:
                raise CheckpointError(f"{name}: requires_grad is not a bool")
            return _as_tensor(args[0], name)
        # _rebuild_tensor(storage, offset, size, stride[, requires_grad, hooks[, dtype (v3)][, metadata]])
        fixed = {"_rebuild_tensor": 4, "_rebuild_tensor_v2": 6, "_rebuild_tensor_v3": 7}[name]
        if not fixed <= len(args) <= (fixed if name == "_rebuild_tensor" else fixed + 1):
            raise CheckpointError(f"{name} called with {len(args)} arguments")
        view = args[0]
        if type(view) is not _StorageView:
            raise CheckpointError(f"{name}: first argument is a {_describe(view)}, not a storage")
        offset, size, stride = args[1], args[2], args[3]
        if type(offset) is not int or offset < 0:
            raise CheckpointError(f"{name}: storage offset {_short(offset)} is not a non-negative integer")
        for label, dims in (("size", size), ("stride", stride)):
            if type(dims) is not tuple or not all(type(d) is int and d >= 0 for d in dims):
                raise CheckpointError(f"{name}: {label} {_short(dims)} is not a tuple of non-negative integers")
        if len(size) != len(stride):
            raise CheckpointError(f"{name}: size {size} and stride {stride} differ in length")
        if fixed >= 6 and type(args[4]) is not bool:
            raise CheckpointError(f"{name}: requires_grad is not a bool")
        dtype = view.storage.dtype
        if name == "_rebuild_tensor_v3":
            d = args[6]
            if type(d) is not _Global or not d.qualified.startswith("torch.") or d.qualified[6:] not in _TORCH_DTYPES:
                raise CheckpointError(f"{name}: dtype argument is a {_describe(d)}")
            dtype = _TORCH_DTYPES[d.qualified[6:]]
        if len(args) == fixed + 1 and fixed >= 6:
            meta = args[fixed]
            if meta is not None and type(meta) not in (dict, _ODict):
                raise CheckpointError(f"{name}: tensor metadata is a {_describe(meta)}")
            if meta and any(bool(v) for v in meta.values()):
                raise CheckpointError(
                    f"{name}: tensor carries lazy metadata bits {sorted(map(str, meta))} (conjugate/negative "
                    "views), which a plain byte copy cannot reproduce"
                )
        itemsize = DTYPE_SIZES[dtype]
        if view.byte_offset % itemsize:
            raise CheckpointError(f"{name}: storage view is not aligned to the tensor's element size")
        elem_offset = view.byte_offset // itemsize + offset
        numel = math.prod(size)
        if numel:
            last = offset + sum((d - 1) * s for d, s in zip(size, stride, strict=True))
            if (last + 1) * itemsize > view.nbytes:
                raise CheckpointError(
                    f"{name}: the view (offset {offset}, size {size}, stride {stride}) reaches element {last}, "
                    f"past the end of storage {view.storage.key!r} ({view.nbytes} bytes)"
                )
        return _Tensor(view.storage, elem_offset, size, stride, dtype)

    # -- the opcode loop ------------------------------------------------------------------------------

    def load(self) -> Any:
        """Evaluate one stream to STOP and return its value."""
        m = self.m
        stack: list[Any] = []
        marks: list[int] = []
        memo: dict[int, Any] = {}
        count = 0

        def pop() -> Any:
            if len(stack) <= (marks[-1] if marks else 0):
                raise PickleFault("unpickling stack underflow", m.offset)
            return stack.pop()

        def pop_mark() -> list[Any]:
            if not marks:
                raise PickleFault("could not find MARK", m.offset)
            at = marks.pop()
            items = stack[at:]
            del stack[at:]
            return items

        def top() -> Any:
            if len(stack) <= (marks[-1] if marks else 0):
                raise PickleFault("unpickling stack underflow", m.offset)
            return stack[-1]

        def text(raw: bytes, encoding: str = "utf-8") -> str:
            try:
                return raw.decode(encoding, "surrogatepass")
            except UnicodeDecodeError:
                raise PickleFault("invalid UTF-8 in string", m.offset) from None

        def long_text(n: int) -> Any:
            if n > _MAX_STR:
                m.skip(n)
                return _Meta(f"string of {n} characters")
            return text(m.read(n))

        def payload(n: int) -> Any:
            m.skip(n)
            return _Meta(f"{n} bytes")

        def set_items(target: Any, pairs: list[Any]) -> None:
            if type(target) not in (dict, _ODict):
                raise CheckpointError(f"SETITEMS on a {_describe(target)}")
            for i in range(0, len(pairs), 2):
                target[_key(pairs[i])] = pairs[i + 1]

        while True:
            op = m.read(1)[0]
            count += 1
            if count > _MAX_OPCODES:
                raise CheckpointError(f"the pickle runs more than {_MAX_OPCODES} opcodes; not a plain checkpoint")
            if op == 0x80:  # PROTO
                if m.read(1)[0] > 5:
                    raise PickleFault("unsupported pickle protocol", m.offset)
            elif op == 0x95:  # FRAME: framing only changes buffering
                m.read(8)
            elif op == 0x2E:  # STOP
                return pop()
            elif op == 0x28:  # MARK
                marks.append(len(stack))
            elif op == 0x4E:
                stack.append(None)
            elif op == 0x88:
                stack.append(True)
            elif op == 0x89:
                stack.append(False)
            elif op == 0x4B:  # BININT1
                stack.append(m.read(1)[0])
            elif op == 0x4D:  # BININT2
                stack.append(struct.unpack("<H", m.read(2))[0])
            elif op == 0x4A:  # BININT
                stack.append(struct.unpack("<i", m.read(4))[0])
            elif op == 0x8A:  # LONG1
                stack.append(int.from_bytes(m.read(m.read(1)[0]), "little", signed=True))
            elif op == 0x8B:  # LONG4
                n = struct.unpack("<i", m.read(4))[0]
                if n < 0:
                    raise PickleFault("LONG pickle has negative byte count", m.offset)
                if n > 64:
                    m.skip(n)
                    stack.append(_Meta(f"integer of {n} bytes"))
                else:
                    stack.append(int.from_bytes(m.read(n), "little", signed=True))
            elif op == 0x47:  # BINFLOAT
                stack.append(struct.unpack(">d", m.read(8))[0])
            elif op in (0x49, 0x4C, 0x46):  # INT / LONG / FLOAT (protocol 0)
                line = m.readline()
                try:
                    if op == 0x46:
                        stack.append(float(line))
                    elif op == 0x49 and line in (b"00", b"01"):
                        stack.append(line == b"01")
                    else:
                        stack.append(int(line.rstrip(b"L")))
                except ValueError:
                    raise PickleFault("invalid number literal", m.offset) from None
            elif op == 0x8C:  # SHORT_BINUNICODE
                stack.append(text(m.read(m.read(1)[0])))
            elif op == 0x58:  # BINUNICODE
                stack.append(long_text(struct.unpack("<I", m.read(4))[0]))
            elif op == 0x8D:  # BINUNICODE8
                stack.append(long_text(struct.unpack("<Q", m.read(8))[0]))
            elif op == 0x55:  # SHORT_BINSTRING
                stack.append(text(m.read(m.read(1)[0]), "latin-1"))
            elif op == 0x54:  # BINSTRING
                n = struct.unpack("<i", m.read(4))[0]
                if n < 0:
                    raise PickleFault("BINSTRING pickle has negative byte count", m.offset)
                stack.append(_Meta(f"string of {n} bytes") if n > _MAX_STR else text(m.read(n), "latin-1"))
            elif op in (0x53, 0x56):  # STRING / UNICODE (protocol 0): only as short metadata
                line = m.readline(1 << 20)
                stack.append(_Meta(f"protocol-0 string of {len(line)} bytes"))
            elif op == 0x43:  # SHORT_BINBYTES
                stack.append(payload(m.read(1)[0]))
            elif op == 0x42:  # BINBYTES
                stack.append(payload(struct.unpack("<I", m.read(4))[0]))
            elif op in (0x8E, 0x96):  # BINBYTES8 / BYTEARRAY8
                stack.append(payload(struct.unpack("<Q", m.read(8))[0]))
            elif op == 0x29:
                stack.append(())
            elif op == 0x85:
                stack.append((pop(),))
            elif op == 0x86:
                b = pop()
                stack.append((pop(), b))
            elif op == 0x87:
                c = pop()
                b = pop()
                stack.append((pop(), b, c))
            elif op == 0x74:  # TUPLE
                stack.append(tuple(pop_mark()))
            elif op == 0x5D:
                stack.append([])
            elif op == 0x6C:  # LIST
                stack.append(pop_mark())
            elif op == 0x7D:
                stack.append({})
            elif op == 0x64:  # DICT
                items = pop_mark()
                if len(items) % 2:
                    raise PickleFault("odd number of items for DICT", m.offset)
                d: dict[Any, Any] = {}
                set_items(d, items)
                stack.append(d)
            elif op == 0x8F:  # EMPTY_SET
                stack.append(_Meta("set"))
            elif op == 0x90:  # ADDITEMS
                pop_mark()
                if type(top()) is not _Meta:
                    raise CheckpointError("ADDITEMS on something that is not a set")
            elif op == 0x91:  # FROZENSET
                stack.append(_Meta(f"frozenset of {len(pop_mark())} items"))
            elif op == 0x61:  # APPEND
                item = pop()
                target = top()
                if type(target) is not list:
                    raise CheckpointError(f"APPEND on a {_describe(target)}")
                target.append(item)
            elif op == 0x65:  # APPENDS
                items = pop_mark()
                target = top()
                if type(target) is not list:
                    raise CheckpointError(f"APPENDS on a {_describe(target)}")
                target.extend(items)
            elif op == 0x73:  # SETITEM
                v = pop()
                k = pop()
                set_items(top(), [k, v])
            elif op == 0x75:  # SETITEMS
                items = pop_mark()
                if len(items) % 2:
                    raise PickleFault("odd number of items for SETITEMS", m.offset)
                set_items(top(), items)
            elif op == 0x30:  # POP
                if stack and (not marks or marks[-1] < len(stack)):
                    stack.pop()
                elif marks:
                    marks.pop()
                else:
                    raise PickleFault("unpickling stack underflow", m.offset)
            elif op == 0x31:
                pop_mark()
            elif op == 0x32:
                stack.append(top())
            elif op == 0x94:  # MEMOIZE
                memo[len(memo)] = top()
            elif op in (0x71, 0x72, 0x70):  # BINPUT / LONG_BINPUT / PUT
                if op == 0x71:
                    idx = m.read(1)[0]
                elif op == 0x72:
                    idx = struct.unpack("<I", m.read(4))[0]
                else:
                    try:
                        idx = int(m.readline())
                    except ValueError:
                        raise PickleFault("invalid PUT argument", m.offset) from None
                    if idx < 0:
                        raise PickleFault("negative PUT argument", m.offset)
                memo[idx] = top()
            elif op in (0x68, 0x6A, 0x67):  # BINGET / LONG_BINGET / GET
                if op == 0x68:
                    idx = m.read(1)[0]
                elif op == 0x6A:
                    idx = struct.unpack("<I", m.read(4))[0]
                else:
                    try:
                        idx = int(m.readline())
                    except ValueError:
                        raise PickleFault("invalid GET argument", m.offset) from None
                if idx not in memo:
                    raise PickleFault(f"memo value not found at index {idx}", m.offset)
                stack.append(memo[idx])
            elif op == 0x63:  # GLOBAL
                module = text(m.readline())
                name = text(m.readline())
                stack.append(self.resolve(module, name))
            elif op == 0x93:  # STACK_GLOBAL
                name_v = pop()
                module_v = pop()
                if type(module_v) is not str or type(name_v) is not str:
                    raise ConversionRefused("STACK_GLOBAL with computed (non-string) operands")
                stack.append(self.resolve(module_v, name_v))
            elif op == 0x52 or op == 0x81:  # REDUCE
                args = pop()
                stack.append(self.call(pop(), args))
            elif op == 0x92:  # NEWOBJ_EX
                kwargs = pop()
                args = pop()
                func = pop()
                if kwargs:
                    raise CheckpointError("NEWOBJ_EX with keyword arguments")
                stack.append(self.call(func, args))
            elif op == 0x69:  # INST
                module = text(m.readline())
                name = text(m.readline())
                stack.append(self.call(self.resolve(module, name), tuple(pop_mark())))
            elif op == 0x6F:  # OBJ
                items = pop_mark()
                if not items:
                    raise PickleFault("OBJ with no class", m.offset)
                stack.append(self.call(items[0], tuple(items[1:])))
            elif op == 0x62:  # BUILD
                state = pop()
                inst = top()
                if type(inst) is not _ODict or type(state) not in (dict, _ODict, tuple):
                    raise CheckpointError(f"BUILD (__setstate__) on a {_describe(inst)}")
            elif op == 0x51:  # BINPERSID
                stack.append(self.persistent_load(pop()))
            elif op == 0x50:  # PERSID
                raise CheckpointError("a text persistent id (PERSID): torch.save never writes one")
            elif op in (0x82, 0x83, 0x84):
                raise ConversionRefused("the pickle uses the copyreg extension registry (EXT opcodes)")
            elif op in (0x97, 0x98):
                raise CheckpointError("the pickle uses out-of-band buffers, which torch.save never writes")
            else:
                raise PickleFault(f"invalid load key, {bytes([op])!r}", m.offset - 1)


def _key(k: Any) -> Any:
    if type(k) in (str, int, bool, float) or k is None:
        return k
    if type(k) is tuple and all(type(x) in (str, int, bool, float) for x in k):
        return k
    raise CheckpointError(f"a dictionary key is a {_describe(k)}")


def _as_tensor(value: Any, via: str) -> _Tensor:
    if type(value) is not _Tensor:
        raise CheckpointError(f"{via} is given a {_describe(value)} instead of a tensor")
    return value


def _describe(value: Any) -> str:
    t = type(value)
    if t is _Global:
        return f"reference to {value.qualified}"
    if t is _Meta:
        return value.text  # type: ignore[no-any-return]
    if t is _Tensor:
        return "tensor"
    if t is _StorageView:
        return "storage"
    return t.__name__


def _short(value: Any, limit: int = 60) -> str:
    if type(value) is _Meta:
        return f"<{value.text}>"
    if type(value) is _Global:
        return value.qualified
    if type(value) in (_Tensor, _StorageView):
        return f"<{_describe(value)}>"
    text = repr(value) if type(value) in (str, int, float, bool, tuple) or value is None else f"<{_describe(value)}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ---- layouts --------------------------------------------------------------------------------------------------


class Checkpoint:
    """An open PyTorch checkpoint: its tensors (flattened names) and streamed access to their bytes.

    Use as a context manager (or call :meth:`close`); the file is opened once and read on demand.
    """

    def __init__(self, path: str | os.PathLike[str], *, policy: Policy | None = None) -> None:
        self.path = os.fspath(path)
        self.policy = policy or default_policy()
        self.tensors: dict[str, TensorRef] = {}
        self.skipped: dict[str, str] = {}
        #: "pytorch-zip" or "pytorch-legacy".
        self.format = ""
        #: "little" or "big": byte order of the storages as stored.
        self.byteorder = "little"
        self._storages: dict[str, _Storage] = {}
        self._spools: dict[str, BinaryIO] = {}
        self._archive: Any = None
        try:
            self._f: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise CheckpointError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        try:
            self._size = os.fstat(self._f.fileno()).st_size
            self._open()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for spool in self._spools.values():
            spool.close()
        self._spools.clear()
        self._f.close()

    # -- opening --------------------------------------------------------------------------------------

    def _open(self) -> None:
        head = self._f.read(512)
        self._f.seek(0)
        if head[:4] == b"PK\x03\x04":  # torch.load's own test (_is_zipfile)
            self.format = "pytorch-zip"
            root = self._open_zip()
        elif len(head) >= 262 and head[257:262] == b"ustar":
            raise CheckpointError(
                "legacy tar-format PyTorch checkpoint (PyTorch < 0.4): not supported (torch.load with "
                "weights_only=True refuses it too); re-save it with a current PyTorch in a sandbox"
            )
        else:
            self.format = "pytorch-legacy"
            root = self._open_legacy()
        self._flatten(root)

    def _run(self, machine: Machine, persistent_load: Callable[[Any], Any], what: str) -> Any:
        interp = _Interpreter(machine, self.policy, persistent_load)
        try:
            return interp.load()
        except PickleFault as fault:
            raise CheckpointError(f"{what} is malformed at offset {fault.offset}: {fault}") from None
        except (OverflowError, ValueError, OSError, struct.error, MemoryError, TypeError) as exc:
            raise CheckpointError(f"{what} is malformed: {type(exc).__name__}: {exc}") from None

    def _storage_from_pid(self, pid: Any, legacy: bool) -> _StorageView:
        """``persistent_load``: ('storage', storage_type, key, location, numel[, view_metadata])."""
        want = 6 if legacy else 5
        if type(pid) is not tuple or len(pid) != want or pid[0] != "storage":
            raise CheckpointError(f"unexpected persistent id {_short(pid)} (torch.load accepts only storages)")
        stype, key, location, numel = pid[1], pid[2], pid[3], pid[4]
        if type(stype) is not _Global or stype.qualified.rsplit(".", 1)[1] not in _STORAGE_DTYPES:
            raise CheckpointError(f"persistent id names {_describe(stype)} as its storage type")
        if type(key) is not str or type(location) is not str or type(numel) is not int or numel < 0:
            raise CheckpointError(f"malformed storage reference {_short(pid)}")
        dtype = _STORAGE_DTYPES[stype.qualified.rsplit(".", 1)[1]]
        st = self._storages.get(key)
        if st is None:
            # The first reference fixes the storage's dtype and size, as in torch.load.
            st = _Storage(key, dtype, numel * DTYPE_SIZES[dtype])
            self._storages[key] = st
        if legacy and pid[5] is not None:
            view = pid[5]
            if (type(view) is not tuple or len(view) != 3 or not all(type(v) is int for v in view[1:])
                    or view[1] < 0 or view[2] < 0):
                raise CheckpointError(f"malformed storage view {_short(view)}")
            size = DTYPE_SIZES[st.dtype]
            start, length = view[1] * size, view[2] * size
            if start + length > st.nbytes:
                raise CheckpointError(f"storage view {_short(view)} runs past storage {key!r}")
            return _StorageView(st, start, length)
        return _StorageView(st, 0, st.nbytes)

    def _open_zip(self) -> Any:
        from mlvet.containers.zipread import ZipArchive, ZipFormatError, ZipLimitError

        try:
            archive = ZipArchive(self._f, self._size, strict=True)
        except ZipFormatError as exc:
            raise CheckpointError(f"unreadable PyTorch zip checkpoint: {exc}") from None
        self._archive = archive
        if archive.torch_prefix is None:
            raise CheckpointError("not a PyTorch checkpoint: the zip has no '<folder>/' prefix on its first record")
        bad = [a for a in archive.anomalies if a.code in ("outside_prefix", "torch_unreadable")]
        if bad:
            raise CheckpointError(f"torch.load would refuse this archive: {bad[0].message}")
        if archive.torch_record("constants.pkl") is not None or any("/code/" in m.name for m in archive.members):
            raise ConversionRefused("this is a TorchScript archive (it carries code), not a torch.save checkpoint")
        pkl = archive.torch_record("data.pkl")
        if pkl is None:
            raise CheckpointError("not a torch.save checkpoint: the archive has no data.pkl record")
        order = archive.torch_record("byteorder")
        try:
            if order is not None:
                value = archive.read(order, 16)
                if value not in (b"little", b"big"):
                    raise CheckpointError(f"unknown byteorder record {value[:16]!r}")
                self.byteorder = value.decode()
            spool = tempfile.SpooledTemporaryFile(max_size=64 * _MiB)  # noqa: SIM115 - closed below
            with archive.open(pkl, _MAX_PICKLE_BYTES) as src:
                shutil.copyfileobj(src, spool, _MiB)
        except (ZipFormatError, ZipLimitError) as exc:
            raise CheckpointError(f"unreadable record: {exc}") from None
        with spool:
            spool.seek(0)
            machine = Machine(spool, Limits())  # type: ignore[arg-type]
            root = self._run(machine, lambda pid: self._storage_from_pid(pid, False), "data.pkl")
        for key, st in self._storages.items():
            member = archive.torch_record(f"data/{key}")
            if member is None:
                raise CheckpointError(f"storage record data/{key} is missing from the archive")
            if member.uncompressed_size != st.nbytes:
                raise CheckpointError(
                    f"storage record data/{key} holds {member.uncompressed_size} bytes, but the pickle declares "
                    f"{st.nbytes}"
                )
            if member.method == 0:
                if member.data_offset < 0 or member.data_offset + st.nbytes > self._size:
                    raise CheckpointError(f"storage record data/{key} runs past the end of the file")
                st.offset = member.data_offset
            else:
                st.member = member
        return root

    def _open_legacy(self) -> Any:
        machine = Machine(self._f, Limits())

        def no_pid(_pid: Any) -> Any:
            raise CheckpointError("a persistent id in a legacy header pickle")

        magic = self._run(machine, no_pid, "the first pickle")
        if magic != _LEGACY_MAGIC:
            raise CheckpointError("not a PyTorch checkpoint (neither a torch.save zip nor the legacy format)")
        if self._run(machine, no_pid, "the protocol-version pickle") != _LEGACY_PROTOCOL:
            raise CheckpointError("unsupported legacy checkpoint protocol version")
        self._run(machine, no_pid, "the system-info pickle")
        root = self._run(machine, lambda pid: self._storage_from_pid(pid, True), "the main pickle")
        keys = self._run(machine, no_pid, "the storage-key pickle")
        if type(keys) is not list or not all(type(k) is str for k in keys):
            raise CheckpointError("the storage-key list of the legacy checkpoint is malformed")
        if set(keys) != set(self._storages) or len(keys) != len(set(keys)):
            raise CheckpointError("the legacy storage-key list does not match the storages the pickle references")
        pos = machine.offset
        for key in keys:
            st = self._storages[key]
            self._f.seek(pos)
            raw = self._f.read(8)
            if len(raw) != 8:
                raise CheckpointError(f"legacy storage {key!r} is truncated")
            count = struct.unpack("<q", raw)[0]
            if count * DTYPE_SIZES[st.dtype] != st.nbytes:
                raise CheckpointError(f"legacy storage {key!r} has the wrong size ({count} elements)")
            st.offset = pos + 8
            pos = st.offset + st.nbytes
            if pos > self._size:
                raise CheckpointError(f"legacy storage {key!r} runs past the end of the file")
        return root

    # -- flattening -----------------------------------------------------------------------------------

    def _flatten(self, root: Any) -> None:
        """Nested dicts/lists/tuples of tensors -> dotted names; other leaves -> ``skipped``."""
        todo: list[tuple[str, Any, int]] = [("", root, 0)]
        leaves = 0
        while todo:
            name, value, depth = todo.pop()
            leaves += 1
            if leaves > _MAX_LEAVES or depth > _MAX_DEPTH:
                raise CheckpointError("the checkpoint's structure is too large or nests too deeply (cyclic?)")
            t = type(value)
            if t in (dict, _ODict, list, tuple) and value:
                items = list(value.items()) if t in (dict, _ODict) else list(enumerate(value))
                for k, v in reversed(items):
                    todo.append((f"{name}.{k}" if name else str(k), v, depth + 1))
                continue
            if t is _Tensor:
                ref_name = name or "tensor"
                if ref_name in self.tensors:
                    raise CheckpointError(f"two tensors flatten to the same name {ref_name!r}")
                self.tensors[ref_name] = TensorRef(
                    ref_name, value.dtype, value.shape, value.stride, value.storage.key, value.offset
                )
                continue
            self.skipped[name or "<root>"] = _short(value) if t is not _StorageView else "<bare storage>"
        clash = set(self.tensors) & set(self.skipped)
        if clash:
            raise CheckpointError(f"a tensor and a non-tensor entry flatten to the same name {sorted(clash)[0]!r}")

    # -- bytes ----------------------------------------------------------------------------------------

    def _source(self, st: _Storage) -> tuple[BinaryIO, int]:
        if st.member is None:
            return self._f, st.offset
        spool = self._spools.get(st.key)
        if spool is None:
            from mlvet.containers.zipread import ZipFormatError, ZipLimitError

            spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
            try:
                with self._archive.open(st.member, st.nbytes) as src:
                    shutil.copyfileobj(src, spool, _MiB)
            except (ZipFormatError, ZipLimitError) as exc:
                spool.close()
                raise CheckpointError(f"storage record data/{st.key}: {exc}") from None
            self._spools[st.key] = spool
        return spool, 0

    def _read(self, st: _Storage, byte_offset: int, n: int) -> bytes:
        f, base = self._source(st)
        f.seek(base + byte_offset)
        data = f.read(n)
        if len(data) != n:
            raise CheckpointError(f"storage {st.key!r} is truncated")
        return data

    def iter_tensor_bytes(self, ref: TensorRef, chunk: int = 1 << 20) -> Iterator[bytes]:
        """The tensor's elements in C order, little-endian, as ``tensor.contiguous()`` would hold them.

        Pieces are at most about ``chunk`` bytes (whole elements) and memory stays bounded by
        :data:`GATHER_BUDGET` whatever the tensor's size or layout.
        """
        st = self._storages.get(ref.storage_key)
        if st is None or ref.dtype not in DTYPE_SIZES:
            raise CheckpointError(f"tensor {ref.name!r} does not belong to this checkpoint")
        if ref.numel == 0:
            return
        isz = ref.itemsize
        offset, shape, stride = ref.storage_offset, ref.shape, ref.stride
        if isz not in (1, 2, 4, 8):  # 16-byte elements: gather as pairs of 8-byte units
            k = isz // 8
            offset, shape, stride, isz = offset * k, (*shape, k), (*(s * k for s in stride), 1), 8
        shape, stride = _coalesce(shape, stride)
        chunk = max(isz, chunk - chunk % isz)
        # torch swaps by the *storage* dtype (an untyped storage of a v3 tensor is never swapped).
        unit = _swap_unit(st.dtype) if self.byteorder != "little" else 0
        for piece in self._gather(st, offset, shape, stride, isz, chunk):
            yield _byteswap(piece, unit) if unit > 1 else piece

    def _gather(self, st: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...], isz: int,
                chunk: int) -> Iterator[bytes]:
        numel = math.prod(shape)
        if not shape or (len(shape) == 1 and stride[0] == 1):
            total = numel * isz
            done = 0
            while done < total:
                n = min(chunk, total - done)
                yield self._read(st, offset * isz + done, n)
                done += n
            return
        span = sum((d - 1) * s for d, s in zip(shape, stride, strict=True)) + 1
        if span * isz <= GATHER_BUDGET and numel * isz <= GATHER_BUDGET:
            src = self._read(st, offset * isz, span * isz)
            out = bytearray(numel * isz)
            _gather_into(memoryview(out).cast(_FMT[isz]), 0, _c_strides(shape), memoryview(src).cast(_FMT[isz]), 0,
                         shape, stride)
            for i in range(0, len(out), chunk):
                yield bytes(out[i : i + chunk])
            return
        if len(shape) == 1:
            # A long 1-D view: windows of at most ``chunk`` output bytes and GATHER_BUDGET source bytes.
            n, s = shape[0], stride[0]
            per = max(1, chunk // isz)
            if s:
                per = min(per, max(1, (GATHER_BUDGET // isz - 1) // s + 1))
            for i0 in range(0, n, per):
                k = min(per, n - i0)
                src = self._read(st, (offset + i0 * s) * isz, ((k - 1) * s + 1) * isz)
                yield src * k if s == 0 else memoryview(src).cast(_FMT[isz])[::s].tobytes()
            return
        yield from self._gather_rows(st, offset, shape, stride, isz, chunk)

    def _gather_rows(self, st: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...], isz: int,
                     chunk: int) -> Iterator[bytes]:
        """A view wider than the budget: groups of outer rows, each filled from windows along dim 1."""
        half = GATHER_BUDGET // 2
        row_elems = math.prod(shape[1:])
        g = min(shape[0], half // (row_elems * isz)) if row_elems * isz <= half else 0
        if g == 0:
            for i in range(shape[0]):
                yield from self._gather(st, offset + i * stride[0], shape[1:], stride[1:], isz, chunk)
            return
        out_strides = _c_strides(shape)
        rest_extent = sum((d - 1) * s for d, s in zip(shape[2:], stride[2:], strict=True))
        for i0 in range(0, shape[0], g):
            gg = min(g, shape[0] - i0)
            base = offset + i0 * stride[0]
            fixed = (gg - 1) * stride[0] + rest_extent + 1
            room = half // isz - fixed
            h = shape[1] if stride[1] == 0 else (room // stride[1] + 1 if room >= 0 else 0)
            if h < 1:
                for i in range(i0, i0 + gg):
                    yield from self._gather(st, offset + i * stride[0], shape[1:], stride[1:], isz, chunk)
                continue
            out = bytearray(gg * row_elems * isz)
            omv = memoryview(out).cast(_FMT[isz])
            for j0 in range(0, shape[1], h):
                hh = min(h, shape[1] - j0)
                start = base + j0 * stride[1]
                span = fixed + (hh - 1) * stride[1]
                src = self._read(st, start * isz, span * isz)
                _gather_into(omv, j0 * out_strides[1], out_strides, memoryview(src).cast(_FMT[isz]), 0,
                             (gg, hh, *shape[2:]), stride)
            for i in range(0, len(out), chunk):
                yield bytes(out[i : i + chunk])


_Unit = Literal["B", "H", "I", "Q"]
#: memoryview formats for 1, 2, 4 and 8-byte elements (unsigned: only the bits are moved).
_FMT: dict[int, _Unit] = {1: "B", 2: "H", 4: "I", 8: "Q"}


def _c_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    out = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        out[i] = out[i + 1] * shape[i + 1]
    return tuple(out)


def _coalesce(shape: tuple[int, ...], stride: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Drop size-1 dims and merge dims that are contiguous with each other (same element order)."""
    dims = [(d, s) for d, s in zip(shape, stride, strict=True) if d != 1]
    merged: list[tuple[int, int]] = []
    for d, s in dims:
        if merged and merged[-1][1] == s * d:
            pd, _ = merged[-1]
            merged[-1] = (pd * d, s)
        else:
            merged.append((d, s))
    return tuple(d for d, _ in merged), tuple(s for _, s in merged)


def _gather_into(out: memoryview, out_base: int, out_strides: tuple[int, ...], src: memoryview, src_base: int,
                 shape: tuple[int, ...], stride: tuple[int, ...]) -> None:
    """Copy a strided block of ``src`` into ``out`` (both in element units), one 2-D plane at a time.

    Each plane costs min(rows, columns) slice copies: a transposed matrix is copied column by column.
    """
    if len(shape) == 1:
        shape, stride, out_strides = (1, *shape), (0, *stride), (0, *out_strides)
    outer = shape[:-2]
    m_rows, n_cols = shape[-2], shape[-1]
    s_r, s_c = stride[-2], stride[-1]
    o_r, o_c = out_strides[-2], out_strides[-1]
    for idx in itertools.product(*(range(d) for d in outer)):
        sb = src_base + sum(i * s for i, s in zip(idx, stride, strict=False))
        ob = out_base + sum(i * s for i, s in zip(idx, out_strides, strict=False))
        if n_cols >= m_rows:
            for r in range(m_rows):
                s0, o0 = sb + r * s_r, ob + r * o_r
                out[o0 : o0 + (n_cols - 1) * o_c + 1 : o_c] = _strided(src, s0, n_cols, s_c)
        else:
            for c in range(n_cols):
                s0, o0 = sb + c * s_c, ob + c * o_c
                out[o0 : o0 + (m_rows - 1) * o_r + 1 : o_r] = _strided(src, s0, m_rows, s_r)


def _strided(src: memoryview, start: int, n: int, step: int) -> memoryview:
    if step == 0:  # a broadcast (expanded) dimension repeats one element
        return memoryview(src[start : start + 1].tobytes() * n).cast(_FMT[src.itemsize])
    return src[start : start + (n - 1) * step + 1 : step]


def _swap_unit(dtype: str) -> int:
    size = DTYPE_SIZES[dtype]
    return size // 2 if dtype.startswith("C") else size


def _byteswap(data: bytes, unit: int) -> bytes:
    out = bytearray(len(data))
    for i in range(unit):
        out[i::unit] = data[unit - 1 - i :: unit]
    return bytes(out)


def open_checkpoint(path: str | os.PathLike[str], *, policy: Policy | None = None) -> Checkpoint:
    """Open a PyTorch checkpoint (zip or legacy) and read its tensor structure without unpickling it.

    Raises :class:`ConversionRefused` when the pickle references anything but tensor rebuilding and plain
    containers, and :class:`CheckpointError` when the file is not a readable checkpoint.
    """
    return Checkpoint(path, policy=policy)
