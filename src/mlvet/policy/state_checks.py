"""Reviewed checks on the state a pickle hands to a class's ``__setstate__``, where that state is code.

A few classes of mainstream libraries execute part of their pickled state when they are rebuilt: SciPy's
distributions (``rv_generic.__setstate__`` runs ``exec(self._parse_arg_template)``) are the case the policy
derivation found (``python -m mlvet.policy.derive --audit``). Ordinary files carry the text the library
itself generated; an attack carries anything else. Each check names the classes, the state key, and the
exact shape the library writes (a regular expression over the whole value); the pickle analysis reports a
state value that does not have that shape. The data lives in ``state_checks.toml`` beside this module.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from mlvet.policy import shipped
from mlvet.policy.tiers import glob_to_regex


@dataclass(frozen=True)
class StateCheck:
    """Classes matching ``match`` (a ``module:qualname`` glob) must carry ``key`` only in the shape ``shape``."""

    match: str
    key: str
    shape: re.Pattern[str]
    sink: str
    reason: str
    matcher: re.Pattern[str]

    def applies(self, module: str, qualname: str) -> bool:
        """Whether an object of ``module:qualname`` is rebuilt through the checked ``__setstate__``."""
        return self.matcher.match(f"{module}:{qualname}") is not None

    def accepts(self, value: object) -> bool:
        """Whether ``value`` has the library's own shape (a non-string value is never executed as code)."""
        return not isinstance(value, str) or self.shape.fullmatch(value) is not None


@lru_cache(maxsize=1)
def state_checks() -> tuple[StateCheck, ...]:
    """The shipped checks (a missing or broken data file is a bug of mlvet itself, so it raises)."""
    out = []
    for item in shipped.data("state_checks")["check"]:  # the generated JSON twin of state_checks.toml
        shape = "".join(item["shape"])
        for name, part in item.get("parts", {}).items():
            shape = shape.replace("{" + name + "}", part)
        out.append(StateCheck(item["match"], item["key"], re.compile(shape, re.DOTALL), item["sink"],
                              item["reason"], re.compile(glob_to_regex(item["match"]) + r"\Z", re.DOTALL)))
    return tuple(out)


def check_for(module: str, qualname: str) -> tuple[StateCheck, ...]:
    """The checks that apply to objects of ``module:qualname``."""
    return tuple(c for c in state_checks() if c.applies(module, qualname))
