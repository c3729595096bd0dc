#!/usr/bin/env python3
"""Regenerate the ECOSYSTEM corpus under ``tests/assets/ecosystem/`` with the real libraries' save functions.

Why this exists (issue 9): a scanner that flags ordinary model files gets switched off. This corpus holds
files written by ~40 ML libraries' own save functions (Trainer checkpoints, save_pretrained folders, full
torch.save models in zip and legacy format, DCP folders, dill/cloudpickle data pickles, statsmodels results,
Keras models with custom objects, ...) plus a "gray" set of files that really carry code (Keras Lambda
layers, cloudpickled functions, torch.fx GraphModules, Hugging Face repos with auto_map code ...). Every
file is listed in ``manifest.json`` with the library, its version, the function that wrote it and what a
scanner must say: kind "data" scans clean (nothing at medium or above); kind "code" is flagged as code at
``min_severity`` or above. ``tests/integration/test_ecosystem_corpus.py`` checks exactly that.

The script is a test-asset generator, not part of mlvet: it imports the ML libraries and saves trusted,
locally built tiny models. It never loads a file it wrote. Run it in the fixtures venv::

    python3 -m venv --system-site-packages /work/venvs/corpus
    /work/venvs/corpus/bin/pip install -e '.[fixtures]'          # torch stays at 2.13.0
    /work/venvs/corpus/bin/python tests/assets/make_ecosystem.py  # rewrites tests/assets/ecosystem/
    /work/venvs/corpus/bin/python tests/assets/make_ecosystem.py torch keras   # only these families

Determinism: seeds are fixed and the hash seed is pinned (the script re-executes itself with
PYTHONHASHSEED=0), so weights and most files are byte-identical between runs. Known exceptions, each for a
reason inside the library, never in what a scanner sees: legacy-format torch files key storages by memory
address and record the class's source file path; DCP ``.metadata``, MLflow ``MLmodel`` (uuid, creation
time), Keras ``.keras`` (save date), TensorFlow ``fingerprint.pb``, CatBoost, gensim, optuna, skops and
compressed pandas pickles (gzip/zip/tar mtime) embed times, random ids or object addresses. Pickled
functions carry the maker's line numbers, so editing a maker changes its gray-set files.

Skipped on purpose: flax/JAX safetensors (JAX is a large extra install for one more safetensors writer).
Every other library named in issue 9 installs next to torch==2.13.0.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
import time
from pathlib import Path

if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.argv])

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")
os.environ.setdefault("MLFLOW_TRACKING_URI", "file:///tmp/mlvet-ecosystem-mlruns")
os.environ.setdefault("YOLO_OFFLINE", "1")

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from ecosystem_makers._common import Corpus, allow_cpu_torch_with_pypi_torchvision, seed_everything  # noqa: E402

OUT = HERE / "ecosystem"

#: Families in the order they run (module names in ecosystem_makers/).
FAMILIES = ("torch_family", "hf_family", "sklearn_family", "pickle_family", "boosting_family",
            "keras_tf_family", "formats_family", "vision_family", "nlp_family")


def main(argv: list[str]) -> int:
    wanted = [a for a in argv if not a.startswith("-")]
    allow_cpu_torch_with_pypi_torchvision()
    corpus = Corpus(OUT)
    if wanted:
        # Rebuild only some families: keep the other families' files and manifest entries.
        import json

        manifest = json.loads((OUT / "manifest.json").read_text(encoding="utf-8"))
        from ecosystem_makers._common import Entry

        fields = Entry.__dataclass_fields__
        for f in manifest["files"]:
            corpus.entries[f["path"]] = Entry(**{k: v for k, v in f.items() if k in fields})
    else:
        corpus.reset()
    for family in FAMILIES:
        short = family.removesuffix("_family")
        if wanted and short not in wanted and family not in wanted:
            continue
        module = importlib.import_module(f"ecosystem_makers.{family}")  # noqa: TID251 - our own makers
        prefixes = getattr(module, "FOLDERS", ())
        if wanted:
            for rel in [r for r in corpus.entries if r.split("/", 1)[0] in prefixes]:
                del corpus.entries[rel]
            for prefix in prefixes:
                shutil.rmtree(OUT / prefix, ignore_errors=True)
        seed_everything(0)
        start = time.monotonic()
        before = len(corpus.entries)
        module.make(corpus)
        print(f"{family}: {len(corpus.entries) - before} files in {time.monotonic() - start:.1f}s", flush=True)
    corpus.write_manifest()
    total = sum((OUT / e).stat().st_size for e in corpus.entries)
    libs = {e.library for e in corpus.entries.values()}
    print(f"{len(corpus.entries)} files, {len(libs)} libraries, {total / 1e6:.2f} MB -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
