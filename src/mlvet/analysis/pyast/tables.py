"""What qualified names do, as data: the lookup tables of the Python-code analysis.

Each entry maps a fully qualified name (or a ``module.*`` / ``name*`` glob) to a category, a base
severity and a phrase for the message. Adding knowledge means adding a row here, not code elsewhere.
"""

from __future__ import annotations

import builtins

from mlvet.model import Severity

H, M, L, C = Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.CRITICAL

# Qualified name (or prefix with ".*") -> (category, base severity, what it does).
TABLE: dict[str, tuple[str, Severity, str]] = {
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
SENSITIVE_MODULES = frozenset(
    {"os", "subprocess", "builtins", "posix", "nt", "pty", "socket", "ctypes", "importlib", "pickle",
     "marshal", "sys", "shutil", "runpy", "code", "types"}
)
#: Module aliases that resolve to the canonical module at run time.
MODULE_ALIASES = {"posix": "os", "nt": "os", "__builtin__": "builtins", "_posixsubprocess": "subprocess",
                   "cPickle": "pickle", "urllib2": "urllib.request"}
#: Calls whose output is decoded data; exec/eval of it is an obfuscated payload.
DECODERS = (
    "base64.", "binascii.", "codecs.decode", "zlib.decompress", "bz2.decompress", "lzma.decompress",
    "gzip.decompress", "marshal.loads", "bytes.fromhex", "bytearray.fromhex", "builtins.bytes.fromhex",
)
BUILTIN_NAMES = frozenset(
    {"eval", "exec", "compile", "__import__", "open", "getattr", "setattr", "execfile", "globals",
     "vars", "locals", "bytes", "bytearray"}
)
FILE_MUTATORS = frozenset(
    {"os.remove", "os.unlink", "os.rmdir", "os.removedirs", "os.rename", "os.renames", "os.replace",
     "os.chmod", "os.chown", "os.symlink", "os.link", "os.makedirs", "os.mkdir", "shutil.rmtree",
     "shutil.move", "shutil.copy", "shutil.copy2", "shutil.copyfile", "shutil.copytree"}
)
SENSITIVE_PATHS = (
    "/etc/", "~/.ssh", "/.ssh/", ".bashrc", ".bash_profile", ".profile", ".zshrc", "crontab",
    "/usr/", "/bin/", "site-packages", "dist-packages", ".git/hooks", "/root/", "authorized_keys",
    "/System/", "\\Windows\\", "AppData", "Startup",
)


GLOBS = [(k[:-1], v) for k, v in TABLE.items() if k.endswith("*") and not k.endswith(".*")]


def is_exact(qualified: str) -> bool:
    """Exact (or function-glob) table entries: plain references to these are reported, not just calls."""
    return qualified in TABLE or any(qualified.startswith(k) for k, _ in GLOBS)


def lookup(qualified: str) -> tuple[str, Severity, str] | None:
    if qualified in TABLE:
        return TABLE[qualified]
    parts = qualified.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        key = ".".join(parts[:cut]) + ".*"
        if key in TABLE:
            return TABLE[key]
    # "os.execv" matches "os.exec*": a prefix glob on the last part.
    for key, val in GLOBS:
        if qualified.startswith(key):
            return val
    return None


def canonical(qualified: str) -> str:
    head, _, rest = qualified.partition(".")
    if head in MODULE_ALIASES:
        return MODULE_ALIASES[head] + ("." + rest if rest else "")
    return qualified


#: Every name Python resolves as a builtin when nothing shadows it.
BUILTIN_ALL = frozenset(dir(builtins))
