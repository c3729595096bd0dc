"""Name resolution over module summaries, and sink reachability over the call graph it induces.

Nodes are built lazily, only as far as the names asked about reach:

* ``("f", module, qualname, ctx)`` — a function or method body; ``ctx`` is the class of ``self``/``cls`` (the
  class being reconstructed or called, which may be a subclass of the one that defines the method), or
  None when the body never calls through ``self``/``cls``/``super()`` (the context cannot change anything);
* ``("call", module, qualname)`` — calling a class: its metaclass ``__call__``, ``__new__``, ``__init__``
  (``__post_init__`` for dataclass-like classes), each looked up through the class's MRO;
* ``("rec", module, qualname)`` — what unpickling an instance runs without calling the class: ``__new__``,
  ``__setstate__`` (``__getattr__`` when there is none: the loader probes for ``__setstate__``),
  ``__setattr__`` (BUILD's slot state), ``__setitem__``/``append``/``extend`` (SETITEMS/APPENDS).

Reachability is exact over that graph (Tarjan's strongly connected components, so cycles and recursion
are handled and every node is expanded once); only the evidence path is length-bounded.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from typing import Any

from mlvet.policy.derive import sinks
from mlvet.policy.derive.summarise import Binding, Summary
from mlvet.policy.derived import SINKS

Target = tuple[str, ...]  # ("mod", m) | ("func", m, q) | ("class", m, q) | ("named", canon) | ("ext", canon)
Node = tuple[Any, ...]
_MAX_FANOUT = 4
_MAX_DEPTH = 24
_PATH_HOPS = 8

#: Which sink a single evidence path shows when several are reachable: the most telling first.
_EVIDENCE_ORDER = ("exec", "process", "deserialize", "native", "network", "file-write", "import")
_RECONSTRUCT = ("__new__", "__setattr__", "__setitem__", "append", "extend")


class Graph:
    """Call graph over a set of module summaries (any number of libraries; imports resolve across them)."""

    def __init__(self, modules: Mapping[str, Summary], stop_at_sinks: bool = True) -> None:
        self.modules = modules
        #: False: resolve through sink names to their definitions (what a re-export really is).
        self.stop = stop_at_sinks
        self._res: dict[tuple[str, str], list[Target]] = {}
        self._mro: dict[tuple[str, str], list[tuple[str, str]]] = {}
        self._ids: dict[Node, int] = {}
        self._nodes: list[Node] = []
        self._succ: list[list[int]] = []
        self._direct: list[int] = []
        self._evidence: list[str] = []
        self._bits: list[int] = []

    # ---- name resolution -------------------------------------------------------------------------------

    def resolve(self, module: str, dotted: str, local: Mapping[str, list[Binding]] | None = None,
                depth: int = 0) -> list[Target]:
        """Every target ``dotted`` can name in ``module`` (function locals first when given)."""
        head, _, rest = dotted.partition(".")
        if local and head in local:
            targets = self._bindings(module, local[head], depth)
        else:
            key = (module, head)
            cached = self._res.get(key)
            if cached is None:
                self._res[key] = []  # cycle guard: an alias chain that loops names nothing
                cached = self._global(module, head, depth)
                self._res[key] = cached
            targets = cached
        for part in rest.split(".") if rest else ():
            targets = [t for tgt in targets for t in self.attr(tgt, part, depth + 1)][:_MAX_FANOUT]
        return targets

    def _global(self, module: str, name: str, depth: int) -> list[Target]:
        summ = self.modules.get(module)
        if summ is None:
            return [self._named(f"{module}.{name}")]
        bindings = summ["symbols"].get(name)
        if bindings:
            return self._bindings(module, bindings, depth)
        for star in summ["stars"]:
            if star in self.modules and self._defines(star, name):
                return self.attr(("mod", star), name, depth + 1)
        return [self._named(f"builtins.{name}")]

    def _defines(self, module: str, name: str) -> bool:
        summ = self.modules[module]
        return name in summ["symbols"] or any(self._defines(s, name) for s in summ["stars"]
                                              if s in self.modules and s != module)

    def _bindings(self, module: str, bindings: list[Binding], depth: int) -> list[Target]:
        out: list[Target] = []
        if depth > _MAX_DEPTH:
            return out
        for b in bindings:
            kind = b[0]
            if kind == "mod":
                out.append(("mod", b[1]))
            elif kind == "from":
                out.extend(self.attr(("mod", b[1]), b[2], depth + 1))
            elif kind == "def":
                out.append(("func", module, b[1]))
            elif kind == "class":
                out.append(("class", module, b[1]))
            elif kind == "ref":
                out.extend(self.resolve(module, b[1], None, depth + 1))
        return out[:_MAX_FANOUT]

    @staticmethod
    def _named(canon: str) -> Target:
        if sinks.sink_kind(canon) or sinks.is_arg_sensitive(canon):
            return ("named", canon)
        return ("ext", canon)

    def attr(self, target: Target, name: str, depth: int = 0) -> list[Target]:
        """What ``target.name`` can be; a sink name stops resolution (it is the answer)."""
        if depth > _MAX_DEPTH:
            return []
        kind = target[0]
        if kind == "mod":
            mod = target[1]
            canon = f"{mod}.{name}"
            if self.stop and (sinks.sink_kind(canon) or sinks.is_arg_sensitive(canon)):
                return [("named", canon)]
            summ = self.modules.get(mod)
            if summ is not None:
                if name in summ["symbols"]:
                    return self._bindings(mod, summ["symbols"][name], depth + 1)
                # ``from .memmap import *`` rebinds the name over the submodule of the same name.
                for star in summ["stars"]:
                    if star in self.modules and self._defines(star, name):
                        return self.attr(("mod", star), name, depth + 1)
                if canon in self.modules:
                    return [("mod", canon)]
            elif canon in self.modules:
                return [("mod", canon)]
            return [self._named(canon)]
        if kind == "class":
            canon = f"{target[1]}.{target[2]}.{name}"
            if self.stop and (sinks.sink_kind(canon) or sinks.is_arg_sensitive(canon)):
                return [("named", canon)]
            found = self.member((target[1], target[2]), name)
            return [found] if found else []
        if kind in ("ext", "named"):
            return [self._named(f"{target[1]}.{name}")]
        return []

    def cls(self, module: str, qual: str) -> dict[str, Any] | None:
        summ = self.modules.get(module)
        return None if summ is None else summ["classes"].get(qual)

    def mro(self, key: tuple[str, str]) -> list[tuple[str, str]]:
        """The class's linearisation over the bases that resolve to analysed classes (C3, else depth-first)."""
        cached = self._mro.get(key)
        if cached is not None:
            return cached
        self._mro[key] = [key]  # cycle guard
        info = self.cls(*key)
        seqs: list[list[tuple[str, str]]] = []
        if info is not None:
            for base in info["bases"]:
                for t in self.resolve(key[0], base)[:1]:
                    if t[0] == "class" and (t[1], t[2]) != key:
                        seqs.append(self.mro((t[1], t[2])))
        self._mro[key] = result = [key, *_c3(seqs)]
        return result

    def member(self, key: tuple[str, str], name: str, after: tuple[str, str] | None = None) -> Target | None:
        """``name`` looked up on class ``key`` through its MRO (starting after ``after`` for ``super()``)."""
        chain = self.mro(key)
        if after is not None:
            chain = chain[chain.index(after) + 1:] if after in chain else []
        for mod, qual in chain:
            info = self.cls(mod, qual)
            if info is None:
                continue
            if name in info["methods"]:
                return ("func", mod, info["methods"][name])
            if self.cls(mod, f"{qual}.{name}") is not None:
                return ("class", mod, f"{qual}.{name}")
            if name in info["attrs"]:
                found = self._bindings(mod, info["attrs"][name], 1)
                return found[0] if found else None
        return None

    # ---- graph ----------------------------------------------------------------------------------------

    def _node(self, node: Node) -> int:
        nid = self._ids.get(node)
        if nid is None:
            nid = self._ids[node] = len(self._nodes)
            self._nodes.append(node)
            self._succ.append([])
            self._direct.append(-1)  # not expanded yet
            self._evidence.append("")
            self._bits.append(-1)
        return nid

    def _expand(self, nid: int) -> None:
        node = self._nodes[nid]
        direct = 0
        evidence: list[str] = []
        succ: list[Node] = []

        def sink(kind: str | None, canon: str) -> None:
            nonlocal direct
            if kind is not None:
                direct |= 1 << SINKS.index(kind)
                evidence.append(canon)

        if node[0] == "f":
            self._expand_func(node, sink, succ)
        else:
            key = (node[1], node[2])
            names = ["__call__", "__new__", "__init__"] if node[0] == "call" else list(_RECONSTRUCT)
            if node[0] == "call":
                info = self.cls(*key)
                if info is not None and info["dc"]:
                    names.append("__post_init__")
            else:
                names.append("__setstate__" if self.member(key, "__setstate__") else "__getattr__")
            for name in names:
                if name == "__call__":
                    meta = self._metaclass(key)
                    found = self.member(meta, "__call__") if meta else None
                    if found and found[0] == "func":
                        succ.append(self._func_node(found[1], found[2], meta))
                    continue
                found = self.member(key, name)
                if found is None:
                    continue
                self._call_target(found, None, key, sink, succ)
        self._direct[nid] = direct
        self._evidence[nid] = evidence[0] if evidence else ""
        self._succ[nid] = list(dict.fromkeys(self._node(s) for s in succ))

    def _metaclass(self, key: tuple[str, str]) -> tuple[str, str] | None:
        for mod, qual in self.mro(key):
            info = self.cls(mod, qual)
            if info and info["meta"]:
                for t in self.resolve(mod, info["meta"])[:1]:
                    if t[0] == "class":
                        return (t[1], t[2])
        return None

    def _func_node(self, module: str, qual: str, ctx: tuple[str, str] | None) -> Node:
        summ = self.modules.get(module)
        fn = summ["funcs"].get(qual) if summ else None
        if fn is None or not fn["self"] or not any(c[0].split(".")[0] in ("self", "super()", "type(self)")
                                                  for c in fn["calls"]):
            ctx = None
        elif ctx is None:
            owner = qual.rpartition(".")[0]
            ctx = (module, owner) if owner and self.cls(module, owner) is not None else None
        return ("f", module, qual, ctx)

    def _call_target(self, t: Target, args: Any, ctx: tuple[str, str] | None, sink: Any, succ: list[Node]) -> None:
        """One resolved callee: a sink, a function body to enter, or a class to instantiate."""
        kind = t[0]
        if sinks.barrier(t[1] if kind in ("named", "ext") else f"{t[1]}.{t[-1]}"):
            return
        if kind in ("named", "ext"):
            canon = t[1]
            if sinks.is_arg_sensitive(canon):
                sink(sinks.arg_check(canon, args), canon)
            else:
                sink(sinks.sink_kind(canon), canon)
        elif kind == "func":
            canon = f"{t[1]}.{t[2]}"
            k = sinks.sink_kind(canon)
            if k:
                sink(k, canon)
                return
            owner = t[2].rpartition(".")[0]
            is_method = bool(owner) and self.cls(t[1], owner) is not None
            sub = ctx if is_method and ctx is not None and (t[1], owner) in self.mro(ctx) else None
            succ.append(self._func_node(t[1], t[2], sub))
        elif kind == "class":
            canon = f"{t[1]}.{t[2]}"
            k = sinks.sink_kind(canon) or (sinks.arg_check(canon, args) if sinks.is_arg_sensitive(canon) else None)
            if k or sinks.is_arg_sensitive(canon):
                sink(k, canon)
                return
            succ.append(("call", t[1], t[2]))

    def _expand_func(self, node: Node, sink: Any, succ: list[Node]) -> None:
        _, module, qual, ctx = node
        fn = self.modules[module]["funcs"][qual]
        owner = qual.rpartition(".")[0]
        defining = (module, owner) if owner and self.cls(module, owner) is not None else None
        recv = ctx or defining
        for callee, args in fn["calls"]:
            if callee.startswith("&"):
                for t in self.resolve(module, callee[1:], fn["locals"]):
                    if t[0] in ("named", "ext") and not sinks.is_arg_sensitive(t[1]):
                        sink(sinks.sink_kind(t[1]), t[1])
                continue
            if callee.startswith("?."):
                sink(sinks.sink_kind(callee), callee)
                continue
            head, _, rest = callee.partition(".")
            parts = rest.split(".") if rest else []
            targets: list[Target]
            if head in ("self", "type(self)", "super()") and fn["self"] and recv is not None:
                if not parts:
                    if head == "type(self)" or (head == "self" and fn["cm"]):
                        targets = [("class", *recv)]
                    else:
                        found = self.member(recv, "__call__")
                        targets = [found] if found else []
                else:
                    after = defining if head == "super()" else None
                    found = self.member(recv, parts[0], after)
                    targets = [found] if found else []
                    for p in parts[1:]:
                        targets = [x for tg in targets for x in self.attr(tg, p)]
                if not targets and parts and f"?.{parts[-1]}" in _METHOD_SINK_NAMES:
                    sink(sinks.sink_kind(f"?.{parts[-1]}"), f"?.{parts[-1]}")
            elif head in ("self", "type(self)", "super()"):
                targets = []
            else:
                targets = self.resolve(module, callee, fn["locals"])
                if not targets and parts and f"?.{parts[-1]}" in _METHOD_SINK_NAMES:
                    sink(sinks.sink_kind(f"?.{parts[-1]}"), f"?.{parts[-1]}")
            for t in targets:
                self._call_target(t, args, recv, sink, succ)

    def _solve(self, root: int) -> None:
        """Tarjan's SCC over the lazily expanded graph from ``root``; fills ``_bits`` for every node met."""
        index: dict[int, int] = {}
        low: dict[int, int] = {}
        stack: list[int] = []
        on_stack: set[int] = set()
        work: list[tuple[int, Iterator[int]]] = []

        def push(v: int) -> None:
            if self._direct[v] < 0:
                self._expand(v)
            index[v] = low[v] = len(index)
            stack.append(v)
            on_stack.add(v)
            work.append((v, iter(self._succ[v])))

        push(root)
        while work:
            v, it = work[-1]
            advanced = False
            for w in it:
                if self._bits[w] >= 0:
                    continue  # finished in an earlier solve
                if w not in index:
                    push(w)
                    advanced = True
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                members = set(comp)
                bits = 0
                for w in comp:
                    bits |= self._direct[w]
                    for x in self._succ[w]:
                        if x not in members:
                            bits |= self._bits[x]
                for w in comp:
                    self._bits[w] = bits

    def reach(self, node: Node) -> tuple[int, str]:
        """(sink bits, evidence path) reachable from ``node``."""
        nid = self._node(node)
        if self._bits[nid] < 0:
            self._solve(nid)
        bits = self._bits[nid]
        return bits, (self._path(nid, bits) if bits else "")

    def _path(self, root: int, bits: int) -> str:
        """Shortest call chain from ``root`` to a node that calls a sink of the first kind in ``bits``."""
        want = 1 << next(SINKS.index(k) for k in _EVIDENCE_ORDER if bits >> SINKS.index(k) & 1)
        prev: dict[int, int] = {root: -1}
        queue = deque([root])
        while queue:
            v = queue.popleft()
            if self._direct[v] & want:
                chain = []
                w = v
                while w >= 0:
                    chain.append(_label(self._nodes[w]))
                    w = prev[w]
                chain.reverse()
                if len(chain) > _PATH_HOPS:
                    chain = [*chain[:3], "...", *chain[-(_PATH_HOPS - 4):]]
                sink_name = self._sink_evidence(v, want)
                return " -> ".join(dict.fromkeys(chain)) + " -> " + sink_name
            for w in self._succ[v]:
                if w not in prev and self._bits[w] & want:
                    prev[w] = v
                    queue.append(w)
        return ""

    def _sink_evidence(self, nid: int, want: int) -> str:
        """The name of a sink of kind ``want`` called directly by node ``nid``."""
        kind = SINKS[want.bit_length() - 1]
        node = self._nodes[nid]
        probe: list[str] = []

        def sink(k: str | None, canon: str) -> None:
            if k == kind:
                probe.append(canon)

        if node[0] == "f":
            self._expand_func(node, sink, [])
        canon = probe[0] if probe else self._evidence[nid]
        return canon.removeprefix("builtins.")


_METHOD_SINK_NAMES = frozenset(n for n in sinks.exact_names() if n.startswith("?."))


def _label(node: Node) -> str:
    return str(node[2])


def _c3(seqs: list[list[tuple[str, str]]]) -> list[tuple[str, str]]:
    seqs = [list(s) for s in seqs if s]
    out: list[tuple[str, str]] = []
    while seqs:
        for s in seqs:
            head = s[0]
            if not any(head in t[1:] for t in seqs):
                break
        else:  # inconsistent hierarchy (or bases we could not resolve): fall back to depth-first order
            for s in seqs:
                out.extend(x for x in s if x not in out)
            return out
        out.append(head)
        seqs = [[x for x in s if x != head] for s in seqs]
        seqs = [s for s in seqs if s]
    return out
