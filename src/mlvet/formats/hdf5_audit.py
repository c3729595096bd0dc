"""HDF5 structure audit: what libhdf5 would read from *outside* the file, or allocate, or unpickle.

An HDF5 file is not only datasets of numbers. A dataset's bytes can live in *external storage* (raw
files named in the dataset's creation properties), a link can be an *external link* into another HDF5
file, and a *virtual dataset* maps regions of datasets in other files. Reading the weights then reads
those host files into the model (Keras ``load_model`` on ``model.weights.h5`` or a legacy ``.h5``:
CVE-2026-1669 and its ExternalLink / virtual-dataset variants). A dataset can also declare a shape far
larger than what is stored, which the loader allocates in full (a memory bomb), and PyTables stores
``ObjectAtom`` rows of a ``VLArray`` as pickles that ``tables`` / ``pandas.read_hdf`` unpickle on read.

This module walks the link tree with h5py without following external or soft links and without
reading any dataset except the bounded object-atom rows, and returns what it saw as data; the handler
in :mod:`mlvet.formats.hdf5` reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: Links visited before the audit stops (and the file becomes an error: not fully audited).
MAX_LINKS = 200_000
#: A dataset declaring at least this many bytes while storing less than 1/RATIO of it is a bomb.
BOMB_BYTES = 4 << 30
BOMB_RATIO = 1000
#: PyTables object-atom rows read (each bounded) per dataset, and datasets read per file.
MAX_OBJECT_ROWS = 64
MAX_OBJECT_DATASETS = 16
MAX_ROW_BYTES = 16 << 20
#: Object-atom rows are read only from files up to this size (a row can be as large as the file).
MAX_OBJECT_FILE_BYTES = 1 << 30


@dataclass(frozen=True)
class Hdf5Issue:
    """One reference outside the file or one allocation bomb: kind, where, and what it names."""

    kind: str  # "external-storage" | "external-link" | "virtual-dataset" | "declared-size"
    where: str
    detail: str


@dataclass
class Hdf5Audit:
    """What the walk saw; ``incomplete`` is set when a limit stopped it (the caller must fail closed)."""

    issues: list[Hdf5Issue] = field(default_factory=list)
    pickled_rows: list[tuple[str, bytes]] = field(default_factory=list)
    links: int = 0
    incomplete: str = ""


def audit_hdf5(f: Any) -> Hdf5Audit:
    """Walk an open ``h5py.File``: links by kind, dataset storage, declared sizes, object-atom rows."""
    import h5py  # optional extra; the caller has imported it already

    out = Hdf5Audit()
    seen: set[Any] = {f.id}
    stack: list[tuple[Any, str]] = [(f, "")]
    object_datasets = 0
    while stack:
        group, prefix = stack.pop()
        for name in group:
            out.links += 1
            if out.links > MAX_LINKS:
                out.incomplete = f"more than {MAX_LINKS} links; the structure was not fully audited"
                return out
            where = f"{prefix}/{name}"
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                out.issues.append(Hdf5Issue("external-link", where, f"{link.filename}:{link.path}"))
                continue
            if not isinstance(link, h5py.HardLink):
                continue  # soft links resolve inside this file (their targets are walked as hard links)
            obj = group.get(name)
            if obj is None or obj.id in seen:
                continue
            seen.add(obj.id)
            if isinstance(obj, h5py.Group):
                stack.append((obj, where))
            elif isinstance(obj, h5py.Dataset):
                _dataset(obj, where, out)
                if object_datasets < MAX_OBJECT_DATASETS and _is_object_atom(obj):
                    object_datasets += 1
                    _object_rows(obj, where, out)
    return out


def _dataset(d: Any, where: str, out: Hdf5Audit) -> None:
    import h5py

    plist = d.id.get_create_plist()
    for i in range(min(plist.get_external_count(), 64)):
        name, offset, size = plist.get_external(i)
        out.issues.append(Hdf5Issue("external-storage", where, f"{_text(name)} (offset {offset}, {size} bytes)"))
    layout = plist.get_layout()
    if layout == h5py.h5d.VIRTUAL:
        for i in range(min(plist.get_virtual_count(), 64)):
            source = _text(plist.get_virtual_filename(i))
            if source != ".":  # "." maps another dataset of this same file
                out.issues.append(Hdf5Issue("virtual-dataset", where,
                                            f"{source}:{_text(plist.get_virtual_dsetname(i))}"))
        return
    if plist.get_external_count():
        return
    declared = d.dtype.itemsize
    for n in d.shape or ():
        declared *= int(n)
    stored = d.id.get_storage_size()
    if declared >= BOMB_BYTES and stored * BOMB_RATIO < declared:
        out.issues.append(Hdf5Issue("declared-size", where, f"shape {tuple(d.shape)} of {d.dtype} declares "
                                    f"{declared} bytes, {stored} stored"))


def _is_object_atom(d: Any) -> bool:
    """PyTables VLArray of pickles: ``PSEUDOATOM = 'object'`` on a variable-length uint8 dataset."""
    atom = d.attrs.get("PSEUDOATOM")
    return _text(atom) == "object" if atom is not None else False


def _object_rows(d: Any, where: str, out: Hdf5Audit) -> None:
    if d.file.id.get_filesize() > MAX_OBJECT_FILE_BYTES:
        out.incomplete = f"{where}: object-atom rows in a file over {MAX_OBJECT_FILE_BYTES} bytes were not read"
        return
    rows = min(int(d.shape[0]) if d.shape else 0, MAX_OBJECT_ROWS)
    for i in range(rows):
        row = d[i]
        data = bytes(getattr(row, "tobytes", lambda: b"")())[:MAX_ROW_BYTES]
        out.pickled_rows.append((f"{where}[{i}]", data))
    if d.shape and int(d.shape[0]) > MAX_OBJECT_ROWS:
        out.incomplete = f"{where}: more than {MAX_OBJECT_ROWS} object-atom rows; the rest was not analysed"


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    getter = getattr(value, "tobytes", None)
    if getter is not None and getattr(value, "dtype", None) is not None and value.dtype.kind == "S":
        return bytes(getter()).rstrip(b"\0").decode("utf-8", "replace")
    return str(value)
