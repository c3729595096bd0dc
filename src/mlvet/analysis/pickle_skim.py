"""The skim: a fast, validating pass over pickle streams that reference no callable.

A pickle that contains no GLOBAL, STACK_GLOBAL, INST or EXT opcode cannot call anything: every callable
must first be imported by one of those. Most large pickles of plain data are such streams, so they are
walked first by this loop, which computes opcode lengths and only the bookkeeping the loader's own checks
need: the stack depth above the innermost MARK, the MARK stack, and which memo keys exist. Whenever the
real unpickler could reject the stream here (a missing MARK, a stack underflow, a memo key that was never
stored, an odd SETITEMS, STOP on an empty stack), or the stream shares containers through the memo often
enough to build an exponentially large value, or it imports a callable, the skim stops with ``has_code``
and the caller re-runs the stream through the full symbolic machine, which reports exactly what the loader
would do. Soundness therefore never depends on the skim: it only proves "plain, valid data" quickly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from mlvet.analysis.pickle_stream import _CHUNK, PickleFault, _looks_like_pickle, _unpack_I4, _unpack_i4, _unpack_Q
from mlvet.analysis.pickle_vm import Machine

#: Hot-loop opcodes and their lengths: the fixed-size scalar pushes NONE, NEWTRUE, NEWFALSE, NEXT_BUFFER,
#: BINFLOAT, BININT, BININT1, BININT2.
_FIXED = [0] * 256
for _op in b"N\x88\x89\x97":
    _FIXED[_op] = 1
for _code, _n in ((b"G", 9), (b"J", 5), (b"K", 2), (b"M", 3)):
    _FIXED[_code[0]] = _n
#: Opcodes that make a container: empty ones, TUPLE1-3, and the MARK-consuming TUPLE, LIST, DICT, FROZENSET.
_MAKES_CONTAINER = frozenset(b")]}\x8f\x85\x86\x87tld\x91")
_MARK_CONTAINER = frozenset(b"tld\x91")
_TUPLE_N = {0x85: 1, 0x86: 2, 0x87: 3}
#: cmap grows by this much at a time (memo keys are dense, so it stays the size of the memo).
_PAD = bytes(1 << 16)
#: Opcodes the hot loop models: reaching the slow path means a check failed.
_HANDED_OVER = _MAKES_CONTAINER | frozenset(b"\x94eu\x90ashjqr")
#: Opcodes that import a callable or call one: the full machine decides.
_CODE_OPS = frozenset(b"ci\x93\x82\x83\x84Rbo\x81\x92")
#: Protocol-0 argument lines that push one value.
_LINE_PUSH = frozenset(b"IFLSVP")
#: Opcodes with a one-byte length that push one value.
_SHORT_OPS = frozenset(b"\x8c\x8aUC")
#: Container references through the memo tolerated before the full machine measures the expansion.
_SHARED_LIMIT = 32
#: Memo keys beyond the dense table: rare in real files; the full machine handles them.
_SPARSE_KEYS = 1 << 20


@dataclass
class SkimResult:
    """Outcome of the skim: ``has_code`` means the full machine must run; else the stream is plain data."""

    has_code: bool
    stopped: bool = False
    nested: list[tuple[int, int, str]] = field(default_factory=list)
    fault: PickleFault | None = None
    protocol: int = 0
    #: Why the full machine is needed (for tests and debugging).
    reason: str = ""


def skim(m: Machine) -> SkimResult:
    """Walk one stream quickly; stop early (``has_code``) at anything the full machine must judge."""
    res = SkimResult(has_code=False)
    fixed = _FIXED
    unpack_i4 = _unpack_I4
    frame_end = -1
    # Python's picklers use dense memo keys (MEMOIZE takes len(memo), PUT the next number), so "keys below
    # memo_hi" is the whole memo; a sparse key hands the stream over to the full machine.
    depth = 0
    memo_hi = 0
    floor = 0  # stack depth at the innermost MARK (items at or below it are fenced off)
    marks: list[int] = []
    #: cmap[key] == 1: the key holds a container (memoised right after it was made); sharing it is counted.
    cmap = bytearray(_PAD)  # always longer than memo_hi (extended as the memo grows)
    shared = 0
    cpos = -1  # buffer position right after the last container-making opcode not memoised at once

    def bail(why: str) -> SkimResult:
        res.has_code = True
        res.reason = why
        return res

    try:
        while True:
            buf = m.buf
            pos = m.pos
            if depth <= floor and buf[pos : pos + 1] == b"\x94":
                raise PickleFault("unpickling stack underflow (MEMOIZE with nothing above the MARK)", m.base + pos)
            try:
                # Hot loop: scalar pushes, one table lookup each; then the most
                # frequent structural opcodes. Every check is made before the state changes, so a ``break``
                # hands the opcode to the slow path unchanged. An IndexError means we ran off the chunk.
                # String contents are not UTF-8-validated: without callables nothing can execute them.
                while True:
                    while step := fixed[op := buf[pos]]:
                        depth += 1
                        pos += step
                    if op == 0x94:  # MEMOIZE of a scalar or string (containers are memoised where made)
                        if depth <= floor:
                            break
                        memo_hi += 1
                        if not memo_hi & 0xFFFF:
                            cmap.extend(_PAD)
                        pos += 1
                        continue
                    if op == 0x68:  # BINGET: the key must exist; sharing a container is counted
                        key = buf[pos + 1]
                        if key >= memo_hi:
                            break
                        if cmap[key]:
                            shared += 1
                            if shared > _SHARED_LIMIT:
                                break
                        depth += 1
                        pos += 2
                        continue
                    if op == 0x6A:  # LONG_BINGET
                        key = unpack_i4(buf, pos + 1)[0]
                        if key >= memo_hi:
                            break
                        if cmap[key]:
                            shared += 1
                            if shared > _SHARED_LIMIT:
                                break
                        depth += 1
                        pos += 5
                        continue
                    if op == 0x28:  # MARK (a MEMOIZE right after it would find nothing to memoise)
                        if buf[pos + 1] == 0x94:
                            break
                        marks.append(floor)
                        floor = depth
                        pos += 1
                        continue
                    if op == 0x8C:  # SHORT_BINUNICODE
                        end = pos + 2 + buf[pos + 1]
                    elif op == 0x7D or op == 0x5D or op == 0x29 or op == 0x8F:  # empty dict, list, tuple, set
                        if buf[pos + 1] == 0x94:  # memoised: remember the key holds a container
                            cmap[memo_hi] = 1
                            memo_hi += 1
                            if not memo_hi & 0xFFFF:
                                cmap.extend(_PAD)
                            depth += 1
                            pos += 2
                            continue
                        end = cpos = pos + 1
                    elif op == 0x75 or op == 0x65 or op == 0x90:  # SETITEMS, APPENDS, ADDITEMS
                        if not marks or floor <= marks[-1] or (op == 0x75 and (depth - floor) & 1):
                            break  # no MARK, no target below it, or an odd SETITEMS
                        depth = floor
                        floor = marks.pop()
                        pos += 1
                        continue
                    elif 0x85 <= op <= 0x87:  # TUPLE1, TUPLE2, TUPLE3
                        n = op - 0x85  # items consumed beyond the one replaced
                        if depth - n <= floor:
                            break
                        if buf[pos + 1] == 0x94:
                            cmap[memo_hi] = 1
                            memo_hi += 1
                            if not memo_hi & 0xFFFF:
                                cmap.extend(_PAD)
                            depth -= n
                            pos += 2
                            continue
                        depth -= n + 1
                        end = cpos = pos + 1
                    elif op == 0x61 or op == 0x73:  # APPEND, SETITEM (the target stays above the MARK)
                        n = 1 if op == 0x61 else 2
                        if depth - n <= floor:
                            break
                        depth -= n
                        pos += 1
                        continue
                    elif op == 0x71 or op == 0x72:  # BINPUT, LONG_BINPUT (protocols 0-3)
                        if op == 0x71:
                            key = buf[pos + 1]
                            nxt = pos + 2
                        else:
                            key = buf[pos + 1] | buf[pos + 2] << 8 | buf[pos + 3] << 16 | buf[pos + 4] << 24
                            nxt = pos + 5
                        if depth <= floor or key > memo_hi:
                            break  # PUT on an empty stack, or a sparse key
                        cmap[key] = cpos == pos
                        if key == memo_hi:
                            memo_hi += 1
                            if not memo_hi & 0xFFFF:
                                cmap.extend(_PAD)
                        pos = nxt
                        continue
                    elif op == 0x74 or op == 0x6C or op == 0x64 or op == 0x91:  # TUPLE, LIST, DICT, FROZENSET
                        memoised = buf[pos + 1] == 0x94
                        if not marks or (op == 0x64 and (depth - floor) & 1):
                            break
                        depth = floor
                        floor = marks.pop()
                        if memoised:
                            cmap[memo_hi] = 1
                            memo_hi += 1
                            if not memo_hi & 0xFFFF:
                                cmap.extend(_PAD)
                            depth += 1
                            pos += 2
                            continue
                        end = cpos = pos + 1
                    elif op in _SHORT_OPS:  # LONG1, SHORT_BINSTRING, SHORT_BINBYTES
                        end = pos + 2 + buf[pos + 1]
                        if op == 0x43 and end - pos >= 10 and buf[pos + 2] == 0x80:
                            break  # bytes that may be a nested pickle: the slow path records them
                    elif op == 0x58:  # BINUNICODE
                        end = pos + 5 + (buf[pos + 1] | buf[pos + 2] << 8 | buf[pos + 3] << 16 | buf[pos + 4] << 24)
                        if end - pos > 4096:
                            break
                    else:
                        break
                    if end > len(buf) or pos < frame_end < end:
                        break
                    pos = end
                    depth += 1
            except (IndexError, struct.error):
                if m.eof:
                    m.pos = len(buf)
                    raise PickleFault("pickle data was truncated (no STOP opcode)", m.offset) from None
                # A refill drops the consumed part of the buffer: buffer positions move down with it.
                if pos < len(buf):  # an opcode or its argument straddles the chunk: resume at the opcode
                    m.pos = pos
                    cpos -= pos
                    m._refill(_CHUNK)
                    continue
                over = pos - len(buf)
                m.pos = len(buf)
                cpos -= len(buf)
                m._refill(_CHUNK)
                if len(m.buf) < over:
                    raise PickleFault("pickle data was truncated", m.offset) from None
                m.pos = over
                continue
            after_container = cpos == pos
            cpos = -1
            op = buf[pos]
            at = m.base + pos
            m.pos = pos + 1
            if op in _CODE_OPS:
                return bail("imports or calls a callable")
            if op == 0x2E:  # STOP
                if depth <= floor:
                    raise PickleFault("unpickling stack underflow (STOP with nothing above the MARK)", at)
                res.stopped = True
                return res
            if op == 0x8C:  # SHORT_BINUNICODE (straddling the chunk or the frame)
                n = m.read(1)[0]
                if at < frame_end < m.offset + n:
                    return bail("frame straddle")
                m.read(n)
                depth += 1
            elif op == 0x58 or op == 0x54:  # BINUNICODE / BINSTRING
                n = _unpack_i4(m.read(4))[0]
                if n < 0:
                    raise PickleFault("negative byte count", at)
                if at < frame_end < m.offset + n:
                    return bail("frame straddle")
                m.skip(n)
                depth += 1
            elif op == 0x55 or op == 0x43:  # SHORT_BINSTRING / SHORT_BINBYTES
                n = m.read(1)[0]
                if at < frame_end < m.offset + n:
                    return bail("frame straddle")
                head = m.skip(n)
                if op == 0x43 and n >= 8 and _looks_like_pickle(head):
                    res.nested.append((at + 2, n, "bytes payload is itself a pickle"))
                depth += 1
            elif op in (0x42, 0x8E, 0x96, 0x8D):  # BINBYTES, BINBYTES8, BYTEARRAY8, BINUNICODE8
                n = _unpack_I4(m.read(4))[0] if op == 0x42 else _unpack_Q(m.read(8))[0]
                start = m.offset
                if at < frame_end < start + n:
                    return bail("frame straddle")
                head = m.skip(n)
                if op != 0x8D and n >= 8 and _looks_like_pickle(head):
                    res.nested.append((start, n, "bytes payload is itself a pickle"))
                depth += 1
            elif op == 0x8A:  # LONG1
                m.read(m.read(1)[0])
                depth += 1
            elif op == 0x8B:  # LONG4
                n = _unpack_i4(m.read(4))[0]
                if n < 0:
                    raise PickleFault("LONG pickle has negative byte count", at)
                m.skip(n)
                depth += 1
            elif op == 0x95:  # FRAME: frames are rare (one per 64 KiB); track them for straddle checks
                if m.offset < frame_end:
                    return bail("frame violation")
                frame_end = m.offset + 8 + _unpack_Q(m.read(8))[0]
                m._check_frame_fits(frame_end, at)
            elif op == 0x80:  # PROTO
                proto = m.read(1)[0]
                if proto > 5:
                    raise PickleFault(f"unsupported pickle protocol: {proto}", at)
                res.protocol = proto
            elif op in _LINE_PUSH:
                m.readline(1 << 24)
                depth += 1
            elif op == 0x30:  # POP: the top item, or the innermost MARK when nothing is above it
                if depth > floor:
                    depth -= 1
                elif marks:
                    floor = marks.pop()
                else:
                    raise PickleFault("unpickling stack underflow (POP on an empty stack)", at)
            elif op in (0x51, 0x98):  # BINPERSID, READONLY_BUFFER: replace the top
                if depth <= floor:
                    raise PickleFault("unpickling stack underflow (below the current MARK)", at)
            elif op == 0x70 or op == 0x67:  # protocol-0 PUT / GET: a decimal key on its own line
                line = m.readline()
                if not line.isdigit() or len(line) > 12:
                    return bail("unusual memo key")
                key = int(line)
                if op == 0x67:
                    if key >= memo_hi:
                        return bail("GET of a key that was never stored")
                    if cmap[key]:
                        shared += 1
                        if shared > _SHARED_LIMIT:
                            return bail("containers shared through the memo")
                    depth += 1
                else:
                    if depth <= floor or key > memo_hi:
                        return bail("PUT on an empty stack or a sparse key")
                    cmap[key] = after_container
                    if key == memo_hi:
                        memo_hi += 1
                        if not memo_hi & 0xFFFF:
                            cmap.extend(_PAD)
            elif op == 0x28:  # MARK (the hot loop leaves it here when a MEMOIZE follows: checked next round)
                marks.append(floor)
                floor = depth
            elif op == 0x31:  # POP_MARK
                if not marks:
                    raise PickleFault("could not find MARK", at)
                depth = floor
                floor = marks.pop()
            elif op in _HANDED_OVER:
                # The hot loop stopped here: a check failed (the loader rejects the stream at this opcode:
                # nothing before it could call anything, so the fault is final), or a memo key is sparse or
                # shared containers add up (the full machine measures that).
                _structure_fault(op, at, depth, floor, marks, buf, pos, memo_hi)
                return bail(f"memo sharing or a sparse key at opcode 0x{op:02x}")
            elif op == 0x32:  # DUP: never written by Python's pickler; the full machine measures sharing
                return bail("DUP")
            else:
                raise PickleFault(f"invalid load key, {bytes([op])!r} (opcode 0x{op:02x})", at)
    except PickleFault as fault:
        res.fault = fault
    return res


def _structure_fault(
    op: int, at: int, depth: int, floor: int, marks: list[int], buf: bytes, pos: int, memo_hi: int
) -> None:
    """Raise the fault the unpickler raises for ``op`` in this state, if it does (else return)."""
    underflow = PickleFault("unpickling stack underflow (below the current MARK)", at)
    if op in _MARK_CONTAINER or op in (0x65, 0x75, 0x90):
        if not marks:
            raise PickleFault("could not find MARK", at)
        if op in (0x64, 0x75) and (depth - floor) & 1:
            raise PickleFault(f"odd number of items for {'DICT' if op == 0x64 else 'SETITEMS'}", at)
        if op in (0x65, 0x75, 0x90) and floor <= marks[-1]:
            raise underflow
    elif op in (0x85, 0x86, 0x87, 0x61, 0x73, 0x94):
        need = {0x85: 1, 0x86: 2, 0x87: 3, 0x61: 2, 0x73: 3, 0x94: 1}[op]
        if depth - need < floor:
            raise underflow
    elif op in (0x71, 0x72):
        if depth <= floor:
            raise underflow
    elif op in (0x68, 0x6A):
        key = buf[pos + 1] if op == 0x68 else int.from_bytes(buf[pos + 1 : pos + 5], "little")
        if key >= memo_hi:
            raise PickleFault(f"memo value not found at index {key}", at)


__all__ = ["SkimResult", "skim"]
