"""Cheap, content-first classification of a file for the inventory: is it a model, a dataset, or neither?

Discovery runs over whole trees (100,000 ordinary files with a few hundred models), so this reads only a
file's first bytes (and, for ZIP/HDF5/tar/parquet, a bounded structural peek) and decides. The full
scanner runs later, only on the files that make up assets. Content decides wherever the bytes can
(pickle, ZIP layouts, GGUF, safetensors, HDF5, TFLite, NumPy, Parquet, Arrow, TFRecord framing); names
decide only where formats have no magic (CSV, JSONL, ONNX's bare protobuf), and then the content must
still look right. A file with a model extension whose content is unrecognisable is still a model
candidate: a ``.pt`` of garbage is something the scanner should report, not something to drop.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Literal

from mlvet.catalogue import FormatId as F
from mlvet.formats.misc import is_arrow_stream, is_tfrecord

Role = Literal["model", "dataset"]

#: How many bytes of every file are read for classification.
HEAD = 64

#: Extensions that promise a model; content that matches nothing still makes such a file a candidate.
MODEL_EXTENSIONS = frozenset(
    {".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".sav", ".h5", ".hdf5", ".keras", ".onnx", ".gguf",
     ".ggml", ".safetensors", ".tflite", ".mlmodel", ".pt2", ".ptl", ".model", ".dill", ".npz"}
)
#: Text dataset formats have no magic number: name plus a content sanity check.
TEXT_DATASET_EXTENSIONS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
#: Compressed wrappers that may hold a pickle (joblib compressors, gzipped checkpoints, nullifAI's 7z).
_COMPRESSED_MAGIC = (
    (b"\x1f\x8b", "gzip"), (b"BZh", "bz2"), (b"\xfd7zXZ\x00", "xz"), (b"\x5d\x00\x00", "lzma"),
    (b"7z\xbc\xaf\x27\x1c", "7z"), (b"ZF", "zlib"), (b"\x04\x22\x4d\x18", "lz4"),
)
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"


@dataclass(frozen=True)
class FileKind:
    """What a file is, as far as the inventory cares."""

    role: Role
    #: Format name, aligned with the scanner's names where they overlap ("pytorch-zip", "safetensors", ...).
    format: str
    framework: str | None = None


def classify(path: str, name: str | None = None) -> FileKind | None:
    """Classify one file by content (and, for magic-less formats, name); None for ordinary files.

    Never raises for unreadable files (they are not assets: the scanner would only say it cannot read them).
    """
    name = name or os.path.basename(path)
    ext = os.path.splitext(name)[1].lower()
    try:
        # O_NONBLOCK: a FIFO or device in the tree must not hang the walk (regular files are unaffected).
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        head = os.read(fd, HEAD)
        kind = _by_magic(fd, head, ext, name)
    except OSError:
        kind = None
    finally:
        os.close(fd)
    if kind is None and ext in MODEL_EXTENSIONS and head and not _is_text(head) and not head.startswith(_NOT_ML):
        # Binary content that matches no format but claims a model's name: the scanner will say what it is.
        # (Text never is: site-packages' ``.pth`` path files, notes named ``.model``.)
        return FileKind("model", F.UNKNOWN.value)
    return kind


#: Binary formats that share an extension with model files but are not ML assets (IDL ``.sav``).
_NOT_ML = (b"SR\x00\x04",)


_CONTROL = bytes(set(range(32)) - {9, 10, 12, 13, 27})


def _is_text(head: bytes) -> bool:
    """UTF-8 without control characters (a multi-byte character may be cut at the end of a full head)."""
    if head != head.translate(None, _CONTROL):
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return len(head) == HEAD and exc.start >= len(head) - 4
    return True


def _by_magic(fd: int, head: bytes, ext: str, name: str) -> FileKind | None:
    if not head:
        return None
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return _zip_kind(fd, ext)
    if head[:1] == b"\x80" and len(head) > 1 and 2 <= head[1] <= 5:
        if head.startswith(_TORCH_LEGACY_MAGIC):
            return FileKind("model", F.PYTORCH_LEGACY.value, "pytorch")
        return FileKind("model", F.PICKLE.value, _pickle_framework(fd))
    if head[:4] in (b"GGUF", b"FUGG"):
        return FileKind("model", F.GGUF.value, "llama.cpp")
    if head[:4] in (b"ggml", b"ggjt", b"ggmf", b"lmgg"):
        return FileKind("model", F.GGML.value, "llama.cpp")
    if head[4:8] == b"TFL3":
        return FileKind("model", F.TFLITE.value, "tensorflow")
    if len(head) >= 10 and head[8:10] in (b'{"', b"{ ") and struct.unpack("<Q", head[:8])[0] < 1 << 28:
        return FileKind("model", F.SAFETENSORS.value)
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return _hdf5_kind(fd, ext)
    if head.startswith(b"\x93NUMPY"):
        return FileKind("dataset", F.NUMPY.value, "numpy")
    if head.startswith(b"PAR1"):
        return FileKind("dataset", F.PARQUET.value)
    if head.startswith(b"ARROW1"):
        return FileKind("dataset", F.ARROW.value)
    if is_arrow_stream(head):
        return FileKind("dataset", F.ARROW.value)
    if is_tfrecord(head):
        return FileKind("dataset", F.TFRECORD.value, "tensorflow")
    magics = list(_COMPRESSED_MAGIC)
    if len(head) > 1 and head[0] == 0x78 and (head[0] << 8 | head[1]) % 31 == 0:  # RFC 1950 zlib header
        magics.append((head[:2], "zlib"))
    for magic, what in magics:
        if head.startswith(magic):
            if ext in MODEL_EXTENSIONS or any(part in MODEL_EXTENSIONS for part in _inner_exts(name)) or \
                    _compressed_pickle(fd, what):
                return FileKind("model", f"compressed-{what}")
            return None
    if ext == ".onnx" and (head[0] & 7) in (0, 2):
        return FileKind("model", F.ONNX.value, "onnx")
    if ext in (".pb",) and name == "saved_model.pb":
        return FileKind("model", F.TF_SAVEDMODEL.value, "tensorflow")
    if ext in TEXT_DATASET_EXTENSIONS and b"\x00" not in head:
        return FileKind("dataset", TEXT_DATASET_EXTENSIONS[ext])
    if (ext == ".tar" or (32 <= head[0] < 127 and b"\x00" in head)) and _pread(fd, 5, 257) == b"ustar":
        return _tar_kind(fd)
    if ext in (".pkl", ".pickle", ".joblib", ".sav", ".dill") and head[:1] in (b"(", b"c", b"]", b"}", b"I"):
        return FileKind("model", F.PICKLE.value)  # protocol 0/1 pickles have no header
    return None


def _compressed_pickle(fd: int, what: str) -> bool:
    """Inflate at most 64 bytes from the first 4 KiB and look for a pickle header (joblib, pandas, gzipped .pt)."""
    import bz2
    import lzma
    import zlib

    data = _pread(fd, 4096, 0)
    try:
        if what == "gzip":
            out = zlib.decompressobj(wbits=31).decompress(data, 64)
        elif what == "zlib":
            out = zlib.decompressobj().decompress(data[2:] if data.startswith(b"ZF") else data, 64)
        elif what == "bz2":
            out = bz2.BZ2Decompressor().decompress(data, 64)
        elif what in ("xz", "lzma"):
            fmt = lzma.FORMAT_XZ if what == "xz" else lzma.FORMAT_ALONE
            out = lzma.LZMADecompressor(format=fmt).decompress(data, 64)
        else:
            return False
    except (zlib.error, OSError, EOFError, lzma.LZMAError, ValueError):
        return False
    return out[:1] == b"\x80" and len(out) > 1 and 2 <= out[1] <= 5


def _inner_exts(name: str) -> list[str]:
    """``model.pkl.gz`` → [".pkl", ".gz"]: the extensions under a compression suffix."""
    base = name.lower()
    out: list[str] = []
    while True:
        base, ext = os.path.splitext(base)
        if not ext:
            return out
        out.append(ext)


def _pread(fd: int, n: int, offset: int) -> bytes:
    try:
        return os.pread(fd, n, offset)
    except OSError:
        return b""


_PICKLE_FRAMEWORKS = (
    (b"sklearn", "sklearn"), (b"xgboost", "xgboost"), (b"lightgbm", "lightgbm"), (b"catboost", "catboost"),
    (b"torch", "pytorch"), (b"keras", "keras"), (b"tensorflow", "tensorflow"), (b"statsmodels", "statsmodels"),
    (b"pandas", "pandas"), (b"numpy", "numpy"),
)


def _pickle_framework(fd: int) -> str | None:
    """The library named first in the pickle's first 64 KiB (its outermost class; a hint, not a verdict)."""
    data = _pread(fd, 1 << 16, 0)
    hits = [(pos, framework) for needle, framework in _PICKLE_FRAMEWORKS if (pos := data.find(needle)) >= 0]
    return min(hits)[1] if hits else None


def _zip_kind(fd: int, ext: str) -> FileKind | None:
    """Look at member names only (central directory), via mlvet's own torch-compatible ZIP reader."""
    from mlvet.containers.zipread import ZipArchive

    try:
        size = os.fstat(fd).st_size
        with os.fdopen(os.dup(fd), "rb") as f:
            names = [m.name for m in ZipArchive(f, size, max_members=100_000).members]
    except Exception:
        names = []
    base = {n.rsplit("/", 1)[-1] for n in names}
    if "constants.pkl" in base or any("/code/" in n for n in names):
        return FileKind("model", F.TORCHSCRIPT.value, "pytorch")
    if "data.pkl" in base:
        return FileKind("model", F.PYTORCH_ZIP.value, "pytorch")
    if any(n.endswith(("archive_format", "/models/model.json")) for n in names) or ext == ".pt2":
        return FileKind("model", F.PYTORCH_PT2.value, "pytorch")
    if "config.json" in base and ("model.weights.h5" in base or "metadata.json" in base):
        return FileKind("model", F.KERAS.value, "keras")
    if "schema.json" in base and ext == ".skops":
        return FileKind("model", F.SKOPS.value, "sklearn")
    if names and all(n.endswith(".npy") for n in names if not n.endswith("/")):
        return FileKind("model" if ext in MODEL_EXTENSIONS - {".npz"} else "dataset", F.NUMPY_NPZ.value, "numpy")
    if ext in MODEL_EXTENSIONS:
        return FileKind("model", F.ZIP.value)
    return None


def _hdf5_kind(fd: int, ext: str) -> FileKind:
    """Keras HDF5 models carry a ``model_config``/``keras_version`` attribute in the first object headers."""
    data = _pread(fd, 1 << 16, 0)
    if b"model_config" in data or ext in (".keras",):
        return FileKind("model", F.KERAS_H5.value, "keras")
    if b"layer_names" in data or b"weight_names" in data or (b"layers" in data and b"vars" in data):
        return FileKind("model", F.KERAS_WEIGHTS_H5.value, "keras")
    if ext in (".h5", ".hdf5") and b"model_weights" in data:
        return FileKind("model", F.KERAS_H5.value, "keras")
    return FileKind("dataset", F.HDF5.value)


def _tar_kind(fd: int) -> FileKind | None:
    """Legacy torch tar checkpoints vs WebDataset shards (members grouped by key: ``000001.jpg``, ``000001.cls``)."""
    names: list[str] = []
    offset = 0
    for _ in range(16):
        header = _pread(fd, 512, offset)
        if len(header) < 512 or header[257:262] != b"ustar":
            break
        name = header[:100].split(b"\x00", 1)[0].decode("utf-8", "replace")
        try:
            size = int(header[124:136].split(b"\x00", 1)[0].strip() or b"0", 8)
        except ValueError:
            break
        names.append(name)
        offset += 512 + (size + 511) // 512 * 512
    if not names:
        return None
    if {"storages", "tensors", "pickle"} & set(names):
        return FileKind("model", F.PYTORCH_LEGACY_TAR.value, "pytorch")
    keys = [n.split(".", 1) for n in names if "." in n.rsplit("/", 1)[-1]]
    stems = [k[0] for k in keys]
    if len(keys) >= 2 and len(set(stems)) < len(stems):
        return FileKind("dataset", F.WEBDATASET.value)
    return None
