"""Plain-data (JSON) form of inventory objects, shared by ``mlvet inventory``, ``mlvet assets`` and the API.

Kept apart from the model so that the model stays a pure value type and the JSON shape is defined once;
scripts and CI gates depend on these keys (documented in the README).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mlvet.inventory.model import Asset, Changes, InventoryRun
from mlvet.model import Finding


def finding_to_dict(f: Finding) -> dict[str, Any]:
    """The scanner's finding, as ``mlvet scan -f json`` writes it (minus report-level fields)."""
    return {
        "rule_id": f.rule_id, "severity": f.severity.label, "confidence": f.confidence.label,
        "message": f.message, "evidence": f.evidence, "cwe": f.cwe, "fingerprint": f.fingerprint,
        "location": {"path": f.location.path, "members": list(f.location.members), "offset": f.location.offset},
    }


def asset_to_dict(a: Asset, *, findings: bool = True) -> dict[str, Any]:
    """One asset: identity, files with hashes, metadata, verdict (and findings unless ``findings=False``)."""
    meta = asdict(a.metadata)
    meta["extra"] = dict(a.metadata.extra)
    out: dict[str, Any] = {
        "id": a.id, "kind": a.kind, "name": a.name, "path": a.path, "format": a.format,
        "framework": a.framework, "size": a.size, "content_sha256": a.content_hash,
        "verdict": a.verdict, "severity": a.severity.label, "incomplete": a.incomplete,
        "hub": asdict(a.hub) if a.hub else None,
        "metadata": meta,
        "files": [{"path": f.path, "rel": f.rel, "size": f.size, "sha256": f.sha256, "format": f.format,
                   "severity": f.severity.label, "scan_status": f.scan_status, "integrity": f.integrity}
                  for f in a.files],
    }
    if a.hub:
        out["hub"]["refs"] = list(a.hub.refs)
    if findings:
        out["findings"] = [finding_to_dict(f) for f in a.findings]
    return out


def run_to_dict(run: InventoryRun) -> dict[str, Any]:
    """An inventory run as JSON-ready data."""
    return {"id": run.id, "started_at": run.started_at.isoformat(), "finished_at": run.finished_at.isoformat(),
            "roots": list(run.roots), "tool_version": run.tool_version, "host": run.host,
            "files_seen": run.files_seen, "files_hashed": run.files_hashed}


def changes_to_dict(changes: Changes, current: list[Asset], previous: list[Asset]) -> dict[str, Any]:
    """Change lists naming assets: ``{"id", "name", "path"}`` (+ verdicts for "worse", files for "changed")."""
    now = {a.id: a for a in current}
    before = {a.id: a for a in previous}

    def ref(i: str) -> dict[str, Any]:
        a = now.get(i) or before[i]
        return {"id": a.id, "name": a.name, "path": a.path, "kind": a.kind}

    def changed(i: str) -> dict[str, Any]:
        old = {f.rel: f.sha256 for f in before[i].files}
        new = {f.rel: f.sha256 for f in now[i].files}
        return {**ref(i),
                "files_added": sorted(set(new) - set(old)), "files_removed": sorted(set(old) - set(new)),
                "files_modified": sorted(r for r in set(new) & set(old) if new[r] != old[r])}

    return {
        "new": [ref(i) for i in changes.new],
        "changed": [changed(i) for i in changes.changed],
        "removed": [ref(i) for i in changes.removed],
        "worse": [{**ref(i), "from": before[i].verdict, "to": now[i].verdict} for i in changes.worse],
    }
