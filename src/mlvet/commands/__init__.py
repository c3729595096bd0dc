"""CLI sub-commands, one module each.

Every module in this package defines ``register(group)`` which adds its click command(s) to the
``mlvet`` group, and is listed once in :data:`COMMANDS`; a new command is a new module plus its name
there, never an edit of ``cli.py``. (The list is static on purpose: mlvet imports nothing by a
computed name, see ``tests/integration/test_never_execute.py``.) Modules import only click at import
time; the analysis code they drive is imported inside the command body, keeping ``mlvet --help`` fast.
"""

from __future__ import annotations

from typing import Any

from mlvet.errors import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_USAGE

__all__ = ["EXIT_CLEAN", "EXIT_FINDINGS", "EXIT_INCOMPLETE", "EXIT_USAGE", "register_all"]


def register_all(group: Any) -> None:
    """Import every command module and let it register itself on ``group`` (help lists them in this order)."""
    from mlvet.commands import assets, bom, convert, data, diff, guard, inventory, rules, scan, score, sign, verify

    for module in (scan, inventory, assets, bom, score, sign, verify, diff, convert, data, guard, rules):
        module.register(group)
