"""The issue-9 corpus: ecosystem files, rebuilt published bypasses, and the issue-9 pickle fixtures.

Three sources, each read from the repository (``tests/...``) or from the first checkout in
``$MLVET_BENCH_REPO`` that holds it (see ``corpus.repo_roots``):

- ``tests/assets/ecosystem/`` with ``manifest.json``: files written by ~40 ML libraries' own save
  functions.  Entries of kind ``data`` carry no code and are the benign set (source
  ``ecosystem-data``); entries of kind ``code`` really carry code (a Keras Lambda, a cloudpickled
  function, a torch.fx GraphModule...) and are reported apart as the gray set (``ecosystem-code``):
  flagging them is right, but they are not attacks either.
- ``tests/corpus/build_advisories.py`` (``build_all()``): published scanner bypasses and loader
  CVEs rebuilt byte by byte; all malicious (``advisories``), labelled by the mlvet component that
  owns the fix.  Each sample is written as ``advisories/<name>/<filename>`` like the builder's
  own ``write_all``.
- ``tests/assets/pickles/`` with ``MANIFEST.json``: issue 9's pickle fixtures, ``benign/...`` and
  ``attack/...`` (``issue9-pickles``).

Everything is copied (or written) into the corpus cache, so every tool scans the same bytes even
if the repository changes during a long run, and every file carries its SHA-256 so results saved
by an earlier run are only reused for identical bytes.

Folder-shaped models (DCP folders, ``save_pretrained`` folders, Trainer checkpoints) are judged by
mlvet through a folder scan (``scan_root``: the whole ecosystem folder, as its acceptance test
``tests/integration/test_ecosystem_corpus.py`` scans it; the fixture's own folder for the pickles);
the peers get each file on its own.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from collections import defaultdict
from pathlib import Path

from corpus import (
    ADVISORIES_REL,
    ECOSYSTEM_REL,
    PICKLES_REL,
    CorpusFile,
    Kind,
    _sha256,
    corpus_dir,
    find_in_repos,
    repo_roots,
)


def _copy_tree(src: Path, dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(src, dest, symlinks=True)


def _round_robin(groups: dict[str, list[CorpusFile]]) -> list[CorpusFile]:
    """Interleave groups, so a run stopped early has still covered every library a little."""
    out: list[CorpusFile] = []
    queues = [list(v) for _, v in sorted(groups.items())]
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def ecosystem_files(root: Path | None = None) -> tuple[list[CorpusFile], str]:
    """Benign (``data``) and gray (``code``) files of the ecosystem corpus, interleaved by library."""
    src = find_in_repos(ECOSYSTEM_REL)
    if src is None or not (src / "manifest.json").is_file():
        return [], f"MISSING: {ECOSYSTEM_REL}/manifest.json in {', '.join(map(str, repo_roots()))}"
    dest = (root or corpus_dir()) / "ecosystem"
    _copy_tree(src, dest)
    manifest = json.loads((dest / "manifest.json").read_text(encoding="utf-8"))
    groups: dict[str, list[CorpusFile]] = defaultdict(list)
    counts = {"data": 0, "code": 0}
    for entry in manifest["files"]:
        rel = str(entry["path"])
        path = dest / rel
        if not path.is_file():
            continue
        top = rel.split("/", 1)[0]
        code = entry.get("kind") == "code"
        counts["code" if code else "data"] += 1
        groups[top].append(
            CorpusFile(
                path,
                "gray" if code else "benign",
                str(entry.get("library") or top),
                rel,
                False,
                "ecosystem-code" if code else "ecosystem-data",
                str(dest),
                _sha256(path),
            )
        )
    files = _round_robin(groups)
    note = f"{counts['data']} data + {counts['code']} code files from {src} ({len(groups)} library folders)"
    return files, note


def _load_advisory_builder(path: Path) -> object:
    """Import build_advisories.py by path; its section modules sit next to it."""
    spec = importlib.util.spec_from_file_location("mlvet_bench_build_advisories", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    here = str(path.parent)
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        spec.loader.exec_module(module)
    finally:
        if added and here in sys.path:
            sys.path.remove(here)
    return module


def advisory_files(root: Path | None = None) -> tuple[list[CorpusFile], str]:
    """Every rebuilt published bypass, written as ``advisories/<name>/<filename>``."""
    src = find_in_repos(ADVISORIES_REL)
    if src is None:
        return [], f"MISSING: {ADVISORIES_REL} in {', '.join(map(str, repo_roots()))}"
    dest = (root or corpus_dir()) / "advisories"
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    builder = _load_advisory_builder(src)
    files: list[CorpusFile] = []
    for adv in builder.build_all():  # type: ignore[attr-defined]
        folder = dest / str(adv.name)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / Path(str(adv.filename)).name
        path.write_bytes(bytes(adv.data))
        files.append(
            CorpusFile(
                path, "malicious", f"advisory:{adv.component}", str(adv.name), False, "advisories", "", _sha256(path)
            )
        )
    return files, f"{len(files)} samples from {src}"


def issue9_pickle_files(root: Path | None = None) -> tuple[list[CorpusFile], str]:
    """The issue-9 pickle fixtures: ``benign/<group>/...`` and ``attack/...``."""
    src = find_in_repos(PICKLES_REL)
    if src is None or not (src / "MANIFEST.json").is_file():
        return [], f"MISSING: {PICKLES_REL}/MANIFEST.json in {', '.join(map(str, repo_roots()))}"
    dest = (root or corpus_dir()) / "pickles"
    _copy_tree(src, dest)
    manifest = json.loads((dest / "MANIFEST.json").read_text(encoding="utf-8"))
    files: list[CorpusFile] = []
    for entry in manifest["files"]:
        rel = str(entry if isinstance(entry, str) else entry.get("path", ""))
        path = dest / rel
        if not rel or not path.is_file():
            continue
        parts = rel.split("/")
        kind: Kind = "malicious" if parts[0] == "attack" else "benign"
        label = f"issue9:{parts[0]}:{parts[1]}" if len(parts) > 2 else f"issue9:{parts[0]}"
        files.append(CorpusFile(path, kind, label, rel, False, "issue9-pickles", str(path.parent), _sha256(path)))
    n_mal = sum(f.kind == "malicious" for f in files)
    return files, f"{n_mal} attack + {len(files) - n_mal} benign files from {src}"


def new_corpus(root: Path | None = None) -> tuple[list[CorpusFile], list[str]]:
    """All three issue-9 sources, small and decisive first (pickles, advisories, then ecosystem)."""
    files: list[CorpusFile] = []
    notes: list[str] = []
    for name, build in (
        ("issue9-pickles", issue9_pickle_files),
        ("advisories", advisory_files),
        ("ecosystem", ecosystem_files),
    ):
        got, note = build(root)
        files += got
        notes.append(f"{name}: {note}")
    return files, notes


if __name__ == "__main__":  # python benchmarks/corpus_issue9.py: build and summarise
    built, built_notes = new_corpus()
    print("\n".join(built_notes))
    print(f"{len(built)} files")
