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
    """What the loader runs for one ``module:qualname``, per way of using it, and the sinks it can reach."""

    module: str
    qualname: str
    kind: Kind
    library: str
    #: Sinks reachable from reconstruction (``__new__`` + ``__setstate__``); empty: none found.
    reconstruct: tuple[str, ...]
    #: Sinks reachable from a call with file-chosen arguments; empty: none found.
    call: tuple[str, ...]
    #: A short call chain to the first sink found (``f -> g -> exec``), for evidence; "" when none.
    path: str = ""

    @property
    def reconstruct_safe(self) -> bool:
        return not self.reconstruct

    @property
    def call_safe(self) -> bool:
        return not self.call


def _unpack(bits: int) -> tuple[str, ...]:
    return tuple(s for i, s in enumerate(SINKS) if bits >> i & 1)


@lru_cache(maxsize=1)
def _table() -> tuple[Mapping[str, str], Mapping[str, list[Any]]]:
    """(libraries -> pinned version, ``module:qualname`` -> packed facts), read once on first use.

    Packed facts: ``[kind ("c"|"f"), library, reconstruct_bits, call_bits, path]``. A missing or unreadable
    file means no facts (every name stays in the policy's unknown tier), never a crash.
    """
    try:
        text = resources.files("mlvet.policy").joinpath("derived.json").read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, ValueError):
        return {}, {}
    if not isinstance(data, dict):
        return {}, {}
    libs = data.get("libraries", {})
    names = data.get("names", {})
    return (libs if isinstance(libs, dict) else {}), (names if isinstance(names, dict) else {})


def lookup(module: str, qualname: str) -> LoadFacts | None:
    """The derived facts for ``module:qualname`` (canonical module name), or None when not derived."""
    packed = _table()[1].get(f"{module}:{qualname}")
    if not isinstance(packed, list) or len(packed) < 4:
        return None
    kind: Kind = "class" if packed[0] == "c" else "function"
    path = packed[4] if len(packed) > 4 and isinstance(packed[4], str) else ""
    return LoadFacts(module, qualname, kind, str(packed[1]), _unpack(int(packed[2])), _unpack(int(packed[3])), path)


def libraries() -> Mapping[str, str]:
    """The libraries the facts were derived from, with their pinned versions."""
    return _table()[0]
