"""ONNX external data: where a model's tensors live outside it, checked the way loaders resolve them.

Tensors whose bytes live in *external data* files name those files by a ``location`` string that
loaders join to the model folder: an absolute path, a ``..`` component or a symlink reads any file on
the machine into the model (CVE-2022-25882, its bypass CVE-2024-27318, and the symlink variant
GHSA-p433-9wv8-28xj), and the ``*/_ORT_MEM_ADDR_/*`` marker makes some runtimes read process memory at
an address taken from the file. The data files themselves are raw bytes with no signature; they are
attributed to the model that names them (:class:`OnnxExternalDataHandler`).
"""

from __future__ import annotations

import os
import re
import stat
from functools import lru_cache
from typing import BinaryIO

from mlvet.analysis.protowire import WireReader
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext
from mlvet.formats.onnx_model import ONX602, ONX603, ExternalRef, ModelWalker, looks_like_onnx
from mlvet.model import Severity

#: Keys onnx's ExternalDataInfo accepts; anything else was used for attribute injection.
_EXTERNAL_KEYS = frozenset({"location", "offset", "length", "checksum", "basepath"})
_ORT_MEM_ADDR = "*/_ORT_MEM_ADDR_/*"


def _is_absolute(path: str) -> bool:
    return path.startswith(("/", "\\")) or bool(re.match(r"^[A-Za-z]:", path))


def check_external(ext: ExternalRef, ctx: ScanContext) -> None:
    """Check one tensor's external-data entries: keys, numbers, location (absolute, '..', marker), file on disk."""
    label = f"tensor {ext.tensor!r} ({ext.where})"
    keys = [k for k, _ in ext.entries]
    values = dict(ext.entries)
    unknown = sorted({k for k in keys if k not in _EXTERNAL_KEYS})
    if unknown:
        ctx.report(ONX603, f"{label}: unknown external_data keys {unknown}", severity=Severity.MEDIUM,
                   offset=ext.offset, evidence=", ".join(unknown)[:300])
    if len(keys) != len(set(keys)):
        ctx.report(ONX603, f"{label}: duplicate external_data keys", severity=Severity.MEDIUM, offset=ext.offset)
    if ext.data_location != 1:
        ctx.report(ONX603, f"{label}: external_data entries on a tensor whose data_location is not EXTERNAL",
                   offset=ext.offset)
    location = values.get("location")
    if location is None:
        ctx.report(ONX603, f"{label}: external tensor without a location", severity=Severity.MEDIUM, offset=ext.offset)
        return
    numbers: dict[str, int] = {}
    for key in ("offset", "length"):
        raw = values.get(key)
        if raw is None:
            continue
        if not raw.strip().isdigit():
            ctx.report(ONX603, f"{label}: external_data {key} {raw[:40]!r} is not a non-negative integer",
                       severity=Severity.MEDIUM, offset=ext.offset, evidence=raw[:100])
        else:
            numbers[key] = int(raw)
    if location == _ORT_MEM_ADDR:
        ctx.report(ONX602, f"{label}: location is onnxruntime's in-memory address marker {_ORT_MEM_ADDR!r}; "
                   f"the offset ({values.get('offset', '?')}) would be read as a memory address",
                   offset=ext.offset, evidence=location)
        return
    if not _location_is_safe(location, "location", label, ext, ctx):
        return
    base = values.get("basepath")
    if base is not None and base != "":
        _location_is_safe(base, "basepath", label, ext, ctx)
    if ctx.members:
        return  # inside an archive: there is no folder on disk to resolve against
    _check_on_disk(location, numbers, label, ext, ctx)


def _location_is_safe(location: str, key: str, label: str, ext: ExternalRef, ctx: ScanContext) -> bool:
    if location == "" or "\x00" in location:
        ctx.report(ONX603, f"{label}: external_data {key} is empty or contains a NUL byte",
                   severity=Severity.MEDIUM, offset=ext.offset, evidence=repr(location[:200]))
        return False
    parts = re.split(r"[\\/]+", location)
    if _is_absolute(location):
        ctx.report(ONX602, f"{label}: external_data {key} is an absolute path {location[:200]!r} "
                   "(CVE-2022-25882)", offset=ext.offset, evidence=location[:300])
        return False
    if ".." in parts:
        cve = "CVE-2022-25882" if parts[0] == ".." else "CVE-2024-27318: '..' after a sub-folder"
        ctx.report(ONX602, f"{label}: external_data {key} {location[:200]!r} walks out of the model folder ({cve})",
                   offset=ext.offset, evidence=location[:300])
        return False
    return True


def _within(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


def _check_on_disk(location: str, numbers: dict[str, int], label: str, ext: ExternalRef, ctx: ScanContext) -> None:
    model_path = ctx.path
    folder = os.path.dirname(os.path.abspath(model_path))
    target = os.path.join(folder, location)
    if not os.path.lexists(target):
        ctx.report(ONX603, f"{label}: external data file {location!r} does not exist next to the model",
                   offset=ext.offset, evidence=location[:300])
        return
    real = os.path.realpath(target)
    # A Hugging Face cache keeps both the model and its data as symlinks into a blobs/ folder: the data is
    # "inside" when it stays within the folder that holds the model or the folder the model resolves to.
    roots = {os.path.realpath(folder), os.path.dirname(os.path.realpath(model_path))}
    if not any(_within(real, root) for root in roots):
        ctx.report(ONX602, f"{label}: external data {location!r} resolves outside the model folder to {real!r} "
                   "through a symbolic link (GHSA-p433-9wv8-28xj)", offset=ext.offset, evidence=f"{location} -> {real}")
        return
    try:
        st = os.stat(real)
    except OSError as exc:
        ctx.report(ONX603, f"{label}: external data {location!r} cannot be read ({exc.strerror})", offset=ext.offset)
        return
    if not stat.S_ISREG(st.st_mode):
        ctx.report(ONX603, f"{label}: external data {location!r} is not a regular file", severity=Severity.MEDIUM,
                   offset=ext.offset)
        return
    if st.st_nlink > 1:
        ctx.report(ONX603, f"{label}: external data {location!r} has {st.st_nlink} hard links (onnx ≥ 1.21 "
                   "refuses such files: a hard link can alias a file outside the folder)", offset=ext.offset)
    off = numbers.get("offset", 0)
    length = numbers.get("length")
    if off > st.st_size or (length is not None and off + length > st.st_size):
        ctx.report(ONX603, f"{label}: offset/length ({off}/{length}) point past the end of {location!r} "
                   f"({st.st_size} bytes)", offset=ext.offset)


# ---- external data files ---------------------------------------------------------------------------
# External tensor files are raw bytes with no signature. They are recognised the way loaders find them:
# an ONNX model next to them (or up to two folders above) names them in a ``location``. Content handlers
# run first, so a pickle or archive renamed to look like external data is still analysed as what it is.

_MAX_MODELS_PER_FOLDER = 64
_MAX_MODEL_BYTES_TO_INDEX = 1 << 40


@lru_cache(maxsize=256)
def _external_locations(model: str, mtime_ns: int, size: int) -> frozenset[str]:
    """Real paths of the external data files a model references (empty when it is not a readable model)."""
    del mtime_ns  # part of the cache key only
    try:
        with open(model, "rb") as f:
            if not looks_like_onnx(f.read(4096)) or size > _MAX_MODEL_BYTES_TO_INDEX:
                return frozenset()
            walker = ModelWalker(WireReader(f, size, what="ONNX model"), None)
            walker.model(walker.r.root())
    except Exception:  # a model that cannot be indexed attributes nothing (the file then fails closed)
        return frozenset()
    folder = os.path.dirname(model)
    roots = {os.path.realpath(folder), os.path.dirname(os.path.realpath(model))}
    out = set()
    for ext in walker.state.external:
        loc = dict(ext.entries).get("location")
        if loc and not _is_absolute(loc) and ".." not in re.split(r"[\\/]+", loc):
            real = os.path.realpath(os.path.join(folder, loc))
            # Only files that really live beside the model are attributed to it: a symlink that leads
            # elsewhere is the model's finding (ONX602), not a reason to skip the file it points to.
            if any(_within(real, root) for root in roots):
                out.add(real)
    return frozenset(out)


def _sibling_models(folder: str) -> list[str]:
    try:
        mtime = os.stat(folder).st_mtime_ns
    except OSError:
        return []
    return list(_models_in(folder, mtime))


@lru_cache(maxsize=256)
def _models_in(folder: str, mtime_ns: int) -> tuple[str, ...]:
    """``*.onnx`` files of a folder (cached per folder state: every file of a big folder asks)."""
    del mtime_ns  # part of the cache key only
    try:
        names = sorted(n for n in os.listdir(folder) if n.lower().endswith(".onnx"))
    except OSError:
        return ()
    return tuple(os.path.join(folder, n) for n in names[:_MAX_MODELS_PER_FOLDER])


def referencing_model(path: str) -> str | None:
    """The ONNX model whose external data ``path`` is, if any (searched in its folder and two above)."""
    real = os.path.realpath(path)
    base = os.path.basename(path)
    folder = os.path.dirname(os.path.abspath(path))
    for _ in range(3):
        for model in _sibling_models(folder):
            try:
                st = os.stat(model)
            except OSError:
                continue
            refs = _external_locations(model, st.st_mtime_ns, st.st_size)
            if real in refs:
                return model
            # torch.onnx.export writes '<model>.onnx.data' even when every weight fits inline (often empty).
            same_folder = os.path.dirname(model) == os.path.dirname(os.path.abspath(path))
            named_after = base in (os.path.basename(model) + ".data", os.path.basename(model) + "_data")
            if same_folder and named_after and _is_onnx_file(model):
                return model
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return None


def _is_onnx_file(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return looks_like_onnx(f.read(4096))
    except OSError:
        return False


class OnnxExternalDataHandler:
    """Raw tensor bytes stored outside an ONNX model (``save_as_external_data``).

    Runs just before the pickle handler: float data often passes a loose protocol-0/1 pickle sniff, and
    a model's own data file must not become a "malformed pickle" error. A file that starts with a PROTO
    opcode is left to the pickle handler (ONNX loaders never unpickle, but other tools might).
    """

    id = "onnx-external-data"
    priority = 46

    def sniff(self, probe: Probe) -> bool:
        if len(probe.head) >= 2 and probe.head[0] == 0x80 and probe.head[1] <= 5:
            return False
        path = getattr(probe.stream, "name", None)
        return isinstance(path, str) and os.path.isfile(path) and referencing_model(path) is not None

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        path = getattr(stream, "name", None)
        if ctx.members or not isinstance(path, str) or not os.path.samefile(path, ctx.path):
            raise AnalysisError("ONNX external data can only be attributed to a model on disk")
        model = referencing_model(path)
        if model is None:
            raise AnalysisError("no ONNX model references this file as external data")
        ctx.sink.skip_reason = f"ONNX external tensor data of {os.path.basename(model)} (raw tensor bytes, no code)"

