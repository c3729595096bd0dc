"""What an asset says about itself: architecture, size, task, license, lineage, from headers and cards.

The inventory, the ML-BOM and the report card need the facts a publisher declares (license, base model,
training data, task) and the facts the files prove (architecture, parameter count, quantisation). Both
come from small, structured places: the model/dataset card's YAML front matter, ``config.json`` and its
siblings, the JSON header of safetensors files, the GGUF key/value table and tensor infos, ONNX
initializer shapes, the Keras archive's ``config.json``, MLflow's ``MLmodel`` and parquet footers.

Everything here is static and bounded, because it runs for every asset of trees with 100,000 files:

* at most a handful of small files are opened per asset, each read up to a size cap; weight data is
  never read (a safetensors file costs its header, a GGUF file its metadata and tensor table, an ONNX
  file a walk over its initializers' field headers with the tensor bytes skipped);
* nothing is executed or deserialised: YAML goes through MLflow's strict subset parser
  (:func:`mlvet.formats.mlflow.parse_yaml`), JSON through :func:`json.loads` with a size cap, binary
  headers through small readers that bound every count by the bytes left;
* metadata is best effort: each source is read on its own, and a malformed, truncated, binary or huge
  source contributes nothing instead of raising (a bad README still records that a card exists). The
  scanner, not this module, is where malformed files become findings.

When sources disagree, the first that declares a value wins, in this order: the card (the publisher's
statement), the configs, then the weight headers. Lists (base models, datasets, tags) are merged.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

from mlvet.inventory.metadata._common import (
    _SHARD,
    MAX_CARD_BYTES,
    MAX_JSON_BYTES,
    MAX_LIST_ITEMS,
    MAX_LISTING,
    MAX_PARQUET_FILES,
    MAX_PARQUET_FOOTER_BYTES,
    MAX_SAFETENSORS_HEADER_BYTES,
    MAX_SHARDS,
    MAX_VALUE_CHARS,
    MAX_YAML_BYTES,
    _Collector,
    _read_bytes,
    log,
)
from mlvet.inventory.metadata.cards import _card
from mlvet.inventory.metadata.configs import (
    _adapter_config,
    _auto_map_only,
    _config,
    _keras_archive,
    _keras_preset_metadata,
    _mlmodel,
    _model_index,
    _st_modules,
)
from mlvet.inventory.metadata.datasets import _dataset_dict, _dataset_info, _parquet
from mlvet.inventory.metadata.weights import GGUF_FILE_TYPES, _gguf, _onnx, _safetensors_files, _safetensors_folder
from mlvet.inventory.model import AssetMetadata

__all__ = [
    "GGUF_FILE_TYPES", "MAX_CARD_BYTES", "MAX_JSON_BYTES", "MAX_LISTING", "MAX_LIST_ITEMS", "MAX_PARQUET_FILES",
    "MAX_PARQUET_FOOTER_BYTES", "MAX_SAFETENSORS_HEADER_BYTES", "MAX_SHARDS", "MAX_VALUE_CHARS", "MAX_YAML_BYTES",
    "read_metadata",
]

_SKIP_DIRS = frozenset({".git", ".cache", "__pycache__", ".ipynb_checkpoints", ".huggingface"})


# ---- entry point -------------------------------------------------------------------------------------


def read_metadata(
    root: str | os.PathLike[str], files: Sequence[str] = (), *, fmt: str | None = None
) -> AssetMetadata:
    """Metadata of the asset at ``root`` (a folder or a single file) from its cards, configs and headers.

    ``files`` are the asset's paths relative to ``root`` (listed here, one sub-folder level deep, when
    empty); ``fmt`` is the asset's principal format as discovery identified it by content ("gguf",
    "safetensors", "onnx", "keras", "parquet" ...), which lets a single file be read by format even when
    its name has no telling extension. Never raises: unreadable sources contribute nothing.
    """
    c = _Collector()
    try:
        path = os.fspath(root)
        if os.path.isfile(path):
            _single_file(c, path, fmt)
        elif os.path.isdir(path):
            rels = list(files) if files else _listing(path)
            _folder(c, path, rels)
    except Exception:  # metadata is best effort: a bug in one reader must not fail an inventory
        log.debug("metadata of %s is incomplete", root, exc_info=True)
    return c.build()


def _guard(fn: Callable[..., None], *args: Any) -> None:
    """Run one source reader; whatever goes wrong in it is logged and the other sources still count."""
    try:
        fn(*args)
    except Exception:  # malformed input is normal here; it is the scanner's job to report it
        log.debug("metadata source %s(%r) failed", getattr(fn, "__name__", fn), args[1:2], exc_info=True)


def _listing(folder: str) -> list[str]:
    """Files in ``folder`` and in its direct sub-folders (component folders of diffusers, splits ...)."""
    out: list[str] = []
    try:
        with os.scandir(folder) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        return out
    for entry in entries:
        if len(out) >= MAX_LISTING:
            break
        try:
            if entry.is_file():
                out.append(entry.name)
            elif entry.is_dir() and entry.name not in _SKIP_DIRS:
                with os.scandir(entry.path) as sub:
                    out.extend(f"{entry.name}/{e.name}" for e in sorted(sub, key=lambda e: e.name) if e.is_file())
        except OSError:
            continue
    return out[:MAX_LISTING]


#: Formats recognised by magic when neither the caller nor the name says (zip is not: most zips are not Keras).
_MAGIC_FORMATS: tuple[tuple[bytes, str], ...] = ((b"GGUF", "gguf"), (b"PAR1", "parquet"))


def _sniff(path: str) -> str | None:
    head = _read_bytes(path, 16)
    if head is None:
        return None
    for magic, name in _MAGIC_FORMATS:
        if head.startswith(magic):
            return name
    if len(head) >= 10 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") < 1 << 40:
        return "safetensors"
    return None


def _format_of(path: str, fmt: str | None) -> str | None:
    """The reader for a single file: the caller's format, else the extension, else the magic."""
    f = (fmt or "").lower()
    if f in ("gguf", "safetensors", "onnx", "keras", "parquet"):
        return f
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext in ("gguf", "safetensors", "onnx", "keras", "parquet"):
        return ext
    return _sniff(path)


def _single_file(c: _Collector, path: str, fmt: str | None) -> None:
    kind = _format_of(path, fmt)
    if kind == "safetensors":
        _guard(_safetensors_files, c, [path])
    elif kind == "gguf":
        _guard(_gguf, c, [path])
    elif kind == "onnx":
        _guard(_onnx, c, path)
    elif kind == "keras":
        _guard(_keras_archive, c, path)
    elif kind == "parquet":
        _guard(_parquet, c, [path])


def _folder(c: _Collector, folder: str, rels: list[str]) -> None:
    top = {r.lower(): r for r in rels if "/" not in r.replace("\\", "/")}

    def at(name: str) -> str | None:
        rel = top.get(name)
        return os.path.join(folder, rel) if rel is not None else None

    def with_ext(ext: str) -> list[str]:
        return sorted(r for r in rels if r.lower().endswith(ext))

    if (p := at("readme.md")) is not None:
        _guard(_card, c, p)
    # The more specific library first: a sentence-transformers or PEFT folder also holds a config.json.
    if (p := at("modules.json")) is not None:
        _guard(_st_modules, c, p)
    if (p := at("adapter_config.json")) is not None:
        _guard(_adapter_config, c, p)
    if (p := at("model_index.json")) is not None:
        _guard(_model_index, c, p)
    if (p := at("config.json")) is not None:
        _guard(_config, c, p)
    if (p := at("tokenizer_config.json")) is not None:
        _guard(_auto_map_only, c, p)
    if (p := at("mlmodel")) is not None:
        _guard(_mlmodel, c, p)
    if (p := at("metadata.json")) is not None:
        _guard(_keras_preset_metadata, c, p)
    if (p := at("dataset_dict.json")) is not None:
        _guard(_dataset_dict, c, p)
    infos = [r for r in rels if os.path.basename(r).lower() == "dataset_info.json"]
    if infos:
        _guard(_dataset_info, c, os.path.join(folder, sorted(infos, key=lambda r: (r.count("/"), r))[0]))

    if "parameters" not in c.scalars:
        st = with_ext(".safetensors")
        if st:
            _guard(_safetensors_folder, c, folder, rels, st, "model_index.json" in top)
    gguf = with_ext(".gguf")
    if gguf:
        _guard(_gguf, c, [os.path.join(folder, r) for r in _first_group(gguf)])
    if "parameters" not in c.scalars and (onnx := with_ext(".onnx")):
        _guard(_onnx, c, os.path.join(folder, onnx[0]))
    if keras := with_ext(".keras"):
        _guard(_keras_archive, c, os.path.join(folder, keras[0]))
    if parquet := with_ext(".parquet"):
        _guard(_parquet, c, [os.path.join(folder, r) for r in parquet[: MAX_PARQUET_FILES + 1]])


def _first_group(names: list[str]) -> list[str]:
    """The files of the first weight set: one GGUF (all its ``-0000i-of-0000n`` splits when split)."""
    first = names[0]
    key = _SHARD.sub("", first)
    return [n for n in names if _SHARD.sub("", n) == key] if _SHARD.search(first) else [first]
