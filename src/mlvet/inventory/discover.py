"""Discovery: walk trees, group files into assets the way users think of them, fingerprint and scan them.

Grouping rules (first match wins, outermost folder first):

1. A Hugging Face cache repository (``models--org--name`` / ``datasets--org--name``): each
   ``snapshots/<revision>`` is one asset, named by repo id, with its refs; ``blobs/`` is reached through
   the snapshot links (and each blob is checked against its content-addressed name).
2. A folder with a *marker*: ``MLmodel`` (MLflow), ``saved_model.pb`` (TF SavedModel),
   ``model_index.json`` (diffusers), a weights index (``*.safetensors.index.json``), ``adapter_config.json``
   (PEFT), ``config.json`` beside a weights file (``save_pretrained`` layout), ``dataset_info.json`` /
   ``dataset_dict.json`` (``datasets.save_to_disk``): the whole subtree is one asset.
3. Otherwise each model file is its own asset, and the dataset files directly inside one folder form one
   dataset asset (shards of one split live side by side).

Files are identified by content (:mod:`mlvet.inventory.classify`), fingerprinted with SHA-256 once and
reused while (size, mtime, inode) are unchanged, and scanned with the ordinary scanner; an asset whose
content hash and mlvet version match the previous run keeps that run's scan results.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import socket
import stat
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from mlvet._version import __version__
from mlvet.errors import UsageError
from mlvet.hfcache import blob_integrity, read_refs
from mlvet.inventory.classify import FileKind, classify
from mlvet.inventory.model import Asset, AssetFile, AssetKind, AssetMetadata, HubRef, InventoryRun, asset_id
from mlvet.model import Status
from mlvet.remote.base import is_remote

if TYPE_CHECKING:
    from mlvet.engine import Engine
    from mlvet.model import FileResult, Finding
    from mlvet.policy import Policy
    from mlvet.store import Store
    from mlvet.store.results import ResultCache

#: Folders never descended into: VCS internals and tool caches hold copies, not assets.
SKIP_DIRS = frozenset({".git", ".hg", ".svn", "__pycache__", "node_modules", ".mypy_cache", ".ruff_cache",
                       ".pytest_cache", ".tox", ".nox", ".ipynb_checkpoints"})
_MODEL_MARKERS = frozenset({"MLmodel", "saved_model.pb", "saved_model.pbtxt", "model_index.json",
                            "adapter_config.json", "config_sentence_transformers.json"})
_DATASET_MARKERS = frozenset({"dataset_info.json", "dataset_dict.json"})
_MARKER_FORMATS = {"MLmodel": "mlflow", "saved_model.pb": "tf-savedmodel", "saved_model.pbtxt": "tf-savedmodel",
                   "model_index.json": "diffusers", "adapter_config.json": "peft"}
_MARKER_FRAMEWORKS = {"MLmodel": "mlflow", "saved_model.pb": "tensorflow", "saved_model.pbtxt": "tensorflow",
                      "model_index.json": "diffusers", "adapter_config.json": "peft",
                      "config_sentence_transformers.json": "sentence-transformers"}

#: Shard names: ``train-00000-of-00004.parquet``, ``part-0001.parquet``, ``shard-000012.tar``, ``data_003.csv``.
_SHARD_RE = re.compile(r"(?:^|[-_.])\d{3,}(?:-of-\d{3,})?\.[A-Za-z0-9]+$")

#: Progress events: (stage, done, total or None).
ProgressFn = Callable[[str, int, int | None], None]


def default_hf_cache() -> str:
    """The Hugging Face hub cache huggingface_hub uses: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/…/hub."""
    if os.environ.get("HF_HUB_CACHE"):
        return os.environ["HF_HUB_CACHE"]
    home = os.environ.get("HF_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
    return os.path.join(home, "hub")


@dataclass
class _Group:
    """Files gathered for one asset before fingerprinting."""

    key: str
    kind: AssetKind
    name: str
    root: str
    files: list[tuple[str, str]] = field(default_factory=list)  # (abs path, rel path)
    kinds: dict[str, FileKind] = field(default_factory=dict)  # abs path -> classification
    hub: HubRef | None = None
    marker: str | None = None
    #: Files or folders of this group that could not be read: (path, reason). The asset is incomplete.
    unreadable: list[tuple[str, str]] = field(default_factory=list)


# ---- walking and grouping -------------------------------------------------------------------------------------

def _hf_repo_dir(name: str) -> str | None:
    for prefix, kind in (("models--", "model"), ("datasets--", "dataset"), ("spaces--", "space")):
        if name.startswith(prefix) and len(name) > len(prefix):
            return kind
    return None


def _files_under(top: str, unreadable: list[tuple[str, str]] | None = None) -> Iterator[tuple[str, str]]:
    """(abs path, path relative to top) of every file below ``top``, sorted, skipping SKIP_DIRS.

    Folders that cannot be listed, and links whose target lies outside ``top`` (never read, as in the
    scanner's walk: :mod:`mlvet.walk`), are appended to ``unreadable`` instead of being dropped in silence.
    """
    top_real = os.path.realpath(top)
    for root, dirs, files in os.walk(top, onerror=_walk_error(unreadable)):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in sorted(files):
            p = os.path.join(root, name)
            why = _link_outside(p, top, top_real)
            if why is not None:
                if unreadable is not None:
                    unreadable.append((p, why))
                continue
            yield p, os.path.relpath(p, top).replace(os.sep, "/")


def _link_outside(path: str, top: str, top_real: str) -> str | None:
    """Why a link is not followed (target outside ``top`` and not a hub cache blob); None otherwise."""
    if not os.path.islink(path):
        return None
    from mlvet.walk import IssueKind, link_issue

    issue = link_issue(path, top, top_real, is_dir=False)
    return None if issue is None or issue.kind is not IssueKind.LINK_OUTSIDE else f"symbolic link {issue.detail}"


def _walk_error(sink: list[tuple[str, str]] | None) -> Callable[[OSError], None]:
    def record(exc: OSError) -> None:
        if sink is not None:
            sink.append((exc.filename if isinstance(exc.filename, str) else "?",
                         f"cannot read folder: {exc.strerror or exc}"))
    return record


def _unreadable_file(path: str) -> str | None:
    """Why a regular file cannot be opened for reading (None when it can, or when it is not a regular file:
    FIFOs, sockets and devices hold no model and are never opened for real)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ELOOP, errno.ENOTDIR):
            return None  # dangling link, link loop or vanished file: nothing a loader could read either
        return f"cannot read file: {exc.strerror or exc}"
    if not stat.S_ISREG(st.st_mode):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        return f"cannot read file: {exc.strerror or exc}"
    os.close(fd)
    return None


def _unreadable_group(path: str, reason: str) -> _Group:
    """An asset standing for something that could not be read: always incomplete, never dropped."""
    return _Group(f"unreadable:{path}", "model", os.path.basename(path.rstrip(os.sep)) or path, path,
                  unreadable=[(path, reason)])


def _hf_groups(repo_dir: str, repo_type: str) -> list[_Group]:
    name = os.path.basename(repo_dir)
    parts = name.split("--")[1:]
    repo_id = "/".join(parts)
    refs = read_refs(repo_dir)
    groups = []
    snaps = os.path.join(repo_dir, "snapshots")
    try:
        revisions = sorted(os.listdir(snaps))
    except OSError:
        return []
    for rev in revisions:
        top = os.path.join(snaps, rev)
        if not os.path.isdir(top):
            continue
        hub = HubRef(repo_type, repo_id, rev, tuple(sorted(r for r, c in refs.items() if c == rev)))
        kind: AssetKind = "dataset" if repo_type == "dataset" else "model"
        g = _Group(f"hf:{repo_type}:{repo_id}@{rev}", kind, repo_id, top, hub=hub)
        g.files = list(_files_under(top, g.unreadable))
        for p, rel in g.files:
            k = classify(p, rel.rsplit("/", 1)[-1])
            if k is not None:
                g.kinds[p] = k
        groups.append(g)
    return groups


def _marker_of(dirpath: str, files: Sequence[str], kinds: dict[str, FileKind]) -> tuple[str, AssetKind] | None:
    names = set(files)
    for m in sorted(_MODEL_MARKERS & names):
        return m, "model"
    for m in sorted(_DATASET_MARKERS & names):
        if m == "dataset_info.json" and not ({"state.json"} & names or any(n.endswith(".arrow") for n in names)):
            continue
        return m, "dataset"
    if any(n.endswith(".index.json") and (".safetensors" in n or ".bin" in n) for n in names):
        return "weights-index", "model"
    if "config.json" in names and any(
        k.role == "model" for p, k in kinds.items() if os.path.dirname(p) == dirpath
    ):
        return "config.json", "model"
    return None


def _walk_groups(root: str, progress: ProgressFn | None, counter: list[int]) -> Iterator[_Group]:
    """Yield asset groups under one root folder, outermost marker first."""
    walk_errors: list[tuple[str, str]] = []
    root_real = os.path.realpath(root)
    for dirpath, dirs, files in os.walk(root, onerror=_walk_error(walk_errors)):
        while walk_errors:
            yield _unreadable_group(*walk_errors.pop(0))
        dirs.sort()
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS]
        counter[0] += len(files)
        if progress:
            progress("walk", counter[0], None)
        repo_type = _hf_repo_dir(os.path.basename(dirpath))
        if repo_type and "snapshots" in dirs:
            for g in _hf_groups(dirpath, repo_type):
                counter[0] += len(g.files)
                yield g
            dirs[:] = []
            continue
        kinds: dict[str, FileKind] = {}
        unreadable: list[tuple[str, str]] = []
        for name in sorted(files):
            p = os.path.join(dirpath, name)
            if (outside := _link_outside(p, root, root_real)) is not None:
                unreadable.append((p, outside))
                continue
            k = classify(p, name)
            if k is not None:
                kinds[p] = k
            elif (why := _unreadable_file(p)) is not None:
                unreadable.append((p, why))
        marker = _marker_of(dirpath, files, kinds)
        if marker is not None:
            m, kind = marker
            g = _Group(f"dir:{dirpath}", kind, os.path.basename(dirpath) or dirpath, dirpath, marker=m)
            g.files = list(_files_under(dirpath, g.unreadable))
            g.kinds = kinds
            for p, _rel in g.files:
                if p not in g.kinds and os.path.dirname(p) != dirpath:
                    k = classify(p)
                    if k is not None:
                        g.kinds[p] = k
            counter[0] += len(g.files) - len(files)
            dirs[:] = []
            yield g
            continue
        for p, why in unreadable:
            yield _unreadable_group(p, why)
        datasets = [(p, k) for p, k in kinds.items() if k.role == "dataset"]
        for p, k in kinds.items():
            if k.role == "model":
                g = _Group(f"file:{p}", "model", os.path.basename(p), p)
                g.files = [(p, os.path.basename(p))]
                g.kinds = {p: k}
                yield g
        shards = [(p, k) for p, k in datasets if _SHARD_RE.search(os.path.basename(p))]
        for p, k in datasets:
            if (p, k) not in shards:
                yield _Group(f"file:{p}", "dataset", os.path.basename(p), p, files=[(p, os.path.basename(p))],
                             kinds={p: k})
        if shards:
            # Shards of splits live side by side; the folder is the dataset, so its identity survives a
            # shard being added or deleted.
            g = _Group(f"dir:{dirpath}", "dataset", os.path.basename(dirpath) or dirpath, dirpath)
            g.files = [(p, os.path.basename(p)) for p, _k in shards]
            g.kinds = dict(shards)
            yield g
    for path, why in walk_errors:
        yield _unreadable_group(path, why)


def resolve_roots(paths: Iterable[str | os.PathLike[str]], *, hf_cache: bool = False) -> tuple[str, ...]:
    """The run's roots: absolute, unique, sorted, plus the Hugging Face cache when asked (and present).

    One definition, because "the previous run over the same roots" compares these exactly.
    """
    roots = {p if isinstance(p, str) and is_remote(p) else os.path.abspath(os.fspath(p)) for p in paths}
    if hf_cache:
        cache = default_hf_cache()
        if os.path.isdir(cache):
            roots.add(os.path.abspath(cache))
    return tuple(sorted(roots))


def iter_groups(paths: Iterable[str], *, hf_cache: bool = False,
                progress: ProgressFn | None = None, counter: list[int] | None = None) -> Iterator[_Group]:
    """Every asset group under the given paths (files or folders); raises UsageError for a missing path."""
    counter = counter if counter is not None else [0]
    roots = resolve_roots(paths, hf_cache=hf_cache)
    seen: set[str] = set()
    for root in (r for r in roots if not is_remote(r)):  # remote URLs: mlvet.inventory.remote
        if not os.path.lexists(root):
            raise UsageError(f"no such file or directory: {root}")
        if os.path.isdir(root):
            for g in _walk_groups(root, progress, counter):
                if g.key not in seen:
                    seen.add(g.key)
                    yield g
        else:
            counter[0] += 1
            k = classify(root)
            if k is None:
                why = _unreadable_file(root)
                if why is not None and f"unreadable:{root}" not in seen:
                    seen.add(f"unreadable:{root}")
                    yield _unreadable_group(root, why)
                continue
            g = _Group(f"file:{root}", k.role, os.path.basename(root), root, files=[(root, os.path.basename(root))],
                       kinds={root: k})
            if g.key not in seen:
                seen.add(g.key)
                yield g


# ---- fingerprints -----------------------------------------------------------------------------------------------

def sha256_file(path: str) -> str:
    """Streamed SHA-256 of a file (follows symlinks, as a loader would)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


#: Computed hashes are committed to the store's hash cache at least this often (seconds), so an
#: interrupted inventory (Ctrl-C, SIGTERM, a crash) keeps most of its hashing work for the next run.
HASH_COMMIT_SECONDS = 1.0


@dataclass
class _Fingerprints:
    """SHA-256 reuse: previous run's files, then the store's hash cache, else hash now.

    New hashes are committed in batches through ``commit`` (the store's hash-cache upsert, one short
    transaction each) every :data:`HASH_COMMIT_SECONDS`, and once more at the end or on interruption:
    hashing a large tree is the slow part of an inventory, and a run killed half way must not lose it.
    """

    cache: dict[str, tuple[int, int, int, str]]
    hashed: int = 0
    updates: list[tuple[str, int, int, int, str]] = field(default_factory=list)
    commit: Callable[[list[tuple[str, int, int, int, str]]], None] | None = None
    _last_commit: float = field(default_factory=time.monotonic)

    def sha256(self, path: str, st: os.stat_result) -> str:
        hit = self.cache.get(path)
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        if hit is not None and hit[:3] == key:
            return hit[3]
        digest = sha256_file(path)
        self.hashed += 1
        self.cache[path] = (*key, digest)
        self.updates.append((path, *key, digest))
        if self.commit is not None and time.monotonic() - self._last_commit >= HASH_COMMIT_SECONDS:
            self.flush()
        return digest

    def flush(self) -> None:
        """Commit the hashes computed since the last commit (no-op without a store)."""
        if self.commit is not None and self.updates:
            batch, self.updates = self.updates, []
            self.commit(batch)
        self._last_commit = time.monotonic()


def _integrity(path: str, sha: str, prev: AssetFile | None) -> str | None:
    """HF cache blob check: an LFS blob's name is its sha256 (free); git blobs are re-hashed only when changed."""
    real = os.path.realpath(path)
    if os.path.basename(os.path.dirname(real)) != "blobs":
        return None
    name = os.path.basename(real)
    if len(name) == 64:
        return "ok" if name == sha else "mismatch"
    if prev is not None and prev.sha256 == sha and prev.integrity is not None:
        return prev.integrity
    return blob_integrity(path).status


# ---- assembling assets -----------------------------------------------------------------------------------------


def _principal(g: _Group, sizes: dict[str, int]) -> tuple[str, str | None]:
    """(format, framework) of the asset: marker format for marker folders, else the largest classified file's."""
    classified = sorted(g.kinds.items(), key=lambda kv: (-sizes.get(kv[0], 0), kv[0]))
    wanted = "dataset" if g.kind == "dataset" else "model"
    fmt, framework = "unknown", None
    for p, k in classified:
        if k.role == wanted and p in sizes:
            fmt, framework = k.format, k.framework
            break
    if g.marker in _MARKER_FORMATS:
        fmt = _MARKER_FORMATS[g.marker]
    if g.marker in _MARKER_FRAMEWORKS:
        framework = _MARKER_FRAMEWORKS[g.marker]
    elif g.marker in ("config.json", "weights-index") or (g.hub and g.kind == "model" and any(
            rel == "config.json" for _p, rel in g.files)):
        framework = "transformers"
    elif g.marker in _DATASET_MARKERS:
        fmt, framework = "arrow", "datasets"
    return fmt, framework


def _metadata(g: _Group, fmt: str) -> AssetMetadata:
    from mlvet.inventory.metadata import read_metadata

    try:
        return read_metadata(g.root, [rel for _p, rel in g.files] if os.path.isdir(g.root) else (), fmt=fmt)
    except Exception:
        return AssetMetadata()


def build_asset(g: _Group, fp: _Fingerprints, prev: Asset | None, scan: Callable[[str], FileResult] | None,
                ) -> Asset:
    """Fingerprint, scan (or reuse the previous run's results) and describe one group."""
    prev_files = {f.path: f for f in prev.files} if prev else {}
    entries: list[tuple[str, str, os.stat_result]] = []
    for p, rel in g.files:
        try:
            st = os.stat(p)
        except OSError:
            continue  # dangling link or vanished file: not part of the asset any more
        if stat.S_ISREG(st.st_mode):
            entries.append((p, rel, st))
    files: list[AssetFile] = []
    for p, rel, st in entries:
        try:
            digest = fp.sha256(p, st)
        except OSError as exc:
            g.unreadable.append((p, f"cannot read file: {exc.strerror or exc}"))
            continue
        k = g.kinds.get(p)
        files.append(AssetFile(path=p, rel=rel, size=st.st_size, sha256=digest, format=k.format if k else None,
                               integrity=_integrity(p, digest, prev_files.get(p)) if g.hub else None))
    sizes = {f.path: f.size for f in files}
    fmt, framework = _principal(g, sizes)
    meta = _metadata(g, fmt)
    if meta.library and framework in (None, "transformers") and meta.library != "transformers":
        framework = meta.library
    asset = Asset(id=asset_id(g.key), kind=g.kind, name=g.name, path=g.root, format=fmt, framework=framework,
                  files=tuple(files), hub=g.hub, metadata=meta, incomplete=bool(g.unreadable))
    if g.unreadable:
        # Part of the asset could not be read: its verdict can only be "incomplete" (or a finding), never
        # "clean", whatever the readable files say and whatever a previous run recorded.
        return _scanned(asset, scan) if scan is not None else asset
    reuse = (prev is not None and prev.content_hash == asset.content_hash
             and all(f.scan_status is not None for f in prev.files))
    if reuse and prev is not None:
        by_rel = {f.rel: f for f in prev.files}
        files = [replace(f, format=by_rel[f.rel].format, severity=by_rel[f.rel].severity,
                         scan_status=by_rel[f.rel].scan_status) for f in files]
        return replace(asset, files=tuple(files), findings=prev.findings, incomplete=prev.incomplete)
    if scan is None:
        return asset
    return _scanned(asset, scan)


def _scanned(asset: Asset, scan: Callable[[str], FileResult]) -> Asset:
    findings: list[Finding] = []
    files = []
    incomplete = asset.incomplete
    blobs_done: set[str] = set()
    for f in asset.files:
        real = os.path.realpath(f.path)
        if real in blobs_done:
            files.append(replace(f, scan_status="scanned"))
            continue
        blobs_done.add(real)
        res = scan(f.path)
        findings.extend(res.findings)
        incomplete = incomplete or res.status is Status.ERROR
        fmt = f.format or (res.format if res.format not in ("unknown", "other", "text", "json") else None)
        files.append(replace(f, format=fmt, severity=res.severity, scan_status=res.status.value))
    for f in files:
        if f.integrity == "mismatch":
            findings.append(_mismatch_finding(f))
    return replace(asset, files=tuple(files), findings=tuple(findings), incomplete=incomplete)


def _mismatch_finding(f: AssetFile) -> Finding:
    from mlvet.hfcache import HFR920
    from mlvet.model import Finding, Location

    return Finding(HFR920.id, HFR920.severity, f"{f.rel}: cached blob content does not match its content hash",
                   Location(f.path), evidence=f"blob {os.path.basename(os.path.realpath(f.path))}, sha256 {f.sha256}",
                   cwe=HFR920.cwe)


def inventory(paths: Sequence[str], *, store: Store | None = None, hf_cache: bool = False, scan: bool = True,
              rescan: bool = False, policy: Policy | None = None, jobs: int = 1,
              progress: ProgressFn | None = None,
              previous: tuple[InventoryRun | None, Sequence[Asset]] | None = None,
              engine: Engine | None = None, policy_digest: str | None = None,
              ) -> tuple[InventoryRun, list[Asset]]:
    """Discover, fingerprint and scan the assets under ``paths``; nothing is recorded.

    With a ``store``, file fingerprints come from its hash cache and unchanged assets keep the scan results
    of the previous run over the same roots (``previous`` when the caller already loaded that run, as
    :func:`mlvet.inventory.run_inventory` does) — only when that run used the same mlvet version and policy
    (``policy_digest``, computed when not given); the other files are looked up in the store's content-hash
    result cache, and what is left is scanned on ``engine`` (default: ``jobs`` local worker processes).
    :func:`mlvet.inventory.run_inventory` also records the run.
    """
    from mlvet.policy.digest import policy_digest as digest_of
    from mlvet.store.results import ResultCache, run_policy_digest

    started = datetime.now(timezone.utc)
    roots = resolve_roots(paths, hf_cache=hf_cache)
    counter = [0]
    groups = list(iter_groups(roots, progress=progress, counter=counter))
    prev_assets: dict[str, Asset] = {}
    cache: dict[str, tuple[int, int, int, str]] = {}
    if store is not None and previous is None:
        prev_run = store.previous_run(roots)
        loaded = store.assets_of_run(prev_run.id) if prev_run is not None and prev_run.id is not None else []
        previous = (prev_run, loaded)
    pol = policy
    if scan and pol is None:
        from mlvet.policy import default_policy

        pol = default_policy()
    results: ResultCache | None = None
    if store is not None and previous is not None:
        prev_run, prev_list = previous
        digest = policy_digest or (digest_of(pol) if pol is not None else "")
        if (prev_run is not None and prev_run.id is not None and not rescan and prev_run.tool_version == __version__
                and run_policy_digest(store, prev_run.id) == digest):
            prev_assets = {a.id: a for a in prev_list}
        cache = store.hash_cache([p for g in groups for p, _rel in g.files])  # only what may be hashed
        if pol is not None and not rescan:
            results = ResultCache(store, digest)
    fp = _Fingerprints(cache, commit=store.update_hash_cache if store is not None else None)
    try:
        assets = _build_all(groups, fp, prev_assets, pol if scan else None, jobs, progress, engine, results)
        if scan and pol is not None and any(is_remote(r) for r in roots):
            from mlvet.inventory.remote import remote_assets

            assets += remote_assets([r for r in roots if is_remote(r)], pol, jobs)
    except BaseException:  # Ctrl-C, SIGTERM, an error: the hashes computed so far still serve the next run
        with contextlib.suppress(Exception):  # never hide the interruption behind a database error
            fp.flush()
        raise
    fp.flush()
    run = InventoryRun(started_at=started, finished_at=datetime.now(timezone.utc), roots=roots,
                       tool_version=__version__, host=socket.gethostname(), files_seen=counter[0],
                       files_hashed=fp.hashed)
    return run, sorted(assets, key=lambda a: (a.path, a.id))


def _build_all(groups: list[_Group], fp: _Fingerprints, prev: dict[str, Asset], policy: Policy | None,
               jobs: int, progress: ProgressFn | None, engine: Engine | None, cache: ResultCache | None,
               ) -> list[Asset]:
    """Fingerprint every group (reusing the previous run's results where allowed), then scan the rest."""
    from mlvet.inventory.scanning import scan_assets

    assets: list[Asset] = []
    pending: list[Asset] = []
    total = len(groups)
    for i, g in enumerate(groups, 1):
        a = build_asset(g, fp, prev.get(asset_id(g.key)), None)
        if policy is not None and not _has_results(a):
            pending.append(a)
        else:
            assets.append(a)
        if progress:
            progress("assets", i, total)
    if pending and policy is not None:
        assets.extend(scan_assets(pending, policy, jobs=jobs, engine=engine, cache=cache, progress=progress))
    return assets


def _has_results(a: Asset) -> bool:
    return bool(a.files) and all(f.scan_status is not None for f in a.files)
