"""The core scan context: reporting through the policy, recursion through an injected dispatcher, trials."""

from __future__ import annotations

import io
from typing import BinaryIO

from mlvet.context import Dispatcher, ScanContext, Sink
from mlvet.policy import default_policy
from mlvet.rules import ARC301


def _recording_dispatcher(calls: list[tuple[tuple[str, ...], str]]) -> Dispatcher:
    def dispatch(ctx: ScanContext, stream: BinaryIO, size: int, name: str, exclude: frozenset[str]) -> str | None:
        calls.append((ctx.members, name))
        ctx.saw_format("probe")
        return "probe"

    return dispatch


def test_children_and_trials_keep_the_injected_dispatcher() -> None:
    calls: list[tuple[tuple[str, ...], str]] = []
    sink = Sink()
    ctx = ScanContext("f", default_policy(), sink, dispatcher=_recording_dispatcher(calls))
    assert ctx.child("m").scan_stream(io.BytesIO(b"x"), 1, "m") == "probe"
    sub, trial = ctx.trial("<t>")
    sub.scan_stream(io.BytesIO(b"y"), 1, "y")
    assert calls == [(("m",), "m"), (("<t>",), "y")]
    assert sink.formats == ["probe"] and trial.formats == ["probe"]


def test_a_trial_reports_nothing_until_adopted() -> None:
    sink = Sink()
    ctx = ScanContext("f", default_policy(), sink)
    sub, trial = ctx.trial("<nested pickle @4>")
    sub.report(ARC301, "limit")
    sub.error("cut short")
    assert sink.findings == [] and sink.errors == []
    assert trial.findings[0].location.members == ("<nested pickle @4>",) and sub.depth == 1
    ctx.adopt(trial)
    assert [f.rule_id for f in sink.findings] == ["ARC301"]
    assert sink.errors == ["<nested pickle @4>: cut short"]


def test_nesting_beyond_the_limit_is_a_finding_and_an_error_not_a_dispatch() -> None:
    calls: list[tuple[tuple[str, ...], str]] = []
    pol = default_policy()
    sink = Sink()
    deep = ScanContext("f", pol, sink, ("a",), pol.limits.max_depth + 1, dispatcher=_recording_dispatcher(calls))
    assert deep.scan_stream(io.BytesIO(b"x"), 1, "x") is None
    assert calls == [] and [f.rule_id for f in sink.findings] == ["ARC301"] and sink.errors


def test_without_a_dispatcher_the_format_layer_default_is_used() -> None:
    import mlvet.formats  # noqa: F401 - installs the default dispatcher

    sink = Sink()
    data = b"\x80\x04K\x01."  # pickle: the int 1
    assert ScanContext("f", default_policy(), sink).scan_stream(io.BytesIO(data), len(data), "f") == "pickle"
