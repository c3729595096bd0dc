"""Hydra-style instantiation targets in model configs (``_target_``), found without instantiating anything.

Libraries built on Hydra/OmegaConf (NeMo ``restore_from``, uni2TS, FlexTok, many research repos) call
``hydra.utils.instantiate`` on the configs a model ships: every mapping with a ``_target_`` key imports
the dotted path it names and calls it with the mapping's other keys (``_args_`` positionally). A config
is therefore code: ``{"_target_": "subprocess.run", "args": ["sh", "-c", ...]}`` runs a shell command at
load time (CVE-2025-23304; Unit 42, 2026). This engine walks a parsed document (JSON or YAML data) and
returns every target with where it sits and what it is called with; the format layer ranks them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from mlvet.model import Severity
from mlvet.rules import define_rule

CFG_TARGET = define_rule(
    "HFR909", "config-instantiation-target", Severity.MEDIUM,
    "A model config names a callable in a Hydra '_target_' key: libraries that instantiate the config "
    "(hydra.utils.instantiate, NeMo restore_from, OmegaConf-based loaders) import it and call it with the "
    "mapping's other keys when the model loads.",
    "The config decides which Python callable runs, with which arguments: naming os.system, "
    "subprocess.run or builtins.exec runs code at load time (CVE-2025-23304). Targets outside the model's "
    "libraries deserve review; dangerous callables are critical.",
    "Check every _target_ against the library the model is meant for; never load a config whose target "
    "is a process, code-execution or deserialisation function.",
    94,
)

#: Keys Hydra reads as the callable to instantiate (``_call_`` is accepted by some forks).
TARGET_KEYS = ("_target_", "_call_")
#: Nodes visited per document (configs are small; a huge one is not walked further).
MAX_NODES = 200_000
#: Nesting followed (deeper structures are not configs anyone instantiates).
MAX_DEPTH = 64


@dataclass(frozen=True)
class Target:
    """One ``_target_`` entry: its JSON path, the dotted name, and a preview of the call's arguments."""

    path: str
    key: str
    target: str
    arguments: str

    @property
    def split(self) -> tuple[str, str]:
        """(module, name) as a pickle's find_class would see it, for the policy's tiers."""
        module, _, name = self.target.rpartition(".")
        return module, name


def find_targets(doc: Any) -> tuple[Target, ...]:
    """Every instantiation target in ``doc`` (a parsed JSON/YAML value), in document order."""
    return tuple(_walk(doc, "", 0, [0]))


def _walk(node: Any, path: str, depth: int, count: list[int]) -> Iterator[Target]:
    count[0] += 1
    if depth > MAX_DEPTH or count[0] > MAX_NODES:
        return
    if isinstance(node, dict):
        for key in TARGET_KEYS:
            value = node.get(key)
            if isinstance(value, str) and value.strip():
                yield Target(f"{path}.{key}" if path else key, key, value.strip(), _arguments(node, key))
        for k, v in node.items():
            if isinstance(v, (dict, list)):
                yield from _walk(v, f"{path}.{k}" if path else str(k), depth + 1, count)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            if isinstance(v, (dict, list)):
                yield from _walk(v, f"{path}[{i}]", depth + 1, count)


def _arguments(node: dict[Any, Any], key: str) -> str:
    """``k=v`` for the scalar keys and the positional ``_args_``/``args`` lists (nested configs left out)."""
    parts = [
        f"{k}={v!r}" for k, v in node.items()
        if k != key and (not isinstance(v, (dict, list)) or k in ("_args_", "args"))
    ]
    text = ", ".join(parts)
    return text if len(text) <= 200 else text[:199] + "…"
