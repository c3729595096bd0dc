"""Keras metadata inside TensorFlow SavedModels: Lambda layers and custom classes.

tf.keras / tf_keras write each layer's config as JSON into ``keras_metadata.pb`` (and older versions
into ``SavedUserObject.metadata`` of ``saved_model.pb``) and rebuild the layers from it on
``load_model``. There is no safe mode for SavedModel folders, so a Lambda's marshalled bytecode is at
least high. The bytecode is decoded by mlvet's own marshal reader (:mod:`mlvet.analysis.keras_code`,
the same reading as ``.keras`` and HDF5 configs); nothing is unmarshalled.
"""

from __future__ import annotations

import json
from typing import Any

from mlvet.analysis.keras_code import judge_lambda_code
from mlvet.errors import AnalysisError
from mlvet.formats.base import ScanContext
from mlvet.formats.tf_ops import TFG507, TFG508, keras_builtins
from mlvet.model import Severity
from mlvet.policy import Tier

#: tf.keras layers that the generated built-in list misses: TFOpLambda / SlicingOpLambda wrap tf.* calls
#: of a functional model (the graph itself holds the ops, which are judged there).
_TF_KERAS_OP_LAYERS = frozenset({"TFOpLambda", "SlicingOpLambda", "ClassMethod", "InstanceMethod",
                                 "InstanceProperty"})
#: Largest Lambda code string analysed (base64 text; the decoder bounds the decoded bytes again).
_MAX_CODE_TEXT = 16 * 1024 * 1024


class KerasChecker:
    """Finds Lambda layers and non-builtin classes in Keras metadata JSON (keras_metadata.pb or
    SavedUserObject.metadata)."""

    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx
        self.custom: dict[str, str] = {}
        self._lambdas: set[str] = set()

    def check(self, text: str, where: str, offset: int) -> None:
        """Walk one metadata JSON entry (invalid JSON is reported, not fatal: Keras would fail on it)."""
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            self.ctx.report(TFG508, f"Keras metadata at {where} is not valid JSON", severity=Severity.MEDIUM,
                            offset=offset, evidence=text[:200])
            return
        self._walk(data, where, offset, 0)

    def _walk(self, obj: Any, where: str, offset: int, depth: int) -> None:
        if depth > 200:
            raise AnalysisError("Keras metadata nests deeper than 200 levels")
        if isinstance(obj, dict):
            cls = obj.get("class_name")
            if isinstance(cls, str):
                if cls == "Lambda" and isinstance(obj.get("config"), dict):
                    self._lambda(obj["config"], where, offset)
                elif cls not in keras_builtins() and cls not in _TF_KERAS_OP_LAYERS and not cls.startswith("__"):
                    self.custom.setdefault(cls, where)
            for value in obj.values():
                self._walk(value, where, offset, depth + 1)
        elif isinstance(obj, list):
            for value in obj:
                self._walk(value, where, offset, depth + 1)

    def _lambda(self, config: dict[str, Any], where: str, offset: int) -> None:
        name = config.get("name", "?")
        ftype = config.get("function_type", "?")
        module = config.get("module")
        func = config.get("function")
        if isinstance(func, dict):
            func = func.get("items")
        raw = func[0] if isinstance(func, list) and func else func
        # The network's config repeats every layer's config: report each Lambda once.
        key = json.dumps([name, ftype, module, raw], sort_keys=True, default=str)
        if key in self._lambdas:
            return
        self._lambdas.add(key)
        if ftype == "lambda" and isinstance(raw, str):
            verdict = judge_lambda_code(raw[:_MAX_CODE_TEXT])
            # No safe mode protects SavedModel loading: code that runs is at least high.
            sev = max(verdict.severity, Severity.HIGH)
            self.ctx.report(TFG507, f"Lambda layer {name!r} (module {module!r}) carries {verdict.carries} "
                            f"({where})", severity=sev, offset=offset, evidence=verdict.evidence[:2000])
            if verdict.fault:
                self.ctx.error(f"Lambda layer {name!r} at {where}: {verdict.fault}")
        else:
            target = f"{module}.{raw}" if isinstance(raw, str) and module else repr(raw)[:200]
            sev = Severity.MEDIUM
            if isinstance(raw, str) and isinstance(module, str):
                verdict_tier = self.ctx.policy.classify(module, raw).tier
                if verdict_tier is Tier.DANGEROUS:
                    sev = Severity.CRITICAL
            self.ctx.report(TFG507, f"Lambda layer {name!r} calls the function {target} (function_type "
                            f"{ftype!r}) ({where})", severity=sev, offset=offset, evidence=target[:400])

    def finish(self) -> None:
        """Report the custom class names seen across all entries (one low finding)."""
        if self.custom:
            names = sorted(self.custom)
            self.ctx.report(TFG508, f"{len(names)} class name(s) not built into Keras: {', '.join(names[:20])}",
                            evidence=", ".join(names[:200])[:2000])
