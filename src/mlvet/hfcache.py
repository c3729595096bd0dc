"""Map files in a Hugging Face cache back to their repository, revision and refs, and check blob integrity.

huggingface_hub's cache (``~/.cache/huggingface/hub``, or ``HF_HUB_CACHE``) stores one folder per
repository::

    models--org--name/            (also datasets--… and spaces--…; org-less repos are models--name)
      blobs/<etag>                file contents: sha256 (64 hex) for LFS files, git blob sha1 (40 hex) else
      refs/main, refs/pr/1 …      text files holding the commit hash a ref points to
      snapshots/<commit>/<path>   symlinks into ../../blobs (copies where symlinks are unavailable)
      .no_exist/<commit>/<path>   empty markers for files known to be missing

A scan result that says ``models--org--name/snapshots/3f1c…/model.bin`` is much more useful as "org/name
at revision 3f1c… (main)"; :func:`parse_hf_path` does that mapping from the path alone (plus reading the
small ``refs`` files). :func:`blob_integrity` checks that a blob's content still matches the hash it is
named by: a mismatch means the cached file was modified after download, which is how a poisoned cache
persists (every later ``from_pretrained`` trusts the local copy).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mlvet.model import Severity
from mlvet.rules import define_rule

_REPO_DIR_RE = re.compile(r"^(models|datasets|spaces)--(.+)$")
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_SHA1_RE = re.compile(r"^[0-9a-f]{40}$")
_REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
#: refs/ files larger than this are not refs.
_MAX_REF_BYTES = 256
_MAX_REFS = 1000

HFR920 = define_rule(
    "HFR920", "cache-blob-modified", Severity.HIGH,
    "A file in the Hugging Face cache no longer matches the hash it was stored under.",
    "huggingface_hub names each cached blob by its content hash (sha256 for LFS files, git blob sha1 for "
    "others) and never re-checks it: a modified blob is used by every later from_pretrained as if it "
    "came from the Hub. Tampering with the cache is a way to persist a payload.",
    "Delete the repository from the cache (huggingface-cli delete-cache) and download it again.",
    354,
)


@dataclass(frozen=True)
class HFRef:
    """Where a cache path sits: repository, revision and the path inside the repository."""

    #: "model", "dataset" or "space".
    repo_type: str
    #: "org/name" (or "name" for org-less repositories).
    repo_id: str
    #: The repository's cache folder (``…/models--org--name``).
    cache_dir: str
    #: Snapshot commit hash, when the path is inside ``snapshots/<commit>/`` (None for blobs/refs paths).
    revision: str | None = None
    #: Ref names (``main``, ``pr/1``) whose ``refs/`` file points to ``revision``.
    refs: tuple[str, ...] = ()
    #: Path of the file inside the repository (``subdir/model.safetensors``), for snapshot paths.
    path_in_repo: str | None = None
    #: Name of the blob the snapshot file links to (or the blob's own name for ``blobs/`` paths).
    blob: str | None = None

    @property
    def label(self) -> str:
        """Human form: ``org/name@3f1c2ab (main)``; dataset/space repos are prefixed with their type."""
        kind = "" if self.repo_type == "model" else f"{self.repo_type}s/"
        rev = f"@{self.revision[:12]}" if self.revision else ""
        refs = f" ({', '.join(self.refs)})" if self.refs else ""
        return f"{kind}{self.repo_id}{rev}{refs}"


def _repo_id(folder_name: str) -> tuple[str, str] | None:
    m = _REPO_DIR_RE.match(folder_name)
    if not m:
        return None
    parts = m.group(2).split("--")
    if not all(parts) or len(parts) > 2:
        return None  # repo names cannot contain "--" or be empty (huggingface_hub validates both)
    return _REPO_TYPES[m.group(1)], "/".join(parts)


def read_refs(cache_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Every ref in ``<cache_dir>/refs`` (nested ones like ``pr/1`` too) → commit hash."""
    out: dict[str, str] = {}
    root = Path(cache_dir) / "refs"
    if not root.is_dir():
        return out
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if len(out) >= _MAX_REFS:
                return out
            p = Path(dirpath) / name
            try:
                if p.stat().st_size > _MAX_REF_BYTES:
                    continue
                value = p.read_text(encoding="ascii", errors="replace").strip()
            except OSError:
                continue
            if _COMMIT_RE.match(value):
                out[p.relative_to(root).as_posix()] = value
    return out


def parse_hf_path(path: str | os.PathLike[str]) -> HFRef | None:
    """The cache repository a path belongs to, or None when the path is not inside a cache repo folder.

    Works on the path's own components (no symlink resolution of the folders), so the snapshot a file was
    found under is the revision reported, even though its content lives in ``blobs/``.
    """
    p = Path(os.path.abspath(os.fspath(path)))
    parts = p.parts
    for i in range(len(parts) - 1, -1, -1):
        repo = _repo_id(parts[i])
        if repo is None:
            continue
        repo_type, repo_id = repo
        cache_dir = str(Path(*parts[: i + 1]))
        rest = parts[i + 1 :]
        revision = path_in_repo = blob = None
        if len(rest) >= 2 and rest[0] == "snapshots" and _COMMIT_RE.match(rest[1]):
            revision = rest[1]
            path_in_repo = "/".join(rest[2:]) or None
            if path_in_repo is not None and p.is_symlink():
                try:
                    target = os.readlink(p)
                except OSError:
                    target = ""
                name = os.path.basename(target)
                if "blobs" in Path(target).parts and (_SHA256_RE.match(name) or _SHA1_RE.match(name)):
                    blob = name
        elif len(rest) == 2 and rest[0] == "blobs":
            blob = rest[1]
        elif len(rest) >= 2 and rest[0] == ".no_exist" and _COMMIT_RE.match(rest[1]):
            revision = rest[1]
            path_in_repo = "/".join(rest[2:]) or None
        refs: tuple[str, ...] = ()
        if revision is not None:
            refs = tuple(sorted(name for name, commit in read_refs(cache_dir).items() if commit == revision))
        return HFRef(repo_type, repo_id, cache_dir, revision, refs, path_in_repo, blob)
    return None


def is_cache_blob(path: str | os.PathLike[str]) -> bool:
    """True for ``…/models--org--name/blobs/<hash>``: the same content is reached through ``snapshots/``."""
    ref = parse_hf_path(path)
    return ref is not None and ref.revision is None and ref.blob is not None


@dataclass(frozen=True)
class BlobIntegrity:
    """Result of :func:`blob_integrity`."""

    #: "ok", "mismatch", "unknown" (not a hash-named cache blob) or "skipped" (larger than max_bytes).
    status: str
    #: "sha256" (LFS) or "git-sha1" (git blob), when the blob name is a hash.
    algorithm: str | None = None
    expected: str | None = None
    actual: str | None = None
    blob_path: str | None = None


def blob_integrity(path: str | os.PathLike[str], *, max_bytes: int | None = None) -> BlobIntegrity:
    """Check that a cache file's content matches its blob name (following the snapshot symlink).

    sha256 names (64 hex) are LFS objects: the name is the sha256 of the content. 40-hex names are regular
    git files: the name is the git blob id, sha1(b"blob <size>\\0" + content). Reads the file in chunks;
    files larger than ``max_bytes`` are "skipped" so a scan that only reads headers stays cheap.
    Snapshot files that are plain copies (no symlinks on the platform) have no blob name: "unknown".
    """
    p = Path(os.fspath(path))
    ref = parse_hf_path(p)
    if ref is None:
        return BlobIntegrity("unknown")
    blob_path = os.path.realpath(p)
    name = os.path.basename(blob_path)
    if os.path.basename(os.path.dirname(blob_path)) != "blobs":
        return BlobIntegrity("unknown", blob_path=blob_path)
    import hashlib

    if _SHA256_RE.match(name):
        algorithm, h = "sha256", hashlib.sha256()
    elif _SHA1_RE.match(name):
        algorithm, h = "git-sha1", hashlib.sha1(usedforsecurity=False)  # git's object id
    else:
        return BlobIntegrity("unknown", blob_path=blob_path)
    try:
        size = os.path.getsize(blob_path)
        if max_bytes is not None and size > max_bytes:
            return BlobIntegrity("skipped", algorithm, name, None, blob_path)
        if algorithm == "git-sha1":
            h.update(b"blob %d\x00" % size)
        with open(blob_path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
    except OSError:
        return BlobIntegrity("unknown", algorithm, name, None, blob_path)
    actual = h.hexdigest()
    return BlobIntegrity("ok" if actual == name else "mismatch", algorithm, name, actual, blob_path)
