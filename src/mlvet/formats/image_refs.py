"""Container-image and Ollama stores as data: which manifest references which blob, under which name.

Three layouts hold models as content-addressed blobs named by their SHA-256:

* an OCI image layout folder (OCI image-spec ``image-layout.md``): ``oci-layout`` (``imageLayoutVersion``),
  ``index.json`` (an image index whose ``manifests`` carry ``org.opencontainers.image.ref.name``
  annotations), and ``blobs/<algorithm>/<hex>`` holding manifests, configs and layers;
* a ``docker save`` tarball: ``manifest.json`` (a list of ``{Config, RepoTags, Layers}``) beside either
  the legacy ``<id>/layer.tar`` members or, since Docker 25, an OCI layout inside the tar;
* an Ollama models folder: ``manifests/<registry>/<namespace>/<model>/<tag>`` (a Docker v2 manifest whose
  layers have ``application/vnd.ollama.image.*`` media types) and ``blobs/sha256-<hex>``.

This module reads the manifests (bounded: JSON documents up to :data:`MAX_JSON`, :data:`MAX_MANIFESTS`
of them, nesting of indexes up to :data:`MAX_NESTING`) and returns, per blob digest, every
:class:`BlobRef` naming it: the image reference, the blob's role, its media type and declared size. The
handlers in :mod:`mlvet.formats.images` turn that into findings; nothing here reports.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, BinaryIO

#: Largest manifest, index or config read as JSON.
MAX_JSON = 16 * 1024 * 1024
#: Manifests read per store.
MAX_MANIFESTS = 10_000
#: Image indexes followed inside one another.
MAX_NESTING = 4

_HEX = {"sha256": re.compile(r"[0-9a-f]{64}"), "sha512": re.compile(r"[0-9a-f]{128}")}
_OLLAMA_BLOB = re.compile(r"sha256[-:]([0-9a-f]{64})")

INDEX_TYPES = frozenset({
    "application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json",
})
MANIFEST_TYPES = frozenset({
    "application/vnd.oci.image.manifest.v1+json", "application/vnd.docker.distribution.manifest.v2+json",
})
#: Media types whose content is known (anything else is reported and still scanned by content).
KNOWN_PREFIXES = (
    "application/vnd.oci.image.", "application/vnd.docker.", "application/vnd.ollama.image.",
    "application/vnd.cncf.model.", "application/vnd.oci.empty.", "application/vnd.cnai.model.",
)


@dataclass(frozen=True)
class BlobRef:
    """One manifest's reference to a blob."""

    #: The image or model reference (``registry.ollama.ai/library/tiny:latest``, ``repo:tag``, a digest).
    ref: str
    #: ``manifest``, ``config`` or ``layer N``.
    role: str
    media_type: str
    size: int | None
    digest: str


def parse_digest(value: object) -> tuple[str, str] | None:
    """``("sha256", hex)`` for a well-formed ``algo:hex`` digest (None otherwise)."""
    if not isinstance(value, str) or ":" not in value:
        return None
    algo, _, hexd = value.partition(":")
    pattern = _HEX.get(algo)
    return (algo, hexd) if pattern is not None and pattern.fullmatch(hexd) else None


def digest_of(stream: BinaryIO, algo: str = "sha256", size: int | None = None) -> str:
    """``algo:hex`` of the stream from its start (up to ``size`` bytes when given)."""
    h = hashlib.new(algo)
    stream.seek(0)
    left = size
    while left is None or left > 0:
        chunk = stream.read(1 << 20 if left is None else min(1 << 20, left))
        if not chunk:
            break
        h.update(chunk)
        if left is not None:
            left -= len(chunk)
    stream.seek(0)
    return f"{algo}:{h.hexdigest()}"


def read_json(path: str) -> Any:
    """A JSON document from a file (ValueError when too large or not JSON; OSError passes through)."""
    if os.path.getsize(path) > MAX_JSON:
        raise ValueError(f"{os.path.basename(path)} is larger than {MAX_JSON} bytes")
    with open(path, "rb") as f:
        return json.loads(f.read().decode("utf-8"))


def is_known_media_type(media_type: str) -> bool:
    """True for the OCI, Docker, Ollama and model-artifact media types."""
    return media_type.startswith(KNOWN_PREFIXES)


def descriptors(doc: Any, key: str) -> list[dict[str, Any]]:
    """The descriptor objects in ``doc[key]`` (a list), ignoring anything that is not an object."""
    items = doc.get(key) if isinstance(doc, dict) else None
    return [d for d in items if isinstance(d, dict)] if isinstance(items, list) else []


def manifest_refs(doc: Any, ref: str) -> list[BlobRef]:
    """The config and layer references of one image manifest."""
    out: list[BlobRef] = []
    config = doc.get("config") if isinstance(doc, dict) else None
    if isinstance(config, dict):
        out.append(_ref(config, ref, "config"))
    for i, layer in enumerate(descriptors(doc, "layers")):
        out.append(_ref(layer, ref, f"layer {i}"))
    return out


def _ref(desc: dict[str, Any], ref: str, role: str) -> BlobRef:
    size = desc.get("size")
    return BlobRef(ref, role, str(desc.get("mediaType", "")), size if isinstance(size, int) else None,
                   str(desc.get("digest", "")))


# ---- OCI image layout folders ---------------------------------------------------------------------------


def oci_root_of(path: str) -> str | None:
    """The layout folder of a blob at ``<root>/blobs/<algo>/<hex>`` (None when ``path`` is not one)."""
    hexd = os.path.basename(path)
    algo_dir = os.path.dirname(path)
    algo = os.path.basename(algo_dir)
    blobs = os.path.dirname(algo_dir)
    if os.path.basename(blobs) != "blobs" or algo not in _HEX or not _HEX[algo].fullmatch(hexd):
        return None
    root = os.path.dirname(blobs)
    return root if os.path.isfile(os.path.join(root, "oci-layout")) else None


def oci_blob_path(root: str, digest: str) -> str | None:
    parsed = parse_digest(digest)
    return os.path.join(root, "blobs", parsed[0], parsed[1]) if parsed else None


def oci_refs(root: str) -> tuple[dict[str, list[BlobRef]], list[str]]:
    """Every blob reference of an OCI layout, by digest, and the problems met reading the manifests."""
    try:
        stamp = os.stat(os.path.join(root, "index.json")).st_mtime_ns
    except OSError:
        stamp = 0
    return _oci_refs(os.path.abspath(root), stamp)


@lru_cache(maxsize=64)
def _oci_refs(root: str, _stamp: int) -> tuple[dict[str, list[BlobRef]], list[str]]:
    refs: dict[str, list[BlobRef]] = {}
    problems: list[str] = []
    try:
        index = read_json(os.path.join(root, "index.json"))
    except (OSError, ValueError) as exc:
        return refs, [f"index.json unreadable: {exc}"]
    budget = [MAX_MANIFESTS]
    _walk_index(root, index, "", 0, refs, problems, budget)
    return refs, problems


def _walk_index(root: str, index: Any, parent: str, depth: int, refs: dict[str, list[BlobRef]],
                problems: list[str], budget: list[int]) -> None:
    for desc in descriptors(index, "manifests"):
        budget[0] -= 1
        if budget[0] < 0:
            problems.append(f"more than {MAX_MANIFESTS} manifests; the rest were not read")
            return
        notes = desc.get("annotations")
        name = notes.get("org.opencontainers.image.ref.name") if isinstance(notes, dict) else None
        ref = str(name) if isinstance(name, str) and name else parent or str(desc.get("digest", "?"))[:19]
        entry = _ref(desc, ref, "manifest")
        refs.setdefault(entry.digest, []).append(entry)
        path = oci_blob_path(root, entry.digest)
        if path is None or not os.path.isfile(path):
            continue  # reported by the index handler
        try:
            doc = read_json(path)
        except (OSError, ValueError) as exc:
            problems.append(f"manifest {entry.digest[:19]} unreadable: {exc}")
            continue
        if entry.media_type in INDEX_TYPES or "manifests" in (doc if isinstance(doc, dict) else {}):
            if depth + 1 > MAX_NESTING:
                problems.append(f"image indexes nested deeper than {MAX_NESTING}")
                continue
            _walk_index(root, doc, ref, depth + 1, refs, problems, budget)
            continue
        for r in manifest_refs(doc, ref):
            refs.setdefault(r.digest, []).append(r)


# ---- Ollama model stores --------------------------------------------------------------------------------


def ollama_root_of(path: str) -> str | None:
    """The models folder of an Ollama blob ``<root>/blobs/sha256-<hex>`` (None when ``path`` is not one)."""
    if not _OLLAMA_BLOB.fullmatch(os.path.basename(path)):
        return None
    blobs = os.path.dirname(path)
    root = os.path.dirname(blobs)
    if os.path.basename(blobs) != "blobs" or not os.path.isdir(os.path.join(root, "manifests")):
        return None
    return root


def ollama_manifest_root(path: str) -> tuple[str, str] | None:
    """``(models folder, reference)`` of a file under ``<root>/manifests/`` (None otherwise)."""
    parts = os.path.abspath(path).split(os.sep)
    for i in range(len(parts) - 1, 0, -1):
        if parts[i] == "manifests":
            root = os.sep.join(parts[:i]) or os.sep
            rest = parts[i + 1 :]
            if len(rest) < 2 or not os.path.isdir(os.path.join(root, "blobs")):
                return None
            return root, "/".join(rest[:-1]) + ":" + rest[-1]
    return None


def ollama_blob_path(root: str, digest: str) -> str | None:
    parsed = parse_digest(digest)
    if parsed is None or parsed[0] != "sha256":
        return None
    return os.path.join(root, "blobs", f"sha256-{parsed[1]}")


def ollama_refs(root: str) -> dict[str, list[BlobRef]]:
    """Every blob reference of an Ollama models folder, by digest."""
    try:
        stamp = os.stat(os.path.join(root, "manifests")).st_mtime_ns
    except OSError:
        stamp = 0
    return _ollama_refs(os.path.abspath(root), stamp)


@lru_cache(maxsize=64)
def _ollama_refs(root: str, _stamp: int) -> dict[str, list[BlobRef]]:
    refs: dict[str, list[BlobRef]] = {}
    seen = 0
    for folder, _, files in os.walk(os.path.join(root, "manifests")):
        for name in sorted(files):
            seen += 1
            if seen > MAX_MANIFESTS:
                return refs
            path = os.path.join(folder, name)
            where = ollama_manifest_root(path)
            try:
                doc = read_json(path)
            except (OSError, ValueError):
                continue
            for r in manifest_refs(doc, where[1] if where else name):
                refs.setdefault(r.digest, []).append(r)
    return refs
