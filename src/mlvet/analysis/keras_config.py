"""The Keras config walker: what Keras' deserialiser would resolve, call or unmarshal for one config.

A Keras model config is a program for Keras' deserialiser: every ``{"module", "class_name", "config",
"registered_name"}`` object names something Keras looks up (and, before 3.9, imported: CVE-2025-1550)
and then calls with the config as arguments; ``Lambda`` layers carry marshalled Python bytecode
(CVE-2024-3660) that ``safe_mode`` is meant to block but that legacy HDF5 loading ran anyway
(CVE-2025-9905) and that a config can unblock by calling ``keras.config.enable_unsafe_deserialization``
first (CVE-2025-9906); Keras' own utilities reached from a config download files or reload models with
safe mode off (CVE-2025-8747).

This module is pure: :class:`ConfigWalker` takes a parsed document and the policy, and returns a
:class:`ConfigAnalysis` (deduplicated hits, analysis faults, embedded pickles); the format layer
(:mod:`mlvet.formats.keras_report`) turns it into findings. The walk is iterative and bounded.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from mlvet.analysis.keras_code import DANGEROUS_CODE_NAMES, judge_lambda_code
from mlvet.analysis.keras_tables import (
    EXTERNAL_FILE_KEYS,
    GADGETS,
    KER400,
    KER401,
    KER402,
    KER403,
    KER404,
    KER405,
    KER406,
    KERAS_ROOTS,
    PY_BUILTINS,
    SAFE_MODE_KEY,
    SAFE_MODE_TOGGLES,
    SENSITIVE_RELATIVE,
    TF_KERAS_CUSTOM_BUILTINS,
    TF_ROOTS,
    TOKENIZER_FILE_KEYS,
    URL,
    command_like_argument,
)
from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.model import Severity
from mlvet.policy import Tier
from mlvet.rules import Rule

if TYPE_CHECKING:
    from mlvet.policy import Policy

# ---- limits -------------------------------------------------------------------------------------------

#: Largest config JSON analysed. Real architectures are KB to a few MB (vocabularies live in assets/).
MAX_CONFIG_BYTES = 32 * 1024 * 1024
#: JSON values visited in one config before giving up (a 32 MiB config has at most a few million).
MAX_NODES = 5_000_000
#: Distinct findings kept per config; the rest are summarised in one finding.
MAX_FINDINGS = 200

# ---- config analysis -----------------------------------------------------------------------------------


@dataclass
class Hit:
    """One finding of a config, with how often the same object occurred."""

    rule: Rule
    severity: Severity
    message: str
    evidence: str
    count: int = 1


@dataclass
class ConfigAnalysis:
    """Findings of one config document, deduplicated (one per distinct object, with a count)."""

    origin: str
    hits: dict[tuple[str, str], Hit] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    embedded: list[tuple[str, bytes]] = field(default_factory=list)
    dropped: int = 0
    dropped_worst: Hit | None = None

    def add(self, rule: Rule, key: str, severity: Severity, message: str, evidence: str) -> None:
        """Record one hit; the same object again only raises the count (and keeps the worst severity)."""
        k = (rule.id, key)
        hit = self.hits.get(k)
        if hit is not None:
            hit.count += 1
            if severity > hit.severity:
                hit.severity, hit.message, hit.evidence = severity, message, evidence
            return
        if len(self.hits) >= MAX_FINDINGS:
            self.dropped += 1
            if self.dropped_worst is None or severity > self.dropped_worst.severity:
                self.dropped_worst = Hit(rule, severity, message, evidence)
            return
        self.hits[k] = Hit(rule, severity, message, evidence)


def parse_config_json(data: bytes | str, what: str) -> tuple[Any, list[tuple[str, Any]]]:
    """Parse a config the way Keras does (``json.loads``), bounded, keeping values shadowed by duplicates.

    Returns the document and the ``(key, value)`` pairs that a later duplicate key hid from Keras.
    """
    if len(data) > MAX_CONFIG_BYTES:
        raise LimitExceeded(
            "max_config_bytes", MAX_CONFIG_BYTES,
            f"{what} is {len(data)} bytes, over the {MAX_CONFIG_BYTES}-byte limit for Keras configs; not analysed",
        )
    shadowed: list[tuple[str, Any]] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                shadowed.append((key, out[key]))
            out[key] = value
        return out

    try:
        doc = json.loads(data, object_pairs_hook=pairs_hook)
    except RecursionError:
        raise AnalysisError(f"{what} nests too deeply to analyse (JSON recursion bomb)") from None
    except (ValueError, UnicodeDecodeError, TypeError) as exc:
        raise AnalysisError(f"{what} is not valid JSON: {exc}") from None
    return doc, shadowed




class ConfigWalker:
    """Walks one Keras config document and records what Keras would resolve, call or unmarshal."""

    def __init__(self, policy: Policy, origin: str, *, no_safe_mode: bool = False) -> None:
        """``no_safe_mode``: the loader of this config runs Lambda bytecode without a safe-mode check
        (legacy HDF5: CVE-2025-9905, tf.keras), so any bytecode is at least high."""
        self.policy = policy
        self.result = ConfigAnalysis(origin)
        self.origin = origin
        self.no_safe_mode = no_safe_mode

    # ---- entry ------------------------------------------------------------------------------------

    def walk(self, doc: Any, shadowed: list[tuple[str, Any]] | None = None) -> ConfigAnalysis:
        """Walk the document (and the values duplicate keys shadowed) iteratively, within MAX_NODES."""
        roots: list[tuple[Any, str]] = [(doc, "")]
        if shadowed:
            keys = sorted({k for k, _ in shadowed})
            self.result.add(
                KER405, "dup", Severity.MEDIUM,
                f"{self.origin} repeats keys inside one JSON object ({len(shadowed)} shadowed values)",
                "duplicate keys: " + ", ".join(keys[:10]),
            )
            roots.extend((value, f"<shadowed {key!r}>") for key, value in shadowed)
        nodes = 0
        stack: list[tuple[Any, str, str]] = [(v, p, "") for v, p in reversed(roots)]
        while stack:
            value, path, owner = stack.pop()
            nodes += 1
            if nodes > MAX_NODES:
                raise LimitExceeded("max_config_nodes", MAX_NODES, f"{self.origin} has more than {MAX_NODES} values")
            if isinstance(value, dict):
                owner = self._object(value, path, owner)
                for key in reversed(list(value)):
                    child = value[key]
                    if isinstance(child, (dict, list, str)):
                        stack.append((child, f"{path}.{key}" if path else str(key), owner))
                    elif key == "safe_mode" and child is not None and not child:  # False, 0
                        self.result.add(
                            KER403, "safe_mode=False", Severity.CRITICAL,
                            f"{self.origin} passes safe_mode=False to a call made while loading",
                            f"at {path or '<root>'}: safe_mode=false",
                        )
            elif isinstance(value, list):
                for i in range(len(value) - 1, -1, -1):
                    child = value[i]
                    if isinstance(child, (dict, list, str)):
                        stack.append((child, f"{path}[{i}]", owner))
            elif isinstance(value, str) and SAFE_MODE_KEY in value:
                self.result.add(
                    KER403, SAFE_MODE_KEY, Severity.CRITICAL,
                    f"{self.origin} names Keras' global safe-mode flag ({SAFE_MODE_KEY!r})",
                    f"at {path or '<root>'}: {value[:200]!r}",
                )
        return self.result

    # ---- one JSON object ---------------------------------------------------------------------------

    def _object(self, obj: dict[str, Any], path: str, owner: str) -> str:
        """Analyse one object; returns the label its children are reported under."""
        class_name = obj.get("class_name")
        if not isinstance(class_name, str):
            return owner
        inner = obj.get("config")
        label = _label(class_name, inner, path)
        module = obj.get("module")
        module = module if isinstance(module, str) and module else None
        registered = obj.get("registered_name")
        registered = registered if isinstance(registered, str) and registered else None

        if class_name == "__lambda__":
            field_name = path.rsplit(".", 1)[-1] if path else "function"
            what = f"{owner} {field_name}" if owner else f"Python lambda at {path or '<root>'}"
            code = inner.get("code", inner.get("value")) if isinstance(inner, dict) else None
            if isinstance(code, list) and code:  # "value": func_dump's (code, defaults, closure)
                code = code[0]
            self._lambda_code(code, what, path)
            return owner
        if class_name in ("__tensor__", "__numpy__", "__bytes__", "__ellipsis__", "__slice__", "__keras_tensor__"):
            return owner
        if class_name == "__typespec__":
            spec = obj.get("spec_name")
            if isinstance(spec, str):
                self._reference(module, spec, registered, label, path, kind="class")
            return owner
        if class_name == "function":
            if isinstance(inner, str):
                field_name = path.rsplit(".", 1)[-1] if path else "function"
                fn_label = f"{owner} {field_name}" if owner else label
                self._reference(module, inner, registered, fn_label, path, kind="function")
            return owner

        self._reference(module, class_name, registered, label, path, kind="class", args=inner)
        if not isinstance(inner, dict):
            return label
        base = class_name.rsplit(">", 1)[-1]
        if base == "Lambda":
            self._legacy_lambda(inner, label, path)
        elif base in ("TFOpLambda", "SlicingOpLambda"):
            fn = inner.get("function")
            if isinstance(fn, str):
                self._tf_op(fn, label, path)
        elif base == "TorchModuleWrapper":
            blob = inner.get("module")
            if isinstance(blob, str) and len(blob) > 16:
                self._torch_module(blob, label, path)
        keys = EXTERNAL_FILE_KEYS.get(base, ())
        if not keys and base.endswith("Tokenizer"):
            keys = TOKENIZER_FILE_KEYS
        for key in keys:
            target = inner.get(key)
            if isinstance(target, str) and target:
                self._external(base, key, target, label, path)
        return label

    def _external(self, base: str, key: str, target: str, label: str, path: str) -> None:
        """A file or URL the layer opens while loading (CVE-2025-12058 for lookup layers).

        A SavedModel is a program (always high); a vocabulary is data read into the model, high when the
        path leaves the loader's working folder (absolute, ``~``, ``..``, a URL or a secret's name):
        that is the published arbitrary-file-read / SSRF shape. A plain relative name reads a file of
        the loading program's working folder, which only the person loading controls: low.
        """
        norm = target.replace("\\", "/")
        parts = norm.split("/")
        remote = URL.match(target) is not None
        absolute = norm.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", norm) is not None
        if base == "TFSMLayer":
            sev, why = Severity.HIGH, "loads that SavedModel (a program) from outside the model"
        elif remote:
            sev, why = Severity.HIGH, "fetches that URL while loading (SSRF; tf.io.gfile serves remote schemes)"
        elif absolute or ".." in parts:
            sev, why = Severity.HIGH, ("reads that local file into the model while loading, even with "
                                       "safe_mode=True before Keras 3.12 (CVE-2025-12058)")
        elif SENSITIVE_RELATIVE.search(norm):
            sev, why = Severity.HIGH, "reads a file that names a secret or system file while loading"
        else:
            sev, why = Severity.LOW, "reads that file from the loading program's working folder"
        self.result.add(
            KER404, f"{base}:{key}:{target}", sev,
            f"{label} {key} is the path {target[:200]!r}: Keras {why}",
            f"{path or '<root>'}.config.{key} = {target[:300]!r}",
        )

    # ---- references ---------------------------------------------------------------------------------

    def _reference(
        self, module: str | None, name: str, registered: str | None, label: str, path: str, *, kind: str,
        args: Any = None,
    ) -> None:
        """One name Keras resolves. ``args`` is the config a class is called with (``cls.from_config``)."""
        where = path or "<root>"
        tail = name.rsplit(">", 1)[-1].rsplit(".", 1)[-1]
        shown = f"{module}.{name}" if module else name
        ev = f"{where}: module={module!r} {'function' if kind == 'function' else 'class_name'}={name!r}"
        if registered and registered != name:
            ev += f" registered_name={registered!r}"
        if tail in SAFE_MODE_TOGGLES:
            self.result.add(
                KER403, shown, Severity.CRITICAL,
                f"{label} references {shown}, which {SAFE_MODE_TOGGLES[tail]}", ev,
            )
            return
        if tail in GADGETS and (module is None or _root(module) in KERAS_ROOTS | TF_ROOTS | {"builtins"}
                                 or self.policy.classify(module, name).tier is not Tier.SAFE):
            self.result.add(
                KER401, shown, Severity.CRITICAL,
                f"{label} references {shown}, which {GADGETS[tail]}", ev,
            )
            return
        # A registered custom object: "package>Name" (registered_name, or the function config itself).
        custom = name if ">" in name else registered if (registered and ">" in registered) else None
        if custom is not None and custom.startswith("Custom>") and custom[7:] in TF_KERAS_CUSTOM_BUILTINS:
            custom = None  # tf.keras 2.11+ registers its own optimizers under the "Custom" package
        if module is None or module in ("builtins", "__builtin__", "__main__"):
            if custom is not None:
                self._custom(custom, label, ev)
                return
            if module == "__main__":
                if name in DANGEROUS_CODE_NAMES:
                    # Old Keras imports the *loading* script: "from os import system" there makes this os.system.
                    self.result.add(
                        KER402, f"__main__.{name}", Severity.MEDIUM,
                        f"{label} references __main__.{name}, which Keras before 3.9 takes from the loading "
                        "script's globals (where it may be an imported process or code function)", ev,
                    )
                else:
                    self._custom(name, label, ev)  # the saving script's own class: found by name only
                return
            if module is None:
                return  # legacy name lookup among Keras built-ins and user-supplied custom_objects only
            if name in PY_BUILTINS:
                verdict = self.policy.classify("builtins", name)
                if verdict.tier is Tier.DANGEROUS:
                    self.result.add(
                        KER401, f"builtins.{name}", Severity.CRITICAL,
                        f"{label} references builtins.{name} ({verdict.reason})", ev,
                    )
                elif verdict.tier is Tier.UNKNOWN:
                    self.result.add(
                        KER402, f"builtins.{name}", Severity.MEDIUM,
                        f"{label} references the Python built-in {name!r}", ev,
                    )
            return  # Keras looks bare function names up among its activations, losses, metrics ...
        root = _root(module)
        if root in KERAS_ROOTS:
            if root != "keras" and ">" in (registered or "") and _root(registered or "") not in KERAS_ROOTS:
                self._custom(registered or name, label, ev)
            return
        verdict = self.policy.classify(module, name)
        if verdict.tier is Tier.DANGEROUS:
            self.result.add(
                KER401, verdict.qualified, Severity.CRITICAL,
                f"{label} references {verdict.qualified} ({verdict.reason})", ev,
            )
        elif verdict.tier is Tier.UNKNOWN:
            self._unknown_module(verdict.qualified, root, label, ev, args)

    def _unknown_module(self, qualified: str, root: str, label: str, ev: str, args: Any) -> None:
        """A module-qualified object that is neither Keras' nor in a policy tier.

        Keras 3.9+ resolves it only through custom_objects or the registration table (the loading
        program's own code); older Keras imports the module and calls the object with the config's
        arguments (CVE-2025-1550). A custom class of the saving program's package is what Keras writes
        for unregistered custom layers: low. A standard-library callable is never a layer: medium. Either
        called with command-like, path or URL arguments is the published attack shape: high.
        """
        stdlib = root in sys.stdlib_module_names
        bad = command_like_argument(args)
        if bad is not None:
            self.result.add(
                KER402, qualified, Severity.HIGH,
                f"{label} references {qualified} and passes it {bad[0]} {_short(bad[1])}: Keras before 3.9 "
                "imports the module and calls it with these arguments", f"{ev}; argument {bad[1][:200]!r}",
            )
        elif stdlib:
            self.result.add(
                KER402, qualified, Severity.MEDIUM,
                f"{label} references the standard-library callable {qualified}, which Keras before 3.9 "
                "imports and calls with the config's arguments; no Keras model needs one", ev,
            )
        else:
            self.result.add(
                KER402, qualified, Severity.LOW,
                f"{label} references {qualified}, a custom object from outside Keras: it needs code the "
                "loading program provides (custom_objects or an installed package); the file carries no "
                "code for it", ev,
            )

    def _tf_op(self, fn: str, label: str, path: str) -> None:
        """tf.keras TFOpLambda: ``function`` is a public TensorFlow API name, called with the layer's inputs.

        TensorFlow's own API is the normal case (tf.math.add ...); only gadgets are reported.
        """
        tail = fn.rsplit(".", 1)[-1]
        verdict = self.policy.classify("tensorflow", fn)
        ev = f"{path or '<root>'}: TFOpLambda function={fn!r}"
        if tail in GADGETS:
            self.result.add(KER401, f"tensorflow.{fn}", Severity.CRITICAL,
                            f"{label} calls tf.{fn}, which {GADGETS[tail]}", ev)
        elif verdict.tier is Tier.DANGEROUS:
            self.result.add(KER401, f"tensorflow.{fn}", Severity.CRITICAL,
                            f"{label} calls tf.{fn} ({verdict.reason})", ev)

    def _custom(self, registered: str, label: str, ev: str) -> None:
        """A name Keras finds only in the loading program's registration table or custom_objects.

        Nothing is imported and no code comes from the file: a name the loader did not register makes
        loading fail, a registered one runs the loader's own class. Known gadgets were reported before
        this point; what is left is low, for the record.
        """
        package, _, name = registered.rpartition(">")
        if package and _root(package) in KERAS_ROOTS:
            return
        if package:
            verdict = self.policy.classify(package, name)
            if verdict.tier is Tier.SAFE:
                return
            if verdict.tier is Tier.DANGEROUS:  # no program registers os>system: a lure for old loaders
                self.result.add(
                    KER402, registered, Severity.MEDIUM,
                    f"{label} needs the registered object {registered!r}, whose name spells the dangerous "
                    f"callable {verdict.qualified} ({verdict.reason})", ev,
                )
                return
        self.result.add(
            KER402, registered, Severity.LOW,
            f"{label} needs the registered custom object {registered!r}: a class the loading program "
            "registers; the file carries no code for it", ev,
        )

    # ---- Lambda layers -----------------------------------------------------------------------------

    def _legacy_lambda(self, inner: dict[str, Any], label: str, path: str) -> None:
        """tf.keras / Keras 2 Lambda: ``function`` is [code, defaults, closure] or a name, per ``function_type``."""
        for attr, type_key, module_key in (
            ("function", "function_type", "module"),
            ("output_shape", "output_shape_type", "output_shape_module"),
            ("mask", "mask_type", "mask_module"),
        ):
            value = inner.get(attr)
            kind = inner.get(type_key)
            module = inner.get(module_key)
            module = module if isinstance(module, str) and module else None
            where = f"{path}.config.{attr}" if path else f"config.{attr}"
            if isinstance(value, dict):
                continue  # Keras 3 form: handled as a nested object by the walk
            if kind == "lambda" or (kind is None and attr == "function" and isinstance(value, list)):
                code = value[0] if isinstance(value, list) and value else value
                self._lambda_code(code, f"{label} {attr}", where)
            elif kind == "function" and isinstance(value, str):
                if module in (None, "__main__") and value in PY_BUILTINS:
                    self._reference("builtins", value, None, label, where, kind="function")
                elif module is not None:
                    self._reference(module, value, None, label, where, kind="function")

    def _lambda_code(self, code: Any, label: str, path: str) -> None:
        where = path or "<root>"
        if not isinstance(code, str):
            self.result.add(
                KER400, f"lambda:{where}", Severity.MEDIUM,
                f"{label} is a serialised Python lambda (its code field is not a string Keras can load)",
                f"{where}: code field is {type(code).__name__}",
            )
            return
        digest = hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        verdict = judge_lambda_code(code)
        severity, carries = verdict.severity, verdict.carries
        if self.no_safe_mode and severity < Severity.HIGH:
            severity = Severity.HIGH
            carries += "; legacy HDF5 loading runs it even with safe_mode=True (CVE-2025-9905)"
        self.result.add(KER400, f"lambda:{digest}", severity, f"{label} carries {carries}",
                        f"{where}: {verdict.evidence}")
        if verdict.fault:
            self.result.errors.append(f"{label}: {verdict.fault}")

    def _torch_module(self, blob: str, label: str, path: str) -> None:
        try:
            raw = base64.b64decode(blob.encode("ascii"), validate=False)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            self.result.errors.append(f"{label}: embedded torch module is not valid base64")
            return
        self.result.add(
            KER406, f"torch:{path}", Severity.MEDIUM,
            f"{label} embeds a pickled torch module ({len(raw)} bytes) that Keras loads with torch.load",
            f"{path or '<root>'}.config.module: base64 of {raw[:4]!r}... ({len(raw)} bytes)",
        )
        self.result.embedded.append((f"{label} (embedded torch.save)", raw))


def _root(module: str) -> str:
    return module.split(".", 1)[0].split(">", 1)[0]


def _label(class_name: str, inner: Any, path: str) -> str:
    name = inner.get("name") if isinstance(inner, dict) else None
    if isinstance(name, str) and name:
        return f"{class_name} {name[:80]!r}"
    return f"{class_name} at {path or '<root>'}"


def _short(text: str, n: int = 80) -> str:
    return repr(text if len(text) <= n else text[: n - 1] + "…")
