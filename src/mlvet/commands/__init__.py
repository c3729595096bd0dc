"""CLI sub-commands, one module each.

Every module in this package defines ``register(group)`` which adds its click command to the ``mlvet``
group, and is listed once in :data:`COMMANDS`; a new command is a new module plus its entry there, never an
edit of ``cli.py``. The group imports a command's module only when that command is invoked (or when help
lists every command), so ``mlvet scan`` run once per file by a pre-commit hook does not pay for the other
ten. (The table is static on purpose: mlvet imports nothing by a computed name, see
``tests/integration/test_never_execute.py``.) Modules import only click at import time; the analysis code
they drive is imported inside the command body.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

from mlvet.errors import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_USAGE

__all__ = ["COMMANDS", "EXIT_CLEAN", "EXIT_FINDINGS", "EXIT_INCOMPLETE", "EXIT_USAGE", "register_all"]


def _scan() -> ModuleType:
    from mlvet.commands import scan

    return scan


def _inventory() -> ModuleType:
    from mlvet.commands import inventory

    return inventory


def _assets() -> ModuleType:
    from mlvet.commands import assets

    return assets


def _bom() -> ModuleType:
    from mlvet.commands import bom

    return bom


def _score() -> ModuleType:
    from mlvet.commands import score

    return score


def _sign() -> ModuleType:
    from mlvet.commands import sign

    return sign


def _verify() -> ModuleType:
    from mlvet.commands import verify

    return verify


def _diff() -> ModuleType:
    from mlvet.commands import diff

    return diff


def _convert() -> ModuleType:
    from mlvet.commands import convert

    return convert


def _rules() -> ModuleType:
    from mlvet.commands import rules

    return rules


def _guard() -> ModuleType:
    from mlvet.commands import guard

    return guard


def _data() -> ModuleType:
    from mlvet.commands import data

    return data


#: Command name -> the importer of the module that registers it; help lists them in this order.
COMMANDS: dict[str, Callable[[], ModuleType]] = {
    "scan": _scan, "inventory": _inventory, "assets": _assets, "bom": _bom, "score": _score, "sign": _sign,
    "verify": _verify, "diff": _diff, "convert": _convert, "rules": _rules,
}
COMMANDS["data"] = _data  # issue 15 (append-only)
COMMANDS["guard"] = _guard  # issue 16


def _hub_scan() -> ModuleType:
    from mlvet.commands import hub_scan

    return hub_scan


COMMANDS["hub-scan"] = _hub_scan  # issue 14 (append-only)


def register(group: Any, name: str) -> None:
    """Import the module of command ``name`` and let it register itself on ``group``."""
    COMMANDS[name]().register(group)


def register_all(group: Any) -> None:
    """Import every command module and let it register itself on ``group`` (help, completion, tests)."""
    for name in COMMANDS:
        if name not in group.commands:
            register(group, name)


def _serve() -> ModuleType:
    from mlvet.commands import serve

    return serve


def _token() -> ModuleType:
    from mlvet.commands import token

    return token


COMMANDS["serve"] = _serve  # issue 13 (server)
COMMANDS["token"] = _token  # issue 13 (server)
