"""A streaming, symbolic pickle machine: it runs the opcodes on symbols, never on objects.

Why a machine and not a list of GLOBAL opcodes: scanners that only read GLOBAL operands miss names built
on the stack (STACK_GLOBAL with memoised or computed strings), calls made through INST/OBJ/NEWOBJ,
callables passed as arguments, and the difference between importing a name and calling it. The machine
keeps a symbolic stack, mark stack and memo, so every callable reference is resolved and every call made
while loading is recorded with its arguments. Its input buffer and output are in ``pickle_stream``.

Why streaming: model files are many GB. The file is read in chunks; large payloads (BINBYTES8,
BYTEARRAY8, long strings) are skipped with ``seek`` and remembered only as (offset, length, first bytes).
Containers keep a bounded number of items and the memo has a byte budget, so memory stays bounded on any
input. There is no opcode or time budget: a large benign file is never cut short into a bad verdict.

The machine stops exactly where ``pickle.load`` would stop: at STOP, or at the first opcode the real
unpickler would fail on. Everything before the fault is reported (payload-before-error evasions).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, BinaryIO

from mlvet.analysis.pickle_stream import (
    _MARGIN,
    PickleFault,
    StreamAnalysis,
    StreamBuffer,
    _as_text,
    _looks_like_pickle,
    _pid_text,
    _proto0_string,
    _unpack_H,
    _unpack_I4,
    _unpack_i4,
    _unpack_Q,
    add_items,
    record_call,
    str_value,
)
from mlvet.analysis.values import (
    EVICTED,
    NUMBER,
    Blob,
    Call,
    Global,
    Opaque,
    PDict,
    PList,
    PSet,
)
from mlvet.limits import Limits

#: Memo keys from which a PUT far beyond the stored entries is reported (CPython allocates 2*key slots).
_SPARSE_MEMO = 1 << 24
#: Legacy torch storages remembered per stream (their raw data follows the pickles; see formats.pickle).
_MAX_STORAGES = 1 << 20
#: Symbolic values whose sharing multiplies the size of the loaded value.
_SHAREABLE = frozenset({tuple, PList, PDict, PSet, Call})


#: Called after each BUILD with the built value, the stream right after the BUILD opcode; it may consume the
#: raw bytes that follow (joblib's numpy array data after a NumpyArrayWrapper) or raise PickleFault.
BuildHook = Callable[[Any, "Machine"], None]


class Machine(StreamBuffer):
    """Runs pickle streams symbolically from a binary file object (seekable or not)."""

    def __init__(
        self,
        f: BinaryIO,
        limits: Limits,
        *,
        extensions: dict[int, tuple[str, str]] | None = None,
        build_hook: BuildHook | None = None,
        seekable: bool = True,
        persistent: str | None = None,
    ) -> None:
        super().__init__(f, seekable=seekable)
        #: How persistent ids resolve: None (an opaque object), or "torch-legacy": the legacy torch.load
        #: returns the class in ``('module', cls, source_file, source)`` ids (a full-model save's classes).
        self.persistent = persistent
        self.limits = limits
        self.extensions = extensions or {}
        self.build_hook = build_hook
        self._count = 0

    def run(self) -> StreamAnalysis:
        """Run one pickle stream from the current position to STOP (or the first fault)."""
        res = StreamAnalysis(start=self.offset)
        try:
            self._run(res)
        except PickleFault as fault:
            res.fault = fault
        except (OverflowError, ValueError, OSError) as exc:
            # Absurd declared lengths (seek past what the OS allows ...): the loader fails here too.
            res.fault = PickleFault(f"invalid payload length ({type(exc).__name__}: {exc})", self.offset)
        except (IndexError, struct.error):
            # A fixed-size argument read straight from the chunk ran past the end of the file.
            res.fault = PickleFault("pickle data was truncated", self.offset)
        except RecursionError:  # pragma: no cover - defensive; the machine is iterative
            res.fault = PickleFault("nesting too deep", self.offset)
        res.end = self.offset
        return res

    def _run(self, res: StreamAnalysis) -> None:
        try:
            self._loop(res)
        finally:
            res.opcodes = self._count

    def _loop(self, res: StreamAnalysis) -> None:
        limits = self.limits
        max_stack = limits.max_stack
        cap = limits.container_items
        max_string = limits.max_string
        memo_budget = limits.memo_budget_bytes
        stack: list[Any] = []
        marks: list[int] = []
        memo: dict[int, Any] = {}
        memo_used = 0
        globals_ = res.globals
        calls = res.calls
        events = res.events
        nested = res.nested
        count = 0
        proto = 0
        code_seen = False
        frame_end = -1

        def check_frame(start: int, end: int) -> None:
            # An opcode that runs past its frame is read differently by pickle.load(file) and
            # pickle.loads(bytes): a known way to hide opcodes inside "data".
            if start < frame_end < end:
                events.append(("FRAME", f"payload runs past its frame end at {frame_end}", start, str(frame_end)))

        def underflow(at: int) -> PickleFault:
            return PickleFault("unpickling stack underflow (below the current MARK)", at)

        def pop_mark() -> list[Any]:
            if not marks:
                raise PickleFault("could not find MARK", self.offset - 1)
            m = marks.pop()
            items = stack[m:]
            del stack[m:]
            return items

        # pickle's "fence": an opcode may only take items pushed after the innermost MARK.
        def pop() -> Any:
            if len(stack) <= (marks[-1] if marks else 0):
                raise underflow(self.offset - 1)
            return stack.pop()

        def top() -> Any:
            if len(stack) <= (marks[-1] if marks else 0):
                raise underflow(self.offset - 1)
            return stack[-1]

        def memo_put(key: int, value: Any) -> None:
            nonlocal memo_used
            if key < 0:
                raise PickleFault("negative PUT argument", self.offset)
            if key >= _SPARSE_MEMO and key > 4 * len(memo) + 1024:
                # CPython's unpickler sizes its memo table to twice the largest key: one PUT of a huge key
                # makes it allocate gigabytes (a memory bomb in a dozen bytes).
                events.append(("PKL209", f"PUT to memo key {key} with {len(memo)} entries stored: the loader "
                               f"allocates a memo table of {2 * key:,} slots ({16 * key / 2**30:.1f} GiB)",
                               self.offset, f"PUT {key}"))
            if memo_used >= memo_budget and type(value) is not Global:
                memo[key] = EVICTED
                return
            memo_used += (len(value) + 64) if type(value) is str else 96
            memo[key] = value

        def memo_get(key: int) -> Any:
            try:
                value = memo[key]
            except KeyError:
                raise PickleFault(f"memo value not found at index {key}", self.offset) from None
            if type(value) in _SHAREABLE:
                res.shared += 1
            return value

        def make_global(module: str, name: str, opname: str, at: int) -> Global:
            nonlocal code_seen
            code_seen = True
            g = Global(module, name, at, opname, count)
            globals_.append(g)
            return g

        def do_call(func: Any, args: Any, kind: str, at: int, kwargs: Any = None) -> Call:
            return record_call(res, func, args, kind, at, count, kwargs)

        def add_items_(container: Any, items: list[Any]) -> None:
            add_items(container, items, cap, code_seen)

        def blob_or_bytes(kind: str, n: int, at: int) -> Any:
            check_frame(at, self.offset + n)
            if n <= max_string:
                data = self.read(n)
                if n >= 8 and data[0] == 0x80 and 1 <= data[1] <= 5:
                    nested.append((self.offset - n, n, f"{kind} payload is itself a pickle"))
                return data
            start = self.offset
            head = self.skip(n)
            if _looks_like_pickle(head):
                nested.append((start, n, f"{kind} payload is itself a pickle"))
            return Blob(kind, start, n, head)

        def long_string(kind: str, n: int) -> Any:
            check_frame(self.offset, self.offset + n)
            if n <= max_string:
                raw = self.read(n)
                return str_value(raw, self.offset - n)
            start = self.offset
            head = self.skip(n)
            return Blob(kind, start, n, head)

        while True:
            if self.pos + _MARGIN > len(self.buf) and not self.eof:
                self._refill(_MARGIN)
            buf = self.buf
            pos = self.pos
            if pos >= len(buf):
                raise PickleFault("pickle data was truncated (no STOP opcode)", self.offset)
            op = buf[pos]
            at = self.base + pos
            self.pos = pos + 1
            count += 1
            self._count = count
            if not count & 4095 and len(stack) > max_stack:
                raise PickleFault(f"stack deeper than the limit of {max_stack} items", at)

            # Most frequent data opcodes first.
            if op == 0x94:  # MEMOIZE
                if len(stack) <= (marks[-1] if marks else 0):
                    raise underflow(at)
                if memo_used < memo_budget:
                    memo[len(memo)] = stack[-1]
                    memo_used += 96
                else:
                    memo_put(len(memo), stack[-1])
            elif op == 0x8C:  # SHORT_BINUNICODE
                if pos + 1 < len(buf):
                    n = buf[pos + 1]
                    e = pos + 2 + n
                    if e <= len(buf):
                        raw = buf[pos + 2 : e]
                        self.pos = e
                    else:
                        self.pos = pos + 2
                        raw = self.read(n)
                else:
                    raw = self.read(self.read(1)[0])
                if at < frame_end < self.offset:
                    check_frame(at, self.offset)
                try:
                    stack.append(raw.decode("utf-8", "surrogatepass"))
                except UnicodeDecodeError:
                    raise PickleFault("invalid UTF-8 in string", at) from None
            elif op == 0x47:  # BINFLOAT
                if pos + 9 > len(buf):
                    raise PickleFault("pickle data was truncated", at)
                self.pos = pos + 9
                stack.append(NUMBER)
            # Fixed-size arguments are read straight from the chunk: the refill above guarantees
            # _MARGIN bytes except at end of file, where a short read raises and becomes a fault.
            elif op == 0x4B:  # BININT1
                stack.append(buf[pos + 1])
                self.pos = pos + 2
            elif op == 0x4A:  # BININT
                stack.append(_unpack_i4(buf, pos + 1)[0])
                self.pos = pos + 5
            elif op == 0x4D:  # BININT2
                stack.append(_unpack_H(buf, pos + 1)[0])
                self.pos = pos + 3
            elif op == 0x71:  # BINPUT
                if len(stack) <= (marks[-1] if marks else 0):
                    raise underflow(at)
                memo_put(buf[pos + 1], stack[-1])
                self.pos = pos + 2
            elif op == 0x68:  # BINGET
                stack.append(memo_get(buf[pos + 1]))
                self.pos = pos + 2
            elif op == 0x72:  # LONG_BINPUT
                if len(stack) <= (marks[-1] if marks else 0):
                    raise underflow(at)
                memo_put(_unpack_I4(buf, pos + 1)[0], stack[-1])
                self.pos = pos + 5
            elif op == 0x6A:  # LONG_BINGET
                stack.append(memo_get(_unpack_I4(buf, pos + 1)[0]))
                self.pos = pos + 5
            elif op == 0x28:  # MARK
                marks.append(len(stack))
            elif op == 0x4E:  # NONE
                stack.append(None)
            elif op == 0x88:  # NEWTRUE
                stack.append(True)
            elif op == 0x89:  # NEWFALSE
                stack.append(False)
            elif op == 0x85:  # TUPLE1
                stack.append((pop(),))
            elif op == 0x86:  # TUPLE2
                b = pop()
                a = pop()
                stack.append((a, b))
            elif op == 0x87:  # TUPLE3
                c3 = pop()
                b = pop()
                a = pop()
                stack.append((a, b, c3))
            elif op == 0x29:  # EMPTY_TUPLE
                stack.append(())
            elif op == 0x5D:  # EMPTY_LIST
                stack.append(PList())
            elif op == 0x7D:  # EMPTY_DICT
                stack.append(PDict())
            elif op == 0x65:  # APPENDS
                items = pop_mark()
                target = top()
                if type(target) is PList:
                    add_items_(target, items)
                else:
                    do_call(target, tuple(items[:cap]), "method:extend", at)
            elif op == 0x61:  # APPEND
                item = pop()
                target = top()
                if type(target) is PList:
                    add_items_(target, [item])
                else:
                    do_call(target, (item,), "method:append", at)
            elif op == 0x75:  # SETITEMS
                items = pop_mark()
                if len(items) % 2:
                    raise PickleFault("odd number of items for SETITEMS", at)
                target = top()
                pairs = list(zip(items[::2], items[1::2], strict=True))
                if type(target) is PDict:
                    add_items_(target, pairs)
                else:
                    do_call(target, tuple(pairs[:cap]), "method:__setitem__", at)
            elif op == 0x73:  # SETITEM
                v = pop()
                k = pop()
                target = top()
                if type(target) is PDict:
                    add_items_(target, [(k, v)])
                else:
                    do_call(target, (k, v), "method:__setitem__", at)
            elif op == 0x58:  # BINUNICODE
                n = _unpack_I4(self.read(4))[0]
                stack.append(long_string("str", n))
            elif op == 0x43:  # SHORT_BINBYTES
                n = self.read(1)[0]
                stack.append(blob_or_bytes("bytes", n, at))
            elif op == 0x42:  # BINBYTES
                n = _unpack_I4(self.read(4))[0]
                stack.append(blob_or_bytes("bytes", n, at))
            elif op == 0x8E:  # BINBYTES8
                n = _unpack_Q(self.read(8))[0]
                stack.append(blob_or_bytes("bytes", n, at))
            elif op == 0x96:  # BYTEARRAY8
                n = _unpack_Q(self.read(8))[0]
                stack.append(blob_or_bytes("bytearray", n, at))
            elif op == 0x8D:  # BINUNICODE8
                n = _unpack_Q(self.read(8))[0]
                stack.append(long_string("str", n))
            elif op == 0x55:  # SHORT_BINSTRING
                n = self.read(1)[0]
                check_frame(at, self.offset + n)
                stack.append(str_value(self.read(n), at, "latin-1"))
            elif op == 0x54:  # BINSTRING
                n = _unpack_i4(self.read(4))[0]
                if n < 0:
                    raise PickleFault("BINSTRING pickle has negative byte count", at)
                stack.append(long_string("str", n))
            elif op == 0x8A:  # LONG1
                n = self.read(1)[0]
                self.read(n)
                stack.append(NUMBER)
            elif op == 0x8B:  # LONG4
                n = _unpack_i4(self.read(4))[0]
                if n < 0:
                    raise PickleFault("LONG pickle has negative byte count", at)
                self.skip(n)
                stack.append(NUMBER)
            elif op == 0x95:  # FRAME
                if self.offset < frame_end:
                    events.append(("FRAME", "a FRAME starts inside the previous frame", at, ""))
                frame_end = self.offset + 8 + _unpack_Q(self.read(8))[0]
                self._check_frame_fits(frame_end, at)
            elif op == 0x80:  # PROTO
                proto = self.read(1)[0]
                if proto > 5:
                    raise PickleFault(f"unsupported pickle protocol: {proto}", at)
                res.protocol = proto
            elif op == 0x2E:  # STOP
                if not stack:
                    raise PickleFault("STOP with an empty stack", at)
                res.result = pop()
                res.stopped = True
                res.opcodes = count
                return
            elif op == 0x93:  # STACK_GLOBAL
                name = pop()
                module = pop()
                if type(module) is str and type(name) is str:
                    stack.append(make_global(module, name, "STACK_GLOBAL", at))
                elif module is EVICTED or name is EVICTED:
                    events.append(("PKL207", "STACK_GLOBAL operand was summarised (memo budget)", at, ""))
                    stack.append(make_global("<unresolved>", "<unresolved>", "STACK_GLOBAL", at))
                elif type(module) in (Call, Global, Opaque) or type(name) in (Call, Global, Opaque):
                    from mlvet.analysis.values import render

                    events.append(
                        ("PKL201", "STACK_GLOBAL with computed operands", at,
                         f"find_class({render(module)}, {render(name)})")
                    )
                    stack.append(make_global(_as_text(module), _as_text(name), "STACK_GLOBAL", at))
                else:
                    raise PickleFault("STACK_GLOBAL requires str", at)
            elif op == 0x63:  # GLOBAL
                module = str_value(self.readline(), at)
                name = str_value(self.readline(), at)
                stack.append(make_global(module, name, "GLOBAL", at))
            elif op == 0x52:  # REDUCE
                args = pop()
                func = pop()
                if type(args) is not tuple and type(args) is not Call and args is not EVICTED:
                    raise PickleFault("REDUCE arguments must be a tuple", at)
                stack.append(do_call(func, args, "call", at))
            elif op == 0x81:  # NEWOBJ
                args = pop()
                cls = pop()
                stack.append(do_call(cls, args, "new", at))
            elif op == 0x92:  # NEWOBJ_EX
                kwargs = pop()
                args = pop()
                cls = pop()
                stack.append(do_call(cls, args, "new", at, kwargs))
            elif op == 0x62:  # BUILD
                state = pop()
                inst = top()
                ti = type(inst)
                if ti is Global:
                    events.append(
                        ("PKL203", f"BUILD sets attributes on the imported object {inst.dotted}", at,
                         f"{inst.dotted}.__dict__.update(...)")
                    )
                    do_call(inst, (state,), "build", at)
                elif ti is Call:
                    # __setstate__ (or __dict__ update) of an instance of the class that made it.
                    owner = inst.func
                    inst.state = state
                    c = Call(owner, state, "build", at, count)
                    calls.append(c)
                    if type(owner) is Global:
                        owner.add_call(c)
                if self.build_hook is not None:
                    self.build_hook(inst, self)
            elif op == 0x8F:  # EMPTY_SET
                stack.append(PSet())
            elif op == 0x90:  # ADDITEMS
                items = pop_mark()
                target = top()
                if type(target) is PSet:
                    add_items_(target, items)
                else:
                    do_call(target, tuple(items[:cap]), "method:add", at)
            elif op == 0x91:  # FROZENSET
                items = pop_mark()
                fs = PSet(frozen=True)
                add_items_(fs, items)
                stack.append(fs)
            elif op == 0x74:  # TUPLE
                items = pop_mark()
                if len(items) > cap:
                    kept = items[:cap]
                    if code_seen:
                        kept += [it for it in items[cap:] if type(it) in (Global, Call)]
                    stack.append((*kept, Opaque(f"+{len(items) - cap} items")))
                else:
                    stack.append(tuple(items))
            elif op == 0x6C:  # LIST
                items = pop_mark()
                lst = PList()
                add_items_(lst, items)
                stack.append(lst)
            elif op == 0x64:  # DICT
                items = pop_mark()
                if len(items) % 2:
                    raise PickleFault("odd number of items for DICT", at)
                d = PDict()
                add_items_(d, list(zip(items[::2], items[1::2], strict=True)))
                stack.append(d)
            elif op == 0x30:  # POP: the top item, or the innermost MARK when nothing is above it
                if stack and (not marks or marks[-1] < len(stack)):
                    stack.pop()
                elif marks:
                    marks.pop()
                else:
                    raise underflow(at)
            elif op == 0x31:  # POP_MARK
                pop_mark()
            elif op == 0x32:  # DUP
                value = top()
                if type(value) in _SHAREABLE:
                    res.shared += 1
                stack.append(value)
            elif op == 0x69:  # INST
                module = str_value(self.readline(), at)
                name = str_value(self.readline(), at)
                items = pop_mark()
                g = make_global(module, name, "INST", at)
                stack.append(do_call(g, tuple(items[:cap]), "call", at))
            elif op == 0x6F:  # OBJ
                items = pop_mark()
                if not items:
                    raise PickleFault("OBJ with no class", at)
                stack.append(do_call(items[0], tuple(items[1 : cap + 1]), "call", at))
            elif op in (0x82, 0x83, 0x84):  # EXT1 / EXT2 / EXT4
                if op == 0x82:
                    code = self.read(1)[0]
                elif op == 0x83:
                    code = _unpack_H(self.read(2))[0]
                else:
                    code = _unpack_i4(self.read(4))[0]
                target = self.extensions.get(code)
                if target is None:
                    events.append(
                        ("PKL202", f"extension code {code} refers to a callable registered at load time", at,
                         f"copyreg._extension_registry[{code}]")
                    )
                    stack.append(make_global("<extension>", str(code), "EXT", at))
                else:
                    stack.append(make_global(target[0], target[1], "EXT", at))
            elif op == 0x51:  # BINPERSID
                pid = pop()
                if (self.persistent == "torch-legacy" and type(pid) is tuple and len(pid) >= 2
                        and pid[0] == "module" and type(pid[1]) is Global):
                    # Legacy torch.load's persistent_load returns the class itself (after comparing the
                    # saved source with the current one): what follows calls or rebuilds that class.
                    stack.append(pid[1])
                else:
                    if (self.persistent == "torch-legacy" and type(pid) is tuple and len(pid) >= 5
                            and pid[0] == "storage" and type(pid[1]) is Global and type(pid[2]) is str
                            and type(pid[4]) is int and len(res.storages) < _MAX_STORAGES):
                        res.storages[pid[2]] = (pid[1].name, pid[4])
                    stack.append(Opaque(f"persistent_load({_pid_text(pid)})"))
            elif op == 0x50:  # PERSID
                pid = self.readline()
                stack.append(Opaque(f"persistent_load({pid[:40]!r})"))
            elif op == 0x49:  # INT (also I01/I00 booleans)
                line = self.readline()
                try:
                    stack.append(int(line))
                except ValueError:
                    raise PickleFault("invalid literal for INT", at) from None
            elif op == 0x4C:  # LONG
                line = self.readline()
                if not line.rstrip(b"L").lstrip(b"-+").isdigit():
                    raise PickleFault("invalid literal for LONG", at)
                stack.append(NUMBER)
            elif op == 0x46:  # FLOAT
                line = self.readline()
                try:
                    float(line)
                except ValueError:
                    raise PickleFault("could not convert string to float", at) from None
                stack.append(NUMBER)
            elif op == 0x53:  # STRING
                line = self.readline(1 << 24)
                stack.append(_proto0_string(line, at))
            elif op == 0x56:  # UNICODE
                line = self.readline(1 << 24)
                try:
                    stack.append(line.decode("raw-unicode-escape")[:max_string])
                except UnicodeDecodeError:
                    raise PickleFault("invalid raw-unicode-escape string", at) from None
            elif op == 0x67:  # GET
                line = self.readline()
                try:
                    stack.append(memo_get(int(line)))
                except ValueError:
                    raise PickleFault("invalid GET argument", at) from None
            elif op == 0x70:  # PUT
                line = self.readline()
                if len(stack) <= (marks[-1] if marks else 0):
                    raise underflow(at)
                try:
                    memo_put(int(line), stack[-1])
                except ValueError:
                    raise PickleFault("invalid PUT argument", at) from None
            elif op == 0x97:  # NEXT_BUFFER
                stack.append(Opaque("out-of-band buffer"))
            elif op == 0x98:  # READONLY_BUFFER
                top()
            else:
                raise PickleFault(f"invalid load key, {bytes([op])!r} (opcode 0x{op:02x})", at)
