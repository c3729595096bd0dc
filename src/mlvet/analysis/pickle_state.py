"""Pickled state that a class's ``__setstate__`` executes, checked against what the library itself writes.

Rebuilding an object runs only the class's ``__new__``/``__setstate__``, which the policy can usually trust.
A few library classes execute part of that state (SciPy's distributions ``exec`` their argument-parser
template); for them the state *is* code. ``mlvet.policy.state_checks`` says which state keys those are and
the exact shape the library writes; this module finds every rebuilt object whose state carries such a key
with any other value. A value too long to be kept in memory is reported too: it cannot be checked.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mlvet.analysis.pickle_stream import StreamAnalysis
from mlvet.analysis.values import Blob, Call, Global, PDict
from mlvet.policy.state_checks import StateCheck, state_checks

#: Helpers whose first argument is the class whose object is being rebuilt.
_RECONSTRUCTORS = frozenset({
    ("copyreg", "_reconstructor"), ("copy_reg", "_reconstructor"), ("copyreg", "__newobj__"),
    ("copyreg", "__newobj_ex__"),
})


@dataclass(frozen=True)
class StateViolation:
    """A rebuilt object whose state carries code the class's ``__setstate__`` would execute."""

    call: Call
    cls: Global
    check: StateCheck
    value: str


def _rebuilt_class(call: Call) -> Global | None:
    func = call.func
    if type(func) is not Global:
        return None
    if (func.module, func.name) in _RECONSTRUCTORS:
        args = call.args
        return args[0] if type(args) is tuple and args and type(args[0]) is Global else None
    return func


def _state_dict(state: object) -> PDict | None:
    if type(state) is PDict:
        return state
    if type(state) is tuple and state and type(state[0]) is PDict:  # (state, slotstate)
        return state[0]
    return None


def violations(res: StreamAnalysis) -> Iterator[StateViolation]:
    """Every rebuilt object in ``res`` whose state fails a shipped state check."""
    checks = state_checks()
    for call in res.calls:
        state = _state_dict(call.state)
        if state is None:
            continue
        cls = _rebuilt_class(call)
        if cls is None:
            continue
        for check in checks:
            if not check.applies(cls.module, cls.name):
                continue
            for key, value in state:
                if key != check.key:
                    continue
                if type(value) is Blob:
                    yield StateViolation(call, cls, check, f"<{value.length} characters, too long to check>")
                elif not check.accepts(value):
                    yield StateViolation(call, cls, check, value if isinstance(value, str) else repr(value))
