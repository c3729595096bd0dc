"""Framework-free, streaming access to the tensors of a model: names, dtypes, shapes and raw bytes.

Why this exists: the tamper diff, the report card and the inventory need to know *what tensors a model
holds* (and, for the diff, their bytes) without loading any framework and without executing anything.
Each supported format is parsed from its header only; tensor bytes are read on demand, in bounded
chunks, straight from the file (safetensors, GGUF, ``.npy``), from a ZIP member stream (``.npz``) or
through the pickle engine's tensor references (PyTorch checkpoints, :mod:`mlvet.trust.torchckpt`), so
memory stays bounded whatever the model's size. Nothing is memory-mapped: mapped pages would count
against the process's resident memory.

Formats are recognised by content, never by extension:

* safetensors: an 8-byte little-endian header length followed by ``{``;
* GGUF: the ``GGUF`` magic (versions 2 and 3, little-endian);
* NumPy: the ``\\x93NUMPY`` magic; ``.npz`` is a ZIP whose members are ``.npy`` files;
* PyTorch: a ZIP with a ``<prefix>/data.pkl`` record, or a bare pickle (the legacy format);
* a folder or a ``*.index.json`` file with a ``weight_map``: a sharded model (any of the above per shard);
  a folder without an index is the union of its top-level tensor files (safetensors preferred when a
  folder holds both safetensors and pickle weights, as Hugging Face repositories often do).

Dtypes are reported in one vocabulary across formats (``float32``, ``bfloat16``, ``int8`` ...; the numpy
/ torch spelling), so a safetensors file and the PyTorch checkpoint it was converted from compare
tensor by tensor. GGUF quantised types keep their ggml name (``Q4_K``) and are opaque blocks of bytes.
:meth:`TensorSet.iter_bytes` always yields the C-order, little-endian bytes of a tensor.

Modules: the interface and dtype vocabulary are in :mod:`mlvet.trust.tensorset`, one reader per file format
in :mod:`mlvet.trust.tensorfiles`; this module recognises files, folders and shard indexes and opens them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

from mlvet.trust.tensorfiles import _NPY_MAGIC, _GgufSet, _is_safetensors, _NpySet, _NpzSet, _SafetensorsSet, _TorchSet
from mlvet.trust.tensorset import TensorFormatError, TensorInfo, TensorSet, canonical_dtype, dtype_itemsize, rechunk

__all__ = [
    "TensorFormatError",
    "TensorInfo",
    "TensorSet",
    "canonical_dtype",
    "dtype_itemsize",
    "open_tensors",
    "rechunk",
]


# ---- shards -----------------------------------------------------------------------------------------------


class _ShardedSet(TensorSet):
    """Several tensor files that together form one model (Hugging Face sharded checkpoints)."""

    def __init__(self, shards: list[TensorSet], label: str) -> None:
        self._shards = shards
        self._owner: dict[str, TensorSet] = {}
        self.tensors = {}
        formats = sorted({s.format for s in shards})
        self.format = f"sharded:{'+'.join(formats)}"
        for shard in shards:
            for name, info in shard.tensors.items():
                if name in self.tensors:
                    self.close()
                    raise TensorFormatError(f"{label}: tensor {name!r} appears in more than one shard")
                self.tensors[name] = info
                self._owner[name] = shard

    def iter_bytes(self, name: str, chunk: int = 1 << 20) -> Iterator[bytes]:
        return self._owner[name].iter_bytes(name, chunk)

    def close(self) -> None:
        for shard in self._shards:
            shard.close()


_MAX_INDEX_BYTES = 16 * 1024 * 1024


def _read_index(path: Path) -> dict[str, str] | None:
    """The ``weight_map`` of a sharded-checkpoint index, or None if the file is not one."""
    try:
        if path.stat().st_size > _MAX_INDEX_BYTES:
            return None
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    weight_map = doc.get("weight_map") if isinstance(doc, dict) else None
    if not isinstance(weight_map, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in weight_map.items()
    ):
        return None
    return weight_map


def _open_index(index: Path, weight_map: dict[str, str]) -> TensorSet:
    folder = index.parent.resolve()
    shard_names = list(dict.fromkeys(weight_map.values()))
    sets: list[TensorSet] = []
    try:
        for shard in shard_names:
            target = (folder / shard).resolve()
            if Path(shard).is_absolute() or not target.is_relative_to(folder):
                raise TensorFormatError(f"{index.name}: shard {shard!r} lies outside the model folder")
            if not target.is_file():
                raise TensorFormatError(f"{index.name}: shard {shard!r} is missing")
            sets.append(_open_file(target))
        combined = _ShardedSet(sets, index.name)
    except BaseException:
        for s in sets:
            s.close()
        raise
    for name, shard in weight_map.items():
        if name not in combined.tensors:
            combined.close()
            raise TensorFormatError(f"{index.name}: tensor {name!r} is listed in shard {shard!r} but absent")
    return combined


def _open_folder(folder: Path) -> TensorSet:
    indexes = sorted(p for p in folder.iterdir() if p.name.endswith(".index.json") and p.is_file())
    # safetensors first: a Hugging Face repository with both formats holds the same weights twice.
    indexes.sort(key=lambda p: "safetensors" not in p.name)
    for index in indexes:
        weight_map = _read_index(index)
        if weight_map is not None:
            return _open_index(index, weight_map)
    found: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_file():
            kind = _sniff(entry)
            if kind is not None and kind != "index":
                found.setdefault(kind, []).append(entry)
    # "zip" is a PyTorch checkpoint or an .npz; "pytorch" a bare-pickle (legacy) checkpoint.
    for kind in ("safetensors", "zip", "pytorch", "gguf", "npy"):
        files = found.get(kind)
        if files:
            sets: list[TensorSet] = []
            try:
                for f in files:
                    try:
                        sets.append(_open_file(f))
                    except TensorFormatError as exc:
                        raise TensorFormatError(f"{f.name}: {exc.diagnostics()} (pass the model file itself "
                                                "rather than its folder to compare only that file)") from None
                return sets[0] if len(sets) == 1 else _ShardedSet(sets, str(folder))
            except BaseException:
                for s in sets:
                    s.close()
                raise
    raise TensorFormatError(f"{folder}: no tensor files (safetensors, PyTorch, GGUF, NumPy) in this folder")


# ---- detection --------------------------------------------------------------------------------------------


def _sniff(path: Path) -> str | None:
    """The tensor format of a file by its content, or None."""
    from mlvet.containers.zipread import looks_like_zip

    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return None
    if head.startswith(b"GGUF"):
        return "gguf"
    if head.startswith(_NPY_MAGIC):
        return "npy"
    if _is_safetensors(head):
        return "safetensors"
    if looks_like_zip(head):
        return "zip"
    if head[:1] == b"\x80" or head[257:262] == b"ustar":  # pickle PROTO: legacy torch.save; tar: pre-0.4
        return "pytorch"
    if head.lstrip()[:1] == b"{" and _read_index(path) is not None:
        return "index"
    return None


def _open_file(path: Path) -> TensorSet:
    kind = _sniff(path)
    size = path.stat().st_size
    if kind == "gguf":
        return _GgufSet(path, size)
    if kind == "npy":
        return _NpySet(path, size)
    if kind == "safetensors":
        return _SafetensorsSet(path, size)
    if kind == "pytorch":
        return _TorchSet(path)
    if kind == "index":
        weight_map = _read_index(path)
        assert weight_map is not None
        return _open_index(path, weight_map)
    if kind == "zip":
        return _open_zip(path, size)
    raise TensorFormatError(f"{path.name}: not a recognised tensor file (safetensors, PyTorch, GGUF, .npy or "
                            ".npz, recognised by content)")


def _open_zip(path: Path, size: int) -> TensorSet:
    from mlvet.containers.zipread import ZipArchive, ZipFormatError, ZipLimitError

    fh = open(path, "rb")  # noqa: SIM115  (owned by the returned set, closed by its close())
    try:
        try:
            archive = ZipArchive(fh, size)
        except (ZipFormatError, ZipLimitError) as exc:
            raise TensorFormatError(f"{path.name}: unreadable ZIP archive ({exc})") from None
        if archive.torch_record("data.pkl") is not None:
            fh.close()
            return _TorchSet(path)
        if any(m.name.endswith(".npy") for m in archive.members):
            return _NpzSet(fh, archive)
    except BaseException:
        fh.close()
        raise
    fh.close()
    raise TensorFormatError(f"{path.name}: a ZIP archive that is neither a PyTorch checkpoint nor an .npz")


def missing_input(path: str | os.PathLike[str]) -> str:
    """Why ``path`` is neither a regular file nor a folder, in words: "no such file or folder", or what it
    is instead ("a FIFO (named pipe), not a regular file"), which a "no such file" would hide."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "no such file or folder"
    except OSError as exc:
        return f"cannot read ({exc.strerror or exc})"
    kinds = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    what = next((name for test, name in kinds if test(mode)), "not a file or folder mlvet can read")
    return f"{what}, not a regular file" if what.startswith("a ") else what


def open_tensors(path: str | os.PathLike[str]) -> TensorSet:
    """Open a model file or folder as a :class:`TensorSet`, recognising the format by content.

    Reads headers only. Raises :class:`TensorFormatError` (an :class:`~mlvet.errors.AnalysisError`) for
    missing, unrecognised, malformed or refused input, with a message a user can act on.
    """
    p = Path(path)
    try:
        if p.is_dir():
            return _open_folder(p)
        if not p.is_file():
            raise TensorFormatError(f"{p}: {missing_input(p)}")
        return _open_file(p)
    except OSError as exc:
        raise TensorFormatError(f"{p}: cannot read ({exc.strerror or exc})") from None
    except RecursionError:
        raise TensorFormatError(f"{p}: nesting too deep") from None
