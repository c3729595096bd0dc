"""mlvet must never execute what it scans: no unpickling, no import of a name read from a file.

Three independent checks, because each can miss what the others catch:

* **behaviour** -- pickles in every container reference a marker package whose import writes a file; a
  scan in a fresh process (with that package importable) must leave no marker, must never trigger the
  interpreter's ``pickle.find_class`` / process / network audit events, and must not import any ML
  framework, while still *reporting* the marker callable;
* **source** -- an AST walk of ``src/mlvet`` finds no call or reference to the loaders and evaluators
  (resolving ``import x as y`` / ``from x import y`` aliases, so ``from pickle import loads as L`` counts);
* **lint** -- ruff's banned-API rule (TID251, configured in pyproject.toml) passes on ``src``.
"""

from __future__ import annotations

import ast
import gzip
import io
import json
import shutil
import struct
import subprocess
import sys
import textwrap
import zipfile
import zlib
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[2]
SRC_DIR = REPO_DIR / "src" / "mlvet"


MARKER_PKG = "mlvet_marker_pkg"

# ---- (a) behaviour -----------------------------------------------------------------------------------------


def _su(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


#: ``mlvet_marker_pkg.boom('x')`` in protocol 2 (GLOBAL) and protocol 4 (STACK_GLOBAL) spellings.
CALL_P2 = b"\x80\x02c" + MARKER_PKG.encode() + b"\nboom\nX\x01\x00\x00\x00x\x85R."
CALL_P4 = b"\x80\x04" + _su(MARKER_PKG) + _su("boom") + b"\x93" + _su("x") + b"\x85R."
#: Importing a submodule imports the package first.
CALL_SUBMODULE = b"\x80\x02c" + MARKER_PKG.encode() + b".sub\nboom\n)R."


def _npy_object(pkl: bytes) -> bytes:
    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    pad = (64 - (10 + len(header) + 1) % 64) % 64
    raw = (header + " " * pad + "\n").encode("latin-1")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(raw)) + raw + pkl


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


CONTAINERS: dict[str, bytes] = {
    "plain_p2.pkl": CALL_P2,
    "plain_p4.pkl": CALL_P4,
    "submodule.pkl": CALL_SUBMODULE,
    "torch_zip.pt": _zip({"archive/data.pkl": CALL_P4, "archive/byteorder": b"little", "archive/version": b"3\n"}),
    "deflated.zip": _zip({"model/data.pkl": CALL_P2}, zipfile.ZIP_DEFLATED),
    "joblib_raw.joblib": CALL_P4,
    "joblib_zlib.joblib.z": zlib.compress(CALL_P4),
    "joblib_gzip.joblib.gz": gzip.compress(CALL_P4, mtime=0),
    "object.npy": _npy_object(CALL_P2),
    "object_member.npz": _zip({"arr_0.npy": _npy_object(CALL_P4)}),
}

_HARNESS = textwrap.dedent(
    """
    import json, sys
    FORBIDDEN = {"pickle.find_class", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
                 "os.forkpty", "subprocess.Popen", "socket.connect", "socket.getaddrinfo", "urllib.Request",
                 "webbrowser.open", "ctypes.dlopen"}
    MARKER_PKG = sys.argv[1]
    events = []
    def hook(event, args):
        if event == "import" and str(args[0]).split(".")[0] == MARKER_PKG:
            events.append(f"import {args[0]}")
        elif event in FORBIDDEN:
            events.append(f"{event} {str(args)[:200]}")
    sys.addaudithook(hook)
    if sys.argv[2] == "--control":
        __import__(MARKER_PKG)  # proves the harness sees an import and the marker gets written
        code = 0
    else:
        from mlvet.cli import main
        code = main(sys.argv[2:])
    frameworks = sorted(m for m in sys.modules
                        if m.split(".")[0] in ("torch", "numpy", "joblib", "pandas", "sklearn", "dill", "cloudpickle"))
    print(json.dumps({"code": code, "events": events, "frameworks": frameworks}), file=sys.stderr)
    """
)


@pytest.fixture()
def marker_env(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A package whose import (or call) writes a marker file; importable through PYTHONPATH only."""
    pkg_root = tmp_path / "pkgroot"
    pkg = pkg_root / MARKER_PKG
    pkg.mkdir(parents=True)
    marker = tmp_path / "IMPORTED"
    body = textwrap.dedent(
        f"""
        import pathlib
        pathlib.Path({str(marker)!r}).write_text("imported")
        def boom(*args):
            pathlib.Path({str(marker)!r} + ".called").write_text("called")
        """
    )
    (pkg / "__init__.py").write_text(body, encoding="utf-8")
    (pkg / "sub.py").write_text("from . import boom\n", encoding="utf-8")
    samples = tmp_path / "samples"
    samples.mkdir()
    for name, data in CONTAINERS.items():
        (samples / name).write_bytes(data)
    env = {"PYTHONPATH": f"{pkg_root}{':' + str(REPO_DIR / 'src')}", "PYTHONDONTWRITEBYTECODE": "1"}
    return samples, marker, env


def _run_harness(args: list[str], env: dict[str, str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], dict]:  # type: ignore[type-arg]
    import os

    full_env = {**os.environ, **env}
    proc = subprocess.run([sys.executable, "-c", _HARNESS, MARKER_PKG, *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=180, check=False)
    last = proc.stderr.strip().splitlines()[-1]
    return proc, json.loads(last)


def test_harness_control_detects_an_import(marker_env: tuple[Path, Path, dict[str, str]], tmp_path: Path) -> None:
    _, marker, env = marker_env
    _, info = _run_harness(["--control"], env, tmp_path)
    assert marker.exists(), "the marker package is not importable: the real test would prove nothing"
    assert info["events"] == [f"import {MARKER_PKG}"]


def test_scan_never_imports_or_calls_what_it_reads(marker_env: tuple[Path, Path, dict[str, str]],
                                                   tmp_path: Path) -> None:
    samples, marker, env = marker_env
    proc, info = _run_harness(["scan", "--format", "json", "--jobs", "1", str(samples)], env, tmp_path)
    assert not marker.exists() and not Path(str(marker) + ".called").exists(), "a scanned file was executed"
    assert info["events"] == [], info["events"]
    assert info["frameworks"] == [], f"the scan imported ML frameworks: {info['frameworks']}"
    report = json.loads(proc.stdout)
    by_name = {Path(r["path"]).name: r for r in report["results"]}
    assert set(by_name) == set(CONTAINERS)
    for name, result in by_name.items():
        texts = " ".join(f"{f['message']} {f['evidence']}" for f in result["findings"])
        assert MARKER_PKG in texts, f"{name}: the marker callable was not reported ({result})"


def test_plain_cli_scan_with_package_importable(marker_env: tuple[Path, Path, dict[str, str]], tmp_path: Path,
                                                run_cli) -> None:  # type: ignore[no-untyped-def]
    """The literal user path: ``python -m mlvet scan`` (parallel workers too) with the package on sys.path."""
    samples, marker, env = marker_env
    proc = run_cli(["scan", "--jobs", "2", str(samples)], cwd=tmp_path, env=env)
    assert proc.returncode in (0, 1, 2), proc.stderr
    assert not marker.exists() and not Path(str(marker) + ".called").exists()


# ---- (b) source --------------------------------------------------------------------------------------------

BANNED = frozenset(
    {
        "pickle.load", "pickle.loads", "pickle.Unpickler", "_pickle.load", "_pickle.loads", "_pickle.Unpickler",
        "torch.load", "joblib.load", "numpy.load", "marshal.load", "marshal.loads", "importlib.import_module",
        "importlib.__import__", "builtins.eval", "builtins.exec", "builtins.__import__", "dill.load", "dill.loads",
        "cloudpickle.load", "cloudpickle.loads", "pandas.read_pickle", "yaml.load", "yaml.unsafe_load",
    }
)
_BANNED_ROOTS = frozenset(b.split(".")[0] for b in BANNED)
_BUILTINS = frozenset({"eval", "exec", "__import__"})


def _is_getattr_with_constant(node: ast.AST) -> bool:
    """``getattr(module, "name")``: a spelled-out attribute access."""
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr"
            and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str))


def banned_references(source: str, filename: str = "<src>") -> list[str]:
    """Every reference to a banned callable in ``source``, with import aliases resolved.

    References count, not only calls: ``f = pickle.loads`` followed by ``f(data)`` is the same hazard.
    """
    tree = ast.parse(source, filename)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.asname:
                    aliases[a.asname] = a.name
                else:
                    top = a.name.split(".")[0]
                    aliases[top] = top
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"

    def dotted(node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            if node.id in aliases:
                return aliases[node.id]
            return f"builtins.{node.id}" if node.id in _BUILTINS else node.id
        if isinstance(node, ast.Attribute):
            base = dotted(node.value)
            return f"{base}.{node.attr}" if base else None
        return None

    hits = []
    for node in ast.walk(tree):
        name = None
        if isinstance(node, (ast.Name, ast.Attribute)) and isinstance(node.ctx, ast.Load):
            name = dotted(node)
        elif _is_getattr_with_constant(node):
            assert isinstance(node, ast.Call)
            base = dotted(node.args[0])
            name = f"{base}.{node.args[1].value}" if base else None  # type: ignore[attr-defined]
        if name is None or name.split(".")[0] not in _BANNED_ROOTS:
            continue
        # numpy.core.multiarray etc. never match: only the exact names (or attributes of them) are banned.
        for banned in BANNED:
            if name == banned or name.startswith(banned + "."):
                hits.append(f"{filename}:{getattr(node, 'lineno', '?')}: {name}")
    return sorted(set(hits))


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("import pickle\npickle.loads(b)", ["pickle.loads"]),
        ("import pickle as pk\nx = pk.Unpickler(f).load()", ["pickle.Unpickler"]),
        ("from pickle import loads as L\nL(b)", ["pickle.loads"]),
        ("from marshal import loads\nloads(b)", ["marshal.loads"]),
        ("import numpy as np\nnp.load(p, allow_pickle=True)", ["numpy.load"]),
        ("import torch\ntorch.load(p)", ["torch.load"]),
        ("import importlib\nimportlib.import_module(n)", ["importlib.import_module"]),
        ("eval(s)\nexec(s)\n__import__(n)", ["builtins.__import__", "builtins.eval", "builtins.exec"]),
        ("import builtins\nbuiltins.eval(s)", ["builtins.eval"]),
        ("import pickle\ngetattr(pickle, 'loads')(b)", ["pickle.loads"]),
        ("import ast, re\nast.literal_eval(s)\nre.compile(p)\nx.eval()\n'pickle.loads(b)'", []),
        ("import numpy.core.multiarray\nnumpy.core.multiarray.scalar", []),
    ],
)
def test_banned_reference_finder(snippet: str, expected: list[str]) -> None:
    found = [hit.split(": ", 1)[1] for hit in banned_references(snippet)]
    assert sorted(found) == sorted(expected)


def test_source_never_references_loaders_or_evaluators() -> None:
    files = sorted(SRC_DIR.rglob("*.py"))
    assert len(files) > 20, f"expected the whole package under {SRC_DIR}"
    hits = []
    for path in files:
        hits += banned_references(path.read_text(encoding="utf-8"), str(path.relative_to(REPO_DIR)))
    assert not hits, "src/mlvet references loaders/evaluators:\n" + "\n".join(hits)


# ---- (c) lint ----------------------------------------------------------------------------------------------


def test_ruff_banned_api_rule_passes() -> None:
    ruff = shutil.which("ruff")
    cmd = [ruff] if ruff else [sys.executable, "-m", "ruff"]
    try:
        version = subprocess.run([*cmd, "--version"], capture_output=True, text=True, check=False, timeout=60)
    except OSError:
        pytest.skip("ruff is not installed")
    if version.returncode != 0:
        pytest.skip("ruff is not installed")
    proc = subprocess.run([*cmd, "check", "src", "--select", "TID251", "--no-cache", "--output-format", "concise"],
                          cwd=REPO_DIR, capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
