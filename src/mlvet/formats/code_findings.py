"""Findings from the code-analysis engines: chat templates, Python source and TorchScript.

The engines in :mod:`mlvet.analysis` read code and return typed results (they know nothing of scan
contexts, policies or containers); this module is where the format layer turns those results into
findings at the right location, the way :mod:`mlvet.formats.pickle` reports what the pickle machine
returns. Keeping the reporting here is what lets ``analysis/`` sit below ``formats/`` with no import back.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from mlvet.analysis import pyast
from mlvet.analysis.config_targets import CFG_TARGET, find_targets
from mlvet.analysis.pyast import CodeFinding
from mlvet.analysis.pyast.tables import canonical, lookup
from mlvet.formats.base import ScanContext
from mlvet.model import Severity
from mlvet.policy import Tier
from mlvet.rules import ARC310

#: What-it-does categories (Python-code tables) that make an instantiation target critical.
_CRITICAL_CATEGORIES = frozenset({"process", "exec", "native", "obfuscated", "builtins"})
#: Libraries whose classes Hydra configs of models instantiate as a matter of course (layers, optimisers,
#: schedulers, data modules): a target there that no table or tier calls dangerous is an ordinary component.
_ML_LIBRARIES = frozenset({
    "torch", "torchvision", "torchaudio", "nemo", "lightning", "pytorch_lightning", "transformers", "timm",
    "hydra", "omegaconf", "torchmetrics", "diffusers", "peft", "accelerate", "sklearn", "megatron",
})
#: Arguments that look like a shell command or an interpreter invocation.
_COMMAND_RE = re.compile(r"\b(?:sh|bash|cmd|powershell|python3?|curl|wget|nc)\b|/bin/|-c\b|\|\s*sh\b")


def report_template(source: str, ctx: ScanContext, *, where: str, offset: int | None = None) -> None:
    """Analyse one chat template and report its issues; an incomplete analysis makes the result an error."""
    try:
        from mlvet.analysis import chat_template
    except ImportError:  # jinja2 missing from a broken install: fail closed, never clean
        ctx.error(f"{where}: chat template not analysed (mlvet.analysis.chat_template is unavailable)")
        return
    analysis = chat_template.analyse_template(source, where=where)
    for issue in analysis.issues:
        ctx.report(issue.rule, issue.message, severity=issue.severity, offset=offset, evidence=issue.evidence)
    if analysis.error is not None:
        ctx.error(analysis.error)


def report_python(source: str, ctx: ScanContext, *, filename: str, imported: bool) -> list[CodeFinding]:
    """Analyse Python source shipped with a model and report every finding; returns them too.

    Raises :class:`~mlvet.errors.AnalysisError` for source that cannot be parsed (the caller's result
    becomes an error).
    """
    findings = pyast.analyse_source(source, filename=filename, imported=imported)
    for f in findings:
        ctx.report(f.rule, f.message, severity=f.severity, evidence=f.excerpt)
    return findings


def report_torchscript(source: str, ctx: ScanContext, *, filename: str) -> list[CodeFinding]:
    """Report the dangerous operations of serialized TorchScript code under the archive rule ARC310.

    The engine classifies each operation with a Python-code rule (file, native, process...); inside a
    torch.jit archive they are all facts about the archive's code, so one container rule carries them
    with the engine's severity. Raises :class:`~mlvet.errors.AnalysisError` when the code does not parse.
    """
    findings = pyast.torchscript_findings(source, filename)
    for f in findings:
        ctx.report(ARC310, f"{filename}: {f.message}", severity=f.severity, evidence=f.excerpt)
    return findings


def report_targets(doc: Any, ctx: ScanContext) -> None:
    """Rank the Hydra ``_target_`` entries of a parsed config by what they would call when instantiated.

    What a call does comes from the Python-code tables (``os.system`` starts a process, ``builtins.exec``
    runs code): process, code-execution and native calls are critical; network, deserialisation and file
    calls high. Other names the policy's pickle tiers call dangerous are high (they are gadgets when called
    with chosen arguments, though a config may name some for ordinary reasons); an unknown callable with a
    command-like argument is high, an unknown standard-library one medium; the model's own classes are low,
    for review; callables the policy knows to be safe are not reported.
    """
    for target in find_targets(doc):
        module, name = target.split
        verdict = ctx.policy.classify(module, name) if module and name else None
        tier = verdict.tier if verdict is not None else Tier.UNKNOWN
        known = lookup(canonical(target.target))
        commandlike = bool(_COMMAND_RE.search(target.arguments))
        if known is not None:
            category, _, what = known
            severity = Severity.CRITICAL if category in _CRITICAL_CATEGORIES else Severity.HIGH
            why = f"{target.target}, which {what}"
        elif tier is Tier.SAFE:
            continue
        elif tier is Tier.DANGEROUS:
            severity = Severity.HIGH
            reason = verdict.reason if verdict is not None else ""
            why = "a callable the policy lists as dangerous" + (f" ({reason})" if reason else "")
        elif commandlike:
            severity = Severity.HIGH
            why = "a callable outside the model's libraries with a command-like argument"
        elif module.split(".")[0] in _ML_LIBRARIES:
            severity = Severity.INFO
            why = f"a callable of the {module.split('.')[0]} library (an ordinary model component)"
        elif module.split(".")[0] in sys.stdlib_module_names:
            severity = Severity.MEDIUM
            why = "a standard-library callable, which a model's config has no reason to instantiate"
        else:
            severity = Severity.LOW
            why = "a callable the policy does not know (usually the model's own class): review it"
        args = f" with {target.arguments}" if target.arguments else ""
        ctx.report(
            CFG_TARGET,
            f"{target.path} = {target.target!r}: instantiating this config imports and calls {why}{args}",
            severity=severity,
            evidence=f'"{target.key}": "{target.target}"',
        )
