"""The scan context: where an analysis reports, for one top-level input, and how it recurses.

Core, beside :mod:`mlvet.model` and :mod:`mlvet.rules`: it knows findings, rules, the policy's suppressions
and limits, and nothing about any format. Recursion into a member (a pickle in a zip in a 7z) goes through
a *dispatcher* the context is given: a callable that identifies the bytes and runs the matching format
handler in a context (:func:`mlvet.formats.dispatch.dispatch`). The format layer installs its dispatcher
as the default when it is imported, and :func:`mlvet.scanner.scan_file` passes it explicitly, so this
module never imports the format layer above it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, BinaryIO, Protocol

from mlvet.errors import AnalysisError
from mlvet.model import Confidence, Finding, Location, Severity
from mlvet.rules import ARC301, Rule

if TYPE_CHECKING:
    from mlvet.limits import Limits
    from mlvet.policy import Policy


@dataclass
class Sink:
    """Mutable collection point for one top-level input; frozen into a FileResult at the end."""

    findings: list[Finding] = field(default_factory=list)
    #: Findings the policy suppressed: kept (and shown by every renderer), never part of the verdict.
    suppressed: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    formats: list[str] = field(default_factory=list)
    total_bytes: int = 0
    skip_reason: str | None = None


class Dispatcher(Protocol):
    """Identifies a stream by content and scans it in ``ctx``; returns the format id (None: unrecognised).

    ``exclude`` names handlers to skip (a polyglot check re-dispatches a file to the *other* formats).
    """

    def __call__(
        self, ctx: ScanContext, stream: BinaryIO, size: int, name: str, exclude: frozenset[str]
    ) -> str | None: ...


_default_dispatcher: Dispatcher | None = None


def install_dispatcher(dispatcher: Dispatcher) -> None:
    """Make ``dispatcher`` the one contexts use when none is given (the format layer calls this on import)."""
    global _default_dispatcher  # noqa: PLW0603 - one registration, like the format handlers'
    _default_dispatcher = dispatcher


class ScanContext:
    """Where a handler reports: the file, the member chain inside it, the policy and the limits."""

    def __init__(
        self,
        path: str,
        policy: Policy,
        sink: Sink,
        members: tuple[str, ...] = (),
        depth: int = 0,
        opaque_ok: bool = False,
        *,
        dispatcher: Dispatcher | None = None,
    ) -> None:
        #: Inside a known model layout (torch archive tensor data ...), unrecognised binary is expected.
        self.opaque_ok = opaque_ok
        self.path = path
        self.policy = policy
        self.limits: Limits = policy.limits
        self.sink = sink
        self.members = members
        self.depth = depth
        self._dispatcher = dispatcher

    # ---- reporting ----------------------------------------------------------------------------------

    def location(self, offset: int | None = None, opcode_index: int | None = None) -> Location:
        """Where a finding at ``offset`` (or pickle opcode ``opcode_index``) of the current member is."""
        return Location(self.path, self.members, offset, opcode_index)

    def report(
        self,
        rule: Rule,
        message: str,
        *,
        severity: Severity | None = None,
        offset: int | None = None,
        opcode_index: int | None = None,
        evidence: str = "",
        confidence: Confidence = Confidence.HIGH,
    ) -> None:
        """Record a finding; the policy's suppressions and severity overrides apply here, once.

        Neither is silent: an overridden finding keeps the rule's own severity and the override's source, and
        a suppressed one goes to the sink's ``suppressed`` list with the source that suppressed it.
        """
        own = severity if severity is not None else rule.severity
        override = self.policy.severity_overrides.get(rule.id)
        changed = override is not None and override != own
        finding = Finding(
            rule_id=rule.id,
            severity=override if override is not None else own,
            message=message,
            location=self.location(offset, opcode_index),
            evidence=evidence,
            confidence=confidence,
            cwe=rule.cwe,
            original_severity=own if changed else None,
            severity_set_by=self.policy.override_sources.get(rule.id, "policy") if changed else None,
        )
        if rule.id in self.policy.suppress:
            by = self.policy.suppress_sources.get(rule.id, "policy")
            self.sink.suppressed.append(dataclasses.replace(finding, suppressed_by=by))
            return
        self.sink.findings.append(finding)

    def error(self, message: str) -> None:
        """The input could not be fully analysed (the result becomes ``error``)."""
        where = "!".join(self.members)
        self.sink.errors.append(f"{where}: {message}" if where else message)

    def saw_format(self, fmt: str) -> None:
        """Note that ``fmt`` was recognised somewhere in this input (the result's ``formats_seen``)."""
        if fmt not in self.sink.formats:
            self.sink.formats.append(fmt)

    # ---- recursion ----------------------------------------------------------------------------------

    def child(self, member: str, *, opaque_ok: bool = False) -> ScanContext:
        """The context for ``member`` inside the current one (same sink, one level deeper)."""
        return ScanContext(self.path, self.policy, self.sink, (*self.members, member), self.depth + 1, opaque_ok,
                           dispatcher=self._dispatcher)

    def trial(self, label: str) -> tuple[ScanContext, Sink]:
        """A child context for ``label`` that reports into a fresh sink, for an analysis that may be discarded.

        A speculative analysis (bytes that might be a nested pickle) runs in the returned context; the caller
        inspects the returned sink and keeps its findings and errors with :meth:`adopt`, or drops them.
        """
        sink = Sink()
        return ScanContext(self.path, self.policy, sink, (*self.members, label), self.depth + 1,
                           dispatcher=self._dispatcher), sink

    def adopt(self, trial: Sink) -> None:
        """Keep the findings and errors of a trial sink from :meth:`trial`."""
        self.sink.findings.extend(trial.findings)
        self.sink.suppressed.extend(trial.suppressed)
        self.sink.errors.extend(trial.errors)

    def scan_stream(
        self, stream: BinaryIO, size: int, name: str, *, exclude: frozenset[str] = frozenset()
    ) -> str | None:
        """Identify ``stream`` by content and scan it here. Returns the format id (None: unrecognised).

        Containers call this on members through ``child(...)``; the top level calls it on files.
        ``exclude`` names handlers to skip (a polyglot check re-dispatches a file to the *other* formats).
        """
        if self.depth > self.limits.max_depth:
            self.report(ARC301, f"nesting deeper than {self.limits.max_depth} levels; not analysed further")
            self.error(f"archive nesting limit ({self.limits.max_depth}) reached")
            return None
        dispatcher = self._dispatcher or _default_dispatcher
        if dispatcher is None:
            raise AnalysisError("no format dispatcher installed: import mlvet.formats before scanning")
        return dispatcher(self, stream, size, name, exclude)
