"""Repository files that a model loader imports by convention: torch.hub ``hubconf.py``, transformers
``custom_generate/generate.py``, and the repository modules a diffusers ``model_index.json`` names.

* ``torch.hub.load(repo, name)`` imports the repository's ``hubconf.py`` (module-level code runs) and calls the
  entry point; ``trust_repo`` only asks once per repository owner.
* ``model.generate(custom_generate=repo, trust_remote_code=True)`` imports ``custom_generate/generate.py``
  from the repository and calls its ``generate(model, ...)``.
* ``DiffusionPipeline.from_pretrained`` reads ``model_index.json``: ``_class_name`` given as
  ``[module, class]`` makes diffusers import ``<module>.py`` from the repository as the pipeline class, and a
  component given as ``[module, class]`` whose module is not a library imports ``<component>/<module>.py``
  (custom components, with ``trust_remote_code``).

Python files elsewhere are left to :mod:`mlvet.formats.hf` (analysed inside model folders only). These names
are matched like ``.jinja`` templates there: the loaders themselves find the files by name; only text is
claimed, so a renamed binary still goes to its own handler. Nothing is imported or run.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, BinaryIO

from mlvet.analysis import pyast
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.code_findings import report_python
from mlvet.model import Severity
from mlvet.rules import define_rule

MAX_JSON_BYTES = 4 * 1024 * 1024
#: Libraries diffusers resolves components from (anything else is a module of the repository).
_LIBRARIES = frozenset({
    "diffusers", "transformers", "onnxruntime", "onnxruntime.training", "flax", "optimum", "peft",
    "torch", "sentence_transformers", "open_clip", "timm", "k_diffusion", "torchsde", "accelerate",
})
_GENERATE_RE = re.compile(rb"(?m)^def\s+generate\s*\(")
_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

OTH050 = define_rule(
    "OTH050", "loader-imported-python", Severity.LOW,
    "A Python file that a model loader imports by its name: torch.hub's hubconf.py, or transformers' "
    "custom_generate/generate.py.",
    "torch.hub.load and model.generate(custom_generate=...) import the file: its module-level code runs "
    "before any model object exists. mlvet analyses it as imported code; dangerous calls are reported "
    "with their own rules and severities.",
    "Review the file (the findings list each dangerous call); pin the repository revision you reviewed.",
    94,
)
OTH051 = define_rule(
    "OTH051", "diffusers-repository-code", Severity.HIGH,
    "A diffusers model_index.json names a module of the repository as the pipeline class ('_class_name': "
    "[module, class]) or as a component ([module, class] with a module that is no library).",
    "DiffusionPipeline.from_pretrained imports that module from the repository (module-level code runs); a "
    "custom pipeline class needs no opt-in, so code the scan could not see is high. When the module sits "
    "next to the index it is analysed and the finding takes the code's severity (medium for code with no "
    "dangerous call).",
    "Review the named modules before loading the pipeline; prefer pipelines built from library classes.",
    94,
)


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 4
    return True


def _kind(probe: Probe) -> str | None:
    """``hubconf`` / ``custom_generate`` for the two names the loaders import, else None."""
    name = probe.name.replace("\\", "/")
    base = name.rsplit("/", 1)[-1].lower()
    if base == "hubconf.py":
        return "hubconf"
    if base == "generate.py":
        path = getattr(probe.stream, "name", None)
        parent = name.rpartition("/")[0] or (os.path.dirname(path) if isinstance(path, str) else "")
        if parent.endswith("custom_generate") or _GENERATE_RE.search(probe.head):
            return "custom_generate"
    return None


class LoaderCodeHandler:
    """``hubconf.py`` and ``custom_generate/generate.py``: analysed as code the loader imports."""

    id = "loader-code"
    priority = 79

    def sniff(self, probe: Probe) -> bool:
        return _is_text(probe.head) and _kind(probe) is not None

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        probe = Probe(stream, size, ctx.members[-1] if ctx.members else ctx.path, stream.read(4096))
        stream.seek(0)
        kind = _kind(probe) or "hubconf"
        if size > pyast.MAX_SOURCE_BYTES:
            raise AnalysisError(f"Python source of {size} bytes exceeds the {pyast.MAX_SOURCE_BYTES}-byte limit")
        text = stream.read(pyast.MAX_SOURCE_BYTES + 1).decode("utf-8", "replace")
        base = os.path.basename(probe.name)
        ctx.saw_format(f"{kind}-code")
        found = report_python(text, ctx, filename=base, imported=True)
        loader = ("torch.hub.load imports hubconf.py from the repository" if kind == "hubconf"
                  else "model.generate(custom_generate=repo) imports generate.py from the repository")
        worst = max((f.severity for f in found), default=Severity.NONE)
        tail = (f"; {len(found)} dangerous operation(s), worst {worst.label}" if found
                else "; no dangerous call found")
        ctx.report(OTH050, f"{loader}: its module-level code runs while loading{tail}", evidence=base)


# ---- diffusers model_index.json ------------------------------------------------------------------------


def _custom_modules(doc: dict[str, Any], index: bool) -> list[tuple[str, str, str]]:
    """(role, module, class) for the pipeline class and every component served by repository code.

    Components are read only from a pipeline index (the file diffusers reads by the name model_index.json,
    or one whose ``_class_name`` is itself a [module, class] pair): a component's own config.json also
    carries ``_diffusers_version`` and two-string lists (block types) that are no module references.
    """
    out: list[tuple[str, str, str]] = []
    cls = doc.get("_class_name")
    if isinstance(cls, list) and len(cls) == 2 and all(isinstance(c, str) for c in cls) and cls[0]:
        out.append(("pipeline", cls[0], cls[1]))
        index = True
    if not index:
        return out
    for key, value in doc.items():
        if key.startswith("_") or not isinstance(value, list) or len(value) != 2:
            continue
        lib, name = value
        if isinstance(lib, str) and isinstance(name, str) and lib and lib.split(".")[0] not in _LIBRARIES:
            out.append((str(key), lib, name))
    return out


def _module_source(folder: str | None, role: str, module: str) -> str | None:
    if folder is None or not all(_NAME_RE.match(p) for p in module.split(".")):
        return None
    rel = os.path.join(*module.split(".")) + ".py"
    for path in (os.path.join(folder, rel), os.path.join(folder, role, rel)):
        try:
            if os.path.getsize(path) <= pyast.MAX_SOURCE_BYTES:
                with open(path, "rb") as f:
                    return f.read().decode("utf-8", "replace")
        except OSError:
            continue
    return None


class DiffusersIndexHandler:
    """``model_index.json`` of a diffusers pipeline (``_diffusers_version`` or ``_class_name``)."""

    id = "diffusers-index"
    priority = 69

    def sniff(self, probe: Probe) -> bool:
        head = probe.head.lstrip(b"\xef\xbb\xbf \t\r\n")
        return head[:1] == b"{" and b'"_diffusers_version"' in probe.head and _is_text(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        if size > MAX_JSON_BYTES:
            raise AnalysisError(f"model_index.json of {size} bytes exceeds the {MAX_JSON_BYTES}-byte limit")
        try:
            doc = json.loads(stream.read(MAX_JSON_BYTES + 1).decode("utf-8-sig"))
        except (ValueError, RecursionError) as exc:
            raise AnalysisError(f"model_index.json is not valid JSON: {exc}") from None
        if not isinstance(doc, dict):
            raise AnalysisError("model_index.json is not a JSON object")
        folder = None if ctx.members or ctx.depth else os.path.dirname(os.path.abspath(ctx.path))
        name = os.path.basename((ctx.members[-1] if ctx.members else ctx.path).replace("\\", "/"))
        for role, module, cls in _custom_modules(doc, name == "model_index.json"):
            source = _module_source(folder, role, module)
            evidence = f'"{"_class_name" if role == "pipeline" else role}": ["{module}", "{cls}"]'
            what = "the pipeline class" if role == "pipeline" else f"component {role!r}"
            if source is None:
                sev = Severity.HIGH if role == "pipeline" else Severity.MEDIUM
                gate = "with no opt-in" if role == "pipeline" else "with trust_remote_code"
                ctx.report(OTH051, f"{what} is {cls} from repository module {module}.py, imported by "
                           f"DiffusionPipeline.from_pretrained {gate}; the module is not next to the index, so "
                           "this scan could not see the code that runs", severity=sev, evidence=evidence)
                continue
            try:
                found = pyast.analyse_source(source, filename=f"{module}.py", imported=True)
            except AnalysisError as exc:
                ctx.report(OTH051, f"{what} is {cls} from repository module {module}.py, which does not parse "
                           f"({exc})", evidence=evidence)
                continue
            worst = max((f.severity for f in found), default=Severity.MEDIUM)
            calls = "; ".join(f"{module}.py:{f.line} {f.qualified}" for f in found[:5])
            ctx.report(OTH051, f"{what} is {cls} from repository module {module}.py, imported by from_pretrained"
                       + (f": dangerous operations {calls}" if found else ": no dangerous call found"),
                       severity=max(worst, Severity.MEDIUM), evidence=evidence)
        from mlvet.formats.hf import analyse_config

        analyse_config(doc, ctx)


register(LoaderCodeHandler())
register(DiffusersIndexHandler())
