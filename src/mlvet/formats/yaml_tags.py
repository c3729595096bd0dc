"""YAML documents with Python tags: what ``yaml.unsafe_load`` (and old ``yaml.load``) would construct.

tf.keras' ``model_from_yaml`` read model configs with ``yaml.unsafe_load`` (CVE-2021-37678), and any
tool that loads a YAML config with PyYAML's unsafe or legacy loader builds the Python objects its tags
name: ``!!python/object/apply:os.system [cmd]`` calls ``os.system(cmd)`` while loading,
``!!python/object/new:``/``!!python/object:`` construct arbitrary classes, ``!!python/name:`` and
``!!python/module:`` import. Plain data tags (``!!python/tuple`` as Keras' ``to_yaml`` wrote them,
``!!python/str`` ...) construct nothing.

The text is read line by line (never parsed by PyYAML), within a size limit, whatever the file is called.
Verbatim tags (``!<tag:yaml.org,2002:python/...>``), ``%TAG`` handles that expand to the Python prefix,
and ``%XX`` escapes in tag names are resolved the way PyYAML's scanner does. A file that carries such
tags is also handed to the other handlers (an MLmodel or a Python file is still analysed as one).
"""

from __future__ import annotations

import re
from typing import BinaryIO
from urllib.parse import unquote

from mlvet.formats.base import Probe, ScanContext, register
from mlvet.model import Severity
from mlvet.policy import Tier
from mlvet.rules import define_rule

KER410 = define_rule(
    "KER410", "yaml-python-object", Severity.CRITICAL,
    "A YAML document uses PyYAML Python tags that construct objects, call callables or import names "
    "(!!python/object/apply, !!python/object/new, !!python/object, !!python/name, !!python/module).",
    "yaml.unsafe_load, yaml.load with the legacy Loader, and tf.keras' model_from_yaml "
    "(CVE-2021-37678) build those objects while loading: object/apply calls the named callable with the "
    "document's arguments. A dangerous callable is critical, any other call or construction high, a bare "
    "import medium.",
    "Never load the file with an unsafe YAML loader; use yaml.safe_load, which refuses these tags.",
    502,
)

#: Text searched for tags (larger YAML is not a config anyone writes by hand).
MAX_BYTES = 256 * 1024 * 1024
_LINE_LIMIT = 1 << 20
_MAX_FINDINGS = 100
_QUICK = re.compile(rb"python/|%TAG", re.IGNORECASE)
_PREFIX = "tag:yaml.org,2002:"
#: A tag in a node position: after a key, a sequence dash, a flow bracket or comma, or at line start.
_TAG = re.compile(r"(?:^|[\s\[{,:-])(!<[^>\s]{1,600}>|![A-Za-z0-9_-]*!?[^\s,\[\]{}]{0,600})")
_DIRECTIVE = re.compile(r"^%TAG\s+(![A-Za-z0-9_-]*!?)\s+(\S{1,600})")
_KINDS = ("python/object/apply:", "python/object/new:", "python/object:", "python/name:", "python/module:")


_QUOTED = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\']|\'\')*\'')


def _python_tags(text: str, handles: dict[str, str]) -> list[tuple[str, str]]:
    """``(kind, name)`` of every constructing Python tag in one line, handles and escapes resolved.

    Quoted scalars are data (a tag cannot occur inside one), so they are blanked first.
    """
    out: list[tuple[str, str]] = []
    for m in _TAG.finditer(_QUOTED.sub('""', text)):
        tag = m.group(1)
        if tag.startswith("!<"):
            full = tag[2:-1]
        else:
            body = tag[1:]
            if body.startswith("!"):
                handle, suffix = "!!", body[1:]
            elif "!" in body:
                name, _, suffix = body.partition("!")
                handle = f"!{name}!"
            else:
                handle, suffix = "!", body
            prefix = handles.get(handle, _PREFIX if handle == "!!" else None)
            if prefix is None:
                continue
            full = prefix + suffix
        full = unquote(full)
        if not full.startswith(_PREFIX):
            continue
        rest = full[len(_PREFIX):]
        for kind in _KINDS:
            if rest.startswith(kind):
                out.append((kind.rstrip(":"), rest[len(kind):]))
                break
    return out


def _findings(data: bytes) -> list[tuple[int, str, str]]:
    """``(line, kind, name)`` of every constructing Python tag and Python ``%TAG`` directive."""
    handles: dict[str, str] = {}
    out: list[tuple[int, str, str]] = []
    for lineno, raw in enumerate(data.decode("utf-8", "replace").splitlines(), 1):
        line = raw[:_LINE_LIMIT]
        d = _DIRECTIVE.match(line)
        if d is not None:
            handles[d.group(1)] = d.group(2)
            if "python/" in unquote(d.group(2)):
                out.append((lineno, "%TAG", f"{d.group(1)} -> {d.group(2)}"))
            continue
        if line.lstrip().startswith("#"):
            continue
        for kind, name in _python_tags(line, handles):
            out.append((lineno, kind, name))
    return out


class YamlPythonTagHandler:
    """Text with PyYAML Python tags in node positions (any extension): the objects they construct."""

    id = "yaml-python"
    #: Before MLflow's MLmodel reader (65) and the text/Python handlers; the file is re-dispatched after.
    priority = 64

    def sniff(self, probe: Probe) -> bool:
        """Text (no NUL in the head) in which a constructing Python tag or a %TAG directive appears."""
        if b"\x00" in probe.head[:4096]:
            return False
        if probe.size <= len(probe.head):
            return _QUICK.search(probe.head) is not None and bool(_findings(probe.head))
        probe.stream.seek(0)
        left = min(probe.size, MAX_BYTES)
        tail = b""
        while left > 0:
            chunk = probe.stream.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
            if _QUICK.search(tail + chunk):
                probe.stream.seek(0)
                return bool(_findings(probe.stream.read(MAX_BYTES)))
            tail = chunk[-16:]
        return False

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        """Report each constructing tag, ranked by the policy; then let the other handlers read the file."""
        stream.seek(0)
        hits = _findings(stream.read(MAX_BYTES))
        for lineno, kind, name in hits[:_MAX_FINDINGS]:
            message, severity, evidence = self._judge(ctx, lineno, kind, name)
            ctx.report(KER410, message, severity=severity, evidence=evidence)
        if len(hits) > _MAX_FINDINGS:
            ctx.report(KER410, f"{len(hits) - _MAX_FINDINGS} further Python tags not listed", severity=Severity.HIGH)
        if size > MAX_BYTES:
            ctx.error(f"YAML text over {MAX_BYTES} bytes: the rest was not searched for Python tags")
        stream.seek(0)
        ctx.scan_stream(stream, size, ctx.path, exclude=frozenset({self.id, "other"}))

    @staticmethod
    def _judge(ctx: ScanContext, lineno: int, kind: str, name: str) -> tuple[str, Severity, str]:
        """Message, severity and evidence of one tag: dangerous callables critical, calls high, imports medium."""
        evidence = f"line {lineno}: {kind}:{name[:300]}"
        if kind == "%TAG":
            return (f"a %TAG directive at line {lineno} maps a handle to PyYAML's Python tags (hides them from "
                    "scanners that look for '!!python/')", Severity.HIGH, evidence)
        module, _, attr = name.rpartition(".")
        if kind == "python/module":
            module, attr = name, "*"
        verdict = ctx.policy.classify(module or "builtins", attr or name)
        calls = kind in ("python/object/apply", "python/object/new", "python/object")
        what = {"python/object/apply": "calls", "python/object/new": "constructs", "python/object": "constructs",
                "python/name": "imports", "python/module": "imports the module"}[kind]
        msg = f"line {lineno}: an unsafe YAML load {what} {name[:200]!r}"
        if verdict.tier is Tier.DANGEROUS:
            return f"{msg} ({verdict.reason})", Severity.CRITICAL, evidence
        if calls:
            return f"{msg}, with arguments from the document", Severity.HIGH, evidence
        return msg, Severity.MEDIUM, evidence


register(YamlPythonTagHandler())
