"""Object stores and web URLs through fsspec: ``s3://``, ``gs://``, ``az://``/``abfs://``, ``http(s)://``.

Why fsspec: one interface lists and range-reads S3 (s3fs), Google Cloud Storage (gcsfs), Azure (adlfs) and
plain HTTP, and each backend takes its credentials from the usual place (for S3 the AWS chain: environment,
``~/.aws/config`` and ``credentials``, instance roles; ``AWS_ENDPOINT_URL`` for S3-compatible stores).
``MLVET_STORAGE_OPTIONS`` (a JSON object) adds backend options, e.g. ``{"anon": true}`` for a public bucket.

What is pinned: on S3 each object's version id (a ``HEAD`` at resolve time; every later range request names
that version, so an object overwritten mid-scan is still the one judged); elsewhere the generation or ETag
the store reports, kept in the origin. The content key (``sha256``) is taken from the store only when it is a
real SHA-256 of the whole object (S3's ``ChecksumSHA256`` of type ``FULL_OBJECT``); ETags are MD5s or opaque,
so otherwise the scan computes the digest only for files it reads whole anyway.

Reads go through :class:`~mlvet.remote.base.CountingReader` (``cat_file`` with a byte range), so a 1 GB
safetensors object costs its header. Every failure to resolve or list is a :class:`RemoteError` (exit 2);
a failed range read is an ``OSError`` the scanner turns into an ``error`` result.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import parse_qs, urlsplit

from mlvet.errors import UsageError
from mlvet.model import Origin
from mlvet.remote.base import CountingReader, RemoteError, RemoteFile, RemoteReadError

__all__ = ["FsspecSource", "filesystem", "source"]

#: URL scheme -> (fsspec protocol, the package that implements it, the mlvet extra that installs it).
BACKENDS: dict[str, tuple[str, str, str]] = {
    "s3": ("s3", "s3fs", "s3"),
    "gs": ("gcs", "gcsfs", "gcs"),
    "gcs": ("gcs", "gcsfs", "gcs"),
    "az": ("abfs", "adlfs", "azure"),
    "abfs": ("abfs", "adlfs", "azure"),
    "http": ("http", "aiohttp", "http"),
    "https": ("https", "aiohttp", "http"),
}
#: Objects listed under one prefix before the listing is refused (the scan's own ``max_files`` is lower).
MAX_LISTED = 1_000_000
#: Bounded network behaviour: seconds to connect / to wait for a read, attempts per request.
CONNECT_TIMEOUT, READ_TIMEOUT, ATTEMPTS = 10, 60, 3


def _storage_options() -> dict[str, Any]:
    raw = os.environ.get("MLVET_STORAGE_OPTIONS", "").strip()
    if not raw:
        return {}
    try:
        options = json.loads(raw)
    except ValueError as exc:
        raise UsageError(f"MLVET_STORAGE_OPTIONS is not JSON: {exc}") from None
    if not isinstance(options, dict):
        raise UsageError("MLVET_STORAGE_OPTIONS must be a JSON object of fsspec storage options")
    return options


def filesystem(scheme: str) -> Any:
    """The fsspec filesystem for ``scheme`` with mlvet's bounded timeouts; a missing backend is exit 4."""
    protocol, package, extra = BACKENDS[scheme]
    import importlib.util

    try:
        import fsspec  # type: ignore[import-untyped]

        # The backend package is named by the static table above, never by input; fsspec imports it itself.
        if importlib.util.find_spec(package) is None:
            raise ModuleNotFoundError(name=package)
    except ModuleNotFoundError as exc:
        raise UsageError(f"{scheme}:// URLs need the optional dependency {exc.name!r}, which is not installed: "
                         f"pip install 'mlvet[{extra}]'") from None
    options = _storage_options()
    if protocol == "s3":
        options.setdefault("version_aware", True)
        config = dict(options.pop("config_kwargs", {}) or {})
        config.setdefault("connect_timeout", CONNECT_TIMEOUT)
        config.setdefault("read_timeout", READ_TIMEOUT)
        config.setdefault("retries", {"max_attempts": ATTEMPTS, "mode": "standard"})
        options["config_kwargs"] = config
    return fsspec.filesystem(protocol, **options)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such object or prefix"
    if isinstance(exc, PermissionError):
        return f"access denied ({exc})"
    return f"{type(exc).__name__}: {exc}"


def _sha256_from_checksum(head: dict[str, Any]) -> str | None:
    """S3's ChecksumSHA256 as hex, only for a full-object checksum (a multipart one is a hash of hashes)."""
    value = head.get("ChecksumSHA256")
    kind = head.get("ChecksumType")
    if not isinstance(value, str) or "-" in value or (kind is not None and kind != "FULL_OBJECT"):
        return None
    try:
        digest = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return digest.hex() if len(digest) == 32 else None


@dataclass(frozen=True)
class _Entry:
    path: str           # fsspec path (bucket/key)
    name: str           # path below the URL's prefix
    size: int | None
    revision: str | None
    sha256: str | None
    etag: str | None


class FsspecSource:
    """One object-store prefix, single object or web URL, pinned at :meth:`resolve`."""

    def __init__(self, url: str) -> None:
        self.url = url
        parts = urlsplit(url)
        self.scheme = parts.scheme.lower()
        if self.scheme not in BACKENDS:
            raise UsageError(f"{url}: not an fsspec URL mlvet knows")
        self._web = self.scheme in ("http", "https")
        query = parse_qs(parts.query)
        versions = query.get("versionId") or []
        self._version: str | None = versions[0] if versions and not self._web else None
        if self._web:
            self._root = url
        else:
            self._root = (parts.netloc + parts.path).rstrip("/")
            if not parts.netloc:
                raise UsageError(f"{url}: no bucket or container in the URL")
        self._fs: Any = None
        self._entries: list[_Entry] = []
        self._by_url: dict[str, _Entry] = {}

    # -- resolve and list ------------------------------------------------------------------------------------

    def resolve(self) -> None:
        """List the objects and pin each one's version (S3) or generation/ETag; RemoteError when impossible."""
        self._fs = filesystem(self.scheme)
        try:
            self._entries = self._list()
        except (UsageError, RemoteError):
            raise
        except Exception as exc:  # network, credentials, HTTP status: never a clean result
            raise RemoteError(f"{self.url}: cannot list: {_describe(exc)}") from None
        if not self._entries:
            raise RemoteError(f"{self.url}: no objects under this prefix")
        self._by_url = {self._display(e): e for e in self._entries}

    def _list(self) -> list[_Entry]:
        if self._web:
            info = self._fs.info(self._root)
            name = posixpath.basename(urlsplit(self._root).path) or "index"
            return [_Entry(self._root, name, _int(info.get("size")), _etag(info), None, _etag(info))]
        if self._version is not None:
            return [self._head(self._root, posixpath.basename(self._root), self._version)]
        info = self._fs.info(self._root)
        if info.get("type") == "file":
            return [self._head(self._root, posixpath.basename(self._root), None)]
        found = self._fs.find(self._root, detail=True, withdirs=False)
        if len(found) > MAX_LISTED:
            raise RemoteError(f"{self.url}: more than {MAX_LISTED} objects under this prefix")
        prefix = self._root + "/"
        return [self._head(path, path[len(prefix):] if path.startswith(prefix) else path, None)
                for path in sorted(found)]

    def _head(self, path: str, name: str, version: str | None) -> _Entry:
        if self.scheme == "s3":
            bucket, _, key = path.partition("/")
            kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
            if version is not None:
                kwargs["VersionId"] = version
            head = self._fs.call_s3("head_object", **kwargs)
            pinned = head.get("VersionId")
            return _Entry(path, name, _int(head.get("ContentLength")), pinned if pinned not in (None, "null") else None,
                          _sha256_from_checksum(head), _etag(head))
        info = self._fs.info(path)
        generation = info.get("generation") or info.get("version_id")
        return _Entry(path, name, _int(info.get("size")), str(generation) if generation else None, None, _etag(info))

    def files(self) -> Iterator[RemoteFile]:
        """The pinned objects, in key order."""
        for e in self._entries:
            yield RemoteFile(url=self._display(e), name=e.name, size=e.size, sha256=e.sha256, origin=self._origin(e))

    def _display(self, e: _Entry) -> str:
        if self._web:
            return e.path
        url = f"{self.scheme}://{e.path}"
        return f"{url}?versionId={e.revision}" if self.scheme == "s3" and e.revision else url

    def _origin(self, e: _Entry) -> Origin:
        extra: list[tuple[str, str]] = []
        if e.etag:
            extra.append(("etag", e.etag))
        endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        if self.scheme == "s3" and endpoint:
            extra.append(("endpoint", endpoint))
        if self._web:
            return Origin("fsspec", e.path, e.etag, posixpath.basename(urlsplit(e.path).path), tuple(extra))
        bucket, _, key = e.path.partition("/")
        kind = "s3" if self.scheme == "s3" else "fsspec"
        return Origin(kind, f"{self.scheme}://{bucket}", e.revision, key, tuple(extra))

    # -- read ------------------------------------------------------------------------------------------------

    def open(self, f: RemoteFile) -> BinaryIO:
        """A counted, seekable reader of the pinned object (ranged ``cat_file`` calls)."""
        if self._fs is None:
            raise RemoteError(f"{self.url}: open() before resolve()")
        entry = self._by_url.get(f.url)
        if entry is None or f.size is None:
            raise RemoteError(f"{f.url}: not a file of this source")
        fetch = range_fetcher(self._fs, self.scheme, entry.path, entry.revision)
        return CountingReader(fetch, f.size, name=f.url)  # type: ignore[return-value]

    def close(self) -> None:
        """Nothing to release: fsspec keeps its (cached) filesystem and connection pool."""
        self._entries = []
        self._by_url = {}


def range_fetcher(fs: Any, scheme: str, path: str, version: str | None) -> Any:
    """``fetch(start, stop) -> bytes`` for one object; failures become :class:`RemoteReadError` (an OSError)."""

    if scheme in ("http", "https"):
        return _web_fetcher(fs, path)

    def fetch(start: int, stop: int) -> bytes:
        try:
            if scheme == "s3" and version:
                data = fs.cat_file(path, start=start, end=stop, version_id=version)
            else:
                data = fs.cat_file(path, start=start, end=stop)
        except Exception as exc:
            raise RemoteReadError(f"{scheme}://{path}: bytes {start}-{stop - 1}: {_describe(exc)}") from None
        return bytes(data)

    return fetch


def _web_fetcher(fs: Any, url: str) -> Any:
    """Ranges of a web file through fsspec's HTTP file (no cache): a server that ignores ``Range`` costs at most
    the asked prefix (from offset 0) and is an error for any other offset, never a silent whole download."""
    handle: list[Any] = []

    def fetch(start: int, stop: int) -> bytes:
        try:
            if not handle:
                handle.append(fs.open(url, "rb", block_size=0, cache_type="none"))
            f = handle[0]
            f.seek(start)
            return bytes(f.read(stop - start))
        except Exception as exc:
            raise RemoteReadError(f"{url}: bytes {start}-{stop - 1}: {_describe(exc)}") from None

    return fetch


def _int(value: object) -> int | None:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return None


def _etag(info: dict[str, Any]) -> str | None:
    value = info.get("ETag") or info.get("etag")
    return str(value).strip('"') if value else None


def source(url: str) -> FsspecSource:
    """The :class:`FsspecSource` for ``url`` (entry point named in :data:`mlvet.remote.base.SCHEMES`)."""
    return FsspecSource(url)
