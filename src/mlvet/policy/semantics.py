"""Load semantics as data: where a pickled name lives, what its arguments look like, and the rank that follows.

The tiers of ``default.toml`` answer "is this name known to be safe or dangerous?". Most names in real files
are neither, and for them the rank must come from what the loader will actually do with the name
(``mlvet.analysis.pickle_semantics`` works that out from the symbolic run) combined with the facts kept
here, in ``semantics.toml``:

* **location**: the ML ecosystem, the standard library, ``__main__`` (user code) or another package;
* **argument shape** of a call: plain data, a path or URL, a file opened for writing, a command line,
  code, the dotted name of a dangerous callable, or a nested pickle;
* the **rank table** (location x shape -> severity), and argument-aware exceptions to the tiers: pure
  operators on plain data, helpers judged by the callable they are handed, calls whose mode argument makes
  them write files, and safe-tier classes whose *call* (not their reconstruction) reaches disk or network.

Everything here works on plain strings, so the policy layer stays below the analysis that uses it.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from typing import Any, TypeVar

from mlvet.errors import PolicyError
from mlvet.model import Severity
from mlvet.policy import shipped
from mlvet.policy.tiers import Glob


class Location(str, Enum):
    """Where a module lives, as far as load-time trust goes."""

    ML = "ml"
    STDLIB = "stdlib"
    MAIN = "main"
    OTHER = "other"

    @property
    def label(self) -> str:
        return {
            "ml": "an ML library",
            "stdlib": "the standard library",
            "main": "the user's own script (__main__)",
            "other": "a package outside the ML ecosystem",
        }[self.value]


class Shape(int, Enum):
    """What a call's arguments look like, from least to most alarming (the worst one decides)."""

    PLAIN = 0
    CALLABLE = 1
    PATH = 2
    URL = 3
    WRITE = 4
    DANGEROUS_NAME = 5
    CODE = 6
    COMMAND = 7
    PAYLOAD = 8

    @property
    def key(self) -> str:
        return self.name.lower()

    @property
    def label(self) -> str:
        return {
            0: "plain data",
            1: "objects built while loading",
            2: "a filesystem path",
            3: "a URL",
            4: "a path with a file mode that writes",
            5: "the dotted name of a dangerous callable",
            6: "source code",
            7: "a command line",
            8: "a nested pickle",
        }[self.value]


@dataclass(frozen=True)
class ModeRule:
    """A call whose effect depends on a mode argument (``numpy.memmap(path, mode='w+')``)."""

    arg: int
    keyword: str
    default: str
    write: frozenset[str]
    severity: Severity
    otherwise: Severity
    reason: str


@dataclass(frozen=True)
class Handed:
    """A helper judged by the callable it is handed (``dill._create_array(numpy's _reconstruct, ...)``)."""

    arg: int
    accept: frozenset[str]
    reason: str


@dataclass(frozen=True)
class Reconstructor:
    """A safe helper that receives classes (instantiated only) or callables (invoked) as arguments."""

    reconstruct: tuple[int, ...]
    call: tuple[int, ...]
    reason: str


@dataclass(frozen=True)
class TypeLoader:
    """A helper that returns a type by name from a fixed table (``dill._load_type('list')``)."""

    arg: int
    accept: frozenset[str]
    reason: str


@dataclass(frozen=True)
class Effect:
    """A class whose call (not its reconstruction) reaches disk or network."""

    severity: Severity
    reason: str


@dataclass(frozen=True, eq=False)
class Semantics:
    """The parsed ``semantics.toml``: every table prepared for lookups by ``module:name``."""

    ml: frozenset[str]
    main: frozenset[str]
    command: Patterns
    code: Patterns
    path: Patterns
    url: Patterns
    write_modes: frozenset[str]
    effect_names: re.Pattern[str] | None
    rank: Mapping[str, Mapping[str, Severity]]
    pure: tuple[tuple[Glob, str], ...]
    handed: tuple[tuple[Glob, Handed], ...]
    modes: tuple[tuple[Glob, ModeRule], ...]
    effects: tuple[tuple[Glob, Effect], ...]
    reconstructors: tuple[tuple[Glob, Reconstructor], ...]
    memory_sized: frozenset[str] = frozenset()
    memory_materialise: frozenset[str] = frozenset()
    memory_ranges: frozenset[str] = frozenset()
    memory_limit: int = 1 << 62
    type_loaders: tuple[tuple[Glob, TypeLoader], ...] = ()
    factories: tuple[tuple[Glob, str], ...] = ()
    attributes: tuple[tuple[Glob, str], ...] = ()
    ops: tuple[tuple[Glob, str], ...] = ()
    trampolines: tuple[tuple[Glob, str], ...] = ()

    # ---- location and argument shapes -----------------------------------------------------------

    def locate(self, module: str) -> Location:
        """Where ``module`` (canonical name) lives."""
        return _locate(self, module)

    def text_shape(self, text: str) -> Shape:
        """The shape of one string argument (command and code before paths: the worst reading wins)."""
        if any(rx.search(text) for rx in self.command):
            return Shape.COMMAND
        if any(rx.search(text) for rx in self.code):
            return Shape.CODE
        if any(rx.search(text) for rx in self.url):
            return Shape.URL
        if any(rx.search(text) for rx in self.path):
            return Shape.PATH
        return Shape.PLAIN

    def is_write_mode(self, text: str) -> bool:
        """Whether an open-mode string writes, appends, creates or truncates."""
        return text in self.write_modes

    def acts_on_path(self, name: str) -> bool:
        """Whether a callee's name says it writes, deletes or sends what it is given (``write_history_file``)."""
        return self.effect_names is not None and bool(self.effect_names.search(name.rpartition(".")[2]))

    def argv_shape(self, texts: Sequence[str]) -> Shape:
        """Strings read together, as a program reads its argv (``['sh', '-c', 'touch x']``)."""
        joined = " ".join(t for t in texts if len(t) < 4096)
        return Shape.COMMAND if any(rx.search(joined) for rx in self.command) else Shape.PLAIN

    def severity(self, location: Location, shape: Shape) -> Severity:
        """The rank of a call of an undecided name from ``location`` given arguments of ``shape``."""
        table = self.rank[location.value]
        return table.get(shape.key, table["plain"])

    # ---- argument-aware exceptions -----------------------------------------------------------------

    def pure_reason(self, qualified: str) -> str | None:
        """Why calling ``qualified`` has no effect beyond returning a value (None: not listed)."""
        return _first(self.pure, qualified)

    def handed_rule(self, qualified: str) -> Handed | None:
        """The rule for a helper that calls a callable it is handed (None: not listed)."""
        return _first(self.handed, qualified)

    def mode_rule(self, qualified: str) -> ModeRule | None:
        """Which argument of ``qualified`` is a file mode, and the ranks with and without writing."""
        return _first(self.modes, qualified)

    def call_effect(self, qualified: str) -> Effect | None:
        """The effect a call of ``qualified`` has that rebuilding an object would not (download ...)."""
        return _first(self.effects, qualified)

    def reconstructor(self, qualified: str) -> Reconstructor | None:
        """How a safe reconstructor uses its arguments (which it rebuilds, which it calls)."""
        return _first(self.reconstructors, qualified)

    def type_loader(self, qualified: str) -> TypeLoader | None:
        """A loader that returns a type by name (dill's ``_load_type``), and the names it accepts."""
        return _first(self.type_loaders, qualified)

    def factory_reason(self, qualified: str) -> str | None:
        """Why a factory of classes or tuples (namedtuple ...) runs no code of the file."""
        return _first(self.factories, qualified)

    def attribute_reason(self, qualified: str) -> str | None:
        """Why an attribute lookup on ``qualified`` is inert."""
        return _first(self.attributes, qualified)

    def ops_reason(self, qualified: str) -> str | None:
        """Why ``qualified`` is a tensor-operator namespace entry (a value, not an action)."""
        return _first(self.ops, qualified)

    def trampoline_reason(self, qualified: str) -> str | None:
        """Why a stored trampoline (``partial``, ``attrgetter`` ...) is inert until called."""
        return _first(self.trampolines, qualified)


_T = TypeVar("_T")


def _first(table: Sequence[tuple[Glob, _T]], qualified: str) -> _T | None:
    for rx, value in table:
        if rx.match(qualified):
            return value
    return None


@lru_cache(maxsize=4096)
def _locate(sem: Semantics, module: str) -> Location:
    top = module.partition(".")[0]
    if module in sem.main or top in sem.main:
        return Location.MAIN
    if top in sem.ml:
        return Location.ML
    if top in sys.stdlib_module_names or top == "builtins":
        return Location.STDLIB
    return Location.OTHER


# ---- loading ------------------------------------------------------------------------------------------


def _glob(pattern: str) -> Glob:
    """The policy's glob over ``module:name`` (same syntax as the tiers), compiled when first needed."""
    return Glob(pattern)


class Patterns:
    """Regular expressions compiled on first use: most scans never look at a string argument's shape, and
    compiling the shipped table's ~30 expressions on every start costs milliseconds paid per file."""

    __slots__ = ("_compiled", "sources")

    def __init__(self, sources: Sequence[str], *, check: bool) -> None:
        self.sources = tuple(sources)
        self._compiled: tuple[re.Pattern[str], ...] | None = None
        if check:
            self._compile()

    def _compile(self) -> tuple[re.Pattern[str], ...]:
        if self._compiled is None:
            self._compiled = tuple(re.compile(i) for i in self.sources)
        return self._compiled

    def __iter__(self) -> Iterator[re.Pattern[str]]:
        return iter(self._compile())

    def __len__(self) -> int:
        return len(self.sources)


def _patterns(items: Any, what: str, check: bool) -> Patterns:
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise PolicyError(f"semantics.toml: {what} must be a list of regular expressions")
    try:
        return Patterns(items, check=check)
    except re.error as exc:
        raise PolicyError(f"semantics.toml: bad regular expression in {what}: {exc}") from None


def _matches(item: Mapping[str, Any], value: Any) -> list[tuple[Glob, Any]]:
    globs = item.get("match")
    if not isinstance(globs, list) or not globs or not isinstance(item.get("reason"), str):
        raise PolicyError(f"semantics.toml: entry {dict(item)!r} needs a 'match' list and a 'reason'")
    return [(_glob(g), value) for g in globs]


def parse(data: Mapping[str, Any], *, check: bool = True) -> Semantics:
    """Validate and prepare a semantics table (the shipped one, or one a test builds).

    ``check=False`` leaves the argument patterns to compile on first use: for the shipped table, whose
    expressions the test suite compiles (``tests/unit/test_policy_data.py``).
    """
    eco = data.get("ecosystem", {})
    args = data.get("arguments", {})
    rank: dict[str, dict[str, Severity]] = {}
    for loc in Location:
        table = data.get("rank", {}).get(loc.value)
        if not isinstance(table, dict) or "plain" not in table:
            raise PolicyError(f"semantics.toml: [rank.{loc.value}] needs at least a 'plain' entry")
        rank[loc.value] = {k: Severity.parse(v) for k, v in table.items()}
    pure: list[tuple[Glob, str]] = []
    for item in data.get("pure", []):
        pure += _matches(item, item["reason"])
    handed: list[tuple[Glob, Handed]] = []
    for item in data.get("handed", []):
        handed += _matches(item, Handed(int(item["arg"]), frozenset(item["accept"]), item["reason"]))
    modes: list[tuple[Glob, ModeRule]] = []
    for item in data.get("mode", []):
        rule = ModeRule(int(item["arg"]), str(item["keyword"]), str(item["default"]), frozenset(item["write"]),
                        Severity.parse(item["severity"]), Severity.parse(item["otherwise"]), item["reason"])
        modes += _matches(item, rule)
    effects: list[tuple[Glob, Effect]] = []
    for item in data.get("call_effect", []):
        effects += _matches(item, Effect(Severity.parse(item["severity"]), item["reason"]))
    recon: list[tuple[Glob, Reconstructor]] = []
    for item in data.get("reconstructor", []):
        recon += _matches(item, Reconstructor(tuple(item["reconstruct"]), tuple(item["call"]), item["reason"]))
    loaders: list[tuple[Glob, TypeLoader]] = []
    for item in data.get("type_loader", []):
        loaders += _matches(item, TypeLoader(int(item["arg"]), frozenset(item["accept"]), item["reason"]))
    factories: list[tuple[Glob, str]] = []
    for item in data.get("factory", []):
        factories += _matches(item, item["reason"])
    attributes: list[tuple[Glob, str]] = []
    for item in data.get("attribute", []):
        attributes += _matches(item, item["reason"])
    ops: list[tuple[Glob, str]] = []
    for item in data.get("ops", []):
        ops += _matches(item, item["reason"])
    trampolines: list[tuple[Glob, str]] = []
    for item in data.get("trampoline", []):
        trampolines += _matches(item, item["reason"])
    memory = data.get("memory", {})
    return Semantics(
        ops=tuple(ops),
        trampolines=tuple(trampolines),
        memory_sized=frozenset(memory.get("sized", ())),
        memory_materialise=frozenset(memory.get("materialise", ())),
        memory_ranges=frozenset(memory.get("ranges", ())),
        memory_limit=int(memory.get("limit", 1 << 62)),
        type_loaders=tuple(loaders),
        factories=tuple(factories),
        attributes=tuple(attributes),
        ml=frozenset(eco.get("ml", ())),
        main=frozenset(eco.get("main", ())),
        command=_patterns(args.get("command", []), "arguments.command", check),
        code=_patterns(args.get("code", []), "arguments.code", check),
        path=_patterns(args.get("path", []), "arguments.path", check),
        url=_patterns(args.get("url", []), "arguments.url", check),
        write_modes=frozenset(args.get("write_modes", ())),
        effect_names=re.compile(args["effect_names"]) if isinstance(args.get("effect_names"), str) else None,
        rank=rank,
        pure=tuple(pure),
        handed=tuple(handed),
        modes=tuple(modes),
        effects=tuple(effects),
        reconstructors=tuple(recon),
    )


def semantics_data() -> dict[str, Any]:
    """The shipped semantics table as data."""
    return shipped.data("semantics")  # the generated JSON twin of semantics.toml


@lru_cache(maxsize=1)
def default_semantics() -> Semantics:
    """The shipped semantics, parsed once on first use (only files that reference callables need it)."""
    return parse(semantics_data(), check=False)  # its patterns compile in the tests, not on every start


__all__ = ["Effect", "Handed", "Location", "ModeRule", "Patterns", "Reconstructor", "Semantics", "Shape", "TypeLoader",
           "default_semantics", "parse", "semantics_data"]
