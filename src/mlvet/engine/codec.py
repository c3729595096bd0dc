"""File results as plain JSON data without their path: what the result cache stores and engines ship.

A cached result must be valid for every copy of the same content, wherever it sits (the same tokenizer in ten
thousand repositories), so the path-specific parts are left out when encoding — the result's ``path``, its
hub/remote origin and the bytes read — and a finding location that named the file itself is stored as
"this file". :func:`result_from_doc` puts the new path back.

Not every result is a function of its content alone. Some handlers read the file's neighbours: a
``config.json`` whose ``auto_map`` names Python modules in the folder, Python files judged by the model folder
they sit in, MLflow ``MLmodel`` files, ONNX models with external data, TensorFlow checkpoints and their index.
Their results are never cached (:func:`cacheable`), and neither are ``error`` results, which may come from a
transient cause (an I/O error, a worker that died) and must be retried, never remembered.
"""

from __future__ import annotations

from typing import Any

from mlvet.model import Confidence, FileResult, Finding, Location, Severity, Status

__all__ = ["CONTEXT_FORMATS", "cacheable", "result_from_doc", "result_to_doc"]

#: Formats whose analysis reads other files next to the scanned one: their results depend on the folder.
CONTEXT_FORMATS = frozenset({
    "huggingface-config", "python", "loader-code", "diffusers-index", "mlflow-mlmodel", "onnx",
    "onnx-external-data",
})
_CONTEXT_PREFIXES = ("tf-",)


def cacheable(result: FileResult) -> bool:
    """True when ``result`` depends only on the file's content (and name), so another copy may reuse it."""
    if result.status is Status.ERROR:
        return False
    formats = {result.format, *result.formats_seen}
    return not any(f in CONTEXT_FORMATS or f.startswith(_CONTEXT_PREFIXES) for f in formats)


def _finding_to_doc(f: Finding, path: str) -> dict[str, Any]:
    loc = f.location
    return {
        "rule_id": f.rule_id, "severity": int(f.severity), "message": f.message, "evidence": f.evidence,
        "confidence": int(f.confidence), "cwe": f.cwe, "suppressed_by": f.suppressed_by,
        "original_severity": None if f.original_severity is None else int(f.original_severity),
        "severity_set_by": f.severity_set_by,
        "location": {"path": None if loc.path == path else loc.path, "members": list(loc.members),
                     "offset": loc.offset, "opcode_index": loc.opcode_index},
    }


def _finding_from_doc(d: dict[str, Any], path: str) -> Finding:
    loc = d["location"]
    return Finding(
        rule_id=d["rule_id"], severity=Severity(d["severity"]), message=d["message"],
        location=Location(path=path if loc["path"] is None else loc["path"], members=tuple(loc["members"]),
                          offset=loc["offset"], opcode_index=loc["opcode_index"]),
        evidence=d["evidence"], confidence=Confidence(d["confidence"]), cwe=d["cwe"],
        suppressed_by=d["suppressed_by"],
        original_severity=None if d["original_severity"] is None else Severity(d["original_severity"]),
        severity_set_by=d["severity_set_by"],
    )


def result_to_doc(result: FileResult) -> dict[str, Any]:
    """``result`` as JSON-ready data, without its path, origin and bytes read."""
    return {
        "format": result.format, "status": result.status.value, "errors": list(result.errors),
        "skip_reason": result.skip_reason, "size": result.size, "sha256": result.sha256,
        "formats_seen": list(result.formats_seen),
        "findings": [_finding_to_doc(f, result.path) for f in result.findings],
        "suppressed": [_finding_to_doc(f, result.path) for f in result.suppressed],
    }


def result_from_doc(doc: dict[str, Any], path: str) -> FileResult:
    """The :class:`FileResult` that :func:`result_to_doc` encoded, now for the file at ``path``."""
    return FileResult(
        path=path, format=doc["format"], status=Status(doc["status"]), errors=tuple(doc["errors"]),
        skip_reason=doc["skip_reason"], size=doc["size"], sha256=doc["sha256"],
        formats_seen=tuple(doc["formats_seen"]),
        findings=tuple(_finding_from_doc(f, path) for f in doc["findings"]),
        suppressed=tuple(_finding_from_doc(f, path) for f in doc["suppressed"]),
    )
