"""Keras rules and knowledge as data: rule texts, known gadgets, file-reading layers, argument heuristics.

Shared by the config walker (:mod:`mlvet.analysis.keras_config`); kept apart so the walker reads as
the deserialiser's control flow and the lists can grow without touching it.
"""

from __future__ import annotations

import builtins
import re
from typing import Any

from mlvet.analysis.keras_code import command_like
from mlvet.model import Severity
from mlvet.rules import define_rule

# ---- rules --------------------------------------------------------------------------------------------

_NO_LOAD = (
    "Do not load the model. If you need it, rebuild it from trusted code and load only the weights "
    "(model.load_weights) or ask the publisher for a version without this object."
)

KER400 = define_rule(
    "KER400", "keras-lambda-code", Severity.MEDIUM,
    "A Lambda layer (or another serialised Python lambda) carries marshalled Python bytecode. Severity "
    "rises to critical when the code uses process, file, import, eval/exec or reflection names, and to "
    "high when its strings look like commands, the bytecode cannot be decoded, or the file is a legacy "
    "HDF5 model (loaded without safe mode).",
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
    "third-party object). A registered or custom name that is not a known gadget is low: the file "
    "carries no code for it. A standard-library callable is medium, and high when the config passes it "
    "command-like, path or URL arguments.",
    "Loading it runs code that is not in the file: Keras before 3.9 imports the named module itself "
    "(running its top-level code) and calls the object with the config's arguments; newer versions take "
    "it only from custom_objects or the registration table, so a name that the loading program does not "
    "register makes loading fail.",
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
    "path, a lookup layer's or tokenizer's vocabulary file, ...). A plain relative file name is low.",
    "The model then depends on content outside the file: a TFSMLayer loads an attacker-chosen "
    "SavedModel (its graph can read and write files), and a vocabulary path reads a local file into the "
    "model, where get_vocabulary() or a re-save leaks it (arbitrary file read; SSRF through tf.io.gfile's "
    "remote file systems), even with safe_mode=True before Keras 3.12 (CVE-2025-12058).",
    "Check the path; ship vocabularies inside the .keras assets (Keras 3.12+ does this itself) and avoid "
    "TFSMLayer for untrusted SavedModels.",
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
TF_ROOTS = frozenset({"tensorflow", "tf"})

#: Names (last dotted part) that turn Keras' deserialiser against the loading process; Keras itself
#: forbids many of them since 3.11 ("non-modeling APIs"). Matched whatever module they come with.
GADGETS: dict[str, str] = {
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
SAFE_MODE_TOGGLES: dict[str, str] = {
    "enable_unsafe_deserialization": "disables Keras safe mode globally",
    "set_global_attribute": "sets Keras global state (e.g. safe_mode_saving=False)",
    "SafeModeScope": "changes Keras' safe-mode scope",
}
#: Layers that read a file or URL named in their config at load time: class name -> config keys.
#: A string there is a path (lists, dicts and nulls are inline data or an in-archive asset).
EXTERNAL_FILE_KEYS: dict[str, tuple[str, ...]] = {
    "TFSMLayer": ("filepath",),
    "StringLookup": ("vocabulary", "idf_weights"),
    "IntegerLookup": ("vocabulary", "idf_weights"),
    "TextVectorization": ("vocabulary", "idf_weights"),
    "IndexLookup": ("vocabulary", "idf_weights"),
}
#: KerasHub tokenizers (and the model tokenizers built on them) open these keys as files when a string.
TOKENIZER_FILE_KEYS = ("vocabulary", "merges", "proto", "special_tokens", "language_tokens")
#: A URL of any scheme tf.io.gfile may serve (file://, gs://, hdfs://, http(s)://, s3:// ...).
URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
#: Relative paths that still name secrets or system files from a usual working folder.
SENSITIVE_RELATIVE = re.compile(
    r"(?i)(^|[\\/])\.(ssh|aws|gnupg|kube|docker|config|netrc|git-credentials|bash_history)([\\/]|$)|"
    r"id_(rsa|ed25519|ecdsa)|passwd|shadow|\.env$"
)
#: tf.keras 2.11+ built-ins saved as "Custom>Name" (its optimizers are registered in the default package).
TF_KERAS_CUSTOM_BUILTINS = frozenset(
    {"Adadelta", "Adafactor", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Lion", "Nadam", "RMSprop", "SGD",
     "LossScaleOptimizer", "LossScaleOptimizerV3"}
)
#: Keras' internal global-state key for safe mode.
SAFE_MODE_KEY = "safe_mode_saving"
PY_BUILTINS = frozenset(dir(builtins))


ABSOLUTE = re.compile(r"^(/|~|[A-Za-z]:[\\/]|\\\\)")
#: Config keys that label a layer rather than feed it (layer names are free text).
LABEL_KEYS = frozenset({"name", "dtype", "trainable", "class_name", "module", "registered_name"})
#: A string that starts like a shell command line (program name, then arguments).
SHELL_START = re.compile(
    r"^\s*(?:sh|bash|zsh|dash|cmd|powershell|pwsh|touch|rm|curl|wget|nc|ncat|socat|python[\d.]*|perl|ruby|"
    r"php|node|cat|cp|mv|chmod|chown|echo|id|whoami|uname|env|kill|sudo)(?:\.exe)?\s"
)


def command_like_argument(args: Any, budget: int = 2000) -> tuple[str, str] | None:
    """The first string in a call's arguments that reads like a command, a URL or an absolute path."""
    stack = [args]
    while stack and budget > 0:
        value = stack.pop()
        budget -= 1
        if isinstance(value, dict):
            stack.extend(v for k, v in value.items() if k not in LABEL_KEYS)
        elif isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, str) and value:
            if command_like(value) or SHELL_START.match(value):
                return "the command-like string", value
            if ABSOLUTE.match(value) and len(value) > 1:
                return "the path", value
    return None
