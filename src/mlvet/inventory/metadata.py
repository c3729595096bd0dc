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

import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from mlvet.containers.gguf import T_STRING, GgufError, GgufHeader, GgufReader, GgufValue
from mlvet.containers.safetensors import SafetensorsError
from mlvet.containers.safetensors import read_header as read_safetensors_header
from mlvet.inventory.model import AssetMetadata

log = logging.getLogger(__name__)

#: Caps on what is read per source. Cards and configs of real models are kilobytes; these leave room for
#: cards with long tables and tokenizer configs with chat templates, and bound the worst case.
MAX_CARD_BYTES = 4 * 1024 * 1024
MAX_JSON_BYTES = 4 * 1024 * 1024
MAX_YAML_BYTES = 1024 * 1024
#: safetensors header bytes read per asset in total (a 400-shard checkpoint has ~400 small headers).
MAX_SAFETENSORS_HEADER_BYTES = 64 * 1024 * 1024
MAX_SHARDS = 512
#: Parquet footers read (the first fields hold the row count and schema; row-group stats follow).
MAX_PARQUET_FOOTER_BYTES = 1024 * 1024
MAX_PARQUET_FILES = 64
#: Directory entries looked at when the caller gives no file list.
MAX_LISTING = 10_000
#: Length of a string kept in ``extra`` or as a list entry.
MAX_VALUE_CHARS = 512
MAX_LIST_ITEMS = 64

_SKIP_DIRS = frozenset({".git", ".cache", "__pycache__", ".ipynb_checkpoints", ".huggingface"})

#: llama.cpp ``LlamaFileType`` (``general.file_type``) → quantisation name; from ``gguf.constants`` of the
#: ``gguf`` package 0.19 (tests compare it with the installed package).
GGUF_FILE_TYPES: dict[int, str] = {
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K",
    19: "IQ2_XXS", 20: "IQ2_XS", 21: "Q2_K_S", 22: "IQ3_XS", 23: "IQ3_XXS", 24: "IQ1_S", 25: "IQ4_NL",
    26: "IQ3_S", 27: "IQ3_M", 28: "IQ2_S", 29: "IQ2_M", 30: "IQ4_XS", 31: "IQ1_M", 32: "BF16", 36: "TQ1_0",
    37: "TQ2_0", 38: "MXFP4_MOE", 39: "NVFP4", 40: "Q1_0",
}

#: Head-class suffixes of transformers architectures → Hub pipeline tags (only the unambiguous ones).
_ARCH_TASKS: tuple[tuple[str, str], ...] = (
    ("ForCausalLM", "text-generation"),
    ("LMHeadModel", "text-generation"),
    ("ForSequenceClassification", "text-classification"),
    ("ForTokenClassification", "token-classification"),
    ("ForQuestionAnswering", "question-answering"),
    ("ForMaskedLM", "fill-mask"),
    ("ForImageClassification", "image-classification"),
    ("ForObjectDetection", "object-detection"),
    ("ForSemanticSegmentation", "image-segmentation"),
    ("ForCTC", "automatic-speech-recognition"),
    ("ForSpeechSeq2Seq", "automatic-speech-recognition"),
    ("ForAudioClassification", "audio-classification"),
    ("ForMultipleChoice", "multiple-choice"),
    ("ForZeroShotImageClassification", "zero-shot-image-classification"),
)
#: PEFT ``task_type`` → pipeline tag.
_PEFT_TASKS = {
    "CAUSAL_LM": "text-generation",
    "SEQ_CLS": "text-classification",
    "SEQ_2_SEQ_LM": "text2text-generation",
    "TOKEN_CLS": "token-classification",
    "QUESTION_ANS": "question-answering",
    "FEATURE_EXTRACTION": "feature-extraction",
}
_HF_URL = re.compile(r"^https?://(?:www\.)?huggingface\.co/(?:datasets/)?([\w.-]+/[\w.-]+?)/?$")
_SHARD = re.compile(r"-\d{5}-of-\d{5}(?=\.)")
_VARIANT = re.compile(r"\.(fp16|bf16|fp32|non_ema|ema|int8|fp8)$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")


# ---- the collector -----------------------------------------------------------------------------------


class _Collector:
    """Accumulates fields from several sources: scalars first-wins, lists merged without duplicates."""

    def __init__(self) -> None:
        self.scalars: dict[str, Any] = {}
        self.lists: dict[str, list[str]] = {}
        self.extra: dict[str, str] = {}
        self.card = False
        self.remote_code = False

    def set(self, name: str, value: Any) -> None:
        if name in self.scalars:
            return
        if isinstance(value, str):
            value = _clean(value)
            if not value:
                return
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return
        self.scalars[name] = value

    def add(self, name: str, values: Iterable[Any]) -> None:
        items = self.lists.setdefault(name, [])
        for value in values:
            text = _clean(value) if isinstance(value, str) else None
            if text and text not in items and len(items) < MAX_LIST_ITEMS:
                items.append(text)

    def note(self, key: str, value: Any) -> None:
        if key in self.extra or value is None or isinstance(value, (dict, list)):
            return
        text = _clean(str(value).lower() if isinstance(value, bool) else str(value))
        if text:
            self.extra[key] = text

    def build(self) -> AssetMetadata:
        s, li = self.scalars, self.lists
        return AssetMetadata(
            architecture=s.get("architecture"),
            parameters=s.get("parameters"),
            task=s.get("task"),
            license=s.get("license"),
            base_models=tuple(li.get("base_models", ())),
            datasets=tuple(li.get("datasets", ())),
            library=s.get("library"),
            languages=tuple(li.get("languages", ())),
            tags=tuple(li.get("tags", ())),
            card=self.card,
            card_sections=tuple(li.get("card_sections", ())),
            remote_code=self.remote_code,
            extra=tuple(self.extra.items()),
        )


def _clean(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_VALUE_CHARS:
        text = text[: MAX_VALUE_CHARS - 1] + "…"
    return text


def _strings(value: Any) -> list[str]:
    """A YAML/JSON value that may be one string or a list of them (other types dropped)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value[:MAX_LIST_ITEMS] if isinstance(v, str)]
    return []


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


# ---- bounded readers ---------------------------------------------------------------------------------


def _read_bytes(path: str, limit: int) -> bytes | None:
    """The file's first ``limit`` bytes; None when unreadable or not a regular file (a FIFO would block)."""
    from mlvet.walk import open_regular

    f = open_regular(path)
    if f is None:
        return None
    try:
        with f:
            return f.read(limit)
    except OSError:
        return None


def _read_json(path: str) -> Any:
    """A small JSON document, or None when too large, binary or malformed (parse failures are not ours)."""
    try:
        if os.path.getsize(path) > MAX_JSON_BYTES:
            return None
    except OSError:
        return None
    data = _read_bytes(path, MAX_JSON_BYTES)
    if data is None:
        return None
    try:
        return json.loads(data.decode("utf-8-sig"), parse_constant=lambda _n: None)
    except (ValueError, RecursionError):
        return None


def _parse_yaml(text: str) -> Any:
    """The project's safe YAML subset; on failure each top-level key is tried on its own.

    Cards are hand-edited: one entry outside the subset (an anchor in a widget, a tab) must not lose the
    license and base model written next to it.
    """
    from mlvet.errors import AnalysisError
    from mlvet.formats.mlflow import parse_yaml

    try:
        return parse_yaml(text, "card front matter")
    except AnalysisError:
        pass
    out: dict[str, Any] = {}
    chunk: list[str] = []
    lines = [*text.splitlines(), "\0"]
    for line in lines:
        starts_key = bool(line) and not line[0].isspace() and not line.startswith(("-", "#"))
        if starts_key and chunk:
            try:
                value = parse_yaml("\n".join(chunk), "card front matter")
            except AnalysisError:
                value = None
            if isinstance(value, dict):
                for k, v in value.items():
                    out.setdefault(k, v)
            chunk = []
        chunk.append(line)
    return out


# ---- cards -------------------------------------------------------------------------------------------


def _card(c: _Collector, path: str) -> None:
    data = _read_bytes(path, MAX_CARD_BYTES)
    if data is None:
        return  # listed but gone or unreadable: no card to speak of
    c.card = True
    if not data or b"\0" in data[:8192]:
        return  # binary or empty: a card exists, it says nothing
    text = data.decode("utf-8", "replace").lstrip("\ufeff")
    body = text
    if text.startswith("---"):
        lines = text.splitlines(keepends=True)
        if lines[0].strip() == "---":
            for i in range(1, len(lines)):
                if lines[i].strip() in ("---", "..."):
                    front = "".join(lines[1:i])
                    body = "".join(lines[i + 1 :])
                    if len(front) <= MAX_YAML_BYTES:
                        doc = _parse_yaml(front)
                        if isinstance(doc, dict):
                            _card_fields(c, doc)
                    break
    c.add("card_sections", _headings(body))


def _headings(body: str) -> list[str]:
    """ATX and setext headings outside fenced code, lower-cased, markdown emphasis and links removed."""
    out: list[str] = []
    fence: str | None = None
    prev = ""
    for line in body.splitlines():
        m = _FENCE.match(line)
        if m:
            fence = None if fence == m.group(1) else (fence or m.group(1))
            prev = ""
            continue
        if fence:
            continue
        title: str | None = None
        if h := _HEADING.match(line):
            title = h.group(2)
        elif prev.strip() and _SETEXT.match(line) and not prev.lstrip().startswith(("-", "*", "#", ">", "|")):
            title = prev
        if title:
            title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)
            title = re.sub(r"[*_`]+", "", title).strip().lower()
            if title and title not in out:
                out.append(title)
        prev = line
    return out


def _card_fields(c: _Collector, doc: dict[str, Any]) -> None:
    lic = doc.get("license")
    licenses = _strings(lic)
    name = doc.get("license_name")
    if isinstance(name, str) and name.strip() and (not licenses or licenses[0].lower() == "other"):
        c.set("license", name)
    elif licenses:
        c.set("license", licenses[0])
    if len(licenses) > 1:
        c.note("licenses", ", ".join(licenses))
    c.note("license_link", doc.get("license_link"))
    c.add("base_models", _strings(doc.get("base_model")))
    c.note("base_model_relation", doc.get("base_model_relation"))
    c.add("datasets", _strings(doc.get("datasets")))
    c.set("task", doc.get("pipeline_tag"))
    tasks = _strings(doc.get("task_categories"))
    if tasks:
        c.set("task", tasks[0])
    eval_tasks = _model_index_tasks(doc.get("model-index"))
    if eval_tasks:
        c.set("task", eval_tasks[0])
        c.note("eval_tasks", ", ".join(eval_tasks))
    c.set("library", doc.get("library_name"))
    c.add("languages", _strings(doc.get("language")))
    c.add("tags", _strings(doc.get("tags")))
    c.note("pretty_name", doc.get("pretty_name"))
    configs = doc.get("configs")
    if isinstance(configs, list):
        names = [x["config_name"] for x in configs if isinstance(x, dict) and isinstance(x.get("config_name"), str)]
        if names:
            c.note("configs", ", ".join(names))
    _dataset_info_rows(c, doc.get("dataset_info"))


def _model_index_tasks(value: Any) -> list[str]:
    """Task types named by the card's ``model-index`` evaluation results."""
    tasks: list[str] = []
    if not isinstance(value, list):
        return tasks
    for entry in value[:MAX_LIST_ITEMS]:
        results = entry.get("results") if isinstance(entry, dict) else None
        for result in results[:MAX_LIST_ITEMS] if isinstance(results, list) else ():
            task = result.get("task") if isinstance(result, dict) else None
            kind = task.get("type") if isinstance(task, dict) else None
            if isinstance(kind, str) and kind.strip() and kind.strip() not in tasks:
                tasks.append(kind.strip())
    return tasks


def _dataset_info_rows(c: _Collector, info: Any) -> None:
    """Row counts and features from a dataset card's ``dataset_info`` (one mapping or one per config)."""
    infos = info if isinstance(info, list) else [info]
    rows = 0
    seen = False
    features: list[str] = []
    for item in infos[:MAX_LIST_ITEMS]:
        if not isinstance(item, dict):
            continue
        splits = item.get("splits")
        for split in splits[:MAX_LIST_ITEMS] if isinstance(splits, list) else ():
            n = split.get("num_examples") if isinstance(split, dict) else None
            if isinstance(n, int) and not isinstance(n, bool) and n >= 0:
                rows += n
                seen = True
        feats = item.get("features")
        for feat in feats[:MAX_LIST_ITEMS] if isinstance(feats, list) else ():
            name = feat.get("name") if isinstance(feat, dict) else None
            if isinstance(name, str) and name not in features:
                features.append(name)
    if seen:
        c.note("num_rows", rows)
    if features:
        c.note("features", ", ".join(features))


# ---- configs -----------------------------------------------------------------------------------------


def _config(c: _Collector, path: str) -> None:
    doc = _read_json(path)
    if not isinstance(doc, dict):
        return
    if isinstance(doc.get("auto_map"), dict) and doc["auto_map"]:
        c.remote_code = True
    archs = _strings(doc.get("architectures"))
    if archs or isinstance(doc.get("model_type"), str) or "transformers_version" in doc:
        c.set("architecture", ", ".join(archs) if archs else doc.get("model_type"))
        if archs:
            c.note("model_type", doc.get("model_type"))
        for arch in archs:
            task = next((t for suffix, t in _ARCH_TASKS if arch.endswith(suffix)), None)
            if task:
                c.set("task", task)
                break
        c.set("library", "transformers")
        dtype = doc.get("dtype") or doc.get("torch_dtype")
        c.note("dtype", dtype if isinstance(dtype, str) else None)
        c.note("transformers_version", doc.get("transformers_version"))
        _quantization(c, doc.get("quantization_config"))
    elif isinstance(doc.get("_class_name"), str) and "_diffusers_version" in doc:
        c.set("architecture", doc["_class_name"])
        c.set("library", "diffusers")
    elif isinstance(doc.get("architecture"), str) and ("pretrained_cfg" in doc or "num_classes" in doc):
        c.set("architecture", doc["architecture"])  # timm
        c.set("library", "timm")
    elif isinstance(doc.get("class_name"), str) and ("registered_name" in doc or "module" in doc):
        _keras_config(c, doc)  # a Keras / KerasHub preset folder


def _quantization(c: _Collector, q: Any) -> None:
    if not isinstance(q, dict):
        return
    method = q.get("quant_method")
    method = method if isinstance(method, str) else "unknown"
    bits = q.get("bits")
    if q.get("load_in_4bit") is True:
        bits = 4
    elif q.get("load_in_8bit") is True:
        bits = 8
    c.note("quantization", f"{method}-{bits}bit" if isinstance(bits, int) and not isinstance(bits, bool) else method)


def _auto_map_only(c: _Collector, path: str) -> None:
    doc = _read_json(path)
    if isinstance(doc, dict) and isinstance(doc.get("auto_map"), (dict, list)) and doc["auto_map"]:
        c.remote_code = True


def _adapter_config(c: _Collector, path: str) -> None:
    doc = _read_json(path)
    if not isinstance(doc, dict):
        return
    c.add("base_models", _strings(doc.get("base_model_name_or_path")))
    task = doc.get("task_type")
    if isinstance(task, str):
        c.set("task", _PEFT_TASKS.get(task.upper()))
        c.note("peft_task_type", task)
    c.note("peft_type", doc.get("peft_type"))
    c.note("peft_version", doc.get("peft_version"))
    c.set("library", "peft")


def _model_index(c: _Collector, path: str) -> None:
    """diffusers pipeline: ``_class_name`` is the pipeline; components name the library that loads them."""
    doc = _read_json(path)
    if not isinstance(doc, dict):
        return
    cls = doc.get("_class_name")
    if isinstance(cls, list) and len(cls) == 2 and all(isinstance(x, str) for x in cls):
        c.remote_code = True  # [module, class]: a custom pipeline shipped as code
        cls = cls[1]
    c.set("architecture", cls)
    c.set("library", "diffusers")
    c.note("diffusers_version", doc.get("_diffusers_version"))
    for key, value in doc.items():
        if key.startswith("_") or not isinstance(value, list) or len(value) != 2:
            continue
        lib = value[0]
        if isinstance(lib, str) and lib not in ("diffusers", "transformers"):
            c.remote_code = True  # a component loaded from a module shipped with the repo


def _st_modules(c: _Collector, path: str) -> None:
    """sentence-transformers ``modules.json``: the pipeline of modules (Transformer, Pooling ...)."""
    doc = _read_json(path)
    if not isinstance(doc, list):
        return
    kinds: list[str] = []
    for entry in doc[:MAX_LIST_ITEMS]:
        kind = entry.get("type") if isinstance(entry, dict) else None
        if isinstance(kind, str):
            kinds.append(kind.rsplit(".", 1)[-1])
            if not kind.startswith("sentence_transformers."):
                c.remote_code = True
    if kinds:
        c.set("library", "sentence-transformers")
        c.set("task", "sentence-similarity")
        c.note("modules", ", ".join(kinds))


def _keras_config(c: _Collector, doc: dict[str, Any]) -> None:
    registered = doc.get("registered_name")
    name = registered if isinstance(registered, str) and registered else doc.get("class_name")
    c.set("architecture", name)
    c.set("library", "keras")


def _keras_preset_metadata(c: _Collector, path: str) -> None:
    """A KerasHub preset's ``metadata.json`` records the parameter count."""
    doc = _read_json(path)
    if isinstance(doc, dict) and "keras_version" in doc:
        c.note("keras_version", doc.get("keras_version"))
        n = doc.get("parameter_count")
        if isinstance(n, int):
            c.set("parameters", n)


def _keras_archive(c: _Collector, path: str) -> None:
    """A Keras v3 ``.keras`` zip: its ``config.json`` names the model class, ``metadata.json`` the version."""
    from mlvet.containers.zipread import ZipArchive

    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        archive = ZipArchive(f, size, max_members=10_000, max_gap_scan=0)
        for name in ("config.json", "metadata.json"):
            member = archive.locate(name)
            if member is None or member.uncompressed_size > MAX_JSON_BYTES:
                continue
            try:
                doc = json.loads(archive.read(member, MAX_JSON_BYTES).decode("utf-8"))
            except (ValueError, RecursionError):
                continue
            if not isinstance(doc, dict):
                continue
            if name == "config.json":
                _keras_config(c, doc)
            else:
                c.note("keras_version", doc.get("keras_version"))


def _mlmodel(c: _Collector, path: str) -> None:
    """MLflow ``MLmodel``: the flavours say which library loads the model; the signature its interface."""
    data = _read_bytes(path, MAX_YAML_BYTES + 1)
    if not data or len(data) > MAX_YAML_BYTES or b"\0" in data:
        return
    doc = _parse_yaml(data.decode("utf-8", "replace"))
    if not isinstance(doc, dict):
        return
    flavors = doc.get("flavors")
    if isinstance(flavors, dict):
        names = [k for k in flavors if k != "python_function"]
        c.set("library", names[0] if names else ("mlflow-pyfunc" if flavors else None))
        for name in names:
            spec = flavors.get(name)
            if not isinstance(spec, dict):
                continue
            if name == "transformers":
                c.set("task", spec.get("task"))
                c.note("source_model", spec.get("source_model_name"))
                c.note("source_model_revision", spec.get("source_model_revision"))
            for key in (f"{name}_version", "serialization_format"):
                if isinstance(spec.get(key), (str, int, float)):
                    c.note(key, spec[key])
    c.note("mlflow_version", doc.get("mlflow_version"))
    c.note("run_id", doc.get("run_id"))
    sig = doc.get("signature")
    if isinstance(sig, dict):
        c.note("signature_inputs", sig.get("inputs"))
        c.note("signature_outputs", sig.get("outputs"))


# ---- datasets ----------------------------------------------------------------------------------------


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


# ---- safetensors -------------------------------------------------------------------------------------


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


# ---- GGUF --------------------------------------------------------------------------------------------


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


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


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


def _hub_id(kv: dict[str, Any], prefix: str) -> str | None:
    """A base model or dataset entry as a Hub id: from its Hub URL, else its name."""
    url = kv.get(f"{prefix}.repo_url")
    if isinstance(url, str) and (m := _HF_URL.match(url.strip())):
        return m.group(1)
    name = kv.get(f"{prefix}.name")
    return name if isinstance(name, str) else (url if isinstance(url, str) else None)


# ---- ONNX --------------------------------------------------------------------------------------------


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


# ---- parquet -----------------------------------------------------------------------------------------


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
