"""Keras models: ``.keras`` archives, Keras config JSON, and legacy HDF5 (``.h5``) models.

A Keras model file carries no pickle, but its architecture config is a program for Keras' deserialiser:
every ``{"module", "class_name", "config", "registered_name"}`` object names something Keras looks up
(and, before 3.9, imported: CVE-2025-1550) and then calls with the config as arguments; ``Lambda``
layers carry marshalled Python bytecode (CVE-2024-3660) that ``safe_mode`` is meant to block but that
legacy HDF5 loading ran anyway (CVE-2025-9905) and that a config can unblock by calling
``keras.config.enable_unsafe_deserialization`` first (CVE-2025-9906); Keras' own utilities reached
from a config download files or reload models with safe mode off (CVE-2025-8747).

What is read, never executed or imported:

* ``.keras`` (zip: ``config.json``, ``metadata.json``, ``model.weights.h5``/``.npz``, ``assets/``):
  ``config.json`` is walked in full (nested and shared layers, ``build_config``, ``compile_config``
  losses/metrics/optimizers, initializers, regularizers, constraints, activations). Other members
  are content-scanned by the zip handler (an ``.npz`` of weights goes through the pickle checks).
* A bare Keras config JSON (``config.json`` of a Keras folder or a Hugging Face Keras / KerasHub
  preset, which ``load_model("hf://...")`` reads from a plain folder).
* HDF5 (``.h5``/``.hdf5``): the root attributes ``model_config`` and ``training_config`` only, through
  h5py (the optional ``mlvet[hdf5]`` extra); weights are never read. Bytes in an HDF5 user block or
  after the file's recorded end are content-scanned too (polyglots).

Lambda bytecode is decoded by :mod:`mlvet.analysis.pycode`, a static marshal reader; the evidence lists
the names the code uses and its string constants.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import hashlib
import io
import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from mlvet.analysis.pycode import CodeInfo, MarshalError, code_names, code_strings, iter_values, read_marshal
from mlvet.containers.zipread import ZipArchive, ZipFormatError, ZipLimitError, ZipMember
from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.formats.base import Probe, ScanContext, Window, register
from mlvet.formats.zip import register_zip_layout
from mlvet.model import Severity
from mlvet.policy import REFLECTIVE_ATTRS, Tier
from mlvet.rules import ARC301, Rule, define_rule

# ---- limits -------------------------------------------------------------------------------------------

#: Largest config JSON analysed. Real architectures are KB to a few MB (vocabularies live in assets/).
MAX_CONFIG_BYTES = 32 * 1024 * 1024
#: JSON values visited in one config before giving up (a 32 MiB config has at most a few million).
MAX_NODES = 5_000_000
#: Distinct findings kept per config; the rest are summarised in one finding.
MAX_FINDINGS = 200
#: JSON documents are searched this far for a ``class_name`` key (configs over MAX_CONFIG_BYTES are
#: then reported as over the limit rather than passed as text).
MAX_SNIFF_BYTES = 256 * 1024 * 1024
#: Largest decoded Lambda bytecode blob analysed.
MAX_CODE_BYTES = 8 * 1024 * 1024

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

# ---- rules --------------------------------------------------------------------------------------------

_NO_LOAD = (
    "Do not load the model. If you need it, rebuild it from trusted code and load only the weights "
    "(model.load_weights) or ask the publisher for a version without this object."
)

KER400 = define_rule(
    "KER400", "keras-lambda-code", Severity.MEDIUM,
    "A Lambda layer (or another serialised Python lambda) carries marshalled Python bytecode. Severity "
    "rises to critical when the code uses process, file, import, eval/exec or reflection names, and to "
    "high when its strings look like commands or the bytecode cannot be decoded.",
    "Keras rebuilds the function with marshal.loads and runs it whenever the layer is called, which "
    "includes building a functional model during loading. safe_mode blocks it in current Keras, but it "
    "runs with safe_mode=False, from legacy HDF5 files before Keras 3.11.3 (CVE-2025-9905), in tf.keras "
    "before 2.13 (CVE-2024-3660), and after a config disables safe mode (CVE-2025-9906).",
    "Replace Lambda layers by registered custom layers (named code you ship and review) and re-save the "
    "model. Never pass safe_mode=False for a file you did not make.",
    94,
)
KER401 = define_rule(
    "KER401", "keras-dangerous-reference", Severity.CRITICAL,
    "The model config names a callable that runs code, starts processes, reads or writes files, "
    "downloads, or reloads models (os.system, builtins.exec, subprocess.Popen, keras.utils.get_file, "
    "keras.models.load_model, tf.io.write_file ...).",
    "Keras resolves every module/class_name/function in the config while loading and calls it with the "
    "config's arguments: Keras before 3.9 imported any module named there (CVE-2025-1550), and Keras "
    "utilities reached this way bypassed safe_mode until 3.11 (CVE-2025-8747, CVE-2025-9906).",
    _NO_LOAD, 502,
)
KER402 = define_rule(
    "KER402", "keras-custom-object", Severity.MEDIUM,
    "The model config references a class or function outside Keras' built-ins (a custom or "
    "third-party object).",
    "Loading it runs code that is not in the file: Keras before 3.9 imports the named module itself "
    "(running its top-level code); newer versions take it from custom_objects or the registration "
    "table, and call whatever is registered under that name with the config's arguments.",
    "Check that the object is one you trust. To accept it, add its module to the policy's safe tier "
    "(e.g. safe = [\"my_pkg:*\"] in [tool.mlvet]).",
    502,
)
KER403 = define_rule(
    "KER403", "keras-safe-mode-disabled", Severity.CRITICAL,
    "The config turns Keras' safe mode off while loading: it calls "
    "keras.config.enable_unsafe_deserialization, Keras' global-state setter, or passes safe_mode=False.",
    "Once safe mode is off, the marshalled bytecode of any later Lambda layer runs even though the "
    "caller asked for load_model(..., safe_mode=True) (CVE-2025-9906).",
    _NO_LOAD, 693,
)
KER404 = define_rule(
    "KER404", "keras-external-resource", Severity.HIGH,
    "A layer reads a file or URL named in the config when the model is loaded (TFSMLayer SavedModel "
    "path, a lookup layer's vocabulary file, ...).",
    "The model then depends on content outside the file: a TFSMLayer loads an attacker-chosen "
    "SavedModel (its graph can read and write files), a vocabulary path reads local files into the "
    "model (arbitrary file read, SSRF through remote file systems), even with safe_mode=True.",
    "Check the path; ship vocabularies inside the .keras assets and avoid TFSMLayer for untrusted "
    "SavedModels.",
    73,
)
KER405 = define_rule(
    "KER405", "keras-duplicate-key", Severity.MEDIUM,
    "The config JSON repeats a key inside one object.",
    "JSON readers disagree on which duplicate wins (Python keeps the last, others the first), so a "
    "scanner and Keras can see different layers. Keras never writes duplicates. Every value is analysed.",
    "Treat the file as tampered; re-export it from its source.",
    436,
)
KER406 = define_rule(
    "KER406", "keras-embedded-pickle", Severity.MEDIUM,
    "A layer config embeds a pickled object (TorchModuleWrapper's torch.save bytes) that Keras "
    "unpickles with torch.load(weights_only=False) when the model is loaded. Its pickle findings are "
    "reported separately.",
    "Unpickling runs arbitrary code; current Keras requires safe_mode=False for it, older Keras 3 "
    "versions did it unconditionally.",
    "Load such models only from trusted sources; prefer rebuilding the torch module in code and loading "
    "its state_dict.",
    502,
)

# ---- what counts as Keras' own, and what is a known gadget ----------------------------------------------

#: Top-level packages whose objects Keras resolves as built-ins (Keras 3 restricts module imports to these).
KERAS_ROOTS = frozenset({"keras", "keras_hub", "keras_cv", "keras_nlp", "tf_keras"})
_TF_ROOTS = frozenset({"tensorflow", "tf"})

#: Names (last dotted part) that turn Keras' deserialiser against the loading process; Keras itself
#: forbids many of them since 3.11 ("non-modeling APIs"). Matched whatever module they come with.
_GADGETS: dict[str, str] = {
    "get_file": "downloads (and can extract) a file from a URL",
    "load_model": "loads another model (e.g. with safe_mode=False)",
    "model_from_json": "deserialises another model config",
    "model_from_yaml": "deserialises another model config",
    "model_from_config": "deserialises another model config",
    "deserialize_keras_object": "deserialises an attacker-chosen config",
    "func_load": "unmarshals and builds a Python function",
    "save_model": "writes a model file",
    "load_weights": "reads a weights file from a path",
    "save_weights": "writes a weights file",
    "register_keras_serializable": "registers objects in Keras' global table",
    "load_img": "reads a file from a path",
    "save_img": "writes a file",
    "image_dataset_from_directory": "reads files from a folder",
    "text_dataset_from_directory": "reads files from a folder",
    "audio_dataset_from_directory": "reads files from a folder",
    "plot_model": "writes a file and runs the graphviz 'dot' program",
    "model_to_dot": "runs the graphviz 'dot' program",
    "plot_image_gallery": "writes an image file",
    "plot_segmentation_mask_gallery": "writes an image file",
    "plot_bounding_box_gallery": "writes an image file",
    "export_saved_model": "writes a SavedModel",
    "ExportArchive": "writes a SavedModel",
    "load_op_library": "loads a native library",
    "load_library": "loads a native library",
    "py_function": "calls an arbitrary Python function",
    "numpy_function": "calls an arbitrary Python function",
    "py_func": "calls an arbitrary Python function",
    "write_file": "writes a file",
    "read_file": "reads a file",
    "WriteFile": "writes a file",
    "ReadFile": "reads a file",
    "MatchingFiles": "lists files",
    "PyFunc": "calls an arbitrary Python function",
    "EagerPyFunc": "calls an arbitrary Python function",
    "PyFuncStateless": "calls an arbitrary Python function",
}
#: Gadgets that switch safe mode off (reported as KER403).
_SAFE_MODE_TOGGLES: dict[str, str] = {
    "enable_unsafe_deserialization": "disables Keras safe mode globally",
    "set_global_attribute": "sets Keras global state (e.g. safe_mode_saving=False)",
    "SafeModeScope": "changes Keras' safe-mode scope",
}
#: Layers that read a file or URL named in their config at load time: class name -> config keys.
_EXTERNAL: dict[str, tuple[str, ...]] = {
    "TFSMLayer": ("filepath",),
    "StringLookup": ("vocabulary", "idf_weights"),
    "IntegerLookup": ("vocabulary", "idf_weights"),
    "TextVectorization": ("vocabulary", "idf_weights"),
    "IndexLookup": ("vocabulary", "idf_weights"),
}
#: tf.keras 2.11+ built-ins saved as "Custom>Name" (its optimizers are registered in the default package).
_TF_KERAS_CUSTOM_BUILTINS = frozenset(
    {"Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Lion", "Nadam", "RMSprop", "SGD",
     "LossScaleOptimizer", "LossScaleOptimizerV3"}
)
#: Keras' internal global-state key for safe mode.
_SAFE_MODE_KEY = "safe_mode_saving"

#: Names used by Lambda bytecode that mean process, file, import, dynamic code or reflection.
_CODE_DANGEROUS = frozenset(
    {
        # dynamic code and imports
        "eval", "exec", "compile", "__import__", "execfile", "import_module", "reload", "runpy",
        "run_path", "run_module", "builtins", "__builtins__", "__builtin__", "importlib", "marshal",
        "loads", "load", "pickle", "cPickle", "dill", "cloudpickle", "joblib", "func_load",
        # reflection
        "getattr", "setattr", "delattr", "globals", "locals", "vars", "__globals__", "__subclasses__",
        "__code__", "__class__", "__bases__", "__mro__", "__base__", "__dict__", "__getattribute__",
        "f_globals", "f_builtins", "gi_frame", "tb_frame", "__loader__", "__spec__", "modules",
        # processes and the OS
        "os", "posix", "nt", "sys", "subprocess", "system", "popen", "Popen", "spawn", "spawnl", "spawnv",
        "spawnve", "spawnlp", "spawnvp", "execl", "execle", "execlp", "execv", "execve", "execvp",
        "execvpe", "fork", "forkpty", "pty", "kill", "killpg", "check_output", "check_call", "call",
        "run", "getoutput", "getstatusoutput", "startfile", "ctypes", "cdll", "CDLL", "windll", "cffi",
        "signal", "multiprocessing", "shutil", "rmtree", "remove", "unlink", "rmdir", "removedirs",
        "rename", "replace", "chmod", "chown", "makedirs", "mkdir", "symlink", "link", "putenv",
        "environ", "getenv", "open", "fdopen", "write_text", "write_bytes", "write_file", "read_file",
        "breakpoint", "input", "tempfile",
        # network
        "socket", "urllib", "urlopen", "urlretrieve", "request", "requests", "http", "httpx",
        "ftplib", "smtplib", "telnetlib", "webbrowser", "get_file", "gfile", "connect", "create_connection",
        # Keras gadgets from inside code
        "load_model", "enable_unsafe_deserialization", "set_global_attribute", "py_function",
        "numpy_function", "py_func",
    }
)
_SUSPICIOUS_STRING = re.compile(
    r"(?i)(\bos\.(system|popen|exec)|subprocess|__import__|\bimport\s+\w|\bexec\s*\(|\beval\s*\("
    r"|/bin/(ba|z)?sh\b|\bcmd(\.exe)?\s*/c\b|powershell|\bcurl\s|\bwget\s|\bnc\s+-|\brm\s+-rf\b"
    r"|\bchmod\s|base64\s+-d|https?://|\bsocket\b|/etc/passwd|\.ssh/|reverse.?shell)"
)
_DANGEROUS_MODULE_STRINGS = frozenset(
    {"os", "posix", "nt", "subprocess", "builtins", "__builtin__", "sys", "socket", "pty", "importlib",
     "ctypes", "shutil", "pickle", "marshal", "runpy", "eval", "exec", "system", "popen", "__import__"}
)
_PY_BUILTINS = frozenset(dir(builtins))


# ---- config analysis -----------------------------------------------------------------------------------


@dataclass
class _Hit:
    rule: Rule
    severity: Severity
    message: str
    evidence: str
    count: int = 1


@dataclass
class ConfigAnalysis:
    """Findings of one config document, deduplicated (one per distinct object, with a count)."""

    origin: str
    hits: dict[tuple[str, str], _Hit] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    embedded: list[tuple[str, bytes]] = field(default_factory=list)
    dropped: int = 0
    dropped_worst: _Hit | None = None

    def add(self, rule: Rule, key: str, severity: Severity, message: str, evidence: str) -> None:
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
                self.dropped_worst = _Hit(rule, severity, message, evidence)
            return
        self.hits[k] = _Hit(rule, severity, message, evidence)

    def emit(self, ctx: ScanContext) -> None:
        for hit in self.hits.values():
            msg = hit.message if hit.count == 1 else f"{hit.message} ({hit.count} occurrences)"
            ctx.report(hit.rule, msg, severity=hit.severity, evidence=hit.evidence)
        worst = self.dropped_worst
        if worst is not None:
            ctx.report(
                worst.rule,
                f"{self.dropped} further findings in {self.origin} were not listed (limit {MAX_FINDINGS}); "
                f"the most severe: {worst.message}",
                severity=worst.severity, evidence=worst.evidence,
            )
        for message in self.errors:
            ctx.error(message)


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

    def __init__(self, ctx: ScanContext, origin: str) -> None:
        self.ctx = ctx
        self.policy = ctx.policy
        self.result = ConfigAnalysis(origin)
        self.origin = origin

    # ---- entry ------------------------------------------------------------------------------------

    def walk(self, doc: Any, shadowed: list[tuple[str, Any]] | None = None) -> ConfigAnalysis:
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
            elif isinstance(value, str) and _SAFE_MODE_KEY in value:
                self.result.add(
                    KER403, _SAFE_MODE_KEY, Severity.CRITICAL,
                    f"{self.origin} names Keras' global safe-mode flag ({_SAFE_MODE_KEY!r})",
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

        self._reference(module, class_name, registered, label, path, kind="class")
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
        for key in _EXTERNAL.get(base, ()):
            target = inner.get(key)
            if isinstance(target, str) and target:
                # A SavedModel is a program; a vocabulary file is data read in (high when remote: SSRF).
                remote = re.match(r"[A-Za-z][A-Za-z0-9+.-]*://", target) is not None
                sev = Severity.HIGH if base == "TFSMLayer" or remote else Severity.MEDIUM
                self.result.add(
                    KER404, f"{base}:{target}", sev,
                    f"{label} reads {key} {target[:200]!r} from outside the model when it is loaded",
                    f"{path or '<root>'}.config.{key} = {target[:300]!r}",
                )
        return label

    # ---- references ---------------------------------------------------------------------------------

    def _reference(
        self, module: str | None, name: str, registered: str | None, label: str, path: str, *, kind: str
    ) -> None:
        where = path or "<root>"
        tail = name.rsplit(">", 1)[-1].rsplit(".", 1)[-1]
        shown = f"{module}.{name}" if module else name
        ev = f"{where}: module={module!r} {'function' if kind == 'function' else 'class_name'}={name!r}"
        if registered and registered != name:
            ev += f" registered_name={registered!r}"
        if tail in _SAFE_MODE_TOGGLES:
            self.result.add(
                KER403, shown, Severity.CRITICAL,
                f"{label} references {shown}, which {_SAFE_MODE_TOGGLES[tail]}", ev,
            )
            return
        if tail in _GADGETS and (module is None or _root(module) in KERAS_ROOTS | _TF_ROOTS | {"builtins"}
                                 or self.policy.classify(module, name).tier is not Tier.SAFE):
            self.result.add(
                KER401, shown, Severity.CRITICAL,
                f"{label} references {shown}, which {_GADGETS[tail]}", ev,
            )
            return
        # A registered custom object: "package>Name" (registered_name, or the function config itself).
        custom = name if ">" in name else registered if (registered and ">" in registered) else None
        if custom is not None and custom.startswith("Custom>") and custom[7:] in _TF_KERAS_CUSTOM_BUILTINS:
            custom = None  # tf.keras 2.11+ registers its own optimizers under the "Custom" package
        if module is None or module in ("builtins", "__builtin__"):
            if custom is not None:
                self._custom(custom, label, ev)
                return
            if module is None:
                return  # legacy name lookup among Keras built-ins and user-supplied custom_objects only
            if name in _PY_BUILTINS:
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
            self.result.add(
                KER402, verdict.qualified, Severity.MEDIUM,
                f"{label} references {verdict.qualified}, which is not a Keras built-in", ev,
            )

    def _tf_op(self, fn: str, label: str, path: str) -> None:
        """tf.keras TFOpLambda: ``function`` is a public TensorFlow API name, called with the layer's inputs.

        TensorFlow's own API is the normal case (tf.math.add ...); only gadgets are reported.
        """
        tail = fn.rsplit(".", 1)[-1]
        verdict = self.policy.classify("tensorflow", fn)
        ev = f"{path or '<root>'}: TFOpLambda function={fn!r}"
        if tail in _GADGETS:
            self.result.add(KER401, f"tensorflow.{fn}", Severity.CRITICAL,
                            f"{label} calls tf.{fn}, which {_GADGETS[tail]}", ev)
        elif verdict.tier is Tier.DANGEROUS:
            self.result.add(KER401, f"tensorflow.{fn}", Severity.CRITICAL,
                            f"{label} calls tf.{fn} ({verdict.reason})", ev)

    def _custom(self, registered: str, label: str, ev: str) -> None:
        package, _, name = registered.rpartition(">")
        if package and _root(package) in KERAS_ROOTS:
            return
        if package:
            verdict = self.policy.classify(package, name)
            if verdict.tier is Tier.SAFE:
                return
        self.result.add(
            KER402, registered, Severity.MEDIUM,
            f"{label} needs the registered custom object {registered!r} (code outside the model file)", ev,
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
                if module in (None, "__main__") and value in _PY_BUILTINS:
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
        raw = decode_lambda_code(code)
        if len(raw) > MAX_CODE_BYTES:
            self.result.add(
                KER400, f"lambda:{digest}", Severity.HIGH,
                f"{label} carries {len(raw)} bytes of marshalled code, too large to analyse", where,
            )
            self.result.errors.append(f"{label}: Lambda bytecode of {len(raw)} bytes not analysed")
            return
        try:
            value = read_marshal(raw)
        except MarshalError as exc:
            self.result.add(
                KER400, f"lambda:{digest}", Severity.HIGH,
                f"{label} carries marshalled Python code that could not be decoded ({exc})",
                f"{where}: {len(raw)} bytes, starts {raw[:16].hex()}",
            )
            self.result.errors.append(f"{label}: Lambda bytecode could not be decoded: {exc}")
            return
        if not isinstance(value, CodeInfo):
            self.result.add(
                KER400, f"lambda:{digest}", Severity.MEDIUM,
                f"{label} carries a marshalled {type(value).__name__}, not a code object (Keras cannot run it)",
                f"{where}: {str(value)[:200]}",
            )
            return
        severity, summary, evidence = judge_code(value)
        self.result.add(
            KER400, f"lambda:{digest}", severity,
            f"{label} carries Python bytecode{summary}", f"{where}: {evidence}",
        )

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


def decode_lambda_code(code: str) -> bytes:
    """The bytes Keras' ``func_load`` passes to ``marshal.loads``: base64, or the string's raw escape."""
    try:
        return base64.decodebytes(code.encode("ascii"))
    except (UnicodeEncodeError, binascii.Error):
        return code.encode("raw_unicode_escape")


def judge_code(code: CodeInfo) -> tuple[Severity, str, str]:
    """Severity, a message suffix and evidence for one decoded code object (and what it nests)."""
    names = code_names(code)
    strings = [s for s in code_strings(code) if s]
    imports = [i for c in code.walk() for i in c.imports]
    dangerous = [n for n in names if n in _CODE_DANGEROUS or n in REFLECTIVE_ATTRS]
    suspicious = [s for s in strings if _SUSPICIOUS_STRING.search(s) or s in _DANGEROUS_MODULE_STRINGS]
    nested = [c.qualname for c in code.walk() if c is not code]
    parts = [f"names [{', '.join(names[:24])}{', …' if len(names) > 24 else ''}]"]
    if imports:
        parts.append(f"imports [{', '.join(dict.fromkeys(imports))}]")
    others = [repr(v)[:40] for c in code.walk() for v in iter_values(c.consts, 2000)
              if isinstance(v, (int, float, complex)) and not isinstance(v, bool)]
    shown = [_short(s) for s in (suspicious + [s for s in strings if s not in suspicious])]
    shown += list(dict.fromkeys(others))
    parts.append(f"consts [{', '.join(shown[:12])}{', …' if len(shown) > 12 else ''}]")
    if nested:
        parts.append(f"nested code [{', '.join(nested[:8])}]")
    parts.append(f"{code.layout} layout, {len(code.bytecode)} bytes of bytecode")
    evidence = "; ".join(parts)
    if dangerous:
        return Severity.CRITICAL, f" that uses {', '.join(dict.fromkeys(dangerous[:8]))}", evidence
    if suspicious:
        return Severity.HIGH, f" with command-like strings ({_short(suspicious[0])})", evidence
    return Severity.MEDIUM, " (runs when the layer is called; no dangerous names seen)", evidence


def _short(text: str, n: int = 80) -> str:
    text = text.replace("\n", "\\n")
    return repr(text if len(text) <= n else text[: n - 1] + "…")


def _root(module: str) -> str:
    return module.split(".", 1)[0].split(">", 1)[0]


def _label(class_name: str, inner: Any, path: str) -> str:
    name = inner.get("name") if isinstance(inner, dict) else None
    if isinstance(name, str) and name:
        return f"{class_name} {name[:80]!r}"
    return f"{class_name} at {path or '<root>'}"


def analyse_config(doc: Any, shadowed: list[tuple[str, Any]], ctx: ScanContext, origin: str) -> None:
    """Walk one parsed config and report into ``ctx`` (embedded pickles are content-scanned)."""
    result = ConfigWalker(ctx, origin).walk(doc, shadowed)
    result.emit(ctx)
    for name, raw in result.embedded:
        sub = ctx.child(name)
        sub.scan_stream(io.BytesIO(raw), len(raw), name)


def analyse_config_bytes(data: bytes | str, ctx: ScanContext, origin: str) -> None:
    doc, shadowed = parse_config_json(data, origin)
    if not isinstance(doc, dict):
        raise AnalysisError(f"{origin} is JSON but not an object (found {type(doc).__name__})")
    analyse_config(doc, shadowed, ctx, origin)


# ---- .keras archives -----------------------------------------------------------------------------------


class KerasZipLayout:
    """``.keras`` (Keras 3 / tf.keras v3 format): a zip with config.json, metadata.json and weights."""

    id = "keras"
    #: assets/ may hold binary tokenizer models; they are content-scanned but not errors when unknown.
    opaque_members = True

    def matches(self, names: list[str], archive: ZipArchive) -> bool:
        return "config.json" in names and bool(
            {"metadata.json", "model.weights.h5", "model.weights.npz"} & set(names)
        )

    def analyse(self, archive: ZipArchive, ctx: ScanContext) -> set[str]:
        handled: set[str] = set()
        for member in archive.members:
            if member.name == "config.json":
                sub = ctx.child(member.name)
                try:
                    data = _read_member(archive, member, MAX_CONFIG_BYTES, "config.json")
                    analyse_config_bytes(data, sub, "config.json")
                except LimitExceeded as exc:
                    sub.report(ARC301, str(exc))
                    sub.error(str(exc))
                except AnalysisError as exc:
                    sub.error(str(exc))
                handled.add(member.name)
            elif member.name == "metadata.json":
                try:
                    meta = json.loads(_read_member(archive, member, 1 << 20, "metadata.json"))
                except (AnalysisError, ValueError, RecursionError):
                    continue  # left to the generic member scan
                if isinstance(meta, dict):
                    handled.add(member.name)
            elif member.name == "model.weights.h5":
                # Weights are h5py datasets read as arrays; nothing in them is resolved or executed.
                # Anything that is not HDF5 is left to the generic content scan.
                try:
                    with archive.open(member, 8) as stream:
                        head = stream.read(8)
                except (ZipFormatError, ZipLimitError):
                    continue
                if head == HDF5_MAGIC:
                    handled.add(member.name)
        return handled


def _read_member(archive: ZipArchive, member: ZipMember, limit: int, what: str) -> bytes:
    if member.uncompressed_size > limit:
        raise LimitExceeded(
            "max_config_bytes", limit,
            f"{what} declares {member.uncompressed_size} bytes, over the {limit}-byte limit; not analysed",
        )
    try:
        with archive.open(member, limit) as stream:
            return stream.read(limit + 1)
    except ZipLimitError as exc:
        raise LimitExceeded("max_config_bytes", limit, f"{what}: {exc}") from None
    except ZipFormatError as exc:
        raise AnalysisError(f"{what}: unreadable member: {exc}") from None


register_zip_layout(KerasZipLayout())


# ---- bare Keras config JSON ----------------------------------------------------------------------------

_JSON_HEAD = re.compile(rb"\A(?:\xef\xbb\xbf)?[ \t\r\n]*\{")
#: The key "class_name" as JSON may spell it: any letter may be written as a \\uXXXX escape.
_CLASS_NAME_KEY = re.compile(
    b'"' + b"".join(
        b"(?:" + re.escape(bytes([c])) + rb"|\\u00" + (b"%02x" % c)[:1] + b"[" + (b"%02x" % c)[1:].lower()
        + (b"%02x" % c)[1:].upper() + b"])"
        for c in b"class_name"
    ) + b'"'
)


class KerasConfigHandler:
    """A JSON document that is a Keras object config (folder models, Hugging Face / KerasHub presets)."""

    id = "keras-config"
    #: Before the Hugging Face JSON handler (70): a Keras config that also carries HF marker keys must
    #: not escape this analysis.
    priority = 69

    def sniff(self, probe: Probe) -> bool:
        """A JSON object with a ``class_name`` key anywhere (escaped spellings included), within the limit.

        The whole document is searched, not just its head: Keras ignores unknown top-level keys, so a
        long first key would otherwise push ``class_name`` out of view.
        """
        if _JSON_HEAD.match(probe.head) is None:
            return False
        if _CLASS_NAME_KEY.search(probe.head):
            return True
        if probe.size <= len(probe.head):
            return False
        probe.stream.seek(0)
        tail = b""
        left = min(probe.size, MAX_SNIFF_BYTES)
        while left > 0:
            chunk = probe.stream.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
            if _CLASS_NAME_KEY.search(tail + chunk):
                return True
            tail = chunk[-64:]
        return False

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        if size > MAX_CONFIG_BYTES:
            raise LimitExceeded(
                "max_config_bytes", MAX_CONFIG_BYTES,
                f"Keras config JSON of {size} bytes is over the {MAX_CONFIG_BYTES}-byte limit; not analysed",
            )
        analyse_config_bytes(stream.read(MAX_CONFIG_BYTES + 1), ctx, "Keras config JSON")


# ---- HDF5 (.h5 / .hdf5) -----------------------------------------------------------------------------------


def find_hdf5_superblock(stream: BinaryIO, size: int, head: bytes = b"") -> int | None:
    """Offset of the HDF5 signature: 0 or 512·2ⁿ (a user block may precede it), as libhdf5 searches."""
    offset = 0
    while offset + 8 <= size:
        if offset + 8 <= len(head):
            sig = head[offset : offset + 8]
        else:
            stream.seek(offset)
            sig = stream.read(8)
        if sig == HDF5_MAGIC:
            return offset
        offset = 512 if offset == 0 else offset * 2
    return None


def _hdf5_end(stream: BinaryIO, at: int) -> int | None:
    """The absolute end of the HDF5 data recorded in the superblock (None when it cannot be read)."""
    stream.seek(at + 8)
    head = stream.read(64)
    if len(head) < 16:
        return None
    version = head[0]
    if version in (0, 1):
        size_off = head[5]
        pos = 16 + (4 if version == 1 else 0)
    elif version in (2, 3):
        size_off = head[1]
        pos = 4
    else:
        return None
    fmt = {2: "<H", 4: "<I", 8: "<Q"}.get(size_off)
    if fmt is None:
        return None
    try:
        base = struct.unpack_from(fmt, head, pos)[0]
        # v0/1: base, free-space, EOF; v2/3: base, extension, EOF.
        eof = struct.unpack_from(fmt, head, pos + 2 * size_off)[0]
    except struct.error:
        return None
    # A user block written by the library records base == the superblock offset and an EOF address
    # that counts from the start of the file; bytes prepended to a plain file leave base at 0, and
    # libhdf5 then reads every address relative to where it found the superblock.
    return int(eof) if base == at else at + int(eof)


class Hdf5Handler:
    """HDF5 files: legacy Keras models (``model_config`` root attribute) and weights-only files."""

    id = "hdf5"
    priority = 15

    def sniff(self, probe: Probe) -> bool:
        return find_hdf5_superblock(probe.stream, probe.size, probe.head) is not None

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        at = find_hdf5_superblock(stream, size)
        if at is None:  # pragma: no cover - sniff found it
            raise AnalysisError("HDF5 signature not found")
        end = _hdf5_end(stream, at)
        head_extra = at > 0 and not _blank(stream, 0, at)
        tail_extra = end is not None and at < end < size and not _blank(stream, end, size - end)
        if head_extra or tail_extra:
            # libhdf5 skips a user block and ignores bytes past the recorded end, so the same file can
            # also be a pickle, zip or tar for another loader (a polyglot): read it that way too.
            claimed = _scan_as_other_format(stream, size, ctx, self)
            if tail_extra and not claimed and end is not None:
                name = "<bytes after the HDF5 data>"
                ctx.child(name, opaque_ok=True).scan_stream(
                    Window(stream, end, size - end), size - end, name  # type: ignore[arg-type]
                )
        stream.seek(0)
        attrs = read_hdf5_root_attrs(stream)
        config = attrs.get("model_config")
        training = attrs.get("training_config")
        if config is None and training is None:
            return  # weights only: datasets of numbers, nothing Keras resolves or runs
        ctx.saw_format("keras-h5")
        for key, text in (("model_config", config), ("training_config", training)):
            if text is None:
                continue
            sub = ctx.child(key)
            try:
                analyse_config_bytes(text, sub, f"HDF5 attribute {key}")
            except LimitExceeded as exc:
                sub.report(ARC301, str(exc))
                sub.error(str(exc))
            except AnalysisError as exc:
                sub.error(str(exc))


def _blank(stream: BinaryIO, offset: int, length: int) -> bool:
    """True when the bytes are all zeros (an unused user block, padding)."""
    stream.seek(offset)
    left = length
    while left > 0:
        chunk = stream.read(min(left, 1 << 20))
        if not chunk:
            break
        if chunk.strip(b"\x00"):
            return False
        left -= len(chunk)
    return True


def _scan_as_other_format(stream: BinaryIO, size: int, ctx: ScanContext, this: object) -> bool:
    """Dispatch the whole file to the first other handler that recognises it (not the text/other one)."""
    stream.seek(0)
    own = getattr(this, "id", "")
    return ctx.scan_stream(stream, size, ctx.path, exclude=frozenset({own, "other"})) is not None


_ATTRS = ("model_config", "training_config")


def read_hdf5_root_attrs(stream: BinaryIO) -> dict[str, str]:
    """The string values of the root attributes Keras reads (``model_config``, ``training_config``).

    Uses h5py on the file object: attributes only, no dataset is ever read.
    """
    try:
        import h5py  # optional extra, imported only for HDF5 input
    except ImportError:
        raise AnalysisError(
            "HDF5 file: reading its Keras model config needs h5py; install mlvet[hdf5]"
        ) from None
    out: dict[str, str] = {}
    try:
        with h5py.File(stream, "r") as f:
            for key in _ATTRS:
                if key not in f.attrs:
                    continue
                attr = h5py.h5a.open(f.id, key.encode())
                if attr.get_storage_size() > MAX_CONFIG_BYTES:
                    raise LimitExceeded(
                        "max_config_bytes", MAX_CONFIG_BYTES,
                        f"HDF5 attribute {key} holds {attr.get_storage_size()} bytes; not analysed",
                    )
                out[key] = _attr_text(f.attrs[key], key)
    except (LimitExceeded, AnalysisError):
        raise
    except Exception as exc:  # libhdf5 raises many types (OSError, KeyError, RuntimeError...)
        raise AnalysisError(f"unreadable HDF5 file: {type(exc).__name__}: {exc}") from None
    return out


def _attr_text(value: Any, key: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "surrogateescape")
    getter: Callable[[], Any] | None = getattr(value, "tolist", None)
    if getter is not None:
        item = getter()
        if isinstance(item, list) and len(item) == 1:
            item = item[0]
        if isinstance(item, bytes):
            return item.decode("utf-8", "surrogateescape")
        if isinstance(item, str):
            return item
    raise AnalysisError(f"HDF5 attribute {key} is not a string ({type(value).__name__})")


register(KerasConfigHandler())
register(Hdf5Handler())
