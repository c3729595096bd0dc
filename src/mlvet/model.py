"""The one result model every stage of mlvet shares.

Scanners produce :class:`Finding` objects, the orchestrator wraps them in :class:`FileResult` and
:class:`ScanReport`, and every renderer (text, JSON, SARIF, later CycloneDX and HTML) reads only these
objects. They are frozen so that nothing downstream of analysis can quietly change a verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum, IntEnum

from mlvet._version import __version__

#: Bumped whenever the JSON shape changes incompatibly; consumers can check it.
SCHEMA_VERSION = "1.1"


class Severity(IntEnum):
    """Ordered severity; comparisons (``>=``) are how thresholds such as ``--fail-on`` work."""

    NONE = 0
    INFO = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @property
    def label(self) -> str:
        """Lower-case name used in every output format."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """Parse a user-supplied severity name (case-insensitive); raises ValueError with the choices."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r}; choose one of: {choices}") from None


class Confidence(IntEnum):
    """How sure the rule is that the finding is real (bandit-style); separate from how bad it would be."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3

    @property
    def label(self) -> str:
        """Lower-case name used in reports."""
        return self.name.lower()


class Status(str, Enum):
    """Whether a file was fully analysed. ``error`` is never a clean verdict: it fails closed."""

    SCANNED = "scanned"
    SKIPPED = "skipped"
    ERROR = "error"


@dataclass(frozen=True)
class Location:
    """Where a finding sits: the file on disk, the chain of archive members inside it, and a byte offset.

    ``members`` is a tuple so that ``model.7z -> archive/data.pkl`` stays structured instead of being
    flattened into a string that a consumer would have to parse back.
    """

    path: str
    members: tuple[str, ...] = ()
    offset: int | None = None
    opcode_index: int | None = None

    def display(self) -> str:
        """Human form, e.g. ``model.pt!archive/data.pkl@1234``."""
        text = "!".join((self.path, *self.members))
        if self.offset is not None:
            text += f"@{self.offset}"
        return text


@dataclass(frozen=True)
class Finding:
    """One thing a reviewer should look at."""

    rule_id: str
    severity: Severity
    message: str
    location: Location
    evidence: str = ""
    confidence: Confidence = Confidence.HIGH
    cwe: int | None = None
    #: The policy source that suppressed this finding. Suppressed findings stay out of verdicts, counts and
    #: exit codes, but every output lists them: a suppression must never be invisible.
    suppressed_by: str | None = None
    #: When a policy override changed the severity: the rule's own severity here, and which source set it.
    original_severity: Severity | None = None
    severity_set_by: str | None = None

    @property
    def fingerprint(self) -> str:
        """A stable id for tracking this finding across scans (path, member chain, rule, evidence).

        Offsets are left out on purpose: re-saving a file moves bytes without changing what it does.
        """
        import hashlib

        material = "\x1f".join(
            (self.location.path, *self.location.members, self.rule_id, self.evidence or self.message)
        )
        return hashlib.sha256(material.encode("utf-8", "surrogateescape")).hexdigest()[:32]


@dataclass(frozen=True)
class HubOrigin:
    """Where a file sits in a Hugging Face cache: the repository and revision it belongs to."""

    repo_type: str
    repo_id: str
    revision: str | None = None
    refs: tuple[str, ...] = ()
    path_in_repo: str | None = None


@dataclass(frozen=True)
class Origin:
    """Where a remotely scanned file came from, pinned: enough to fetch exactly the same bytes again.

    Why it is core: a result from ``hf://``, ``s3://`` or an MLflow registry must say which immutable object
    it judged (a branch name moves, a commit does not), in every output and in the inventory and BOM.
    ``kind`` is the source type (``hf``, ``s3``, ``fsspec``, ``mlflow``), ``locator`` the repository, bucket or
    model URI, ``revision`` the commit sha / version id / model version, ``path`` the file inside it, and
    ``extra`` any further ``(key, value)`` pairs (the revision the user asked for, the repo type, the endpoint).
    """

    kind: str
    locator: str
    revision: str | None
    path: str
    extra: tuple[tuple[str, str], ...] = ()

    def get(self, key: str) -> str | None:
        """The value of ``key`` in :attr:`extra` (None when absent)."""
        return next((v for k, v in self.extra if k == key), None)


@dataclass(frozen=True)
class FileResult:
    """The verdict for one input file (archive members are locations inside it, not results of their own)."""

    path: str
    format: str
    status: Status
    findings: tuple[Finding, ...] = ()
    errors: tuple[str, ...] = ()
    skip_reason: str | None = None
    size: int | None = None
    sha256: str | None = None
    formats_seen: tuple[str, ...] = ()
    #: Set when the file is inside a Hugging Face cache (``models--org--name/snapshots/<rev>/...``).
    hub: HubOrigin | None = None
    #: Findings the policy suppressed (each names its source in ``suppressed_by``); not part of the verdict.
    suppressed: tuple[Finding, ...] = ()
    #: Set when the file was scanned from a remote source (``hf://``, ``s3://`` ...): what exactly was judged.
    origin: Origin | None = None
    #: For a remote file: the bytes actually fetched to judge it (a 1 GB safetensors costs its header).
    bytes_read: int | None = None

    @property
    def severity(self) -> Severity:
        """The highest severity among the findings (``none`` when there are none)."""
        return max((f.severity for f in self.findings), default=Severity.NONE)


@dataclass(frozen=True)
class ScanSummary:
    """Counts derived from the results; computed, never stored separately from them."""

    files: int
    scanned: int
    skipped: int
    errors: int
    findings: int
    by_severity: dict[str, int]
    max_severity: Severity
    #: Findings the policy suppressed (not counted in ``findings``; listed in every output).
    suppressed: int = 0


@dataclass(frozen=True)
class ScanReport:
    """Everything one scan produced."""

    results: tuple[FileResult, ...]
    started_at: datetime
    finished_at: datetime
    tool_version: str = __version__
    schema_version: str = SCHEMA_VERSION
    policy_sources: tuple[str, ...] = field(default=())
    #: What the policy ignored and why (a discovered pyproject.toml may not weaken a scan).
    policy_warnings: tuple[str, ...] = field(default=())

    @property
    def findings(self) -> tuple[Finding, ...]:
        """Every finding of every result, in result order."""
        return tuple(f for r in self.results for f in r.findings)

    @property
    def suppressed(self) -> tuple[Finding, ...]:
        """Every finding the policy suppressed, across all results."""
        return tuple(f for r in self.results for f in r.suppressed)

    @property
    def max_severity(self) -> Severity:
        """The highest severity of any finding (NONE when there is none)."""
        return max((r.severity for r in self.results), default=Severity.NONE)

    @property
    def incomplete(self) -> bool:
        """True when any input could not be fully analysed (exit code 2 territory)."""
        return any(r.status is Status.ERROR for r in self.results)

    def summary(self) -> ScanSummary:
        """Counts of results by status and of findings by severity."""
        by_sev = {s.label: 0 for s in Severity if s is not Severity.NONE}
        for f in self.findings:
            by_sev[f.severity.label] += 1
        return ScanSummary(
            files=len(self.results),
            scanned=sum(r.status is Status.SCANNED for r in self.results),
            skipped=sum(r.status is Status.SKIPPED for r in self.results),
            errors=sum(r.status is Status.ERROR for r in self.results),
            findings=sum(by_sev.values()),
            by_severity=by_sev,
            max_severity=self.max_severity,
            suppressed=len(self.suppressed),
        )
