"""One module's source -> a small, JSON-ready summary of what it binds and what each function calls.

The summary is all the call-graph analysis needs, so the (slow) parse happens once per module and the
summaries of a pinned wheel can be cached on disk. Nothing here imports or runs the code: it is ``ast`` only.

A summary (plain dicts and lists, so it round-trips through JSON):

* ``symbols``: module-level name -> list of bindings (every binding the module can give the name: both
  arms of a ``try: import a except ImportError: import b`` are kept);
* ``stars``: modules star-imported;
* ``funcs``: qualname -> ``{"self": first parameter name or "", "cm": classmethod-like, "locals": {name:
  bindings}, "calls": [[callee, args], ...]}`` — nested functions, lambdas and comprehensions are folded
  into the function that defines them (they almost always run when it does);
* ``classes``: qualname -> ``{"bases": [...], "meta": dotted or "", "methods": {name: qualname},
  "attrs": {name: bindings}, "dc": dataclass-like}``; nested classes get ``Outer.Inner`` qualnames.

A binding is ``["mod", module]``, ``["from", module, name]``, ``["def", qualname]``, ``["class", qualname]``,
``["ref", dotted]`` (an alias such as ``s = os.system``) or ``["unk"]`` (assigned from something the
analysis does not follow; it still shadows outer names). A callee is a dotted expression relative to the
function's scope (``os.system``, ``self.load``, ``super().__init__``, ``cls``) or ``?.name`` for a method
called on an object the analysis cannot name. ``args`` is kept only for callees whose effect depends on
them (``open`` modes, ``memmap`` modes, ``yaml.load`` loaders, imported names): constants as themselves,
anything else as ``"?"`` followed by the names it mentions.
"""

from __future__ import annotations

import ast
from typing import Any

#: Last callee segments whose arguments are recorded (see ``sinks.arg_check``); so are those of any callee
#: with "open" in its name or a ``mode=``/``Loader=`` keyword (``from builtins import open as _open``).
ARG_SENSITIVE = frozenset({"open", "fdopen", "memmap", "load", "load_all", "import_module", "find_spec", "__import__",
                           "ZipFile", "FileIO"})
#: Method names that are sinks even on an object the analysis cannot name (see ``sinks.METHOD_SINKS``).
METHOD_NAMES = frozenset({"tofile", "write_text", "write_bytes", "unlink", "rmdir", "symlink_to", "hardlink_to"})
_MAX_ARGS = 3
#: Builtins that take a callable or type as an argument without calling it.
_NOT_CALLING = frozenset({"isinstance", "issubclass", "getattr", "hasattr", "setattr", "delattr", "id", "type",
                          "print", "repr", "str", "callable", "hash", "vars", "dir", "format"})

Binding = list[str]
Summary = dict[str, Any]


def module_name(path: str) -> tuple[str, bool] | None:
    """``pkg/sub/mod.py`` -> (``pkg.sub.mod``, False); ``pkg/__init__.py`` -> (``pkg``, True)."""
    if not path.endswith(".py"):
        return None
    parts = path[:-3].split("/")
    is_pkg = parts[-1] == "__init__"
    if is_pkg:
        parts = parts[:-1]
    if not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts), is_pkg


def dotted(node: ast.expr, selfname: str = "") -> str | None:
    """``a.b.c`` for a Name/Attribute chain; ``super()`` and ``type(self)`` become markers; else None."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value, selfname)
        return None if base is None else f"{base}.{node.attr}"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id == "super":
            return "super()"
        if node.func.id == "type" and selfname and len(node.args) == 1:
            arg = node.args[0]
            if isinstance(arg, ast.Name) and arg.id == selfname:
                return "type(self)"
    if isinstance(node, ast.Subscript):  # Generic[T] as a base
        return dotted(node.value, selfname)
    return None


def _arg_repr(node: ast.expr) -> Any:
    if isinstance(node, ast.Constant) and isinstance(node.value, str | int | bool | type(None)):
        return node.value
    names = sorted({n.attr if isinstance(n, ast.Attribute) else n.id
                    for n in ast.walk(node) if isinstance(n, ast.Name | ast.Attribute)})
    return "?" + " ".join(names)


def _resolve_from(module: str, is_pkg: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_pkg else module.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


class _Binder:
    """Collects the bindings of one scope (module body or one function, nested scopes folded in)."""

    def __init__(self, module: str, is_pkg: bool) -> None:
        self.module = module
        self.is_pkg = is_pkg
        self.bindings: dict[str, list[Binding]] = {}
        self.stars: list[str] = []

    def bind(self, name: str, binding: Binding) -> None:
        lst = self.bindings.setdefault(name, [])
        if binding not in lst and len(lst) < 4:
            lst.append(binding)

    def target(self, node: ast.expr) -> None:
        for n in ast.walk(node):
            if isinstance(n, ast.Name):
                self.bind(n.id, ["unk"])

    def statement(self, node: ast.stmt | ast.expr) -> bool:
        """Record what ``node`` binds; True when handled (its children need no further binding walk)."""
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    self.bind(a.asname, ["mod", a.name])
                else:
                    head = a.name.split(".")[0]
                    self.bind(head, ["mod", head])
            return True
        if isinstance(node, ast.ImportFrom):
            src = _resolve_from(self.module, self.is_pkg, node)
            for a in node.names:
                if a.name == "*":
                    if src not in self.stars:
                        self.stars.append(src)
                else:
                    self.bind(a.asname or a.name, ["from", src, a.name])
            return True
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = node.value
            ref = dotted(value) if value is not None and isinstance(value, ast.Name | ast.Attribute) else None
            for t in targets:
                if isinstance(t, ast.Name):
                    self.bind(t.id, ["ref", ref] if ref else ["unk"])
                else:
                    self.target(t)
            return False
        if isinstance(node, ast.AugAssign | ast.For | ast.AsyncFor | ast.comprehension | ast.NamedExpr):
            self.target(node.target)
        elif isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                if item.optional_vars is not None:
                    self.target(item.optional_vars)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            self.bind(node.name, ["unk"])
        return False


def _params(args: ast.arguments) -> list[str]:
    every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
    names = [a.arg for a in every]
    for extra in (args.vararg, args.kwarg):
        if extra is not None:
            names.append(extra.arg)
    return names


def _decorators(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> list[str]:
    out = []
    for d in node.decorator_list:
        name = dotted(d.func if isinstance(d, ast.Call) else d)
        if name:
            out.append(name)
    return out


def summarise_function(node: ast.FunctionDef | ast.AsyncFunctionDef, module: str, is_pkg: bool,
                       method: bool) -> dict[str, Any]:
    decos = _decorators(node)
    static = any(d.split(".")[-1] == "staticmethod" for d in decos)
    params = _params(node.args)
    selfname = params[0] if method and not static and params else ""
    cm = bool(selfname) and (node.name in ("__new__", "__init_subclass__", "__class_getitem__")
                             or any(d.split(".")[-1] == "classmethod" for d in decos))
    binder = _Binder(module, is_pkg)
    for p in params:
        if p != selfname:
            binder.bind(p, ["unk"])
    calls: list[list[Any]] = []
    seen: set[str] = set()
    stack: list[ast.AST] = list(node.body)
    while stack:
        n = stack.pop()
        if isinstance(n, ast.ClassDef):
            binder.bind(n.name, ["unk"])
            continue
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            if not isinstance(n, ast.Lambda):
                binder.bind(n.name, ["unk"])
            for p in _params(n.args):
                binder.bind(p, ["unk"])
            stack.extend(n.body if isinstance(n.body, list) else [n.body])
            continue
        if isinstance(n, ast.stmt | ast.expr | ast.comprehension | ast.ExceptHandler):
            binder.statement(n)  # type: ignore[arg-type]
        if isinstance(n, ast.Call):
            _record_call(n, selfname, calls, seen)
        stack.extend(ast.iter_child_nodes(n))
    return {"self": selfname, "cm": cm, "locals": binder.bindings, "calls": calls}


def _record_call(n: ast.Call, selfname: str, calls: list[list[Any]], seen: set[str]) -> None:
    callee = dotted(n.func, selfname)
    if callee is None:
        if isinstance(n.func, ast.Attribute) and n.func.attr in METHOD_NAMES:
            callee = "?." + n.func.attr
        else:
            return
    elif selfname and callee.split(".")[0] == selfname:
        callee = "self" + callee[len(selfname):]
    last = callee.rsplit(".", 1)[-1]
    args: Any = None
    if last in ARG_SENSITIVE or "open" in last.lower() or any(k.arg in ("mode", "Loader") for k in n.keywords):
        pos = [_arg_repr(a) for a in n.args[:_MAX_ARGS] if not isinstance(a, ast.Starred)]
        kw = {k.arg: _arg_repr(k.value) for k in n.keywords if k.arg}
        if any(isinstance(a, ast.Starred) for a in n.args) or any(k.arg is None for k in n.keywords):
            kw["*"] = "?"
        args = [pos, kw]
    key = f"{callee}\0{args!r}"
    if key not in seen:
        seen.add(key)
        calls.append([callee, args])
    # A sink passed as a callback (``map(eval, xs)``, ``Thread(target=os.system)``) runs too: recorded as a
    # reference that counts only when it resolves to a sink (see ``graph``).
    if isinstance(n.func, ast.Name) and n.func.id in _NOT_CALLING:
        return
    for a in [*n.args, *(k.value for k in n.keywords)]:
        if isinstance(a, ast.Name | ast.Attribute):
            ref = dotted(a, selfname)
            if ref and f"&{ref}" not in seen:
                seen.add(f"&{ref}")
                calls.append(["&" + ref, None])


def summarise_class(node: ast.ClassDef, qual: str, module: str, is_pkg: bool, out: Summary) -> None:
    bases = [b for b in (dotted(x) for x in node.bases) if b]
    meta = ""
    for k in node.keywords:
        if k.arg == "metaclass":
            meta = dotted(k.value) or ""
    decos = _decorators(node)
    info: dict[str, Any] = {
        "bases": bases, "meta": meta, "methods": {}, "attrs": {},
        "dc": any(d.split(".")[-1] in ("dataclass", "define", "frozen", "s", "attrs") for d in decos),
    }
    out["classes"][qual] = info
    binder = _Binder(module, is_pkg)
    for stmt in node.body:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            fq = f"{qual}.{stmt.name}"
            info["methods"][stmt.name] = fq
            out["funcs"][fq] = summarise_function(stmt, module, is_pkg, method=True)
        elif isinstance(stmt, ast.ClassDef):
            summarise_class(stmt, f"{qual}.{stmt.name}", module, is_pkg, out)
            binder.bind(stmt.name, ["class", f"{qual}.{stmt.name}"])
        else:
            for n in ast.walk(stmt):
                if isinstance(n, ast.stmt):
                    binder.statement(n)
    info["attrs"] = binder.bindings


def summarise(source: str | bytes, module: str, is_pkg: bool, filename: str = "<src>") -> Summary:
    """The summary of one module (raises SyntaxError/ValueError when the source does not parse)."""
    tree = ast.parse(source, filename=filename)
    out: Summary = {"name": module, "pkg": is_pkg, "symbols": {}, "stars": [], "funcs": {}, "classes": {}}
    binder = _Binder(module, is_pkg)
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        stmt = stack.pop(0)
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            binder.bind(stmt.name, ["def", stmt.name])
            if stmt.name not in out["funcs"]:
                out["funcs"][stmt.name] = summarise_function(stmt, module, is_pkg, method=False)
        elif isinstance(stmt, ast.ClassDef):
            binder.bind(stmt.name, ["class", stmt.name])
            if stmt.name not in out["classes"]:
                summarise_class(stmt, stmt.name, module, is_pkg, out)
        elif isinstance(stmt, ast.If | ast.Try | ast.With | ast.AsyncWith | ast.For | ast.While):
            binder.statement(stmt)
            for field in ("body", "orelse", "finalbody"):
                stack[0:0] = getattr(stmt, field, [])
            for h in getattr(stmt, "handlers", []):
                binder.statement(h)
                stack[0:0] = h.body
        else:
            binder.statement(stmt)
    out["symbols"] = binder.bindings
    out["stars"] = binder.stars
    return out
