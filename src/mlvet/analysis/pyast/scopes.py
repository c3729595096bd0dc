"""Pass 1 of the Python-code analysis: what every name is bound to, per scope.

Imports, assignments, definitions and parameters are recorded (assignments lazily, as expressions that
pass 2 resolves on demand), following Python's scoping rules (class scopes are invisible to the
functions nested in them).
"""

from __future__ import annotations

import ast

from mlvet.analysis.pyast.tables import canonical

Binding = frozenset[str]  # possible qualified names a local name refers to ("" = something unknown)
UNKNOWN: Binding = frozenset({""})


class Scope:
    """One Python scope (module, function or class): names bound in it and the scope around it."""

    def __init__(self, parent: Scope | None, kind: str) -> None:
        self.parent = parent
        self.kind = kind  # "module", "function", "class"
        self.names: dict[str, set[str]] = {}

    def bind(self, name: str, values: Binding) -> None:
        self.names.setdefault(name, set()).update(values)

    def lookup(self, name: str) -> Binding | None:
        scope: Scope | None = self
        first = True
        while scope is not None:
            # Class scopes are not visible from the functions nested in them (Python's rule).
            if (first or scope.kind != "class") and name in scope.names:
                return frozenset(scope.names[name])
            first = False
            scope = scope.parent
        return None


class Collector(ast.NodeVisitor):
    """Pass 1: what each name is bound to, per scope (imports, assignments, defs, parameters)."""

    def __init__(self) -> None:
        self.scopes: dict[int, Scope] = {}
        self.module = Scope(None, "module")
        self.current = self.module
        self.star_modules: set[str] = set()
        self.pending: dict[tuple[int, str], list[ast.expr]] = {}

    def scope_for(self, node: ast.AST) -> Scope:
        return self.scopes.get(id(node), self.module)

    def _enter(self, node: ast.AST, kind: str) -> Scope:
        scope = Scope(self.current, kind)
        self.scopes[id(node)] = scope
        return scope

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.current.bind(alias.asname, frozenset({canonical(alias.name)}))
            else:
                top = alias.name.split(".")[0]
                self.current.bind(top, frozenset({canonical(top)}))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = "." * node.level + (node.module or "") if node.level else canonical(node.module or "")
        for alias in node.names:
            if alias.name == "*":
                if not node.level:
                    self.star_modules.add(base)
                continue
            self.current.bind(alias.asname or alias.name, frozenset({f"{base}.{alias.name}"}))

    def _bind_target(self, target: ast.expr, value: ast.expr | None) -> None:
        if isinstance(target, ast.Name):
            if value is None:
                self.current.bind(target.id, UNKNOWN)
            else:
                self.current.bind(target.id, frozenset())
                self.pending.setdefault((id(self.current), target.id), []).append(value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._bind_target(elt.value if isinstance(elt, ast.Starred) else elt, None)

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._bind_target(t, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._bind_target(node.target, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._bind_target(node.target, None)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._bind_target(node.target, node.value)
        self.generic_visit(node)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self._bind_target(node.target, None)
        self.generic_visit(node)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            if item.optional_vars is not None:
                self._bind_target(item.optional_vars, None)
        self.generic_visit(node)

    visit_AsyncWith = visit_With

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.current.bind(node.name, UNKNOWN)
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        self._bind_target(node.target, None)
        self.generic_visit(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        if not isinstance(node, ast.Lambda):
            self.current.bind(node.name, UNKNOWN)
            for d in node.decorator_list:
                self.visit(d)
            if node.returns is not None:
                self.visit(node.returns)
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        outer = self.current
        self.current = self._enter(node, "function")
        args = node.args
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None:
                self.current.bind(a.arg, UNKNOWN)
        body = node.body if isinstance(node.body, list) else [node.body]
        for stmt in body:
            self.visit(stmt)
        self.current = outer

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.current.bind(node.name, UNKNOWN)
        for expr in [*node.decorator_list, *node.bases, *[k.value for k in node.keywords]]:
            self.visit(expr)
        outer = self.current
        self.current = self._enter(node, "class")
        for stmt in node.body:
            self.visit(stmt)
        self.current = outer

    def visit_Global(self, node: ast.Global) -> None:
        return

    def visit_Constant(self, node: ast.Constant) -> None:
        return  # leaves; NodeVisitor's default for Constant is slow (deprecation shims)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        return
