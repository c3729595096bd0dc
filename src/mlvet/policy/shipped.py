"""The policy layer's shipped data files: TOML sources people read and edit, and their generated JSON twins.

Every scan needs ``default.toml``, ``semantics.toml`` and ``state_checks.toml``. Parsing them with the
pure-Python TOML parser (and importing it) costs tens of milliseconds on every start, paid per file by a
pre-commit hook, while JSON parses in C. So ``python -m mlvet.policy`` writes a ``.json`` twin beside each
source, the scanner reads the twin, and ``tests/unit/test_policy_data.py`` fails when a twin differs from its
source. A missing or unreadable twin falls back to the TOML source: slower, never different.

The files are read beside this module (not through ``importlib.resources``, another ~10 ms of imports):
mlvet is installed as files, never imported from a zip.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

#: The TOML sources that have a generated JSON twin (without the extension).
TWINNED = ("default", "semantics", "state_checks")

_HERE = os.path.dirname(os.path.abspath(__file__))


def path(name: str) -> str:
    """The path of the shipped data file ``name`` (e.g. ``"semantics.toml"``)."""
    return os.path.join(_HERE, name)


def read_text(name: str) -> str:
    """The text of the shipped data file ``name``."""
    with open(path(name), encoding="utf-8") as f:
        return f.read()


def toml_data(stem: str) -> dict[str, Any]:
    """The TOML source ``<stem>.toml`` parsed (the reference the JSON twin must equal)."""
    if sys.version_info >= (3, 11):  # pragma: no cover - version switch
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    data: dict[str, Any] = tomllib.loads(read_text(f"{stem}.toml"))
    return data


def data(stem: str) -> dict[str, Any]:
    """The shipped data of ``<stem>.toml``, read from its JSON twin (falling back to the TOML source)."""
    try:
        loaded = json.loads(read_text(f"{stem}.json"))
    except (OSError, ValueError):
        return toml_data(stem)
    if not isinstance(loaded, dict):
        return toml_data(stem)
    return loaded


def dump(stem: str) -> str:
    """The JSON twin's text for ``<stem>.toml`` (what ``python -m mlvet.policy`` writes)."""
    return json.dumps(toml_data(stem), indent=0, sort_keys=True) + "\n"


def write_twins() -> list[str]:
    """Regenerate every JSON twin from its TOML source; returns the paths written."""
    written = []
    for stem in TWINNED:
        target = path(f"{stem}.json")
        with open(target, "w", encoding="utf-8") as f:
            f.write(dump(stem))
        written.append(target)
    return written
