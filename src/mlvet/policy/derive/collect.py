"""Summarise every module of every pinned library, in parallel, with an on-disk cache per pinned library.

Parsing ~150 MB of library source is the slow part of a derivation, and its result depends only on the
pinned source, the interpreter's ``ast`` and ``summarise.py``: so the summaries of one library are cached as
gzipped JSON keyed by all three. A warm cache makes re-derivation (the CI audit test) a matter of seconds.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import zipfile
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlvet.policy.derive import summarise as summarise_mod
from mlvet.policy.derive.sources import Source, read_text
from mlvet.policy.derive.summarise import Summary, summarise

_BATCH = 120


@dataclass
class Library:
    name: str
    version: str
    origin: str
    modules: dict[str, Summary]
    #: Modules whose source does not parse under this interpreter (e.g. syntax of a newer Python): their
    #: names are not derived (they stay in the policy's unknown tier), and the tool says so.
    skipped: dict[str, str] = field(default_factory=dict)


def _tool_hash() -> str:
    text = Path(summarise_mod.__file__).read_bytes()
    return hashlib.sha256(text + sys.version.encode()).hexdigest()[:12]


def _work(container: str, batch: list[tuple[str, bool, str]]) -> tuple[list[Summary], dict[str, str]]:
    out: list[Summary] = []
    skipped: dict[str, str] = {}
    zf = zipfile.ZipFile(container) if container else None
    try:
        for module, is_pkg, member in batch:
            try:
                out.append(summarise(read_text(container, member, zf), module, is_pkg, member))
            except (SyntaxError, ValueError, OSError, RecursionError) as exc:
                skipped[module] = f"{type(exc).__name__}: {exc}"[:200]
    finally:
        if zf is not None:
            zf.close()
    return out, skipped


def _cache_file(cache: Path, src: Source) -> Path:
    return cache / "summaries" / f"{src.pin.library}-{src.pin.version}-{_tool_hash()}.json.gz"


def collect(srcs: Iterable[Source], cache: Path, jobs: int = 2,
            log: Callable[[str], None] = lambda _m: None) -> list[Library]:
    """One :class:`Library` per source, from the summary cache when it holds this exact pin."""
    libs: list[Library] = []
    pending: list[tuple[Source, list[Any]]] = []
    order: dict[str, int] = {}
    pool = ProcessPoolExecutor(max_workers=jobs) if jobs > 1 else None
    try:
        for src in srcs:
            order[src.pin.library] = len(order)
            cached = _cache_file(cache, src)
            if cached.is_file():
                try:
                    data = json.loads(gzip.decompress(cached.read_bytes()))
                    libs.append(Library(src.pin.library, src.pin.version, src.origin, data["modules"],
                                        data["skipped"]))
                    log(f"{src.pin.library}=={src.pin.version}: {len(data['modules'])} modules (cached)")
                    continue
                except (OSError, ValueError, KeyError):
                    pass
            files = list(src.files)
            batches = [files[i:i + _BATCH] for i in range(0, len(files), _BATCH)]
            if pool is None:
                futures: list[Any] = [_work(src.container, b) for b in batches]
            else:
                futures = [pool.submit(_work, src.container, b) for b in batches]
            pending.append((src, futures))
        for src, futures in pending:
            modules: dict[str, Summary] = {}
            skipped: dict[str, str] = {}
            for fut in futures:
                got, skip = fut if isinstance(fut, tuple) else fut.result()
                for summ in got:
                    modules.setdefault(summ["name"], summ)
                skipped.update(skip)
            lib = Library(src.pin.library, src.pin.version, src.origin, modules, skipped)
            libs.append(lib)
            log(f"{src.pin.library}=={src.pin.version}: {len(modules)} modules from {src.origin}"
                + (f", {len(skipped)} do not parse" if skipped else ""))
            target = _cache_file(cache, src)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_suffix(f".{os.getpid()}.tmp")  # concurrent derivations never share a temp file
            tmp.write_bytes(gzip.compress(json.dumps({"modules": modules, "skipped": skipped}).encode(), 5))
            tmp.replace(target)
    finally:
        if pool is not None:
            pool.shutdown()
    return sorted(libs, key=lambda lib: order[lib.name])
