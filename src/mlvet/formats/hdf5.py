"""HDF5 files (``.h5``/``.hdf5``): legacy Keras models and weights-only files.

Only the root attributes Keras reads (``model_config``, ``training_config``) are read, through h5py
(the optional ``mlvet[hdf5]`` extra), and the link / storage structure is audited
(:mod:`mlvet.formats.hdf5_audit`: external storage, external links, virtual datasets, declared-size
bombs, PyTables pickled rows); weights are never read. libhdf5 finds its superblock after a
user block and ignores bytes past the recorded end, so the same file can be a pickle, zip or tar for
another loader (a polyglot): such files are also dispatched to the other formats, and trailing bytes
are content-scanned.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from typing import Any, BinaryIO

from mlvet.analysis.keras_config import MAX_CONFIG_BYTES
from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.formats.base import Probe, ScanContext, Window
from mlvet.formats.hdf5_audit import Hdf5Audit, audit_hdf5
from mlvet.formats.keras_report import analyse_config_bytes
from mlvet.model import Severity
from mlvet.rules import ARC301, define_rule

KER407 = define_rule(
    "KER407", "hdf5-external-reference", Severity.HIGH,
    "An HDF5 dataset or link reads data from outside the file: external storage (raw host files), an "
    "external link into another HDF5 file, or a virtual dataset mapping other files.",
    "Loading the weights (Keras load_model on model.weights.h5 or a legacy .h5, h5py, PyTables) reads "
    "those host files into the model, where outputs or a re-save leak them (CVE-2026-1669 and its "
    "ExternalLink / virtual-dataset variants); Keras writes none of these.",
    "Do not load the file; weights must be stored inside it.",
    73,
)
KER408 = define_rule(
    "KER408", "hdf5-allocation-bomb", Severity.HIGH,
    "An HDF5 dataset declares a size (gigabytes) far beyond the bytes it stores.",
    "Loaders allocate the declared shape before reading, so a tiny file exhausts memory and kills the "
    "process that loads it (Keras weight loading, CVE-2026-0897 class).",
    "Do not load the file; re-export the weights from their source.",
    400,
)
KER409 = define_rule(
    "KER409", "hdf5-pickled-objects", Severity.LOW,
    "The HDF5 file holds PyTables object-atom rows: pickles that tables / pandas.read_hdf unpickle on "
    "read (pandas' fixed format writes them for object columns). Each row is analysed as a pickle and "
    "ranked by what it calls.",
    "Unpickling runs whatever the pickle calls; a data file read with pandas.read_hdf then runs code.",
    "Load such files only from trusted sources; store data in a format without pickles.",
    502,
)
_ISSUE_RULES = {"external-storage": KER407, "external-link": KER407, "virtual-dataset": KER407,
                "declared-size": KER408}
_ISSUE_TEXT = {
    "external-storage": "keeps its bytes in the host file",
    "external-link": "is an external link to",
    "virtual-dataset": "is a virtual dataset reading",
    "declared-size": "is an allocation bomb:",
}

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"


def find_hdf5_superblock(stream: BinaryIO, size: int, head: bytes = b"") -> int | None:
    """Offset of the HDF5 signature: 0 or 512·2ⁿ (a user block may precede it), as libhdf5 searches."""
    offset = 0
    while offset + 8 <= size:
        if offset + 8 <= len(head):
            sig = head[offset : offset + 8]
        else:
            stream.seek(offset)
            sig = stream.read(8)
        if sig == HDF5_MAGIC:
            return offset
        offset = 512 if offset == 0 else offset * 2
    return None


def _hdf5_end(stream: BinaryIO, at: int) -> int | None:
    """The absolute end of the HDF5 data recorded in the superblock (None when it cannot be read)."""
    stream.seek(at + 8)
    head = stream.read(64)
    if len(head) < 16:
        return None
    version = head[0]
    if version in (0, 1):
        size_off = head[5]
        pos = 16 + (4 if version == 1 else 0)
    elif version in (2, 3):
        size_off = head[1]
        pos = 4
    else:
        return None
    fmt = {2: "<H", 4: "<I", 8: "<Q"}.get(size_off)
    if fmt is None:
        return None
    try:
        base = struct.unpack_from(fmt, head, pos)[0]
        # v0/1: base, free-space, EOF; v2/3: base, extension, EOF.
        eof = struct.unpack_from(fmt, head, pos + 2 * size_off)[0]
    except struct.error:
        return None
    # A user block written by the library records base == the superblock offset and an EOF address
    # that counts from the start of the file; bytes prepended to a plain file leave base at 0, and
    # libhdf5 then reads every address relative to where it found the superblock.
    return int(eof) if base == at else at + int(eof)


class Hdf5Handler:
    """HDF5 files: legacy Keras models (``model_config`` root attribute) and weights-only files."""

    id = "hdf5"
    priority = 15

    def sniff(self, probe: Probe) -> bool:
        return find_hdf5_superblock(probe.stream, probe.size, probe.head) is not None

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        at = find_hdf5_superblock(stream, size)
        if at is None:  # pragma: no cover - sniff found it
            raise AnalysisError("HDF5 signature not found")
        end = _hdf5_end(stream, at)
        head_extra = at > 0 and not _blank(stream, 0, at)
        tail_extra = end is not None and at < end < size and not _blank(stream, end, size - end)
        if head_extra or tail_extra:
            # libhdf5 skips a user block and ignores bytes past the recorded end, so the same file can
            # also be a pickle, zip or tar for another loader (a polyglot): read it that way too.
            claimed = _scan_as_other_format(stream, size, ctx, self)
            if tail_extra and not claimed and end is not None:
                name = "<bytes after the HDF5 data>"
                ctx.child(name, opaque_ok=True).scan_stream(
                    Window(stream, end, size - end), size - end, name  # type: ignore[arg-type]
                )
        stream.seek(0)
        attrs, audit = read_hdf5(stream)
        _report_audit(audit, ctx)
        config = attrs.get("model_config")
        training = attrs.get("training_config")
        if config is None and training is None:
            return  # weights only: datasets of numbers, nothing Keras resolves or runs
        ctx.saw_format("keras-h5")
        for key, text in (("model_config", config), ("training_config", training)):
            if text is None:
                continue
            sub = ctx.child(key)
            try:
                analyse_config_bytes(text, sub, f"HDF5 attribute {key}", no_safe_mode=True)
            except LimitExceeded as exc:
                sub.report(ARC301, str(exc))
                sub.error(str(exc))
            except AnalysisError as exc:
                sub.error(str(exc))


def _report_audit(audit: Hdf5Audit, ctx: ScanContext) -> None:
    """Report what the structure walk found; pickled rows go through the pickle analysis."""
    for issue in audit.issues[:200]:
        ctx.report(_ISSUE_RULES[issue.kind], f"dataset or link {issue.where[:200]!r} {_ISSUE_TEXT[issue.kind]} "
                   f"{issue.detail[:300]}", evidence=f"{issue.kind}: {issue.where[:300]} -> {issue.detail[:500]}")
    if audit.pickled_rows:
        names = sorted({n.rsplit("[", 1)[0] for n, _ in audit.pickled_rows})
        ctx.report(KER409, f"{len(audit.pickled_rows)} PyTables object-atom row(s) in {', '.join(names[:5])} are "
                   "pickles that tables / pandas.read_hdf unpickle", evidence=", ".join(names[:50]))
        for name, data in audit.pickled_rows:
            ctx.child(name).scan_stream(io.BytesIO(data), len(data), name)
    if audit.incomplete:
        ctx.error(f"HDF5 structure: {audit.incomplete}")


def _blank(stream: BinaryIO, offset: int, length: int) -> bool:
    """True when the bytes are all zeros (an unused user block, padding)."""
    stream.seek(offset)
    left = length
    while left > 0:
        chunk = stream.read(min(left, 1 << 20))
        if not chunk:
            break
        if chunk.strip(b"\x00"):
            return False
        left -= len(chunk)
    return True


def _scan_as_other_format(stream: BinaryIO, size: int, ctx: ScanContext, this: object) -> bool:
    """Dispatch the whole file to the first other handler that recognises it (not the text/other one)."""
    stream.seek(0)
    own = getattr(this, "id", "")
    return ctx.scan_stream(stream, size, ctx.path, exclude=frozenset({own, "other"})) is not None


_ATTRS = ("model_config", "training_config")


def read_hdf5_root_attrs(stream: BinaryIO) -> dict[str, str]:
    """The string values of the root attributes Keras reads (``model_config``, ``training_config``)."""
    return read_hdf5(stream)[0]


def read_hdf5(stream: BinaryIO) -> tuple[dict[str, str], Hdf5Audit]:
    """The root attributes Keras reads and the structure audit, from one h5py open of the file object.

    No dataset is read except bounded PyTables object-atom rows; external and soft links are never
    followed.
    """
    try:
        import h5py  # optional extra, imported only for HDF5 input
    except ImportError:
        raise AnalysisError(
            "HDF5 file: reading its Keras model config needs h5py; install mlvet[hdf5]"
        ) from None
    out: dict[str, str] = {}
    try:
        with h5py.File(stream, "r") as f:
            for key in _ATTRS:
                if key not in f.attrs:
                    continue
                attr = h5py.h5a.open(f.id, key.encode())
                if attr.get_storage_size() > MAX_CONFIG_BYTES:
                    raise LimitExceeded(
                        "max_config_bytes", MAX_CONFIG_BYTES,
                        f"HDF5 attribute {key} holds {attr.get_storage_size()} bytes; not analysed",
                    )
                out[key] = _attr_text(f.attrs[key], key)
            audit = audit_hdf5(f)
    except (LimitExceeded, AnalysisError):
        raise
    except Exception as exc:  # libhdf5 raises many types (OSError, KeyError, RuntimeError...)
        raise AnalysisError(f"unreadable HDF5 file: {type(exc).__name__}: {exc}") from None
    return out, audit


def _attr_text(value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    getter: Callable[[], Any] | None = getattr(value, "tolist", None)
    if getter is not None:
        item = getter()
        if isinstance(item, list) and len(item) == 1:
            item = item[0]
        if isinstance(item, bytes):
            return item.decode("utf-8", "surrogateescape")
        if isinstance(item, str):
            return item
    raise AnalysisError(f"HDF5 attribute {key} is not a string ({type(value).__name__})")

