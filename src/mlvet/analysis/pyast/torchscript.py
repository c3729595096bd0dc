"""Dangerous operations in serialized TorchScript code (``code/**/*.py`` of a torch.jit archive)."""

from __future__ import annotations

import ast

from mlvet.analysis.pyast.parse import parse_source
from mlvet.analysis.pyast.rules import CATEGORY_RULES, PY_EXEC, PY_FILES, PY_NATIVE, CodeFinding
from mlvet.analysis.pyast.tables import canonical, lookup
from mlvet.errors import AnalysisError
from mlvet.model import Severity
from mlvet.rules import Rule

#: TorchScript builtins that touch files (torch.jit.save writes them as ``torch.save(...)`` etc.).
_TS_FILE_OPS = {
    "torch.save": "writes a file",
    "torch.from_file": "reads a file into a tensor",
    "torch.load": "loads a file",
    "ops.aten.save": "writes a file",
    "ops.aten.from_file": "reads a file into a tensor",
    "ops.aten._load": "loads a file",
    "torch.ops.aten.save": "writes a file",
    "torch.ops.aten.from_file": "reads a file into a tensor",
}
#: Operator namespaces that ship with torch itself.
_TS_BUILTIN_NS = frozenset({"aten", "prim", "quantized", "_quantized", "profiler", "_caffe2", "cuda", "mkldnn",
                            "_prims", "prims", "quantized_decomposed", "higher_order", "inductor", "_test"})
#: Method names whose bodies run inside torch.jit.load (not only when the model is called).
_TS_LOAD_METHODS = frozenset({"__setstate__"})


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def torchscript_findings(source: str, filename: str = "<torchscript>") -> list[CodeFinding]:
    """Dangerous operations in serialized TorchScript code (``code/**/*.py`` of a torch.jit archive).

    TorchScript code is Python syntax restricted to TorchScript builtins, so instead of Python's module
    resolution this looks at the operator names it calls: file I/O builtins (``torch.save``,
    ``torch.from_file``), custom operators and classes from native extensions (``torch.ops.<ns>``,
    ``torch.classes``), and anything that is plain Python rather than TorchScript (``os``, ``open``,
    ``eval``...), which only a tampered archive contains. Calls inside ``__setstate__`` run during
    ``torch.jit.load`` itself and are reported one level higher.
    """
    tree = parse_source(source, filename)
    lines = source.splitlines()
    out: list[CodeFinding] = []
    seen: set[tuple[str, int]] = set()

    def add(node: ast.AST, name: str, rule: Rule, sev: Severity, what: str, at_load: bool) -> None:
        line = getattr(node, "lineno", 0)
        if (name, line) in seen:
            return
        seen.add((name, line))
        if at_load and sev >= Severity.MEDIUM:
            sev = Severity(min(sev + 1, Severity.CRITICAL))
        when = "runs inside torch.jit.load" if at_load else "runs when the model is called"
        excerpt = lines[line - 1].strip()[:240] if 0 < line <= len(lines) else ""
        out.append(CodeFinding(rule, sev, name, line, excerpt, f"line {line}: {name} {what} ({when})", at_load))

    def visit(node: ast.AST, at_load: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name in _TS_LOAD_METHODS)
                continue
            if isinstance(child, ast.Call):
                name = _dotted(child.func)
                if name is not None:
                    check(child, name, at_load)
            visit(child, at_load)

    def check(node: ast.Call, name: str, at_load: bool) -> None:
        parts = name.split(".")
        if name in _TS_FILE_OPS or name.endswith(".from_file"):
            add(node, name, PY_FILES, Severity.HIGH, _TS_FILE_OPS.get(name, "reads a file"), at_load)
        elif len(parts) >= 3 and parts[-3] == "ops" and parts[-2] not in _TS_BUILTIN_NS:
            add(node, name, PY_NATIVE, Severity.MEDIUM,
                f"calls custom operator namespace '{parts[-2]}' (native code from an extension library)", at_load)
        elif parts[0] == "torch" and len(parts) >= 2 and parts[1] == "classes":
            add(node, name, PY_NATIVE, Severity.MEDIUM, "uses a custom TorchScript class from a native library",
                at_load)
        else:
            hit = lookup(canonical(name))
            if hit is not None or parts[0] in ("os", "subprocess", "builtins", "socket", "sys", "importlib"):
                category, sev, what = hit if hit is not None else ("exec", Severity.HIGH, "is not TorchScript")
                add(node, name, CATEGORY_RULES[category], max(sev, Severity.HIGH),
                    f"{what}: plain Python in TorchScript code means the archive was tampered with", at_load)
            elif name in ("open", "eval", "exec", "compile", "__import__", "input", "breakpoint"):
                add(node, name, PY_EXEC, Severity.HIGH,
                    "is plain Python, not TorchScript: the archive was tampered with", at_load)

    try:
        visit(tree, False)
    except RecursionError:
        raise AnalysisError(f"{filename}: TorchScript code nests too deeply to analyse") from None
    return sorted(out, key=lambda f: (f.line, f.qualified))
