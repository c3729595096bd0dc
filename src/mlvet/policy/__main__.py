"""Regenerate ``default.json`` from ``default.toml``: ``python -m mlvet.policy``."""

import json
from pathlib import Path

from mlvet.policy import default_policy_data

target = Path(__file__).with_name("default.json")
target.write_text(json.dumps(default_policy_data(), indent=0, sort_keys=True) + "\n", encoding="utf-8")
print(f"wrote {target}")
