"""mlvet: static security scanning for machine-learning model files. It never loads what it reads.

Public API::

    import mlvet
    report = mlvet.scan(["model.pt", "models/"])
    for result in report.results:
        print(result.path, result.status.value, result.severity.label)

    result = mlvet.scan_bytes(data, "model.pt")  # bytes already in memory, e.g. from an upload

Imports are lazy so that ``mlvet --version`` and ``import mlvet`` stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlvet._version import __version__

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable

    from mlvet.model import FileResult, ScanReport
    from mlvet.policy import Policy

__all__ = ["__version__", "load_policy", "scan", "scan_bytes"]


def scan(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
    *,
    policy: Policy | str | os.PathLike[str] | None = None,
    jobs: int = 1,
) -> ScanReport:
    """Scan files, folders and archives statically and return an immutable :class:`ScanReport`.

    ``policy`` is a :class:`~mlvet.policy.Policy`, a path to a policy file, or None for the shipped one.
    """
    import os as _os

    from mlvet.policy import Policy as _Policy
    from mlvet.scanner import scan as _scan

    if isinstance(paths, (str, _os.PathLike)):
        paths = [paths]
    pol = policy if isinstance(policy, _Policy) or policy is None else load_policy(policy)
    return _scan(paths, policy=pol, jobs=jobs)


def scan_bytes(
    data: bytes, name: str, policy: Policy | str | os.PathLike[str] | None = None
) -> FileResult:
    """Scan ``data`` as the content of a file called ``name`` and return its :class:`FileResult`.

    ``name`` is the result's path (its extension matters only for the content/extension mismatch check);
    ``policy`` is as for :func:`scan`. Never raises for bad content: it becomes an ``error`` result.
    """
    import io

    from mlvet.policy import Policy as _Policy
    from mlvet.policy import default_policy
    from mlvet.scanner import scan_stream

    if policy is not None and not isinstance(policy, _Policy):
        policy = load_policy(policy)
    return scan_stream(io.BytesIO(data), len(data), name, policy or default_policy())


def load_policy(path: str | os.PathLike[str]) -> Policy:
    """Load a policy file on top of the shipped policy (raises PolicyError with a clear message)."""
    import os as _os

    from mlvet.policy import load_policy_file
    from mlvet.scanner import check_rule_ids

    return check_rule_ids(load_policy_file(_os.fspath(path)))


def __getattr__(name: str) -> Any:
    if name in ("ScanReport", "FileResult", "Finding", "Location", "Severity", "Status"):
        from mlvet import model

        return getattr(model, name)
    raise AttributeError(name)
