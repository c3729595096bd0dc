"""Keras Lambda bytecode: decode the marshalled code a config carries and judge what it would do.

Keras' ``func_load`` turns a Lambda's ``code`` string (base64, or the raw escape of the bytes) into a
function with ``marshal.loads``; the code runs whenever the layer is called. This module decodes the
same bytes with mlvet's static marshal reader (:mod:`mlvet.analysis.pycode`, nothing is unmarshalled)
and ranks the code by the names and constants it uses. Keras configs (``.keras``, HDF5, JSON) and the
Keras metadata of TensorFlow SavedModels share it, so the two readings cannot drift apart.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from mlvet.analysis.pycode import CodeInfo, MarshalError, code_names, code_strings, iter_values, read_marshal
from mlvet.model import Severity
from mlvet.policy import REFLECTIVE_ATTRS

#: Largest decoded Lambda bytecode blob analysed.
MAX_CODE_BYTES = 8 * 1024 * 1024

#: Names used by Lambda bytecode that mean process, file, import, dynamic code or reflection.
DANGEROUS_CODE_NAMES = frozenset(
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


@dataclass(frozen=True)
class CodeVerdict:
    """What one Lambda code field amounts to: a severity, what it carries, evidence, and a fault.

    ``carries`` completes "<layer> carries ...", e.g. "Python bytecode that uses os, system".

    ``fault`` is set when the bytes could not be analysed (too large, not decodable): the caller must
    then also record an analysis error, since the code was not fully read.
    """

    severity: Severity
    carries: str
    evidence: str
    fault: str = ""


def decode_lambda_code(code: str) -> bytes:
    """The bytes Keras' ``func_load`` passes to ``marshal.loads``: base64, or the string's raw escape."""
    try:
        return base64.decodebytes(code.encode("ascii"))
    except (UnicodeEncodeError, binascii.Error):
        return code.encode("raw_unicode_escape")


def judge_lambda_code(code: str) -> CodeVerdict:
    """Decode one Lambda ``code`` string and judge it (never unmarshals with Python's own reader)."""
    raw = decode_lambda_code(code)
    if len(raw) > MAX_CODE_BYTES:
        return CodeVerdict(
            Severity.HIGH, f"{len(raw)} bytes of marshalled code, too large to analyse", f"{len(raw)} bytes",
            f"Lambda bytecode of {len(raw)} bytes not analysed",
        )
    try:
        value = read_marshal(raw)
    except MarshalError as exc:
        return CodeVerdict(
            Severity.HIGH, f"marshalled Python code that could not be decoded ({exc})",
            f"{len(raw)} bytes, starts {raw[:16].hex()}",
            f"Lambda bytecode could not be decoded: {exc}",
        )
    if not isinstance(value, CodeInfo):
        return CodeVerdict(
            Severity.MEDIUM, f"a marshalled {type(value).__name__}, not a code object (Keras cannot run it)",
            str(value)[:200],
        )
    severity, summary, evidence = judge_code(value)
    return CodeVerdict(severity, f"Python bytecode{summary}", evidence)


def command_like(text: str) -> bool:
    """A string that reads like a shell command, a URL, code to evaluate, or a dangerous module name."""
    return bool(_SUSPICIOUS_STRING.search(text)) or text in _DANGEROUS_MODULE_STRINGS


def judge_code(code: CodeInfo) -> tuple[Severity, str, str]:
    """Severity, a message suffix and evidence for one decoded code object (and what it nests)."""
    names = code_names(code)
    strings = [s for s in code_strings(code) if s]
    imports = [i for c in code.walk() for i in c.imports]
    dangerous = [n for n in names if n in DANGEROUS_CODE_NAMES or n in REFLECTIVE_ATTRS]
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

