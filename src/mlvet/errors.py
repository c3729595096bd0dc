"""One error root per layer, each with a message a user can act on (the CLI prints it, no traceback)."""

from __future__ import annotations


class MlvetError(Exception):
    """Root of every error mlvet raises on purpose."""

    def diagnostics(self) -> str:
        """The text shown to a user."""
        return str(self)


class PolicyError(MlvetError):
    """A policy file or ``[tool.mlvet]`` table is invalid."""


class UsageError(MlvetError):
    """The caller asked for something that cannot be done (bad path, bad option)."""


class AnalysisError(MlvetError):
    """A file could not be fully analysed. Becomes an ``error`` result; never a crash."""


class LimitExceeded(AnalysisError):
    """A safety limit was hit (size, depth, ratio, count): reported as a finding and an error result."""

    def __init__(self, what: str, limit: int, message: str) -> None:
        super().__init__(message)
        self.what = what
        self.limit = limit
