"""A loopback stand-in for the Hugging Face Hub, speaking the HTTP API the real clients call.

Why a stand-in of our own: the remote-source tests and the gateway tests must run offline against the real
``huggingface_hub``/``transformers``/``HfFileSystem`` clients, through the real HTTP protocol (no monkeypatching).
This server implements exactly what those clients call (read from huggingface_hub 2.4's source):

- ``GET /api/{models,datasets,spaces}/{repo}[/revision/{rev}]``: repo info (``sha``, ``siblings`` with LFS
  sha256/size/pointerSize, ``private``…);
- ``GET /api/{type}s/{repo}/tree/{rev}[/{path}]?recursive=&expand=``: tree listing, cursor-paginated with a
  ``Link: <…>; rel="next"`` header like the Hub;
- ``POST /api/{type}s/{repo}/paths-info/{rev}`` (form ``paths=…``);
- ``GET /api/{models,datasets,spaces}?search=&author=&filter=&limit=`` (``HfApi.list_models`` and friends):
  public repos (private ones with a token) whose id contains ``search`` (case-insensitive), whose owner is
  ``author`` and which carry every ``filter`` tag, at most ``limit`` per page, paginated with ``Link``;
- ``HEAD``/``GET /[datasets/|spaces/]{repo}/resolve/{rev}/{file}`` with ``X-Repo-Commit``, ``ETag``,
  ``X-Linked-Etag``, ``X-Linked-Size``, ``Accept-Ranges`` and, for LFS files, a 302 to a *signed blob URL on
  another origin* (``localhost`` instead of ``127.0.0.1``), as the Hub redirects to its CDN: the client drops
  its ``Authorization`` header there and reads the metadata from the redirect itself. No xet headers are sent,
  so the clients use plain HTTP downloads.
- ``Range: bytes=…`` → 206 with ``Content-Range`` (416 when unsatisfiable), on resolve and blob URLs.
- Errors carry ``X-Error-Code`` (``RepoNotFound``, ``RevisionNotFound``, ``EntryNotFound``) so the client
  raises its typed errors; private repos (or every repo with ``require_auth``) need a configured token and
  answer 401 without one.

Tests read ``.requests`` (a log) and ``.bytes_served`` (file bytes sent per ``[datasets/]org/name/file``) to
assert what a client really fetched.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

#: Extensions stored through Git LFS by the Hub's default .gitattributes (abridged), plus any file > 10 MiB.
LFS_SUFFIXES = (".bin", ".safetensors", ".pt", ".pth", ".ckpt", ".h5", ".onnx", ".gguf", ".msgpack", ".pkl",
                ".pickle", ".joblib", ".npy", ".npz", ".parquet", ".arrow", ".model", ".tflite", ".zip", ".tar",
                ".gz", ".7z", ".keras", ".pb", ".ot", ".mlmodel")
LFS_THRESHOLD = 10 * 1024 * 1024
REPO_TYPES = {"models": "model", "datasets": "dataset", "spaces": "space"}
_CHUNK = 256 * 1024
_HASH_CACHE: dict[tuple[int, int, int, int], str] = {}
_HASH_LOCK = threading.Lock()


def _sha256_file(path: Path) -> str:
    """SHA-256 of a file, cached by (device, inode, size, mtime) so a sparse 1 GB fixture is hashed once."""
    st = path.stat()
    key = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _HASH_LOCK:
        if key in _HASH_CACHE:
            return _HASH_CACHE[key]
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    with _HASH_LOCK:
        _HASH_CACHE[key] = h.hexdigest()
    return h.hexdigest()


def _sparse_copy(src: Path, dst: Path) -> None:
    """Copy only the data extents (SEEK_DATA/SEEK_HOLE): a sparse 1 GB file stays sparse and cheap."""
    size = src.stat().st_size
    with src.open("rb") as fi, dst.open("wb") as fo:
        fo.truncate(size)
        pos = 0
        while pos < size:
            try:
                start = os.lseek(fi.fileno(), pos, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            end = os.lseek(fi.fileno(), start, os.SEEK_HOLE)
            fi.seek(start)
            fo.seek(start)
            left = end - start
            while left > 0:
                chunk = fi.read(min(left, 1 << 20))
                if not chunk:
                    break
                fo.write(chunk)
                left -= len(chunk)
            pos = end


def _git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class HubFile:
    """One file of one commit: its git object id, size, LFS sha256 and where its bytes are stored."""

    path: str
    size: int
    sha256: str
    oid: str
    lfs: bool
    pointer_size: int
    blob: Path


@dataclass
class Commit:
    """A commit: its sha (computed from the parent and the tree) and its files by path."""

    sha: str
    files: dict[str, HubFile]
    parent: str | None
    date: str


@dataclass
class Repo:
    """A repository: type, id, visibility, branches (name → commit sha) and every commit ever added."""

    repo_type: str
    repo_id: str
    private: bool
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, Commit] = field(default_factory=dict)
    #: Tags matched by the listing's ``filter`` parameter and shown in repo info.
    tags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it (for assertions on what a client fetched)."""

    method: str
    path: str
    status: int
    bytes_sent: int
    range: str | None
    authorization: bool


class _NotFound(Exception):
    def __init__(self, status: int, code: str, message: str, commit: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.commit = status, code, message, commit


class HubServer:
    """A threaded HTTP server on 127.0.0.1 (free port) serving repositories added with :meth:`add_repo`.

    ``tokens``: accepted bearer tokens. ``require_auth``: every repo needs one (else only private repos).
    ``lfs_redirect``: ``"cross-host"`` (default, like the Hub's CDN redirect) or ``"none"`` (serve LFS content
    at the resolve URL directly). ``tree_page_size``: entries per tree page (the Hub uses 1000).
    ``list_page_size``: repositories per page of the repo listing (``/api/models``…).
    """

    def __init__(self, repos_root: str | os.PathLike[str], *, tokens: tuple[str, ...] = (),
                 require_auth: bool = False, lfs_redirect: Literal["cross-host", "none"] = "cross-host",
                 tree_page_size: int = 1000, list_page_size: int = 1000) -> None:
        self.root = Path(repos_root)
        self.blobs = self.root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.tokens = frozenset(tokens)
        self.require_auth = require_auth
        self.lfs_redirect = lfs_redirect
        self.tree_page_size = tree_page_size
        self.list_page_size = list_page_size
        #: Fault injection: answer every ranged GET with the whole file (200), as a misbehaving mirror would.
        self.ignore_range = False
        self.repos: dict[tuple[str, str], Repo] = {}
        self.requests: list[RequestRecord] = []
        self.bytes_served: dict[str, int] = {}
        self._secret = secrets.token_bytes(16)
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        """The base URL to use as ``HF_ENDPOINT``."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        """Bind a free loopback port, serve in a daemon thread, and return the base URL."""
        server = self

        class Handler(_Handler):
            hub = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="hubserver", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> HubServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset_counters(self) -> None:
        """Forget the request log and the byte counters."""
        with self._lock:
            self.requests.clear()
            self.bytes_served.clear()

    @property
    def total_bytes_served(self) -> int:
        """File bytes sent so far, all files together."""
        with self._lock:
            return sum(self.bytes_served.values())

    # -- repositories ------------------------------------------------------------------------------------
    def add_repo(self, repo_id: str, folder: str | os.PathLike[str], repo_type: str = "model", *,
                 revision: str = "main", private: bool | None = None, tags: tuple[str, ...] = ()) -> str:
        """Commit the content of ``folder`` to branch ``revision`` of ``repo_id``; return the commit sha.

        The sha is computed from the parent commit and the tree, so adding changed content makes a new commit
        and adding identical content again returns the branch's current commit. Files are copied into the
        server's blob store (extent by extent, so sparse files stay sparse; never hard-linked). ``tags`` are
        added to the repo's tags (what the listing's ``filter`` matches).
        """
        if repo_type not in REPO_TYPES.values():
            raise ValueError(f"unknown repo type {repo_type!r}")
        key = (repo_type, repo_id)
        repo = self.repos.get(key)
        if repo is None:
            repo = Repo(repo_type, repo_id, bool(private))
        elif private is not None:
            repo.private = private
        repo.tags += [t for t in tags if t not in repo.tags]
        files: dict[str, HubFile] = {}
        base = Path(folder)
        for p in sorted(base.rglob("*")):
            if not p.is_file() or ".git" in p.relative_to(base).parts:
                continue
            rel = p.relative_to(base).as_posix()
            files[rel] = self._store(rel, p)
        parent = repo.branches.get(revision) or (repo.branches.get("main") if revision != "main" else None)
        tree = "".join(f"{f.path}\0{f.oid}\n" for f in files.values())
        head = repo.branches.get(revision)
        if head is not None and repo.commits[head].files == files:
            self.repos[key] = repo
            return head
        sha = hashlib.sha1(f"{parent or ''}\n{tree}".encode()).hexdigest()
        date = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        with self._lock:
            repo.commits[sha] = Commit(sha, files, parent, date)
            repo.branches[revision] = sha
            self.repos[key] = repo
        return sha

    def create_branch(self, repo_id: str, branch: str, from_revision: str = "main", repo_type: str = "model") -> str:
        """Point a new branch (or tag) at an existing revision; return its commit sha."""
        repo = self.repos[(repo_type, repo_id)]
        sha = self._resolve_rev(repo, from_revision)
        repo.branches[branch] = sha
        return sha

    def _store(self, rel: str, src: Path) -> HubFile:
        size = src.stat().st_size
        lfs = rel.lower().endswith(LFS_SUFFIXES) or size > LFS_THRESHOLD
        if size <= LFS_THRESHOLD:
            data = src.read_bytes()
            sha256 = hashlib.sha256(data).hexdigest()
            blob = self.blobs / sha256
            if not blob.exists():
                blob.write_bytes(data)
            raw_oid = _git_blob_oid(data)
        else:
            sha256 = _sha256_file(src)
            blob = self.blobs / sha256
            if not blob.exists():
                _sparse_copy(src, blob)  # never a hard link: it would change the fixture's link count
            raw_oid = ""
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()
        oid = _git_blob_oid(pointer) if lfs else raw_oid
        return HubFile(rel, size, sha256, oid, lfs, len(pointer), blob)

    def _resolve_rev(self, repo: Repo, rev: str) -> str:
        if rev in repo.branches:
            return repo.branches[rev]
        if rev in repo.commits:
            return rev
        raise _NotFound(404, "RevisionNotFound", f"Invalid rev id: {rev}")

    def _find_repo(self, repo_type: str, segments: list[str]) -> tuple[Repo, list[str]]:
        """Longest known repo id at the start of ``segments`` (ids are ``name`` or ``org/name``)."""
        for n in (2, 1):
            if len(segments) >= n:
                repo = self.repos.get((repo_type, "/".join(segments[:n])))
                if repo is not None:
                    return repo, segments[n:]
        raise _NotFound(404, "RepoNotFound", "Repository not found")

    def _blob_sig(self, sha256: str, key: str) -> str:
        return hmac.new(self._secret, f"{sha256}\n{key}".encode(), "sha256").hexdigest()[:32]

    def _count(self, key: str, n: int) -> None:
        with self._lock:
            self.bytes_served[key] = self.bytes_served.get(key, 0) + n


def _entry(f: HubFile) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "file", "oid": f.oid, "size": f.size, "path": f.path}
    if f.lfs:
        out["lfs"] = {"oid": f.sha256, "size": f.size, "pointerSize": f.pointer_size}
    return out


def _dir_entry(commit: Commit, path: str) -> dict[str, Any]:
    oid = hashlib.sha1(f"{commit.sha}:{path}".encode()).hexdigest()
    return {"type": "directory", "oid": oid, "size": 0, "path": path}


def _dirs(commit: Commit) -> set[str]:
    out: set[str] = set()
    for p in commit.files:
        parts = p.split("/")[:-1]
        out.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    return out


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _parse_range(header: str | None, size: int) -> tuple[int, int] | Literal["unsatisfiable"] | None:
    """(start, end inclusive) for a single-range header, ``None`` when absent/unparsable (serve whole)."""
    if not header:
        return None
    m = _RANGE.match(header.strip())
    if not m or (not m.group(1) and not m.group(2)):
        return None
    if not m.group(1):
        n = int(m.group(2))
        if n == 0:
            return "unsatisfiable"
        return max(0, size - n), size - 1
    start = int(m.group(1))
    end = int(m.group(2)) if m.group(2) else size - 1
    if start >= size or end < start:
        return "unsatisfiable"
    return start, min(end, size - 1)


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    protocol_version = "HTTP/1.1"
    timeout = 30
    server_version = "hubserver/1"

    def log_message(self, format: str, *args: Any) -> None:
        return

    # -- plumbing ----------------------------------------------------------------------------------------
    def _token_ok(self) -> bool:
        auth = self.headers.get("Authorization", "")
        return auth.startswith("Bearer ") and auth[7:].strip() in self.hub.tokens

    def _record(self, status: int, sent: int) -> None:
        rec = RequestRecord(self.command, self.path, status, sent, self.headers.get("Range"),
                            "Authorization" in self.headers)
        with self.hub._lock:
            self.hub.requests.append(rec)

    def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)
        self._record(status, 0)

    def _json(self, obj: Any, headers: dict[str, str] | None = None) -> None:
        self._send(200, json.dumps(obj).encode(), headers)

    def _error(self, err: _NotFound) -> None:
        headers = {"X-Error-Code": err.code, "X-Error-Message": err.message}
        if err.commit:
            headers["X-Repo-Commit"] = err.commit
        self._send(err.status, json.dumps({"error": err.message}).encode(), headers)

    def _check_access(self, repo: Repo) -> None:
        if (repo.private or self.hub.require_auth) and not self._token_ok():
            msg = "Invalid credentials in Authorization header" if "Authorization" in self.headers \
                else "Repository not found"
            raise _NotFound(401, "RepoNotFound", msg)

    def do_GET(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        try:
            url = urlsplit(self.path)
            segments = [unquote(s) for s in url.path.split("/")[1:]]
            query = parse_qs(url.query)
            if segments[:1] == ["api"] and len(segments) == 2 and segments[1] in REPO_TYPES \
                    and self.command in ("GET", "HEAD"):
                self._list(REPO_TYPES[segments[1]], query)
            elif segments[:1] == ["api"] and len(segments) > 2 and segments[1] in REPO_TYPES:
                self._api(REPO_TYPES[segments[1]], segments[2:], query)
            elif segments[:1] == ["_lfs"] and len(segments) == 2 and self.command in ("GET", "HEAD"):
                self._blob(segments[1], query)
            elif self.command in ("GET", "HEAD") and "resolve" in segments:
                repo_type = "model"
                if segments[0] in ("datasets", "spaces"):
                    repo_type, segments = REPO_TYPES[segments[0]], segments[1:]
                self._resolve(repo_type, segments)
            else:
                raise _NotFound(404, "NotFound", f"no route for {self.command} {url.path}")
        except _NotFound as err:
            self._error(err)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    # -- API ---------------------------------------------------------------------------------------------
    def _api(self, repo_type: str, segments: list[str], query: dict[str, list[str]]) -> None:
        repo, tail = self.hub._find_repo(repo_type, segments)
        self._check_access(repo)
        if self.command == "POST":
            if len(tail) != 2 or tail[0] != "paths-info":
                raise _NotFound(404, "NotFound", "no such API route")
            self._paths_info(repo, tail[1])
            return
        if not tail:
            self._info(repo, "main")
        elif tail[0] == "revision" and len(tail) == 2:
            self._info(repo, tail[1])
        elif tail[0] == "tree" and len(tail) >= 2:
            self._tree(repo, tail[1], "/".join(tail[2:]).strip("/"), query)
        elif tail == ["refs"]:
            branches = [{"name": b, "ref": f"refs/heads/{b}", "targetCommit": s} for b, s in repo.branches.items()]
            self._json({"branches": branches, "converts": [], "tags": []})
        else:
            raise _NotFound(404, "NotFound", "no such API route")

    def _list(self, repo_type: str, query: dict[str, list[str]]) -> None:
        """The repo listing, as ``HfApi.list_models/list_datasets/list_spaces`` read it (``Link`` pagination)."""
        search = query.get("search", [""])[0].lower()
        author = query.get("author", [""])[0]
        wanted_tags = set(query.get("filter", []))
        if self.hub.require_auth and not self._token_ok():
            raise _NotFound(401, "Unauthorized", "Invalid credentials in Authorization header")
        with self.hub._lock:
            repos = [r for (t, _i), r in sorted(self.hub.repos.items()) if t == repo_type]
        hits = [r for r in repos if search in r.repo_id.lower()
                and (not author or ("/" in r.repo_id and r.repo_id.split("/")[0] == author))
                and wanted_tags <= set(r.tags) and (not r.private or self._token_ok())]
        limit = query.get("limit", [""])[0]
        size = min(self.hub.list_page_size, int(limit) if limit.isdigit() and int(limit) > 0 else 1 << 30)
        cursor = int(query.get("cursor", ["0"])[0] or 0)
        page = [{"_id": hashlib.md5(r.repo_id.encode()).hexdigest()[:24], "id": r.repo_id,
                 "private": r.private, "tags": r.tags, "downloads": 0, "likes": 0,
                 **({"modelId": r.repo_id} if repo_type == "model" else {})}
                for r in hits[cursor: cursor + size]]
        headers = {}
        if cursor + size < len(hits):
            params = [(k, v) for k, vs in query.items() if k != "cursor" for v in vs] + [("cursor", str(cursor + size))]
            headers["Link"] = f'<{self.hub.url}{urlsplit(self.path).path}?{urlencode(params)}>; rel="next"'
        self._json(page, headers)

    def _info(self, repo: Repo, rev: str) -> None:
        sha = self.hub._resolve_rev(repo, rev)
        commit = repo.commits[sha]
        siblings = [{"rfilename": f.path, "size": f.size, "blobId": f.oid,
                     **({"lfs": {"size": f.size, "sha256": f.sha256, "pointerSize": f.pointer_size}} if f.lfs else {})}
                    for f in commit.files.values()]
        info: dict[str, Any] = {
            "_id": hashlib.md5(repo.repo_id.encode()).hexdigest()[:24],
            "id": repo.repo_id, "author": repo.repo_id.split("/")[0] if "/" in repo.repo_id else None,
            "sha": sha, "lastModified": commit.date, "createdAt": commit.date, "private": repo.private,
            "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": repo.tags, "siblings": siblings,
            "usedStorage": sum(f.size for f in commit.files.values()),
        }
        if repo.repo_type == "model":
            info["modelId"] = repo.repo_id
            if "config.json" in commit.files:
                info["library_name"] = "transformers"
        elif repo.repo_type == "space":
            info["sdk"] = "static"
        self._json(info)

    def _tree(self, repo: Repo, rev: str, path: str, query: dict[str, list[str]]) -> None:
        sha = self.hub._resolve_rev(repo, rev)
        commit = repo.commits[sha]
        dirs = _dirs(commit)
        if path and path not in dirs:
            raise _NotFound(404, "EntryNotFound", f"{path} does not exist on {rev}", sha)
        recursive = query.get("recursive", ["false"])[0].lower() in ("true", "1")
        prefix = f"{path}/" if path else ""

        def wanted(p: str) -> bool:
            return p.startswith(prefix) and (recursive or "/" not in p[len(prefix):])

        entries = [_dir_entry(commit, d) for d in sorted(dirs) if wanted(d)]
        entries += [_entry(f) for p, f in sorted(commit.files.items()) if wanted(p)]
        cursor = int(query.get("cursor", ["0"])[0] or 0)
        page = entries[cursor: cursor + self.hub.tree_page_size]
        headers = {}
        if cursor + self.hub.tree_page_size < len(entries):
            params = {k: v[0] for k, v in query.items()} | {"cursor": str(cursor + self.hub.tree_page_size)}
            api_path = urlsplit(self.path).path
            headers["Link"] = f'<{self.hub.url}{api_path}?{urlencode(params)}>; rel="next"'
        self._json(page, headers)

    def _paths_info(self, repo: Repo, rev: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > 1 << 20:
            raise _NotFound(413, "TooLarge", "request body too large")
        form = parse_qs(self.rfile.read(length).decode("utf-8", "replace"))
        sha = self.hub._resolve_rev(repo, rev)
        commit = repo.commits[sha]
        dirs = _dirs(commit)
        out: list[dict[str, Any]] = []
        for raw in form.get("paths", []):
            p = raw.strip("/")
            if p in commit.files:
                out.append(_entry(commit.files[p]))
            elif p in dirs:
                out.append(_dir_entry(commit, p))
        self._json(out)

    # -- files -------------------------------------------------------------------------------------------
    def _resolve(self, repo_type: str, segments: list[str]) -> None:
        i = segments.index("resolve")
        repo = self.hub.repos.get((repo_type, "/".join(segments[:i])))
        if repo is None or i == 0 or len(segments) < i + 3:
            raise _NotFound(404, "RepoNotFound", "Repository not found")
        self._check_access(repo)
        sha = self.hub._resolve_rev(repo, segments[i + 1])
        path = "/".join(segments[i + 2:])
        f = repo.commits[sha].files.get(path)
        if f is None:
            raise _NotFound(404, "EntryNotFound", f"{path} does not exist on {segments[i + 1]}", sha)
        prefix = "" if repo_type == "model" else f"{repo_type}s/"
        key = f"{prefix}{repo.repo_id}/{path}"
        headers = {"X-Repo-Commit": sha, "Accept-Ranges": "bytes"}
        if f.lfs:
            headers |= {"X-Linked-Etag": f'"{f.sha256}"', "X-Linked-Size": str(f.size)}
            if self.hub.lfs_redirect == "cross-host":
                q = urlencode({"f": key, "sig": self.hub._blob_sig(f.sha256, key)})
                location = f"http://localhost:{self.hub.port}/_lfs/{f.sha256}?{q}"
                self._send(302, b"", headers | {"ETag": f'"{f.oid}"', "Location": location})
                return
            headers["ETag"] = f'"{f.sha256}"'
        else:
            headers["ETag"] = f'"{f.oid}"'
        self._content(f, key, headers)

    def _blob(self, sha256: str, query: dict[str, list[str]]) -> None:
        key = query.get("f", [""])[0]
        sig = query.get("sig", [""])[0]
        if not hmac.compare_digest(sig, self.hub._blob_sig(sha256, key)):
            raise _NotFound(403, "AccessDenied", "bad signature")
        blob = self.hub.blobs / sha256
        if not re.fullmatch(r"[0-9a-f]{64}", sha256) or not blob.exists():
            raise _NotFound(404, "NoSuchKey", "no such blob")
        f = HubFile(key, blob.stat().st_size, sha256, "", True, 0, blob)
        self._content(f, key, {"ETag": f'"{sha256}"', "Accept-Ranges": "bytes"})

    def _content(self, f: HubFile, key: str, headers: dict[str, str]) -> None:
        rng = None if self.hub.ignore_range else _parse_range(self.headers.get("Range"), f.size)
        if rng == "unsatisfiable":
            self._send(416, b"", headers | {"Content-Range": f"bytes */{f.size}"})
            return
        start, end = rng if rng is not None else (0, f.size - 1)
        length = max(0, end - start + 1)
        status = 206 if rng is not None else 200
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        if rng is not None:
            self.send_header("Content-Range", f"bytes {start}-{end}/{f.size}")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        self.end_headers()
        sent = 0
        if self.command != "HEAD":
            try:
                with f.blob.open("rb") as fh:
                    fh.seek(start)
                    while sent < length:
                        chunk = fh.read(min(_CHUNK, length - sent))
                        if not chunk:
                            break
                        self.wfile.write(chunk)
                        sent += len(chunk)
            finally:
                self.hub._count(key, sent)
                self._record(status, sent)
        else:
            self._record(status, 0)


__all__ = ["HubFile", "HubServer", "RequestRecord"]
