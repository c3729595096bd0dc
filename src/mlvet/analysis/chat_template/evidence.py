"""Source forms of template expressions for messages and evidence (Jinja keeps lines, not columns)."""

from __future__ import annotations

from jinja2 import nodes

from mlvet.analysis.chat_template.vocab import HUGE, MAX_DEPTH


def snippet(source: str, n: int = 200) -> str:
    text = source[:n].replace("\n", "\\n")
    return text + ("…" if len(source) > n else "")


def source_line(source: str, lineno: int) -> str:
    lines = source.splitlines()
    if 1 <= lineno <= len(lines):
        return f"line {lineno}: {lines[lineno - 1].strip()[:240]}"
    return snippet(source)


def fmt_int(value: int) -> str:
    return "more than 10**30" if abs(value) >= HUGE else f"{value:,}"


def shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


_CMPOPS = {"eq": "==", "ne": "!=", "gt": ">", "gteq": ">=", "lt": "<", "lteq": "<=", "in": "in", "notin": "not in"}
_BINOPS = {
    "Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "FloorDiv": "//", "Mod": "%", "Pow": "**",
    "And": "and", "Or": "or",
}


def unparse(node: nodes.Node, depth: int = 0) -> str:
    """A compact source form of an expression, for evidence (Jinja keeps line numbers, not columns)."""
    if depth > MAX_DEPTH:
        return "…"
    d = depth + 1

    def u(n: nodes.Node | None) -> str:
        return "" if n is None else unparse(n, d)

    def p(n: nodes.Node | None, postfix: bool = True) -> str:
        """``n`` as the operand of a postfix (``.a``, ``[0]``, ``()``) or filter: parenthesised when needed."""
        loose: tuple[type[nodes.Node], ...] = (
            nodes.BinExpr, nodes.Concat, nodes.CondExpr, nodes.Compare, nodes.UnaryExpr, nodes.Test,
        )
        if postfix:
            loose = (*loose, nodes.Filter)
        text = u(n)
        return f"({text})" if isinstance(n, loose) else text

    def call_args(n: nodes.Call | nodes.Filter | nodes.Test) -> str:
        parts = [u(a) for a in n.args] + [f"{k.key}={u(k.value)}" for k in n.kwargs]
        if n.dyn_args is not None:
            parts.append("*" + u(n.dyn_args))
        if n.dyn_kwargs is not None:
            parts.append("**" + u(n.dyn_kwargs))
        return ", ".join(parts)

    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Const):
        return repr(node.value) if not isinstance(node.value, str) else repr(shorten(node.value, 80))
    if isinstance(node, nodes.TemplateData):
        return repr(shorten(node.data, 80))
    if isinstance(node, nodes.Getattr):
        return f"{p(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        return f"{p(node.node)}[{u(node.arg)}]"
    if isinstance(node, nodes.Slice):
        text = f"{u(node.start)}:{u(node.stop)}"
        return text + (f":{u(node.step)}" if node.step is not None else "")
    if isinstance(node, nodes.Call):
        return f"{p(node.node)}({call_args(node)})"
    if isinstance(node, nodes.Filter):
        args = call_args(node)
        head = p(node.node, postfix=False) if node.node is not None else ""
        return f"{head}|{node.name}" + (f"({args})" if args else "")
    if isinstance(node, nodes.Test):
        args = call_args(node)
        return f"{p(node.node, postfix=False)} is {node.name}" + (f"({args})" if args else "")
    if isinstance(node, nodes.Concat):
        return " ~ ".join(u(n) for n in node.nodes)
    if isinstance(node, nodes.BinExpr):
        return f"{p(node.left, False)} {_BINOPS.get(type(node).__name__, node.operator)} {p(node.right, False)}"
    if isinstance(node, nodes.Not):
        return f"not {u(node.node)}"
    if isinstance(node, nodes.Neg):
        return f"-{u(node.node)}"
    if isinstance(node, nodes.Pos):
        return f"+{u(node.node)}"
    if isinstance(node, nodes.CondExpr):
        return f"{u(node.expr1)} if {u(node.test)} else {u(node.expr2)}"
    if isinstance(node, nodes.Compare):
        return p(node.expr, False) + "".join(
            f" {_CMPOPS.get(op.op, op.op)} {p(op.expr, False)}" for op in node.ops
        )
    if isinstance(node, nodes.Tuple):
        return "(" + ", ".join(u(i) for i in node.items) + ("," if len(node.items) == 1 else "") + ")"
    if isinstance(node, nodes.List):
        return "[" + ", ".join(u(i) for i in node.items) + "]"
    if isinstance(node, nodes.Dict):
        return "{" + ", ".join(f"{u(p.key)}: {u(p.value)}" for p in node.items) + "}"
    if isinstance(node, nodes.Keyword):
        return f"{node.key}={u(node.value)}"
    if isinstance(node, nodes.NSRef):
        return f"{node.name}.{node.attr}"
    if isinstance(node, nodes.Assign):
        return f"{{% set {u(node.target)} = {u(node.node)} %}}"
    if isinstance(node, nodes.AssignBlock):
        return f"{{% set {u(node.target)} %}}" + "".join(u(n) for n in node.body) + "{% endset %}"
    if isinstance(node, nodes.Output):
        return "".join(u(n) for n in node.nodes)
    if isinstance(node, nodes.Include):
        return f"{{% include {u(node.template)} %}}"
    if isinstance(node, nodes.Import):
        return f"{{% import {u(node.template)} as {node.target} %}}"
    if isinstance(node, nodes.FromImport):
        return f"{{% from {u(node.template)} import … %}}"
    if isinstance(node, nodes.Extends):
        return f"{{% extends {u(node.template)} %}}"
    return f"<{type(node).__name__}>"
