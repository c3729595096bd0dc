"""The sink table: dotted names whose call is one of the effects a load policy must know about.

Names are canonical dotted paths (``os.system``, ``builtins.exec``); ``*`` globs within a path. A call is a
sink when its callee resolves, at *any* step of name resolution, to a listed name: ``from os import system
as s; s()`` resolves ``s`` -> ``os.system`` and stops there, before ``os`` re-exports ``posix.system``.
A few sinks depend on their arguments (``open`` only writes with a w/a/x/+ mode, ``yaml.load`` is safe with a
safe loader); those are decided by :func:`arg_check` from the constants recorded by ``summarise``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from mlvet.policy.derived import SINKS

_TABLE: dict[str, tuple[str, ...]] = {
    "exec": (
        "builtins.exec", "builtins.eval", "builtins.compile", "types.FunctionType", "types.CodeType",
        "types.LambdaType", "runpy.*", "code.InteractiveInterpreter", "code.InteractiveConsole", "code.interact",
        "code.compile_command",
    ),
    "import": (
        "builtins.__import__", "importlib.import_module", "importlib.__import__", "importlib.reload",
        "importlib.util.*", "importlib.machinery.*", "importlib._bootstrap.*", "importlib._bootstrap_external.*",
        "pkgutil.*", "zipimport.zipimporter", "imp.load_*", "imp.find_module",
    ),
    "process": (
        "os.system", "os.popen", "os.exec*", "os.spawn*", "os.posix_spawn*", "os.fork", "os.forkpty",
        "os.startfile", "posix.system", "posix.exec*", "posix.posix_spawn*", "posix.fork", "nt.system",
        "subprocess.Popen", "subprocess.run", "subprocess.call", "subprocess.check_call", "subprocess.check_output",
        "subprocess.getoutput", "subprocess.getstatusoutput", "_posixsubprocess.fork_exec", "pty.spawn",
        "pty.fork", "platform.popen", "webbrowser.open*", "asyncio.create_subprocess_*", "pexpect.*",
    ),
    "file-write": (
        "os.remove", "os.unlink", "os.rename", "os.renames", "os.replace", "os.rmdir", "os.removedirs",
        "os.makedirs", "os.mkdir", "os.truncate", "os.symlink", "os.link", "os.mkfifo", "os.mknod",
        "posix.remove", "posix.unlink", "posix.rename", "posix.replace", "posix.rmdir", "posix.mkdir",
        "shutil.rmtree", "shutil.move", "shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.copytree",
        "shutil.copyfileobj", "shutil.make_archive", "shutil.unpack_archive",
        "?.tofile", "?.write_text", "?.write_bytes", "?.unlink", "?.rmdir", "?.symlink_to", "?.hardlink_to",
    ),
    "network": (
        "socket.socket", "socket.create_connection", "socket.create_server", "socket.socketpair",
        "socket.fromfd", "_socket.socket", "urllib.request.*", "http.client.HTTPConnection",
        "http.client.HTTPSConnection", "ftplib.FTP", "ftplib.FTP_TLS", "smtplib.SMTP", "smtplib.SMTP_SSL",
        "smtplib.LMTP", "xmlrpc.client.ServerProxy", "telnetlib.Telnet",
        "requests.get", "requests.post", "requests.put", "requests.patch", "requests.delete", "requests.head",
        "requests.options", "requests.request", "requests.Session", "requests.session", "requests.api.*",
        "requests.sessions.Session", "httpx.get", "httpx.post", "httpx.put", "httpx.patch", "httpx.delete",
        "httpx.head", "httpx.request", "httpx.stream", "httpx.Client", "httpx.AsyncClient",
        "urllib3.PoolManager", "urllib3.ProxyManager", "urllib3.HTTPConnectionPool", "urllib3.HTTPSConnectionPool",
        "urllib3.request", "urllib3.connection_from_url", "huggingface_hub.hf_hub_download",
        "huggingface_hub.snapshot_download", "huggingface_hub.file_download.hf_hub_download",
        "huggingface_hub.utils.http_get", "huggingface_hub.file_download.http_get",
    ),
    "deserialize": (
        "pickle.load", "pickle.loads", "pickle.Unpickler", "pickle._load", "pickle._loads", "pickle._Unpickler",
        "_pickle.load", "_pickle.loads", "_pickle.Unpickler", "cPickle.load", "cPickle.loads",
        "marshal.load", "marshal.loads", "shelve.open", "shelve.Shelf", "shelve.DbfilenameShelf",
        "torch.load", "torch.serialization.load", "torch.jit.load", "torch.jit._serialization.load",
        "torch.package.PackageImporter", "torch.hub.load", "torch.hub.load_state_dict_from_url",
        "torch.utils.model_zoo.load_url", "numpy.load", "numpy.lib.npyio.load", "joblib.load",
        "joblib.numpy_pickle.load", "yaml.load", "yaml.load_all", "yaml.unsafe_load", "yaml.unsafe_load_all",
        "yaml.full_load", "yaml.full_load_all", "dill.load", "dill.loads", "dill.Unpickler", "dill._dill.load*",
        "cloudpickle.load", "cloudpickle.loads", "pandas.read_pickle", "jsonpickle.decode",
        "keras.models.load_model", "tensorflow.keras.models.load_model",
    ),
    "native": (
        "ctypes.CDLL", "ctypes.PyDLL", "ctypes.WinDLL", "ctypes.OleDLL", "ctypes.cdll.*", "ctypes.pydll.*",
        "ctypes.windll.*", "ctypes.LibraryLoader", "_ctypes.dlopen", "_ctypes.LoadLibrary", "cffi.FFI",
        "torch.ops.load_library", "numpy.ctypeslib.load_library",
    ),
}

#: Library internals whose sink is fed by the library's own data, not the file's, when *other* library code
#: calls them: a call to one of these from a body is not followed. Each is reviewed; their own facts (a
#: pickle naming ``inspect.signature`` directly) are still derived in full.
BARRIERS: dict[str, str] = {
    "inspect.signature": "evaluates a builtin's __text_signature__ (set by C code) to build a Signature",
    "inspect.Signature.from_callable": "as inspect.signature",
    "inspect._signature_from_callable": "as inspect.signature",
    "warnings.warn": "formats a warning; linecache reads (never writes) the warning's source line",
    "warnings.warn_explicit": "as warnings.warn",
    "warnings._showwarnmsg": "as warnings.warn",
    "warnings.showwarning": "as warnings.warn",
    "linecache.getline": "reads a source line for a traceback or warning",
    "linecache.getlines": "as linecache.getline",
    "linecache.updatecache": "as linecache.getline",
    "linecache.checkcache": "as linecache.getline",
    "traceback.format_exc": "formats the current exception (linecache reads)",
    "traceback.print_exc": "as traceback.format_exc",
    "traceback.format_exception": "as traceback.format_exc",
    "traceback.extract_stack": "as traceback.format_exc",
    "ast.parse": "compile() with PyCF_ONLY_AST builds a syntax tree; nothing runs",
    "typing.get_type_hints": "evaluates string annotations written in the library's own source",
    "typing.ForwardRef._evaluate": "as typing.get_type_hints",
    "typing._eval_type": "as typing.get_type_hints",
    "dataclasses.dataclass": "exec of __init__/__repr__ generated from the class's own field names",
    "dataclasses.make_dataclass": "as dataclasses.dataclass",
    "dataclasses._process_class": "as dataclasses.dataclass",
    "dataclasses.fields": "reads the class's field table",
    "collections.namedtuple": "eval of a __new__ built from validated identifiers",
    "platform.uname": "runs a fixed probe command (`ver` on Windows, `uname -p`); no caller data reaches it",
    "platform.system": "as platform.uname",
    "platform.machine": "as platform.uname",
    "platform.processor": "as platform.uname",
    "platform.release": "as platform.uname",
    "platform.version": "as platform.uname",
    "platform.platform": "as platform.uname",
    "platform.architecture": "runs `file` on the interpreter's own executable",
    "transformers.utils.import_utils._is_package_available": "availability probe: every caller passes a"
    " package name spelled in transformers' source (find_spec, metadata, import as a last resort)",
}

#: Sinks that depend on their arguments (see :func:`arg_check`): module paths of ``open``-like callables.
_OPEN_LIKE = frozenset({"builtins.open", "io.open", "_io.open", "codecs.open", "os.fdopen", "gzip.open",
                        "bz2.open", "lzma.open", "io.FileIO", "_io.FileIO", "tarfile.open", "zipfile.ZipFile"})
_MEMMAP = frozenset({"numpy.memmap", "numpy._core.memmap.memmap", "numpy.core.memmap.memmap"})
_YAML = frozenset({"yaml.load", "yaml.load_all"})
_OS_OPEN = frozenset({"os.open", "posix.open"})
_IMPORT_NAME = frozenset({"importlib.import_module", "importlib.util.find_spec", "builtins.__import__",
                          "importlib.__import__"})
_WRITE_FLAGS = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND")


@lru_cache(maxsize=1)
def _compiled() -> tuple[re.Pattern[str], dict[str, str]]:
    exact: dict[str, str] = {}
    alts: list[str] = []
    for kind, names in _TABLE.items():
        assert kind in SINKS
        for name in names:
            if "*" in name:
                body = re.escape(name).replace(re.escape("*"), "[^.]*")
                alts.append(f"(?P<g{len(alts)}_{SINKS.index(kind)}>{body})")
            else:
                exact[name] = kind
    return re.compile("|".join(alts)), exact


def exact_names() -> dict[str, str]:
    """Every non-glob sink name -> kind (also listed as derived names, so ``lookup('os', 'system')`` works)."""
    return dict(_compiled()[1])


def sink_kind(name: str) -> str | None:
    """The sink kind of a canonical dotted name called without regard to arguments, or None."""
    glob, exact = _compiled()
    kind = exact.get(name)
    if kind is not None:
        return kind
    m = glob.fullmatch(name)
    if m is None or m.lastgroup is None:
        return None
    return SINKS[int(m.lastgroup.rsplit("_", 1)[1])]


def barrier(name: str) -> bool:
    """True for a reviewed internal whose sink is not fed by the caller's data (see :data:`BARRIERS`)."""
    return name in BARRIERS


def is_arg_sensitive(name: str) -> bool:
    return name in _OPEN_LIKE or name in _MEMMAP or name in _YAML or name in _OS_OPEN or name in _IMPORT_NAME


def _arg(args: Any, index: int, key: str) -> tuple[bool, Any]:
    """(present, value) of one recorded argument; unknown splats count as present and unknown."""
    if not isinstance(args, list) or len(args) != 2:
        return True, "?"
    pos, kw = args
    if key in kw:
        return True, kw[key]
    if index < len(pos):
        return True, pos[index]
    if "*" in kw:
        return True, "?"
    return False, None


def _unknown(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("?")


def arg_check(name: str, args: Any) -> str | None:
    """The sink kind of an argument-dependent call, or None when its recorded arguments make it harmless.

    ``open(p)``/``open(p, "rb")`` read; ``open(p, mode)`` with a mode the analysis cannot see counts as a write.
    ``numpy.memmap`` defaults to ``r+`` (writes back). ``yaml.load`` is safe only with a Safe/Base loader.
    An import of a module name written as a constant in the source is the library's own choice.
    """
    if name in _OPEN_LIKE:
        index, default = (2, "r") if name == "tarfile.open" else (1, "r")
        if _arg(args, 0, "file")[1] == "?devnull os":
            return None  # open(os.devnull, "w"): a sink for output, not a file
        present, mode = _arg(args, index, "mode")
        mode = mode if present else default
        if _unknown(mode):
            return "file-write"
        return "file-write" if isinstance(mode, str) and any(c in mode for c in "wax+") else None
    if name in _MEMMAP:
        present, mode = _arg(args, 2, "mode")
        if not present or _unknown(mode):
            return "file-write"
        return "file-write" if mode in ("r+", "readwrite", "w+", "write") else None
    if name in _YAML:
        present, loader = _arg(args, 1, "Loader")
        if present and isinstance(loader, str) and ("Safe" in loader or "BaseLoader" in loader):
            return None
        return "deserialize"
    if name in _IMPORT_NAME:
        present, module = _arg(args, 0, "name")
        # A module name spelled in the library's source is the library's choice, not the file's.
        return None if present and isinstance(module, str) and not _unknown(module) else "import"
    if name in _OS_OPEN:
        present, flags = _arg(args, 1, "flags")
        if not present:
            return None
        if isinstance(flags, str) and _unknown(flags):
            names = flags[1:].split()
            if not any(n.startswith("O_") for n in names):
                return "file-write"
            return "file-write" if any(n in _WRITE_FLAGS for n in names) else None
        return "file-write" if isinstance(flags, int) and flags & 0o3 else None
    return None
