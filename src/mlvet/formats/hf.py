"""Hugging Face repositories: configs that pull in remote code, chat templates, and the code itself.

A Hub repository (a snapshot folder, or ``models--org--name/snapshots/<rev>`` in the cache) is scanned
file by file; this module adds what is specific to it:

* **JSON configs** (``config.json``, ``tokenizer_config.json``, processor configs, sentence-transformers
  ``modules.json``, skops' hub ``config.json``), recognised by their keys. ``auto_map`` and
  ``custom_pipelines`` entries make ``from_pretrained(trust_remote_code=True)`` import Python files from
  the repository (or from *another* repository with ``org/repo--module.Class``); the referenced module
  (and what it imports relatively) is analysed statically when it sits next to the config. Chat templates
  (a string, or a list of ``{name, template}``) go to the chat-template analyser.
* **``*.jinja`` chat templates** (``chat_template.jinja``, ``additional_chat_templates/*.jinja``).
* **Python files** in a model folder: static AST analysis (:mod:`mlvet.analysis.pyast`); code that the
  loader imports (auto_map modules and their relative imports, MLflow code paths) is reported one level
  higher when the dangerous call sits at module level, because it runs inside ``from_pretrained``.

Every model file in the repository (safetensors, pickles, GGUF...) is scanned by its own handler.
Nothing here imports, compiles or renders what it reads.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, BinaryIO

from mlvet.analysis import pyast
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.code_findings import report_python, report_targets, report_template
from mlvet.model import Severity
from mlvet.rules import define_rule

#: JSON configs larger than this are not parsed (the largest real tokenizer_config.json files are a few MB).
MAX_JSON_BYTES = 64 * 1024 * 1024
#: Small JSON files are searched whole for a chat template when their head has no known key.
_SMALL_JSON = 4 * 1024 * 1024
MAX_TEMPLATE_BYTES = 4 * 1024 * 1024
#: Remote-code modules followed through relative imports from one auto_map entry.
MAX_MODULES = 64

HFR900 = define_rule(
    "HFR900", "remote-code-required", Severity.MEDIUM,
    "The repository's config maps a class to Python code shipped in the repository (auto_map or "
    "custom_pipelines): loading it needs trust_remote_code=True.",
    "With trust_remote_code the listed modules are imported and run with your privileges. The code is "
    "outside the safety of the weights format and can change with every revision of the repository.",
    "Review the referenced .py files (mlvet analyses them when present), pin the revision, or use a model "
    "that transformers supports natively.",
    94,
)
HFR901 = define_rule(
    "HFR901", "remote-code-other-repository", Severity.HIGH,
    "An auto_map entry points at code in a different repository ('org/repo--module.Class').",
    "The code that runs is fetched from a repository that is not the one you chose to trust and that "
    "this scan cannot see; its owner can change it at any time.",
    "Do not load with trust_remote_code unless you have reviewed and pinned that other repository too.",
    829,
)
HFR902 = define_rule(
    "HFR902", "remote-code-dangerous", Severity.HIGH,
    "Remote code referenced by the config performs dangerous operations (processes, dynamic code, "
    "network, unsafe deserialisation...); the finding's severity is that of the worst operation.",
    "These operations run inside from_pretrained(trust_remote_code=True).",
    "Do not load the model with trust_remote_code until the code has been reviewed; see the .py file's "
    "own findings for every call.",
    94,
)
HFR903 = define_rule(
    "HFR903", "remote-code-not-analysed", Severity.LOW,
    "A module referenced by auto_map is not present next to the config or could not be parsed, so it was "
    "not analysed.",
    "transformers downloads missing modules from the Hub at load time; code mlvet never saw would run.",
    "Download the complete repository snapshot (or the named module) and scan it again.",
)
HFR905 = define_rule(
    "HFR905", "trust-remote-code-enabled", Severity.MEDIUM,
    "A configuration file sets trust_remote_code to true for a component it loads.",
    "Libraries that read this file (sentence-transformers, pipelines) then import code from the Hub "
    "without asking.",
    "Remove the setting or review the code it enables.",
    94,
)
HFR907 = define_rule(
    "HFR907", "skops-joblib-fallback", Severity.MEDIUM,
    "A skops Hub config names a model file that is not a .skops archive: skops' Card.get_model and hub "
    "utilities load it with joblib, i.e. pickle (CVE-2025-54886).",
    "The pickle runs code while loading, bypassing skops' trusted-type checks entirely.",
    "Ask the publisher for a .skops file; check the pickle's own findings.",
    502,
)
HFR908 = define_rule(
    "HFR908", "custom-module-class", Severity.MEDIUM,
    "A sentence-transformers modules.json or PEFT adapter config names a class outside its library, "
    "which is imported (from the repository, with trust_remote_code) when the model loads.",
    "Importing a class by a name read from a file runs that module's code.",
    "Review the module; prefer models whose modules are the library's own.",
    94,
)

_JSON_MARKERS = tuple(
    f'"{k}"'.encode()
    for k in (
        "model_type", "architectures", "auto_map", "_name_or_path", "transformers_version", "chat_template",
        "tokenizer_class", "added_tokens_decoder", "add_bos_token", "add_eos_token", "bos_token",
        "model_max_length", "processor_class", "image_processor_type", "feature_extractor_type",
        "custom_pipelines", "trust_remote_code", "peft_type", "base_model_name_or_path", "auto_mapping",
        "sklearn", "_target_",
    )
)
_BOM = b"\xef\xbb\xbf"
_HF_CONFIG_NAMES = (
    "config.json", "tokenizer_config.json", "processor_config.json", "preprocessor_config.json",
    "modules.json", "adapter_config.json", "chat_template.json", "generation_config.json",
    "sentence_bert_config.json", "config_sentence_transformers.json",
)
_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _json_start(head: bytes) -> bytes:
    return head[3:] if head.startswith(_BOM) else head


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 4  # a multi-byte character cut by the head boundary
    return True


def _read_text(stream: BinaryIO, size: int, limit: int, what: str) -> str:
    if size > limit:
        raise AnalysisError(f"{what} of {size} bytes exceeds the {limit}-byte limit; not analysed")
    raw = stream.read(limit + 1)
    if raw.startswith(_BOM):
        raw = raw[3:]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise AnalysisError(f"{what} is not valid UTF-8 (byte {exc.start})") from None


def _parse_json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise AnalysisError(f"{what} nests too deeply to analyse") from None
    except ValueError as exc:
        raise AnalysisError(f"{what} is not valid JSON: {exc}") from None


# ---- chat templates -----------------------------------------------------------------------------------


def _analyse_template(source: str, ctx: ScanContext, where: str) -> None:
    """Hand a template to the chat-template engine and report what it found."""
    report_template(source, ctx, where=where)


def _templates(value: Any) -> Iterator[tuple[str, str]]:
    """``chat_template`` is a string, a list of ``{name, template}``, or (some processors) a dict."""
    if isinstance(value, str):
        yield "chat_template", value
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if isinstance(item, dict) and isinstance(item.get("template"), str):
                name = item.get("name") if isinstance(item.get("name"), str) else str(i)
                yield f"chat_template[{name}]", item["template"]
    elif isinstance(value, dict):
        for name, tpl in value.items():
            if isinstance(tpl, str):
                yield f"chat_template[{name}]", tpl


# ---- remote code --------------------------------------------------------------------------------------


def _auto_map_refs(doc: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(key, class reference, where) for every auto_map / custom_pipelines entry."""
    auto_map = doc.get("auto_map")
    if isinstance(auto_map, dict):
        for key, value in auto_map.items():
            refs = value if isinstance(value, list) else [value]
            for ref in refs:
                if isinstance(ref, str) and ref:
                    yield str(key), ref, "auto_map"
    pipes = doc.get("custom_pipelines")
    if isinstance(pipes, dict):
        for task, spec in pipes.items():
            if isinstance(spec, dict) and isinstance(spec.get("impl"), str):
                yield str(task), spec["impl"], "custom_pipelines"


def split_reference(ref: str) -> tuple[str | None, str, str]:
    """``org/repo--module.Class`` → (repo or None, module, class), as transformers splits it."""
    repo: str | None = None
    if "--" in ref:
        repo, ref = ref.split("--", 1)
    module, _, cls = ref.rpartition(".")
    return repo, module, cls


def _folder(ctx: ScanContext) -> str | None:
    """The folder of the file on disk, when the file is a top-level file (not an archive member)."""
    if ctx.members or ctx.depth:
        return None
    return os.path.dirname(os.path.abspath(ctx.path))


def _read_module(folder: str, module: str) -> str | None:
    path = os.path.join(folder, *module.split(".")) + ".py"
    try:
        if os.path.getsize(path) > pyast.MAX_SOURCE_BYTES:
            return None
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")
    except OSError:
        return None


def _analyse_remote_module(
    folder: str, module: str, ctx: ScanContext, used_by: str, reported: set[str]
) -> None:
    """Analyse ``module`` and its relative imports, as transformers' dynamic loader fetches them."""
    todo, seen = [module], set[str]()
    worst: list[tuple[str, pyast.CodeFinding]] = []
    missing: list[str] = []
    while todo and len(seen) < MAX_MODULES:
        mod = todo.pop()
        if mod in seen:
            continue
        seen.add(mod)
        source = _read_module(folder, mod)
        if source is None:
            missing.append(f"{mod}.py")
            continue
        try:
            findings = pyast.analyse_source(source, filename=f"{mod}.py", imported=True)
        except AnalysisError as exc:
            missing.append(f"{mod}.py ({exc})")
            continue
        worst.extend((f"{mod}.py", f) for f in findings)
        todo.extend(sorted(pyast.relative_imports(source)))
    key = module
    if key in reported:
        return
    reported.add(key)
    for name in missing:
        ctx.report(HFR903, f"remote code {name} used by {used_by} could not be analysed", evidence=name)
    if worst:
        worst.sort(key=lambda item: -item[1].severity)
        top = worst[0][1].severity
        calls = "; ".join(f"{fname}:{f.line} {f.qualified}" for fname, f in worst[:6])
        more = f" and {len(worst) - 6} more" if len(worst) > 6 else ""
        ctx.report(
            HFR902,
            f"remote code {module}.py used by {used_by} performs dangerous operations: {calls}{more}",
            severity=top,
            evidence=worst[0][1].excerpt,
        )


def _report_remote_code(doc: dict[str, Any], ctx: ScanContext) -> None:
    """One finding per module the config makes the loader import (listing the classes that use it)."""
    folder = _folder(ctx)
    reported: set[str] = set()
    architectures = doc.get("architectures")
    arch = {a for a in architectures if isinstance(a, str)} if isinstance(architectures, list) else set()
    by_module: dict[tuple[str | None, str], list[tuple[str, str, str, str]]] = {}
    for key, ref, where in _auto_map_refs(doc):
        repo, module, cls = split_reference(ref)
        by_module.setdefault((repo, module), []).append((where, key, cls, ref))
    for (repo, module), uses in by_module.items():
        where = uses[0][0]
        classes = ", ".join(
            f"{key} → {cls}" + (" (custom architecture)" if cls in arch else "") for _w, key, cls, _r in uses
        )
        evidence = "; ".join(f'"{key}": "{ref}"' for _w, key, _c, ref in uses)
        if repo is not None:
            ctx.report(HFR901, f"{where} loads {module}.py from another repository, {repo}: {classes}",
                       evidence=evidence)
            continue
        ctx.report(HFR900, f"{where} needs trust_remote_code: imports {module}.py for {classes}", evidence=evidence)
        if folder is not None and all(_MODULE_RE.match(p) for p in module.split(".")):
            _analyse_remote_module(folder, module, ctx, f"{where} ({', '.join(k for _w, k, _c, _r in uses)})",
                                   reported)


def _walk_trust(value: Any, path: str, depth: int = 0) -> Iterator[str]:
    """Every ``trust_remote_code: true`` in a config, with its key path."""
    if depth > 32:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            here = f"{path}.{k}" if path else str(k)
            if k == "trust_remote_code" and v is True:
                yield here
            else:
                yield from _walk_trust(v, here, depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value[:10_000]):
            yield from _walk_trust(v, f"{path}[{i}]", depth + 1)


def _report_other_keys(doc: Any, ctx: ScanContext) -> None:
    for where in _walk_trust(doc, ""):
        ctx.report(HFR905, f"{where} is true", evidence=f"{where}: true")
    if isinstance(doc, dict):
        sk = doc.get("sklearn")
        model = sk.get("model") if isinstance(sk, dict) else None
        file = model.get("file") if isinstance(model, dict) else None
        if isinstance(file, str) and not file.lower().endswith(".skops"):
            ctx.report(
                HFR907,
                f"skops hub config loads model file {file!r} with joblib (pickle), not skops' safe loader",
                evidence=f'"sklearn.model.file": "{file}"',
            )
        mapping = doc.get("auto_mapping")
        if isinstance(mapping, dict):
            lib = mapping.get("parent_library")
            if isinstance(lib, str) and lib.split(".")[0] not in ("transformers", "peft", "diffusers", "timm"):
                ctx.report(
                    HFR908,
                    f"adapter config imports {lib}.{mapping.get('base_model_class')} to build the base model",
                    evidence=f'"parent_library": "{lib}"',
                )
    elif isinstance(doc, list):
        for item in doc:
            if isinstance(item, dict) and isinstance(item.get("type"), str) and "idx" in item:
                typ = item["type"]
                if not typ.startswith("sentence_transformers."):
                    ctx.report(
                        HFR908,
                        f"sentence-transformers module {item.get('name', '?')} is the custom class {typ}",
                        evidence=f'"type": "{typ}"',
                    )


def analyse_config(doc: Any, ctx: ScanContext) -> None:
    """Findings for one parsed Hugging Face JSON config."""
    if isinstance(doc, dict):
        _report_remote_code(doc, ctx)
        if "chat_template" in doc:
            for where, tpl in _templates(doc["chat_template"]):
                _analyse_template(tpl, ctx, where)
    from mlvet.formats.templates import nested_templates

    for where, tpl in nested_templates(doc):
        _analyse_template(tpl, ctx, where)
    _report_other_keys(doc, ctx)
    report_targets(doc, ctx)


class HFConfigHandler:
    """JSON configs of Hugging Face repositories, recognised by their keys."""

    id = "huggingface-config"
    priority = 70

    def sniff(self, probe: Probe) -> bool:
        head = _json_start(probe.head).lstrip()
        if head[:1] not in (b"{", b"[") or not _is_text(probe.head):
            return False
        if head[:1] == b"[":
            return b'"idx"' in head and b'"type"' in head and b'"path"' in head
        if any(m in head for m in _JSON_MARKERS):
            return True
        if probe.size <= _SMALL_JSON:
            probe.stream.seek(0)
            data = probe.stream.read(_SMALL_JSON)
            return b'"chat_template"' in data or b'"_target_"' in data
        return False

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        text = _read_text(stream, size, MAX_JSON_BYTES, "JSON config")
        doc = _parse_json(text, "JSON config")
        analyse_config(doc, ctx)


class ChatTemplateHandler:
    """``*.jinja`` chat templates (transformers ≥ 4.50 saves ``chat_template.jinja`` next to the tokenizer).

    This is the one place mlvet dispatches on a file name: a Jinja template has no magic bytes and no
    structure that tells it apart from other text. The exception is safe because it only *adds* analysis
    to content that would otherwise be skipped as plain text: binary content never matches (it must be
    valid UTF-8 text), and a renamed pickle or archive is claimed earlier by its own content-based handler.
    """

    id = "chat-template"
    priority = 75

    def sniff(self, probe: Probe) -> bool:
        return probe.name.lower().endswith(".jinja") and _is_text(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        text = _read_text(stream, size, MAX_TEMPLATE_BYTES, "chat template")
        _analyse_template(text, ctx, os.path.basename(ctx.members[-1] if ctx.members else ctx.path))


# ---- Python files in model folders --------------------------------------------------------------------


def _config_head(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(64 * 1024)
    except OSError:
        return b""


def _mtime(folder: str) -> int:
    try:
        return os.stat(folder).st_mtime_ns
    except OSError:
        return 0


def model_folder_kind(folder: str) -> str | None:
    """'huggingface' or 'mlflow' when ``folder`` (or up to two parents) holds a model's configs.

    Cached per folder and its modification time: a folder scan asks once per .py file.
    """
    return _model_folder_kind(folder, _mtime(folder))


@lru_cache(maxsize=256)
def _model_folder_kind(folder: str, _mtime_ns: int) -> str | None:
    here = folder
    for _ in range(3):
        if os.path.isfile(os.path.join(here, "MLmodel")):
            return "mlflow"
        for name in _HF_CONFIG_NAMES:
            p = os.path.join(here, name)
            if os.path.isfile(p):
                head = _json_start(_config_head(p)).lstrip()
                if head[:1] in (b"{", b"[") and (any(m in head for m in _JSON_MARKERS) or b'"idx"' in head):
                    return "huggingface"
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    return None


def _load_small_json(path: str) -> Any:
    try:
        if os.path.getsize(path) > MAX_JSON_BYTES:
            return None
        with open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8-sig"))
    except (OSError, ValueError, RecursionError):
        return None


def loader_modules(folder: str) -> frozenset[str]:
    """Module names (dotted, relative to ``folder``) that a loader imports from this folder.

    auto_map / custom_pipelines modules of every config in the folder and, transitively, their relative
    imports. (MLflow code is found through the MLmodel's code paths, see PythonHandler.)
    """
    return _loader_modules(folder, _mtime(folder))


@lru_cache(maxsize=256)
def _loader_modules(folder: str, _mtime_ns: int) -> frozenset[str]:
    roots: set[str] = set()
    for name in _HF_CONFIG_NAMES:
        doc = _load_small_json(os.path.join(folder, name))
        if isinstance(doc, dict):
            for _key, ref, _where in _auto_map_refs(doc):
                repo, module, _cls = split_reference(ref)
                if repo is None:
                    roots.add(module)
    out: set[str] = set()
    todo = sorted(roots)
    while todo and len(out) < MAX_MODULES:
        mod = todo.pop()
        if mod in out:
            continue
        out.add(mod)
        src = _read_module(folder, mod)
        if src is not None:
            todo.extend(sorted(pyast.relative_imports(src)))
    return frozenset(out)


def _mlflow_code_locations(folder: str) -> tuple[str, ...]:
    """Code folders and scripts MLflow imports for the model whose MLmodel sits at or above ``folder``."""
    here = folder
    for _ in range(3):
        mlmodel = os.path.join(here, "MLmodel")
        if os.path.isfile(mlmodel):
            from mlvet.formats.mlflow import code_locations

            return tuple(os.path.realpath(os.path.join(here, p)) for p in code_locations(mlmodel))
        parent = os.path.dirname(here)
        if parent == here:
            break
        here = parent
    return ()


class PythonHandler:
    """``.py`` files in a model folder (next to an HF config or under an MLflow model).

    Dispatch by name, like ``.jinja``: Python source has no magic bytes, and the loaders themselves find
    these files by name (``modeling_x.py`` from ``auto_map``). Only text is claimed, and outside a model
    folder (or inside archives) the file is skipped exactly as the catch-all handler would skip text.
    """

    id = "python"
    priority = 80

    def sniff(self, probe: Probe) -> bool:
        return probe.name.lower().endswith(".py") and _is_text(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        folder = _folder(ctx)
        kind = model_folder_kind(folder) if folder else None
        if folder is None or kind is None:
            if ctx.depth == 0:
                ctx.sink.skip_reason = "Python source outside a model folder: not model code"
            return
        text = _read_text(stream, size, pyast.MAX_SOURCE_BYTES, "Python source")
        name = os.path.basename(ctx.path)
        imported = self._imported(folder, ctx.path, kind)
        ctx.saw_format(f"{kind}-code")
        report_python(text, ctx, filename=name, imported=imported)

    @staticmethod
    def _imported(folder: str, path: str, kind: str) -> bool:
        """True when a loader imports this file (so its module-level code runs while loading)."""
        if os.path.basename(path)[:-3] in loader_modules(folder):
            return True
        if kind == "mlflow":
            real = os.path.realpath(path)
            return any(real == loc or real.startswith(loc + os.sep) for loc in _mlflow_code_locations(folder))
        return False


register(HFConfigHandler())
register(ChatTemplateHandler())
register(PythonHandler())
