"""Datasets: ``datasets`` library folders (``dataset_dict.json``, ``dataset_info.json``) and parquet footers
(row counts and top-level columns from the Thrift-encoded file metadata; row data is never read)."""

from __future__ import annotations

import os

from mlvet.inventory.metadata._common import (
    MAX_LIST_ITEMS,
    MAX_PARQUET_FILES,
    MAX_PARQUET_FOOTER_BYTES,
    _Collector,
    _read_json,
    _strings,
)


def _dataset_dict(c: _Collector, path: str) -> None:
    doc = _read_json(path)
    if isinstance(doc, dict):
        splits = _strings(doc.get("splits"))
        if splits:
            c.note("splits", ", ".join(splits))
            c.set("library", "datasets")


def _dataset_info(c: _Collector, path: str) -> None:
    """``datasets``' ``dataset_info.json`` (``save_to_disk``): features, license, split sizes."""
    doc = _read_json(path)
    if not isinstance(doc, dict):
        return
    c.set("library", "datasets")
    lic = doc.get("license")
    if isinstance(lic, str):
        c.set("license", lic)
    feats = doc.get("features")
    if isinstance(feats, dict) and feats:
        c.note("features", ", ".join(str(k) for k in list(feats)[:MAX_LIST_ITEMS]))
    splits = doc.get("splits")
    if isinstance(splits, dict):
        counts = [s.get("num_examples") for s in splits.values() if isinstance(s, dict)]
        if counts and all(isinstance(n, int) for n in counts):
            c.note("num_rows", sum(counts))


def _parquet(c: _Collector, paths: list[str]) -> None:
    """Row count summed over the files' footers; columns from the first file's schema.

    Past :data:`MAX_PARQUET_FILES` files only the first is read, for its columns: a partial row count
    would be a wrong one.
    """
    rows = 0
    columns: list[str] | None = None
    complete = len(paths) <= MAX_PARQUET_FILES
    for path in paths if complete else paths[:1]:
        footer = _parquet_footer(path)
        if footer is None:
            return
        n, cols = footer
        rows += n
        if columns is None:
            columns = cols
    if complete:
        c.note("num_rows", rows)
    if columns is not None:
        c.note("num_columns", len(columns))
        c.note("columns", ", ".join(columns[:MAX_LIST_ITEMS]))


def _parquet_footer(path: str) -> tuple[int, list[str]] | None:
    """``FileMetaData``'s ``num_rows`` and top-level column names (Thrift compact protocol)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size < 12:
            return None
        f.seek(size - 8)
        tail = f.read(8)
        if tail[4:] != b"PAR1":
            return None
        n = int.from_bytes(tail[:4], "little")
        if n > size - 12:
            return None
        f.seek(size - 8 - n)
        data = f.read(min(n, MAX_PARQUET_FOOTER_BYTES))
    return _ThriftFooter(data).parse()


class _ThriftFooter:
    """Just enough of the Thrift compact protocol for ``FileMetaData`` fields 2 (schema) and 3 (num_rows).

    Writers emit fields in id order, so both come before the row groups; reading stops after field 3 and
    a footer cut at the read cap still yields them.
    """

    def __init__(self, data: bytes) -> None:
        self.d = data
        self.p = 0

    def byte(self) -> int:
        b = self.d[self.p]  # IndexError past the end: caught as "no result"
        self.p += 1
        return b

    def varint(self) -> int:
        value = shift = 0
        while True:
            b = self.byte()
            value |= (b & 0x7F) << shift
            if not b & 0x80:
                return value
            shift += 7
            if shift > 70:
                raise ValueError("varint too long")

    def zigzag(self) -> int:
        v = self.varint()
        return (v >> 1) ^ -(v & 1)

    def field_header(self, last: int) -> tuple[int, int] | None:
        b = self.byte()
        if b == 0:
            return None
        ftype = b & 0x0F
        delta = b >> 4
        fid = last + delta if delta else self.zigzag()
        return fid, ftype

    def skip(self, ftype: int, depth: int = 0) -> None:
        if depth > 32:
            raise ValueError("nesting too deep")
        if ftype in (1, 2):  # bool true/false in the header
            return
        if ftype == 3:
            self.p += 1
        elif ftype in (4, 5, 6):
            self.varint()
        elif ftype == 7:
            self.p += 8
        elif ftype == 8:
            n = self.varint()
            self.p += n
        elif ftype in (9, 10):
            size, etype = self.list_header()
            for _ in range(size):
                self.element(etype, depth + 1)
        elif ftype == 11:
            size = self.varint()
            if size > len(self.d):
                raise ValueError("map larger than the footer")
            if size:
                kv = self.byte()
                for _ in range(size):
                    self.element(kv >> 4, depth + 1)
                    self.element(kv & 0x0F, depth + 1)
        elif ftype == 12:
            last = 0
            while (h := self.field_header(last)) is not None:
                last = h[0]
                self.skip(h[1], depth + 1)
        else:
            raise ValueError(f"thrift type {ftype}")
        if self.p > len(self.d):
            raise IndexError("past end")

    def element(self, etype: int, depth: int) -> None:
        """One list/map element: a bool is a whole byte there (in a field header it is the type)."""
        if etype in (1, 2):
            self.byte()
        else:
            self.skip(etype, depth)

    def list_header(self) -> tuple[int, int]:
        b = self.byte()
        size = b >> 4
        if size == 15:
            size = self.varint()
        if size > len(self.d):
            raise ValueError("list larger than the footer")
        return size, b & 0x0F

    def parse(self) -> tuple[int, list[str]] | None:
        try:
            rows: int | None = None
            schema: list[tuple[str, int]] = []  # (name, num_children)
            last = 0
            while (h := self.field_header(last)) is not None:
                fid, ftype = h
                last = fid
                if fid == 2 and ftype == 9:
                    size, _ = self.list_header()
                    for _ in range(size):
                        schema.append(self.schema_element())
                elif fid == 3 and ftype == 6:
                    rows = self.zigzag()
                    break
                else:
                    self.skip(ftype)
        except (IndexError, ValueError):
            return None
        if rows is None or rows < 0 or not schema:
            return None
        return rows, _top_level(schema)

    def schema_element(self) -> tuple[str, int]:
        name = ""
        children = 0
        last = 0
        while (h := self.field_header(last)) is not None:
            fid, ftype = h
            last = fid
            if fid == 4 and ftype == 8:
                n = self.varint()
                name = self.d[self.p : self.p + n].decode("utf-8", "replace")
                self.p += n
            elif fid == 5 and ftype == 5:
                children = self.zigzag()
            else:
                self.skip(ftype)
        return name, children


def _top_level(schema: list[tuple[str, int]]) -> list[str]:
    """Names of the root's direct children in the depth-first flattened schema."""
    out: list[str] = []
    i = 1
    n_top = schema[0][1]
    for _ in range(max(0, n_top)):
        if i >= len(schema):
            break
        out.append(schema[i][0])
        # skip the subtree of this child
        pending = 1
        while pending and i < len(schema):
            pending += max(0, schema[i][1]) - 1
            i += 1
    return out
