"""URL-list tables (parquet, CSV, TSV, JSONL): rows, their digests, URL/hash/key columns, local content.

A table is a URL list when it has a URL column (``url``, ``URL``, ``image_url``, ``img_url``, ``link``,
``uri`` or ``--url-column``). img2dataset (and the LAION/COYO indexes it downloads) writes, per shard
``NNNNN``: ``NNNNN.parquet`` (one row per URL with ``key``, ``status`` and, with ``--compute_hash``, a
``sha256``/``md5``/``sha512`` column of the downloaded bytes), and the content either as files
``NNNNN/<key>.jpg`` (+ ``.json``/``.txt`` sidecars) or as members of ``NNNNN.tar``. :func:`content_index`
maps each row's key to that content so a lock can record its hash and a verification can compare it with
the index's own hash column.

Tables are read as data only, in bounded batches: parquet through pyarrow (pandas metadata is never
interpreted), CSV/TSV through :mod:`csv`, JSONL a line at a time with a line-length cap.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
from collections.abc import Iterator
from typing import Any

from mlvet.errors import UsageError

__all__ = ["HASH_COLUMNS", "MEDIA_EXTENSIONS", "content_index", "detect_column", "is_table", "iter_rows",
           "read_columns", "row_digest", "url_column_of"]

URL_COLUMNS = ("url", "URL", "image_url", "img_url", "link", "uri", "download_url")
#: img2dataset names the hash column after the hash type (``--compute_hash``).
HASH_COLUMNS = ("sha256", "md5", "sha512")
KEY_COLUMNS = ("key", "id", "uid")
MEDIA_EXTENSIONS = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff", ".avif", ".mp4", ".webm",
                    ".mkv", ".mp3", ".wav", ".flac", ".m4a", ".ogg", ".opus")
_TABLE_EXTENSIONS = (".parquet", ".csv", ".tsv", ".jsonl", ".ndjson")
#: A JSONL line (or CSV field) longer than this is a malformed table, not a row.
MAX_LINE = 16 << 20
_BATCH = 4096


def is_table(rel: str) -> bool:
    """Whether ``rel`` has a table extension this module reads."""
    return rel.lower().endswith(_TABLE_EXTENSIONS)


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise UsageError("reading parquet tables needs pyarrow, which is not installed: "
                         "pip install 'mlvet[data]'") from None
    return pq


def read_columns(path: str) -> list[str]:
    """Column names of a table (the first JSONL object's keys; the CSV/TSV header)."""
    lower = path.lower()
    if lower.endswith(".parquet"):
        return [str(name) for name in _pyarrow_parquet().ParquetFile(path).schema_arrow.names]
    for row in iter_rows(path):
        return list(row)
    return []


def detect_column(columns: list[str], candidates: tuple[str, ...]) -> str | None:
    """The first of ``candidates`` present in ``columns``."""
    present = set(columns)
    return next((c for c in candidates if c in present), None)


def url_column_of(path: str, wanted: str | None = None) -> str | None:
    """The URL column of a table: ``wanted`` if given (a usage error when absent), else a known name."""
    columns = read_columns(path)
    if wanted is not None:
        if wanted not in columns:
            raise UsageError(f"{path}: no column {wanted!r} (columns: {', '.join(columns[:20])})")
        return wanted
    return detect_column(columns, URL_COLUMNS)


def iter_rows(path: str) -> Iterator[dict[str, Any]]:
    """The rows of a table as dicts, streamed (parquet in batches, text formats a line at a time)."""
    lower = path.lower()
    if lower.endswith(".parquet"):
        pf = _pyarrow_parquet().ParquetFile(path)
        for batch in pf.iter_batches(batch_size=_BATCH):
            yield from batch.to_pylist()
    elif lower.endswith((".jsonl", ".ndjson")):
        with open(path, "rb") as fh:
            for number, line in enumerate(iter(lambda: fh.readline(MAX_LINE + 1), b""), 1):
                if len(line) > MAX_LINE:
                    raise ValueError(f"line {number} is longer than {MAX_LINE} bytes")
                if not line.strip():
                    continue
                obj = json.loads(line)
                if not isinstance(obj, dict):
                    raise ValueError(f"line {number} is not a JSON object")
                yield obj
    else:
        csv.field_size_limit(MAX_LINE)
        delimiter = "\t" if lower.endswith(".tsv") else ","
        with open(path, encoding="utf-8", newline="") as fh:
            yield from csv.DictReader(fh, delimiter=delimiter)


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": repr(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return {"$" + type(value).__name__: str(value)}  # dates, decimals: their text form


def row_digest(row: dict[str, Any]) -> str:
    """SHA-256 of the row's canonical JSON (column order and storage format do not matter, values do)."""
    text = json.dumps(_plain(row), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def content_index(rels: list[str], members: dict[str, list[str]]) -> dict[tuple[str, str], str]:
    """``(shard, key) -> content path`` for media files ``shard/key.ext`` and tar members ``key.ext``.

    ``shard`` is the folder (or tar name) without extension, relative to the dataset root; content inside a
    tar is named ``shard.tar!/member``.
    """
    index: dict[tuple[str, str], str] = {}
    for rel in rels:
        stem, ext = os.path.splitext(rel)
        if ext.lower() in MEDIA_EXTENSIONS:
            folder, key = stem.rsplit("/", 1) if "/" in stem else ("", stem)
            index.setdefault((folder, key), rel)
    for tar, names in members.items():
        shard = tar.split(".tar", 1)[0]
        for name in names:
            stem, ext = os.path.splitext(name)
            if ext.lower() in MEDIA_EXTENSIONS:
                index.setdefault((shard, stem.rsplit("/", 1)[-1]), f"{tar}!/{name}")
    return index


def shard_of(table_rel: str) -> str:
    """The shard name of a table: ``00000.parquet`` -> ``00000`` (relative folder kept)."""
    return os.path.splitext(table_rel)[0]


def hash_text(value: Any) -> str | None:
    """A hash column's value as lowercase hex, or None when the row has none."""
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.hex()
    text = str(value).strip().lower()
    return text or None
