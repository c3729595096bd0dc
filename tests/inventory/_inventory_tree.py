"""A realistic tree of ML assets for inventory tests, built from fixtures written by the real libraries.

The Hugging Face cache part is written with huggingface_hub's own cache helpers (``repo_folder_name``,
``_create_symlink``, ``_cache_commit_hash_for_specific_revision`` -- what ``hf_hub_download`` calls), and
tests cross-check the layout with ``huggingface_hub.scan_cache_dir``.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"
REV1 = "1111111111111111111111111111111111111111"
REV2 = "2222222222222222222222222222222222222222"
EVIL = b"\x80\x02cos\nsystem\n\x8c\x02id\x85R."

MODEL_CARD = """---
license: apache-2.0
base_model: openai-community/gpt2
datasets:
- acme/reviews
pipeline_tag: text-generation
library_name: transformers
---
# tiny-gpt2

## Intended uses
Tests.

## Training data
acme/reviews
"""
DATASET_CARD = """---
license: cc-by-4.0
task_categories:
- text-classification
---
# reviews
"""


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\x00" % len(data) + data, usedforsecurity=False).hexdigest()


def hf_cache_snapshot(hub: Path, repo_id: str, repo_type: str, revision: str, files: dict[str, bytes],
                      ref: str | None = "main") -> Path:
    """Write one snapshot the way hf_hub_download does: blobs named by content hash, relative symlinks, refs."""
    from huggingface_hub import file_download as fd

    repo = hub / fd.repo_folder_name(repo_id=repo_id, repo_type=repo_type)
    snap = repo / "snapshots" / revision
    for name, data in files.items():
        blob_name = hashlib.sha256(data).hexdigest() if name.endswith((".safetensors", ".parquet", ".bin")) \
            else git_blob_id(data)
        blob = repo / "blobs" / blob_name
        blob.parent.mkdir(parents=True, exist_ok=True)
        new = not blob.exists()
        if new:
            blob.write_bytes(data)
        dst = snap / name
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd._create_symlink(str(blob), str(dst), new_blob=new)
    if ref:
        fd._cache_commit_hash_for_specific_revision(str(repo), ref, revision)
    return snap


def gpt2_files(card: str = MODEL_CARD) -> dict[str, bytes]:
    src = ASSETS / "hf" / "tiny-gpt2"
    files = {p.name: p.read_bytes() for p in sorted(src.iterdir()) if p.is_file()}
    files["README.md"] = card.encode()
    return files


def build_tree(root: Path) -> Path:
    """The tree; returns its root. See EXPECTED for what an inventory must find."""
    hub = root / "hub"
    hf_cache_snapshot(hub, "acme/tiny-gpt2", "model", REV1, gpt2_files())
    shards = sorted((ASSETS / "datasets" / "reviews" / "data").iterdir())
    hf_cache_snapshot(hub, "acme/reviews", "dataset", REV1,
                      {"README.md": DATASET_CARD.encode(), **{f"data/{p.name}": p.read_bytes() for p in shards}})
    proj = root / "projects"
    copies = {
        "vision/model.pt": ASSETS / "benign" / "torch" / "state_dict_fp32.pt",
        "tabular/clf.joblib": ASSETS / "benign" / "sklearn" / "pca.joblib",
        "keras/classifier.keras": ASSETS / "keras" / "benign" / "k3_sequential.keras",
        "llm/tiny.gguf": ASSETS / "gguf" / "benign_tiny.gguf",
        "onnx/model.onnx": ASSETS / "onnx" / "benign.onnx",
    }
    for rel, src in copies.items():
        (proj / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, proj / rel)
    (proj / "vision" / "train.py").write_text("import torch\nprint('train')\n")
    shutil.copytree(ASSETS / "mlflow" / "sklearn_skops", proj / "mlflow_model")
    shutil.copytree(ASSETS / "hf" / "tiny-gpt2", proj / "hf_local" / "tiny-gpt2")
    (proj / "evil").mkdir()
    (proj / "evil" / "model.pkl").write_bytes(EVIL)
    data = root / "data"
    (data / "shards").mkdir(parents=True)
    for p in shards:
        shutil.copyfile(p, data / "shards" / p.name)
    (data / "tables").mkdir()
    shutil.copyfile(ASSETS / "datasets" / "reviews.csv", data / "tables" / "reviews.csv")
    shutil.copytree(ASSETS / "datasets" / "saved_dataset", data / "saved_dataset")
    (data / "tf").mkdir()
    shutil.copyfile(ASSETS / "datasets" / "examples.tfrecord", data / "tf" / "examples.tfrecord")
    (data / "wds").mkdir()
    shutil.copyfile(ASSETS / "datasets" / "shard-000000.tar", data / "wds" / "shard-000000.tar")
    (data / "arrow").mkdir()
    shutil.copyfile(ASSETS / "datasets" / "table.arrow", data / "arrow" / "table.arrow")
    (data / "jsonl").mkdir()
    shutil.copyfile(ASSETS / "datasets" / "reviews.jsonl", data / "jsonl" / "reviews.jsonl")
    docs = root / "docs"
    docs.mkdir()
    (docs / "README.md").write_text("# notes\n")
    (docs / "notes.txt").write_text("hello\n")
    (docs / "diagram.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
    (root / ".git" / "objects").mkdir(parents=True)
    shutil.copyfile(ASSETS / "benign" / "torch" / "state_dict_fp32.pt", root / ".git" / "objects" / "copy.pt")
    return root


#: (kind, name, format, framework, path relative to the tree root) of every asset build_tree makes.
EXPECTED = {
    ("model", "acme/tiny-gpt2", "safetensors", "transformers", f"hub/models--acme--tiny-gpt2/snapshots/{REV1}"),
    ("dataset", "acme/reviews", "parquet", None, f"hub/datasets--acme--reviews/snapshots/{REV1}"),
    ("model", "model.pt", "pytorch-zip", "pytorch", "projects/vision/model.pt"),
    ("model", "clf.joblib", "pickle", "sklearn", "projects/tabular/clf.joblib"),
    ("model", "classifier.keras", "keras", "keras", "projects/keras/classifier.keras"),
    ("model", "tiny.gguf", "gguf", "llama.cpp", "projects/llm/tiny.gguf"),
    ("model", "model.onnx", "onnx", "onnx", "projects/onnx/model.onnx"),
    ("model", "mlflow_model", "mlflow", "mlflow", "projects/mlflow_model"),
    ("model", "tiny-gpt2", "safetensors", "transformers", "projects/hf_local/tiny-gpt2"),
    ("model", "model.pkl", "pickle", None, "projects/evil/model.pkl"),
    ("dataset", "shards", "parquet", None, "data/shards"),
    ("dataset", "reviews.csv", "csv", None, "data/tables/reviews.csv"),
    ("dataset", "saved_dataset", "arrow", "datasets", "data/saved_dataset"),
    ("dataset", "examples.tfrecord", "tfrecord", "tensorflow", "data/tf/examples.tfrecord"),
    ("dataset", "wds", "webdataset", None, "data/wds"),
    ("dataset", "table.arrow", "arrow", None, "data/arrow/table.arrow"),
    ("dataset", "reviews.jsonl", "jsonl", None, "data/jsonl/reviews.jsonl"),
}
