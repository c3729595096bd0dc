"""Safety limits in one place. Every limit hit becomes a finding or an error result, never a hang.

Defaults are generous enough for real multi-GB checkpoints (a limit must never turn a large benign file
into a "critical" verdict) and tight enough that a bomb is stopped early. Users override them in the
policy (``[tool.mlvet.limits]``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

from mlvet.errors import PolicyError

_MiB = 1024 * 1024
_GiB = 1024 * _MiB


@dataclass(frozen=True)
class Limits:
    """Safety limits of one scan: every bound on depth, size, count and time (policy ``[limits]`` overrides)."""

    #: How deep archives may nest (zip in tar in 7z ...).
    max_depth: int = 8
    #: Members examined in one archive.
    max_members: int = 100_000
    #: Decompressed bytes of one member (or one compressed stream).
    max_member_bytes: int = 16 * _GiB
    #: Decompressed bytes across one top-level input, all members together.
    max_total_bytes: int = 64 * _GiB
    #: Largest allowed decompressed/compressed ratio for members bigger than ``ratio_floor_bytes``.
    max_ratio: int = 200
    ratio_floor_bytes: int = 64 * _MiB
    #: Nested pickles followed inside one pickle (bytes fed to loads, object arrays ...).
    max_pickle_nesting: int = 8
    #: Symbolic stack depth; deeper streams are reported instead of exhausting memory.
    max_stack: int = 1_000_000
    #: Approximate bytes of memoised values kept for analysis; beyond it values are summarised.
    memo_budget_bytes: int = 48 * _MiB
    #: Items kept per container for evidence (the count is always exact).
    container_items: int = 64
    #: Longest string kept verbatim on the symbolic stack.
    max_string: int = 4096
    #: Pickle streams read one after another from one file.
    max_pickles_per_stream: int = 64
    #: Files examined under one folder.
    max_files: int = 1_000_000

    def updated(self, table: Mapping[str, Any], source: str) -> Limits:
        """Return a copy with values from a policy table; unknown keys and bad values are errors."""
        known = {f.name for f in fields(self)}
        changes: dict[str, int] = {}
        for key, value in table.items():
            if key not in known:
                raise PolicyError(f"{source}: unknown limit {key!r}; known limits: {', '.join(sorted(known))}")
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise PolicyError(f"{source}: limit {key} must be a positive integer")
            changes[key] = value
        return replace(self, **changes)
