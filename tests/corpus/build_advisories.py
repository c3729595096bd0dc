"""Deterministic rebuilds of *published* scanner bypasses and model-file attack techniques.

Why this exists
---------------
``build_malicious.py`` holds the project's own catalogue of evasion shapes.  This catalogue is the other
half: one builder per *published* advisory or write-up (picklescan / fickling GHSAs, CVEs against the
loaders themselves, vendor research from JFrog, ReversingLabs, Checkmarx, HiddenLayer, Unit 42, huntr
reports, and the 2025 papers PickleBall and "The Art of Hide and Seek"), each rebuilt from its
description, never copied.  Every builder says which advisory it reproduces and when it was published,
so a regression names the advisory that came back.  Where a write-up describes a *class* of gadget
(the papers, the scanners' deny-lists), the label names that source and the exact callable may be ours;
dates are those of the advisory or write-up (month precision).

Each sample records ``component``: the part of mlvet that must change when the sample is not ranked
high or critical (``pickle-sem`` = pickle engine and policy, ``fs`` = archives and folders,
``keras-onnx`` = Keras / TensorFlow / ONNX / HDF5, ``templates`` = configs, chat templates and repository
Python).

The builders live in ``adv_pickle_stdlib``, ``adv_pickle_private``, ``adv_pickle_libs``, ``adv_archives``,
``adv_formats`` and ``adv_configs`` and register themselves with ``advisory_core.advisory`` when imported here.

Safety and determinism are as in ``build_malicious``: pickles and containers are written byte by byte
(the ONNX protobufs and HDF5 files by the real ``onnx`` / ``h5py`` writers, without timestamps), building
executes nothing, and payloads only append to ``$MLVET_MARKER`` or create ``mlvet_marker*`` in the current
directory.  Builders whose writer library is missing are skipped.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

# Importing a section registers its builders (order = catalogue order).
import adv_archives  # noqa: E402, F401
import adv_configs  # noqa: E402, F401
import adv_formats  # noqa: E402, F401
import adv_pickle_libs  # noqa: E402, F401
import adv_pickle_private  # noqa: E402, F401
import adv_pickle_stdlib  # noqa: E402, F401
from advisory_core import REGISTRY, Advisory  # noqa: E402

__all__ = ["Advisory", "build_all", "write_all"]


def build_all() -> list[Advisory]:
    """Every rebuilt advisory sample in a stable order (unique names, building executes nothing)."""
    out: list[Advisory] = []
    for fn in REGISTRY:
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
