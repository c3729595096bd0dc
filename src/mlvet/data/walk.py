"""Which files a dataset is made of, and what layout it has.

A dataset is a file or a folder. Folders are walked in sorted order; every regular file is part of the
dataset except version-control metadata (``.git/``) and mlvet's own lock and journal files. Layouts that
need more than a walk:

* **Hugging Face cache** (``datasets--org--name`` with ``snapshots/`` and ``refs/``): the snapshot that
  ``refs/main`` names (or the only one) is the dataset; its symlinks into ``blobs/`` are followed.
* **Symbolic links** are followed only when they stay inside the dataset (or the cache repository);
  a link that leaves it is an error unless ``allow_symlinks``: a lock must not silently cover files that
  someone else controls.

The layout name recorded in the lock (``img2dataset``, ``hf-save-to-disk``, ``hf-cache``, ``hf-repo``,
``webdataset``, ``folder``, ``file``) documents what was locked; verification does not depend on it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass

from mlvet.errors import UsageError

__all__ = ["Dataset", "DatasetFile", "open_dataset"]

_SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", ".mlvet"}
_LOCK_SUFFIXES = (".mlvet-journal", ".partial")
_SHARD_RE = re.compile(r"^\d{5,}\.(parquet|tar)$")


@dataclass(frozen=True)
class DatasetFile:
    """A file of the dataset: where it is, its path relative to the root, size and mtime (for resuming)."""

    path: str
    rel: str
    size: int
    mtime_ns: int


@dataclass
class Dataset:
    """A dataset root: the folder (or file) files are relative to, the files' base and the layout."""

    root: str
    base: str
    layout: str
    allow_symlinks: bool = False
    single_file: bool = False
    #: Absolute paths left out of the walk (the lock file and its journal when written inside the dataset).
    exclude: frozenset[str] = frozenset()

    def files(self, errors: list[str]) -> Iterator[DatasetFile]:
        """Every file, sorted by relative path; unreadable folders and escaping links go to ``errors``."""
        if self.single_file:
            st = os.stat(self.root)
            yield DatasetFile(self.root, os.path.basename(self.root), st.st_size, st.st_mtime_ns)
            return
        fence = os.path.realpath(self.base)
        yield from self._walk(self.root, "", fence, errors, set())

    def _walk(self, folder: str, prefix: str, fence: str, errors: list[str], seen: set[str]) -> Iterator[DatasetFile]:
        real = os.path.realpath(folder)
        if real in seen:  # a link cycle
            errors.append(f"{prefix or '.'}: symbolic link loop")
            return
        seen = seen | {real}
        try:
            names = sorted(os.listdir(folder))
        except OSError as exc:
            errors.append(f"{prefix or '.'}: {exc.strerror or exc}")
            return
        for name in names:
            path = os.path.join(folder, name)
            rel = f"{prefix}{name}"
            if name.endswith(_LOCK_SUFFIXES) or os.path.abspath(path) in self.exclude:
                continue
            try:
                if os.path.islink(path):
                    target = os.path.realpath(path)
                    inside = target == fence or target.startswith(fence + os.sep)
                    if not inside and not self.allow_symlinks:
                        errors.append(f"{rel}: symbolic link to {target}, outside the dataset (use --allow-symlinks)")
                        continue
                st = os.stat(path)
            except OSError as exc:
                errors.append(f"{rel}: {exc.strerror or exc}")
                continue
            if os.path.isdir(path):
                if name not in _SKIP_DIRS:
                    yield from self._walk(path, rel + "/", fence, errors, seen)
            elif os.path.isfile(path):
                yield DatasetFile(path, rel, st.st_size, st.st_mtime_ns)


def _hf_snapshot(repo: str) -> str | None:
    snapshots = os.path.join(repo, "snapshots")
    if not (os.path.isdir(snapshots) and os.path.isdir(os.path.join(repo, "blobs"))):
        return None
    try:
        with open(os.path.join(repo, "refs", "main"), encoding="ascii") as fh:
            commit = fh.read(100).strip()
        if re.fullmatch(r"[0-9a-f]{40}", commit) and os.path.isdir(os.path.join(snapshots, commit)):
            return os.path.join(snapshots, commit)
    except (OSError, UnicodeDecodeError):
        pass
    revisions = sorted(os.listdir(snapshots))
    if len(revisions) == 1:
        return os.path.join(snapshots, revisions[0])
    raise UsageError(f"{repo}: a Hugging Face cache with {len(revisions)} snapshots and no refs/main: "
                     "lock one snapshot folder instead")


def _layout(root: str) -> str:
    try:
        names = set(os.listdir(root))
    except OSError:
        return "folder"
    if "state.json" in names and "dataset_info.json" in names:
        return "hf-save-to-disk"
    if any(n.endswith("_stats.json") for n in names) and any(_SHARD_RE.match(n) for n in names):
        return "img2dataset"
    if names and all(n.endswith((".tar", ".tar.gz", ".tgz")) or n.startswith(".") for n in names):
        return "webdataset"
    if "README.md" in names and (".gitattributes" in names or "data" in names):
        return "hf-repo"
    return "folder"


def open_dataset(path: str, *, allow_symlinks: bool = False, exclude: tuple[str, ...] = ()) -> Dataset:
    """The dataset at ``path`` (a file, a folder, or a Hugging Face cache repository folder)."""
    dataset = _open(path, allow_symlinks)
    dataset.exclude = frozenset(os.path.abspath(p) for p in exclude)
    return dataset


def _open(path: str, allow_symlinks: bool) -> Dataset:
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such file or folder")
    if os.path.isfile(path):
        return Dataset(path, os.path.dirname(os.path.abspath(path)), "file", allow_symlinks, single_file=True)
    if not os.path.isdir(path):
        raise UsageError(f"{path}: not a file or folder")
    snapshot = _hf_snapshot(path)
    if snapshot is not None:
        return Dataset(snapshot, path, "hf-cache", allow_symlinks)
    return Dataset(path, path, _layout(path), allow_symlinks)
