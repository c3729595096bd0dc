"""Files for the guard tests, made by the real libraries at test time (nothing is committed).

Benign files are written by each library's own save function. Malicious files carry a *canary* payload:
loading them without the guard runs ``exec`` (or ``os.system`` inside Keras Lambda bytecode, or Python at
import time for remote code) that writes a file, so "the canary file does not exist afterwards" proves the
loader never ran. ``test_canary_payloads_really_run`` loads each malicious file WITHOUT the guard, in a
subprocess, and sees the canary appear: the refusals tested elsewhere are refusals of real attacks.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
from pathlib import Path
from typing import Any


class Canary:
    """Pickles as ``exec("open(path, 'w').write('pwned')")``: unpickling it writes ``path``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (exec, (f"open({self.path!r}, 'w').write('pwned')",))


def evil_pickle(path: Path, canary: Path) -> Path:
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3], "hook": Canary(canary)}, protocol=4))
    return path


def evil_torch(path: Path, canary: Path) -> Path:
    import torch

    torch.save({"w": torch.ones(2), "hook": Canary(canary)}, path)
    return path


def evil_joblib(path: Path, canary: Path) -> Path:
    import joblib
    import numpy as np

    joblib.dump({"coef": np.arange(4.0), "hook": Canary(canary)}, path)
    return path


def evil_npy(path: Path, canary: Path) -> Path:
    import numpy as np

    arr = np.empty(1, dtype=object)
    arr[0] = Canary(canary)
    np.save(path, arr, allow_pickle=True)
    return path


def evil_keras(path: Path, canary: Path) -> Path:
    os.environ.setdefault("KERAS_BACKEND", "torch")
    import keras

    inp = keras.Input((3,))
    cmd = f"touch {canary}"
    out = keras.layers.Lambda(lambda x: (__import__("os").system(cmd), x)[1])(inp)
    keras.Model(inp, out).save(path)
    canary.unlink(missing_ok=True)  # building the model ran the lambda once
    return path


def tiny_bert(folder: Path) -> Path:
    """A tiny BERT saved by transformers (safetensors weights, config, tokenizer)."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    cfg = BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=16)
    BertModel(cfg).save_pretrained(folder)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(45)]))
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(folder)
    return folder


def evil_bert_weights(folder: Path, canary: Path) -> Path:
    """A BERT folder whose ``pytorch_model.bin`` is a torch pickle with the canary (no safetensors)."""
    tiny_bert(folder)
    (folder / "model.safetensors").unlink()
    evil_torch(folder / "pytorch_model.bin", canary)
    return folder


def evil_remote_code(folder: Path, canary: Path) -> Path:
    """A BERT folder whose ``auto_map`` config class runs Python at import (needs ``trust_remote_code``)."""
    tiny_bert(folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig", "AutoModel": "modeling_evil.EvilModel"}
    cfg["model_type"] = "evilbert"
    (folder / "config.json").write_text(json.dumps(cfg))
    (folder / "configuration_evil.py").write_text(
        "import os\nfrom transformers import BertConfig\n"
        f"os.system('touch {canary}')\n"
        "class EvilConfig(BertConfig):\n    model_type = 'evilbert'\n")
    (folder / "modeling_evil.py").write_text(
        "from transformers import BertModel\nfrom .configuration_evil import EvilConfig\n"
        "class EvilModel(BertModel):\n    config_class = EvilConfig\n")
    return folder


def hub_cache(cache: Path, repo_id: str, source: Path, commit: str = "a" * 40) -> Path:
    """Lay ``source``'s files out as the Hugging Face cache does (blobs, refs/main, snapshot links)."""
    root = cache / ("models--" + repo_id.replace("/", "--"))
    (root / "refs").mkdir(parents=True, exist_ok=True)
    (root / "blobs").mkdir(exist_ok=True)
    (root / "refs" / "main").write_text(commit)
    snap = root / "snapshots" / commit
    snap.mkdir(parents=True, exist_ok=True)
    for item in sorted(source.iterdir()):
        if not item.is_file():
            continue
        data = item.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        (root / "blobs" / digest).write_bytes(data)
        (snap / item.name).symlink_to(Path("..", "..", "blobs", digest))
    return snap


def mlflow_model(folder: Path) -> Path:
    """An MLflow sklearn model (cloudpickle serialisation) of a small fitted classifier."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression().fit([[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1])
    mlflow.sklearn.save_model(clf, str(folder), serialization_format="cloudpickle")
    return folder


def evil_mlflow(folder: Path, canary: Path) -> Path:
    mlflow_model(folder)
    evil_pickle(folder / "model.pkl", canary)
    return folder


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, symlinks=True)
    return dst
