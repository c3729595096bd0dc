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

import gzip
import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

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
        return not self.reconstruct

    @property
    def call_safe(self) -> bool:
        return not self.call


def _unpack(bits: int) -> tuple[str, ...]:
    return tuple(s for i, s in enumerate(SINKS) if bits >> i & 1)


class _Table:
    """The parsed file; each module's name lists are split into sets only when that module is first asked."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        libs = data.get("libraries", {})
        order = data.get("order", [])
        mods = data.get("modules", {})
        ok = data.get("schema") == 2 and data.get("sinks") == list(SINKS)
        self.libraries: Mapping[str, str] = libs if ok and isinstance(libs, dict) else {}
        self.order: list[str] = order if ok and isinstance(order, list) else []
        self.modules: Mapping[str, Any] = mods if ok and isinstance(mods, dict) else {}
        tails = data.get("tails", [])
        self.tails: list[str] = tails if ok and isinstance(tails, list) else []
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
        entry = self.modules.get(module)
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
        raw = resources.files("mlvet.policy").joinpath("derived.json").read_bytes()
        data = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
    except (OSError, ValueError, EOFError):
        return _Table({})
    return _Table(data if isinstance(data, dict) else {})


def lookup(module: str, qualname: str) -> LoadFacts | None:
    """The derived facts for ``module:qualname`` (canonical module name), or None when not derived."""
    return _table().get(module, qualname)


def libraries() -> Mapping[str, str]:
    """The libraries the facts were derived from, with their pinned versions."""
    return _table().libraries
