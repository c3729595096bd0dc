"""Pickle streams: plain pickles, joblib files, legacy PyTorch files, and pickles nested in anything.

The symbolic machine (``mlvet.analysis.pickle_vm``) says what a stream would import and call; this
module turns that into findings with the policy, follows nested pickles, reads several pickles in one
file (legacy ``torch.save`` writes five; joblib interleaves raw array bytes with opcodes), and decides
when the stream ends.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, BinaryIO

from mlvet.analysis.pickle_semantics import judge
from mlvet.analysis.pickle_skim import skim
from mlvet.analysis.pickle_state import violations
from mlvet.analysis.pickle_stream import PickleFault, StreamAnalysis
from mlvet.analysis.pickle_vm import Machine
from mlvet.analysis.values import Blob, Call, Global, PDict, expanded_size, iter_symbols, render
from mlvet.formats.base import Probe, ScanContext, Sink, Window, register
from mlvet.formats.lightning import check_checkpoint_value, wants_value
from mlvet.rules import (
    PKL102,
    PKL114,
    PKL200,
    PKL201,
    PKL202,
    PKL203,
    PKL204,
    PKL206,
    PKL207,
    PKL208,
    PKL209,
    PKL210,
    PKL211,
    get_rule,
)

#: First bytes of a legacy (pre-1.6, non-zip) torch.save file: PROTO 2 + LONG1 of the magic number.
TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."
_JOBLIB_WRAPPERS = frozenset(
    {
        "joblib.numpy_pickle.NumpyArrayWrapper",
        "sklearn.externals.joblib.numpy_pickle.NumpyArrayWrapper",
    }
)
#: Opcodes a pickle may start with (protocol 0/1 streams have no PROTO).
_START_OPCODES = frozenset(b"(]}).NIJKLMFGSTUVXcdlt\x80\x8c")


#: Shared container references (GET/DUP) above which the expanded size of the value is computed, and
#: the expanded size (items) reported as a memo-expansion bomb.
_SHARED_CONTAINERS = 32
_EXPANSION_LIMIT = 1 << 30

_IDENTIFIER = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$")


def looks_like_pickle(head: bytes) -> bool:
    """Content sniff: a PROTO opcode with a valid protocol, or a protocol-0/1 stream that parses a bit.

    Protocol 0/1 have no header, so a short trial run of the machine decides (it must reach STOP or run
    at least a few opcodes without a fault). This is what lets a pickle renamed ``.png`` be found.
    """
    if len(head) >= 2 and head[0] == 0x80:
        return 0 <= head[1] <= 5 and len(head) > 2
    if not head or head[0] not in _START_OPCODES:
        return False
    import io

    from mlvet.limits import Limits

    m = Machine(io.BytesIO(head), Limits())
    res = m.run()
    if res.stopped:
        return res.opcodes >= 2
    # The head is only a prefix of a longer stream, so a truncation at its very end is expected; accept it
    # only after a run of real opcodes (raw tensor bytes often start with one valid opcode and a huge
    # length, which must not make them a "malformed pickle").
    fault = res.fault
    if res.opcodes >= 3 and res.globals and all(_IDENTIFIER.match(f"{g.module}.{g.name}") for g in res.globals):
        # Imports a real-looking name and goes on with more opcodes before failing: a (broken) pickle.
        # (Two lines of text such as "cat\ndog\n" read as one GLOBAL; that alone is not enough.)
        return True
    return (
        fault is not None
        and "truncated" in str(fault)
        and "past end" not in str(fault)
        and fault.offset >= len(head) - 16
        and res.opcodes >= 8
    )


@dataclass
class _Inline:
    """A pickle stream embedded inline in another (joblib object arrays)."""

    analysis: StreamAnalysis
    reason: str


class _JoblibHook:
    """Skip the raw numpy bytes joblib writes right after each NumpyArrayWrapper's BUILD.

    Layout (joblib >= 0.10, verified on 1.6): after BUILD, object arrays are a complete nested pickle;
    other arrays are an optional alignment byte + padding (when the wrapper state has
    ``numpy_array_alignment_bytes``) and ``prod(shape) * itemsize`` raw bytes.
    """

    def __init__(self) -> None:
        self.inline: list[_Inline] = []
        self.arrays = 0

    def __call__(self, inst: Any, m: Machine) -> None:
        if type(inst) is not Call or type(inst.func) is not Global:
            return
        if f"{inst.func.module}.{inst.func.name}" not in _JOBLIB_WRAPPERS:
            return
        state = inst.state
        if type(state) is not PDict:
            raise PickleFault("joblib array wrapper without a readable state", m.offset)
        st = {k: v for k, v in state if type(k) is str}
        shape = st.get("shape")
        dtype = st.get("dtype")
        if type(shape) is not tuple or not all(type(d) is int and d >= 0 for d in shape):
            raise PickleFault("joblib array wrapper with an unreadable shape", m.offset)
        itemsize, has_object = _dtype_info(dtype)
        self.arrays += 1
        if has_object:
            start = m.offset
            nested = m.run()
            self.inline.append(_Inline(nested, f"joblib object array @{start}"))
            if nested.fault is not None:
                raise nested.fault
            return
        if itemsize is None:
            raise PickleFault(f"joblib array with an unsupported dtype {render(dtype, 80)}", m.offset)
        if st.get("numpy_array_alignment_bytes") is not None:
            pad = m.read(1)[0]
            m.skip(pad)
        m.skip(math.prod(shape) * itemsize)


def _dtype_info(dtype: Any) -> tuple[int | None, bool]:
    """(itemsize, has_object) of a symbolic ``numpy.dtype(typestr, False, True)`` + its BUILD state."""
    if type(dtype) is not Call or type(dtype.func) is not Global or dtype.func.name != "dtype":
        return None, False
    args = dtype.args
    if type(args) is not tuple or not args or type(args[0]) is not str:
        return None, False
    typestr: str = args[0]
    state: Any = dtype.state
    kind = typestr[:1]
    has_object = kind == "O"
    if type(state) is tuple and len(state) >= 6:
        for sub in (state[2], state[4]):
            for sym in iter_symbols(sub, 512):
                if type(sym) is Call and _dtype_info(sym)[1]:
                    has_object = True
        if kind in "SUV" and type(state[5]) is int and state[5] > 0:
            return state[5], has_object
    if kind in "Mm":
        return 8, has_object
    digits = typestr[1:].split("[", 1)[0]
    if digits.isdigit():
        return int(digits), has_object
    return None, has_object


class PickleHandler:
    id = "pickle"
    priority = 50

    def sniff(self, probe: Probe) -> bool:
        return looks_like_pickle(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        head = stream.read(len(TORCH_LEGACY_MAGIC))
        stream.seek(0)
        legacy = head == TORCH_LEGACY_MAGIC
        if legacy:
            ctx.saw_format("pytorch-legacy")
        if not legacy:
            analyse_pickle_stream(stream, ctx)
            return
        storages: dict[str, tuple[str, int]] = {}
        end = analyse_pickle_stream(stream, ctx, expected_streams=5, persistent="torch-legacy", storages=storages)
        if not ctx.sink.errors:
            _check_legacy_storages(stream, end, size, storages, ctx)


def analyse_pickle_stream(
    stream: BinaryIO,
    ctx: ScanContext,
    *,
    expected_streams: int | None = None,
    start: int = 0,
    trailing_ok: bool = False,
    persistent: str | None = None,
    storages: dict[str, tuple[str, int]] | None = None,
) -> int:
    """Analyse every pickle stream in ``stream`` from ``start``; return the offset where analysis ended.

    ``expected_streams``: a container that knows how many pickles it holds (legacy torch: 5) stops there
    and treats the rest as payload data; its streams are the layout, not hidden extra pickles (PKL210).
    ``persistent``: how the loader resolves persistent ids (see ``Machine``); ``storages`` collects the
    legacy torch storages they name.
    """
    limits = ctx.limits
    stream.seek(start)
    hook = _JoblibHook()
    m = Machine(stream, limits, extensions=dict(ctx.policy.extensions), build_hook=hook, persistent=persistent)
    index = 0
    while True:
        stream_start = m.offset
        quick = skim(m)
        if quick.has_code or (index == 0 and wants_value(stream, stream_start, m.offset)):
            stream.seek(stream_start)
            m = Machine(stream, limits, extensions=dict(ctx.policy.extensions), build_hook=hook,
                        persistent=persistent)
            res = m.run()
        else:
            res = StreamAnalysis(start=stream_start, end=m.offset, protocol=quick.protocol,
                                 stopped=quick.stopped and quick.fault is None, fault=quick.fault)
            res.nested.extend(quick.nested)
        if storages is not None:
            storages.update(res.storages)
        sub = ctx if index == 0 else ctx.child(f"<pickle #{index + 1} @{stream_start}>")
        if index > 0 and (res.globals or res.calls) and (expected_streams is None or index >= expected_streams):
            ctx.report(PKL210, f"pickle stream #{index + 1} starts at offset {stream_start}", offset=stream_start)
        if index > 0 and res.fault is not None and not res.globals and not res.calls:
            # Not a pickle after all: trailing bytes.
            if not trailing_ok:
                ctx.report(PKL211, f"{_remaining(stream, stream_start)} bytes of non-pickle data follow "
                           f"the last pickle stream", offset=stream_start)
                _search_trailing(stream, stream_start, ctx)
            return stream_start
        _report_stream(res, sub, stream)
        if index == 0 and res.result is not None:
            check_checkpoint_value(res.result, sub, stream, res.start, res.end)
        for inline in hook.inline:
            _report_stream(inline.analysis, sub.child(f"<{inline.reason}>"), stream)
        hook.inline.clear()
        if res.fault is not None:
            _report_fault(res, sub)
            return res.end
        index += 1
        if expected_streams is not None and index >= expected_streams:
            return m.offset
        if index >= limits.max_pickles_per_stream:
            ctx.error(f"more than {limits.max_pickles_per_stream} pickle streams in one file; rest not analysed")
            return m.offset
        nxt = m.peek(1)
        if not nxt:
            return m.offset
        if nxt[0] not in _START_OPCODES:
            if not trailing_ok:
                ctx.report(PKL211, f"{_remaining(stream, m.offset)} bytes of non-pickle data follow the last "
                           "pickle stream", offset=m.offset)
                _search_trailing(stream, m.offset, ctx)
            return m.offset


#: Bytes per element of the storage types legacy torch.save writes (``torch._utils._element_size``).
_ELEMENT_SIZE = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8,
    "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
    "ComplexDoubleStorage": 16, "ComplexFloatStorage": 8, "QUInt8Storage": 1, "QInt8Storage": 1,
    "QInt32Storage": 4, "QUInt4x2Storage": 1, "QUInt2x4Storage": 1, "UntypedStorage": 1,
    "Float8_e4m3fnStorage": 1, "Float8_e5m2Storage": 1, "Float8_e4m3fnuzStorage": 1, "Float8_e5m2fnuzStorage": 1,
    "UInt16Storage": 2, "UInt32Storage": 4, "UInt64Storage": 8,
}


def _check_legacy_storages(
    stream: BinaryIO, start: int, size: int, storages: dict[str, tuple[str, int]], ctx: ScanContext
) -> None:
    """Walk the raw storage records that follow a legacy torch.save's five pickles.

    torch.load reads, for each storage key in sorted order, an 8-byte element count and that many
    elements. A file cut inside them cannot be loaded (an error, never clean); bytes after the last record
    are not part of the layout (PKL211).
    """
    pos = start
    for key in sorted(storages):
        type_name, numel = storages[key]
        elsize = _ELEMENT_SIZE.get(type_name)
        stream.seek(pos)
        head = stream.read(8)
        if len(head) < 8:
            ctx.error(f"legacy torch file is truncated: storage {key!r} is missing at offset {pos}")
            return
        count = int.from_bytes(head, "little", signed=True)
        if elsize is None or count != numel:
            ctx.error(f"legacy torch storage {key!r} at offset {pos} does not match its pickle "
                      f"({type_name}, {numel} elements; the record says {count})")
            return
        pos += 8 + count * elsize
        if pos > size:
            ctx.error(f"legacy torch file is truncated: storage {key!r} runs past the end of the file "
                      f"({pos} > {size} bytes)")
            return
    if pos < size:
        ctx.report(PKL211, f"{size - pos} bytes follow the last storage record of the legacy torch file",
                   offset=pos)


_TRAILING_CANDIDATES = 256


def _search_trailing(stream: BinaryIO, start: int, ctx: ScanContext) -> None:
    """Look for further pickle streams hidden after junk (a custom loader may skip to them)."""
    import re

    here = stream.tell()
    stream.seek(start)
    pattern = re.compile(rb"\x80[\x02-\x05]")
    found: list[int] = []
    base = start
    carry = b""
    while len(found) < _TRAILING_CANDIDATES:
        chunk = stream.read(1 << 20)
        if not chunk:
            break
        data = carry + chunk
        for mt in pattern.finditer(data):
            pos = base - len(carry) + mt.start()
            if not found or found[-1] != pos:
                found.append(pos)
        carry = data[-1:]
        base += len(chunk)
    stream.seek(here)
    for pos in found[:_TRAILING_CANDIDATES]:
        _speculate(stream, pos, -1, ctx, f"<pickle after trailing data @{pos}>", "trailing data", True)


def _remaining(stream: BinaryIO, offset: int) -> int:
    here = stream.tell()
    end = stream.seek(0, 2)
    stream.seek(here)
    return max(0, end - offset)


def _report_fault(res: StreamAnalysis, ctx: ScanContext) -> None:
    fault = res.fault
    assert fault is not None
    ran_code = bool(res.calls) or any(g for g in res.globals)
    msg = f"pickle stream is malformed at offset {fault.offset}: {fault}"
    if ran_code:
        msg += "; everything before it would run when loaded"
    ctx.report(PKL200, msg, offset=fault.offset, severity=get_rule("PKL200").severity if not ran_code else None)
    ctx.error(msg)


def _report_stream(res: StreamAnalysis, ctx: ScanContext, stream: BinaryIO) -> None:
    """Turn one stream's symbolic run into findings."""
    judged = judge(res, ctx.policy)
    for j in judged.findings:
        ctx.report(get_rule(j.rule_id), j.message, offset=j.offset, opcode_index=j.opcode_index,
                   evidence=j.evidence, severity=j.severity)
    for bad in violations(res):
        ctx.report(PKL114, f"rebuilds {bad.cls.dotted}, whose __setstate__ executes the state key "
                   f"{bad.check.key!r} ({bad.check.reason}); this file's value is not the library's own text",
                   offset=bad.call.offset, opcode_index=bad.call.opcode_index, evidence=bad.value[:600])
    dangerous_refs = judged.dangerous_refs
    unsafe_refs = judged.unsafe_refs
    if res.shared > _SHARED_CONTAINERS and res.stopped:
        size, nodes = expanded_size(res.result)
        if size >= _EXPANSION_LIMIT:
            ctx.report(PKL209, f"the loaded value shares containers through the memo so that it expands to about "
                       f"2^{size.bit_length() - 1} items from {nodes} distinct containers ({res.shared} shared "
                       "references): hashing it while loading, or any traversal afterwards, does that much work",
                       offset=res.start, evidence=f"{res.shared} GET/DUP of containers; expanded size {size}")

    # Dangerous callables passed as arguments to calls (map, partial, apply...).
    seen_pairs: set[tuple[str, str]] = set()
    for call in res.calls if dangerous_refs else ():
        for sym in iter_symbols((call.args, call.kwargs), 2048):
            if type(sym) is Global and id(sym) in dangerous_refs and sym is not call.func:
                callee = render(call.func, 120)
                key = (callee, sym.dotted)
                if key in seen_pairs:
                    continue
                seen_pairs.add(key)
                ctx.report(
                    PKL102,
                    f"{sym.dotted} is passed to {callee}, which may call it",
                    offset=call.offset,
                    opcode_index=call.opcode_index,
                    evidence=render(call),
                )

    dynamic = [c for c in res.dynamic_calls if id(c.func) not in judged.benign_calls]
    if dynamic:
        c0 = dynamic[0]
        extra = f" ({len(dynamic)} such calls)" if len(dynamic) > 1 else ""
        ctx.report(PKL204, f"calls the result of another call{extra}", offset=c0.offset,
                   opcode_index=c0.opcode_index, evidence=render(c0))

    for rule_id, message, offset, evidence in res.events:
        if rule_id == "FRAME":
            ctx.report(PKL208, message, offset=offset, evidence=f"frame ends at {evidence}" if evidence else "")
            if evidence.isdigit():
                # The other reading: a file unpickler refills its buffer at the frame end and resumes a
                # few bytes on, depending on which argument straddled it; try each plausible restart.
                end = int(evidence)
                for start in range(end, end + 13):
                    if _speculate(stream, start, -1, ctx, f"<reading after frame end @{start}>",
                                  "bytes after the frame end", speculative=True):
                        break
            continue
        event_rule = {"PKL201": PKL201, "PKL202": PKL202, "PKL203": PKL203, "PKL207": PKL207,
                      "PKL209": PKL209}.get(rule_id)
        if event_rule is not None:
            ctx.report(event_rule, message, offset=offset, evidence=evidence)

    _follow_nested(res, ctx, stream, unsafe_refs)


def _follow_nested(res: StreamAnalysis, ctx: ScanContext, stream: BinaryIO, unsafe_refs: set[int]) -> None:
    """Analyse byte payloads that are themselves pickles.

    Bytes handed to a call are analysed for real (errors count). Other payloads that merely start like a
    pickle (raw tensor bytes can) are analysed speculatively: their findings are kept only when they
    parse cleanly and reference callables, so random data never produces an error or a false alarm.
    """
    candidates: dict[int, tuple[int, str, bool]] = {}
    for offset, length, _reason in res.nested:
        candidates[offset] = (length, "an embedded byte string", True)
    # Bytes handed to a callable that is not in the safe tier (a loads-like call, a dynamic call ...).
    suspicious = [c for c in res.calls if id(c.func) in unsafe_refs] + res.dynamic_calls
    for call in suspicious:
        for sym in iter_symbols(call.args, 256):
            if type(sym) is Blob and sym.kind != "str" and _maybe_pickle(sym.head):
                candidates[sym.offset] = (sym.length, f"bytes passed to {render(call.func, 80)}", False)
    if not candidates:
        return
    if _nesting(ctx) >= ctx.limits.max_pickle_nesting:
        ctx.report(PKL207, f"nested pickles deeper than {ctx.limits.max_pickle_nesting}; not followed")
        ctx.error("nested pickle limit reached")
        return
    for offset, (length, reason, speculative) in sorted(candidates.items()):
        if _speculate(stream, offset, length, ctx, f"<nested pickle @{offset}>", reason, speculative):
            ctx.report(PKL206, f"{reason} at offset {offset} is a pickle that references callables; analysed as "
                       f"<nested pickle @{offset}>", offset=offset)


def _speculate(
    stream: BinaryIO, offset: int, length: int, ctx: ScanContext, label: str, reason: str, speculative: bool
) -> bool:
    """Analyse ``length`` bytes at ``offset`` (-1: to the end) as a pickle in a trial sink.

    Speculative trials keep their findings only when the bytes parse and reference callables, so that
    random data never causes an error or a false alarm. Returns whether callables were found.
    """
    here = stream.tell()
    if length < 0:
        length = stream.seek(0, 2) - offset
    trial = Sink()
    sub = ScanContext(ctx.path, ctx.policy, trial, (*ctx.members, label), ctx.depth + 1)
    try:
        analyse_pickle_stream(Window(stream, offset, length), sub, trailing_ok=True)  # type: ignore[arg-type]
    finally:
        stream.seek(here)
    meaningful = any(f.rule_id.startswith("PKL1") or f.rule_id in ("PKL201", "PKL202", "PKL205")
                     for f in trial.findings)
    if speculative and (trial.errors or not meaningful):
        return False
    ctx.sink.findings.extend(trial.findings)
    ctx.sink.suppressed.extend(trial.suppressed)
    ctx.sink.errors.extend(trial.errors)
    return meaningful


def _nesting(ctx: ScanContext) -> int:
    return sum(1 for m in ctx.members if m.startswith("<nested pickle"))


def _maybe_pickle(head: bytes) -> bool:
    return len(head) >= 2 and ((head[0] == 0x80 and head[1] <= 5) or head[:1] in (b"c", b"(", b"]", b"}"))


register(PickleHandler())

__all__ = ["TORCH_LEGACY_MAGIC", "PickleHandler", "analyse_pickle_stream", "looks_like_pickle"]
