"""PyTorch Lightning checkpoints: the hyper-parameters ``load_from_checkpoint`` turns into imports and calls.

A Lightning ``.ckpt`` is an ordinary torch checkpoint (zip + pickle; the pickle analysis covers what
``torch.load`` does) whose top-level dict has ``pytorch-lightning_version``, ``state_dict``, ``loops``,
``callbacks``, ``optimizer_states``, ``hparams_name``, ``hyper_parameters`` and, with a datamodule,
``datamodule_hyper_parameters``. Past the unpickling, ``LightningModule.load_from_checkpoint`` (and the
datamodule's) reads two more code paths from plain strings in those dicts, which no pickle check sees:

* ``hyper_parameters["_instantiator"]``: a dotted path that ``lightning.pytorch.core.saving._load_state``
  imports and calls with the class and the hyper-parameters. Lightning up to 2.5 accepted any path;
  2.6 accepts only ``lightning.pytorch.cli.instantiate_module`` (and the ``pytorch_lightning`` twin).
  Anything else is OTH095, high (critical for a process or code-execution callable).
* ``_class_path`` and nested ``class_path``/``init_args`` configs (written by LightningCLI): the CLI
  instantiator hands them to jsonargparse, which imports each class path and constructs it with its
  ``init_args``. Ordinary CLI checkpoints name the project's and torch's classes: OTH096 at info, listed for
  review; a dangerous callable (by the same tables that rank Hydra ``_target_`` entries) is critical.

The checks read the symbolic value the pickle machine built (never a real object). Containers keep a
bounded number of items; when the hyper-parameters were cut short, the raw pickle bytes are searched for
the key names instead, so a padded dict cannot hide an ``_instantiator``.
"""

from __future__ import annotations

import sys
from typing import Any, BinaryIO

from mlvet.analysis.pyast.tables import canonical, lookup
from mlvet.analysis.values import PDict, PList
from mlvet.formats.base import ScanContext
from mlvet.model import Severity
from mlvet.policy.tiers import Tier
from mlvet.rules import OTH095, OTH096

#: Lightning 2.6's ``_ALLOWED_INSTANTIATORS``: the LightningCLI instantiator only.
ALLOWED_INSTANTIATORS = frozenset(
    {"lightning.pytorch.cli.instantiate_module", "pytorch_lightning.cli.instantiate_module"}
)
#: Top-level keys whose dicts load_from_checkpoint passes to the class (old keys included).
HPARAM_KEYS = ("hyper_parameters", "datamodule_hyper_parameters", "hparams", "module_arguments")
#: Pickles up to this size are run through the full machine so their value can be read.
MAX_VALUE_BYTES = 8 * 1024 * 1024
#: Byte markers that make a pickle worth reading as a value (``\\u``: protocol-0 escapes can spell keys).
_MARKERS = (b"hyper_parameters", b"hparams", b"module_arguments", b"_instantiator", b"class_path", b"\\u")
_CRITICAL_CATEGORIES = frozenset({"process", "exec", "native", "obfuscated", "builtins"})
_MAX_DEPTH = 32


def wants_value(stream: BinaryIO, start: int, end: int) -> bool:
    """True when a small pickle mentions Lightning's hyper-parameter keys (its value must then be built)."""
    if end <= start or end - start > MAX_VALUE_BYTES:
        return False
    here = stream.tell()
    try:
        stream.seek(start)
        data = stream.read(end - start)
    finally:
        stream.seek(here)
    return any(m in data for m in _MARKERS)


def _items(value: Any) -> list[tuple[str, Any]]:
    if not isinstance(value, PDict):
        return []
    return [(k, v) for k, v in value if isinstance(k, str)]


def _get(value: Any, key: str) -> Any:
    for k, v in _items(value):
        if k == key:
            return v
    return None


def check_checkpoint_value(result: Any, ctx: ScanContext, stream: BinaryIO, start: int, end: int) -> None:
    """Report Lightning's instantiation paths in a checkpoint's top-level dict (no-op for other pickles)."""
    for key in HPARAM_KEYS:
        hp = _get(result, key)
        if not isinstance(hp, PDict):
            continue
        _check_instantiator(hp, key, ctx)
        _check_class_paths(hp, key, ctx, 0)
        if hp.extra and wants_value(stream, start, end):
            ctx.report(OTH095, f"{key} has more entries than mlvet keeps ({len(hp) + hp.extra}); the pickle mentions "
                       "Lightning's instantiation keys, which could not all be resolved", severity=Severity.MEDIUM,
                       evidence=f"{key}: {len(hp) + hp.extra} entries")


def _rank(path: str, ctx: ScanContext) -> tuple[Severity, str] | None:
    """Severity and reason for a dotted callable (None: an ordinary class)."""
    known = lookup(canonical(path))
    if known is not None:
        category, _, what = known
        return (Severity.CRITICAL if category in _CRITICAL_CATEGORIES else Severity.HIGH), f"which {what}"
    module, _, name = path.rpartition(".")
    if module and name:
        verdict = ctx.policy.classify(module, name)
        if verdict.tier is Tier.DANGEROUS:
            return Severity.HIGH, "a callable the policy lists as dangerous"
        if verdict.tier is Tier.SAFE:
            return None
    if module.split(".")[0] in sys.stdlib_module_names and module.split(".")[0] != "builtins":
        return Severity.MEDIUM, "a standard-library callable, which a model has no reason to instantiate"
    if module.split(".")[0] == "builtins":
        return Severity.HIGH, "a builtin"
    return None


def _check_instantiator(hp: PDict, key: str, ctx: ScanContext) -> None:
    value = _get(hp, "_instantiator")
    if value is None or value in ALLOWED_INSTANTIATORS:
        return
    text = value if isinstance(value, str) else type(value).__name__
    ranked = _rank(text, ctx) if isinstance(value, str) else None
    severity = ranked[0] if ranked is not None and ranked[0] >= Severity.CRITICAL else Severity.HIGH
    why = f" ({ranked[1]})" if ranked is not None else ""
    ctx.report(OTH095, f"{key}['_instantiator'] = {text!r}{why}: load_from_checkpoint (Lightning up to 2.5) imports "
               "this path and calls it with the class and the hyper-parameters; Lightning 2.6 allows only its "
               "own CLI instantiator", severity=severity, evidence=f"'_instantiator': {text!r}"[:300])


def _check_class_paths(node: Any, where: str, ctx: ScanContext, depth: int) -> None:
    if depth > _MAX_DEPTH:
        return
    if isinstance(node, PList | tuple):
        for i, item in enumerate(node):
            _check_class_paths(item, f"{where}[{i}]", ctx, depth + 1)
        return
    for k, v in _items(node):
        if k in ("_class_path", "class_path") and isinstance(v, str):
            ranked = _rank(v, ctx)
            init = _get(node, "init_args")
            args = f" with init_args {sorted(k2 for k2, _ in _items(init))}" if init is not None else ""
            if ranked is None:
                ctx.report(OTH096, f"{where}.{k} = {v!r}: the Lightning CLI instantiator imports and constructs "
                           f"this class{args} when the checkpoint is loaded (an ordinary class; listed for review)",
                           evidence=f"{k!r}: {v!r}"[:300])
            else:
                ctx.report(OTH096, f"{where}.{k} = {v!r} ({ranked[1]}): the Lightning CLI instantiator imports and "
                           f"calls it{args} when the checkpoint is loaded", severity=max(ranked[0], Severity.HIGH),
                           evidence=f"{k!r}: {v!r}"[:300])
        else:
            _check_class_paths(v, f"{where}.{k}", ctx, depth + 1)
