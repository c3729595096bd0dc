"""Pass 2 of the Python-code analysis: resolve every reference and report the dangerous ones."""

from __future__ import annotations

import ast

from mlvet.analysis.pyast.parse import parse_source
from mlvet.analysis.pyast.rules import CATEGORY_RULES, CodeFinding
from mlvet.analysis.pyast.scopes import UNKNOWN, Collector, Scope
from mlvet.analysis.pyast.tables import (
    BUILTIN_ALL,
    BUILTIN_NAMES,
    DECODERS,
    FILE_MUTATORS,
    SENSITIVE_MODULES,
    SENSITIVE_PATHS,
    canonical,
    is_exact,
    lookup,
)
from mlvet.errors import AnalysisError
from mlvet.model import Severity


class _Analyser(ast.NodeVisitor):
    def __init__(self, source: str, collector: Collector, imported: bool) -> None:
        self.lines = source.splitlines()
        self.col = collector
        self.scope = collector.module
        self.deferred = False
        self.imported = imported
        self.findings: list[CodeFinding] = []
        self._seen: set[tuple[str, int, str]] = set()
        self._handled: set[int] = set()
        self._resolving: set[tuple[int, str]] = set()

    # -- name resolution

    def resolve(self, node: ast.expr, depth: int = 0) -> frozenset[str]:
        """Every qualified name the expression may evaluate to ('' entries mean 'something else')."""
        if depth > 24:
            return UNKNOWN
        if isinstance(node, ast.Name):
            return self._resolve_name(node.id, depth)
        if isinstance(node, ast.Attribute):
            if node.attr == "__dict__":
                return self.resolve(node.value, depth + 1)
            bases = self.resolve(node.value, depth + 1)
            return frozenset(f"{b}.{node.attr}" if b else "" for b in bases)
        if isinstance(node, ast.Subscript):
            key = _const_str(node.slice)
            base = node.value
            if key is not None:
                # sys.modules["os"], builtins.__dict__["exec"], globals()["__builtins__"]["eval"]
                out: set[str] = set()
                for b in self.resolve(base, depth + 1):
                    if b == "sys.modules":
                        out.add(canonical(key))
                    elif b in ("builtins.globals()", "builtins.vars()", "builtins.locals()"):
                        out.update(self._resolve_name(key, depth + 1))
                    else:
                        out.add(f"{b}.{key}" if b else "")
                return frozenset(out) or UNKNOWN
            return UNKNOWN
        if isinstance(node, ast.Call):
            func = self.resolve(node.func, depth + 1)
            first = _const_str(node.args[0]) if node.args else None
            out = set()
            for f in func:
                if f in ("builtins.__import__", "importlib.import_module", "importlib.__import__") and first:
                    out.add(canonical(first) if f != "builtins.__import__" else canonical(first.split(".")[0]))
                elif f == "builtins.getattr" and len(node.args) >= 2:
                    attr = _const_str(node.args[1])
                    if attr is None:
                        out.add("")
                    else:
                        out.update(f"{b}.{attr}" if b else "" for b in self.resolve(node.args[0], depth + 1))
                elif f in ("builtins.globals", "builtins.vars", "builtins.locals") and not node.args:
                    out.add(f + "()")
                else:
                    out.add("")
            return frozenset(out) or UNKNOWN
        return UNKNOWN

    def _resolve_name(self, name: str, depth: int) -> frozenset[str]:
        if name == "__builtins__":
            return frozenset({"builtins"})
        bound = self.scope.lookup(name)
        if bound is None:
            if name in BUILTIN_NAMES or name in BUILTIN_ALL:
                return frozenset({f"builtins.{name}"})
            for mod in self.col.star_modules:
                cand = f"{mod}.{name}"
                if lookup(cand) is not None:
                    return frozenset({cand})
            return UNKNOWN
        out = set(bound)
        # Assignments recorded in pass 1: resolve their values lazily (aliases of aliases).
        where = self._binding_scope(name)
        for value in self.col.pending.get((id(where), name), []):
            key = (id(value), name)
            if key in self._resolving:
                continue
            self._resolving.add(key)
            try:
                out.update(self.resolve(value, depth + 1))
            finally:
                self._resolving.discard(key)
        return frozenset(out) if out else UNKNOWN

    def _binding_scope(self, name: str) -> Scope | None:
        scope: Scope | None = self.scope
        first = True
        while scope is not None:
            if (first or scope.kind != "class") and name in scope.names:
                return scope
            first = False
            scope = scope.parent
        return None

    # -- reporting

    def add(self, node: ast.AST, qualified: str, category: str, severity: Severity, what: str) -> None:
        line = getattr(node, "lineno", 0)
        key = (qualified, line, category)
        if key in self._seen:
            return
        self._seen.add(key)
        at_import = not self.deferred
        if at_import and self.imported:
            if severity is Severity.HIGH:
                severity = Severity.CRITICAL
            elif severity is Severity.MEDIUM:
                severity = Severity.HIGH
        excerpt = self.lines[line - 1].strip()[:240] if 0 < line <= len(self.lines) else ""
        when = "runs at import time" if at_import else "inside a function or script block"
        self.findings.append(
            CodeFinding(
                rule=CATEGORY_RULES[category],
                severity=severity,
                qualified=qualified,
                line=line,
                excerpt=excerpt,
                message=f"line {line}: {qualified} {what} ({when})",
                at_import=at_import,
            )
        )

    def check_reference(self, node: ast.expr, call: ast.Call | None) -> None:
        for q in self.resolve(node):
            if not q:
                continue
            hit = lookup(q)
            if hit is None:
                continue
            category, sev, what = hit
            if call is not None:
                adjusted = _adjust_for_arguments(q, call, sev)
                if adjusted is None:
                    continue
                sev = adjusted
                if category == "exec" and q in ("builtins.eval", "builtins.exec", "builtins.compile") and (
                    _contains_decoder(call, self)
                ):
                    self.add(node, q, "obfuscated", Severity.CRITICAL, f"{what} on decoded data")
                    continue
            if call is None and not is_exact(q):
                continue  # constants and classes of a module (subprocess.PIPE) are not behaviour
            self.add(node, q, category, sev, what if call is not None else f"is referenced ({what})")

    # -- visitors

    def visit_Call(self, node: ast.Call) -> None:
        funcs = self.resolve(node.func)
        self.check_reference(node.func, node)
        self._handled.add(id(node.func))
        for f in funcs:
            if f in ("builtins.__import__", "importlib.import_module", "importlib.__import__"):
                if not node.args or _const_str(node.args[0]) is None:
                    sev = Severity.HIGH if f != "importlib.import_module" else Severity.MEDIUM
                    self.add(node, f, "exec", sev, "imports a module whose name is computed at run time")
            elif f == "builtins.getattr" and len(node.args) >= 2 and _const_str(node.args[1]) is None:
                targets = self.resolve(node.args[0])
                if any(t.split(".")[0] in SENSITIVE_MODULES for t in targets if t):
                    self.add(node, f, "obfuscated", Severity.HIGH,
                             "looks up an attribute of a sensitive module by a computed name")
            elif f == "builtins.setattr" and node.args:
                targets = self.resolve(node.args[0])
                if "builtins" in targets:
                    self.add(node, "builtins", "builtins", Severity.HIGH, "is patched with setattr")
            elif f == "builtins.open":
                self._check_open(node)
            elif f in FILE_MUTATORS and node.args:
                path = _literal_path(node.args[0])
                if path is not None and _outside_cwd(path):
                    sev = Severity.HIGH if _sensitive(path) else Severity.MEDIUM
                    self.add(node, f, "files", sev, f"changes {path!r} outside the model folder")
        # Visit children except the callee itself (already reported as a call).
        if not isinstance(node.func, ast.Name):
            self._visit_callee_inner(node.func)
        for a in node.args:
            self.visit(a)
        for k in node.keywords:
            self.visit(k.value)

    def _visit_callee_inner(self, func: ast.expr) -> None:
        # Arguments and sub-expressions inside the callee (e.g. ``__import__("os")`` in
        # ``__import__("os").system``) still need a look, but the callee chain is reported once.
        if isinstance(func, ast.Attribute):
            inner = func.value
            if isinstance(inner, ast.Call):
                self._handled.add(id(inner.func))
                self.visit(inner)
            elif isinstance(inner, (ast.Attribute, ast.Subscript)):
                self._visit_callee_inner(inner)
        elif isinstance(func, ast.Subscript):
            self.visit(func.slice)
            if isinstance(func.value, ast.Call):
                self.visit(func.value)
        elif isinstance(func, ast.Call):
            self.visit(func)
        else:
            self.visit(func)

    def _check_open(self, node: ast.Call) -> None:
        mode = _const_str(node.args[1]) if len(node.args) >= 2 else None
        for k in node.keywords:
            if k.arg == "mode":
                mode = _const_str(k.value)
        if not mode or not any(ch in mode for ch in "wax+"):
            return
        path = _literal_path(node.args[0]) if node.args else None
        if path is not None and _outside_cwd(path):
            sev = Severity.HIGH if _sensitive(path) else Severity.MEDIUM
            self.add(node, "builtins.open", "files", sev, f"writes {path!r} outside the model folder")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if id(node) in self._handled:
            return
        if isinstance(node.ctx, ast.Load):
            self.check_reference(node, None)
            # The base of a reported chain is itself fine ("os" in "os.system").
            inner: ast.expr = node.value
            while isinstance(inner, ast.Attribute):
                self._handled.add(id(inner))
                inner = inner.value
            if isinstance(inner, (ast.Call, ast.Subscript)):
                self.visit(inner)
            return
        if isinstance(node.ctx, ast.Store) and "builtins" in self.resolve(node.value):
            self.add(node, f"builtins.{node.attr}", "builtins", Severity.HIGH, "is replaced")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        return

    def visit_Name(self, node: ast.Name) -> None:
        if id(node) in self._handled or not isinstance(node.ctx, ast.Load):
            return
        self.check_reference(node, None)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, ast.Store) and "builtins" in self.resolve(node.value):
            key = _const_str(node.slice) or "?"
            self.add(node, f"builtins.{key}", "builtins", Severity.HIGH, "is replaced")
        elif isinstance(node.ctx, ast.Load) and _const_str(node.slice) is not None:
            hits = [q for q in self.resolve(node) if q and lookup(q)]
            if hits:
                self.check_reference(node, None)
                return
        self.generic_visit(node)

    def _body(self, node: ast.AST, stmts: list[ast.stmt] | ast.expr, deferred: bool) -> None:
        outer_scope, outer_def = self.scope, self.deferred
        self.scope = self.col.scope_for(node)
        self.deferred = deferred
        for stmt in stmts if isinstance(stmts, list) else [stmts]:
            self.visit(stmt)
        self.scope, self.deferred = outer_scope, outer_def

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        if not isinstance(node, ast.Lambda):
            for d in node.decorator_list:
                self.visit(d)
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        self._body(node, node.body, True)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases, *[k.value for k in node.keywords]]:
            self.visit(expr)
        self._body(node, node.body, self.deferred)

    def visit_If(self, node: ast.If) -> None:
        # ``if __name__ == "__main__":`` runs only when the file is executed as a script, not on import.
        if not self.deferred and _is_main_guard(node.test):
            self.visit(node.test)
            self.deferred = True
            for stmt in node.body:
                self.visit(stmt)
            self.deferred = False
            for stmt in node.orelse:
                self.visit(stmt)
            return
        self.generic_visit(node)

def _const_str(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _literal_path(node: ast.expr) -> str | None:
    """A path argument known from the source (string literals, f-string heads, expanduser/join)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        head = node.values[0]
        if isinstance(head, ast.Constant) and isinstance(head.value, str):
            return head.value
    if isinstance(node, ast.Call) and node.args:
        fn = node.func
        name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
        if name in ("expanduser", "join", "Path", "abspath", "realpath", "expandvars"):
            return _literal_path(node.args[0])
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Div)):
        return _literal_path(node.left)
    return None


def _outside_cwd(path: str) -> bool:
    p = path.replace("\\", "/")
    return p.startswith(("/", "~", "$HOME", "%", "..")) or "/../" in p or (len(p) > 2 and p[1] == ":")


def _sensitive(path: str) -> bool:
    return any(s in path for s in SENSITIVE_PATHS)


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def _adjust_for_arguments(qualified: str, call: ast.Call, sev: Severity) -> Severity | None:
    """Argument-dependent severities: ``torch.load(weights_only=True)`` is safe, and so on. None = no finding."""
    if qualified == "torch.load":
        wo = _keyword(call, "weights_only")
        if isinstance(wo, ast.Constant):
            return None if wo.value is True else Severity.HIGH
        return sev
    if qualified == "numpy.load":
        ap = _keyword(call, "allow_pickle")
        if isinstance(ap, ast.Constant) and ap.value is True:
            return sev
        return None if ap is None or isinstance(ap, ast.Constant) else Severity.LOW
    if qualified in ("yaml.load", "yaml.load_all"):
        loader = _keyword(call, "Loader")
        if loader is None and len(call.args) >= 2:
            loader = call.args[1]
        name = ""
        if isinstance(loader, ast.Attribute):
            name = loader.attr
        elif isinstance(loader, ast.Name):
            name = loader.id
        if name in ("SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"):
            return None
        return Severity.HIGH if name in ("UnsafeLoader", "Loader", "CLoader", "CUnsafeLoader") else sev
    return sev


def _contains_decoder(call: ast.Call, analyser: _Analyser) -> bool:
    for arg in [*call.args, *[k.value for k in call.keywords]]:
        for sub in ast.walk(arg):
            if isinstance(sub, ast.Call):
                for q in analyser.resolve(sub.func):
                    if q and (q.startswith(DECODERS) or q.endswith((".decompress", ".b64decode", ".fromhex"))):
                        return True
                if isinstance(sub.func, ast.Attribute) and sub.func.attr in (
                    "b64decode", "decompress", "fromhex", "unhexlify", "a85decode", "b32decode", "b16decode",
                    "decodebytes",
                ):
                    return True
    return False


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and _const_str(test.comparators[0]) == "__main__"
    )


def analyse_source(source: str, *, filename: str = "<source>", imported: bool = True) -> list[CodeFinding]:
    """Every dangerous reference in ``source``, in line order.

    ``imported``: the file is imported by a loader (auto_map module, MLflow loader), so what runs at
    module level runs during loading and is reported one level higher.
    """
    tree = parse_source(source, filename)
    try:
        collector = Collector()
        collector.visit(tree)
        analyser = _Analyser(source, collector, imported)
        analyser.visit(tree)
    except RecursionError:
        raise AnalysisError(f"{filename}: Python source nests too deeply to analyse") from None
    return sorted(analyser.findings, key=lambda f: (f.line, f.qualified))
