"""``hf://[datasets/|spaces/]org/name[@revision][/path]``: a Hugging Face Hub repository as a remote source.

Why ``huggingface_hub``: the hub's protocol (revision resolution, LFS metadata, redirects to the CDN, tokens
from ``HF_TOKEN`` or ``huggingface-cli login``'s token file, ``HF_ENDPOINT`` mirrors) is the client's to get
right; mlvet uses ``HfApi`` to pin the revision to a commit and list files with their LFS sha256, and the
client's own HTTP session for ranged GETs of ``/resolve/<commit>/<file>``. The commit is pinned once in
:meth:`HfSource.resolve`; every read and every result names that commit, so a branch moving mid-scan cannot
mix two versions.

``HF_ENDPOINT`` is read when the source is built (not when huggingface_hub was imported), so a process can
scan several endpoints. Any failure to resolve or list is a :class:`~mlvet.remote.base.RemoteError`; any
failure to read a range is an ``OSError`` that makes that file's result ``error`` (fail closed).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any, BinaryIO
from urllib.parse import unquote

from mlvet.errors import EXIT_USAGE, MlvetError, UsageError
from mlvet.model import Origin
from mlvet.remote.base import CountingReader, RemoteError, RemoteFile, RemoteReadError

__all__ = ["HfSource", "HfUrl", "parse_hf_url", "source"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
_TYPES = {"datasets": "dataset", "spaces": "space", "models": "model"}
#: Seconds to wait for the hub on each request (metadata and ranges).
TIMEOUT = 30.0


class MissingExtraError(MlvetError):
    """``huggingface_hub`` is not installed: ``pip install 'mlvet[remote]'`` (exit 4)."""

    exit_code = EXIT_USAGE


class HfUrl:
    """The parts of an ``hf://`` URL: repo type and id, the revision asked for (None: main), a path filter."""

    def __init__(self, repo_type: str, repo_id: str, revision: str | None, path: str) -> None:
        self.repo_type, self.repo_id, self.revision, self.path = repo_type, repo_id, revision, path

    @property
    def locator(self) -> str:
        """``org/name``, ``datasets/org/name`` or ``spaces/org/name``: the repo as hf:// URLs spell it."""
        prefix = "" if self.repo_type == "model" else f"{self.repo_type}s/"
        return prefix + self.repo_id


def parse_hf_url(url: str) -> HfUrl:
    """Split ``hf://[datasets/|spaces/]org/name[@revision][/path]`` (UsageError when malformed).

    A revision containing ``/`` (``refs/pr/1``) is written URL-encoded (``@refs%2Fpr%2F1``).
    """
    if not url.startswith("hf://"):
        raise UsageError(f"{url}: not an hf:// URL")
    segments = url[5:].split("/")
    repo_type = "model"
    if segments and segments[0] in _TYPES and len(segments) > 1:
        repo_type = _TYPES[segments.pop(0)]
    if not segments or not segments[0]:
        raise UsageError(f"{url}: expected hf://[datasets/|spaces/]org/name[@revision]")
    n = 1 if ("@" in segments[0] or len(segments) == 1) else 2
    repo_parts, rest = segments[:n], segments[n:]
    last, at, revision = repo_parts[-1].partition("@")
    repo_parts[-1] = last
    if not all(_NAME.match(p) for p in repo_parts) or (at and not revision):
        raise UsageError(f"{url}: expected hf://[datasets/|spaces/]org/name[@revision]")
    path = "/".join(s for s in rest if s)
    if any(s in (".", "..") for s in rest):
        raise UsageError(f"{url}: path segments '.' and '..' are not allowed")
    return HfUrl(repo_type, "/".join(repo_parts), unquote(revision) if at else None, path)


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError:
        raise MissingExtraError("hf:// sources need huggingface_hub: pip install 'mlvet[remote]'") from None
    return huggingface_hub


def _errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "the hub could not answer" (network, HTTP status, malformed answer)."""
    from huggingface_hub.errors import HfHubHTTPError

    transport: type[BaseException]
    try:  # huggingface_hub 2.x speaks httpx2
        from httpx2 import HTTPError as transport
    except ImportError:  # pragma: no cover - older clients use httpx
        from httpx import HTTPError as transport
    return (HfHubHTTPError, transport, OSError, ValueError, KeyError, TypeError)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


class HfSource:
    """One hub repository at one revision; see the module docstring."""

    def __init__(self, url: str, *, endpoint: str | None = None, token: str | None = None,
                 timeout: float = TIMEOUT) -> None:
        self.url = url
        self.parsed = parse_hf_url(url)
        hub = _hub()
        self.endpoint = (endpoint or os.environ.get("HF_ENDPOINT") or hub.constants.ENDPOINT).rstrip("/")
        #: None: the hub client's own lookup (``HF_TOKEN``, then the token file of ``hf auth login``).
        self.token = token
        self.timeout = timeout
        self.commit: str | None = None
        self._entries: list[Any] = []

    def resolve(self) -> None:
        """Pin the revision to a commit sha and list the files under the URL's path (with LFS metadata)."""
        hub = _hub()
        p = self.parsed
        api = hub.HfApi(endpoint=self.endpoint, token=self.token)
        try:
            info = api.repo_info(p.repo_id, repo_type=p.repo_type, revision=p.revision, timeout=self.timeout)
            if not isinstance(info.sha, str) or not re.fullmatch(r"[0-9a-f]{40}", info.sha):
                raise RemoteError(f"{self.url}: the hub did not return a commit sha for revision "
                                  f"{p.revision or 'main'}")
            self.commit = info.sha
            if p.path:
                found = api.get_paths_info(p.repo_id, [p.path], repo_type=p.repo_type, revision=self.commit)
                if not found:
                    raise RemoteError(f"{self.url}: {p.path} does not exist at commit {self.commit}")
                if isinstance(found[0], hub.hf_api.RepoFile):
                    self._entries = list(found)
                    return
            tree = api.list_repo_tree(p.repo_id, path_in_repo=p.path or None, recursive=True,
                                      repo_type=p.repo_type, revision=self.commit)
            self._entries = sorted((e for e in tree if isinstance(e, hub.hf_api.RepoFile)), key=lambda e: e.path)
        except RemoteError:
            raise
        except _errors() as exc:
            raise RemoteError(f"{self.url}: cannot resolve on {self.endpoint} ({_reason(exc)})") from None

    def files(self) -> Iterator[RemoteFile]:
        """Every file under the URL, each with a display URL pinned to the commit and its LFS sha256."""
        if self.commit is None:
            raise RemoteError(f"{self.url}: resolve() first")
        p = self.parsed
        asked = p.revision or "main"
        for e in self._entries:
            lfs = getattr(e, "lfs", None)
            sha = getattr(lfs, "sha256", None) if lfs is not None else None
            extra = (("repo_type", p.repo_type), ("repo_id", p.repo_id), ("requested_revision", asked),
                     ("endpoint", self.endpoint), ("git_oid", str(e.blob_id)))
            yield RemoteFile(url=f"hf://{p.locator}@{self.commit}/{e.path}", name=e.path, size=int(e.size),
                             sha256=sha if isinstance(sha, str) and re.fullmatch(r"[0-9a-f]{64}", sha) else None,
                             origin=Origin("hf", p.locator, self.commit, e.path, extra))

    def open(self, f: RemoteFile) -> BinaryIO:
        """A counting, block-caching reader of ``f`` at the pinned commit (ranged GETs through the hub client)."""
        hub = _hub()
        from huggingface_hub.utils import (  # type: ignore[attr-defined] # re-exported, not in __all__
            build_hf_headers,
            hf_raise_for_status,
            http_stream_backoff,
        )

        p = self.parsed
        url = hub.hf_hub_url(p.repo_id, f.name, repo_type=p.repo_type, revision=self.commit, endpoint=self.endpoint)
        size = f.size or 0
        errors = _errors()

        def fetch(start: int, stop: int) -> bytes:
            """GET one range, streamed: a server that ignores ``Range`` is refused before its body is read."""
            headers = build_hf_headers(token=self.token)
            headers["Range"] = f"bytes={start}-{stop - 1}"
            headers["Accept-Encoding"] = "identity"
            want = stop - start
            data = bytearray()
            try:
                with http_stream_backoff("GET", url, headers=headers, timeout=self.timeout, max_retries=2,
                                         base_wait_time=0.25, max_wait_time=1.0, follow_redirects=True) as r:
                    if r.status_code >= 400:
                        r.read()
                        hf_raise_for_status(r)
                    if r.status_code == 206:
                        got = r.headers.get("Content-Range", "")
                        if not got.startswith(f"bytes {start}-{stop - 1}/"):
                            raise RemoteReadError(f"{f.url}: asked bytes {start}-{stop - 1}, server sent {got!r}")
                    elif r.status_code != 200 or start != 0 or stop != size:
                        raise RemoteReadError(f"{f.url}: the server ignored the byte range (HTTP {r.status_code})")
                    for chunk in r.iter_bytes():
                        data += chunk
                        if len(data) > want:
                            raise RemoteReadError(f"{f.url}: asked {want} bytes at {start}, the server sent more")
            except errors as exc:
                if isinstance(exc, RemoteReadError):
                    raise
                raise RemoteReadError(f"{f.url}: cannot read bytes {start}-{stop - 1} ({_reason(exc)})") from None
            return bytes(data)

        return CountingReader(fetch, size, name=f.url)  # type: ignore[return-value]

    def close(self) -> None:
        """Nothing to release: the hub client's shared session stays open for the process."""
        self._entries = []


def source(url: str) -> HfSource:
    """Build the source for an ``hf://`` URL (the :data:`mlvet.remote.base.SCHEMES` entry point)."""
    return HfSource(url)
