"""The exact pickle interpreter of :mod:`mlvet.trust.torchckpt`.

It runs on the scanner's pickle stream layer (:class:`mlvet.analysis.pickle_vm.Machine`: bounded buffered
reads, skipping of large payloads, the same truncation faults) and computes exact values for the data
opcodes only; a global outside the closed set of :mod:`mlvet.trust.ckpt_values` stops it with
:class:`~mlvet.trust.ckpt_values.ConversionRefused`. No Python object is created from the file."""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

from mlvet.analysis.pickle_stream import PickleFault
from mlvet.analysis.pickle_vm import Machine
from mlvet.policy import Policy, Tier, normalise_module
from mlvet.trust.ckpt_values import (
    _MAX_OPCODES,
    _MAX_STR,
    _MODULE_MAPPING,
    _REBUILDERS,
    _STORAGE_DTYPES,
    _TENSOR_TYPES,
    _TORCH_DTYPES,
    _VALUE_CALLABLES,
    DTYPE_SIZES,
    CheckpointError,
    ConversionRefused,
    _as_tensor,
    _describe,
    _Global,
    _key,
    _Meta,
    _ODict,
    _short,
    _StorageView,
    _Tensor,
)


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
