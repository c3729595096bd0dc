"""Dispatch: identify a stream by its bytes and run the first format handler that recognises it.

This is the format layer's half of recursion. A :class:`~mlvet.context.ScanContext` holds a dispatcher (this
module's :func:`dispatch`, given by :func:`mlvet.scanner.scan_file` and installed as the default when
:mod:`mlvet.formats` is imported); ``ctx.scan_stream`` calls it for files and for container members alike.

Activation: the core container and pickle handlers are imported with :mod:`mlvet.formats`. The other format
modules are imported on first need: each has a cheap *prefilter* (a necessary condition on the first bytes,
the name or the folder) and is imported, registering its handlers, the first time a file passes it. That
keeps ``mlvet scan model.pt`` from paying for the Keras, TensorFlow, ONNX, GGUF and Jinja machinery (about
0.2 s of imports). A prefilter may be loose — a false match only costs the import — but must never be
stricter than the module's own sniffing, or a file would escape analysis.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import lru_cache
from typing import BinaryIO

from mlvet.context import ScanContext
from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.formats.base import Probe, handlers
from mlvet.rules import ARC301

#: Bytes read from the start of every stream for sniffing.
HEAD_BYTES = 4096


def dispatch(ctx: ScanContext, stream: BinaryIO, size: int, name: str, exclude: frozenset[str]) -> str | None:
    """Scan ``stream`` with the first handler (in priority order, minus ``exclude``) that recognises it.

    Returns that handler's format id, or None when no handler recognises the content. A handler's
    :class:`~mlvet.errors.AnalysisError` becomes an error on ``ctx`` (a limit also becomes an ARC301 finding).
    """
    head = stream.read(HEAD_BYTES)
    stream.seek(0)
    probe = Probe(stream, size, name, head)
    activate_for(probe)
    for handler in handlers():
        if handler.id in exclude:
            continue
        try:
            matched = handler.sniff(probe)
        except (OSError, ValueError):
            matched = False
        finally:
            stream.seek(0)
        if matched:
            ctx.saw_format(handler.id)
            try:
                handler.scan(stream, size, ctx)
            except LimitExceeded as exc:
                ctx.report(ARC301, str(exc))
                ctx.error(str(exc))
            except AnalysisError as exc:
                ctx.error(str(exc))
            return handler.id
    return None


# ---- lazy activation of format modules ----------------------------------------------------------------


def _json_like(p: Probe) -> bool:
    return p.head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"[")


def _protobuf_like(p: Probe) -> bool:
    """First byte is a protobuf tag (field 1-15, varint or length-delimited) and not a zip/pickle."""
    h = p.head
    return bool(h) and (h[0] & 7) in (0, 2) and 1 <= (h[0] >> 3) <= 15 and h[:2] != b"PK"


@lru_cache(maxsize=4096)
def _has_onnx_near(folder: str) -> bool:
    for _ in range(3):
        try:
            if any(n.endswith(".onnx") for n in os.listdir(folder)):
                return True
        except OSError:
            pass
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    return False


def _onnx_prefilter(p: Probe) -> bool:
    if _protobuf_like(p) or p.name.endswith(".onnx"):
        return True
    path = getattr(p.stream, "name", None)
    return isinstance(path, str) and _has_onnx_near(os.path.dirname(os.path.abspath(path)))


def _text_head(p: Probe) -> bool:
    return b"\x00" not in p.head[:1024]


def _beyond_head(p: Probe) -> bool:
    """The content goes on past the sniffed head: a sniffer that reads further may still match it."""
    return p.size > len(p.head)


def _has_any(p: Probe, needles: tuple[bytes, ...]) -> bool:
    """One of ``needles`` (lower case) occurs in the head, case-insensitively. Used where the head is all of
    the content and a handler's sniffer needs one of them: small text members such as a PyTorch archive's
    ``version`` or ``byteorder`` then import no text-format module."""
    low = p.head.lower()
    return any(n in low for n in needles)


_PY_WORDS = (b"import", b"def ", b"class ", b"exec", b"eval", b"__", b"{%", b"{{", b"lambda")
_PBTXT_WORDS = (b"node", b"meta_graph", b"saved_model", b"graph_def", b"op:")


def _python_or_template(p: Probe) -> bool:
    """Text that could be Python source or a Jinja template (what the HF handler analyses)."""
    return _text_head(p) and any(k in p.head for k in _PY_WORDS)


def _gguf() -> None:
    from mlvet.formats import gguf  # noqa: F401


def _safetensors() -> None:
    from mlvet.formats import safetensors  # noqa: F401


def _tflite() -> None:
    from mlvet.formats import tflite  # noqa: F401


def _keras() -> None:
    from mlvet.formats import keras  # noqa: F401


def _hf() -> None:
    from mlvet.formats import hf  # noqa: F401


def _mlflow() -> None:
    from mlvet.formats import mlflow  # noqa: F401


def _pmml() -> None:
    from mlvet.formats import pmml  # noqa: F401


def _onnx() -> None:
    from mlvet.formats import onnx  # noqa: F401


def _tensorflow() -> None:
    from mlvet.formats import tensorflow, tf_meta  # noqa: F401


def _skops() -> None:
    from mlvet.formats import skops  # noqa: F401


def _yaml_tags() -> None:
    from mlvet.formats import yaml_tags  # noqa: F401


def _hydra_config() -> None:
    from mlvet.formats import hydra_config  # noqa: F401


def _loader_code() -> None:
    from mlvet.formats import loader_code  # noqa: F401


def _rdata() -> None:
    from mlvet.formats import rdata  # noqa: F401


def _templates() -> None:
    from mlvet.formats import templates  # noqa: F401
def _msgpack() -> None:
    from mlvet.formats import msgpack_models  # noqa: F401


def _matlab() -> None:
    from mlvet.formats import matlab  # noqa: F401


def _flatbuffer_models() -> None:
    from mlvet.formats import flatbuffer_models  # noqa: F401


def _embeddings() -> None:
    from mlvet.formats import embeddings  # noqa: F401


def _sentencepiece() -> None:
    from mlvet.formats import sentencepiece  # noqa: F401


def _boosting_like(p: Probe) -> bool:
    """XGBoost UBJSON/JSON, LightGBM text, or a legacy XGBoost binary (a small u64 name length at 136/140)."""
    h = p.head
    return h[:1] in (b"{", b"t") or _json_like(p) or h[137:144] == bytes(7) or h[141:148] == bytes(7)


def _boosting() -> None:
    from mlvet.formats import boosting  # noqa: F401


def _orbax() -> None:
    from mlvet.formats import orbax  # noqa: F401


def _zarr() -> None:
    from mlvet.formats import zarr  # noqa: F401
def _ggml() -> None:
    from mlvet.formats import ggml  # noqa: F401


def _llamafile() -> None:
    from mlvet.formats import llamafile  # noqa: F401


def _images() -> None:
    from mlvet.formats import images  # noqa: F401


def _docker_archive() -> None:
    from mlvet.formats import docker_archive  # noqa: F401


def _store_path(p: Probe) -> bool:
    """A file of an OCI layout or Ollama store (the image handlers recognise them by path)."""
    path = getattr(p.stream, "name", None)
    return isinstance(path, str) and (
        "blobs" in path or "manifests" in path or os.path.basename(path) in ("index.json", "oci-layout"))
def _torch7() -> None:
    from mlvet.formats import torch7  # noqa: F401


def _cntk() -> None:
    from mlvet.formats import cntk  # noqa: F401


def _paddle() -> None:
    from mlvet.formats import paddle  # noqa: F401


def _coreml() -> None:
    from mlvet.formats import coreml  # noqa: F401


def _openvino() -> None:
    from mlvet.formats import openvino  # noqa: F401


def _executorch() -> None:
    from mlvet.formats import executorch  # noqa: F401


def _mxnet() -> None:
    from mlvet.formats import mxnet  # noqa: F401


def _tensorrt() -> None:
    from mlvet.formats import tensorrt  # noqa: F401


def _rknn() -> None:
    from mlvet.formats import rknn  # noqa: F401


def _dataset_files() -> None:
    from mlvet.formats import dataset_files  # noqa: F401


def _dataset_like(p: Probe) -> bool:
    """Parquet/Arrow magic, an Arrow stream, datasets metadata by name, or a .py file (a loading script)."""
    base = os.path.basename(p.name)
    return (p.head[:4] == b"PAR1" or p.head[:6] == b"ARROW1" or p.head[:4] == b"\xff\xff\xff\xff"
            or base in ("dataset_info.json", "dataset_infos.json", "state.json") or base.lower().endswith(".py"))


#: (name, importer, prefilter). Order does not matter: handlers keep their own priorities once registered.
_LAZY: list[tuple[str, Callable[[], None], Callable[[Probe], bool]]] = [
    ("gguf", _gguf, lambda p: p.head[:4] in (b"GGUF", b"FUGG")),
    ("safetensors", _safetensors, lambda p: p.head[8:9] == b"{"),
    ("tflite", _tflite, lambda p: p.head[4:8] == b"TFL3"),
    ("keras", _keras, lambda p: b"\x89HDF" in p.head or _json_like(p)),
    ("hf", _hf, lambda p: _json_like(p) or p.name.endswith((".jinja", ".py")) or _python_or_template(p)),
    ("mlflow", _mlflow, lambda p: b"flavors" in p.head),
    ("pmml", _pmml, lambda p: b"<" in p.head[:256]),
    ("onnx", _onnx, _onnx_prefilter),
    ("yaml-python", _yaml_tags, lambda p: _text_head(p) and (_beyond_head(p) or _has_any(p, (b"python/", b"%tag")))),
    (
        "tensorflow",
        _tensorflow,
        lambda p: _protobuf_like(p) or "variables" in p.name or ".data-" in p.name or p.name.endswith(
            (".pb", ".pbtxt", ".index")) or (_text_head(p) and any(k in p.head for k in _PBTXT_WORDS)),
    ),
    ("hydra-config", _hydra_config,
     lambda p: _text_head(p) and (_beyond_head(p) or _has_any(p, (b"_target_", b"_call_")))),
    ("rdata", _rdata, lambda p: p.head[:2] in (b"X\n", b"B\n", b"A\n") or p.head[:3] in (b"RDX", b"RDA", b"RDB")),
    ("templates", _templates, lambda p: _text_head(p) and (
        _beyond_head(p) or p.name.lower().endswith((".j2", ".jinja2")) or _has_any(p, (b"{%", b"{{")))),
    ("loader-code", _loader_code,
     lambda p: p.name.lower().endswith(("hubconf.py", "generate.py")) or b'"_diffusers_version"' in p.head),
    ("flatbuffer-models", _flatbuffer_models, lambda p: p.head[4:8] == b"ORTM" or p.head[:4] == b"CBM1"),
    ("embeddings", _embeddings,
     lambda p: p.head[:4] == b"\xba\x16\x4f\x2f" or (p.head[:1].isdigit() and b" " in p.head[:24])),
    ("sentencepiece", _sentencepiece, lambda p: p.head[:1] == b"\x0a"),
    ("boosting", _boosting, _boosting_like),
    ("orbax", _orbax, lambda p: p.head[:2] == b"\x0c\xdb"),
    ("zarr", _zarr, lambda p: os.path.basename(p.name)[:1].isdigit()),
    ("matlab", _matlab, lambda p: p.head[:6] == b"MATLAB"),
    ("msgpack", _msgpack, lambda p: p.head[:1] != b"" and (0x81 <= p.head[0] <= 0x8F or p.head[0] in (0xDE, 0xDF))),
    ("ggml", _ggml, lambda p: p.head[:4] in (b"lmgg", b"fmgg", b"tjgg")),
    ("images", _images, _store_path),
    ("docker-archive", _docker_archive, lambda p: p.head[257:262] == b"ustar"),
    ("llamafile", _llamafile, lambda p: p.head[:2] in (b"MZ", b"\x7fE", b"\xcf\xfa", b"#!")),
    ("torch7", _torch7,
     lambda p: (len(p.head) >= 16 and p.head[:4] in (b"\x03\x00\x00\x00", b"\x04\x00\x00\x00"))
     or (p.head[:1] in (b"3", b"4") and b"V 1" in p.head[:64])),
    ("cntk", _cntk, lambda p: p.head[:1] == b"\x08" or p.head[:6] == b"B\x00C\x00N\x00"),
    ("paddle", _paddle,
     lambda p: p.head[:1] == b"\x0a" or p.head[:4] == b"\x00\x00\x00\x00" or b'"base_code"' in p.head),
    ("coreml", _coreml,
     lambda p: p.head[:1] == b"\x08" or p.head[4:8] == b"\x02\x00\x00\x00" or b'"itemInfoEntries"' in p.head),
    ("openvino", _openvino, lambda p: b"<net" in p.head or p.name.lower().endswith(".bin")),
    ("executorch", _executorch, lambda p: p.head[4:6] == b"ET"),
    ("mxnet", _mxnet, lambda p: p.head[:8] == b"\x12\x01\x00\x00\x00\x00\x00\x00" or b'"nodes"' in p.head),
    ("tensorrt", _tensorrt, lambda p: b"ftrt" in p.head or p.head[4:5] == b"{"),
    ("rknn", _rknn, lambda p: p.head[:4] == b"RKNN" or p.head[:8] == b"CYPTRKNN"),
    ("dataset-files", _dataset_files, _dataset_like),
]
_loaded: set[str] = set()


def activate_for(probe: Probe) -> None:
    """Import every lazily registered format module whose prefilter this content passes."""
    for name, importer, prefilter in _LAZY:
        if name in _loaded:
            continue
        try:
            wanted = prefilter(probe)
        except (OSError, ValueError, IndexError):
            wanted = True
        if wanted:
            importer()
            _loaded.add(name)


def import_all() -> None:
    """Import every format module (rule listings, zip layouts, tests)."""
    from mlvet import hfcache  # noqa: F401 - registers the cache-integrity rule

    for name, importer, _ in _LAZY:
        if name not in _loaded:
            importer()
            _loaded.add(name)
    _skops()
    from mlvet.formats import code_archives  # noqa: F401 - zip/tar layouts (torch.package, .mar, MLflow)
