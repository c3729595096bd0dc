"""MLCommons Croissant metadata: the lock's hashes as ``sha256`` on ``FileObject`` s, and back.

Croissant (https://mlcommons.org/croissant, schema 1.0) describes a dataset as JSON-LD; its
``distribution`` lists ``cr:FileObject`` s (one file: ``contentUrl``, ``contentSize``, ``encodingFormat``,
``sha256`` — schema.org's property — or ``md5``) and ``cr:FileSet`` s (a glob over many files, no hash).
:func:`write_croissant` puts a lock's hashes into a Croissant document (updating an existing one's matching
``FileObject`` s and adding the files it lacks), so the hashes travel in the community's own format;
:func:`lock_from_croissant` turns one back into a lock that ``mlvet data verify`` checks a dataset against.
Files that a Croissant document names without a SHA-256 (only ``md5``, a remote URL, a ``FileSet`` glob)
cannot be verified and are reported as such, never as clean.
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass, field
from typing import Any

from mlvet.data.lockfile import FileEntry, Lock
from mlvet.errors import UsageError

__all__ = ["CROISSANT_CONTEXT", "CroissantLock", "is_croissant", "lock_from_croissant", "write_croissant"]

#: The JSON-LD context of Croissant 1.0 documents (as the specification's examples spell it).
CROISSANT_CONTEXT: dict[str, Any] = {
    "@language": "en", "@vocab": "https://schema.org/", "sc": "https://schema.org/",
    "cr": "http://mlcommons.org/croissant/", "rai": "http://mlcommons.org/croissant/RAI/",
    "dct": "http://purl.org/dc/terms/", "citeAs": "cr:citeAs", "column": "cr:column",
    "conformsTo": "dct:conformsTo", "data": {"@id": "cr:data", "@type": "@json"},
    "dataType": {"@id": "cr:dataType", "@type": "@vocab"}, "examples": {"@id": "cr:examples", "@type": "@json"},
    "extract": "cr:extract", "field": "cr:field", "fileProperty": "cr:fileProperty", "fileObject": "cr:fileObject",
    "fileSet": "cr:fileSet", "format": "cr:format", "includes": "cr:includes", "isLiveDataset": "cr:isLiveDataset",
    "jsonPath": "cr:jsonPath", "key": "cr:key", "md5": "cr:md5", "parentField": "cr:parentField",
    "path": "cr:path", "recordSet": "cr:recordSet", "references": "cr:references", "regex": "cr:regex",
    "repeated": "cr:repeated", "replace": "cr:replace", "separator": "cr:separator", "source": "cr:source",
    "subField": "cr:subField", "transform": "cr:transform",
}
_CONFORMS = "http://mlcommons.org/croissant/1.0"
_FORMATS = {".parquet": "application/x-parquet", ".csv": "text/csv", ".tsv": "text/tab-separated-values",
            ".jsonl": "application/jsonlines", ".json": "application/json", ".jpg": "image/jpeg",
            ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".txt": "text/plain",
            ".tar": "application/x-tar", ".arrow": "application/vnd.apache.arrow.file",
            ".md": "text/markdown"}


def _types(obj: dict[str, Any]) -> set[str]:
    value = obj.get("@type")
    values = value if isinstance(value, list) else [value]
    return {str(v).rsplit(":", 1)[-1].rsplit("/", 1)[-1] for v in values if isinstance(v, str)}


def is_croissant(doc: Any) -> bool:
    """A JSON-LD dataset document with a Croissant context or ``conformsTo``."""
    if not isinstance(doc, dict) or "@context" not in doc:
        return False
    return "croissant" in str(doc.get("conformsTo", "")) or "mlcommons.org/croissant" in str(doc["@context"])


def _local(url: Any) -> str | None:
    """A ``contentUrl`` relative to the dataset, or None (absolute URLs and paths that leave the dataset)."""
    if not isinstance(url, str) or not url or "://" in url or url.startswith("/"):
        return None
    norm = os.path.normpath(url).replace(os.sep, "/")
    return None if norm.startswith("..") else norm


@dataclass
class CroissantLock:
    """A lock read from Croissant, the entries it cannot check, and the ``FileSet`` globs."""

    lock: Lock
    unverifiable: list[str] = field(default_factory=list)
    globs: list[str] = field(default_factory=list)

    def covered(self, rel: str) -> bool:
        """Whether a file outside the ``FileObject`` s is described by a ``FileSet`` (so not extra)."""
        return any(fnmatch.fnmatchcase(rel, g) for g in self.globs)


def lock_from_croissant(doc: Any) -> CroissantLock:
    """The files a Croissant document hashes, as a lock (``layout`` ``croissant``)."""
    if not is_croissant(doc):
        raise UsageError("not a Croissant document (no @context naming mlcommons.org/croissant)")
    result = CroissantLock(Lock(layout="croissant"))
    distribution = doc.get("distribution") or []
    for obj in distribution if isinstance(distribution, list) else []:
        if not isinstance(obj, dict):
            continue
        kinds = _types(obj)
        name = str(obj.get("@id") or obj.get("name") or "?")
        if "FileSet" in kinds:
            includes = obj.get("includes")
            result.globs.extend(str(g) for g in (includes if isinstance(includes, list) else [includes]) if g)
            continue
        if "FileObject" not in kinds:
            continue
        rel = _local(obj.get("contentUrl"))
        sha = obj.get("sha256")
        if rel is None or not isinstance(sha, str) or len(sha) != 64:
            result.unverifiable.append(rel or name)
            continue
        size = _size(obj.get("contentSize"))
        result.lock.files[rel] = FileEntry(rel, size if size is not None else -1, sha.lower())
    return result


def _size(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        number = value.strip().split(" ")[0]
        if number.isdigit() and (value.strip() == number or value.strip().endswith(" B")):
            return int(number)
    return None


def write_croissant(lock: Lock, existing: Any, name: str) -> dict[str, Any]:
    """A Croissant document carrying ``lock``'s hashes: ``existing`` updated, or a new minimal one."""
    if existing is not None and not is_croissant(existing):
        raise UsageError("the existing --croissant file is not a Croissant document")
    doc: dict[str, Any] = dict(existing) if existing is not None else {
        "@context": CROISSANT_CONTEXT, "@type": "sc:Dataset", "name": name, "conformsTo": _CONFORMS,
        "description": f"Files of {name} with their SHA-256, from an mlvet data lock (root {lock.root}).",
    }
    distribution = [dict(o) if isinstance(o, dict) else o for o in (doc.get("distribution") or [])]
    seen: set[str] = set()
    for obj in distribution:
        if isinstance(obj, dict) and "FileObject" in _types(obj):
            rel = _local(obj.get("contentUrl"))
            if rel is not None and rel in lock.files:
                entry = lock.files[rel]
                obj["sha256"] = entry.sha256
                obj["contentSize"] = f"{entry.size} B"
                seen.add(rel)
    for rel, entry in sorted(lock.files.items()):
        if rel not in seen:
            distribution.append({"@type": "cr:FileObject", "@id": rel, "name": rel, "contentUrl": rel,
                                 "contentSize": f"{entry.size} B",
                                 "encodingFormat": _FORMATS.get(os.path.splitext(rel)[1].lower(),
                                                                "application/octet-stream"),
                                 "sha256": entry.sha256})
    doc["distribution"] = distribution
    return doc
