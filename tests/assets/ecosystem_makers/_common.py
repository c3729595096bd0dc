"""The corpus being written: where files go and what the manifest says about each of them.

Why a manifest: the test must know, for every file, which library and function wrote it and whether it is
plain data (must scan clean) or really carries code (must be flagged as code, at a stated severity). The
verdict expectation lives next to the file's provenance so a reviewer can check both at once.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import random
import shutil
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

#: Library label in the manifest -> distribution whose version is recorded.
DISTRIBUTIONS = {
    "accelerate": "accelerate",
    "catboost": "catboost",
    "cloudpickle": "cloudpickle",
    "datasets": "datasets",
    "diffusers": "diffusers",
    "dill": "dill",
    "fasttext": "fasttext-wheel",
    "gensim": "gensim",
    "gguf": "gguf",
    "h5py": "h5py",
    "joblib": "joblib",
    "keras": "keras",
    "lightgbm": "lightgbm",
    "mlflow": "mlflow-skinny",
    "nltk": "nltk",
    "numpy": "numpy",
    "onnx": "onnx",
    "onnxscript": "onnxscript",
    "optuna": "optuna",
    "pandas": "pandas",
    "peft": "peft",
    "python": "",
    "pytorch-lightning": "pytorch-lightning",
    "safetensors": "safetensors",
    "scikit-learn": "scikit-learn",
    "scipy": "scipy",
    "sentence-transformers": "sentence-transformers",
    "skl2onnx": "skl2onnx",
    "sklearn-crfsuite": "sklearn-crfsuite",
    "skops": "skops",
    "spacy": "spacy",
    "statsmodels": "statsmodels",
    "tensorflow": "tensorflow",
    "tf-keras": "tf-keras",
    "timm": "timm",
    "tokenizers": "tokenizers",
    "torch": "torch",
    "torchmetrics": "torchmetrics",
    "transformers": "transformers",
    "ultralytics": "ultralytics",
    "xgboost": "xgboost-cpu",
}

KINDS = ("data", "code")
SEVERITIES = ("low", "medium", "high", "critical")


def version_of(library: str) -> str:
    """The installed version of a library label (the interpreter's version for the stdlib)."""
    dist = DISTRIBUTIONS[library]
    if not dist:
        return platform.python_version()
    return importlib.metadata.version(dist)


@dataclass
class Entry:
    """One file of the corpus and what a scanner must say about it."""

    path: str
    library: str
    version: str
    function: str
    kind: str
    what: str = ""
    #: For kind "code": the weakest severity at which the code must be reported.
    min_severity: str | None = None
    #: For kind "code": rule ids any one of which is an acceptable "this carries code" finding.
    code_rules: list[str] = field(default_factory=list)
    #: For kind "code" whose code a loader reaches through another file of the same model (the Python file
    #: of an ``auto_map`` repo runs because config.json names it): that file's path, where the finding sits.
    flagged_via: str | None = None


class Corpus:
    """Writes under ``root`` and collects manifest entries; ``record`` refuses a file it did not see."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.entries: dict[str, Entry] = {}

    def reset(self) -> None:
        if self.root.exists():
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)

    def path(self, rel: str) -> Path:
        """The absolute path for ``rel`` with its parent folders created."""
        p = self.root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        return p

    def dir(self, rel: str) -> Path:
        p = self.root / rel
        p.mkdir(parents=True, exist_ok=True)
        return p

    def record(self, rel: str, library: str, function: str, *, kind: str = "data", what: str = "",
               min_severity: str | None = None, code_rules: list[str] | None = None,
               flagged_via: str | None = None) -> None:
        """Record one file already written at ``rel``."""
        p = self.root / rel
        if not p.is_file():
            raise FileNotFoundError(f"maker claims {rel} but wrote no such file")
        if kind not in KINDS:
            raise ValueError(kind)
        if kind == "code" and (min_severity not in SEVERITIES or not code_rules):
            raise ValueError(f"{rel}: a code entry needs min_severity and code_rules")
        if kind == "data" and (min_severity or code_rules):
            raise ValueError(f"{rel}: a data entry has no code expectation")
        if flagged_via is not None and not (self.root / flagged_via).is_file():
            raise FileNotFoundError(f"{rel}: flagged_via {flagged_via} was not written")
        self.entries[rel] = Entry(rel, library, version_of(library), function, kind, what, min_severity,
                                  list(code_rules or []), flagged_via)

    def record_tree(self, rel_dir: str, library: str, function: str, *, what: str = "",
                    code: dict[str, tuple[str, list[str]]] | None = None,
                    via: dict[str, str] | None = None) -> None:
        """Record every file under ``rel_dir``; files named in ``code`` (relative to the folder) are code.

        ``code`` maps a relative file name to (min_severity, code_rules); ``via`` maps a code file to the
        file of the folder on which its finding is expected (see ``Entry.flagged_via``).
        """
        base = self.root / rel_dir
        code = dict(code or {})
        for p in sorted(base.rglob("*")):
            if not p.is_file():
                continue
            sub = p.relative_to(base).as_posix()
            rel = p.relative_to(self.root).as_posix()
            if sub in code:
                sev, rules = code.pop(sub)
                other = (via or {}).get(sub)
                self.record(rel, library, function, kind="code", what=what, min_severity=sev, code_rules=rules,
                            flagged_via=f"{rel_dir}/{other}" if other else None)
            else:
                self.record(rel, library, function, what=what)
        if code:
            raise FileNotFoundError(f"{rel_dir}: expected code files not written: {sorted(code)}")

    def write_manifest(self) -> None:
        files = [asdict(self.entries[k]) for k in sorted(self.entries)]
        for f in files:
            if f["path"] in NOT_PARSED:
                f["not_parsed"] = "issue 12: " + NOT_PARSED[f["path"]]
            if f["kind"] == "data":
                del f["min_severity"], f["code_rules"]
            if f.get("flagged_via") is None:
                f.pop("flagged_via", None)
        on_disk = sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*")
                         if p.is_file() and p.name != "manifest.json")
        missing = sorted(set(on_disk) - set(self.entries))
        if missing:
            raise RuntimeError(f"files written but not recorded: {missing[:20]}")
        libraries = sorted({f["library"] for f in files})
        manifest: dict[str, Any] = {
            "generator": {
                "script": "tests/assets/make_ecosystem.py",
                "python": platform.python_version(),
                "platform": sys.platform,
                "libraries": {lib: version_of(lib) for lib in libraries},
            },
            "total_files": len(files),
            "total_bytes": sum((self.root / f["path"]).stat().st_size for f in files),
            "files": files,
        }
        (self.root / "manifest.json").write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n",
                                                 encoding="utf-8")


#: Files in formats mlvet does not parse yet (issue 12: the long tail of formats). They must fail closed
#: (an ``error`` result, never clean) until their format module lands; the test checks exactly that.
NOT_PARSED: dict[str, str] = {
}


def seed_everything(seed: int = 0) -> None:
    """Fixed seeds for every RNG the makers touch, so reruns give the same weights."""
    random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", "0")
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy is always there in the fixture venv
        pass
    try:
        import torch  # noqa: TID251 - fixture generator, never part of the scanner

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover
        pass


def allow_cpu_torch_with_pypi_torchvision() -> None:
    """Let PyPI's torchvision (CUDA build) import next to the CPU torch.

    PyPI's torchvision wheels link their C ops against libtorch_cuda, which a CPU torch lacks, so its C
    extension does not load and ``import torchvision`` dies registering fake kernels for ``nms``/``qnms``.
    timm, ultralytics and transformers import torchvision; none of the fixtures runs a torchvision op, so
    declaring the two op schemas (without kernels) is enough. Nothing is written with them.
    """
    import torch  # noqa: TID251

    try:
        torch.ops.torchvision.nms
    except (AttributeError, RuntimeError):
        lib = torch.library.Library("torchvision", "DEF")  # kept alive below: the schemas die with it
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _KEEP.append(lib)


_KEEP: list[object] = []
