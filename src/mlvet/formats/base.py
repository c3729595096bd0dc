"""The format layer's interface: identify content by its bytes, then scan it in a :class:`ScanContext`.

Every format is a module that registers a :class:`FormatHandler`. Dispatch asks each handler in
priority order whether it recognises the content (by magic bytes and structure, never by extension) and
hands the stream to the first that does. Containers recurse by calling :meth:`ScanContext.scan_stream` on
their members, so nesting (a pickle in a zip in a 7z) needs no special code anywhere.
"""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.model import Confidence, Finding, Location, Severity
from mlvet.policy import Policy
from mlvet.rules import ARC301, Rule

#: Bytes read from the start of every stream for sniffing.
HEAD_BYTES = 4096
#: Spooled copies of members stay in memory up to this size, then go to a temporary file.
SPOOL_BYTES = 16 * 1024 * 1024


class Probe:
    """What a handler may look at to recognise content: the first bytes, the size, and the tail on demand."""

    def __init__(self, stream: BinaryIO, size: int, name: str, head: bytes) -> None:
        self.stream = stream
        self.size = size
        self.name = name
        self.head = head
        self._tail: bytes | None = None

    def tail(self, n: int = 70_000) -> bytes:
        """The last ``n`` bytes (read once, lazily): end-of-central-directory records live there."""
        if self._tail is None:
            here = self.stream.tell()
            start = max(0, self.size - n)
            self.stream.seek(start)
            self._tail = self.stream.read(self.size - start)
            self.stream.seek(here)
        return self._tail


class FormatHandler(Protocol):
    """A format module's entry point."""

    #: Stable id reported as ``format`` in results (e.g. ``pickle``, ``pytorch-zip``).
    id: str
    #: Lower runs first; cheap, specific magic checks come before structural guesses.
    priority: int

    def sniff(self, probe: Probe) -> bool:
        """True if this handler recognises the content."""
        ...

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        """Analyse the stream, reporting through ``ctx``. Raise AnalysisError for what cannot be read."""
        ...


_HANDLERS: list[FormatHandler] = []


def register(handler: FormatHandler) -> FormatHandler:
    """Add a format handler (modules call this at import)."""
    _HANDLERS.append(handler)
    _HANDLERS.sort(key=lambda h: h.priority)
    return handler


def handlers() -> tuple[FormatHandler, ...]:
    return tuple(_HANDLERS)


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
    ) -> None:
        #: Inside a known model layout (torch archive tensor data ...), unrecognised binary is expected.
        self.opaque_ok = opaque_ok
        self.path = path
        self.policy = policy
        self.limits = policy.limits
        self.sink = sink
        self.members = members
        self.depth = depth

    # ---- reporting ----------------------------------------------------------------------------------

    def location(self, offset: int | None = None, opcode_index: int | None = None) -> Location:
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
        if fmt not in self.sink.formats:
            self.sink.formats.append(fmt)

    # ---- recursion ----------------------------------------------------------------------------------

    def child(self, member: str, *, opaque_ok: bool = False) -> ScanContext:
        return ScanContext(self.path, self.policy, self.sink, (*self.members, member), self.depth + 1, opaque_ok)

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
        head = stream.read(HEAD_BYTES)
        stream.seek(0)
        probe = Probe(stream, size, name, head)
        from mlvet.formats import activate_for

        activate_for(probe)
        for handler in _HANDLERS:
            if handler.id in exclude:
                continue
            try:
                matched = handler.sniff(probe)
            except (OSError, ValueError):
                matched = False
            finally:
                stream.seek(0)
            if matched:
                self.saw_format(handler.id)
                try:
                    handler.scan(stream, size, self)
                except LimitExceeded as exc:
                    self.report(ARC301, str(exc))
                    self.error(str(exc))
                except AnalysisError as exc:
                    self.error(str(exc))
                return handler.id
        return None


@contextmanager
def spooled(source: BinaryIO, limit: int, what: str) -> Iterator[tuple[BinaryIO, int]]:
    """Copy a non-seekable stream into a seekable spool (memory, then disk), enforcing ``limit`` bytes."""
    import tempfile

    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - closed below
    try:
        total = 0
        while True:
            chunk = source.read(1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:
                raise LimitExceeded("max_member_bytes", limit, f"{what}: decompressed size exceeds {limit} bytes")
            spool.write(chunk)
        spool.seek(0)
        yield spool, total  # type: ignore[misc]
    finally:
        spool.close()


class Window(io.RawIOBase):
    """A read-only, seekable view of ``length`` bytes at ``offset`` of a seekable stream (no copy)."""

    def __init__(self, base: BinaryIO, offset: int, length: int) -> None:
        super().__init__()
        self._base = base
        self._offset = offset
        self._length = length
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 0:
            new = pos
        elif whence == 1:
            new = self._pos + pos
        else:
            new = self._length + pos
        self._pos = max(0, new)
        return self._pos

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        n = min(len(b), self._length - self._pos)
        if n <= 0:
            return 0
        self._base.seek(self._offset + self._pos)
        data = self._base.read(n)
        b[: len(data)] = data
        self._pos += len(data)
        return len(data)
