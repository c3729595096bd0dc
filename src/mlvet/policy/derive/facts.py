"""From summaries to the shipped table: which names a pickle can reference, and their packed facts.

Namable names are a module's top-level classes and functions, classes nested in classes (``Outer.Inner``),
public re-exports that resolve to a class or function of the same library (``numpy:memmap`` is
``numpy._core.memmap:memmap``) and the sink table's own names (``os:system``). Methods and functions nested
in functions are left out: protocol-4 qualnames can name a method, but the pickle analysis treats a dotted
qualname as an attribute walk anyway.

Packed format (``schema`` 2), per module: ``l`` library index (into ``order``), ``c``/``f`` space-separated
classes and functions that reach no sink, ``x`` qualname -> ``[kind, reconstruct_bits, call_bits, call_path,
reconstruct_path]`` for those that do, ``a`` a package's public re-export -> the ``module:qualname`` it
resolves to (just ``module`` when the qualname is the same name). A path is stored as its first hop, a tab
and an index into the shared ``tails`` list (most chains share everything after their first hop).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlvet.policy.derive.collect import Library
from mlvet.policy.derive.graph import Graph
from mlvet.policy.derive.sinks import exact_names
from mlvet.policy.derived import SINKS

SCHEMA = 2


def _top(module: str) -> str:
    return module.split(".", 1)[0]


def build(libs: list[Library], log: Callable[[str], None] = lambda _m: None) -> tuple[dict[str, Any], Graph]:
    """The packed table (ready for ``json.dumps``) and the graph it was computed on (for the audit)."""
    modules: dict[str, Any] = {}
    owner: dict[str, int] = {}
    for i, lib in enumerate(libs):
        for name, summ in lib.modules.items():
            if name not in modules:
                modules[name] = summ
                owner[name] = i
    graph = Graph(modules)
    through = Graph(modules, stop_at_sinks=False)
    tails: dict[str, int] = {}

    def pack(path: str) -> str:
        head, sep, tail = path.partition(" -> ")
        return f"{head}\t{tails.setdefault(tail, len(tails))}" if sep else path
    out: dict[str, dict[str, Any]] = {}
    flagged = 0
    for mod in sorted(modules):
        summ = modules[mod]
        entry: dict[str, Any] = {"l": owner[mod], "c": [], "f": [], "x": {}, "a": {}}
        names = [(q, "c") for q in summ["classes"]] + [(q, "f") for q in summ["funcs"] if "." not in q]
        for qual, kind in sorted(names):
            if kind == "c":
                rbits, rpath = graph.reach(("rec", mod, qual))
                cbits, cpath = graph.reach(("call", mod, qual))
            else:
                rbits, rpath = 0, ""
                cbits, cpath = graph.reach(graph._func_node(mod, qual, None))
            if rbits or cbits:
                entry["x"][qual] = [kind, rbits, cbits, pack(cpath), pack(rpath)]
                flagged += 1
            else:
                entry[kind].append(qual)
        for name in sorted(summ["symbols"]) if summ["pkg"] else ():
            if name.startswith("_") or name in summ["classes"] or name in summ["funcs"]:
                continue
            for t in through.resolve(mod, name)[:1]:
                if t[0] in ("func", "class") and _top(t[1]) == _top(mod) and "." not in t[2]:
                    entry["a"][name] = t[1] if t[2] == name else f"{t[1]}:{t[2]}"
        out[mod] = {k: (" ".join(v) if isinstance(v, list) else v) for k, v in entry.items() if v or k == "l"}
    for canon, kind in sorted(exact_names().items()):
        mod, _, qual = canon.rpartition(".")
        if not mod or mod.startswith("?"):
            continue
        entry = out.setdefault(mod, {"l": -1})
        bit = 1 << SINKS.index(kind)
        old = entry.setdefault("x", {}).get(qual)
        if old:
            entry["x"][qual] = [old[0], old[1], old[2] | bit, old[3] or pack(canon), old[4]]
        else:
            entry["x"][qual] = ["f", 0, bit, canon, ""]
    log(f"{sum(len(lib.modules) for lib in libs)} modules, {flagged} names reach a sink")
    libraries = {lib.name: lib.version for lib in libs}
    return {"schema": SCHEMA, "libraries": libraries, "order": [lib.name for lib in libs], "sinks": list(SINKS),
            "tails": list(tails), "modules": out}, graph
