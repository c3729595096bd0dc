"""The shipped policy: default.json must be default.toml's exact twin, and every pattern must compile."""

from __future__ import annotations

import json
import re
from importlib import resources

from mlvet.policy import default_policy_data


def test_json_twin_matches_toml() -> None:
    twin = json.loads(resources.files("mlvet.policy").joinpath("default.json").read_text(encoding="utf-8"))
    assert twin == default_policy_data(), "default.json is stale: run `python -m mlvet.policy`"


def test_every_shipped_pattern_compiles_and_has_a_reason() -> None:
    from mlvet.policy import Entry

    data = default_policy_data()
    for tier in ("safe", "dangerous"):
        for item in data[tier]:
            assert item["reason"].strip(), item
            re.compile(Entry(item["match"], item["reason"], "test").regex())
