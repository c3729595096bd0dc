"""Reading policies: the shipped default, a policy file the user names, and discovered project config.

Precedence, lowest first: the shipped ``default.toml``; a ``[tool.mlvet]`` table found by discovery in the
nearest ``pyproject.toml``; a ``--policy FILE`` the user passes. Only what the user passes explicitly may
weaken a scan (mark callables safe, suppress or lower findings, re-alias modules): a discovered table sits
in the folder being scanned as often as in the user's own project, so a downloaded repository could
otherwise suppress the findings about itself. From discovered configuration only the strengthening keys
apply; everything else is ignored with a warning that every output shows.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from mlvet.errors import PolicyError
from mlvet.model import Severity
from mlvet.policy import shipped
from mlvet.policy.core import Policy
from mlvet.policy.derived import SINKS
from mlvet.policy.tiers import USES, Entry

#: Every key a policy table may have.
TOP_KEYS = frozenset({
    "safe", "dangerous", "remove_safe", "remove_dangerous", "aliases", "severity", "suppress", "limits",
    "extensions", "replace_defaults", "score",
})
#: Keys that can only make a scan stricter; the only ones discovered configuration may use (``severity``
#: too, but only entries that raise a rule above its shipped level).
STRENGTHENING_KEYS = frozenset({"dangerous", "remove_safe", "limits"})

#: The default severity of a rule id, or None if unknown; given by the layer that knows the rules.
RuleSeverity = Callable[[str], "Severity | None"]


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
        allowed = {"match", "reason", "use", "accept"} if tier == "safe" else {"match", "reason"}
        unknown_keys = set(item) - allowed
        if unknown_keys:
            raise PolicyError(f"{source}: {tier}[{i}] has unknown keys {sorted(unknown_keys)}")
        use = item.get("use", "any")
        if use not in USES:
            raise PolicyError(f"{source}: {tier}[{i}].use must be one of {', '.join(USES)}")
        accept = item.get("accept", [])
        if not isinstance(accept, list) or not all(isinstance(a, str) and a in SINKS for a in accept):
            raise PolicyError(f"{source}: {tier}[{i}].accept must be a list of sink kinds ({', '.join(SINKS)})")
        out.append(Entry(item["match"], reason, source, use, tuple(accept)))
    for e in out:
        if source.startswith("builtin:"):
            break  # the shipped policy's patterns are checked by the test suite, not on every start
        try:
            re.compile(e.regex())
        except re.error as exc:
            raise PolicyError(f"{source}: bad pattern {e.pattern!r}: {exc}") from None
    return tuple(out)


def _weakening(
    data: Mapping[str, Any], source: str, rule_severity: RuleSeverity | None
) -> tuple[dict[str, Any], list[str]]:
    """Split a discovered table into what may apply (strengthening) and warnings for what may not."""
    kept: dict[str, Any] = {k: v for k, v in data.items() if k in STRENGTHENING_KEYS}
    ignored = sorted(k for k in data if k not in STRENGTHENING_KEYS and k != "severity")
    warnings = []
    sev = data.get("severity")
    if isinstance(sev, dict):
        raised: dict[str, Any] = {}
        lowered = []
        for rule_id, level in sev.items():
            try:
                new = Severity.parse(level) if isinstance(level, str) else None
            except ValueError:
                new = None
            old = rule_severity(rule_id) if rule_severity is not None else None
            if new is not None and old is not None and new >= old:
                raised[rule_id] = level
            else:
                lowered.append(str(rule_id))
        if raised:
            kept["severity"] = raised
        if lowered:
            warnings.append(f"{source}: ignored severity overrides that lower or cannot be checked "
                            f"({', '.join(sorted(lowered))}): only --policy may lower a finding")
    elif sev is not None:
        kept["severity"] = sev  # malformed: let the merge report it
    if ignored:
        warnings.append(f"{source}: ignored {', '.join(ignored)} — configuration found by discovery may only "
                        "strengthen a scan (add dangerous entries, remove safe ones, raise severities); "
                        "pass the file with --policy to apply it")
    return kept, warnings


def merge(
    base: Policy,
    data: Mapping[str, Any],
    source: str,
    *,
    explicit: bool = True,
    rule_severity: RuleSeverity | None = None,
) -> Policy:
    """Return ``base`` with one policy table applied; every key and value is checked (PolicyError).

    ``explicit=False`` (discovered configuration) applies only the strengthening keys; the rest is ignored
    and recorded in ``Policy.warnings``. ``rule_severity`` tells which severity overrides raise a rule.
    """
    unknown = set(data) - TOP_KEYS
    if unknown:
        raise PolicyError(f"{source}: unknown policy keys {sorted(unknown)}; expected some of {sorted(TOP_KEYS)}")
    warnings: list[str] = []
    if not explicit:
        merge(base, data, source)  # a malformed table is an error even where it would not all apply
        data, warnings = _weakening(data, source, rule_severity)
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
    override_sources = dict(base.override_sources)
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
        override_sources[rule_id] = source

    suppress = data.get("suppress", [])
    if not isinstance(suppress, list) or not all(isinstance(s, str) for s in suppress):
        raise PolicyError(f"{source}: suppress must be an array of rule ids")
    suppress_sources = dict(base.suppress_sources)
    suppress_sources.update((rule_id, source) for rule_id in suppress)

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

    score = dict(base.score)
    score_table = data.get("score", {})
    if not isinstance(score_table, dict):
        raise PolicyError(f"{source}: score must be a table")
    for key, value in score_table.items():
        if isinstance(value, dict) and isinstance(score.get(key), dict):
            score[key] = {**score[key], **value}
        else:
            score[key] = value

    return replace(
        base,
        safe=safe,
        dangerous=dangerous,
        aliases=aliases,
        severity_overrides=overrides,
        override_sources=override_sources,
        suppress=base.suppress | frozenset(suppress),
        suppress_sources=suppress_sources,
        limits=limits,
        sources=(*base.sources, source),
        extensions=ext,
        score=score,
        warnings=(*base.warnings, *warnings),
    )


def default_policy_data() -> dict[str, Any]:
    """The shipped policy as data, parsed from ``default.toml`` (the file people read and edit)."""
    return shipped.toml_data("default")


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The shipped policy.

    ``default.toml`` is the source; ``default.json`` is the same data, generated from it
    (``python -m mlvet.policy``) because the pure-Python TOML parser costs ~50 ms on every start while
    JSON parses in C. A test keeps the two identical (see :mod:`mlvet.policy.shipped`).
    """
    data = shipped.data("default")
    base = Policy(safe=(), dangerous=(), sources=())
    return merge(base, data, "builtin:default.toml")


def _read_toml(p: Path, what: str) -> dict[str, Any]:
    if sys.version_info >= (3, 11):  # pragma: no cover - version switch (imported only for a user's file)
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise PolicyError(f"cannot read {what} {p}: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise PolicyError(f"{what} {p} is not valid TOML: {exc}") from None


def load_policy_file(path: str | Path, base: Policy | None = None) -> Policy:
    """Apply a policy file the user names (TOML; top-level keys or a ``[tool.mlvet]`` table), in full."""
    p = Path(path)
    data: Any = _read_toml(p, "policy file")
    tool = data.get("tool", {})
    if isinstance(tool, dict) and "mlvet" in tool:
        data = tool["mlvet"]
    if not isinstance(data, dict):
        raise PolicyError(f"policy file {p}: expected a table")
    return merge(base or default_policy(), data, str(p))


def _may_name_mlvet(p: Path) -> bool:
    """Whether ``p`` can hold a ``[tool.mlvet]`` table: the key spelt out, or an escape in a quoted key.

    Most projects' ``pyproject.toml`` never mention mlvet; skipping their parse spares every per-file scan the
    TOML parser (~10 ms). A file that cannot be read is parsed as before, so its error is still reported.
    """
    try:
        raw = p.read_bytes()
    except OSError:
        return True
    return b"mlvet" in raw or b"\\u" in raw or b"\\U" in raw


def find_pyproject(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """The nearest ``pyproject.toml`` at or above ``start`` and its ``[tool.mlvet]`` table, if it has one."""
    here = start.resolve()
    for folder in (here, *here.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            if not _may_name_mlvet(candidate):
                return None
            data = _read_toml(candidate, "project file")
            tool = data.get("tool", {})
            table = tool.get("mlvet") if isinstance(tool, dict) else None
            if table is None:
                return None
            if not isinstance(table, dict):
                raise PolicyError(f"{candidate}: [tool.mlvet] must be a table")
            return candidate, table
    return None


def load_pyproject(
    start: Path, base: Policy | None = None, *, rule_severity: RuleSeverity | None = None
) -> Policy | None:
    """Apply the nearest ``pyproject.toml`` ``[tool.mlvet]`` at or above ``start``, strengthening keys only.

    Found by discovery, never named by the user: see the module docstring for why it cannot weaken a scan.
    """
    found = find_pyproject(start)
    if found is None:
        return None
    path, table = found
    return merge(base or default_policy(), table, f"{path}[tool.mlvet]", explicit=False,
                 rule_severity=rule_severity)
