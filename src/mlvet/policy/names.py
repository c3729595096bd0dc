"""How a pickle may spell a module, and which attribute names are a way into the interpreter.

A pickle names callables as ``module`` + ``qualname`` strings that ``find_class`` resolves at load time.
The same callable has many spellings (Python 2 names fixed up by pickle, C accelerator modules,
platform modules behind a public one); matching on the canonical spelling keeps one policy entry
covering all of them.
"""

from __future__ import annotations

from collections.abc import Mapping

# Module aliases: what a pickle may name and what it really is at load time. Python 2 names are
# mapped by pickle's own compatibility layer (fix_imports), the others are C accelerator modules or
# platform-specific implementations of a public module.
DEFAULT_ALIASES: Mapping[str, str] = {
    "__builtin__": "builtins",
    "exceptions": "builtins",
    "copy_reg": "copyreg",
    "cPickle": "pickle",
    "_pickle": "pickle",
    "_compat_pickle": "pickle",
    "posix": "os",
    "nt": "os",
    "posixpath": "os.path",
    "ntpath": "os.path",
    "genericpath": "os.path",
    "_posixsubprocess": "subprocess",
    "commands": "subprocess",
    "popen2": "subprocess",
    "_io": "io",
    "_pyio": "io",
    "_codecs": "codecs",
    "_operator": "operator",
    "_functools": "functools",
    "_collections": "collections",
    "_socket": "socket",
    "_ssl": "ssl",
    "_ctypes": "ctypes",
    "_imp": "importlib",
    "imp": "importlib",
    "_frozen_importlib": "importlib",
    "_frozen_importlib_external": "importlib",
    "_sqlite3": "sqlite3",
    "_thread": "threading",
    "thread": "threading",
    "_multiprocessing": "multiprocessing",
    "_winapi": "subprocess",
    "_signal": "signal",
    "_shutil": "shutil",
    "urllib2": "urllib.request",
    "httplib": "http.client",
    "cookielib": "http.cookiejar",
    "SocketServer": "socketserver",
    "Queue": "queue",
    "cStringIO": "io",
    "StringIO": "io",
    "UserDict": "collections",
    "UserList": "collections",
    "UserString": "collections",
    "__main__": "__main__",
    "numpy.core": "numpy._core",
}

# Dunder attributes that turn any object into a path to eval, os or the import system.
REFLECTIVE_ATTRS = frozenset(
    {
        "__globals__", "__builtins__", "__subclasses__", "__import__", "__getattribute__", "__getattr__",
        "__dict__", "__code__", "__closure__", "__func__", "__self__", "__class__", "__bases__", "__base__",
        "__mro__", "__loader__", "__spec__", "__reduce__", "__reduce_ex__", "__setattr__", "__delattr__",
        "__init_subclass__", "__call__", "__get__", "__set__", "__module__", "__init__", "__new__",
        "__setstate__", "__getstate__", "f_globals", "f_locals", "f_back", "f_builtins", "gi_frame",
        "cr_frame", "tb_frame", "func_globals",
    }
)


#: Plain (undotted) names that are themselves a way into builtins or a module namespace.
REFLECTIVE_NAMES = frozenset(
    {"__builtins__", "__dict__", "__loader__", "__spec__", "__import__", "__globals__", "__subclasses__",
     "__getattribute__", "__class__", "__code__", "__self__"}
)


def normalise_module(module: str, aliases: Mapping[str, str]) -> str:
    """Map aliased module names (``posix`` → ``os``, ``numpy.core.x`` → ``numpy._core.x``) to canonical ones.

    Longest matching dotted prefix wins so submodules of an alias are mapped too.
    """
    parts = module.split(".")
    for cut in range(len(parts), 0, -1):
        head = ".".join(parts[:cut])
        target = aliases.get(head)
        if target is not None and target != head:
            return ".".join([target, *parts[cut:]])
    return module
