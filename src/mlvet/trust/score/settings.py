"""The report card's settings from the policy's ``[score]`` table, validated here, where they are used.

The policy layer carries the table as written; only the report card knows its checks and risk levels,
so only it can say whether ``risk = { signatur = "low" }`` is a typo. Every key is checked and a bad
value is a :class:`~mlvet.errors.PolicyError` (exit 4 from the CLI) before any score is computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mlvet.errors import PolicyError
from mlvet.policy import Policy

_RISKS = ("critical", "high", "medium", "low")
_KEYS = frozenset({"weights", "risk", "caps"})

#: Weight of each risk level in the overall score.
DEFAULT_WEIGHTS: Mapping[str, float] = {"critical": 10.0, "high": 7.5, "medium": 5.0, "low": 2.5}
#: Highest overall score a model can get when the scanner reports a finding of this severity.
#: A model that runs code when it is loaded is untrustworthy whatever its card, licence or signature say:
#: the good marks of the other checks must not average a critical finding away.
DEFAULT_CAPS: Mapping[str, float] = {"critical": 2.0, "high": 4.0}


@dataclass(frozen=True)
class ScoreSettings:
    """Weights per risk level, per-check risk overrides ("ignore" drops a check) and severity caps."""

    weights: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    risks: Mapping[str, str] = field(default_factory=dict)
    caps: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_CAPS))


def _number(value: Any, lo: float, hi: float) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
        return None
    return float(value)


def score_settings(policy: Policy) -> ScoreSettings:
    """Validate ``policy.score`` and return the settings (defaults for what it leaves out)."""
    table = policy.score
    source = ", ".join(s for s in policy.sources if not s.startswith("builtin:")) or "policy"
    unknown = set(table) - _KEYS
    if unknown:
        raise PolicyError(f"{source}: unknown score keys {sorted(unknown)}; expected some of {sorted(_KEYS)}")
    weights, risks, caps = dict(DEFAULT_WEIGHTS), {}, dict(DEFAULT_CAPS)
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
    return ScoreSettings(weights, risks, caps)
