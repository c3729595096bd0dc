"""Static analysis of Python source shipped with models (Hugging Face remote code, MLflow code paths).

``from_pretrained(..., trust_remote_code=True)`` imports the ``.py`` files a repository names in its
``auto_map``; MLflow imports ``code/`` modules and runs ``model_code_path`` scripts. That code runs with
the user's privileges, so mlvet reads it the way a reviewer would, without importing it: it parses the
source with :mod:`ast` (never compiles or runs it), resolves what every name really refers to (``import
os as o; o.system``, ``from subprocess import Popen as P``, ``f = os.system``, ``__import__("os")``,
``getattr(os, "system")``, ``sys.modules["os"]``) and reports references to process execution, dynamic
code execution, unsafe deserialisation, network access, native code, builtins monkey-patching and file
writes outside the working folder, each with its line and the source line as evidence.

Severity reflects what the call can do and *when* it runs: code at module level (and in class bodies,
decorators and default arguments) runs on import, i.e. during ``from_pretrained`` itself, so when the
file is imported by the loader, high findings there become critical. Ordinary modelling code
(``torch.nn`` layers, ``os.path``, ``logging``, reading vocab files) produces nothing.

The package is split along its seams: :mod:`.rules` (rule ids and the result type), :mod:`.tables`
(what each qualified name does, as data), :mod:`.scopes` (pass 1: what names are bound to),
:mod:`.analyser` (pass 2: resolution and findings), :mod:`.torchscript` (serialized TorchScript code).
The engine returns :class:`CodeFinding` values; the format layer reports them.
"""

from mlvet.analysis.pyast.analyser import analyse_source
from mlvet.analysis.pyast.parse import MAX_SOURCE_BYTES, parse_source, relative_imports
from mlvet.analysis.pyast.rules import (
    PY_BUILTINS,
    PY_DESERIALIZE,
    PY_EXEC,
    PY_FILES,
    PY_NATIVE,
    PY_NETWORK,
    PY_OBFUSCATED,
    PY_PROCESS,
    CodeFinding,
    iter_rules,
)
from mlvet.analysis.pyast.torchscript import torchscript_findings

__all__ = [
    "MAX_SOURCE_BYTES",
    "PY_BUILTINS",
    "PY_DESERIALIZE",
    "PY_EXEC",
    "PY_FILES",
    "PY_NATIVE",
    "PY_NETWORK",
    "PY_OBFUSCATED",
    "PY_PROCESS",
    "CodeFinding",
    "analyse_source",
    "iter_rules",
    "parse_source",
    "relative_imports",
    "torchscript_findings",
]
