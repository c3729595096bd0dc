"""Weight headers: parameter counts and dtypes from safetensors and GGUF headers (read by the shared
readers in :mod:`mlvet.containers`) and ONNX initializer shapes; tensor data is never read."""

from __future__ import annotations

import math
import os
from typing import Any

from mlvet.containers.gguf import T_STRING, GgufError, GgufHeader, GgufReader, GgufValue
from mlvet.containers.safetensors import SafetensorsError
from mlvet.containers.safetensors import read_header as read_safetensors_header
from mlvet.inventory.metadata._common import (
    _SHARD,
    _VARIANT,
    MAX_LIST_ITEMS,
    MAX_SAFETENSORS_HEADER_BYTES,
    MAX_SHARDS,
    _Collector,
    _hub_id,
    _int,
    _read_json,
    _strings,
)

#: llama.cpp ``LlamaFileType`` (``general.file_type``) → quantisation name; from ``gguf.constants`` of the
#: ``gguf`` package 0.19 (tests compare it with the installed package).
GGUF_FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
    19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
    26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0",
}


def _safetensors_folder(
    c: _Collector, folder: str, rels: list[str], shards: list[str], pipeline: bool
) -> None:
    """Parameters of the folder's weight sets: index ``total_parameters``, else the shard headers.

    A folder holding several variants of the same weights (``model.safetensors`` and
    ``model.fp16.safetensors``) counts one variant per sub-folder. Only a diffusers pipeline
    (``pipeline``) sums its component sub-folders; elsewhere sub-folders are copies (training
    ``checkpoint-500/``, ``onnx/``, ``original/``), so only the shallowest folder with weights counts.
    """

    def depth(rel: str) -> int:
        return rel.replace("\\", "/").count("/")

    if not pipeline:
        top = min(shards, key=lambda r: (depth(r), os.path.dirname(r)))
        keep = os.path.dirname(top)
        shards = [r for r in shards if os.path.dirname(r) == keep]
        rels = [r for r in rels if os.path.dirname(r) == keep]
    else:
        shards = [r for r in shards if depth(r) <= 1]
        rels = [r for r in rels if depth(r) <= 1]
    indexes = sorted(r for r in rels if r.lower().endswith(".safetensors.index.json"))
    total = 0
    counted_dirs: set[str] = set()
    budget = [MAX_SAFETENSORS_HEADER_BYTES]
    dtypes: dict[str, int] = {}
    for index_rel in indexes:
        sub = os.path.dirname(index_rel)
        if sub in counted_dirs or _VARIANT.search(index_rel[: -len(".safetensors.index.json")]):
            continue
        doc = _read_json(os.path.join(folder, index_rel))
        if not isinstance(doc, dict):
            continue
        meta = doc.get("metadata")
        declared = meta.get("total_parameters") if isinstance(meta, dict) else None
        weight_map = doc.get("weight_map")
        names = sorted({v for v in weight_map.values() if isinstance(v, str)}) if isinstance(weight_map, dict) else []
        if isinstance(declared, int) and not isinstance(declared, bool) and declared >= 0:
            total += declared
        else:
            paths = [os.path.join(folder, sub, x) for x in names if "/" not in x and "\\" not in x and x != ".."]
            counted = _sum_headers(paths, budget, dtypes)
            if counted is None:
                return
            total += counted
        counted_dirs.add(sub)
    by_dir: dict[str, list[str]] = {}
    for rel in shards:
        by_dir.setdefault(os.path.dirname(rel), []).append(rel)
    for sub, names in sorted(by_dir.items()):
        if sub in counted_dirs:
            continue
        groups: dict[str, list[str]] = {}
        for rel in names:
            groups.setdefault(_SHARD.sub("", os.path.basename(rel))[: -len(".safetensors")], []).append(rel)
        plain = sorted(g for g in groups if not _VARIANT.search(g))
        key = plain[0] if plain else sorted(groups)[0]
        n = _sum_headers([os.path.join(folder, r) for r in groups[key]], budget, dtypes)
        if n is None:
            return
        total += n
    c.set("parameters", total)
    if dtypes:
        c.note("dtype", _TORCH_DTYPE.get(max(dtypes, key=lambda d: dtypes[d]), max(dtypes, key=lambda d: dtypes[d])))


_TORCH_DTYPE = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64", "I8": "int8",
                "U8": "uint8", "F8_E4M3": "float8_e4m3fn", "F8_E5M2": "float8_e5m2"}


def _safetensors_files(c: _Collector, paths: list[str]) -> None:
    dtypes: dict[str, int] = {}
    n = _sum_headers(paths, [MAX_SAFETENSORS_HEADER_BYTES], dtypes)
    if n is not None:
        c.set("parameters", n)
    if dtypes:
        best = max(dtypes, key=lambda d: dtypes[d])
        c.note("dtype", _TORCH_DTYPE.get(best, best))


def _sum_headers(paths: list[str], budget: list[int], dtypes: dict[str, int]) -> int | None:
    """Total tensor elements over the files' headers; None when any header is unreadable (no half counts)."""
    total = 0
    for path in paths[:MAX_SHARDS]:
        n = _safetensors_elements(path, budget, dtypes)
        if n is None:
            return None
        total += n
    return total if len(paths) <= MAX_SHARDS else None


def _safetensors_elements(path: str, budget: list[int], dtypes: dict[str, int]) -> int | None:
    """Tensor elements in one file's header (read by :mod:`mlvet.containers.safetensors`); None if unusable."""
    try:
        with open(path, "rb") as f:
            header = read_safetensors_header(f, os.fstat(f.fileno()).st_size, limit=budget[0])
    except SafetensorsError as exc:
        if exc.kind not in ("short", "beyond-file", "over-limit"):  # the header was read: it counts
            budget[0] -= exc.length or 0
        return None
    except OSError:
        return None
    budget[0] -= header.length
    total = 0
    for entry in dict(header.tensor_items()).values():  # a repeated key counts once (the last wins)
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if not isinstance(shape, list) or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                                  for d in shape):
            return None
        count = math.prod(shape)
        total += count
        dtype = entry.get("dtype")
        if isinstance(dtype, str):
            dtypes[dtype] = dtypes.get(dtype, 0) + count
    return total


#: GGUF metadata kept for the inventory: ``general.*``, ``split.*`` and ``adapter.*`` values (strings up to
#: 4 KB), and the tag and language lists. Every other value, vocabularies included, is stepped over.
_GGUF_KEEP_PREFIXES = ("general.", "split.", "adapter.")


_GGUF_KEEP_ARRAYS = frozenset({"general.tags", "general.languages"})


def _gguf_keep_text(key: str, n: int) -> bool:
    return n <= 4096 and key.startswith(_GGUF_KEEP_PREFIXES)


def _gguf_kv(values: dict[str, GgufValue]) -> dict[str, Any]:
    """The kept metadata as plain values (scalars, strings, lists of strings)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key in _GGUF_KEEP_ARRAYS and value.elem_type == T_STRING:
            out[key] = list(value.items)
        elif not key.startswith(_GGUF_KEEP_PREFIXES):
            continue
        elif value.text is not None:
            out[key] = value.text
        elif value.scalar is not None:
            out[key] = value.scalar
    return out


def _gguf(c: _Collector, paths: list[str]) -> None:
    """GGUF metadata from the first file (split files repeat it) and parameters summed over the splits.

    The header is read by the scanner's bounded reader (:mod:`mlvet.containers.gguf`); a malformed header
    (which the scanner reports) just ends the read here, keeping the metadata read before it.
    """
    total = 0
    complete = True
    for i, path in enumerate(paths[:MAX_SHARDS]):
        with open(path, "rb") as f:
            reader = GgufReader(f, os.fstat(f.fileno()).st_size, keep_text=_gguf_keep_text,
                                keep_arrays=_GGUF_KEEP_ARRAYS, max_items=MAX_LIST_ITEMS)
            try:
                header: GgufHeader | None = reader.read()
            except GgufError:
                header = None
                complete = False
        if i == 0:
            _gguf_fields(c, _gguf_kv(reader.kv))
        if header is None:
            continue
        total += sum(math.prod(t.dims) for t in header.tensors)
    if complete and len(paths) <= MAX_SHARDS:
        c.set("parameters", total)


def _gguf_fields(c: _Collector, kv: dict[str, Any]) -> None:
    declared = _int(kv.get("general.parameter_count"))
    if declared is not None:
        c.set("parameters", declared)
    lic, lic_name = kv.get("general.license"), kv.get("general.license.name")
    if isinstance(lic_name, str) and (not isinstance(lic, str) or lic.lower() == "other"):
        lic = lic_name
    c.set("license", lic)
    c.note("license_link", kv.get("general.license.link"))
    c.set("architecture", kv.get("general.architecture"))
    c.set("library", "gguf")
    for prefix, field in (("general.base_model", "base_models"), ("general.dataset", "datasets")):
        n = _int(kv.get(f"{prefix}.count")) or 0
        for i in range(min(n, MAX_LIST_ITEMS)):
            c.add(field, [_hub_id(kv, f"{prefix}.{i}")])
    c.add("tags", _strings(kv.get("general.tags")))
    c.add("languages", _strings(kv.get("general.languages")))
    c.note("name", kv.get("general.name"))
    c.note("size_label", kv.get("general.size_label"))
    c.note("gguf_type", kv.get("general.type"))
    ft = _int(kv.get("general.file_type"))
    if ft is not None:
        c.note("quantization", GGUF_FILE_TYPES.get(ft, f"file_type {ft}"))
    c.note("split_count", _int(kv.get("split.count")))


def _onnx(c: _Collector, path: str) -> None:
    """Parameters as the sum of the graph initializers' element counts (their bytes are skipped)."""
    from mlvet.analysis.protowire import LEN, VARINT, WireReader
    from mlvet.errors import AnalysisError

    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        w = WireReader(f, size, what="ONNX model", max_depth=8)
        total = 0
        try:
            for field in w.fields(w.root()):
                if field.number == 2 and field.wire == LEN:
                    c.note("producer", w.text(field, 256))
                elif field.number == 7 and field.wire == LEN:
                    for g in w.fields(w.message(field)):
                        if g.number != 5 or g.wire != LEN:
                            continue
                        dims: list[int] = []
                        for t in w.fields(w.message(g)):
                            if t.number == 1 and t.wire == VARINT:
                                dims.append(t.signed)
                            elif t.number == 1 and t.wire == LEN:
                                dims.extend(_packed_varints(w.payload(t, 1024)[0]))
                        if any(d < 0 for d in dims):
                            return
                        total += math.prod(dims)
        except AnalysisError:
            return
    c.set("parameters", total)
    c.set("library", "onnx")


def _packed_varints(data: bytes) -> list[int]:
    out: list[int] = []
    value = shift = 0
    for b in data:
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            out.append(value - (1 << 64) if value >= 1 << 63 else value)
            value = shift = 0
    return out
