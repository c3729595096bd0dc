"""The policy layer: which callables a pickle may reference, and the settings each layer reads, as data.

* :mod:`~mlvet.policy.tiers` — the safe / dangerous / unknown tiers and how a ``module:name`` reference
  is matched against them (aliases and attribute walks included);
* :mod:`~mlvet.policy.names` — module aliases and reflective names, the spellings a pickle may use;
* :mod:`~mlvet.policy.core` — the immutable :class:`Policy` value that carries tiers, rule settings
  (suppressions, severity overrides), limits and the raw tables other layers validate themselves;
* :mod:`~mlvet.policy.load` — the shipped default, explicit policy files, and discovered
  ``pyproject.toml`` tables (which may only strengthen a scan);
* :mod:`~mlvet.policy.derived` — load facts derived from the ML libraries' own source.

Dangerous always wins over safe, so a gadget inside an otherwise trusted namespace (``torch.hub.load``)
stays dangerous even though ``torch`` is trusted.
"""

from __future__ import annotations

from mlvet.policy.core import Policy
from mlvet.policy.load import default_policy, default_policy_data, load_policy_file, load_pyproject, merge
from mlvet.policy.names import DEFAULT_ALIASES, REFLECTIVE_ATTRS, REFLECTIVE_NAMES, normalise_module
from mlvet.policy.tiers import Entry, Tier, Verdict

__all__ = [
    "DEFAULT_ALIASES",
    "REFLECTIVE_ATTRS",
    "REFLECTIVE_NAMES",
    "Entry",
    "Policy",
    "Tier",
    "Verdict",
    "default_policy",
    "default_policy_data",
    "load_policy_file",
    "load_pyproject",
    "merge",
    "normalise_module",
]
