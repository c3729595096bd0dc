"""Scan one cached object and turn the result into the gateway's verdict and the client-facing refusal text.

Why a verdict separate from the scan result: the gateway decides per object once (pass, fail, or error) and
reuses that decision for every later request, so what is kept must be small, stable and self-describing (the
policy digest it was made under, the rule ids and the first finding for the message). ``error`` never
passes: a file the scanner could not fully analyse (truncated, malformed, a limit hit, unrecognised binary
content) is refused like a failing one, because a gateway that fails open is a bypass.

The refusal text goes into an HTTP header (``X-Error-Message``), which ``huggingface_hub`` copies into the
exception it raises: it is made single-line and ASCII (hostile names and evidence are escaped, never
interpreted) and bounded in length.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from typing import Any

from mlvet.guard.check import policy_digest
from mlvet.model import FileResult, Severity, Status
from mlvet.policy import Policy
from mlvet.scanner import scan_stream

__all__ = ["Verdict", "decide", "refusal_message", "scan_object", "verdict_digest"]

_MAX_MESSAGE = 1500
_MAX_EVIDENCE = 300


@dataclass(frozen=True)
class Verdict:
    """The gateway's decision about one object under one policy: ``status`` is pass, fail or error."""

    status: str
    rule_ids: tuple[str, ...]
    #: The first blocking finding as ``RULE [severity] message — evidence`` (or the scan errors), escaped.
    reason: str
    policy: str
    format: str

    @property
    def passed(self) -> bool:
        """Only a complete scan with no finding at or above the threshold is served."""
        return self.status == "pass"

    def to_json(self) -> str:
        """Serialised form for the verdict file next to the cached object."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Verdict:
        """Read a verdict file back (raises ValueError/KeyError/TypeError on anything malformed)."""
        data: dict[str, Any] = json.loads(text)
        return cls(status=str(data["status"]), rule_ids=tuple(str(r) for r in data["rule_ids"]),
                   reason=str(data["reason"]), policy=str(data["policy"]), format=str(data["format"]))


def verdict_digest(policy: Policy, fail_on: Severity, display_path: str) -> str:
    """What a verdict depends on besides the bytes: the policy, the threshold and the file's extension.

    The extension matters because a code-bearing file wearing a harmless extension is itself a finding (FMT001).
    """
    ext = os.path.splitext(display_path)[1].lower()
    return f"{policy_digest(policy)}:{int(fail_on)}:{clean_text(ext, 32)}"


def clean_text(text: str, limit: int) -> str:
    """One line of printable ASCII (everything else backslash-escaped), at most ``limit`` characters."""
    out = text.encode("ascii", "backslashreplace").decode("ascii")
    out = "".join(c if 0x20 <= ord(c) < 0x7F else f"\\x{ord(c):02x}" for c in out)
    return out if len(out) <= limit else out[: limit - 3] + "..."


def decide(result: FileResult, fail_on: Severity, digest: str) -> Verdict:
    """The verdict for one scan result: error (incomplete), fail (a finding ≥ ``fail_on``) or pass."""
    blocking = [f for f in result.findings if f.severity >= fail_on]
    rules = tuple(dict.fromkeys(f.rule_id for f in blocking))
    if blocking:
        first = blocking[0]
        reason = f"{first.rule_id} [{first.severity.label}] {first.message}"
        if first.evidence:
            reason += f" -- evidence: {clean_text(first.evidence, _MAX_EVIDENCE)}"
        if len(blocking) > 1:
            reason += f" (+{len(blocking) - 1} more: {', '.join(rules[1:]) or rules[0]})"
        return Verdict("fail", rules, clean_text(reason, _MAX_MESSAGE), digest, result.format)
    if result.status is Status.ERROR:
        why = "; ".join(result.errors) or "content could not be fully analysed"
        return Verdict("error", (), clean_text(f"scan incomplete: {why}", _MAX_MESSAGE), digest, result.format)
    return Verdict("pass", (), "", digest, result.format)


def scan_object(blob_path: str, display_path: str, policy: Policy) -> FileResult:
    """Scan the cached bytes statically (nothing is loaded or executed); ``display_path`` names the file.

    Never raises for bad content (the scanner's error boundary); an unreadable blob is an ``error`` result.
    """
    try:
        with open(blob_path, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            return scan_stream(fh, size, os.path.basename(display_path), policy, path=display_path)
    except OSError as exc:
        return FileResult(path=display_path, format="unknown", status=Status.ERROR,
                          errors=(f"cannot read the cached object: {exc.strerror or exc}",))


def refusal_message(display_path: str, verdict: Verdict) -> str:
    """The one-line text a client shows: which file, which rule, which finding (or why the scan is incomplete)."""
    head = "refused by mlvet gateway" if verdict.status == "fail" else "refused by mlvet gateway (fail closed)"
    return clean_text(f"{head}: {display_path}: {verdict.reason}", _MAX_MESSAGE + 400)
