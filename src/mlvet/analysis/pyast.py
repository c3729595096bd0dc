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
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterator
from dataclasses import dataclass

from mlvet.errors import AnalysisError
from mlvet.model import Severity
from mlvet.rules import Rule, define_rule

#: Python source larger than this is not parsed (real modelling files are well under 1 MiB).
MAX_SOURCE_BYTES = 8 * 1024 * 1024

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

_CATEGORY_RULES: dict[str, Rule] = {
    "exec": PY_EXEC,
    "process": PY_PROCESS,
    "network": PY_NETWORK,
    "deserialize": PY_DESERIALIZE,
    "native": PY_NATIVE,
    "obfuscated": PY_OBFUSCATED,
    "builtins": PY_BUILTINS,
    "files": PY_FILES,
}

H, M, L, C = Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.CRITICAL

# Qualified name (or prefix with ".*") -> (category, base severity, what it does).
_TABLE: dict[str, tuple[str, Severity, str]] = {
    # ---- processes
    "os.system": ("process", H, "runs a shell command"),
    "os.popen": ("process", H, "runs a shell command"),
    "os.exec*": ("process", H, "replaces the process with another program"),
    "os.spawn*": ("process", H, "starts a program"),
    "os.posix_spawn*": ("process", H, "starts a program"),
    "os.fork*": ("process", M, "forks the process"),
    "os.startfile": ("process", H, "starts a program"),
    "subprocess.*": ("process", H, "starts a program"),
    "pty.spawn": ("process", H, "starts a program on a pseudo-terminal"),
    "commands.*": ("process", H, "runs a shell command"),
    "platform.popen": ("process", H, "runs a shell command"),
    "asyncio.create_subprocess_exec": ("process", H, "starts a program"),
    "asyncio.create_subprocess_shell": ("process", H, "runs a shell command"),
    "multiprocessing.Process": ("process", L, "starts a worker process"),
    "sh.*": ("process", H, "runs shell commands"),
    "pexpect.*": ("process", H, "starts and drives programs"),
    # ---- dynamic code
    "builtins.eval": ("exec", H, "evaluates a Python expression"),
    "builtins.exec": ("exec", H, "executes Python code"),
    "builtins.execfile": ("exec", H, "executes a Python file"),
    "builtins.compile": ("exec", H, "compiles Python code"),
    "runpy.*": ("exec", H, "runs a Python module or file"),
    "code.interact": ("exec", H, "runs an interactive interpreter"),
    "code.InteractiveInterpreter": ("exec", H, "runs Python code"),
    "code.InteractiveConsole": ("exec", H, "runs Python code"),
    "types.FunctionType": ("exec", H, "builds a function from a code object"),
    "types.CodeType": ("exec", H, "builds a code object"),
    "importlib.util.spec_from_file_location": ("exec", M, "imports Python code from a file path"),
    "importlib.machinery.SourceFileLoader": ("exec", M, "imports Python code from a file path"),
    "importlib.machinery.SourcelessFileLoader": ("exec", H, "imports compiled bytecode from a file path"),
    "imp.load_source": ("exec", H, "imports Python code from a file path"),
    "imp.load_module": ("exec", H, "imports Python code from a file path"),
    "marshal.loads": ("exec", H, "unmarshals data (code objects)"),
    "marshal.load": ("exec", H, "unmarshals data (code objects)"),
    # ---- deserialisation
    "pickle.load": ("deserialize", H, "unpickles data (runs code in the data)"),
    "pickle.loads": ("deserialize", H, "unpickles data (runs code in the data)"),
    "pickle.Unpickler": ("deserialize", H, "unpickles data (runs code in the data)"),
    "_pickle.*": ("deserialize", H, "unpickles data (runs code in the data)"),
    "cPickle.*": ("deserialize", H, "unpickles data (runs code in the data)"),
    "dill.load*": ("deserialize", H, "unpickles data with dill (runs code in the data)"),
    "cloudpickle.load*": ("deserialize", H, "unpickles data (runs code in the data)"),
    "jsonpickle.decode": ("deserialize", H, "decodes jsonpickle data (runs code in the data)"),
    "shelve.open": ("deserialize", M, "opens a pickle-backed shelf"),
    "joblib.load": ("deserialize", M, "loads a joblib file (pickle)"),
    "pandas.read_pickle": ("deserialize", M, "loads a pickle"),
    "torch.load": ("deserialize", L, "loads a torch checkpoint"),
    "numpy.load": ("deserialize", M, "loads arrays with allow_pickle=True"),
    "yaml.load": ("deserialize", M, "parses YAML with a loader that can build Python objects"),
    "yaml.load_all": ("deserialize", M, "parses YAML with a loader that can build Python objects"),
    "yaml.unsafe_load": ("deserialize", H, "parses YAML with the unsafe loader (builds Python objects)"),
    "yaml.unsafe_load_all": ("deserialize", H, "parses YAML with the unsafe loader (builds Python objects)"),
    # ---- network
    "socket.*": ("network", H, "opens a raw network socket"),
    "_socket.*": ("network", H, "opens a raw network socket"),
    "requests.*": ("network", M, "makes an HTTP request"),
    "httpx.*": ("network", M, "makes an HTTP request"),
    "aiohttp.*": ("network", M, "makes an HTTP request"),
    "urllib3.*": ("network", M, "makes an HTTP request"),
    "urllib.request.*": ("network", M, "opens a URL"),
    "urllib.urlopen": ("network", M, "opens a URL"),
    "urllib.urlretrieve": ("network", M, "downloads a URL"),
    "urllib2.*": ("network", M, "opens a URL"),
    "http.client.*": ("network", M, "makes an HTTP connection"),
    "httplib.*": ("network", M, "makes an HTTP connection"),
    "ftplib.*": ("network", M, "opens an FTP connection"),
    "smtplib.*": ("network", M, "sends e-mail"),
    "telnetlib.*": ("network", M, "opens a telnet connection"),
    "paramiko.*": ("network", M, "opens an SSH connection"),
    "websocket.*": ("network", M, "opens a websocket"),
    "websockets.*": ("network", M, "opens a websocket"),
    "webbrowser.*": ("network", M, "opens a browser"),
    "xmlrpc.client.*": ("network", M, "makes an XML-RPC call"),
    "torch.hub.load": ("exec", H, "downloads and runs code from a GitHub repository (torch.hub)"),
    "torch.hub.load_state_dict_from_url": ("network", L, "downloads a checkpoint"),
    "torch.hub.download_url_to_file": ("network", L, "downloads a file"),
    "huggingface_hub.hf_hub_download": ("network", L, "downloads a file from the Hub"),
    "huggingface_hub.snapshot_download": ("network", L, "downloads a repository from the Hub"),
    "huggingface_hub.cached_download": ("network", L, "downloads a file"),
    "huggingface_hub.file_download.*": ("network", L, "downloads a file from the Hub"),
    "huggingface_hub.upload_file": ("network", M, "uploads a file to the Hub"),
    "huggingface_hub.upload_folder": ("network", M, "uploads a folder to the Hub"),
    "huggingface_hub.HfApi": ("network", L, "talks to the Hub API"),
    # ---- native code
    "ctypes.*": ("native", H, "calls native code"),
    "_ctypes.*": ("native", H, "calls native code"),
    "cffi.*": ("native", H, "calls native code"),
    "torch.ops.load_library": ("native", H, "loads a native library into torch"),
    "torch.classes.load_library": ("native", H, "loads a native library into torch"),
}

#: Modules whose attribute lookups with a computed name are suspicious (``getattr(os, x)``).
_SENSITIVE_MODULES = frozenset(
    {"os", "subprocess", "builtins", "posix", "nt", "pty", "socket", "ctypes", "importlib", "pickle",
     "marshal", "sys", "shutil", "runpy", "code", "types"}
)
#: Module aliases that resolve to the canonical module at run time.
_MODULE_ALIASES = {"posix": "os", "nt": "os", "__builtin__": "builtins", "_posixsubprocess": "subprocess",
                   "cPickle": "pickle", "urllib2": "urllib.request"}
#: Calls whose output is decoded data; exec/eval of it is an obfuscated payload.
_DECODERS = (
    "base64.", "binascii.", "codecs.decode", "zlib.decompress", "bz2.decompress", "lzma.decompress",
    "gzip.decompress", "marshal.loads", "bytes.fromhex", "bytearray.fromhex", "builtins.bytes.fromhex",
)
_BUILTIN_NAMES = frozenset(
    {"eval", "exec", "compile", "__import__", "open", "getattr", "setattr", "execfile", "globals",
     "vars", "locals", "bytes", "bytearray"}
)
_FILE_MUTATORS = frozenset(
    {"os.remove", "os.unlink", "os.rmdir", "os.removedirs", "os.rename", "os.renames", "os.replace",
     "os.chmod", "os.chown", "os.symlink", "os.link", "os.makedirs", "os.mkdir", "shutil.rmtree",
     "shutil.move", "shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.copytree"}
)
_SENSITIVE_PATHS = (
    "/etc/", "~/.ssh", "/.ssh/", ".bashrc", ".bash_profile", ".profile", ".zshrc", "crontab",
    "/usr/", "/bin/", "site-packages", "dist-packages", ".git/hooks", "/root/", "authorized_keys",
    "/System/", "\\Windows\\", "AppData", "Startup",
)


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


_GLOBS = [(k[:-1], v) for k, v in _TABLE.items() if k.endswith("*") and not k.endswith(".*")]


def _is_exact(qualified: str) -> bool:
    """Exact (or function-glob) table entries: plain references to these are reported, not just calls."""
    return qualified in _TABLE or any(qualified.startswith(k) for k, _ in _GLOBS)


def _lookup(qualified: str) -> tuple[str, Severity, str] | None:
    if qualified in _TABLE:
        return _TABLE[qualified]
    parts = qualified.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        key = ".".join(parts[:cut]) + ".*"
        if key in _TABLE:
            return _TABLE[key]
    # "os.execv" matches "os.exec*": a prefix glob on the last part.
    for key, val in _GLOBS:
        if qualified.startswith(key):
            return val
    return None


def _canonical(qualified: str) -> str:
    head, _, rest = qualified.partition(".")
    if head in _MODULE_ALIASES:
        return _MODULE_ALIASES[head] + ("." + rest if rest else "")
    return qualified


# ---- scopes ------------------------------------------------------------------------------------------

Binding = frozenset[str]  # possible qualified names a local name refers to ("" = something unknown)
_UNKNOWN: Binding = frozenset({""})


class _Scope:
    def __init__(self, parent: _Scope | None, kind: str) -> None:
        self.parent = parent
        self.kind = kind  # "module", "function", "class"
        self.names: dict[str, set[str]] = {}

    def bind(self, name: str, values: Binding) -> None:
        self.names.setdefault(name, set()).update(values)

    def lookup(self, name: str) -> Binding | None:
        scope: _Scope | None = self
        first = True
        while scope is not None:
            # Class scopes are not visible from the functions nested in them (Python's rule).
            if (first or scope.kind != "class") and name in scope.names:
                return frozenset(scope.names[name])
            first = False
            scope = scope.parent
        return None


class _Collector(ast.NodeVisitor):
    """Pass 1: what each name is bound to, per scope (imports, assignments, defs, parameters)."""

    def __init__(self) -> None:
        self.scopes: dict[int, _Scope] = {}
        self.module = _Scope(None, "module")
        self.current = self.module
        self.star_modules: set[str] = set()
        self.pending: dict[tuple[int, str], list[ast.expr]] = {}

    def scope_for(self, node: ast.AST) -> _Scope:
        return self.scopes.get(id(node), self.module)

    def _enter(self, node: ast.AST, kind: str) -> _Scope:
        scope = _Scope(self.current, kind)
        self.scopes[id(node)] = scope
        return scope

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self.current.bind(alias.asname, frozenset({_canonical(alias.name)}))
            else:
                top = alias.name.split(".")[0]
                self.current.bind(top, frozenset({_canonical(top)}))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = "." * node.level + (node.module or "") if node.level else _canonical(node.module or "")
        for alias in node.names:
            if alias.name == "*":
                if not node.level:
                    self.star_modules.add(base)
                continue
            self.current.bind(alias.asname or alias.name, frozenset({f"{base}.{alias.name}"}))

    def _bind_target(self, target: ast.expr, value: ast.expr | None) -> None:
        if isinstance(target, ast.Name):
            if value is None:
                self.current.bind(target.id, _UNKNOWN)
            else:
                self.current.bind(target.id, frozenset())
                self.pending.setdefault((id(self.current), target.id), []).append(value)
        elif isinstance(target, (ast.Tuple, ast.List)):
            for elt in target.elts:
                self._bind_target(elt.value if isinstance(elt, ast.Starred) else elt, None)

    def visit_Assign(self, node: ast.Assign) -> None:
        for t in node.targets:
            self._bind_target(t, node.value)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._bind_target(node.target, node.value)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._bind_target(node.target, None)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._bind_target(node.target, node.value)
        self.generic_visit(node)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        self._bind_target(node.target, None)
        self.generic_visit(node)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        for item in node.items:
            if item.optional_vars is not None:
                self._bind_target(item.optional_vars, None)
        self.generic_visit(node)

    visit_AsyncWith = visit_With

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.current.bind(node.name, _UNKNOWN)
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        self._bind_target(node.target, None)
        self.generic_visit(node)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        if not isinstance(node, ast.Lambda):
            self.current.bind(node.name, _UNKNOWN)
            for d in node.decorator_list:
                self.visit(d)
            if node.returns is not None:
                self.visit(node.returns)
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        outer = self.current
        self.current = self._enter(node, "function")
        args = node.args
        for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
            if a is not None:
                self.current.bind(a.arg, _UNKNOWN)
        body = node.body if isinstance(node.body, list) else [node.body]
        for stmt in body:
            self.visit(stmt)
        self.current = outer

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.current.bind(node.name, _UNKNOWN)
        for expr in [*node.decorator_list, *node.bases, *[k.value for k in node.keywords]]:
            self.visit(expr)
        outer = self.current
        self.current = self._enter(node, "class")
        for stmt in node.body:
            self.visit(stmt)
        self.current = outer

    def visit_Global(self, node: ast.Global) -> None:
        return

    def visit_Constant(self, node: ast.Constant) -> None:
        return  # leaves; NodeVisitor's default for Constant is slow (deprecation shims)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        return


# ---- pass 2: resolution and findings -----------------------------------------------------------------


class _Analyser(ast.NodeVisitor):
    def __init__(self, source: str, collector: _Collector, imported: bool) -> None:
        self.lines = source.splitlines()
        self.col = collector
        self.scope = collector.module
        self.deferred = False
        self.imported = imported
        self.findings: list[CodeFinding] = []
        self._seen: set[tuple[str, int, str]] = set()
        self._handled: set[int] = set()
        self._resolving: set[tuple[int, str]] = set()

    # -- name resolution

    def resolve(self, node: ast.expr, depth: int = 0) -> frozenset[str]:
        """Every qualified name the expression may evaluate to ('' entries mean 'something else')."""
        if depth > 24:
            return _UNKNOWN
        if isinstance(node, ast.Name):
            return self._resolve_name(node.id, depth)
        if isinstance(node, ast.Attribute):
            if node.attr == "__dict__":
                return self.resolve(node.value, depth + 1)
            bases = self.resolve(node.value, depth + 1)
            return frozenset(f"{b}.{node.attr}" if b else "" for b in bases)
        if isinstance(node, ast.Subscript):
            key = _const_str(node.slice)
            base = node.value
            if key is not None:
                # sys.modules["os"], builtins.__dict__["exec"], globals()["__builtins__"]["eval"]
                out: set[str] = set()
                for b in self.resolve(base, depth + 1):
                    if b == "sys.modules":
                        out.add(_canonical(key))
                    elif b in ("builtins.globals()", "builtins.vars()", "builtins.locals()"):
                        out.update(self._resolve_name(key, depth + 1))
                    else:
                        out.add(f"{b}.{key}" if b else "")
                return frozenset(out) or _UNKNOWN
            return _UNKNOWN
        if isinstance(node, ast.Call):
            func = self.resolve(node.func, depth + 1)
            first = _const_str(node.args[0]) if node.args else None
            out = set()
            for f in func:
                if f in ("builtins.__import__", "importlib.import_module", "importlib.__import__") and first:
                    out.add(_canonical(first) if f != "builtins.__import__" else _canonical(first.split(".")[0]))
                elif f == "builtins.getattr" and len(node.args) >= 2:
                    attr = _const_str(node.args[1])
                    if attr is None:
                        out.add("")
                    else:
                        out.update(f"{b}.{attr}" if b else "" for b in self.resolve(node.args[0], depth + 1))
                elif f in ("builtins.globals", "builtins.vars", "builtins.locals") and not node.args:
                    out.add(f + "()")
                else:
                    out.add("")
            return frozenset(out) or _UNKNOWN
        return _UNKNOWN

    def _resolve_name(self, name: str, depth: int) -> frozenset[str]:
        if name == "__builtins__":
            return frozenset({"builtins"})
        bound = self.scope.lookup(name)
        if bound is None:
            if name in _BUILTIN_NAMES or name in _BUILTIN_ALL:
                return frozenset({f"builtins.{name}"})
            for mod in self.col.star_modules:
                cand = f"{mod}.{name}"
                if _lookup(cand) is not None:
                    return frozenset({cand})
            return _UNKNOWN
        out = set(bound)
        # Assignments recorded in pass 1: resolve their values lazily (aliases of aliases).
        where = self._binding_scope(name)
        for value in self.col.pending.get((id(where), name), []):
            key = (id(value), name)
            if key in self._resolving:
                continue
            self._resolving.add(key)
            try:
                out.update(self.resolve(value, depth + 1))
            finally:
                self._resolving.discard(key)
        return frozenset(out) if out else _UNKNOWN

    def _binding_scope(self, name: str) -> _Scope | None:
        scope: _Scope | None = self.scope
        first = True
        while scope is not None:
            if (first or scope.kind != "class") and name in scope.names:
                return scope
            first = False
            scope = scope.parent
        return None

    # -- reporting

    def add(self, node: ast.AST, qualified: str, category: str, severity: Severity, what: str) -> None:
        line = getattr(node, "lineno", 0)
        key = (qualified, line, category)
        if key in self._seen:
            return
        self._seen.add(key)
        at_import = not self.deferred
        if at_import and self.imported:
            if severity is Severity.HIGH:
                severity = Severity.CRITICAL
            elif severity is Severity.MEDIUM:
                severity = Severity.HIGH
        excerpt = self.lines[line - 1].strip()[:240] if 0 < line <= len(self.lines) else ""
        when = "runs at import time" if at_import else "inside a function or script block"
        self.findings.append(
            CodeFinding(
                rule=_CATEGORY_RULES[category],
                severity=severity,
                qualified=qualified,
                line=line,
                excerpt=excerpt,
                message=f"line {line}: {qualified} {what} ({when})",
                at_import=at_import,
            )
        )

    def check_reference(self, node: ast.expr, call: ast.Call | None) -> None:
        for q in self.resolve(node):
            if not q:
                continue
            hit = _lookup(q)
            if hit is None:
                continue
            category, sev, what = hit
            if call is not None:
                adjusted = _adjust_for_arguments(q, call, sev)
                if adjusted is None:
                    continue
                sev = adjusted
                if category == "exec" and q in ("builtins.eval", "builtins.exec", "builtins.compile") and (
                    _contains_decoder(call, self)
                ):
                    self.add(node, q, "obfuscated", Severity.CRITICAL, f"{what} on decoded data")
                    continue
            if call is None and not _is_exact(q):
                continue  # constants and classes of a module (subprocess.PIPE) are not behaviour
            self.add(node, q, category, sev, what if call is not None else f"is referenced ({what})")

    # -- visitors

    def visit_Call(self, node: ast.Call) -> None:
        funcs = self.resolve(node.func)
        self.check_reference(node.func, node)
        self._handled.add(id(node.func))
        for f in funcs:
            if f in ("builtins.__import__", "importlib.import_module", "importlib.__import__"):
                if not node.args or _const_str(node.args[0]) is None:
                    sev = Severity.HIGH if f != "importlib.import_module" else Severity.MEDIUM
                    self.add(node, f, "exec", sev, "imports a module whose name is computed at run time")
            elif f == "builtins.getattr" and len(node.args) >= 2 and _const_str(node.args[1]) is None:
                targets = self.resolve(node.args[0])
                if any(t.split(".")[0] in _SENSITIVE_MODULES for t in targets if t):
                    self.add(node, f, "obfuscated", Severity.HIGH,
                             "looks up an attribute of a sensitive module by a computed name")
            elif f == "builtins.setattr" and node.args:
                targets = self.resolve(node.args[0])
                if "builtins" in targets:
                    self.add(node, "builtins", "builtins", Severity.HIGH, "is patched with setattr")
            elif f == "builtins.open":
                self._check_open(node)
            elif f in _FILE_MUTATORS and node.args:
                path = _literal_path(node.args[0])
                if path is not None and _outside_cwd(path):
                    sev = Severity.HIGH if _sensitive(path) else Severity.MEDIUM
                    self.add(node, f, "files", sev, f"changes {path!r} outside the model folder")
        # Visit children except the callee itself (already reported as a call).
        if not isinstance(node.func, ast.Name):
            self._visit_callee_inner(node.func)
        for a in node.args:
            self.visit(a)
        for k in node.keywords:
            self.visit(k.value)

    def _visit_callee_inner(self, func: ast.expr) -> None:
        # Arguments and sub-expressions inside the callee (e.g. ``__import__("os")`` in
        # ``__import__("os").system``) still need a look, but the callee chain is reported once.
        if isinstance(func, ast.Attribute):
            inner = func.value
            if isinstance(inner, ast.Call):
                self._handled.add(id(inner.func))
                self.visit(inner)
            elif isinstance(inner, (ast.Attribute, ast.Subscript)):
                self._visit_callee_inner(inner)
        elif isinstance(func, ast.Subscript):
            self.visit(func.slice)
            if isinstance(func.value, ast.Call):
                self.visit(func.value)
        elif isinstance(func, ast.Call):
            self.visit(func)
        else:
            self.visit(func)

    def _check_open(self, node: ast.Call) -> None:
        mode = _const_str(node.args[1]) if len(node.args) >= 2 else None
        for k in node.keywords:
            if k.arg == "mode":
                mode = _const_str(k.value)
        if not mode or not any(ch in mode for ch in "wax+"):
            return
        path = _literal_path(node.args[0]) if node.args else None
        if path is not None and _outside_cwd(path):
            sev = Severity.HIGH if _sensitive(path) else Severity.MEDIUM
            self.add(node, "builtins.open", "files", sev, f"writes {path!r} outside the model folder")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if id(node) in self._handled:
            return
        if isinstance(node.ctx, ast.Load):
            self.check_reference(node, None)
            # The base of a reported chain is itself fine ("os" in "os.system").
            inner: ast.expr = node.value
            while isinstance(inner, ast.Attribute):
                self._handled.add(id(inner))
                inner = inner.value
            if isinstance(inner, (ast.Call, ast.Subscript)):
                self.visit(inner)
            return
        if isinstance(node.ctx, ast.Store) and "builtins" in self.resolve(node.value):
            self.add(node, f"builtins.{node.attr}", "builtins", Severity.HIGH, "is replaced")
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        return

    def visit_Name(self, node: ast.Name) -> None:
        if id(node) in self._handled or not isinstance(node.ctx, ast.Load):
            return
        self.check_reference(node, None)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, ast.Store) and "builtins" in self.resolve(node.value):
            key = _const_str(node.slice) or "?"
            self.add(node, f"builtins.{key}", "builtins", Severity.HIGH, "is replaced")
        elif isinstance(node.ctx, ast.Load) and _const_str(node.slice) is not None:
            hits = [q for q in self.resolve(node) if q and _lookup(q)]
            if hits:
                self.check_reference(node, None)
                return
        self.generic_visit(node)

    def _body(self, node: ast.AST, stmts: list[ast.stmt] | ast.expr, deferred: bool) -> None:
        outer_scope, outer_def = self.scope, self.deferred
        self.scope = self.col.scope_for(node)
        self.deferred = deferred
        for stmt in stmts if isinstance(stmts, list) else [stmts]:
            self.visit(stmt)
        self.scope, self.deferred = outer_scope, outer_def

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> None:
        if not isinstance(node, ast.Lambda):
            for d in node.decorator_list:
                self.visit(d)
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        self._body(node, node.body, True)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node)

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._function(node)

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._function(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases, *[k.value for k in node.keywords]]:
            self.visit(expr)
        self._body(node, node.body, self.deferred)

    def visit_If(self, node: ast.If) -> None:
        # ``if __name__ == "__main__":`` runs only when the file is executed as a script, not on import.
        if not self.deferred and _is_main_guard(node.test):
            self.visit(node.test)
            self.deferred = True
            for stmt in node.body:
                self.visit(stmt)
            self.deferred = False
            for stmt in node.orelse:
                self.visit(stmt)
            return
        self.generic_visit(node)


_BUILTIN_ALL = frozenset(dir(builtins))


def _const_str(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _literal_path(node: ast.expr) -> str | None:
    """A path argument known from the source (string literals, f-string heads, expanduser/join)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr) and node.values:
        head = node.values[0]
        if isinstance(head, ast.Constant) and isinstance(head.value, str):
            return head.value
    if isinstance(node, ast.Call) and node.args:
        fn = node.func
        name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
        if name in ("expanduser", "join", "Path", "abspath", "realpath", "expandvars"):
            return _literal_path(node.args[0])
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Div)):
        return _literal_path(node.left)
    return None


def _outside_cwd(path: str) -> bool:
    p = path.replace("\\", "/")
    return p.startswith(("/", "~", "$HOME", "%", "..")) or "/../" in p or (len(p) > 2 and p[1] == ":")


def _sensitive(path: str) -> bool:
    return any(s in path for s in _SENSITIVE_PATHS)


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def _adjust_for_arguments(qualified: str, call: ast.Call, sev: Severity) -> Severity | None:
    """Argument-dependent severities: ``torch.load(weights_only=True)`` is safe, and so on. None = no finding."""
    if qualified == "torch.load":
        wo = _keyword(call, "weights_only")
        if isinstance(wo, ast.Constant):
            return None if wo.value is True else Severity.HIGH
        return sev
    if qualified == "numpy.load":
        ap = _keyword(call, "allow_pickle")
        if isinstance(ap, ast.Constant) and ap.value is True:
            return sev
        return None if ap is None or isinstance(ap, ast.Constant) else Severity.LOW
    if qualified in ("yaml.load", "yaml.load_all"):
        loader = _keyword(call, "Loader")
        if loader is None and len(call.args) >= 2:
            loader = call.args[1]
        name = ""
        if isinstance(loader, ast.Attribute):
            name = loader.attr
        elif isinstance(loader, ast.Name):
            name = loader.id
        if name in ("SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"):
            return None
        return Severity.HIGH if name in ("UnsafeLoader", "Loader", "CLoader", "CUnsafeLoader") else sev
    return sev


def _contains_decoder(call: ast.Call, analyser: _Analyser) -> bool:
    for arg in [*call.args, *[k.value for k in call.keywords]]:
        for sub in ast.walk(arg):
            if isinstance(sub, ast.Call):
                for q in analyser.resolve(sub.func):
                    if q and (q.startswith(_DECODERS) or q.endswith((".decompress", ".b64decode", ".fromhex"))):
                        return True
                if isinstance(sub.func, ast.Attribute) and sub.func.attr in (
                    "b64decode", "decompress", "fromhex", "unhexlify", "a85decode", "b32decode", "b16decode",
                    "decodebytes",
                ):
                    return True
    return False


def _is_main_guard(test: ast.expr) -> bool:
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and len(test.comparators) == 1
        and _const_str(test.comparators[0]) == "__main__"
    )


# ---- public API ----------------------------------------------------------------------------------------


def parse_source(source: str, filename: str = "<source>") -> ast.Module:
    """Parse Python source without compiling it; malformed or pathological input → AnalysisError."""
    if len(source) > MAX_SOURCE_BYTES:
        raise AnalysisError(f"{filename}: Python source larger than {MAX_SOURCE_BYTES} bytes; not analysed")
    try:
        return ast.parse(source, filename=filename)
    except SyntaxError as exc:
        raise AnalysisError(f"{filename}: not valid Python 3 source (line {exc.lineno}: {exc.msg})") from None
    except (RecursionError, MemoryError, ValueError):
        raise AnalysisError(f"{filename}: Python source nests too deeply to analyse") from None


def analyse_source(source: str, *, filename: str = "<source>", imported: bool = True) -> list[CodeFinding]:
    """Every dangerous reference in ``source``, in line order.

    ``imported``: the file is imported by a loader (auto_map module, MLflow loader), so what runs at
    module level runs during loading and is reported one level higher.
    """
    tree = parse_source(source, filename)
    try:
        collector = _Collector()
        collector.visit(tree)
        analyser = _Analyser(source, collector, imported)
        analyser.visit(tree)
    except RecursionError:
        raise AnalysisError(f"{filename}: Python source nests too deeply to analyse") from None
    return sorted(analyser.findings, key=lambda f: (f.line, f.qualified))


def relative_imports(source: str) -> set[str]:
    """Module names a file imports relatively (``from .utils import x`` → ``utils``): the loader fetches them too."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return set()
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.add(node.module.split(".")[0])
            else:
                out.update(a.name for a in node.names)
    return out


def iter_rules() -> Iterator[Rule]:
    yield from _CATEGORY_RULES.values()


# ---- TorchScript -------------------------------------------------------------------------------------

#: TorchScript builtins that touch files (torch.jit.save writes them as ``torch.save(...)`` etc.).
_TS_FILE_OPS = {
    "torch.save": "writes a file",
    "torch.from_file": "reads a file into a tensor",
    "torch.load": "loads a file",
    "ops.aten.save": "writes a file",
    "ops.aten.from_file": "reads a file into a tensor",
    "ops.aten._load": "loads a file",
    "torch.ops.aten.save": "writes a file",
    "torch.ops.aten.from_file": "reads a file into a tensor",
}
#: Operator namespaces that ship with torch itself.
_TS_BUILTIN_NS = frozenset({"aten", "prim", "quantized", "_quantized", "profiler", "_caffe2", "cuda", "mkldnn",
                            "_prims", "prims", "quantized_decomposed", "higher_order", "inductor", "_test"})
#: Method names whose bodies run inside torch.jit.load (not only when the model is called).
_TS_LOAD_METHODS = frozenset({"__setstate__"})


def _dotted(node: ast.expr) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    return None


def torchscript_findings(source: str, filename: str = "<torchscript>") -> list[CodeFinding]:
    """Dangerous operations in serialized TorchScript code (``code/**/*.py`` of a torch.jit archive).

    TorchScript code is Python syntax restricted to TorchScript builtins, so instead of Python's module
    resolution this looks at the operator names it calls: file I/O builtins (``torch.save``,
    ``torch.from_file``), custom operators and classes from native extensions (``torch.ops.<ns>``,
    ``torch.classes``), and anything that is plain Python rather than TorchScript (``os``, ``open``,
    ``eval``...), which only a tampered archive contains. Calls inside ``__setstate__`` run during
    ``torch.jit.load`` itself and are reported one level higher.
    """
    tree = parse_source(source, filename)
    lines = source.splitlines()
    out: list[CodeFinding] = []
    seen: set[tuple[str, int]] = set()

    def add(node: ast.AST, name: str, rule: Rule, sev: Severity, what: str, at_load: bool) -> None:
        line = getattr(node, "lineno", 0)
        if (name, line) in seen:
            return
        seen.add((name, line))
        if at_load and sev >= Severity.MEDIUM:
            sev = Severity(min(sev + 1, Severity.CRITICAL))
        when = "runs inside torch.jit.load" if at_load else "runs when the model is called"
        excerpt = lines[line - 1].strip()[:240] if 0 < line <= len(lines) else ""
        out.append(CodeFinding(rule, sev, name, line, excerpt, f"line {line}: {name} {what} ({when})", at_load))

    def visit(node: ast.AST, at_load: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, child.name in _TS_LOAD_METHODS)
                continue
            if isinstance(child, ast.Call):
                name = _dotted(child.func)
                if name is not None:
                    check(child, name, at_load)
            visit(child, at_load)

    def check(node: ast.Call, name: str, at_load: bool) -> None:
        parts = name.split(".")
        if name in _TS_FILE_OPS or name.endswith(".from_file"):
            add(node, name, PY_FILES, Severity.HIGH, _TS_FILE_OPS.get(name, "reads a file"), at_load)
        elif len(parts) >= 3 and parts[-3] == "ops" and parts[-2] not in _TS_BUILTIN_NS:
            add(node, name, PY_NATIVE, Severity.MEDIUM,
                f"calls custom operator namespace '{parts[-2]}' (native code from an extension library)", at_load)
        elif parts[0] == "torch" and len(parts) >= 2 and parts[1] == "classes":
            add(node, name, PY_NATIVE, Severity.MEDIUM, "uses a custom TorchScript class from a native library",
                at_load)
        else:
            hit = _lookup(_canonical(name))
            if hit is not None or parts[0] in ("os", "subprocess", "builtins", "socket", "sys", "importlib"):
                category, sev, what = hit if hit is not None else ("exec", Severity.HIGH, "is not TorchScript")
                add(node, name, _CATEGORY_RULES[category], max(sev, Severity.HIGH),
                    f"{what}: plain Python in TorchScript code means the archive was tampered with", at_load)
            elif name in ("open", "eval", "exec", "compile", "__import__", "input", "breakpoint"):
                add(node, name, PY_EXEC, Severity.HIGH,
                    "is plain Python, not TorchScript: the archive was tampered with", at_load)

    try:
        visit(tree, False)
    except RecursionError:
        raise AnalysisError(f"{filename}: TorchScript code nests too deeply to analyse") from None
    return sorted(out, key=lambda f: (f.line, f.qualified))

