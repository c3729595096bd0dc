"""Streams the loader rejects are errors on every path; memo-expansion bombs are findings.

Before issue 9, a stream that imports nothing went through the fast skim, which checked neither the MARK
fence, nor the stack depth, nor the memo, so an unloadable data pickle was reported clean. Each case below
is code-free on purpose (the path that used to fail open) and is checked three ways: the skim hands it to
the full machine, the machine faults where ``pickle.load`` would, and the scan is an ``error`` with PKL200.
The streams are written byte by byte; ``pickletools.dis`` (a disassembler that never imports or calls
anything) confirms that the valid ones are well formed.
"""

from __future__ import annotations

import io
import pickle
import pickletools
import re
import struct
from pathlib import Path

import pytest

from mlvet.analysis.pickle_skim import skim
from mlvet.analysis.pickle_vm import Machine
from mlvet.limits import Limits
from mlvet.model import FileResult, Severity, Status
from mlvet.policy import default_policy
from mlvet.scanner import scan_file

REJECTED = {
    "tuple_without_mark": b"\x80\x04K\x01K\x02t.",
    "list_without_mark": b"\x80\x04K\x01l.",
    "dict_without_mark": b"\x80\x04K\x01K\x02d.",
    "frozenset_without_mark": b"\x80\x04K\x01\x91.",
    "odd_dict": b"\x80\x04(K\x01d.",
    "odd_setitems": b"\x80\x04}(K\x01u.",
    "appends_without_target": b"\x80\x04(K\x01e.",
    "pop_mark_without_mark": b"\x80\x04N1.",
    "tuple_containing_itself": b"\x80\x04(h\x00t\x94.",  # GET before the PUT: an impossible memo cycle
    "get_of_a_missing_key": b"\x80\x04N\x94h\x05.",
    "long_binget_of_a_missing_key": b"\x80\x04N\x94j\x00\x01\x00\x00.",
    "text_get_of_a_missing_key": b"\x80\x02(lp0\nI1\nag7\na.",
    "tuple2_underflow": b"\x80\x04K\x01\x86.",
    "tuple2_across_the_mark": b"\x80\x04K\x01(K\x02\x86.",
    "setitem_underflow": b"\x80\x04K\x01K\x02s.",
    "memoize_on_an_empty_stack": b"\x80\x04\x94N.",
    "memoize_right_after_mark": b"\x80\x04N(\x94.",
    "put_right_after_mark": b"\x80\x02N(q\x00.",
    "stop_above_a_mark": b"\x80\x04N(.",
    "stop_on_an_empty_stack": b"\x80\x04.",
}
#: Rejected by CPython's unpickler ("odd number of items for DICT" / SETITEMS) but not by pickletools.dis,
#: which does not pair keys and values.
ODD_PAIRS = {"odd_dict", "odd_setitems"}


def _scan(tmp_path: Path, data: bytes) -> FileResult:
    p = tmp_path / "s.pkl"
    p.write_bytes(data)
    return scan_file(str(p), default_policy())


def _pickle_rejects(data: bytes) -> bool:
    """Check what the real loader does with a code-free stream, without loading anything: the pure-Python
    disassembler applies the same stack, MARK and memo rules and raises where the unpickler would."""
    try:
        pickletools.dis(data, out=io.StringIO())
    except (ValueError, KeyError, IndexError):
        return True
    return False


@pytest.mark.parametrize("name", sorted(REJECTED))
def test_rejected_stream_is_an_error_whatever_the_path(name: str, tmp_path: Path) -> None:
    data = REJECTED[name]
    assert _pickle_rejects(data) or name in ODD_PAIRS, "the test stream must really be invalid"
    quick = skim(Machine(io.BytesIO(data), Limits()))
    assert quick.has_code or quick.fault is not None, f"skim accepted {name}"
    full = Machine(io.BytesIO(data), Limits()).run()
    assert full.fault is not None, f"machine accepted {name}"
    result = _scan(tmp_path, data)
    assert result.status is Status.ERROR, (result.status, [(f.rule_id, f.message) for f in result.findings])
    assert any(f.rule_id == "PKL200" for f in result.findings)


def test_frame_straddle_in_a_data_stream_is_not_clean(tmp_path: Path) -> None:
    # FRAME of 3 bytes, then a SHORT_BINUNICODE that runs 4 bytes past the frame end.
    data = b"\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00\x8c\x05hello."
    result = _scan(tmp_path, data)
    assert result.severity >= Severity.HIGH, [(f.rule_id, f.severity.label) for f in result.findings]


@pytest.mark.parametrize("proto", range(6))
def test_plain_data_still_takes_the_fast_path(proto: int) -> None:
    shared = {"k": [1, 2]}
    value = {"rows": [shared] * 10, "names": ["a", "b"] * 50, "t": (1, (2, 3)), "s": {1, 2} if proto >= 4 else 1}
    data = pickle.dumps(value, protocol=proto)
    quick = skim(Machine(io.BytesIO(data), Limits()))
    assert not quick.has_code and quick.fault is None and quick.stopped, quick.reason


# ---- memo expansion ----------------------------------------------------------------------------------------


def _tuple_bomb(levels: int, proto: int = 4) -> bytes:
    """t0 = (); t(i+1) = (t_i, t_i), each memoised: a few bytes per level, 2**levels items."""
    if proto >= 4:
        out = bytearray(b"\x80\x04)\x94")
        for i in range(levels):
            out += b"0h" + bytes([i]) + b"h" + bytes([i]) + b"\x86\x94"
    else:
        out = bytearray(b"\x80\x02)q\x00")
        for i in range(levels):
            out += b"0h" + bytes([i]) + b"h" + bytes([i]) + b"\x86q" + bytes([i + 1])
    return bytes(out + b".")


def _dup_bomb(levels: int) -> bytes:
    return b"\x80\x04]" + b"2\x86" * levels + b"."


def _dict_key_bomb(levels: int) -> bytes:
    """The bomb as a dict key: pickle.load hashes it while loading (SETITEM)."""
    return b"\x80\x04}" + _tuple_bomb(levels)[2:-1] + b"K\x01s."


@pytest.mark.parametrize(
    "data",
    [_tuple_bomb(40), _tuple_bomb(40, proto=2), _dup_bomb(40), _dict_key_bomb(40)],
    ids=["memo-get", "memo-binput", "dup", "dict-key"],
)
def test_memo_expansion_bomb_is_high(data: bytes, tmp_path: Path) -> None:
    pickletools.dis(data, out=io.StringIO())  # a valid stream: the loader accepts it
    result = _scan(tmp_path, data)
    assert ("PKL209", Severity.HIGH) in [(f.rule_id, f.severity) for f in result.findings], result.findings
    message = next(f.message for f in result.findings if f.rule_id == "PKL209")
    assert re.search(r"about 2\^(40|41) items", message), message


def test_bomb_padded_behind_plain_data_is_found(tmp_path: Path) -> None:
    """Over a megabyte of ordinary records first (the skim's chunk), then the bomb with 4-byte memo keys."""
    padding = pickle.dumps([{"a": i, "b": f"row-{i:08d}-padding"} for i in range(40000)], protocol=2)[2:-1]
    base = sum(1 for op, _arg, _pos in pickletools.genops(b"\x80\x02" + padding + b".") if "PUT" in op.name)
    key = struct.Struct("<I").pack
    bomb = bytearray(b"0)r" + key(base))
    for i in range(36):
        bomb += b"0j" + key(base + i) + b"j" + key(base + i) + b"\x86r" + key(base + i + 1)
    data = b"\x80\x02" + padding + bytes(bomb) + b"."
    assert len(data) > 1 << 20
    pickletools.dis(data, out=io.StringIO())
    assert any(f.rule_id == "PKL209" for f in _scan(tmp_path, data).findings)


def test_ordinary_sharing_is_not_a_bomb(tmp_path: Path) -> None:
    shared = {"schema": list(range(100))}
    data = pickle.dumps([shared] * 5000 + [[shared, shared]] * 100, protocol=4)
    result = _scan(tmp_path, data)
    assert result.status is Status.SCANNED and not result.findings
