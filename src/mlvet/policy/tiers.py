"""The pickle tiers: entries, glob matching, and how one ``module:name`` reference is classified.

Three tiers (see the shipped ``default.toml``):

* **safe** — callables that ordinary model files reference (tensor rebuilds, numpy reconstruction,
  estimator classes…), each entry with the reason it is safe;
* **dangerous** — code execution, processes, files, network, import machinery and gadgets, reported
  critical when invoked;
* **unknown** — everything else, never passed silently.

Dangerous always wins over safe, so a gadget inside an otherwise trusted namespace (``torch.hub.load``)
stays dangerous even though ``torch`` is trusted.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum

from mlvet.errors import PolicyError
from mlvet.policy.names import REFLECTIVE_ATTRS, REFLECTIVE_NAMES, normalise_module


class Tier(str, Enum):
    """Where the policy puts a referenced callable."""

    SAFE = "safe"
    DANGEROUS = "dangerous"
    UNKNOWN = "unknown"


#: What a safe entry lets a pickle do with a name: anything (import, rebuild an object, call with the file's
#: arguments), or only rebuild objects of a class (NEWOBJ / ``copyreg._reconstructor`` + BUILD), which runs
#: the class's ``__new__``/``__setstate__`` but not ``__init__`` with the file's arguments.
USES = ("any", "rebuild")


@dataclass(frozen=True)
class Entry:
    """One policy entry: a glob over ``module:qualname``, the reason it sits in its tier, and its limits.

    ``use`` narrows a safe entry to rebuilding objects (``"rebuild"``); ``accept`` lists the sink kinds of
    :data:`mlvet.policy.derived.SINKS` a reviewer accepted for it, which the policy audit then tolerates.
    """

    pattern: str
    reason: str
    source: str
    use: str = "any"
    accept: tuple[str, ...] = ()

    def regex(self) -> str:
        """The entry's glob as a regular expression (see :func:`glob_to_regex`)."""
        return glob_to_regex(self.pattern)


@dataclass(frozen=True)
class Verdict:
    """How a referenced callable is classified, with the entry that decided it."""

    tier: Tier
    qualified: str
    reason: str
    entry: str | None = None
    #: For a safe verdict: what the entry allows (``any`` or ``rebuild``; see :data:`USES`).
    use: str = "any"


def glob_to_regex(pattern: str) -> str:
    """Translate a policy glob to a regex: ``*`` matches anything (dots included), ``?`` one char.

    ``os:*`` is every name in ``os``; ``os.*:*`` every name in every submodule; ``sklearn.*:[A-Z]*``
    every CapWords (class) name under sklearn. A pattern without ``:`` means the module itself and all
    of its submodules, any name.
    """
    if ":" not in pattern:
        pattern = f"{pattern}:*"
        extra = glob_to_regex(pattern.split(":", 1)[0] + ".*:*")
        return f"(?:{glob_to_regex(pattern)}|{extra})"
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            end = pattern.find("]", i)
            if end == -1:
                raise PolicyError(f"unclosed '[' in policy pattern {pattern!r}")
            out.append(pattern[i : end + 1])
            i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return "".join(out)


_WILDCARDS = frozenset("*?[")


class Glob:
    """A policy glob, matched (from the start, like ``re.Pattern.match``) as the regex of :func:`glob_to_regex`.

    Translated and compiled on first use, and tried only on names that start with the glob's literal prefix:
    compiling the shipped policy's ~250 globs up front cost more than scanning a 500 MB checkpoint (per-file
    CLI runs in pre-commit hooks pay it every time), and most never meet a name they could match. A bad
    character class is still an error when the policy loads: each ``[...]`` is checked on its own (the few
    distinct classes hit ``re``'s cache); everything else becomes escaped literals, ``.*`` and ``.``, which
    cannot fail to compile.
    """

    __slots__ = ("_rx", "pattern", "prefix")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        cut = min((i for i, ch in enumerate(pattern) if ch in _WILDCARDS), default=len(pattern))
        self.prefix = pattern[:cut]
        self._rx: re.Pattern[str] | None = None
        start = pattern.find("[")
        while start != -1:
            end = pattern.find("]", start)
            if end == -1:
                raise PolicyError(f"unclosed '[' in policy pattern {pattern!r}")
            re.compile(pattern[start : end + 1])
            start = pattern.find("[", end)

    def match(self, text: str) -> re.Match[str] | None:
        """The match of the whole of ``text``, or None."""
        if not text.startswith(self.prefix):
            return None
        if self._rx is None:
            self._rx = re.compile(glob_to_regex(self.pattern) + r"\Z", re.DOTALL)
        return self._rx.match(text)


@dataclass
class CompiledTier:
    """A tier prepared for matching: exact names and whole modules in dicts, only real globs as regexes.

    Most entries are exact (``builtins:eval``) or whole modules (``subprocess``); looking those up in a dict
    keeps policy set-up and classification cheap (no regex compiled or tried for them).
    """

    exact: dict[str, Entry] = field(default_factory=dict)
    modules: dict[str, Entry] = field(default_factory=dict)
    globs: list[tuple[Glob, Entry]] = field(default_factory=list)

    def match(self, cand: str) -> Entry | None:
        """The first entry matching ``module:name`` (exact, then enclosing module, then globs)."""
        hit = self.exact.get(cand)
        if hit is not None:
            return hit
        module = cand.partition(":")[0]
        parts = module.split(".")
        for cut in range(len(parts), 0, -1):
            hit = self.modules.get(".".join(parts[:cut]))
            if hit is not None:
                return hit
        for rx, entry in self.globs:
            if rx.match(cand):
                return entry
        return None


def compile_tier(entries: Iterable[Entry]) -> CompiledTier:
    """Index a tier's entries for matching; a bad glob is a :class:`PolicyError` naming its source."""
    tier = CompiledTier()
    for e in entries:
        if not _WILDCARDS & set(e.pattern):
            if ":" in e.pattern:
                tier.exact.setdefault(e.pattern, e)
            else:
                tier.modules.setdefault(e.pattern, e)
            continue
        try:
            tier.globs.append((Glob(e.pattern), e))
        except re.error as exc:
            raise PolicyError(f"bad pattern {e.pattern!r} in {e.source}: {exc}") from None
    return tier


def candidates(module: str, name: str) -> list[str]:
    """Every ``module:name`` reading of a reference, including attribute walks through submodules.

    ``find_class('posixpath', 'os.system')`` really resolves ``os.system`` because ``posixpath`` imports
    ``os``; so a dotted name is also read with each of its prefixes moved into the module path, and
    each tail re-read as a module path of its own.
    """
    parts = name.split(".")
    out = [f"{module}:{name}"]
    for j in range(1, len(parts)):
        # The walk may enter a submodule of ``module`` ...
        out.append(f"{module}.{'.'.join(parts[:j])}:{'.'.join(parts[j:])}")
        # ... or reach, through any attribute, a module that any run of segments names.
        for i in range(j):
            out.append(f"{'.'.join(parts[i:j])}:{'.'.join(parts[j:])}")
    return out


def classify(
    safe: CompiledTier, dangerous: CompiledTier, aliases: Mapping[str, str], module: str, name: str
) -> Verdict:
    """Classify ``module``/``name`` as a pickle's ``find_class`` would resolve it.

    Dangerous is tried on every reading of the reference (aliases and attribute walks); safe only on the
    exact, canonical reading — and a dotted name only for an entry that spells out a dotted name, so a
    trusted class cannot launder an attribute walk (``DataFrame.to_csv``).
    """
    canonical = normalise_module(module, aliases)
    qualified = f"{canonical}.{name}" if name else canonical
    attrs = name.split(".")
    if (len(attrs) > 1 and any(a in REFLECTIVE_ATTRS for a in attrs)) or name in REFLECTIVE_NAMES:
        return Verdict(Tier.DANGEROUS, qualified, "walks through reflective dunder attributes", "reflective")
    if not module or any(ch.isspace() or ord(ch) < 32 for ch in module + name):
        return Verdict(Tier.DANGEROUS, qualified, "malformed import name (whitespace or control characters)")
    readings = candidates(canonical, name)
    if canonical != module:
        readings += candidates(module, name)
    for cand in readings:
        hit = dangerous.match(cand)
        if hit is not None:
            return Verdict(Tier.DANGEROUS, qualified, hit.reason, hit.pattern)
    hit = safe.match(f"{canonical}:{name}")
    if hit is not None and ("." not in name or "." in hit.pattern.partition(":")[2]):
        return Verdict(Tier.SAFE, qualified, hit.reason, hit.pattern, hit.use)
    return Verdict(Tier.UNKNOWN, qualified, "not in the safe or dangerous tier of the policy")
