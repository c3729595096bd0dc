"""Constant folding of the strings a template builds at render time, with size and branching caps.

Escape payloads hide ``__class__`` by assembling it (``'__cla' ~ 'ss__'``, ``|join``, ``{% set %}``
variables, ``'%c' % 95``, ``.format``, slices, ``|replace``, ``dict(cla=1)|join``) and take the
characters they must not spell from objects' string forms (``(()|select|string|list).pop(24)`` is
``'_'``; see :mod:`.reprs`). The folder computes every string an expression can evaluate to when that
follows from constants and known string forms alone: an abstract interpretation of the string and list
operations Jinja offers (filters, ``~``, ``+``, ``%``, ``format``, indexing, slicing, ``pop`` in source
order, ``|attr`` of a method), never more than ``MAX_ALTERNATIVES`` values of at most ``MAX_FOLD_LEN``
characters, with a step budget per expression, and never rendering anything. Characters it cannot know
(an address in a repr) are :data:`~.reprs.UNKNOWN_CHAR`; values holding one are not "known".
"""

from __future__ import annotations

import re
import string
from itertools import product

from jinja2 import nodes

from mlvet.analysis.chat_template.reprs import UNKNOWN_CHAR, html_escape, object_string
from mlvet.analysis.chat_template.vocab import (
    HUGE,
    MAX_ALTERNATIVES,
    MAX_DEPTH,
    MAX_FOLD_LEN,
    PRINTF_RE,
    STRING_FILTERS_1,
    STRING_METHODS_1,
)

#: Folding steps per top-level expression (bounds the work an adversarial template can cause).
_FOLD_BUDGET = 20_000
#: Method calls that change a list or dict in place (folding a name they touch needs source order).
MUTATORS = frozenset({
    "pop", "append", "extend", "insert", "remove", "reverse", "sort", "clear", "update", "popitem",
    "setdefault",
})
#: Filters whose output is a string form of their input (an object's repr when it is not a string).
STRINGIFIERS = frozenset({"string", "e", "escape", "pprint", "forceescape"})
_ITEMS = list[frozenset[str]]


class Unknown(Exception):
    """A value that cannot be folded to constants (data, loop variables, macro calls...)."""


class Folder:
    """Folds expressions against the ``{% set %}`` bindings of one template (filled by the checker)."""

    def __init__(self) -> None:
        #: Every value assigned to a name (``ns.attr`` for namespace attributes); None = not foldable.
        self.assigned: dict[str, list[nodes.Node | None]] = {}
        #: Names the template binds itself (a bound ``lipsum`` is not the global).
        self.bound: set[str] = {"loop", "caller", "varargs", "kwargs"}
        #: Position of every node in source order (ids), for in-place list changes.
        self.order: dict[int, int] = {}
        #: In-place method calls on each name (``chars.pop(24)``), in source order.
        self.mutations: dict[str, list[nodes.Call]] = {}
        #: Calls that run an unknown number of times (inside loops and macros).
        self.repeated: set[int] = set()
        self._folding: set[str] = set()
        #: Results per node (strings, or None when unknown): every node is folded once per template.
        self._memo: dict[int, frozenset[str] | None] = {}
        self._list_memo: dict[int, tuple[frozenset[str], ...] | None] = {}
        self._extract_memo: dict[str, bool] = {}
        self._budget = 0
        self._active = 0

    # ---- entry points ---------------------------------------------------------------------------------

    def _fold_or_none(self, node: nodes.Node) -> frozenset[str] | None:
        """Every fully known string ``node`` can evaluate to; None when any part is unknown."""
        values = self._fold_partial(node)
        if values is None or any(UNKNOWN_CHAR in v for v in values):
            return None
        return values

    def _fold_partial(self, node: nodes.Node) -> frozenset[str] | None:
        """Like :meth:`_fold_or_none`, but values may hold unknown characters."""
        if not self._active:
            self._budget = _FOLD_BUDGET
        self._active += 1
        try:
            return self._fold(node, 0)
        except (Unknown, RecursionError, ValueError, TypeError, IndexError, OverflowError, KeyError):
            return None
        finally:
            self._active -= 1

    def _extracts(self, node: nodes.Node) -> bool:
        """True when ``node`` uses characters taken out of an object's string form (``(x|string)[3]``)."""
        return self._extracts_in(node, 0)

    # ---- strings ----------------------------------------------------------------------------------

    def _fold(self, node: nodes.Node, depth: int) -> frozenset[str]:
        """Every string ``node`` can evaluate to, when that follows from constants alone (memoised)."""
        key = id(node)
        if key in self._memo:
            found = self._memo[key]
            if found is None:
                raise Unknown
            return found
        try:
            value = self._fold_uncached(node, depth)
        except (Unknown, ValueError, TypeError, IndexError, OverflowError, KeyError):
            self._memo[key] = None
            raise Unknown from None
        self._memo[key] = value
        return value

    def _fold_uncached(self, node: nodes.Node, depth: int) -> frozenset[str]:
        self._budget -= 1
        if depth > MAX_DEPTH or self._budget < 0:
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
            return self._combine([self._fold_str(n, d) for n in node.nodes])
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
            return self._combine([self._fold_str(n, d) for n in node.nodes])
        if isinstance(node, nodes.AssignBlock):
            return self._combine([self._fold_str(n, d) for n in node.body])
        if isinstance(node, nodes.Getitem):
            return self._fold_getitem(node, d)
        if isinstance(node, nodes.Filter) and node.node is not None:
            return self._fold_filter(node, d)
        if isinstance(node, nodes.Call):
            method = self._method_of(node)
            if method is not None:
                return self._fold_method(node, method[0], method[1], d)
        raise Unknown

    def _fold_str(self, node: nodes.Node, depth: int) -> frozenset[str]:
        """``str(node)`` as ``~``, ``|string`` and ``|join`` compute it: objects become their string form."""
        try:
            return self._fold(node, depth)
        except Unknown:
            pass
        if isinstance(node, nodes.Name) and node.name not in self._folding:
            values = self.assigned.get(node.name)
            if values and len(values) == 1 and values[0] is not None:
                self._folding.add(node.name)
                try:
                    return self._fold_str(values[0], depth + 1)
                finally:
                    self._folding.discard(node.name)
        text = object_string(node, self.bound)
        if text is None:
            raise Unknown
        return frozenset({text})

    def _method_of(self, node: nodes.Call) -> tuple[nodes.Node, str] | None:
        """(object, method name) of ``obj.m(...)`` and of ``(obj|attr('m'))(...)`` with a known name."""
        fn = node.node
        if isinstance(fn, nodes.Getattr):
            return fn.node, fn.attr
        if isinstance(fn, nodes.Filter) and fn.name == "attr" and fn.node is not None and len(fn.args) == 1:
            names = self._fold_or_none(fn.args[0])
            if names is not None and len(names) == 1:
                return fn.node, next(iter(names))
        return None

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
        if sum(max((len(s) for s in p), default=0) for p in parts) > MAX_FOLD_LEN:
            raise Unknown
        return frozenset("".join(combo) for combo in product(*parts))

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
        arg = node.arg
        try:
            texts = self._fold(node.node, depth)
        except Unknown:
            if isinstance(arg, nodes.Slice):
                raise  # a slice of a list is a list, not a string
            return _element(self._fold_list(node.node, depth), self._fold_int(arg))
        if isinstance(arg, nodes.Slice):
            bounds = self._slice(arg)
            return frozenset(t[bounds] for t in texts)
        index = self._fold_int(arg)
        if index is None:
            raise Unknown
        return frozenset(t[index] for t in texts)

    def _slice(self, arg: nodes.Slice) -> slice:
        bounds = [None if b is None else self._fold_int(b) for b in (arg.start, arg.stop, arg.step)]
        for b, src in zip(bounds, (arg.start, arg.stop, arg.step), strict=True):
            if src is not None and b is None:
                raise Unknown
        if bounds[2] == 0:
            raise Unknown
        return slice(bounds[0], bounds[1], bounds[2])

    def _fold_filter(self, node: nodes.Filter, depth: int) -> frozenset[str]:
        assert node.node is not None
        name = node.name
        args = node.args
        if name == "join":
            if node.kwargs or node.dyn_args or node.dyn_kwargs:
                raise Unknown
            sep = self._fold(args[0], depth) if args else frozenset({""})
            items = self._fold_list(node.node, depth)
            return self._combine(_interleave(items, sep))
        if name == "format":
            return self._fold_printf(self._fold(node.node, depth), nodes.Tuple(list(args), "load"), depth)
        if name in STRINGIFIERS and not args:
            texts = self._fold_str(node.node, depth)
            return frozenset(html_escape(t) for t in texts) if name in ("e", "escape", "forceescape") else texts
        if name in ("first", "last") and not args:
            try:
                texts = self._fold(node.node, depth)
            except Unknown:
                return _element(self._fold_list(node.node, depth), 0 if name == "first" else -1)
            return frozenset(t[0 if name == "first" else -1] for t in texts if t)
        texts = self._fold(node.node, depth)
        if name in STRING_FILTERS_1 and not args:
            return frozenset(STRING_FILTERS_1[name](t) for t in texts)
        if name == "reverse":
            return frozenset(t[::-1] for t in texts)
        if name in ("default", "d"):
            return texts
        if name == "replace" and len(args) >= 2:
            return self._replace(texts, self._fold(args[0], depth), self._fold(args[1], depth))
        raise Unknown

    def _fold_method(self, node: nodes.Call, obj: nodes.Node, name: str, depth: int) -> frozenset[str]:
        if node.dyn_args is not None or node.dyn_kwargs is not None:
            raise Unknown
        if name == "join" and len(node.args) == 1:
            sep = self._fold(obj, depth)
            return self._combine(_interleave(self._fold_list(node.args[0], depth), sep))
        if name == "pop" and len(node.args) <= 1 and not node.kwargs:
            return self._fold_pop(node, obj, depth)
        texts = self._fold(obj, depth)
        if name in STRING_METHODS_1 and not node.args:
            return frozenset(STRING_METHODS_1[name](t) for t in texts)
        if name in ("strip", "lstrip", "rstrip") and len(node.args) == 1 and not node.kwargs:
            chars = self._fold(node.args[0], depth)
            return _cap(frozenset(getattr(t, name)(c) for t, c in product(texts, chars)))
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

    # ---- lists --------------------------------------------------------------------------------------

    def _fold_list(self, node: nodes.Node, depth: int) -> _ITEMS:
        """The items of a list-like value (list/tuple literal, ``dict`` keys, a string's characters...).

        Memoised per node; callers get a fresh list (``_fold_pop`` changes it).
        """
        key = id(node)
        if key in self._list_memo:
            found = self._list_memo[key]
            if found is None:
                raise Unknown
            return list(found)
        try:
            items = self._fold_list_uncached(node, depth)
        except (Unknown, ValueError, TypeError, IndexError, OverflowError, KeyError):
            self._list_memo[key] = None
            raise Unknown from None
        self._list_memo[key] = tuple(items)
        return list(items)

    def _fold_list_uncached(self, node: nodes.Node, depth: int) -> _ITEMS:
        self._budget -= 1
        if depth > MAX_DEPTH or self._budget < 0:
            raise Unknown
        d = depth + 1
        if isinstance(node, (nodes.List, nodes.Tuple)):
            if len(node.items) > 256:
                raise Unknown
            return [self._fold_str(item, d) for item in node.items]
        if isinstance(node, nodes.Dict):
            return [self._fold(pair.key, d) for pair in node.items]
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name == "dict" and \
                "dict" not in self.bound and not node.args and node.dyn_args is None and node.dyn_kwargs is None:
            return [frozenset({kw.key}) for kw in node.kwargs]  # dict(cla=1, ss=1)|join == 'class'
        if isinstance(node, nodes.Name):
            if node.name in self.mutations:
                raise Unknown  # its items depend on where it is read; pops are folded in _fold_pop
            value = self._single_value(node.name)
            self._folding.add(node.name)
            try:
                return self._fold_list(value, d)
            finally:
                self._folding.discard(node.name)
        if isinstance(node, nodes.Filter) and node.node is not None and not node.args and not node.kwargs:
            if node.name == "list":
                return self._fold_list(node.node, d)
            if node.name == "reverse":
                return self._fold_list(node.node, d)[::-1]
        if isinstance(node, nodes.Filter) and node.name == "map" and node.node is not None and len(node.args) == 1 \
                and not node.kwargs:
            names = self._fold(node.args[0], d)  # ['__CLASS__']|map('lower')
            if len(names) == 1 and next(iter(names)) in STRING_FILTERS_1:
                fn = STRING_FILTERS_1[next(iter(names))]
                return [frozenset(fn(v) for v in item) for item in self._fold_list(node.node, d)]
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr) and node.node.attr == "split" and \
                len(node.args) <= 1 and not node.kwargs:
            texts = self._fold(node.node.node, d)  # '_-_-class-_-_'.split('-')
            seps = self._fold(node.args[0], d) if node.args else frozenset({None})
            if len(texts) == 1 and len(seps) == 1:
                sep = next(iter(seps))
                if sep == "":
                    raise Unknown
                return [frozenset({part}) for part in next(iter(texts)).split(sep)]
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Slice):
            return self._fold_list(node.node, d)[self._slice(node.arg)]
        texts = self._fold(node, d)
        if len(texts) == 1:
            text = next(iter(texts))
            if len(text) > MAX_FOLD_LEN:
                raise Unknown
            return [frozenset({ch}) for ch in text]
        raise Unknown

    def _single_value(self, name: str) -> nodes.Node:
        values = self.assigned.get(name)
        if not values or len(values) != 1 or values[0] is None or name in self._folding:
            raise Unknown
        return values[0]

    def _fold_pop(self, node: nodes.Call, obj: nodes.Node, depth: int) -> frozenset[str]:
        """``items.pop(i)``: the item, after the pops that ran before it on the same list (source order)."""
        index = -1
        if node.args:
            found = self._fold_int(node.args[0])
            if found is None:
                raise Unknown
            index = found
        if not isinstance(obj, nodes.Name):
            return _element(self._fold_list(obj, depth), index)
        if id(node) in self.repeated:
            raise Unknown
        value = self._single_value(obj.name)
        self._folding.add(obj.name)
        try:
            items = self._fold_list(value, depth + 1)
        finally:
            self._folding.discard(obj.name)
        here = self.order.get(id(node), -1)
        for earlier in self.mutations.get(obj.name, []):
            if self.order.get(id(earlier), -1) >= here:
                continue
            fn = earlier.node
            if id(earlier) in self.repeated or not isinstance(fn, nodes.Getattr) or fn.attr != "pop" or \
                    len(earlier.args) > 1:
                raise Unknown
            at = self._fold_int(earlier.args[0]) if earlier.args else -1
            if at is None:
                raise Unknown
            items.pop(at)
        return items[index]

    # ---- taint: characters from string forms ---------------------------------------------------------

    def _extracts_in(self, node: nodes.Node, depth: int) -> bool:
        for sub in (node, *node.find_all(nodes.Node)):
            base = extraction_base(sub)
            if base is not None and self._object_string(base, set(), 0) is not None:
                return True
            if isinstance(sub, nodes.Name) and self._name_extracts(sub.name, depth):
                return True
        return False

    def _name_extracts(self, name: str, depth: int) -> bool:
        """Whether a ``{% set %}`` value of ``name`` extracts characters (memoised per name)."""
        if name in self._extract_memo:
            return self._extract_memo[name]
        if depth > MAX_DEPTH:
            return False
        self._extract_memo[name] = False  # while in progress (a cycle adds nothing)
        found = any(v is not None and self._extracts_in(v, depth + 1) for v in self.assigned.get(name, ()))
        self._extract_memo[name] = found
        return found

    def _object_string(self, node: nodes.Node | None, seen: set[str], depth: int) -> nodes.Node | None:
        """The object whose string form ``node`` is (``x`` of ``x|string|list``), or None."""
        if node is None or depth > 8:
            return None
        if isinstance(node, nodes.Filter) and node.node is not None:
            if node.name in STRINGIFIERS:
                inner = node.node
                return inner if self._fold_or_none(inner) is None else None
            if node.name in ("list", "reverse", "join"):
                return self._object_string(node.node, seen, depth + 1)
        if isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Slice):
            return self._object_string(node.node, seen, depth + 1)
        if isinstance(node, nodes.Name) and node.name not in seen:
            seen.add(node.name)
            for value in self.assigned.get(node.name) or ():
                found = self._object_string(value, seen, depth + 1)
                if found is not None:
                    return found
        return None

    # ---- integers -----------------------------------------------------------------------------------

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


def extraction_base(node: nodes.Node) -> nodes.Node | None:
    """``x`` when ``node`` takes items out of ``x`` (``x[i]``, ``x[a:b]``, ``x|first``, ``x.pop(i)``)."""
    if isinstance(node, nodes.Getitem):
        return node.node
    if isinstance(node, nodes.Filter) and node.name in ("first", "last", "random", "batch", "slice"):
        return node.node
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr) and node.node.attr == "pop":
        return node.node.node
    return None


def _element(items: _ITEMS, index: int | None) -> frozenset[str]:
    if index is None:
        raise Unknown
    return items[index]


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
