"""Regenerate the JSON twins (``default.json``, ``semantics.json``, ``state_checks.json``) from their TOML
sources: ``python -m mlvet.policy``."""

from mlvet.policy.shipped import write_twins

for target in write_twins():
    print(f"wrote {target}")
