"""The policy layer: which callables a pickle may reference, as data rather than code.

Three tiers (see the shipped ``default.toml``):

* **safe** — callables that ordinary model files reference (tensor rebuilds, numpy reconstruction,
  estimator classes…), each entry with the reason it is safe;
* **dangerous** — code execution, processes, files, network, import machinery and gadgets, reported
  critical when invoked;
* **unknown** — everything else, never passed silently.

Dangerous always wins over safe, so a gadget inside an otherwise trusted namespace (``torch.hub.load``)
stays dangerous even though ``torch`` is trusted. Users extend or override the tiers from
``pyproject.toml [tool.mlvet]`` or ``--policy FILE``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from mlvet.errors import PolicyError
from mlvet.limits import Limits
from mlvet.model import Severity

if sys.version_info >= (3, 11):  # pragma: no cover - version switch
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class Tier(str, Enum):
    SAFE = "safe"
    DANGEROUS = "dangerous"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Entry:
    """One policy entry: a glob over ``module:qualname`` and the reason it sits in its tier."""

    pattern: str
    reason: str
    source: str

    def regex(self) -> str:
        return _glob_to_regex(self.pattern)


@dataclass(frozen=True)
class Verdict:
    """How a referenced callable is classified, with the entry that decided it."""

    tier: Tier
    qualified: str
    reason: str
    entry: str | None = None


def _glob_to_regex(pattern: str) -> str:
    """Translate a policy glob to a regex: ``*`` matches anything (dots included), ``?`` one char.

    ``os:*`` is every name in ``os``; ``os.*:*`` every name in every submodule; ``sklearn.*:[A-Z]*``
    every CapWords (class) name under sklearn. A pattern without ``:`` means the module itself and all
    of its submodules, any name.
    """
    if ":" not in pattern:
        pattern = f"{pattern}:*"
        extra = _glob_to_regex(pattern.split(":", 1)[0] + ".*:*")
        return f"(?:{_glob_to_regex(pattern)}|{extra})"
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


# Module aliases: what a pickle may name and what it really is at load time. Python 2 names are
# mapped by pickle's own compatibility layer (fix_imports), the others are C accelerator modules or
# platform-specific implementations of a public module.
DEFAULT_ALIASES: Mapping[str, str] = {
    "__builtin__": "builtins",
    "exceptions": "builtins",
    "copy_reg": "copyreg",
    "cPickle": "pickle",
    "_pickle": "pickle",
    "_compat_pickle": "pickle",
    "posix": "os",
    "nt": "os",
    "posixpath": "os.path",
    "ntpath": "os.path",
    "genericpath": "os.path",
    "_posixsubprocess": "subprocess",
    "commands": "subprocess",
    "popen2": "subprocess",
    "_io": "io",
    "_pyio": "io",
    "_codecs": "codecs",
    "_operator": "operator",
    "_functools": "functools",
    "_collections": "collections",
    "_socket": "socket",
    "_ssl": "ssl",
    "_ctypes": "ctypes",
    "_imp": "importlib",
    "imp": "importlib",
    "_frozen_importlib": "importlib",
    "_frozen_importlib_external": "importlib",
    "_sqlite3": "sqlite3",
    "_thread": "threading",
    "thread": "threading",
    "_multiprocessing": "multiprocessing",
    "_winapi": "subprocess",
    "_signal": "signal",
    "_shutil": "shutil",
    "urllib2": "urllib.request",
    "httplib": "http.client",
    "cookielib": "http.cookiejar",
    "SocketServer": "socketserver",
    "Queue": "queue",
    "cStringIO": "io",
    "StringIO": "io",
    "UserDict": "collections",
    "UserList": "collections",
    "UserString": "collections",
    "__main__": "__main__",
    "numpy.core": "numpy._core",
}

# Dunder attributes that turn any object into a path to eval, os or the import system.
REFLECTIVE_ATTRS = frozenset(
    {
        "__globals__", "__builtins__", "__subclasses__", "__import__", "__getattribute__", "__getattr__",
        "__dict__", "__code__", "__closure__", "__func__", "__self__", "__class__", "__bases__", "__base__",
        "__mro__", "__loader__", "__spec__", "__reduce__", "__reduce_ex__", "__setattr__", "__delattr__",
        "__init_subclass__", "__call__", "__get__", "__set__", "__module__", "__init__", "__new__",
        "__setstate__", "__getstate__", "f_globals", "f_locals", "f_back", "f_builtins", "gi_frame",
        "cr_frame", "tb_frame", "func_globals",
    }
)


#: Plain (undotted) names that are themselves a way into builtins or a module namespace.
REFLECTIVE_NAMES = frozenset(
    {"__builtins__", "__dict__", "__loader__", "__spec__", "__import__", "__globals__", "__subclasses__",
     "__getattribute__", "__class__", "__code__", "__self__"}
)


def normalise_module(module: str, aliases: Mapping[str, str]) -> str:
    """Map aliased module names (``posix`` → ``os``, ``numpy.core.x`` → ``numpy._core.x``) to canonical ones.

    Longest matching dotted prefix wins so submodules of an alias are mapped too.
    """
    parts = module.split(".")
    for cut in range(len(parts), 0, -1):
        head = ".".join(parts[:cut])
        target = aliases.get(head)
        if target is not None and target != head:
            return ".".join([target, *parts[cut:]])
    return module


@dataclass(frozen=True, eq=False)
class Policy:
    """Immutable policy: tiers, aliases, severity overrides, suppressions and limits."""

    safe: tuple[Entry, ...]
    dangerous: tuple[Entry, ...]
    aliases: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_ALIASES))
    severity_overrides: Mapping[str, Severity] = field(default_factory=dict)
    suppress: frozenset[str] = frozenset()
    limits: Limits = field(default_factory=Limits)
    sources: tuple[str, ...] = ()
    extensions: Mapping[int, tuple[str, str]] = field(default_factory=dict)
    #: Report card (``[score]``): weight of each risk level in the overall score.
    score_weights: Mapping[str, float] = field(
        default_factory=lambda: {"critical": 10.0, "high": 7.5, "medium": 5.0, "low": 2.5}
    )
    #: Report card: per-check risk overrides (check name → risk level, or "ignore" to leave it out).
    score_risks: Mapping[str, str] = field(default_factory=dict)
    #: Report card: highest overall score when the scanner reports a finding of this severity.
    score_caps: Mapping[str, float] = field(default_factory=lambda: {"critical": 2.0, "high": 4.0})

    # ---- classification -------------------------------------------------------------------------

    def classify(self, module: str, name: str) -> Verdict:
        """Classify ``module``/``name`` as a pickle's find_class would resolve it."""
        return _classify_cached(self, module, name)

    def _compiled(self) -> tuple[_Tier, _Tier]:
        return _compile_tiers(self)

    # ---- merging --------------------------------------------------------------------------------

    def merged(self, data: Mapping[str, Any], source: str) -> Policy:
        """Return a new policy with a user policy table (``[tool.mlvet]`` or a policy file) applied."""
        return _merge(self, data, source)


_WILDCARDS = frozenset("*?[")


@dataclass
class _Tier:
    """A tier prepared for matching: exact names and whole modules in dicts, only real globs as regexes.

    Most entries are exact (``builtins:eval``) or whole modules (``subprocess``); looking those up in a dict
    keeps policy set-up and classification cheap (no regex compiled or tried for them).
    """

    exact: dict[str, Entry] = field(default_factory=dict)
    modules: dict[str, Entry] = field(default_factory=dict)
    globs: list[tuple[re.Pattern[str], Entry]] = field(default_factory=list)

    def match(self, cand: str) -> Entry | None:
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


def _prepare(entries: Iterable[Entry]) -> _Tier:
    tier = _Tier()
    for e in entries:
        if not _WILDCARDS & set(e.pattern):
            if ":" in e.pattern:
                tier.exact.setdefault(e.pattern, e)
            else:
                tier.modules.setdefault(e.pattern, e)
            continue
        try:
            tier.globs.append((re.compile(e.regex() + r"\Z", re.DOTALL), e))
        except re.error as exc:
            raise PolicyError(f"bad pattern {e.pattern!r} in {e.source}: {exc}") from None
    return tier


@lru_cache(maxsize=16)
def _compile_tiers(policy: Policy) -> tuple[_Tier, _Tier]:
    return _prepare(policy.safe), _prepare(policy.dangerous)


def _candidates(module: str, name: str) -> list[str]:
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


@lru_cache(maxsize=65536)
def _classify_cached(policy: Policy, module: str, name: str) -> Verdict:
    canonical = normalise_module(module, policy.aliases)
    qualified = f"{canonical}.{name}" if name else canonical
    safe, dangerous = policy._compiled()
    attrs = name.split(".")
    if (len(attrs) > 1 and any(a in REFLECTIVE_ATTRS for a in attrs)) or name in REFLECTIVE_NAMES:
        return Verdict(Tier.DANGEROUS, qualified, "walks through reflective dunder attributes", "reflective")
    if not module or any(ch.isspace() or ord(ch) < 32 for ch in module + name):
        return Verdict(Tier.DANGEROUS, qualified, "malformed import name (whitespace or control characters)")
    candidates = _candidates(canonical, name)
    if canonical != module:
        candidates += _candidates(module, name)
    for cand in candidates:
        hit = dangerous.match(cand)
        if hit is not None:
            return Verdict(Tier.DANGEROUS, qualified, hit.reason, hit.pattern)
    # Safe only on an exact (non-walking) reading, and a dotted name only for an entry that spells out a
    # dotted name: a trusted class must not launder an attribute walk (``DataFrame.to_csv``).
    cand = f"{canonical}:{name}"
    hit = safe.match(cand)
    if hit is not None and ("." not in name or "." in hit.pattern.partition(":")[2]):
        return Verdict(Tier.SAFE, qualified, hit.reason, hit.pattern)
    return Verdict(Tier.UNKNOWN, qualified, "not in the safe or dangerous tier of the policy")


# ---- loading ----------------------------------------------------------------------------------------


def _entries(items: Any, tier: str, source: str) -> tuple[Entry, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise PolicyError(f"{source}: '{tier}' must be an array of tables or strings")
    out = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            out.append(Entry(item, f"listed in {source}", source))
            continue
        if not isinstance(item, dict) or not isinstance(item.get("match"), str):
            raise PolicyError(f"{source}: {tier}[{i}] needs a string 'match' (a module:name glob)")
        reason = item.get("reason", f"listed in {source}")
        if not isinstance(reason, str):
            raise PolicyError(f"{source}: {tier}[{i}].reason must be a string")
        unknown_keys = set(item) - {"match", "reason"}
        if unknown_keys:
            raise PolicyError(f"{source}: {tier}[{i}] has unknown keys {sorted(unknown_keys)}")
        out.append(Entry(item["match"], reason, source))
    for e in out:
        if source.startswith("builtin:"):
            break  # the shipped policy's patterns are checked by the test suite, not on every start
        try:
            re.compile(e.regex())
        except re.error as exc:
            raise PolicyError(f"{source}: bad pattern {e.pattern!r}: {exc}") from None
    return tuple(out)


_TOP_KEYS = {
    "safe", "dangerous", "remove_safe", "remove_dangerous", "aliases", "severity", "suppress", "limits",
    "extensions", "replace_defaults", "score",
}


def _merge(base: Policy, data: Mapping[str, Any], source: str) -> Policy:
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise PolicyError(f"{source}: unknown policy keys {sorted(unknown)}; expected some of {sorted(_TOP_KEYS)}")
    replace_defaults = data.get("replace_defaults", False)
    if not isinstance(replace_defaults, bool):
        raise PolicyError(f"{source}: replace_defaults must be true or false")
    safe = () if replace_defaults else base.safe
    dangerous = () if replace_defaults else base.dangerous
    for key, tier in (("remove_safe", "safe"), ("remove_dangerous", "dangerous")):
        removals = data.get(key, [])
        if not isinstance(removals, list) or not all(isinstance(r, str) for r in removals):
            raise PolicyError(f"{source}: {key} must be an array of patterns")
        if tier == "safe":
            safe = tuple(e for e in safe if e.pattern not in removals)
        else:
            dangerous = tuple(e for e in dangerous if e.pattern not in removals)
    safe = safe + _entries(data.get("safe"), "safe", source)
    dangerous = dangerous + _entries(data.get("dangerous"), "dangerous", source)

    aliases = dict(base.aliases)
    extra_aliases = data.get("aliases", {})
    if not isinstance(extra_aliases, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in extra_aliases.items()
    ):
        raise PolicyError(f"{source}: aliases must be a table of module = \"canonical.module\"")
    aliases.update(extra_aliases)

    overrides = dict(base.severity_overrides)
    sev_table = data.get("severity", {})
    if not isinstance(sev_table, dict):
        raise PolicyError(f"{source}: severity must be a table of RULE_ID = \"level\"")
    for rule_id, level in sev_table.items():
        if not isinstance(level, str):
            raise PolicyError(f"{source}: severity.{rule_id} must be a string")
        try:
            overrides[rule_id] = Severity.parse(level)
        except ValueError as exc:
            raise PolicyError(f"{source}: severity.{rule_id}: {exc}") from None

    suppress = data.get("suppress", [])
    if not isinstance(suppress, list) or not all(isinstance(s, str) for s in suppress):
        raise PolicyError(f"{source}: suppress must be an array of rule ids")
    _check_rule_ids([*suppress, *sev_table], source)

    limits = base.limits
    lim_table = data.get("limits", {})
    if not isinstance(lim_table, dict):
        raise PolicyError(f"{source}: limits must be a table")
    if lim_table:
        limits = limits.updated(lim_table, source)

    ext = dict(base.extensions)
    ext_table = data.get("extensions", {})
    if not isinstance(ext_table, dict):
        raise PolicyError(f"{source}: extensions must be a table of code = \"module:name\"")
    for code, target in ext_table.items():
        if not (str(code).isdigit() and isinstance(target, str) and ":" in target):
            raise PolicyError(f"{source}: extensions.{code} must map a number to \"module:name\"")
        mod, nm = target.split(":", 1)
        ext[int(code)] = (mod, nm)

    weights, risks, caps = _merge_score(base, data.get("score", {}), source)

    return replace(
        base,
        score_weights=weights,
        score_risks=risks,
        score_caps=caps,
        safe=safe,
        dangerous=dangerous,
        aliases=aliases,
        severity_overrides=overrides,
        suppress=base.suppress | frozenset(suppress),
        limits=limits,
        sources=(*base.sources, source),
        extensions=ext,
    )


_RISKS = ("critical", "high", "medium", "low")
_SCORE_KEYS = {"weights", "risk", "caps"}


def _number(value: Any, lo: float, hi: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        return None
    return float(value)


def _merge_score(
    base: Policy, table: Any, source: str
) -> tuple[dict[str, float], dict[str, str], dict[str, float]]:
    """Apply a ``[score]`` table (report card weights, per-check risks, severity caps); every key checked."""
    weights, risks, caps = dict(base.score_weights), dict(base.score_risks), dict(base.score_caps)
    if not isinstance(table, dict):
        raise PolicyError(f"{source}: score must be a table")
    unknown = set(table) - _SCORE_KEYS
    if unknown:
        raise PolicyError(f"{source}: unknown score keys {sorted(unknown)}; expected some of {sorted(_SCORE_KEYS)}")
    w_table = table.get("weights", {})
    if not isinstance(w_table, dict):
        raise PolicyError(f"{source}: score.weights must be a table of risk = number")
    for risk, value in w_table.items():
        number = _number(value, 0, 100)
        if risk not in _RISKS or number is None:
            raise PolicyError(f"{source}: score.weights.{risk}: expected one of {', '.join(_RISKS)} = a number "
                              "from 0 to 100")
        weights[risk] = number
    r_table = table.get("risk", {})
    if not isinstance(r_table, dict):
        raise PolicyError(f"{source}: score.risk must be a table of check = \"risk\"")
    for check, level in r_table.items():
        if not isinstance(level, str) or level.strip().lower() not in (*_RISKS, "ignore"):
            raise PolicyError(f"{source}: score.risk.{check} must be one of {', '.join(_RISKS)}, ignore")
        risks[check] = level.strip().lower()
    if r_table:
        from mlvet.trust.score.base import check_names

        known = check_names()
        bad = sorted(set(r_table) - known)
        if bad:
            raise PolicyError(f"{source}: unknown report-card check(s) {', '.join(bad)}; known: "
                              f"{', '.join(sorted(known))}")
    c_table = table.get("caps", {})
    if not isinstance(c_table, dict):
        raise PolicyError(f"{source}: score.caps must be a table of severity = number")
    for sev, value in c_table.items():
        number = _number(value, 0, 10)
        if sev not in ("critical", "high", "medium", "low", "info") or number is None:
            raise PolicyError(f"{source}: score.caps.{sev}: expected a severity (critical, high, medium, low, "
                              "info) = a number from 0 to 10")
        caps[sev] = number
    return weights, risks, caps


def _check_rule_ids(ids: list[str], source: str) -> None:
    """A typo in a suppression would silently suppress nothing: unknown rule ids are errors."""
    if not ids:
        return
    from mlvet.formats import import_all

    import_all()  # format modules register their rules on import
    from mlvet.rules import all_rules

    known = {r.id for r in all_rules()}
    unknown = sorted(set(ids) - known)
    if unknown:
        raise PolicyError(f"{source}: unknown rule id(s) {', '.join(unknown)}; `mlvet rules` lists them")


def default_policy_data() -> dict[str, Any]:
    """The shipped policy as data, parsed from ``default.toml`` (the file people read and edit)."""
    text = resources.files("mlvet.policy").joinpath("default.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The shipped policy.

    ``default.toml`` is the source; ``default.json`` is the same data, generated from it
    (``python -m mlvet.policy``) because the pure-Python TOML parser costs ~50 ms on every start while
    JSON parses in C. A test keeps the two identical.
    """
    import json

    twin = resources.files("mlvet.policy").joinpath("default.json")
    try:
        data = json.loads(twin.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = default_policy_data()
    base = Policy(safe=(), dangerous=(), sources=())
    return _merge(base, data, "builtin:default.toml")


def load_policy_file(path: str | Path, base: Policy | None = None) -> Policy:
    """Apply a user policy file (TOML; either top-level keys or a ``[tool.mlvet]`` table)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read policy file {p}: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"policy file {p} is not valid TOML: {exc}") from None
    tool = data.get("tool", {})
    if isinstance(tool, dict) and "mlvet" in tool:
        data = tool["mlvet"]
    if not isinstance(data, dict):
        raise PolicyError(f"policy file {p}: expected a table")
    return _merge(base or default_policy(), data, str(p))


def load_pyproject(start: Path, base: Policy | None = None) -> Policy | None:
    """Find the nearest ``pyproject.toml`` with a ``[tool.mlvet]`` table at or above ``start``."""
    here = start.resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            try:
                data = tomllib.loads(candidate.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                raise PolicyError(f"cannot read {candidate}: {exc}") from None
            table = data.get("tool", {}).get("mlvet")
            if table is None:
                return None
            if not isinstance(table, dict):
                raise PolicyError(f"{candidate}: [tool.mlvet] must be a table")
            return _merge(base or default_policy(), table, f"{candidate}[tool.mlvet]")
    return None
