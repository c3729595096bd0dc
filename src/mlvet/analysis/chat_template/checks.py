"""The walk over a parsed template: bindings, then one check per node kind, then grouping per statement."""

from __future__ import annotations

import string
from collections.abc import Iterator
from dataclasses import dataclass, field

from jinja2 import nodes

from mlvet.analysis.chat_template.evidence import fmt_int, shorten, unparse
from mlvet.analysis.chat_template.folding import MUTATORS, Folder, extraction_base
from mlvet.analysis.chat_template.reprs import UNKNOWN_CHAR, object_string
from mlvet.analysis.chat_template.rules import GGF700, GGF701, GGF702, GGF703, GGF704, GGF705, GGF706, GGF708
from mlvet.analysis.chat_template.vocab import (
    ATTR_PATH_FILTERS,
    DANGEROUS_CALLABLES,
    DUNDER_FRAGMENT_RE,
    DUNDER_RE,
    ESCAPE_NAMES,
    EXEC_ATTR_RE,
    EXEC_ATTRS,
    FORMAT_FIELD_PART_RE,
    GADGET_GLOBALS,
    HUGE,
    MAX_CHAIN,
    MAX_DEPTH,
    MAX_RANGE,
    MODULE_NAMES,
    internal_severity,
)
from mlvet.model import Severity
from mlvet.rules import Rule


@dataclass
class Issue:
    """One observation at one node, before grouping by statement."""

    rule: Rule
    severity: Severity
    detail: str
    node: nodes.Node


@dataclass
class Group:
    """The observations of one rule in one statement: one finding, with every detail listed."""

    rule: Rule
    severity: Severity
    lineno: int
    evidence: str
    details: list[str] = field(default_factory=list)


class Analyser(Folder):
    """One pass over a parsed template: bindings first (for folding ``{% set %}`` strings), then checks."""

    def __init__(self, tree: nodes.Template) -> None:
        super().__init__()
        self.tree = tree
        self.parent: dict[int, nodes.Node] = {}
        self._assembled_memo: dict[str, bool] = {}
        self.issues: list[Issue] = []

    # ---- driver -------------------------------------------------------------------------------------

    def run(self) -> list[Group]:
        all_nodes = list(self._walk())
        for i, node in enumerate(all_nodes):
            self.order[id(node)] = i
            self._bind(node)
        for node in all_nodes:
            self._check(node)
        return self._group()

    def _walk(self) -> Iterator[nodes.Node]:
        stack: list[nodes.Node] = [self.tree]
        while stack:
            node = stack.pop()
            yield node
            children = list(node.iter_child_nodes())
            for child in children:
                self.parent[id(child)] = node
            stack.extend(reversed(children))

    def _bind(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr) and \
                isinstance(node.node.node, nodes.Name) and node.node.attr in MUTATORS:
            self.mutations.setdefault(node.node.node.name, []).append(node)
            if self._inside(node, (nodes.For, nodes.Macro, nodes.CallBlock)):
                self.repeated.add(id(node))
        if isinstance(node, nodes.Assign):
            target = node.target
            if isinstance(target, nodes.Name):
                self._assign(target.name, node.node)
            elif isinstance(target, nodes.NSRef):
                self._assign(f"{target.name}.{target.attr}", node.node)
            else:
                for name in target.find_all(nodes.Name):
                    self._assign(name.name, None)
        elif isinstance(node, nodes.AssignBlock):
            target = node.target
            value: nodes.Node | None = node if node.filter is None else None
            if isinstance(target, nodes.Name):
                self._assign(target.name, value)
            elif isinstance(target, nodes.NSRef):
                self._assign(f"{target.name}.{target.attr}", value)
        elif isinstance(node, nodes.For):
            for name in node.target.find_all(nodes.Name):
                self._assign(name.name, None)
        elif isinstance(node, nodes.Macro):
            self.bound.add(node.name)
            for arg in node.args:
                self._assign(arg.name, None)
        elif isinstance(node, nodes.CallBlock):
            for arg in node.args:
                self._assign(arg.name, None)
        elif isinstance(node, nodes.With):
            for tgt in node.targets:
                for name in tgt.find_all(nodes.Name):
                    self._assign(name.name, None)
        elif isinstance(node, nodes.Import):
            self._assign(node.target, None)
        elif isinstance(node, nodes.FromImport):
            for item in node.names:
                self._assign(item[1] if isinstance(item, tuple) else item, None)

    def _assign(self, name: str, value: nodes.Node | None) -> None:
        self.bound.add(name.split(".", 1)[0])
        self.assigned.setdefault(name, []).append(value)

    # ---- checks -------------------------------------------------------------------------------------

    def _issue(self, rule: Rule, detail: str, node: nodes.Node, severity: Severity | None = None) -> None:
        self.issues.append(Issue(rule, severity if severity is not None else rule.severity, detail, node))

    def _check(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Getattr):
            self._check_attr_name(node.attr, node, via="attribute")
            if node.attr in ("format", "format_map"):
                self._check_format_method(node, node.node, node.attr)
            self._check_chain(node)
        elif isinstance(node, nodes.Getitem):
            if not isinstance(node.arg, nodes.Slice):
                self._check_key(node.arg, node, via="subscript", private=True)
            self._check_repr_char(node)
            self._check_chain(node)
        elif isinstance(node, nodes.Name):
            self._check_name(node)
        elif isinstance(node, nodes.Filter):
            self._check_filter(node)
        elif isinstance(node, nodes.Test):
            self._check_attribute_kwargs(node)
        elif isinstance(node, nodes.Call):
            self._check_call(node)
        elif isinstance(node, nodes.NSRef):
            self._check_attr_name(node.attr, node, via="namespace attribute")
        elif isinstance(node, nodes.Const):
            if isinstance(node.value, str):
                self._check_literal(node.value, node)
        elif isinstance(node, nodes.Keyword):
            self._check_literal(node.key, node, what="keyword")
        elif isinstance(node, nodes.TemplateData) and self._inside(node, nodes.AssignBlock):
            self._check_literal(node.data.strip(), node, what="text assigned by {% set %}")
        elif isinstance(node, (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            self._check_load(node)
        elif isinstance(node, nodes.Mul | nodes.Pow):
            self._check_arith(node)
        if isinstance(node, (nodes.Filter, nodes.Call)):
            self._check_repr_char(node)
        if isinstance(node, (nodes.Concat, nodes.Add, nodes.Mod, nodes.Filter, nodes.Call, nodes.Getitem,
                             nodes.AssignBlock)):
            self._check_built_string(node)

    def _check_attr_name(
        self, name: str, node: nodes.Node, *, via: str, dotted: bool = False, built: nodes.Node | None = None,
        private: bool = True,
    ) -> None:
        """Check a name used as an attribute or key. ``built``: the expression that assembled it at render time.

        A name assembled from pieces that spells a process/module/builtin name (``'po' ~ 'pen'``) is as
        critical as a dunder: only a payload hides such a name. ``private=False`` skips single-underscore
        names (dict keys read with ``.get``).
        """
        parts = name.split(".") if dotted else [name]
        parent = self.parent.get(id(node))
        # ``x.system`` is an ordinary name (``ns.system`` holds a system prompt); ``x.system('id')`` is not.
        called = isinstance(parent, nodes.Call) and parent.node is node
        used_as_object = _chain_next(parent) is node
        origin = f" (assembled at render time from {shorten(unparse(built), 120)})" if built is not None else ""
        for part in parts:
            sev = internal_severity(part)
            if sev is not None and (private or sev is Severity.CRITICAL):
                self._issue(GGF700, f"{via} {part!r}{origin}", node, sev)
            elif built is not None and (
                part in EXEC_ATTRS or EXEC_ATTR_RE.match(part) or part in MODULE_NAMES or part in DANGEROUS_CALLABLES
            ) and not self._spelled_out_deep(part, built, 0):
                self._issue(GGF701, f"{via} {part!r}{origin}", node, Severity.CRITICAL)
            elif called and (part in EXEC_ATTRS or EXEC_ATTR_RE.match(part)):
                self._issue(GGF701, f"{via} {part!r} called", node)
            elif used_as_object and part in MODULE_NAMES:
                self._issue(GGF701, f"{via} {part!r} (a module)", node, Severity.HIGH)

    def _check_name(self, node: nodes.Name) -> None:
        if node.ctx != "load" or node.name in self.bound:
            return
        name = node.name
        parent = self.parent.get(id(node))
        used = _chain_next(parent) is node  # the object of a.b, a[0], a(), a|f
        called = isinstance(parent, nodes.Call) and parent.node is node
        if name.startswith("__"):
            self._issue(GGF700, f"name {name!r}", node, Severity.CRITICAL)
        elif (name in MODULE_NAMES and used) or (name in DANGEROUS_CALLABLES and called):
            self._issue(GGF701, f"name {name!r}", node, Severity.HIGH)
        elif name in GADGET_GLOBALS:
            self._issue(GGF702, f"global {name!r}", node)

    def _inside(self, node: nodes.Node, kind: type[nodes.Node] | tuple[type[nodes.Node], ...]) -> bool:
        cur = self.parent.get(id(node))
        while cur is not None:
            if isinstance(cur, kind):
                return True
            cur = self.parent.get(id(cur))
        return False

    def _check_filter(self, node: nodes.Filter) -> None:
        if node.name == "attr":
            if node.args:
                self._attr_argument(node.args[0], node, via="|attr", dotted=False)
                methods = self._fold_or_none(node.args[0]) or frozenset()
                for method in sorted(methods & {"format", "format_map"}):
                    assert node.node is not None
                    self._check_format_method(node, node.node, method)
        elif node.name == "map" and node.args:
            names = self._fold_or_none(node.args[0])
            if names is None or "attr" in names:
                if len(node.args) > 1:
                    self._attr_argument(node.args[1], node, via="|map('attr')", dotted=False)
                elif names is None:
                    self._issue(GGF703, "|map with a computed filter name", node)
        elif node.name in ATTR_PATH_FILTERS and node.args:
            self._attr_argument(node.args[0], node, via=f"|{node.name}", dotted=True)
        self._check_attribute_kwargs(node)

    def _check_attribute_kwargs(self, node: nodes.Filter | nodes.Test) -> None:
        for kw in node.kwargs:
            if kw.key == "attribute":
                self._attr_argument(kw.value, node, via=f"|{node.name}(attribute=)", dotted=True)

    def _attr_argument(self, arg: nodes.Expr, node: nodes.Node, *, via: str, dotted: bool) -> None:
        names = self._fold_or_none(arg)
        if names is None:
            if self._extracts(arg):
                self._issue(GGF703, f"{via} with a name built from characters extracted from an object's string "
                            f"form{self._partial(arg)}", node, Severity.HIGH)
            else:
                self._issue(GGF703, f"{via} with a name computed at render time", node)
            return
        built = self._built(arg)
        for name in names:
            self._check_attr_name(name, node, via=via, dotted=dotted, built=built)

    def _check_key(self, arg: nodes.Node, node: nodes.Node, *, via: str, private: bool) -> None:
        """A subscript or ``.get``/``.pop`` key: internal names, assembled names, keys from extracted characters."""
        keys = self._fold_or_none(arg)
        if keys is None:
            if not isinstance(arg, nodes.Const) and self._extracts(arg):
                self._issue(GGF703, f"{via} key built from characters extracted from an object's string "
                            f"form{self._partial(arg)}", node, Severity.HIGH)
            return
        built = self._built(arg)
        for key in keys:
            self._check_attr_name(key, node, via=via, built=built, private=private)

    def _built(self, arg: nodes.Node) -> nodes.Node | None:
        """``arg`` when it assembles a string at render time (None for a literal or a plain name)."""
        return arg if self._assembled(arg, 0) else None

    def _spelled_out_deep(self, name: str, node: nodes.Node, depth: int) -> bool:
        """A literal equal to ``name`` (any case) in ``node`` or the ``{% set %}`` values it reads.

        ``roles['System'|lower]`` only changes the case of a name written out; ``'xxpopenxx'[2:7]`` and
        ``'po' ~ 'pen'`` hide it.
        """
        low = name.lower()
        for c in (node, *node.find_all((nodes.Const, nodes.TemplateData, nodes.Keyword))):
            text: object = (
                c.data if isinstance(c, nodes.TemplateData) else c.key if isinstance(c, nodes.Keyword)
                else getattr(c, "value", None)
            )
            if isinstance(text, str) and text.strip().lower() == low:
                return True
        if depth > 8:
            return False
        return any(
            v is not None and self._spelled_out_deep(name, v, depth + 1)
            for sub in (node, *node.find_all(nodes.Name)) if isinstance(sub, nodes.Name)
            for v in self.assigned.get(sub.name, ())
        )

    def _assembled(self, node: nodes.Node, depth: int) -> bool:
        for sub in (node, *node.find_all(nodes.Node)):
            if _is_string_builder(sub) or extraction_base(sub) is not None:
                return True
            if isinstance(sub, nodes.Name) and self._name_assembled(sub.name, depth):
                return True
        return False

    def _name_assembled(self, name: str, depth: int) -> bool:
        """Whether a ``{% set %}`` value of ``name`` builds a string (memoised per name)."""
        if name in self._assembled_memo:
            return self._assembled_memo[name]
        if depth > MAX_DEPTH:
            return False
        self._assembled_memo[name] = False  # while in progress (a cycle adds nothing)
        found = any(v is not None and self._assembled(v, depth + 1) for v in self.assigned.get(name, ()))
        self._assembled_memo[name] = found
        return found

    def _partial(self, arg: nodes.Node) -> str:
        """`` ('__?lass__')``: what is known of a partly folded name, unknown characters as '?'."""
        values = self._fold_partial(arg)
        if not values or len(values) > 3:
            return ""
        shown = ", ".join(repr(shorten(v.replace(UNKNOWN_CHAR, "?"), 60)) for v in sorted(values))
        return f" ({shown})"

    def _check_format_method(self, node: nodes.Getattr | nodes.Filter, obj: nodes.Node, method: str) -> None:
        """``s.format(...)``, and the format method taken as a value (``s.format`` stored, ``s|attr('format')``).

        Taking the method as a value is how Jinja's own sandbox was escaped (CVE-2024-56326, fixed in
        3.1.5; CVE-2025-27516 through ``|attr``, fixed in 3.1.6): the sandbox checked ``.format()`` calls
        only, so the field lookups of the format string (``{0.__init__.__globals__}``) went unchecked.
        """
        parent = self.parent.get(id(node))
        called = isinstance(node, nodes.Getattr) and isinstance(parent, nodes.Call) and parent.node is node
        at: nodes.Node = parent if called and parent is not None else node
        formats = self._fold_or_none(obj)
        if not called:
            self._issue(GGF703, f"the string method .{method} taken as a value (how CVE-2024-56326 and "
                        "CVE-2025-27516 escape Jinja's sandbox)", at, Severity.HIGH)
        if formats is None:
            if not called:
                return
            if method == "format_map" or not self._is_plain_data(obj):
                self._issue(GGF703, f".{method}() on a string computed at render time", at)
            else:
                self._issue(GGF703, f".{method}() on template data (field names come from data)", at)
            return
        if method == "format_map":
            self._issue(GGF703, ".format_map()", at)
        for fmt in formats:
            self._check_format_string(fmt, at)

    def _check_call(self, node: nodes.Call) -> None:
        fn = node.node
        if isinstance(fn, nodes.Getattr) and fn.attr in ("get", "pop", "setdefault") and node.args and not (
            isinstance(node.args[0], nodes.Const) and isinstance(node.args[0].value, int)
        ):
            self._check_key(node.args[0], node, via=f".{fn.attr}()", private=False)
        elif isinstance(fn, nodes.Name) and fn.name == "range" and "range" not in self.bound:
            values = [self._fold_int(a) for a in node.args]
            known = [v for v in values if v is not None]
            span = None
            if len(values) == 1 and values[0] is not None:
                span = values[0]
            elif len(values) >= 2 and values[0] is not None and values[1] is not None:
                step = values[2] if len(values) > 2 and values[2] else 1
                span = (values[1] - values[0]) // max(abs(step), 1)
            if (span is not None and span > MAX_RANGE) or any(v >= HUGE for v in known):
                self._issue(GGF705, f"range of {fmt_int(span or max(known))} items", node)

    def _check_format_string(self, fmt: str, node: nodes.Node) -> None:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(fmt) if f]
        except ValueError:
            return
        for field_name in fields:
            for m in FORMAT_FIELD_PART_RE.finditer(field_name):
                part = m.group(1) if m.group(1) is not None else m.group(2)
                sev = internal_severity(part)
                if sev is not None:
                    self._issue(GGF700, f"format field {{{field_name}}}", node, sev)
                elif m.group(1) is not None:
                    self._issue(GGF703, f"format field {{{field_name}}} reads an attribute", node)

    def _check_repr_char(self, node: nodes.Node) -> None:
        """``(()|select|string)[24]`` yields '_' from an object's repr: a way to spell dunders without '_'.

        Also ``.pop(n)``, ``|first``/``|last`` and slices, directly or through ``{% set %}`` variables.
        Stringified template data (``messages|string``) is not an object's repr and is not reported.
        """
        base = extraction_base(node)
        if base is None:
            return
        if isinstance(node, nodes.Getitem) and not isinstance(node.arg, nodes.Slice) and \
                self._fold_int(node.arg) is None:
            return
        obj = self._object_string(base, set(), 0)
        if obj is None or self._is_data(obj):
            return
        value = self._fold_partial(node)
        got = ""
        if value and len(value) == 1 and UNKNOWN_CHAR not in next(iter(value)):
            got = f" ({next(iter(value))!r})"
        self._issue(GGF703, f"characters extracted from an object's string form{got}", node)

    def _check_literal(self, value: str, node: nodes.Node, *, what: str = "string") -> None:
        m = DUNDER_RE.search(value)
        if m is not None:
            name = m.group(0)
            sev = Severity.HIGH if name in ESCAPE_NAMES else Severity.MEDIUM
            self._issue(GGF708, f"{what} {name!r}", node, sev)
        elif len(value) <= 32 and DUNDER_FRAGMENT_RE.fullmatch(value):
            self._issue(GGF708, f"{what} {value!r} (a dunder fragment)", node, Severity.MEDIUM)

    def _check_built_string(self, node: nodes.Node) -> None:
        """Report dunder names that exist only after render-time string building (obfuscation)."""
        parent = self.parent.get(id(node))
        if parent is not None and _is_string_builder(parent):
            return  # the outermost builder reports
        if not _is_string_builder(node):
            return
        values = self._fold_or_none(node)
        for value in values or ():
            m = DUNDER_RE.search(value)
            if m and not self._spelled_out(m.group(0), node):
                self._issue(GGF700, f"name {m.group(0)!r} assembled at render time", node, Severity.CRITICAL)
                return
            name = value.strip()
            if (name in EXEC_ATTRS or name in MODULE_NAMES or name in ("__import__", "eval", "exec")) and \
                    not self._spelled_out(name, node):
                self._issue(GGF701, f"name {name!r} assembled at render time", node, Severity.CRITICAL)
                return

    def _is_data(self, node: nodes.Node) -> bool:
        """``messages``, ``message.content``, ``tools[0]['name']``: values the caller passes, not objects."""
        while isinstance(node, (nodes.Getattr, nodes.Getitem)):
            node = node.node
        return isinstance(node, nodes.Name) and object_string(node, self.bound) is None

    @staticmethod
    def _spelled_out(name: str, node: nodes.Node) -> bool:
        """True when ``name`` is written literally inside ``node`` (any case): not hidden by assembling."""
        low = name.lower()
        for c in node.find_all((nodes.Const, nodes.TemplateData, nodes.Keyword)):
            text: object = (
                c.data if isinstance(c, nodes.TemplateData) else c.key if isinstance(c, nodes.Keyword)
                else getattr(c, "value", None)
            )
            if isinstance(text, str) and low in text.lower():
                return True
        return False

    def _check_load(self, node: nodes.Include | nodes.Import | nodes.FromImport | nodes.Extends) -> None:
        kind = type(node).__name__.lower().replace("fromimport", "from-import")
        targets = self._fold_or_none(node.template)
        if targets is None:
            self._issue(GGF704, f"{kind} of a template named at render time", node, Severity.HIGH)
            return
        for target in targets:
            risky = target.startswith(("/", "\\")) or ".." in target or ":" in target
            self._issue(GGF704, f"{kind} {target!r}", node, Severity.HIGH if risky else Severity.MEDIUM)

    def _check_arith(self, node: nodes.Mul | nodes.Pow) -> None:
        if isinstance(node, nodes.Pow):
            value = self._fold_int(node)
            if value is not None and abs(value) >= HUGE:
                self._issue(GGF705, "power with a huge result", node)
            return
        for side in (node.left, node.right):
            count = self._fold_int(side)
            if count is not None and count > MAX_RANGE:
                self._issue(GGF705, f"repetition × {fmt_int(count)}", node)
                return

    def _check_chain(self, node: nodes.Getattr | nodes.Getitem) -> None:
        parent = self.parent.get(id(node))
        if _chain_next(parent) is node:
            return  # only the outermost link of a chain counts it
        depth = 0
        cur: nodes.Node | None = node
        while cur is not None:
            if isinstance(cur, (nodes.Getattr, nodes.Getitem)):
                depth += 1
            cur = _chain_next(cur)
        if depth > MAX_CHAIN:
            self._issue(GGF706, f"{depth} levels", node)

    @staticmethod
    def _is_plain_data(node: nodes.Node) -> bool:
        return isinstance(node, (nodes.Name, nodes.Getattr, nodes.Getitem))

    # ---- reporting ----------------------------------------------------------------------------------

    def _group(self) -> list[Group]:
        groups: dict[tuple[str, int], Group] = {}
        for issue in self.issues:
            top = self._statement_expr(issue.node)
            key = (issue.rule.id, id(top))
            group = groups.get(key)
            if group is None:
                text = unparse(top)
                if len(text) > 300:
                    text = shorten(unparse(issue.node), 300)
                group = Group(issue.rule, issue.severity, issue.node.lineno or top.lineno or 0, text)
                groups[key] = group
            group.severity = max(group.severity, issue.severity)
            group.details.append(issue.detail)
        # A process call inside an expression that already escapes is part of the same payload.
        escapes = {k[1] for k in groups if k[0] == GGF700.id}
        for (rule_id, top_id), group in list(groups.items()):
            if rule_id in (GGF701.id, GGF702.id, GGF708.id) and top_id in escapes:
                groups[(GGF700.id, top_id)].details.extend(group.details)
                del groups[(rule_id, top_id)]
        return list(groups.values())

    def _statement_expr(self, node: nodes.Node) -> nodes.Node:
        """The outermost expression containing ``node`` (a ``{{ }}`` body, an ``{% if %}`` test...)."""
        cur = node
        while True:
            parent = self.parent.get(id(cur))
            if parent is None or not isinstance(parent, (nodes.Expr, nodes.Keyword, nodes.Pair, nodes.Operand)):
                return cur
            cur = parent


def _is_string_builder(node: nodes.Node) -> bool:
    if isinstance(node, (nodes.Concat, nodes.Add, nodes.Mod, nodes.AssignBlock)):
        return True
    if isinstance(node, nodes.Filter):
        return node.name in ("join", "format", "reverse", "replace", "lower", "upper", "first", "last")
    if isinstance(node, nodes.Call):
        fn = node.node
        return isinstance(fn, nodes.Getattr) and fn.attr in ("join", "format", "replace", "lower", "upper")
    if isinstance(node, nodes.Getitem):
        return isinstance(node.arg, nodes.Slice)
    return False


def _chain_next(node: nodes.Node | None) -> nodes.Node | None:
    """The object a postfix expression applies to (``a`` in ``a.b``, ``a[0]``, ``a()``, ``a|f``)."""
    if isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Call, nodes.Filter)):
        inner: nodes.Node | None = node.node
        return inner
    return None
