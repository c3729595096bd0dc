"""The guard's one exception: a loader was refused because what it was about to read failed the policy."""

from __future__ import annotations

from mlvet.model import Finding

__all__ = ["UnsafeModelError"]


class UnsafeModelError(Exception):
    """Raised instead of loading: ``path`` failed the guard's policy and the loader never read it.

    ``path`` is the file or folder that was scanned (``"<bytes>"`` for ``pickle.loads`` data, ``"<stream>"``
    for a file object without a name); ``findings`` are the findings at or above the guard's threshold
    (empty when the refusal is because the content could not be fully analysed, see ``errors``).
    """

    def __init__(self, path: str, findings: tuple[Finding, ...], errors: tuple[str, ...] = (),
                 loader: str = "") -> None:
        self.path = path
        self.findings = findings
        self.errors = errors
        self.loader = loader
        super().__init__(self._message())

    def _message(self) -> str:
        who = f"{self.loader}: " if self.loader else ""
        if self.findings:
            first = self.findings[0]
            more = f" (+{len(self.findings) - 1} more)" if len(self.findings) > 1 else ""
            return (f"{who}refused to load {self.path!r}: {first.rule_id} [{first.severity.label}] "
                    f"{first.message}{more}")
        reason = "; ".join(self.errors) or "content could not be fully analysed"
        return f"{who}refused to load {self.path!r}: not fully analysed ({reason}); mlvet fails closed"
