"""Derive load facts from the ML libraries' own source (``python -m mlvet.policy.derive``).

For every class and function a pickle can name in pinned versions of the libraries (``pins.txt``) and the
running interpreter's stdlib, compute which *sinks* — code execution, imports, processes, file writes,
network, nested deserialisers, native code (``mlvet.policy.derived.SINKS``) — are reachable when the loader
reconstructs an instance and when it calls the name. The approach follows PickleBall (CCS 2025): the
libraries' source is read with ``ast`` only, never imported or run; wheels are read in place.

Pipeline: ``sources`` (pinned wheels / installed files / stdlib) -> ``summarise`` (one module's AST -> its
bindings and call sites) -> ``collect`` (all modules, parallel, cached) -> ``graph`` (name resolution across
libraries, class MROs, sink reachability) -> ``facts`` (the packed ``derived.json``) -> ``audit`` (the
shipped safe tier checked against the facts).

What the analysis over-approximates (may report a sink that cannot really be reached):

* every call site in a body is assumed reachable (no path or value sensitivity), and nested functions and
  lambdas are assumed to run when the function that defines them runs;
* a binding assigned in several places (``try: import a ... except: import b``) resolves to all of them;
* ``open``/``os.open``/``numpy.memmap`` with a mode or flags the analysis cannot see count as writes, and
  ``yaml.load`` without a visible Safe/Base loader as a deserialiser;
* a few method names are sinks whatever object they are called on (``.tofile``, ``.write_text``,
  ``.write_bytes``, ``.unlink``, ``.rmdir``, ``.symlink_to``, ``.hardlink_to``);
* reconstruction includes ``__setattr__``, ``__setitem__``, ``append`` and ``extend`` (BUILD slot state,
  SETITEMS and APPENDS run them with file-chosen arguments) and ``__getattr__`` when there is no
  ``__setstate__`` (the loader probes for one).

What it under-approximates (may miss a reachable sink):

* a call through an attribute of an object it cannot name (``self.loader.load()``, ``fn()`` for a parameter
  ``fn``, ``getattr(m, name)()``) is not followed — otherwise everything would reach everything; the
  exceptions are calls through ``self``/``cls``/``super()`` (resolved through the MRO of the class being
  reconstructed or called, so a subclass override counts) and calls on names that resolve to a sink
  (always counted, whatever the path to them: ``from os import system as s; s()``);
* a callable passed as an argument counts only when it is itself a sink (``map(eval, xs)``); a library
  function handed to a callback-taking API is not followed;
* code in C extensions (``torch._C``, numpy's C core, ``_pickle``) is opaque: a class whose ``__setstate__``
  is implemented in C, or whose bases do not resolve, contributes nothing beyond the sink table;
* property getters, descriptors, decorators' wrappers, import-time module code and ``__del__`` are not
  modelled; nor are libraries outside the pins (a call into them is a sink only if the table names it);
* modules whose source does not parse under the running interpreter are left out (and reported).

Bounds: names resolve through at most 24 alias hops and 4 alternatives per name; every node of the call
graph is expanded once (reachability is memoised per strongly connected component, so recursion and
cycles terminate); evidence paths are shortened to 8 hops.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlvet.policy.derive.collect import Library, collect
from mlvet.policy.derive.facts import build
from mlvet.policy.derive.graph import Graph
from mlvet.policy.derive.sources import PINS, cache_dir, read_pins, sources

__all__ = ["Derivation", "derive"]


@dataclass
class Derivation:
    libraries: list[Library]
    table: dict[str, Any]
    graph: Graph


def derive(pins: Path = PINS, cache: Path | None = None, jobs: int = 2, download: bool = True,
           log: Callable[[str], None] = lambda _m: None) -> Derivation:
    """Read the pinned source (downloading wheels into the cache if absent) and compute the facts table."""
    root = cache or cache_dir()
    libs = collect(sources(read_pins(pins), root / "wheels", download), root, jobs, log)
    table, graph = build(libs, log)
    return Derivation(libs, table, graph)
