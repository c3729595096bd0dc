"""Parsing Python source for analysis: bounded, never compiled, failures as AnalysisError."""

from __future__ import annotations

import ast

from mlvet.errors import AnalysisError

#: Python source larger than this is not parsed (real modelling files are well under 1 MiB).
MAX_SOURCE_BYTES = 8 * 1024 * 1024


def parse_source(source: str, filename: str = "<source>") -> ast.Module:
    """Parse Python source without compiling it; malformed or pathological input → AnalysisError."""
    if len(source) > MAX_SOURCE_BYTES:
        raise AnalysisError(f"{filename}: Python source larger than {MAX_SOURCE_BYTES} bytes; not analysed")
    try:
        return ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise AnalysisError(f"{filename}: not valid Python 3 source (line {exc.lineno}: {exc.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise AnalysisError(f"{filename}: Python source nests too deeply to analyse") from None


def relative_imports(source: str) -> set[str]:
    """Module names a file imports relatively (``from .utils import x`` → ``utils``): the loader fetches them too."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return set()
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(a.name for a in node.names)
    return out
