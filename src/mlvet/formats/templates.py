"""Jinja templates outside ``chat_template``: ``*.j2``/``*.jinja2`` files and YAML prompt files.

Servers and prompt libraries render these the way they render chat templates: vLLM and TGI take a ``.j2``
chat template by path, LangChain's ``load_prompt`` reads YAML prompts whose ``template_format`` is
``jinja2``, and home-grown pipelines keep ``*_template`` strings in YAML. Rendered outside Jinja's sandbox a
template can reach ``os`` (CVE-2024-34359 class), so each one goes to the chat-template analyser
(:mod:`mlvet.analysis.chat_template`), which parses with Jinja's own parser and never renders.

Nested JSON templates (a list of named templates, ``*_template`` keys below the top level) are found by
:func:`nested_templates`, which :mod:`mlvet.formats.hf` calls for its configs.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.code_findings import report_template

MAX_TEMPLATE_BYTES = 4 * 1024 * 1024
MAX_YAML_BYTES = 16 * 1024 * 1024
#: Templates analysed per file (each one is a full Jinja parse).
MAX_TEMPLATES = 256
_MARKERS = ("{%", "{{")
_KEY_RE = re.compile(rb"(?im)^[ \t\-]*[\"']?[\w.-]*(?:template|prompt)[\w.-]*[\"']?\s*:")
_BLOCK_RE = re.compile(r"^(\s*)(?:-\s+)?([\w.-]+)\s*:\s*[|>][-+0-9]*\s*(?:#.*)?$")
_INLINE_RE = re.compile(r"""^\s*(?:-\s+)?([\w.-]+)\s*:\s*(["'])(.*)\2\s*$""")


def _is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 4
    return True


def _jinja(text: str) -> bool:
    return any(m in text for m in _MARKERS)


def nested_templates(doc: Any, path: str = "", depth: int = 0) -> Iterator[tuple[str, str]]:
    """(where, template) for every Jinja string under a ``*template*`` key below the top-level ``chat_template``.

    Covers ``{"templates": [{"name": "tool_use", "template": "..."}]}``, ``"prompt_template"`` in a nested
    processor config and similar; the top-level ``chat_template`` is the HF handler's own.
    """
    if depth > 32:
        return
    if isinstance(doc, dict):
        for key, value in doc.items():
            here = f"{path}.{key}" if path else str(key)
            if depth == 0 and key == "chat_template":
                continue
            if isinstance(value, str) and "template" in str(key).lower() and _jinja(value):
                name = doc.get("name") if isinstance(doc.get("name"), str) else None
                yield (f"{here}[{name}]" if name else here), value
            elif isinstance(value, (dict, list)):
                yield from nested_templates(value, here, depth + 1)
    elif isinstance(doc, list):
        for i, item in enumerate(doc[:10_000]):
            yield from nested_templates(item, f"{path}[{i}]", depth + 1)


def _prompt_key(key: str) -> bool:
    low = key.lower()
    return "template" in low or "prompt" in low


def _yaml_strings(doc: Any, path: str = "", depth: int = 0, under: bool = False) -> Iterator[tuple[str, str]]:
    """Strings with Jinja syntax under a ``*template*``/``*prompt*`` key of a parsed YAML document: the key's
    own value, or the values and items directly below it (``prompts: {summary: ...}``).

    Other strings are left alone: CI files and configs use ``{{ }}`` for their own expression languages.
    """
    if depth > 32:
        return
    if isinstance(doc, dict):
        for key, value in doc.items():
            here = f"{path}.{key}" if path else str(key)
            yield from _yaml_strings(value, here, depth + 1, _prompt_key(str(key)))
    elif isinstance(doc, list):
        for i, item in enumerate(doc[:10_000]):
            yield from _yaml_strings(item, f"{path}[{i}]", depth + 1, under)
    elif isinstance(doc, str) and under and _jinja(doc):
        yield path or "document", doc


def yaml_block_templates(text: str) -> Iterator[tuple[str, str]]:
    """Block scalars (``key: |``) and quoted one-line values with Jinja syntax, found line by line.

    The fallback when the YAML uses constructs the subset parser refuses: every literal/folded block is
    still collected (by indentation, as YAML defines it), so no template escapes analysis.
    """
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        block = _BLOCK_RE.match(line)
        if block:
            indent = len(block.group(1))
            body: list[str] = []
            j = i + 1
            while j < len(lines) and (not lines[j].strip() or len(lines[j]) - len(lines[j].lstrip()) > indent):
                body.append(lines[j])
                j += 1
            width = min((len(b) - len(b.lstrip()) for b in body if b.strip()), default=0)
            value = "\n".join(b[width:] for b in body)
            if _jinja(value) and _prompt_key(block.group(2)):
                yield f"{block.group(2)} (line {i + 1})", value
            i = j
            continue
        inline = _INLINE_RE.match(line)
        if inline and _jinja(inline.group(3)) and _prompt_key(inline.group(1)):
            yield f"{inline.group(1)} (line {i + 1})", inline.group(3)
        i += 1


class TemplateFileHandler:
    """``*.j2`` / ``*.jinja2`` files (by name, like ``.jinja``: a template has no magic bytes)."""

    id = "jinja-template"
    priority = 76

    def sniff(self, probe: Probe) -> bool:
        return probe.name.lower().endswith((".j2", ".jinja2")) and _is_text(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        if size > MAX_TEMPLATE_BYTES:
            raise AnalysisError(f"template of {size} bytes exceeds the {MAX_TEMPLATE_BYTES}-byte limit; not analysed")
        text = stream.read(MAX_TEMPLATE_BYTES + 1).decode("utf-8", "replace").lstrip("\ufeff")
        name = (ctx.members[-1] if ctx.members else ctx.path).replace("\\", "/").rsplit("/", 1)[-1]
        report_template(text, ctx, where=name)


class PromptYamlHandler:
    """YAML with a ``*template*``/``*prompt*`` key and Jinja syntax: prompt files a library renders."""

    id = "prompt-yaml"
    priority = 67

    def sniff(self, probe: Probe) -> bool:
        head = probe.head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not _is_text(probe.head) or head[:1] in (b"{", b"["):
            return False
        data = probe.head
        if probe.size <= MAX_TEMPLATE_BYTES:
            probe.stream.seek(0)
            data = probe.stream.read(MAX_TEMPLATE_BYTES)
        return bool(_KEY_RE.search(data)) and (b"{%" in data or b"{{" in data)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        if size > MAX_YAML_BYTES:
            raise AnalysisError(f"YAML of {size} bytes exceeds the {MAX_YAML_BYTES}-byte limit; not analysed")
        text = stream.read(MAX_YAML_BYTES + 1).decode("utf-8", "replace").lstrip("\ufeff")
        from mlvet.formats.mlflow import parse_yaml

        try:
            found = list(_yaml_strings(parse_yaml(text, "YAML prompt file")))
        except AnalysisError:
            found = list(yaml_block_templates(text))
        for where, template in found[:MAX_TEMPLATES]:
            report_template(template, ctx, where=where)
        if len(found) > MAX_TEMPLATES:
            ctx.error(f"{len(found) - MAX_TEMPLATES} template(s) beyond the limit of {MAX_TEMPLATES} not analysed")


register(TemplateFileHandler())
register(PromptYamlHandler())
