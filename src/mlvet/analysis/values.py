"""Symbolic values the pickle machine pushes instead of real objects, and their pseudo-Python rendering.

Nothing here is ever turned into a real object: a ``Global`` is a name, a ``Call`` is a record of what
*would* be called. Containers keep a bounded number of items (the exact count is always known), which
bounds memory on multi-GB pickles while keeping evidence readable.
"""

from __future__ import annotations

from typing import Any


class Global:
    """A callable reference (GLOBAL, STACK_GLOBAL, INST, EXT): what ``find_class`` would import."""

    __slots__ = ("calls_seen", "invocations", "module", "name", "offset", "opcode", "opcode_index")

    #: Calls kept per reference for evidence; ``calls_seen`` keeps the exact count.
    MAX_KEPT = 32

    def __init__(self, module: str, name: str, offset: int, opcode: str, opcode_index: int) -> None:
        self.module = module
        self.name = name
        self.offset = offset
        self.opcode = opcode
        self.opcode_index = opcode_index
        #: Calls made through this reference (filled in by the machine; the first MAX_KEPT).
        self.invocations: list[Call] = []
        self.calls_seen = 0

    def add_call(self, call: Call) -> None:
        """Record a call through this reference (bounded; the count stays exact)."""
        self.calls_seen += 1
        if len(self.invocations) < self.MAX_KEPT:
            self.invocations.append(call)

    @property
    def dotted(self) -> str:
        """``module.name`` as a loader would resolve it."""
        return f"{self.module}.{self.name}"


class Call:
    """The result of a call made while loading (REDUCE, NEWOBJ, OBJ, INST, BUILD's __setstate__...)."""

    __slots__ = ("args", "func", "kind", "kwargs", "offset", "opcode_index", "state")

    def __init__(self, func: Any, args: Any, kind: str, offset: int, opcode_index: int, kwargs: Any = None) -> None:
        #: The BUILD state applied to this call's result, if any (``__setstate__`` argument).
        self.state: Any = None
        self.func = func
        self.args = args
        self.kind = kind
        self.offset = offset
        self.opcode_index = opcode_index
        self.kwargs = kwargs


class Blob:
    """A bytes/str payload left on disk: its offset and length in the stream, plus its first bytes."""

    __slots__ = ("head", "kind", "length", "offset")

    def __init__(self, kind: str, offset: int, length: int, head: bytes) -> None:
        self.kind = kind
        self.offset = offset
        self.length = length
        self.head = head


class Opaque:
    """A value whose content does not matter for the analysis (persistent ids, summarised memo entries)."""

    __slots__ = ("what",)

    def __init__(self, what: str) -> None:
        self.what = what


class PList(list[Any]):
    """A list under construction; ``extra`` counts items beyond the kept ones."""

    __slots__ = ("extra",)

    def __init__(self) -> None:
        super().__init__()
        self.extra = 0


class PDict(list[Any]):
    """A dict as a list of (key, value) pairs: keys may be unhashable symbolic values."""

    __slots__ = ("extra",)

    def __init__(self) -> None:
        super().__init__()
        self.extra = 0


class PSet(list[Any]):
    """A set or frozenset."""

    __slots__ = ("extra", "frozen")

    def __init__(self, frozen: bool = False) -> None:
        super().__init__()
        self.extra = 0
        self.frozen = frozen


class Mark:
    """The MARK sentinel (only ever one instance)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "MARK"


MARK = Mark()
EVICTED = Opaque("value summarised: memo budget exceeded")
NUMBER = Opaque("number")


# ---- rendering ------------------------------------------------------------------------------------

_MAX_RENDER = 400


def _short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(value: Any, budget: int = _MAX_RENDER, depth: int = 0) -> str:
    """Render a symbolic value as short pseudo-Python a reviewer can read, e.g. ``os.system('id')``."""
    if depth > 12:
        return "…"
    t = type(value)
    if t is str:
        return _short(repr(value), max(budget, 16))
    if t in (int, float, bool) or value is None:
        return _short(repr(value), 40)
    if t is bytes or t is bytearray:
        return _short(repr(bytes(value)), max(budget, 16))
    if t is Global:
        return value.dotted  # type: ignore[no-any-return]
    if t is Call:
        return _render_call(value, budget, depth)
    if t is Blob:
        return f"<{value.kind} {value.length} bytes @{value.offset}>"
    if t is Opaque:
        return f"<{value.what}>"
    if t is tuple:
        inner = _render_items(value, budget, depth, 0)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if t is PList:
        return f"[{_render_items(value, budget, depth, value.extra)}]"
    if t is PSet:
        body = _render_items(value, budget, depth, value.extra)
        return f"frozenset({{{body}}})" if value.frozen else f"{{{body}}}"
    if t is PDict:
        parts: list[str] = []
        used = 0
        for k, v in value:
            piece = f"{render(k, budget // 2, depth + 1)}: {render(v, budget // 2, depth + 1)}"
            used += len(piece) + 2
            parts.append(piece)
            if used > budget:
                parts.append("…")
                break
        if value.extra and parts[-1:] != ["…"]:
            parts.append(f"…+{value.extra}")
        return "{" + ", ".join(parts) + "}"
    if value is MARK:
        return "<mark>"
    return f"<{t.__name__}>"


def _render_items(items: Any, budget: int, depth: int, extra: int) -> str:
    parts: list[str] = []
    used = 0
    for item in items:
        piece = render(item, max(budget - used, 24), depth + 1)
        used += len(piece) + 2
        parts.append(piece)
        if used > budget:
            parts.append("…")
            break
    if extra and parts[-1:] != ["…"]:
        parts.append(f"…+{extra}")
    return ", ".join(parts)


def _render_call(call: Call, budget: int, depth: int) -> str:
    func = render(call.func, budget // 2, depth + 1)
    args = call.args
    if call.kind == "build":
        return f"{func}.__setstate__({render(args, budget, depth + 1)})"
    if call.kind.startswith("method:"):
        return f"{func}.{call.kind[7:]}({render(args, budget, depth + 1)})"
    inner = _render_items(args, budget, depth, 0) if type(args) is tuple else "*" + render(args, budget, depth + 1)
    if call.kwargs is not None:
        inner = f"{inner}, **{render(call.kwargs, budget // 2, depth + 1)}" if inner else (
            f"**{render(call.kwargs, budget // 2, depth + 1)}"
        )
    return _short(f"{func}({inner})", max(budget, 60))


def iter_symbols(value: Any, limit: int = 4096) -> list[Any]:
    """Globals, calls and blobs reachable from ``value`` (bounded walk), for argument inspection."""
    out: list[Any] = []
    todo = [value]
    seen = 0
    while todo and seen < limit:
        v = todo.pop()
        seen += 1
        t = type(v)
        if t is Global or t is Blob:
            out.append(v)
        elif t is Call:
            out.append(v)
            todo.append(v.func)
            todo.append(v.args)
            if v.kwargs is not None:
                todo.append(v.kwargs)
        elif t is tuple or t is PList or t is PSet:
            todo.extend(v)
        elif t is PDict:
            for k, item in v:
                todo.append(k)
                todo.append(item)
    return out


def expanded_size(value: Any, node_limit: int = 1 << 20) -> tuple[int, int]:
    """(items the value has once every shared reference is materialised, distinct nodes visited).

    A pickle can reference one container from many places through the memo (GET) or DUP; loading keeps
    one object, but hashing the value (a dict key, a set member), comparing, printing or copying it walks
    every reference. Nested sharing makes that walk exponential in the size of the file. Computed
    bottom-up over distinct nodes (never materialised); a reference back into a node still being walked
    (a cycle) counts as one item, as ``repr`` and ``copy`` stop there too. Counts saturate at 2**62.
    """
    cap = 1 << 62
    sizes: dict[int, int] = {}
    active: set[int] = set()
    todo: list[tuple[Any, bool]] = [(value, False)]
    nodes = 0
    while todo:
        v, done = todo.pop()
        key = id(v)
        if done:
            active.discard(key)
            total = 1 + getattr(v, "extra", 0)
            for child in _children(v):
                total += sizes.get(id(child), 1) if type(child) in _NODES else 1
            sizes[key] = min(total, cap)
            continue
        if key in sizes or key in active:
            continue
        nodes += 1
        if nodes > node_limit:
            break
        active.add(key)
        todo.append((v, True))
        for child in _children(v):
            if type(child) in _NODES and id(child) not in sizes and id(child) not in active:
                todo.append((child, False))
    return sizes.get(id(value), 1), nodes


_NODES = frozenset({tuple, PList, PDict, PSet, Call})


def _children(v: Any) -> list[Any]:
    t = type(v)
    if t is tuple or t is PList or t is PSet:
        return list(v)
    if t is PDict:
        out: list[Any] = []
        for k, item in v:
            out.append(k)
            out.append(item)
        return out
    if t is Call:
        return [v.args, v.kwargs, v.state]
    return []
