"""Parse and validate the hub URLs the gateway answers, from the raw (still percent-encoded) request path.

Why the raw path: the clients percent-encode a revision as one segment (``refs%2Fpr%2F1``), and an ASGI
server hands applications the *decoded* path, where that slash is indistinguishable from a separator and
``%2e%2e`` has become ``..``. Parsing segment by segment from ``raw_path`` keeps the structure the client
meant, and every decoded piece is then validated: a repository id is ``name`` or ``namespace/name`` with the
hub's characters, a revision has no ``..`` or control characters, and a file path is relative, without
``.``/``..``/empty segments, backslashes or NUL. Anything else is a 400 before any upstream request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

__all__ = ["REPO_TYPES", "BadRequest", "FileRef", "RepoRef", "parse_api", "parse_resolve", "pinned_url"]

#: URL prefix (``/datasets/…``, ``/api/datasets/…``) → repo type.
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_REPO_PART = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_-])?")
_COMMIT = re.compile(r"[0-9a-f]{40}")
#: Keywords of the API routes, for telling ``/api/models/gpt2/tree/main`` from ``/api/models/org/name``.
_API_WORDS = frozenset({"revision", "tree", "paths-info", "refs", "commits"})
_MAX_PATH = 1024
_MAX_SEGMENT = 255


class BadRequest(Exception):
    """A request path the gateway refuses to interpret (answered with ``status``, default 400)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class RepoRef:
    """A repository on the hub: its type (model, dataset, space) and id (``name`` or ``namespace/name``)."""

    repo_type: str
    repo_id: str

    @property
    def url_prefix(self) -> str:
        """The resolve-URL prefix of this repo, e.g. ``datasets/org/name`` (models have none)."""
        return self.repo_id if self.repo_type == "model" else f"{self.repo_type}s/{self.repo_id}"

    @property
    def api_prefix(self) -> str:
        """The API path of this repo, e.g. ``api/models/org/name``."""
        return f"api/{self.repo_type}s/{self.repo_id}"


@dataclass(frozen=True)
class FileRef:
    """One file of a repository at a revision (branch, tag or commit), as named by a resolve URL."""

    repo: RepoRef
    revision: str
    path: str

    @property
    def pinned(self) -> bool:
        """True when the revision is already a full commit id (immutable: nothing to resolve)."""
        return bool(_COMMIT.fullmatch(self.revision))


def _segments(raw_path: str) -> list[str]:
    if "?" in raw_path or "#" in raw_path:
        raw_path = re.split(r"[?#]", raw_path, maxsplit=1)[0]
    if len(raw_path) > 4 * _MAX_PATH:
        raise BadRequest("request path too long", 414)
    parts = raw_path.split("/")
    if parts[:1] != [""]:
        raise BadRequest("request path must be absolute")
    out = []
    for part in parts[1:]:
        try:
            out.append(unquote(part, encoding="utf-8", errors="strict"))
        except UnicodeDecodeError:
            raise BadRequest("request path is not valid UTF-8 after percent-decoding") from None
    return out


def _check_repo_part(part: str) -> str:
    if not _REPO_PART.fullmatch(part) or "--" in part or ".." in part:
        raise BadRequest(f"invalid repository id segment {part!r}")
    return part


def check_revision(revision: str) -> str:
    """Validate a revision name (branch, tag, ``refs/pr/N`` or commit id); return it."""
    if not revision or len(revision) > _MAX_SEGMENT or ".." in revision or "\\" in revision \
            or revision.startswith("/") or revision.endswith("/") or "//" in revision \
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in revision):
        raise BadRequest(f"invalid revision {revision!r}")
    return revision


def check_file_path(path: str) -> str:
    """Validate a file path inside a repository: relative, normalised, no traversal; return it."""
    if not path or len(path) > _MAX_PATH:
        raise BadRequest("missing or overlong file path")
    if "\\" in path or any(ord(c) < 0x20 or ord(c) == 0x7F for c in path):
        raise BadRequest(f"invalid character in file path {path!r}")
    for seg in path.split("/"):
        if seg in ("", ".", "..") or len(seg) > _MAX_SEGMENT:
            raise BadRequest(f"file path {path!r} is not a normalised relative path (no '', '.' or '..' segments)")
    return path


def _split_repo(segments: list[str], keywords: frozenset[str]) -> tuple[str, list[str]]:
    """(repo id, rest): two segments unless the second one is a route keyword (legacy ``gpt2``-style ids)."""
    if len(segments) >= 2 and segments[1] in keywords:
        return _check_repo_part(segments[0]), segments[1:]
    if len(segments) < 2:
        raise BadRequest("missing repository id")
    return f"{_check_repo_part(segments[0])}/{_check_repo_part(segments[1])}", segments[2:]


def parse_resolve(raw_path: str) -> FileRef:
    """``/[datasets/|spaces/]{repo}/resolve/{rev}/{path}`` → :class:`FileRef` (raises :class:`BadRequest`)."""
    segs = _segments(raw_path)
    repo_type = "model"
    if segs and segs[0] in ("datasets", "spaces"):
        repo_type, segs = REPO_TYPES[segs[0]], segs[1:]
    repo_id, rest = _split_repo(segs, frozenset({"resolve"}))
    if len(rest) < 3 or rest[0] != "resolve":
        raise BadRequest("expected /{repo}/resolve/{revision}/{file}", 404)
    revision = check_revision(rest[1])
    path = check_file_path("/".join(rest[2:]))
    return FileRef(RepoRef(repo_type, repo_id), revision, path)


def parse_api(raw_path: str) -> tuple[RepoRef, list[str]]:
    """``/api/{models|datasets|spaces}/{repo}[/…]`` → (repo, remaining decoded segments)."""
    segs = _segments(raw_path)
    if len(segs) < 3 or segs[0] != "api" or segs[1] not in REPO_TYPES:
        raise BadRequest("expected /api/{models|datasets|spaces}/{repo}", 404)
    repo_id, rest = _split_repo(segs[2:], _API_WORDS)
    if rest and rest[0] not in _API_WORDS:
        raise BadRequest(f"unsupported hub API route {rest[0]!r}", 404)
    if rest[:1] in (["revision"], ["tree"], ["paths-info"], ["commits"]):
        if len(rest) < 2:
            raise BadRequest(f"missing revision after {rest[0]!r}")
        check_revision(rest[1])
        if len(rest) > 2:
            check_file_path("/".join(rest[2:]))
    return RepoRef(REPO_TYPES[segs[1]], repo_id), rest


def encode_api_path(repo: RepoRef, rest: list[str]) -> str:
    """The upstream API path for ``repo`` and decoded ``rest`` segments (revision encoded as one segment)."""
    if rest[:1] in (["revision"], ["tree"], ["paths-info"], ["commits"]) and len(rest) >= 2:
        tail = [rest[0], quote(rest[1], safe="")] + [quote(s, safe="") for s in rest[2:]]
    else:
        tail = [quote(s, safe="") for s in rest]
    return "/" + "/".join([repo.api_prefix, *tail])


def pinned_url(ref: FileRef, commit: str) -> str:
    """The gateway-relative resolve URL of ``ref`` at ``commit`` (what a branch name redirects to)."""
    return f"/{ref.repo.url_prefix}/resolve/{commit}/{quote(ref.path, safe='/')}"


def upstream_resolve_path(ref: FileRef, revision: str | None = None) -> str:
    """The upstream resolve path of ``ref`` (revision percent-encoded as one segment, like the clients do)."""
    rev = quote(revision or ref.revision, safe="")
    return f"/{ref.repo.url_prefix}/resolve/{rev}/{quote(ref.path, safe='/')}"
