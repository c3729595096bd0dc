"""What the chat-template checks look for: limits, Python-internal names, modules, gadgets, patterns."""

from __future__ import annotations

import re
from collections.abc import Callable

from mlvet.model import Severity

#: Templates beyond this many characters are not parsed (real ones are a few KB; the largest ~50 KB).
MAX_TEMPLATE_CHARS = 1_000_000
#: Findings reported per template; the last message says how many more were found.
MAX_FINDINGS = 32
#: Folded strings longer than this are treated as unknown (they are never attribute names).
MAX_FOLD_LEN = 4096
#: Alternatives kept per folded value ({% if %} branches assign different strings).
MAX_ALTERNATIVES = 16
#: Recursion depth of folding and unparsing.
MAX_DEPTH = 64
#: Jinja's sandbox caps range() here; a template asking for more is built to exhaust resources.
MAX_RANGE = 100_000
#: Attribute/subscript chains longer than this are reported (low).
MAX_CHAIN = 6
#: Stand-in for integers too large to compute.
HUGE = 10**30

#: Internal attributes that are never private conventions but escape primitives; all are critical.
ESCAPE_NAMES = frozenset({
    "__class__", "__mro__", "__base__", "__bases__", "__subclasses__", "__globals__", "__builtins__",
    "__import__", "__init__", "__dict__", "__getattribute__", "__getattr__", "__code__", "__closure__",
    "__func__", "__self__", "__module__", "__loader__", "__spec__", "__reduce__", "__reduce_ex__",
    "__call__", "__new__", "__subclasshook__", "__init_subclass__", "__qualname__", "__name__",
    "__getitem__", "__setattr__", "__delattr__", "__traceback__", "__context__", "__cause__",
    "_module", "_TemplateReference__context", "_Undefined__obj", "_environment", "_context",
    "mro", "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "tb_frame", "tb_next",
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "func_globals", "co_code",
})
#: Attribute names of process and code execution.
EXEC_ATTRS = frozenset({
    "popen", "Popen", "system", "check_output", "check_call", "getoutput", "getstatusoutput",
    "run_path", "run_module", "eval", "exec", "execfile", "compile", "import_module", "load_module",
    "exec_module", "startfile", "fork", "forkpty", "posix_spawn", "posix_spawnp", "kill", "rmtree",
    "unlink", "removedirs",
})
EXEC_ATTR_RE = re.compile(r"^(?:spawn|exec)[lv]p?e?$")
#: Names of modules and builtins that no template context provides legitimately.
MODULE_NAMES = frozenset({
    "os", "sys", "subprocess", "builtins", "importlib", "posix", "nt", "pty", "socket", "shutil",
    "ctypes", "pickle", "marshal", "runpy", "commands", "platform", "multiprocessing", "codecs",
})
DANGEROUS_CALLABLES = frozenset({
    "eval", "exec", "open", "compile", "getattr", "setattr", "delattr", "globals", "locals", "vars",
    "input", "breakpoint", "help",
})
#: Jinja/Flask globals that escape payloads start from (their __init__.__globals__ reach os).
GADGET_GLOBALS = frozenset({
    "cycler", "joiner", "lipsum", "self", "config", "request", "url_for", "get_flashed_messages",
    "session", "environment",
})
#: Filters whose ``attribute=`` argument (or first argument) is an attribute path with dots.
ATTR_PATH_FILTERS = frozenset({"selectattr", "rejectattr", "groupby"})
STRING_METHODS_1: dict[str, Callable[[str], str]] = {
    "upper": str.upper, "lower": str.lower, "strip": str.strip, "lstrip": str.lstrip,
    "rstrip": str.rstrip, "capitalize": str.capitalize, "title": str.title, "swapcase": str.swapcase,
    "casefold": str.casefold,
}
STRING_FILTERS_1: dict[str, Callable[[str], str]] = {
    "upper": str.upper, "lower": str.lower, "trim": str.strip, "capitalize": str.capitalize,
    "title": str.title, "string": str, "e": str, "escape": str, "safe": str, "striptags": str,
}
#: Python's own dunders are lower case; ``__Bold__`` markdown is not one.
DUNDER_RE = re.compile(r"__[a-z][a-z0-9_]*__")
#: Pieces of a dunder split to be joined later: ``'__cla'``, ``'ss__'``.
DUNDER_FRAGMENT_RE = re.compile(r"__[A-Za-z][A-Za-z0-9_]*|[A-Za-z0-9_]*[A-Za-z0-9]__")
PRINTF_RE = re.compile(r"%(?:%|[sdic])")
FORMAT_FIELD_PART_RE = re.compile(r"\.([^.\[]*)|\[([^\]]*)\]")


def internal_severity(name: str) -> Severity | None:
    """Severity of using ``name`` as an attribute: None when it is an ordinary public name."""
    if name in ESCAPE_NAMES or (name.startswith("_") and "__" in name):
        return Severity.CRITICAL
    if name.startswith("_"):
        return Severity.HIGH
    return None
