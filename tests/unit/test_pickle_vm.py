"""Opcode-level tests of the symbolic pickle machine (``mlvet.analysis.pickle_vm``).

Every stream here is written byte by byte, so each test pins one opcode's semantics: what it imports,
what it calls and with which arguments, where a fault is reported. Well-formedness of the hand-written
streams is checked with ``pickletools.dis`` (a disassembler: it never imports or calls anything), so a
typo in a test stream fails loudly instead of testing the wrong thing. The only stdlib pickling used is
``pickle.dumps`` of plain data, which writes bytes and loads nothing.
"""

from __future__ import annotations

import io
import os
import pickle
import pickletools
import struct
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest

from mlvet.analysis.pickle_skim import skim
from mlvet.analysis.pickle_vm import Machine, PickleFault, StreamAnalysis
from mlvet.analysis.values import EVICTED, Blob, Call, Global, Opaque, PDict, PList, render
from mlvet.limits import Limits
from mlvet.model import Status
from mlvet.policy import default_policy
from mlvet.scanner import scan_file

CMD = "echo hi"

# ---- a tiny assembler: raw bytes, one helper per opcode family ------------------------------------------


def su(text: str) -> bytes:
    """SHORT_BINUNICODE."""
    raw = text.encode()
    assert len(raw) < 256
    return b"\x8c" + bytes([len(raw)]) + raw


def bu(text: str) -> bytes:
    """BINUNICODE (4-byte length)."""
    raw = text.encode()
    return b"X" + struct.pack("<I", len(raw)) + raw


def glob(module: str, name: str) -> bytes:
    """GLOBAL (protocol 0 text operands)."""
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def framed(proto: int, body: bytes) -> bytes:
    """PROTO + one FRAME covering the whole body (what pickle.dumps writes for protocol 4/5)."""
    return b"\x80" + bytes([proto]) + b"\x95" + struct.pack("<Q", len(body)) + body


def checked(data: bytes) -> bytes:
    """Assert the stream is well-formed per pickletools (stack, marks and memo consistent)."""
    pickletools.dis(data, out=io.StringIO())
    return data


def run(data: bytes, **kwargs: Any) -> StreamAnalysis:
    return Machine(io.BytesIO(data), kwargs.pop("limits", Limits()), **kwargs).run()


def only_global(res: StreamAnalysis) -> Global:
    assert len(res.globals) == 1, [g.dotted for g in res.globals]
    return res.globals[0]


def call_args(g: Global) -> list[Any]:
    return [c.args for c in g.invocations]


# ---- one os.system('echo hi') call in every protocol ----------------------------------------------------

_P4_BODY = su("os") + b"\x94" + su("system") + b"\x94\x93\x94" + su(CMD) + b"\x94\x85\x94R\x94."
SYSTEM_CALL_BY_PROTOCOL = {
    0: glob("os", "system") + b"p0\n(S'" + CMD.encode() + b"'\np1\ntp2\nRp3\n.",
    1: glob("os", "system") + b"q\x00(" + bu(CMD) + b"q\x01tq\x02Rq\x03.",
    2: b"\x80\x02" + glob("os", "system") + b"q\x00" + bu(CMD) + b"q\x01\x85q\x02Rq\x03.",
    3: b"\x80\x03" + glob("os", "system") + b"q\x00" + bu(CMD) + b"q\x01\x85q\x02Rq\x03.",
    4: framed(4, _P4_BODY),
    5: framed(5, _P4_BODY),
}


@pytest.mark.parametrize("proto", sorted(SYSTEM_CALL_BY_PROTOCOL))
def test_call_in_every_protocol(proto: int) -> None:
    data = checked(SYSTEM_CALL_BY_PROTOCOL[proto])
    res = run(data)
    assert res.complete and res.fault is None
    assert res.protocol == (proto if proto >= 2 else 0)  # protocols 0 and 1 have no PROTO opcode
    assert res.end == len(data)
    g = only_global(res)
    assert (g.module, g.name) == ("os", "system")
    assert g.opcode == ("STACK_GLOBAL" if proto >= 4 else "GLOBAL")
    assert call_args(g) == [(CMD,)]
    assert render(g.invocations[0]) == "os.system('echo hi')"
    assert not res.dynamic_calls


# ---- callable names that come from the memo --------------------------------------------------------------

_DECOYS = su("torch._utils") + su("_rebuild_tensor_v2") + b"00"

STACK_GLOBAL_FROM_MEMO = {
    "BINGET": b"\x80\x04" + su("os") + b"q\x000" + su("system") + b"q\x010" + _DECOYS
    + b"h\x00h\x01\x93" + su(CMD) + b"\x85R.",
    "LONG_BINGET": b"\x80\x04" + su("os") + b"r\x70\x11\x01\x000" + su("system") + b"r\x71\x11\x01\x000"
    + _DECOYS + b"j\x70\x11\x01\x00j\x71\x11\x01\x00\x93" + su(CMD) + b"\x85R.",
    "GET": b"\x80\x04Vos\np5\n0Vsystem\np6\n0" + _DECOYS + b"g5\ng6\n\x93" + su(CMD) + b"\x85R.",
    "MEMOIZE": b"\x80\x04" + su("os") + b"\x940" + su("system") + b"\x940" + _DECOYS
    + b"h\x00h\x01\x93" + su(CMD) + b"\x85R.",
    "DUP": b"\x80\x04" + su("os") + su("system") + b"2020\x93" + su(CMD) + b"\x85R.",
}


@pytest.mark.parametrize("how", sorted(STACK_GLOBAL_FROM_MEMO))
def test_stack_global_operands_from_memo(how: str) -> None:
    """The operands are resolved from the memo, not from the opcodes right before STACK_GLOBAL (decoys)."""
    res = run(checked(STACK_GLOBAL_FROM_MEMO[how]))
    assert res.complete
    g = only_global(res)
    assert (g.module, g.name, g.opcode) == ("os", "system", "STACK_GLOBAL")
    assert call_args(g) == [(CMD,)]


def test_memoised_global_called_later_is_the_same_reference() -> None:
    data = checked(b"\x80\x02" + glob("os", "system") + b"q\x070N" + b"0h\x07" + bu(CMD) + b"\x85R.")
    res = run(data)
    g = only_global(res)
    assert call_args(g) == [(CMD,)]


def test_stack_global_with_computed_operand_is_an_event() -> None:
    """A module name produced by a call cannot be known statically: PKL201, never silently dropped."""
    data = checked(
        b"\x80\x04" + su("codecs") + su("decode") + b"\x93" + su("bf") + su("rot13") + b"\x86R"
        + su("system") + b"\x93" + su(CMD) + b"\x85R."
    )
    res = run(data)
    assert [e[0] for e in res.events] == ["PKL201"]
    assert "codecs.decode('bf', 'rot13')" in res.events[0][3]
    assert res.dynamic_calls or any(g.invocations for g in res.globals)


def test_stack_global_operand_evicted_by_memo_budget_is_unresolved() -> None:
    """Past the memo budget values are summarised; a STACK_GLOBAL on one is reported (PKL207), not lost."""
    filler = b"".join(su(f"filler-{i:04d}") + b"\x940" for i in range(40))
    data = checked(b"\x80\x04" + filler + su("os") + b"\x940" + su("system") + b"\x940"
                   + b"h\x28h\x29\x93" + su(CMD) + b"\x85R.")
    res = run(data, limits=Limits(memo_budget_bytes=1000))
    assert "PKL207" in [e[0] for e in res.events]
    assert any(g.module == "<unresolved>" for g in res.globals)


def test_stack_global_of_non_strings_is_a_fault() -> None:
    res = run(b"\x80\x04K\x01K\x02\x93.")
    assert res.fault is not None and "STACK_GLOBAL requires str" in str(res.fault)
    assert res.fault.offset == 6


# ---- the call opcodes --------------------------------------------------------------------------------------


def test_inst() -> None:
    data = checked(b"(S'" + CMD.encode() + b"'\nios\nsystem\n.")
    res = run(data)
    g = only_global(res)
    assert g.opcode == "INST"
    assert call_args(g) == [(CMD,)]
    assert res.result is g.invocations[0]


def test_obj() -> None:
    data = checked(b"(" + glob("os", "system") + b"S'" + CMD.encode() + b"'\no.")
    res = run(data)
    g = only_global(res)
    assert call_args(g) == [(CMD,)]
    assert g.invocations[0].kind == "call"


def test_obj_without_class_is_a_fault() -> None:
    res = run(b"(o.")
    assert res.fault is not None and res.fault.offset == 1


def test_newobj() -> None:
    data = checked(b"\x80\x02" + glob("functools", "partial") + glob("os", "system") + b"\x85\x81" + bu(CMD)
                   + b"\x85R.")
    res = run(data)
    partial, system = res.globals
    assert partial.dotted == "functools.partial" and system.dotted == "os.system"
    (new,) = partial.invocations
    assert new.kind == "new" and new.args == (system,)
    # Calling the partial object is a call of a call result: dynamic.
    assert [render(c) for c in res.dynamic_calls] == ["functools.partial(os.system)('echo hi')"]


def test_newobj_ex_keeps_keyword_arguments() -> None:
    data = checked(b"\x80\x04" + su("functools") + su("partial") + b"\x93" + su("subprocess") + su("run")
                   + b"\x93\x85}" + su("shell") + b"\x88s\x92)R.")
    res = run(data)
    partial = next(g for g in res.globals if g.dotted == "functools.partial")
    (new,) = partial.invocations
    assert new.kind == "new"
    assert isinstance(new.kwargs, PDict) and list(new.kwargs) == [("shell", True)]
    assert render(new) == "functools.partial(subprocess.run, **{'shell': True})"


def test_reduce_with_non_tuple_arguments_is_a_fault() -> None:
    """The real unpickler refuses to call with a non-tuple argument list, before calling anything."""
    res = run(b"\x80\x02" + glob("os", "system") + bu(CMD) + b"R.")
    assert res.fault is not None and "tuple" in str(res.fault)
    assert not only_global(res).invocations


def test_calling_a_non_callable_is_a_fault() -> None:
    res = run(b"\x80\x02K\x01)R.")
    assert res.fault is not None and res.fault.offset == 5


def test_call_of_call_result_is_dynamic() -> None:
    data = checked(b"\x80\x02" + glob("builtins", "getattr") + glob("builtins", "__import__") + bu("os")
                   + b"\x85R" + bu("system") + b"\x86R" + bu(CMD) + b"\x85R.")
    res = run(data)
    assert [render(c) for c in res.dynamic_calls] == [
        "builtins.getattr(builtins.__import__('os'), 'system')('echo hi')"
    ]


def test_build_on_instance_records_setstate() -> None:
    data = checked(b"\x80\x02" + glob("collections", "OrderedDict") + b")R}" + bu("a") + b"K\x01sb.")
    res = run(data)
    g = only_global(res)
    new, build = g.invocations
    assert new.kind == "call" and build.kind == "build"
    assert isinstance(new, Call) and list(new.state) == [("a", 1)]
    assert render(build) == "collections.OrderedDict.__setstate__({'a': 1})"


def test_build_on_imported_object_is_attribute_injection() -> None:
    data = checked(b"\x80\x02" + glob("typing", "collections") + b"N}" + bu("x") + b"K\x01s\x86b.")
    res = run(data)
    assert [e[0] for e in res.events] == ["PKL203"]
    assert "typing.collections" in res.events[0][1]


def test_append_on_a_call_result_is_a_method_call() -> None:
    """APPEND/SETITEMS on an instance call its methods (list subclasses, __setitem__ gadgets)."""
    data = checked(b"\x80\x02" + glob("mymod", "Thing") + b")R" + bu("x") + b"a.")
    res = run(data)
    g = only_global(res)
    assert [c.kind for c in g.invocations] == ["call", "method:append"]


# ---- extension codes, persistent ids, frames ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("opcode", "code"),
    [(b"\x82" + bytes([0xF1]), 0xF1), (b"\x83" + struct.pack("<H", 0xBEEF), 0xBEEF),
     (b"\x84" + struct.pack("<i", 0x1234567), 0x1234567)],
    ids=["EXT1", "EXT2", "EXT4"],
)
def test_unregistered_extension_code_is_reported(opcode: bytes, code: int) -> None:
    data = b"\x80\x02" + opcode + bu(CMD) + b"\x85R."
    res = run(data)
    assert res.complete
    assert [(e[0], e[3]) for e in res.events] == [("PKL202", f"copyreg._extension_registry[{code}]")]
    g = only_global(res)
    assert (g.module, g.name, g.opcode) == ("<extension>", str(code), "EXT")
    assert call_args(g) == [(CMD,)]


def test_registered_extension_code_is_resolved() -> None:
    res = run(b"\x80\x02\x82\xf1" + bu(CMD) + b"\x85R.", extensions={0xF1: ("os", "system")})
    assert not res.events
    g = only_global(res)
    assert g.dotted == "os.system" and call_args(g) == [(CMD,)]


def test_persid_and_binpersid_push_opaque_values() -> None:
    res = run(checked(b"Pstorage-1\n."))
    assert isinstance(res.result, Opaque) and "persistent_load(b'storage-1')" in res.result.what
    res = run(checked(b"\x80\x02" + bu("key") + b"Q."))
    assert isinstance(res.result, Opaque) and "persistent_load('key')" in res.result.what
    assert not res.globals and not res.calls


def test_calling_a_persistent_object_is_dynamic() -> None:
    res = run(b"\x80\x02" + bu("key") + b"Q" + bu(CMD) + b"\x85R.")
    assert res.complete
    assert len(res.dynamic_calls) == 1


def test_normal_frames_raise_no_event() -> None:
    data = pickle.dumps({"a": [1, 2.5, "x" * 300], "b": list(range(3000))}, protocol=5)
    assert b"\x95" in data
    res = run(data)
    assert res.complete and not res.events and res.protocol == 5


@pytest.mark.parametrize(
    ("payload", "frame_len"),
    [(b"C\x04abcd", 4), (bu("abcd"), 7), (b"B" + struct.pack("<I", 4) + b"abcd", 7)],
    ids=["SHORT_BINBYTES", "BINUNICODE", "BINBYTES"],
)
def test_payload_straddling_its_frame_is_an_event(payload: bytes, frame_len: int) -> None:
    """The frame ends inside the payload: pickle.load(file) and pickle.loads(bytes) can disagree (PKL208)."""
    data = b"\x80\x04\x95" + struct.pack("<Q", frame_len) + payload + b"."
    res = run(data)
    assert res.complete
    assert [e[0] for e in res.events] == ["FRAME"]
    assert res.events[0][3] == str(11 + frame_len)


def test_frame_inside_a_frame_is_an_event() -> None:
    # The outer frame (11 bytes) holds the inner FRAME opcode and its 2-byte body: a frame inside a frame.
    data = b"\x80\x04\x95" + struct.pack("<Q", 11) + b"\x95" + struct.pack("<Q", 2) + b"N."
    res = run(data)
    assert any("inside the previous frame" in e[1] for e in res.events)


# ---- truncation and faults ---------------------------------------------------------------------------------

FAULTS = {
    # name: (stream, expected fault offset, message fragment)
    "no_stop": (b"\x80\x04K\x01", 4, "truncated"),
    "short_binunicode_payload_cut": (b"\x80\x04\x8c\x05ab", 4, "truncated"),
    "short_binunicode_length_cut": (b"\x80\x04\x8c", 3, "truncated"),
    "binint_argument_cut": (b"\x80\x04J\x01\x02", 3, "truncated"),
    "global_line_cut": (b"cos\nsys", 4, "truncated"),
    "binbytes8_payload_cut": (b"\x80\x05\x8e" + struct.pack("<Q", 100) + b"abc", 11, "truncated"),
    "frame_length_cut": (b"\x80\x04\x95\x01\x00", 3, "truncated"),
    "invalid_opcode": (b"\x80\x04K\x01\xff.", 4, "invalid load key"),
    "stack_underflow": (b"\x80\x04R.", 2, "underflow"),
    "mark_missing": (b"\x80\x04K\x01t.", 4, "MARK"),
    "unsupported_protocol": (b"\x80\x09.", 0, "protocol"),
    "stop_on_empty_stack": (b"\x80\x04.", 2, "empty"),
    "empty_stream": (b"", 0, "truncated"),
}


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_offsets(name: str) -> None:
    data, offset, fragment = FAULTS[name]
    res = run(data)
    assert res.fault is not None, f"{name}: no fault"
    assert isinstance(res.fault, PickleFault)
    assert res.fault.offset == offset, f"{name}: fault at {res.fault.offset} ({res.fault}), expected {offset}"
    assert fragment.lower() in str(res.fault).lower()
    assert not res.complete


def test_everything_before_a_fault_is_kept() -> None:
    """nullifAI: the payload runs before the fault, so the machine must report it (and where it stopped)."""
    data = glob("os", "system") + b"(S'" + CMD.encode() + b"'\ntR\xff"
    res = run(data)
    assert res.fault is not None and res.fault.offset == len(data) - 1
    assert call_args(only_global(res)) == [(CMD,)]


def test_large_payload_past_end_of_file_is_a_truncation_fault() -> None:
    data = b"\x80\x05\x8e" + struct.pack("<Q", 10**8) + b"a" * 200
    res = run(data)
    assert res.fault is not None and "truncated" in str(res.fault)
    assert 11 <= res.fault.offset <= len(data)


@pytest.mark.parametrize("opcode", [b"\x8e", b"\x8d", b"\x96"], ids=["BINBYTES8", "BINUNICODE8", "BYTEARRAY8"])
def test_huge_8_byte_length_is_a_fault_not_an_exception(opcode: bytes) -> None:
    data = b"\x80\x05" + opcode + struct.pack("<Q", 1 << 63) + b"x" * 100 + b"."
    res = run(data)
    assert res.fault is not None and "truncated" in str(res.fault)


def test_stack_limit_is_a_fault() -> None:
    data = b"\x80\x04" + b"N" * 10_000 + b"."
    res = run(data, limits=Limits(max_stack=1000))
    assert res.fault is not None and "stack deeper" in str(res.fault)


# ---- several pickles in one stream -------------------------------------------------------------------------


def test_multiple_pickles_are_read_one_after_another() -> None:
    first = pickle.dumps([1, 2, 3], protocol=2)
    second = SYSTEM_CALL_BY_PROTOCOL[4]
    third = pickle.dumps({"k": "v"}, protocol=0)
    data = first + second + third
    m = Machine(io.BytesIO(data), Limits())
    results = [m.run() for _ in range(3)]
    assert [r.complete for r in results] == [True, True, True]
    assert [(r.start, r.end) for r in results] == [
        (0, len(first)), (len(first), len(first) + len(second)), (len(first) + len(second), len(data))
    ]
    assert [g.dotted for r in results for g in r.globals] == ["os.system"]
    tail = m.run()
    assert tail.fault is not None and tail.fault.offset == len(data)


# ---- skim vs the full machine ------------------------------------------------------------------------------

_SHARED = ["shared"]
PLAIN_VALUES: dict[str, Any] = {
    "scalars": [0, 1, -1, 255, 256, 65535, 65536, -(2**31), 2**31, 2**70, -(2**70), 1.5, float("inf"), None,
                True, False],
    "strings": ["", "a", "é€😀", "x" * 255, "y" * 256, "z" * 5000, "line\nbreak", "quote'\""],
    "nested": {"a": [1, (2, 3), {"b": [[], {}, ()]}], "c": ({"d": "e"},), "f": [[[[["deep"]]]]]},
    "shared": [_SHARED, _SHARED, {"k": _SHARED}],
    "big_list": list(range(2**24, 2**24 + 220_000)),  # > 1 MiB in every protocol: chunk refills
    "big_strings": ["s" * (i % 700) for i in range(4000)],
}
CODE_FREE_BYTES: dict[str, Any] = {"bytes": [b"", b"\x80\x04", b"b" * 300, b"c" * 5000]}


def _plain_cases() -> list[Any]:
    cases = []
    for name, value in PLAIN_VALUES.items():
        for proto in range(6):
            cases.append(pytest.param(pickle.dumps(value, protocol=proto), id=f"{name}-p{proto}"))
    for name, value in CODE_FREE_BYTES.items():
        for proto in (3, 4, 5):  # bytes need codecs.encode (a GLOBAL) below protocol 3
            cases.append(pytest.param(pickle.dumps(value, protocol=proto), id=f"{name}-p{proto}"))
    return cases


@pytest.mark.parametrize("data", _plain_cases())
def test_skim_and_machine_agree_on_plain_data(data: bytes) -> None:
    m = Machine(io.BytesIO(data), Limits())
    quick = skim(m)
    assert not quick.has_code and quick.fault is None and quick.stopped
    full = run(data)
    assert full.complete and not full.globals and not full.calls and not full.events
    assert m.offset == full.end == len(data)
    assert quick.protocol == full.protocol


@pytest.mark.parametrize("proto", range(6))
def test_skim_and_machine_agree_on_truncated_plain_data(proto: int) -> None:
    data = pickle.dumps(PLAIN_VALUES["nested"], protocol=proto)
    for cut in range(1, len(data)):
        prefix = data[:cut]
        quick = skim(Machine(io.BytesIO(prefix), Limits()))
        full = run(prefix)
        assert full.fault is not None, f"machine accepted a {cut}-byte prefix of a {len(data)}-byte pickle"
        assert quick.fault is not None or quick.has_code, f"skim accepted a {cut}-byte prefix"


@pytest.mark.parametrize(
    "data",
    [SYSTEM_CALL_BY_PROTOCOL[p] for p in range(6)] + [b"(S'x'\nios\nsystem\n.", b"\x80\x02\x82\x01)R."],
)
def test_skim_hands_every_code_importing_stream_to_the_machine(data: bytes) -> None:
    assert skim(Machine(io.BytesIO(data), Limits())).has_code


def test_skim_hands_sets_below_protocol_4_to_the_machine() -> None:
    """Protocols < 4 spell a set as builtins.set(list): a GLOBAL the machine must classify."""
    for proto in range(4):
        assert skim(Machine(io.BytesIO(pickle.dumps({1, 2}, protocol=proto)), Limits())).has_code


# ---- large payloads are skipped, not read ------------------------------------------------------------------

SPARSE_PAYLOAD = 200 * 1024 * 1024


@pytest.fixture(scope="module")
def sparse_binbytes8(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 200 MB BINBYTES8 payload in a sparse file (a few KiB on disk), followed by STOP."""
    path = tmp_path_factory.mktemp("sparse") / "big.pkl"
    header = b"\x80\x05\x8e" + struct.pack("<Q", SPARSE_PAYLOAD)
    with path.open("wb") as f:
        f.write(header)
        f.seek(len(header) + SPARSE_PAYLOAD)
        f.write(b".")
    assert path.stat().st_size == len(header) + SPARSE_PAYLOAD + 1
    return path


def _peak(fn: Any) -> tuple[Any, int, float]:
    tracemalloc.start()
    t0 = time.perf_counter()
    try:
        out = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return out, peak, time.perf_counter() - t0


@pytest.mark.parametrize("seekable", [True, False], ids=["seek", "read-through"])
def test_large_binbytes8_is_skipped_without_being_held(sparse_binbytes8: Path, seekable: bool) -> None:
    with sparse_binbytes8.open("rb") as f:
        res, peak, seconds = _peak(lambda: Machine(f, Limits(), seekable=seekable).run())
    assert res.complete
    assert isinstance(res.result, Blob)
    assert (res.result.offset, res.result.length) == (11, SPARSE_PAYLOAD)
    assert res.result.head == bytes(64)
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes while skipping a {SPARSE_PAYLOAD}-byte payload"
    assert seconds < 10


def test_large_binbytes8_skim_and_scan_stay_small(sparse_binbytes8: Path) -> None:
    with sparse_binbytes8.open("rb") as f:
        m = Machine(f, Limits())
        quick, peak, _ = _peak(lambda: skim(m))
        assert quick.stopped and not quick.has_code and m.offset == os.path.getsize(sparse_binbytes8)
    assert peak < 8 * 1024 * 1024
    result, peak, _ = _peak(lambda: scan_file(str(sparse_binbytes8), default_policy()))
    assert result.status is Status.SCANNED and not result.findings
    assert peak < 16 * 1024 * 1024


# ---- evidence rendering ------------------------------------------------------------------------------------


def test_render_evidence_strings() -> None:
    res = run(SYSTEM_CALL_BY_PROTOCOL[2])
    assert render(only_global(res).invocations[0]) == "os.system('echo hi')"
    assert render(only_global(res)) == "os.system"
    assert render(Blob("bytes", 11, SPARSE_PAYLOAD, b"")) == f"<bytes {SPARSE_PAYLOAD} bytes @11>"
    assert render(EVICTED).startswith("<value summarised")
    lst = PList()
    lst.extend([1, 2])
    lst.extra = 5
    assert render(lst) == "[1, 2, …+5]"
    assert render((1,)) == "(1,)"
    long_call = Call(Global("builtins", "exec", 0, "GLOBAL", 1), ("x" * 5000,), "call", 0, 2)
    text = render(long_call)
    assert text.startswith("builtins.exec('xxx") and text.endswith("…") and len(text) < 1000


def test_render_is_bounded_on_deep_nesting() -> None:
    value: Any = "leaf"
    for _ in range(10_000):
        value = (value,)
    assert len(render(value)) < 1000
