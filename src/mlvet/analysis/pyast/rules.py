"""Rules of the Python-code analysis (HFR910-HFR917) and the finding type the engine returns."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from mlvet.model import Severity
from mlvet.rules import Rule, define_rule

_REVIEW = "Review the code before loading the model with trust_remote_code / custom code enabled."

PY_EXEC = define_rule(
    "HFR910", "python-dynamic-code", Severity.HIGH,
    "Python code shipped with the model evaluates or imports code it builds at run time "
    "(eval, exec, compile, __import__ of a computed name, runpy, code objects).",
    "Dynamic code execution hides what really runs from review and from scanners; modelling code has no "
    "need for it.",
    _REVIEW + " Prefer a model that needs no remote code (native transformers architecture, safetensors).",
    94,
)
PY_PROCESS = define_rule(
    "HFR911", "python-process", Severity.HIGH,
    "Python code shipped with the model starts processes or shell commands (os.system, subprocess, "
    "os.exec*/spawn*, pty).",
    "Model code runs with your privileges when it is imported; a shell command there can do anything "
    "you can.",
    _REVIEW, 78,
)
PY_NETWORK = define_rule(
    "HFR912", "python-network", Severity.MEDIUM,
    "Python code shipped with the model opens network connections or downloads files "
    "(sockets, requests, urllib, http.client, torch.hub, Hub downloads).",
    "Network access from model code can exfiltrate data or fetch a second-stage payload that no scan "
    "of the repository sees.",
    _REVIEW + " Check every URL it contacts.",
    829,
)
PY_DESERIALIZE = define_rule(
    "HFR913", "python-unsafe-deserialization", Severity.MEDIUM,
    "Python code shipped with the model deserialises data in a way that can execute code (pickle, "
    "marshal, dill, joblib, torch.load without weights_only, numpy allow_pickle, yaml unsafe loaders).",
    "Whatever file it loads becomes code: the danger moves to a file the loader may fetch later.",
    _REVIEW + " Make sure every file it loads is scanned, or use safetensors.",
    502,
)
PY_NATIVE = define_rule(
    "HFR914", "python-native-code", Severity.HIGH,
    "Python code shipped with the model loads native libraries or calls C directly (ctypes, cffi, "
    "torch.ops.load_library).",
    "Native code escapes every Python-level review and sandbox.",
    _REVIEW, 829,
)
PY_OBFUSCATED = define_rule(
    "HFR915", "python-obfuscated-code", Severity.CRITICAL,
    "Python code shipped with the model executes decoded data (exec of base64/zlib/hex/marshal "
    "output) or looks up dangerous functions by computed names.",
    "Encoding a payload and executing it, or building a function name at run time, exists only to hide "
    "behaviour from review and scanners.",
    "Do not load the model. Report the repository to its hosting service.",
    506,
)
PY_BUILTINS = define_rule(
    "HFR916", "python-builtins-patch", Severity.HIGH,
    "Python code shipped with the model replaces built-in functions (setattr(builtins, ...), "
    "assignments to builtins or __builtins__).",
    "Patching builtins changes the behaviour of every other library in the process, including "
    "security checks.",
    _REVIEW, 915,
)
PY_FILES = define_rule(
    "HFR917", "python-file-write", Severity.MEDIUM,
    "Python code shipped with the model writes, moves or deletes files at absolute, home or parent "
    "paths.",
    "Model code has no reason to touch files outside its own folder; writes to shell start-up files, "
    "SSH keys, git hooks or site-packages persist an attacker's code.",
    _REVIEW, 73,
)

CATEGORY_RULES: dict[str, Rule] = {
    "exec": PY_EXEC,
    "process": PY_PROCESS,
    "network": PY_NETWORK,
    "deserialize": PY_DESERIALIZE,
    "native": PY_NATIVE,
    "obfuscated": PY_OBFUSCATED,
    "builtins": PY_BUILTINS,
    "files": PY_FILES,
}

@dataclass(frozen=True)
class CodeFinding:
    """One dangerous reference in Python source."""

    rule: Rule
    severity: Severity
    qualified: str
    line: int
    excerpt: str
    message: str
    at_import: bool



def iter_rules() -> Iterator[Rule]:
    """Every rule this engine can report."""
    yield from CATEGORY_RULES.values()
