"""Library configs: transformers ``config.json``, PEFT adapters, diffusers pipelines, sentence-transformers,
Keras archives and presets, MLflow ``MLmodel``."""

from __future__ import annotations

import json
import os
from typing import Any

from mlvet.inventory.metadata._common import (
    MAX_JSON_BYTES,
    MAX_LIST_ITEMS,
    MAX_YAML_BYTES,
    _Collector,
    _parse_yaml,
    _read_bytes,
    _read_json,
    _strings,
)

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
