"""Where the pinned source comes from: wheels read in place, installed files read as text, the stdlib.

Nothing is imported. A pinned library already installed at exactly its pinned version (torch in the test
environment: its wheel may be the multi-gigabyte CUDA one) is read from the files its distribution
record lists; any other is downloaded once with ``pip download --no-deps --only-binary=:all:`` into the
wheel cache (``$MLVET_DERIVE_CACHE`` or ``~/.cache/mlvet-derive``) and its ``.py`` members are read
straight out of the zip. The stdlib is the running interpreter's ``Lib`` folder.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mlvet.policy.derive.summarise import module_name

PINS = Path(__file__).with_name("pins.txt")
STDLIB = "stdlib"

#: Module path segments no pickle plausibly names: test suites, examples, benchmarks.
_PRUNE_SEGMENTS = frozenset({"tests", "test", "_tests", "benchmarks", "examples", "docs", "conftest"})
_PRUNE_PREFIXES = ("torch.testing._internal",)
#: Stdlib top-level modules left out: GUI, the test suite, build tooling.
_STDLIB_SKIP = frozenset({"test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip", "distutils",
                          "pydoc_data", "site-packages", "dist-packages", "__phello__", "turtle"})


class SourceError(RuntimeError):
    """A pinned library's source could not be had (download failed, wheel missing): derivation stops."""


@dataclass(frozen=True)
class Pin:
    library: str  # the name facts are filed under (``xgboost``)
    dist: str  # the distribution to fetch (``xgboost-cpu``: the same package without the CUDA payload)
    version: str


@dataclass(frozen=True)
class Source:
    """One pinned library's modules: ``(module, is_pkg, locator)``; locator is (container, member)."""

    pin: Pin
    origin: str  # "installed", "wheel" or "stdlib": where the text was read from
    container: str  # wheel path, or "" for plain files
    files: tuple[tuple[str, bool, str], ...]


def read_pins(path: Path = PINS) -> list[Pin]:
    """``dist==version [as library]`` lines; ``#`` comments."""
    pins = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        spec, _, alias = line.partition(" as ")
        dist, sep, version = spec.strip().partition("==")
        if not sep:
            raise ValueError(f"{path}: pin without ==version: {raw!r}")
        pins.append(Pin(alias.strip() or dist.strip(), dist.strip(), version.strip()))
    return pins


def cache_dir() -> Path:
    env = os.environ.get("MLVET_DERIVE_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "mlvet-derive"


def pruned(module: str) -> bool:
    """Test suites, examples, and (transformers/diffusers) checkpoint-conversion scripts and ``modular_*``
    templates: code that is never the ``__module__`` of an object a model file holds."""
    parts = module.split(".")
    return (any(p in _PRUNE_SEGMENTS or p.startswith("test_") for p in parts)
            or parts[-1].startswith(("convert_", "modular_")) or module.startswith(_PRUNE_PREFIXES))


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def _installed(pin: Pin) -> Source | None:
    try:
        dist = importlib.metadata.distribution(pin.dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    if dist.version.split("+", 1)[0] != pin.version or not dist.files:
        return None
    files = []
    for f in dist.files:
        posix = f.as_posix()
        found = module_name(posix)
        if found is None or ".data/" in posix or pruned(found[0]):
            continue
        files.append((found[0], found[1], str(dist.locate_file(f))))
    return Source(pin, "installed", "", tuple(sorted(files)))


def wheel_path(pin: Pin, wheels: Path) -> Path | None:
    prefix = f"{_norm(pin.dist)}-{pin.version}-"
    for p in sorted(wheels.glob("*.whl")):
        if _norm(p.name.split("-", 1)[0]) + "-" + p.name.split("-", 2)[1] + "-" == prefix:
            return p
    return None


def _download(pin: Pin, wheels: Path) -> Path:
    wheels.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
           f"{pin.dist}=={pin.version}", "-d", str(wheels)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)  # noqa: S603
    found = wheel_path(pin, wheels)
    if proc.returncode != 0 or found is None:
        raise SourceError(f"cannot download {pin.dist}=={pin.version}: {proc.stderr.strip()[-400:]}")
    return found


def _wheel(pin: Pin, wheels: Path, download: bool) -> Source:
    path = wheel_path(pin, wheels)
    if path is None:
        if not download:
            raise SourceError(f"{pin.dist}=={pin.version} is neither installed nor in {wheels}")
        path = _download(pin, wheels)
    files = []
    with zipfile.ZipFile(path) as zf:
        for member in zf.namelist():
            found = module_name(member)
            if found is None or ".data/" in member or ".dist-info/" in member or pruned(found[0]):
                continue
            files.append((found[0], found[1], member))
    return Source(pin, "wheel", str(path), tuple(sorted(files)))


def stdlib() -> Source:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        if rel.parts and (rel.parts[0] in _STDLIB_SKIP or not rel.parts[0].isidentifier()):
            dirnames.clear()
            continue
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for fn in filenames:
            found = module_name((rel / fn).as_posix())
            if found is None or found[0].split(".")[0] in _STDLIB_SKIP or pruned(found[0]):
                continue
            files.append((found[0], found[1], str(Path(dirpath) / fn)))
    version = ".".join(map(str, sys.version_info[:3]))
    return Source(Pin(STDLIB, "python", version), "stdlib", "", tuple(sorted(files)))


def sources(pins: list[Pin], wheels: Path, download: bool = True) -> Iterator[Source]:
    """The stdlib, then each pin: installed at exactly the pinned version, else the cached/downloaded wheel."""
    yield stdlib()
    for pin in pins:
        yield _installed(pin) or _wheel(pin, wheels, download)


def read_text(container: str, member: str, zf: zipfile.ZipFile | None) -> bytes:
    """The bytes of one module (a wheel member, or a file)."""
    if container and zf is not None:
        return zf.read(member)
    return Path(member).read_bytes()
