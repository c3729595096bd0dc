"""Load facts derived from the ML libraries' own source: what reconstructing or calling a name can reach.

``python -m mlvet.policy.derive`` reads the source of pinned versions of the libraries (AST only, never
importing them) and writes ``derived.json`` beside this module: for each class or function a pickle can
name, which *sinks* (code execution, imports, processes, file writes, network, nested deserialisers,
native code) are reachable

* when the loader only **reconstructs** an object of a class (``NEWOBJ``/``copyreg._reconstructor`` then
  ``BUILD``: the class's ``__new__`` and ``__setstate__``), and
* when the loader **calls** the name with arguments from the file (``REDUCE``/``INST``/``OBJ``: the
  function body, or a class's ``__new__`` + ``__init__``).

The pickle analysis ranks a reference by these facts (see ``mlvet.formats.pickle``); the policy audit test
re-derives them and fails when a safe-tier entry can reach a sink. This module only *reads* the shipped
facts, lazily: nothing is loaded until a name outside the hand-written tiers is met.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from mlvet.policy import shipped

#: Sink kinds, in the order of their bit in the packed facts.
SINKS: tuple[str, ...] = ("exec", "import", "process", "file-write", "network", "deserialize", "native")

Kind = Literal["class", "function"]


@dataclass(frozen=True)
class LoadFacts:
    """What the loader runs for one ``module:qualname``, per way of using it, and the sinks it can reach.

    A ``REDUCE`` of a class is usually followed by ``BUILD``: a caller ranking a call should weigh
    ``call`` and ``reconstruct`` together.
    """

    module: str
    qualname: str
    kind: Kind
    library: str
    #: Sinks reachable from reconstruction (``__new__`` + ``__setstate__``); empty: none found.
    reconstruct: tuple[str, ...]
    #: Sinks reachable from a call with file-chosen arguments; empty: none found.
    call: tuple[str, ...]
    #: A short call chain to the first sink found (``f -> g -> exec``), for evidence; "" when none. The
    #: call's chain when a call reaches a sink, else the reconstruction's.
    path: str = ""
    #: The reconstruction's own chain ("" when reconstruction reaches no sink).
    reconstruct_path: str = ""

    @property
    def reconstruct_safe(self) -> bool:
        """Whether rebuilding an object reaches no sink."""
        return not self.reconstruct

    @property
    def call_safe(self) -> bool:
        """Whether a call with the file's arguments reaches no sink."""
        return not self.call


def _unpack(bits: int) -> tuple[str, ...]:
    return tuple(s for i, s in enumerate(SINKS) if bits >> i & 1)


#: The shipped file is valid JSON laid out one module (and one path tail) per line, so the first lookup
#: parses only the header and the one line it needs; see :func:`dumps`.
_TAILS_OPEN = ',"tails":['
_MODULES_OPEN = '],"modules":{'


def dumps(table: Mapping[str, Any]) -> str:
    """The shipped text of a packed table: compact JSON, sorted, one module and one path tail per line."""
    head = {k: v for k, v in table.items() if k not in ("modules", "tails")}
    out = [json.dumps(head, sort_keys=True, separators=(",", ":"))[:-1] + _TAILS_OPEN]
    tails = [json.dumps(t) for t in table.get("tails", [])]
    out.extend(t + "," for t in tails[:-1])
    out.extend(tails[-1:])
    out.append(_MODULES_OPEN)
    mods = [f"{json.dumps(m)}:{json.dumps(e, sort_keys=True, separators=(',', ':'))}"
            for m, e in sorted(table.get("modules", {}).items())]
    out.extend(m + "," for m in mods[:-1])
    out.extend(mods[-1:])
    out.append("}}")
    return "\n".join(out) + "\n"


class _Lines(Mapping[str, Any]):
    """module -> entry, each module's line decoded on first access."""

    def __init__(self, lines: dict[str, str]) -> None:
        self._lines = lines
        self._done: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        if key not in self._done:
            line = self._lines[key]
            self._done[key] = json.loads(line[line.index(":{") + 1:].rstrip(","))
        return self._done[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._lines)

    def __len__(self) -> int:
        return len(self._lines)


def _parse(text: str) -> Mapping[str, Any]:
    """The packed table from the shipped text: lazily per line when laid out by :func:`dumps`, else whole."""
    lines = text.split("\n")
    if not lines[0].endswith(_TAILS_OPEN) or _MODULES_OPEN not in lines:
        data = json.loads(text)
        if not isinstance(data, dict):
            return {}
        whole: dict[str, Any] = data
        return whole
    head: dict[str, Any] = json.loads(lines[0][: -len(_TAILS_OPEN)] + "}")
    split = lines.index(_MODULES_OPEN)
    tails = lines[1:split]
    modules = {}
    for line in lines[split + 1:]:
        if line.startswith('"'):
            modules[line[1:line.index('"', 1)]] = line
    head["tails"] = _LazyList(tails)
    head["modules"] = _Lines(modules)
    return head


class _LazyList:
    """Path tails, each JSON string decoded when a path that uses it is asked for."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = lines

    def __getitem__(self, index: int) -> str:
        return str(json.loads(self._lines[index].rstrip(",")))

    def __len__(self) -> int:
        return len(self._lines)


class _Table:
    """The parsed table; each module's name lists are split into sets only when that module is first asked."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        libs = data.get("libraries", {})
        order = data.get("order", [])
        mods = data.get("modules", {})
        ok = data.get("schema") == 2 and data.get("sinks") == list(SINKS)
        self.libraries: Mapping[str, str] = libs if ok and isinstance(libs, dict) else {}
        self.order: list[str] = order if ok and isinstance(order, list) else []
        self.modules: Mapping[str, Any] = mods if ok and isinstance(mods, Mapping) else {}
        tails = data.get("tails", [])
        self.tails: Any = tails if ok and isinstance(tails, list | _LazyList) else []
        self._sets: dict[str, tuple[frozenset[str], frozenset[str]]] = {}

    def _path(self, packed: object) -> str:
        head, sep, index = str(packed).partition("\t")
        if not sep:
            return head
        try:
            return f"{head} -> {self.tails[int(index)]}"
        except (ValueError, IndexError):
            return head

    def get(self, module: str, qualname: str, hops: int = 0) -> LoadFacts | None:
        try:
            entry = self.modules.get(module)
        except ValueError:  # a damaged line: no facts for that module
            return None
        if not isinstance(entry, dict):
            return None
        index = entry.get("l", -1)
        library = self.order[index] if isinstance(index, int) and 0 <= index < len(self.order) else ""
        packed = entry.get("x", {}).get(qualname)
        if isinstance(packed, list) and len(packed) == 5:
            kind: Kind = "class" if packed[0] == "c" else "function"
            call, rec = _unpack(int(packed[2])), _unpack(int(packed[1]))
            cpath, rpath = self._path(packed[3]), self._path(packed[4])
            return LoadFacts(module, qualname, kind, library, rec, call, cpath if call else rpath, rpath)
        sets = self._sets.get(module)
        if sets is None:
            sets = self._sets[module] = (frozenset(str(entry.get("c", "")).split()),
                                         frozenset(str(entry.get("f", "")).split()))
        if qualname in sets[0] or qualname in sets[1]:
            return LoadFacts(module, qualname, "class" if qualname in sets[0] else "function", library, (), ())
        target = entry.get("a", {}).get(qualname)
        if isinstance(target, str) and hops == 0:
            tmod, _, tqual = target.partition(":")
            tqual = tqual or qualname
            found = self.get(tmod, tqual, hops + 1)
            if found is not None:
                return LoadFacts(module, qualname, found.kind, found.library, found.reconstruct, found.call,
                                 found.path, found.reconstruct_path)
        return None


@lru_cache(maxsize=1)
def _table() -> _Table:
    """The shipped facts, read once on first use.

    A missing, unreadable or other-schema file means no facts (every name stays in the policy's unknown
    tier), never a crash. The packed format is described in ``mlvet.policy.derive.facts``.
    """
    try:
        text = shipped.read_text("derived.json")
        return _Table(_parse(text))
    except (OSError, ValueError):
        return _Table({})


def lookup(module: str, qualname: str) -> LoadFacts | None:
    """The derived facts for ``module:qualname`` (canonical module name), or None when not derived."""
    return _table().get(module, qualname)


def libraries() -> Mapping[str, str]:
    """The libraries the facts were derived from, with their pinned versions."""
    return _table().libraries
