"""Layers import downward only (README "Architecture"): checked on every import statement in src/mlvet.

Function-level and ``TYPE_CHECKING`` imports count too: a lazy import upward is still a dependency upward.
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

#: Core modules: they may import only each other.
CORE = {"mlvet._version", "mlvet.errors", "mlvet.model", "mlvet.rules", "mlvet.limits", "mlvet.catalogue",
        "mlvet.streams", "mlvet.context"}
#: Type-only imports of core modules (under ``TYPE_CHECKING``): the context's ``policy`` parameter.
_CORE_TYPES = {("mlvet.context", "mlvet.policy"), ("mlvet.context", "mlvet.policy.Policy")}
#: (importer prefix, forbidden prefixes).
RULES: list[tuple[str, tuple[str, ...]]] = [
    ("mlvet.containers", ("mlvet.formats", "mlvet.analysis", "mlvet.policy", "mlvet.scanner", "mlvet.inventory",
                          "mlvet.store", "mlvet.bom", "mlvet.trust", "mlvet.report", "mlvet.commands", "mlvet.cli")),
    ("mlvet.analysis", ("mlvet.formats", "mlvet.scanner", "mlvet.inventory", "mlvet.store", "mlvet.bom",
                        "mlvet.trust", "mlvet.report", "mlvet.commands", "mlvet.cli")),
    ("mlvet.formats", ("mlvet.scanner", "mlvet.inventory", "mlvet.store", "mlvet.bom", "mlvet.trust",
                       "mlvet.report", "mlvet.commands", "mlvet.cli")),
    ("mlvet.policy", ("mlvet.trust", "mlvet.inventory", "mlvet.store", "mlvet.bom", "mlvet.commands", "mlvet.cli")),
    ("mlvet.report", ("mlvet.inventory", "mlvet.store", "mlvet.bom", "mlvet.trust", "mlvet.commands", "mlvet.cli")),
    ("mlvet.inventory", ("mlvet.bom", "mlvet.commands", "mlvet.cli")),
    ("mlvet.store", ("mlvet.bom", "mlvet.trust", "mlvet.commands", "mlvet.cli")),
    ("mlvet.bom", ("mlvet.trust", "mlvet.commands", "mlvet.cli")),
    ("mlvet.trust", ("mlvet.bom", "mlvet.commands", "mlvet.cli")),
    ("mlvet.guard", ("mlvet.inventory", "mlvet.store", "mlvet.bom", "mlvet.trust", "mlvet.data", "mlvet.commands",
                     "mlvet.cli")),
    ("mlvet.integrations", ("mlvet.formats", "mlvet.analysis", "mlvet.inventory", "mlvet.store", "mlvet.bom",
                            "mlvet.trust", "mlvet.data", "mlvet.guard", "mlvet.commands", "mlvet.cli")),
    ("mlvet.data", ("mlvet.formats", "mlvet.inventory", "mlvet.store", "mlvet.bom", "mlvet.trust", "mlvet.report",
                    "mlvet.commands", "mlvet.cli")),
    ("mlvet.engine", ("mlvet.inventory", "mlvet.store", "mlvet.bom", "mlvet.trust", "mlvet.commands", "mlvet.cli",
                      "mlvet.server", "mlvet.batch")),
    ("mlvet.batch", ("mlvet.inventory", "mlvet.bom", "mlvet.trust", "mlvet.commands", "mlvet.cli", "mlvet.server")),
]
#: Upward imports being removed on other branches of the same redesign (owner in the comment).
RULES.append(("mlvet.remote", ("mlvet.inventory", "mlvet.store", "mlvet.bom", "mlvet.trust", "mlvet.commands",
                               "mlvet.cli", "mlvet.server")))  # issue 14 (hub)
_PENDING: set[tuple[str, str]] = set()


def _module(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str) -> set[str]:
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                target = f"{base}.{node.module}" if node.module else base
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{a.name}" for a in node.names)
    return {m for m in found if m == "mlvet" or m.startswith("mlvet.")}


def _violations() -> list[str]:
    bad = []
    for path in sorted((SRC / "mlvet").rglob("*.py")):
        module = _module(path)
        imports = _imports(path, module)
        if module in CORE:
            bad += [f"{module} -> {m}" for m in imports if not any(m == c or m.startswith(c + ".") for c in CORE)
                    and m != "mlvet" and (module, m) not in _CORE_TYPES]
        for prefix, forbidden in RULES:
            if module == prefix or module.startswith(prefix + "."):
                for m in imports:
                    if any(m == f or m.startswith(f + ".") for f in forbidden):
                        if not any(module.startswith(p) and m.startswith(q) for p, q in _PENDING):
                            bad.append(f"{module} -> {m}")
    return sorted(set(bad))


def test_layers_import_downward_only() -> None:
    assert _violations() == []


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    path = tmp_path / "probe.py"
    path.write_text("def f():\n    from mlvet.formats.base import ScanContext\n", encoding="utf-8")
    assert "mlvet.formats.base" in _imports(path, "mlvet.analysis.probe")
RULES.append(("mlvet.server", ("mlvet.commands", "mlvet.cli")))  # issue 13 (server): below commands
RULES.append(("mlvet.server.gateway", ("mlvet.commands", "mlvet.cli", "mlvet.server.fleet", "mlvet.server.fleet_api",
                                       "mlvet.server.fleet_views", "mlvet.server.boms", "mlvet.server.boms_api",
                                       "mlvet.server.dashboard")))  # issue 13 (gateway): not the other features
# issue 13 item 4: the dashboard reads the tables, never another feature's routes
RULES.append(("mlvet.server.dashboard", ("mlvet.server.gateway", "mlvet.server.fleet_api", "mlvet.server.boms_api")))
