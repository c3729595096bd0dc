"""MLflow registry and run artifacts: ``models:/name/version``, ``models:/name@alias`` and ``runs:/run_id/path``.

Why through MLflow's own client (``mlflow-skinny``): the registry resolves aliases and versions, knows where a
version's artifacts live (a logged model in MLflow 3, a run folder in MLflow 2, any artifact store) and
carries the server's authentication (``MLFLOW_TRACKING_TOKEN``, ``MLFLOW_TRACKING_USERNAME``/``PASSWORD``).
The tracking server is ``MLFLOW_TRACKING_URI`` (``MLFLOW_REGISTRY_URI`` when the registry is elsewhere);
without one the URL is a usage error (exit 4), never a scan of a local default store.

What is pinned: an alias is resolved to its version once; every result carries the model version, its run id
and (MLflow 3) model id, and the artifact location read. Reads are ranged where the store allows: the
``mlflow-artifacts`` proxy over HTTP (``Range`` requests through the client's session and credentials) and
S3 through fsspec (:mod:`mlvet.remote.fsspec_source`); any other store is downloaded whole to a temporary
file, and the download is what is counted. A server that ignores ``Range`` makes the file a whole download
too (counted), never a silent truncation.

MLflow's HTTP client retries with exponential backoff for minutes by default; unless the user set them,
mlvet bounds it (``MLFLOW_HTTP_REQUEST_MAX_RETRIES`` 2, ``..._BACKOFF_FACTOR`` 1, ``..._TIMEOUT`` 30 s) so
an unreachable server ends the scan as incomplete (exit 2) promptly.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

from mlvet.errors import UsageError
from mlvet.model import Origin
from mlvet.remote.base import CountingReader, RemoteError, RemoteFile, RemoteReadError
from mlvet.remote.fsspec_source import filesystem, range_fetcher

__all__ = ["MlflowSource", "source"]

#: Artifacts listed for one model version before the listing is refused.
MAX_LISTED = 100_000
#: Bounded client behaviour unless the user configured it (see the module docstring).
_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                  "MLFLOW_HTTP_REQUEST_TIMEOUT": "30"}


def _client() -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ModuleNotFoundError as exc:
        raise UsageError(f"models:/ and runs:/ URLs need the optional dependency {exc.name!r}, which is not "
                         "installed: pip install 'mlvet[mlflow]'") from None
    if not (os.environ.get("MLFLOW_TRACKING_URI") or os.environ.get("MLFLOW_REGISTRY_URI")):
        raise UsageError("models:/ and runs:/ URLs need MLFLOW_TRACKING_URI (the tracking server to ask)")
    for key, value in _HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    return MlflowClient()


def _public(uri: str) -> str:
    """``uri`` without user information (a password in a tracking URI never reaches a report)."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


@dataclass(frozen=True)
class _Pinned:
    display: str            # models:/name/<version> or runs:/<run id>
    locator: str            # models:/name or runs:/<run id>
    revision: str           # the model version or the run id
    artifact_uri: str       # where the artifacts are
    extra: tuple[tuple[str, str], ...]


class MlflowSource:
    """One registered model version or one run artifact path, pinned at :meth:`resolve`."""

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("models:/"):
            rest = url[len("models:/"):].strip("/")
            if "@" in rest:
                self._name, _, self._alias = rest.partition("@")
                self._version = ""
            else:
                self._name, _, self._version = rest.rpartition("/")
                self._alias = ""
            if not self._name or not (self._alias or self._version.isdigit()):
                raise UsageError(f"{url}: expected models:/NAME/VERSION (a number) or models:/NAME@ALIAS")
            self._run_id = self._path = ""
        elif url.startswith("runs:/"):
            self._run_id, _, self._path = url[len("runs:/"):].strip("/").partition("/")
            if not self._run_id:
                raise UsageError(f"{url}: expected runs:/RUN_ID[/PATH]")
            self._name = self._version = self._alias = ""
        else:
            raise UsageError(f"{url}: not an MLflow URL")
        self._pinned: _Pinned | None = None
        self._files: list[tuple[str, int | None]] = []
        self._repo: Any = None
        self._tmp: str | None = None
        #: Display path of the listed folder below the run (``runs:/id/<base>/<file>``).
        self._base = self._path

    # -- resolve and list ------------------------------------------------------------------------------------

    def resolve(self) -> None:
        """Pin the version (an alias resolved once) and run, and list the artifacts; RemoteError otherwise."""
        client = _client()
        try:
            self._pinned = self._pin(client)
            from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

            self._repo = get_artifact_repository(self._pinned.artifact_uri)
            self._files = self._list("")
            if not self._files and self._run_id and self._path:
                self._files = self._logged_model(client, get_artifact_repository)
        except (UsageError, RemoteError):
            raise
        except Exception as exc:  # MlflowException, connection errors, HTTP statuses: never clean
            raise RemoteError(f"{self.url}: {_describe(exc)}") from None
        if not self._files:
            raise RemoteError(f"{self.url}: no artifacts at {_public(self._pinned.artifact_uri)}")

    def _pin(self, client: Any) -> _Pinned:
        tracking = _public(str(client.tracking_uri))
        if self._name:
            mv = (client.get_model_version_by_alias(self._name, self._alias) if self._alias
                  else client.get_model_version(self._name, self._version))
            version = str(mv.version)
            uri = str(client.get_model_version_download_uri(self._name, version))
            source = str(mv.source or "")
            model_id = str(getattr(mv, "model_id", None) or "")
            if not model_id and source.startswith("models:/m-"):  # MLflow 3 logged model, named by its source
                model_id = source[len("models:/"):].split("/", 1)[0]
            pairs = [("tracking_uri", tracking), ("run_id", str(mv.run_id or "")), ("model_id", model_id),
                     ("source", _public(source)), ("artifact_uri", _public(uri))]
            if self._alias:
                pairs.append(("requested_alias", self._alias))
            return _Pinned(f"models:/{self._name}/{version}", f"models:/{self._name}", version, uri, tuple(pairs))
        run = client.get_run(self._run_id)
        base = str(run.info.artifact_uri).rstrip("/")
        uri = f"{base}/{self._path}" if self._path else base
        extra = (("tracking_uri", tracking), ("run_id", str(run.info.run_id)), ("artifact_uri", _public(uri)))
        return _Pinned(f"runs:/{run.info.run_id}", f"runs:/{run.info.run_id}", str(run.info.run_id), uri, extra)

    def _list(self, path: str) -> list[tuple[str, int | None]]:
        found: list[tuple[str, int | None]] = []
        pending = [path]
        while pending:
            here = pending.pop()
            infos = self._repo.list_artifacts(here or None)
            if not infos and here == "" and self._path:
                # runs:/id/path naming one file: list its folder and keep that file.
                return self._single_file()
            for info in infos:
                if info.is_dir:
                    pending.append(info.path)
                else:
                    found.append((info.path, info.file_size))
                if len(found) > MAX_LISTED:
                    raise RemoteError(f"{self.url}: more than {MAX_LISTED} artifacts")
        return sorted(found)

    def _logged_model(self, client: Any, repository: Any) -> list[tuple[str, int | None]]:
        """MLflow 3: ``runs:/id/NAME[/path]`` names the model NAME logged by that run (stored apart from the run)."""
        assert self._pinned is not None
        name, _, rest = self._path.partition("/")
        if "'" in name or "\\" in name:
            return []
        run = client.get_run(self._run_id)
        models = client.search_logged_models(experiment_ids=[run.info.experiment_id],
                                             filter_string=f"name = '{name}'", max_results=100)
        model = next((m for m in models if m.source_run_id == self._run_id), None)
        if model is None:
            return []
        uri = str(model.artifact_location).rstrip("/") + (f"/{rest}" if rest else "")
        p = self._pinned
        self._pinned = _Pinned(p.display, p.locator, p.revision, uri,
                               (*p.extra, ("model_id", str(model.model_id)), ("model_artifact_uri", _public(uri))))
        self._repo = repository(uri)
        return self._list("")

    def _single_file(self) -> list[tuple[str, int | None]]:
        from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

        assert self._pinned is not None
        parent, _, leaf = self._pinned.artifact_uri.rstrip("/").rpartition("/")
        repo = get_artifact_repository(parent)
        for info in repo.list_artifacts(None):
            if not info.is_dir and posixpath.basename(info.path) == leaf:
                self._repo = repo
                self._base = posixpath.dirname(self._path)
                return [(info.path, info.file_size)]
        return []

    def files(self) -> Iterator[RemoteFile]:
        """The pinned artifacts, sorted by path."""
        assert self._pinned is not None
        p = self._pinned
        for path, size in self._files:
            shown = posixpath.join(self._base, path) if self._base else path
            yield RemoteFile(url=f"{p.display}/{shown}", name=path, size=size, sha256=None,
                             origin=Origin("mlflow", p.locator, p.revision, shown, p.extra))

    # -- read ------------------------------------------------------------------------------------------------

    def open(self, f: RemoteFile) -> BinaryIO:
        """A counted reader: ranged over HTTP or S3, otherwise the whole artifact downloaded and counted."""
        if self._repo is None or f.size is None:
            raise RemoteError(f"{f.url}: not a file of this source")
        root = str(self._repo.artifact_uri).rstrip("/")
        scheme = urlsplit(root).scheme.lower()
        if scheme in ("http", "https"):
            return _HttpArtifactReader(self._repo, f.name, f.size, f.url)  # type: ignore[return-value]
        if scheme == "s3":
            target = urlsplit(f"{root}/{f.name}")
            path = target.netloc + target.path
            fetch = range_fetcher(filesystem("s3"), "s3", path, None)
            return CountingReader(fetch, f.size, name=f.url)  # type: ignore[return-value]
        return self._downloaded(f)

    def _downloaded(self, f: RemoteFile) -> BinaryIO:
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="mlvet-mlflow-")
        try:
            local = self._repo.download_artifacts(f.name, dst_path=self._tmp)
        except Exception as exc:
            raise RemoteError(f"{f.url}: cannot download: {_describe(exc)}") from None
        return _LocalCopyReader(local, f.url)  # type: ignore[return-value]

    def close(self) -> None:
        """Delete downloaded copies."""
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


class _HttpArtifactReader(CountingReader):
    """Range requests to the ``mlflow-artifacts`` proxy through MLflow's HTTP client (its retries and auth).

    A ``206`` answer is the asked range; a ``200`` means the server ignores ``Range``: the whole body is then
    downloaded once to a temporary file, counted as read, and later ranges are served from it.
    """

    def __init__(self, repo: Any, name: str, size: int, url: str) -> None:
        from mlflow.utils.credentials import get_default_host_creds

        root = str(repo.artifact_uri).rstrip("/")
        self._creds = get_default_host_creds(root)  # type: ignore[no-untyped-call]
        self._endpoint = posixpath.join("/", name)
        self._spool: Any = None
        self._transferred = 0
        super().__init__(self._fetch_range, size, name=url)

    @property
    def bytes_read(self) -> int:
        """Bytes that crossed the network for this file (a whole download when the server ignored Range)."""
        return self._transferred

    @bytes_read.setter
    def bytes_read(self, _value: int) -> None:
        """Counting is done in the fetch itself (a whole download counts once, in full)."""

    def _fetch_range(self, start: int, stop: int) -> bytes:
        if self._spool is not None:
            self._spool.seek(start)
            return bytes(self._spool.read(stop - start))
        from mlflow.utils.rest_utils import http_request

        try:
            resp = http_request(  # type: ignore[no-untyped-call]
                self._creds, self._endpoint, "GET",
                                extra_headers={"Range": f"bytes={start}-{stop - 1}"}, stream=True)
        except Exception as exc:
            raise RemoteReadError(f"{self.name}: {_describe(exc)}") from None
        with resp:
            if resp.status_code == 206:
                got = resp.headers.get("Content-Range", "")
                if not got.startswith(f"bytes {start}-"):
                    raise RemoteReadError(f"{self.name}: asked bytes {start}-{stop - 1}, got range {got!r}")
                data = resp.raw.read(stop - start, decode_content=True)
                self._transferred += len(data)
                return bytes(data)
            if resp.status_code != 200:
                raise RemoteReadError(f"{self.name}: HTTP {resp.status_code} for bytes {start}-{stop - 1}")
            self._spool = tempfile.TemporaryFile(prefix="mlvet-artifact-")  # noqa: SIM115 - closed in close()
            for chunk in resp.iter_content(1 << 20):
                self._spool.write(chunk)
                self._transferred += len(chunk)
        self._spool.seek(start)
        return bytes(self._spool.read(stop - start))

    def close(self) -> None:
        """Close the temporary copy, if the server made one necessary."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        super().close()


class _LocalCopyReader(CountingReader):
    """A whole downloaded artifact: everything was transferred, so all of it counts as read."""

    def __init__(self, local: str, url: str) -> None:
        self._file = open(local, "rb")  # noqa: SIM115 - closed in close()
        self._size = os.fstat(self._file.fileno()).st_size
        super().__init__(self._fetch_local, self._size, name=url)

    @property
    def bytes_read(self) -> int:
        """The whole file: it was downloaded before the scan read any of it."""
        return self._size

    @bytes_read.setter
    def bytes_read(self, _value: int) -> None:
        """The count is fixed at the download size."""

    def _fetch_local(self, start: int, stop: int) -> bytes:
        self._file.seek(start)
        return self._file.read(stop - start)

    def close(self) -> None:
        """Close the downloaded copy (the source deletes its folder)."""
        self._file.close()
        super().close()


def _describe(exc: BaseException) -> str:
    code = getattr(exc, "error_code", None)
    if code == "RESOURCE_DOES_NOT_EXIST":
        return f"not found ({exc})"
    if code in ("PERMISSION_DENIED", "UNAUTHENTICATED"):
        return f"access denied ({exc})"
    return f"{type(exc).__name__}: {exc}"


def source(url: str) -> MlflowSource:
    """The :class:`MlflowSource` for ``url`` (entry point named in :data:`mlvet.remote.base.SCHEMES`)."""
    return MlflowSource(url)
