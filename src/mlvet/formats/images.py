"""OCI image layouts and Ollama model stores on disk: blobs verified against their digests, scanned per layer.

A folder scan visits every file once, so the work is split by file rather than by manifest:

* a **blob** (``blobs/sha256/<hex>`` in an OCI layout, ``blobs/sha256-<hex>`` in an Ollama store) is
  hashed and compared with the digest its name declares and with the size every manifest declares
  (OTH093: content-addressed storage is the only link between a layer and the manifest that was signed,
  pulled or reviewed), then scanned by content in a child context named after the image reference and the
  blob's role and media type, so findings say ``registry.ollama.ai/library/tiny:latest layer 0
  (application/vnd.ollama.image.model)`` rather than a hash;
* a **manifest file** (``index.json`` of a layout, an Ollama ``manifests/...`` file) is checked for what
  only it can show: referenced blobs that are missing, malformed digests and unknown media types (OTH094).

What each blob can run is its content's business: a model layer is a GGUF (header bounds, chat templates),
an image layer is a tar (path and bomb protections) of files scanned by their own formats. Two Ollama
media types are decided by type instead of by content. ``.template`` is a Go ``text/template``: rendering it
can call only the template's built-in formatting functions (no file, process or attribute access), so it
runs no code and is not run through the Jinja analysis, which would misread it. ``.params``, ``.system``,
``.license``, ``.messages`` are data (JSON or text); ``.params`` must parse as JSON.
"""

from __future__ import annotations

import io
import json
import os
from typing import BinaryIO

from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.image_refs import (
    MAX_JSON,
    BlobRef,
    digest_of,
    is_known_media_type,
    manifest_refs,
    oci_blob_path,
    oci_refs,
    oci_root_of,
    ollama_blob_path,
    ollama_manifest_root,
    ollama_refs,
    ollama_root_of,
    parse_digest,
    read_json,
)
from mlvet.model import Severity
from mlvet.rules import OTH093, OTH094

#: Ollama layers that are data or a Go template: recognised by media type, not dispatched by content.
OLLAMA_TEXT = frozenset({
    "application/vnd.ollama.image.template", "application/vnd.ollama.image.system",
    "application/vnd.ollama.image.license", "application/vnd.ollama.image.params",
    "application/vnd.ollama.image.messages",
})
#: Ollama template/system/params blobs larger than this are not plausible and are scanned by content.
MAX_TEXT_BLOB = 4 * 1024 * 1024


def _path_of(stream: object) -> str | None:
    """The file path of a stream opened on a real file (None for archive members, spools and windows)."""
    if not isinstance(getattr(stream, "raw", None), io.FileIO):
        return None
    name = getattr(stream, "name", None)
    return os.path.abspath(name) if isinstance(name, str) else None


def _blob_store(path: str) -> tuple[str, str] | None:
    """``("oci" | "ollama", root)`` for a blob file of a store."""
    root = oci_root_of(path)
    if root is not None:
        return "oci", root
    root = ollama_root_of(path)
    return ("ollama", root) if root is not None else None


class BlobHandler:
    """A content-addressed blob of an OCI layout or Ollama store (recognised by its path, before content)."""

    id = "oci-blob"
    priority = 1

    def sniff(self, probe: Probe) -> bool:
        path = _path_of(probe.stream)
        return path is not None and _blob_store(path) is not None

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        path = _path_of(stream)
        store = _blob_store(path) if path else None
        if path is None or store is None:
            raise AnalysisError("image blob: its store could not be located")
        kind, root = store
        name = os.path.basename(path)
        if kind == "oci":
            algo, hexd = os.path.basename(os.path.dirname(path)), name
            refs = oci_refs(root)[0].get(f"{algo}:{hexd}", [])
        else:
            algo, hexd = "sha256", name[7:]
            refs = ollama_refs(root).get(f"sha256:{hexd}", [])
        declared = f"{algo}:{hexd}"
        actual = digest_of(stream, algo)
        where = ", ".join(f"{r.ref} {r.role}" for r in refs[:5]) or "no manifest"
        if actual != declared:
            ctx.report(OTH093, f"blob content does not match its name: stored as {declared[:23]}… (referenced by "
                       f"{where}) but its bytes hash to {actual[:23]}…: the blob was changed after it was pulled",
                       evidence=f"name {declared}; content {actual}")
        for r in refs:
            if r.size is not None and r.size != size:
                ctx.report(OTH093, f"{r.ref} {r.role} declares {r.size:,} bytes for this blob, which has {size:,}",
                           evidence=f"{r.ref} {r.role}: size {r.size}; file {size}")
        self._scan_content(stream, size, ctx, refs)

    @staticmethod
    def _scan_content(stream: BinaryIO, size: int, ctx: ScanContext, refs: list[BlobRef]) -> None:
        if not refs:
            sub = ctx.child("<blob referenced by no manifest>")
            sub.scan_stream(stream, size, "", exclude=frozenset({BlobHandler.id}))
            return
        first = refs[0]
        label = f"{first.ref} {first.role} ({first.media_type or 'no media type'})"
        sub = ctx.child(label)
        media = first.media_type
        if media and not is_known_media_type(media):
            ctx.report(OTH094, f"{first.ref} {first.role} has the unknown media type {media!r}; its content is "
                       "scanned by what it is", severity=Severity.LOW, evidence=media[:200])
        if media in OLLAMA_TEXT and size <= MAX_TEXT_BLOB:
            data = stream.read(size)
            stream.seek(0)
            if media.endswith(".params"):
                try:
                    json.loads(data.decode("utf-8"))
                except (UnicodeDecodeError, ValueError) as exc:
                    sub.error(f"Ollama params layer is not JSON: {exc}")
            sub.saw_format("ollama-template" if media.endswith(".template") else "ollama-data")
            return
        sub.scan_stream(stream, size, "", exclude=frozenset({BlobHandler.id}))


class OciLayoutHandler:
    """``index.json`` and ``oci-layout`` of an OCI image layout folder."""

    id = "oci-layout"
    priority = 2

    def sniff(self, probe: Probe) -> bool:
        path = _path_of(probe.stream)
        if path is None or os.path.basename(path) not in ("index.json", "oci-layout"):
            return False
        return os.path.isfile(os.path.join(os.path.dirname(path), "oci-layout"))

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        if size > MAX_JSON:
            raise AnalysisError(f"OCI layout file larger than {MAX_JSON} bytes")
        path = _path_of(stream) or ""
        root = os.path.dirname(path)
        try:
            doc = json.loads(stream.read(size).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise AnalysisError(f"{os.path.basename(path)} is not JSON: {exc}") from None
        if os.path.basename(path) == "oci-layout":
            if not isinstance(doc, dict) or not isinstance(doc.get("imageLayoutVersion"), str):
                raise AnalysisError("oci-layout has no imageLayoutVersion")
            return
        refs, problems = oci_refs(root)
        for problem in problems:
            ctx.error(problem)
        for digest, entries in sorted(refs.items()):
            check_blob_exists(digest, entries, oci_blob_path(root, digest), ctx)


def check_blob_exists(digest: str, entries: list[BlobRef], path: str | None, ctx: ScanContext) -> None:
    """OTH094 for a malformed digest or a referenced blob the store does not hold."""
    first = entries[0]
    if parse_digest(digest) is None or path is None:
        ctx.report(OTH094, f"{first.ref} {first.role} has a malformed digest {digest[:80]!r}",
                   evidence=digest[:200])
        return
    if not os.path.isfile(path):
        ctx.report(OTH094, f"{first.ref} {first.role} references {digest[:23]}…, which is not in the store: the "
                   "runtime would fetch or fail on a blob nobody scanned", evidence=digest)
        ctx.error(f"referenced blob {digest[:23]}… is missing; the image was not fully analysed")


class OllamaManifestHandler:
    """An Ollama manifest (``manifests/<registry>/<namespace>/<model>/<tag>``): its layers must all exist."""

    id = "ollama-manifest"
    priority = 3

    def sniff(self, probe: Probe) -> bool:
        path = _path_of(probe.stream)
        if path is None or ollama_manifest_root(path) is None:
            return False
        head = probe.head.lstrip()
        return head.startswith(b"{") and b"layers" in probe.head

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        path = _path_of(stream) or ""
        where = ollama_manifest_root(path)
        if where is None:
            raise AnalysisError("Ollama manifest outside a models folder")
        root, ref = where
        try:
            doc = read_json(path)
        except (OSError, ValueError) as exc:
            raise AnalysisError(f"Ollama manifest is not JSON: {exc}") from None
        refs = manifest_refs(doc, ref)
        if not refs:
            raise AnalysisError("Ollama manifest lists no config and no layers")
        for r in refs:
            if r.media_type and not is_known_media_type(r.media_type):
                ctx.report(OTH094, f"{ref} {r.role} has the unknown media type {r.media_type!r}",
                           severity=Severity.LOW, evidence=r.media_type[:200])
            check_blob_exists(r.digest, [r], ollama_blob_path(root, r.digest), ctx)


register(BlobHandler())
register(OciLayoutHandler())
register(OllamaManifestHandler())
