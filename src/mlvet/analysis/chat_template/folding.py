"""Constant folding of the strings a template builds at render time, with size and branching caps.

Escape payloads hide ``__class__`` by assembling it (``'__cla' ~ 'ss__'``, ``|join``, ``{% set %}``
variables, ``'%c' % 95``, ``.format``, slices, ``|replace``). The folder computes every string an
expression can evaluate to when that follows from constants alone, never more than
``MAX_ALTERNATIVES`` values of at most ``MAX_FOLD_LEN`` characters, and never renders anything.
"""

from __future__ import annotations

import re
import string
from itertools import product

from jinja2 import nodes

from mlvet.analysis.chat_template.vocab import (
    HUGE,
    MAX_ALTERNATIVES,
    MAX_DEPTH,
    MAX_FOLD_LEN,
    PRINTF_RE,
    STRING_FILTERS_1,
    STRING_METHODS_1,
)


class Unknown(Exception):
    """A value that cannot be folded to constants (data, loop variables, macro calls...)."""


class Folder:
    """Folds expressions against the ``{% set %}`` bindings of one template (filled by the checker)."""

    def __init__(self) -> None:
        #: Every value assigned to a name (``ns.attr`` for namespace attributes); None = not foldable.
        self.assigned: dict[str, list[nodes.Node | None]] = {}
        self._folding: set[str] = set()

    def _fold_or_none(self, node: nodes.Node) -> frozenset[str] | None:
        try:
            return self._fold(node, 0)
        except (Unknown, RecursionError, ValueError, TypeError, IndexError, OverflowError):
            return None

    def _fold(self, node: nodes.Node, depth: int) -> frozenset[str]:
        """Every string ``node`` can evaluate to, when that follows from constants alone."""
        if depth > MAX_DEPTH:
            raise Unknown
        d = depth + 1
        if isinstance(node, nodes.Const):
            if isinstance(node.value, str):
                return frozenset({node.value})
            raise Unknown
        if isinstance(node, nodes.TemplateData):
            return frozenset({node.data})
        if isinstance(node, nodes.Name):
            return self._fold_var(node.name, d)
        if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
            return self._fold_var(f"{node.node.name}.{node.attr}", d)
        if isinstance(node, nodes.Concat):
            return self._combine([self._fold(n, d) for n in node.nodes])
        if isinstance(node, nodes.Add):
            return self._combine([self._fold(node.left, d), self._fold(node.right, d)])
        if isinstance(node, nodes.CondExpr):
            parts = self._fold(node.expr1, d)
            return _cap(parts | (self._fold(node.expr2, d) if node.expr2 is not None else frozenset({""})))
        if isinstance(node, nodes.Mul):
            return self._fold_repeat(node, d)
        if isinstance(node, nodes.Mod):
            return self._fold_printf(self._fold(node.left, d), node.right, d)
        if isinstance(node, nodes.Output):
            return self._combine([self._fold(n, d) for n in node.nodes])
        if isinstance(node, nodes.AssignBlock):
            return self._combine([self._fold(n, d) for n in node.body])
        if isinstance(node, nodes.Getitem):
            return self._fold_getitem(node, d)
        if isinstance(node, nodes.Filter) and node.node is not None:
            return self._fold_filter(node, d)
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            return self._fold_method(node, node.node, d)
        raise Unknown

    def _fold_var(self, key: str, depth: int) -> frozenset[str]:
        values = self.assigned.get(key)
        if not values or key in self._folding or any(v is None for v in values):
            raise Unknown
        self._folding.add(key)
        try:
            out: set[str] = set()
            for v in values:
                assert v is not None
                out |= self._fold(v, depth)
            return _cap(frozenset(out))
        finally:
            self._folding.discard(key)

    @staticmethod
    def _combine(parts: list[frozenset[str]]) -> frozenset[str]:
        total = 1
        for p in parts:
            total *= max(len(p), 1)
            if total > MAX_ALTERNATIVES:
                raise Unknown
        out = frozenset("".join(combo) for combo in product(*parts))
        if any(len(s) > MAX_FOLD_LEN for s in out):
            raise Unknown
        return out

    def _fold_repeat(self, node: nodes.Mul, depth: int) -> frozenset[str]:
        for text_side, count_side in ((node.left, node.right), (node.right, node.left)):
            count = self._fold_int(count_side)
            if count is None:
                continue
            texts = self._fold(text_side, depth)
            if any(len(t) * max(count, 0) > MAX_FOLD_LEN for t in texts):
                raise Unknown
            return frozenset(t * count for t in texts)
        raise Unknown

    def _fold_printf(self, formats: frozenset[str], args_node: nodes.Node, depth: int) -> frozenset[str]:
        """``'%s%s' % (a, b)`` and ``|format``, restricted to %s/%d/%i/%c (no widths: no allocation bombs)."""
        arg_nodes: list[nodes.Node] = (
            list(args_node.items) if isinstance(args_node, (nodes.Tuple, nodes.List)) else [args_node]
        )
        args = [self._fold_scalar(a, depth) for a in arg_nodes]
        out = set()
        for fmt in formats:
            if "%" in PRINTF_RE.sub("", fmt):
                raise Unknown
            for combo in product(*args):
                out.add(fmt % tuple(combo))
        return self._combine([frozenset(out)])

    def _fold_scalar(self, node: nodes.Node, depth: int) -> list[str | int]:
        value = self._fold_int(node)
        if value is not None:
            if not 0 <= value < 0x110000:
                raise Unknown
            return [value]
        return list(self._fold(node, depth))

    def _fold_getitem(self, node: nodes.Getitem, depth: int) -> frozenset[str]:
        texts = self._fold(node.node, depth)
        arg = node.arg
        if isinstance(arg, nodes.Slice):
            bounds = [None if b is None else self._fold_int(b) for b in (arg.start, arg.stop, arg.step)]
            for b, src in zip(bounds, (arg.start, arg.stop, arg.step), strict=True):
                if src is not None and b is None:
                    raise Unknown
            if bounds[2] == 0:
                raise Unknown
            return frozenset(t[bounds[0]:bounds[1]:bounds[2]] for t in texts)
        index = self._fold_int(arg)
        if index is None:
            raise Unknown
        return frozenset(t[index] for t in texts)

    def _fold_list(self, node: nodes.Node, depth: int) -> list[frozenset[str]]:
        if isinstance(node, (nodes.List, nodes.Tuple)):
            if len(node.items) > 256:
                raise Unknown
            return [self._fold(item, depth) for item in node.items]
        if isinstance(node, nodes.Name):
            values = self.assigned.get(node.name)
            if values and len(values) == 1 and values[0] is not None and node.name not in self._folding:
                self._folding.add(node.name)
                try:
                    return self._fold_list(values[0], depth + 1)
                finally:
                    self._folding.discard(node.name)
        texts = self._fold(node, depth)
        if len(texts) == 1:
            return [frozenset({ch}) for ch in next(iter(texts))]
        raise Unknown

    def _fold_filter(self, node: nodes.Filter, depth: int) -> frozenset[str]:
        assert node.node is not None
        name = node.name
        args = node.args
        if name == "join":
            sep = self._fold(args[0], depth) if args else frozenset({""})
            items = self._fold_list(node.node, depth)
            return self._combine(_interleave(items, sep))
        if name in ("format",):
            return self._fold_printf(self._fold(node.node, depth), nodes.Tuple(list(args), "load"), depth)
        texts = self._fold(node.node, depth)
        if name in STRING_FILTERS_1 and not args:
            return frozenset(STRING_FILTERS_1[name](t) for t in texts)
        if name == "reverse":
            return frozenset(t[::-1] for t in texts)
        if name in ("first", "last"):
            return frozenset(t[0 if name == "first" else -1] for t in texts if t)
        if name in ("default", "d"):
            return texts
        if name == "replace" and len(args) >= 2:
            return self._replace(texts, self._fold(args[0], depth), self._fold(args[1], depth))
        raise Unknown

    def _fold_method(self, node: nodes.Call, method: nodes.Getattr, depth: int) -> frozenset[str]:
        name = method.attr
        if name == "join" and len(node.args) == 1:
            sep = self._fold(method.node, depth)
            return self._combine(_interleave(self._fold_list(node.args[0], depth), sep))
        texts = self._fold(method.node, depth)
        if name in STRING_METHODS_1 and not node.args:
            return frozenset(STRING_METHODS_1[name](t) for t in texts)
        if name == "replace" and len(node.args) == 2:
            return self._replace(texts, self._fold(node.args[0], depth), self._fold(node.args[1], depth))
        if name == "format" and not node.kwargs:
            args = [self._fold(a, depth) for a in node.args]
            out = set()
            for fmt in texts:
                if not _simple_format(fmt):
                    raise Unknown
                for combo in product(*args):
                    out.add(fmt.format(*combo))
            return self._combine([frozenset(out)])
        raise Unknown

    def _replace(self, texts: frozenset[str], olds: frozenset[str], news: frozenset[str]) -> frozenset[str]:
        out = set()
        for t, o, n in product(texts, olds, news):
            if not o or len(t) + t.count(o) * max(len(n) - len(o), 0) > MAX_FOLD_LEN:
                raise Unknown
            out.add(t.replace(o, n))
        return _cap(frozenset(out))

    def _fold_int(self, node: nodes.Node, depth: int = 0) -> int | None:
        """Integer value of a constant expression, with results beyond ``HUGE`` clamped (never computed)."""
        if depth > MAX_DEPTH:
            return None
        d = depth + 1
        if isinstance(node, nodes.Const):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, int):
                return None
            return max(min(v, HUGE), -HUGE)
        if isinstance(node, nodes.Neg):
            v = self._fold_int(node.node, d)
            return None if v is None else -v
        if isinstance(node, nodes.Filter) and node.name == "int" and node.node is not None and not node.args:
            texts = self._fold_or_none(node.node)
            if texts and len(texts) == 1:
                text = next(iter(texts)).strip()
                if re.fullmatch(r"[+-]?\d{1,40}", text):
                    return max(min(int(text), HUGE), -HUGE)
            return None
        if isinstance(node, nodes.Name):
            values = self.assigned.get(node.name)
            if values and len(values) == 1 and values[0] is not None and node.name not in self._folding:
                self._folding.add(node.name)
                try:
                    return self._fold_int(values[0], d)
                finally:
                    self._folding.discard(node.name)
            return None
        if isinstance(node, (nodes.Add, nodes.Sub, nodes.Mul, nodes.Pow, nodes.FloorDiv)):
            a = self._fold_int(node.left, d)
            b = self._fold_int(node.right, d)
            if a is None or b is None:
                return None
            if isinstance(node, nodes.Add):
                r = a + b
            elif isinstance(node, nodes.Sub):
                r = a - b
            elif isinstance(node, nodes.Mul):
                r = a * b
            elif isinstance(node, nodes.FloorDiv):
                if b == 0:
                    return None
                r = a // b
            else:
                if b < 0:
                    return 0
                if abs(a) <= 1:
                    r = a**b if b < 64 else (a if b % 2 else abs(a))
                elif b.bit_length() > 10 or b * abs(a).bit_length() > 110:
                    r = HUGE
                else:
                    r = a**b
            return max(min(r, HUGE), -HUGE)
        return None


def _interleave(items: list[frozenset[str]], sep: frozenset[str]) -> list[frozenset[str]]:
    out: list[frozenset[str]] = []
    for i, item in enumerate(items):
        if i:
            out.append(sep)
        out.append(item)
    return out


def _cap(values: frozenset[str]) -> frozenset[str]:
    if len(values) > MAX_ALTERNATIVES:
        raise Unknown
    return values


def _simple_format(fmt: str) -> bool:
    """Only ``{}`` / ``{0}`` fields without conversions or specs (so folding cannot allocate or look up)."""
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return False
    return all(
        f is None or ((f == "" or f.isdigit()) and not spec and conv is None) for _, f, spec, conv in parsed
    )
