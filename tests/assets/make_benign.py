#!/usr/bin/env python3
"""Regenerate the BENIGN real-model fixture corpus under ``tests/assets/benign/``.

Why this exists: mlvet must not flag legitimate model files.  Hand-written
pickles only cover what we *think* libraries emit; these fixtures are produced
by the real libraries (torch, scikit-learn, joblib, xgboost, lightgbm, numpy,
pandas, scipy, the stdlib pickler) so the scanner's "safe" tier and its
container parsers are tested against what users actually have on disk.

The script is a *test-asset generator*, not part of mlvet: it imports the ML
libraries and pickles trusted, locally-built objects.  It never loads a file.

Run (exact versions used are in MANIFEST.json's ``generator`` block; use
``xgboost-cpu`` rather than ``xgboost``, whose wheel pulls a multi-GB CUDA NCCL)::

    pip install torch==2.13.0 scikit-learn xgboost-cpu lightgbm pandas joblib lz4 scipy
    python3 tests/assets/make_benign.py            # rewrites tests/assets/benign/

Determinism: seeds are fixed and data are tiny, so most files are
byte-identical between runs.  Known exceptions (content depends on wall-clock
time, a measured duration, or an object id() the library pickles) are listed in
``NONDETERMINISTIC`` below and flagged per file in the manifest.
"""

from __future__ import annotations

import bz2
import collections
import datetime as dt
import decimal
import fractions
import gzip
import hashlib
import io
import json
import lzma
import os
import pickle
import platform
import random
import shutil
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore")

# TorchScript emits class attributes in set-iteration order, which depends on
# str hashing: re-exec once with a fixed hash seed so the archives are stable.
if os.environ.get("PYTHONHASHSEED") != "0":
    os.environ["PYTHONHASHSEED"] = "0"
    os.execv(sys.executable, [sys.executable, *sys.argv])

import joblib  # noqa: E402, TID251 - fixture generator, never part of the scanner
import lightgbm as lgb  # noqa: E402
import lz4  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import scipy  # noqa: E402
import scipy.sparse as sp  # noqa: E402
import sklearn  # noqa: E402
import torch  # noqa: E402, TID251
import torch.nn as nn  # noqa: E402, TID251
import xgboost as xgb  # noqa: E402
from sklearn.calibration import CalibratedClassifierCV  # noqa: E402
from sklearn.cluster import KMeans  # noqa: E402
from sklearn.compose import ColumnTransformer  # noqa: E402
from sklearn.datasets import make_classification, make_regression  # noqa: E402
from sklearn.decomposition import PCA  # noqa: E402
from sklearn.ensemble import (  # noqa: E402
    GradientBoostingRegressor,
    HistGradientBoostingClassifier,
    IsolationForest,
    RandomForestClassifier,
)
from sklearn.feature_extraction.text import TfidfVectorizer  # noqa: E402
from sklearn.impute import SimpleImputer  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402
from sklearn.model_selection import GridSearchCV  # noqa: E402
from sklearn.naive_bayes import GaussianNB  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402
from sklearn.neural_network import MLPClassifier  # noqa: E402
from sklearn.pipeline import Pipeline  # noqa: E402
from sklearn.preprocessing import (  # noqa: E402
    FunctionTransformer,
    LabelEncoder,
    OneHotEncoder,
    StandardScaler,
)
from sklearn.svm import SVC, LinearSVC  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

OUT = Path(__file__).resolve().parent / "benign"

# Files whose bytes change between runs, and why (kept honest for test authors
# who might be tempted to pin hashes).
NONDETERMINISTIC = {
    "zip-mtime": "pandas writes its .zip member with ZipFile.writestr(name, ...), which stamps the "
    "wall-clock time",
    "gridsearch-timing": "GridSearchCV.cv_results_ stores measured fit/score times",
    "object-id": "the library pickles an id()/memory address (TfidfVectorizer._stop_words_id; legacy "
    "torch storage keys)",
}

VERSIONS = {
    "python": platform.python_version(),
    "torch": torch.__version__,
    "numpy": np.__version__,
    "scikit-learn": sklearn.__version__,
    "joblib": joblib.__version__,
    "xgboost": xgb.__version__,
    "lightgbm": lgb.__version__,
    "pandas": pd.__version__,
    "scipy": scipy.__version__,
}
# lz4 is needed for joblib's ("lz4", level) compressor; fail early if it is missing.
VERSIONS["lz4"] = lz4.__version__

MANIFEST: list[dict[str, Any]] = []


def _sniff_format(data: bytes) -> str:
    """Classify bytes by magic so the manifest says what a parser will see."""
    if data.startswith(b"PK\x03\x04"):
        return "zip"
    if data.startswith(b"\x93NUMPY"):
        return "npy"
    if data.startswith(b"\x1f\x8b"):
        return "gzip"
    if data.startswith(b"BZh"):
        return "bz2"
    if data.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if data.startswith(b"\x5d\x00\x00"):
        return "lzma-alone"
    if data.startswith(b"\x04\x22\x4d\x18"):
        return "lz4-frame"
    if data.startswith(b"\x78"):
        return "zlib"
    if data.startswith(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19"):
        return "torch-legacy"
    if data[:1] == b"\x80":
        return f"pickle-p{data[1]}"
    if data[:1] == b"{":
        return "json"
    return "other"


def record(
    rel: str,
    library: str,
    what: str,
    how: str,
    *,
    contains_pickle: bool = True,
    nondeterministic: str | None = None,
) -> None:
    """Add one written file to the manifest (size, hash, magic, provenance)."""
    path = OUT / rel
    data = path.read_bytes()
    entry: dict[str, Any] = {
        "path": rel,
        "library": library,
        "library_version": VERSIONS.get(library, VERSIONS["python"]),
        "what": what,
        "saved_with": how,
        "format": _sniff_format(data),
        "contains_pickle": contains_pickle,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if nondeterministic:
        entry["nondeterministic"] = nondeterministic
    MANIFEST.append(entry)


def target(rel: str) -> Path:
    """Return the output path for ``rel``, creating its folder."""
    p = OUT / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def seed_all() -> None:
    """Reset every RNG we rely on so each group starts from the same state."""
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


# ---------------------------------------------------------------------------
# torch
# ---------------------------------------------------------------------------


def tiny_cnn() -> nn.Sequential:
    """A model made only of torch.nn classes, so whole-module pickles reference
    nothing outside torch (a user-defined class would reference __main__)."""
    return nn.Sequential(
        nn.Conv2d(1, 2, kernel_size=3),
        nn.BatchNorm2d(2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8, 4),
        nn.LayerNorm(4),
    )


def make_torch() -> None:
    seed_all()
    lib = "torch"
    model = tiny_cnn()
    x = torch.randn(2, 1, 4, 4)
    model.train()
    out = model(x)  # updates BatchNorm running stats / num_batches_tracked
    model.eval()

    sd = model.state_dict()
    torch.save(sd, target("torch/state_dict_fp32.pt"))
    record(
        "torch/state_dict_fp32.pt",
        lib,
        "state_dict of nn.Sequential (Conv2d/BatchNorm2d/ReLU/Flatten/Linear/LayerNorm), fp32",
        "torch.save(model.state_dict(), f) (zip format, default pickle protocol 2)",
    )

    torch.save(sd, target("torch/state_dict_fp32_proto4.pt"), pickle_protocol=4)
    record(
        "torch/state_dict_fp32_proto4.pt",
        lib,
        "same fp32 state_dict",
        "torch.save(sd, f, pickle_protocol=4) (zip format; STACK_GLOBAL/FRAME opcodes)",
    )

    half = {k: (v.half() if v.is_floating_point() else v) for k, v in sd.items()}
    torch.save(half, target("torch/state_dict_fp16.pth"))
    record(
        "torch/state_dict_fp16.pth",
        lib,
        "state_dict cast to float16 (int64 num_batches_tracked kept)",
        "torch.save(dict, f) zip format",
    )

    bf = {k: (v.to(torch.bfloat16) if v.is_floating_point() else v) for k, v in sd.items()}
    torch.save(bf, target("torch/pytorch_model_bf16.bin"))
    record(
        "torch/pytorch_model_bf16.bin",
        lib,
        "state_dict cast to bfloat16, HF-style .bin name",
        "torch.save(dict, f) zip format",
    )

    ints = {
        "int8": torch.randint(-128, 127, (4, 4), dtype=torch.int8),
        "uint8": torch.randint(0, 255, (3,), dtype=torch.uint8),
        "int16": torch.arange(5, dtype=torch.int16),
        "int32": torch.arange(6, dtype=torch.int32).reshape(2, 3),
        "int64": torch.arange(4, dtype=torch.int64),
        "bool": torch.tensor([True, False, True]),
        "float64": torch.linspace(0, 1, 5, dtype=torch.float64),
        "complex64": torch.complex(torch.ones(2), torch.zeros(2)),
        "scalar0d": torch.tensor(3.5),
        "empty": torch.empty(0, 3),
    }
    torch.save(ints, target("torch/tensors_int8_mixed_dtypes.pt"))
    record(
        "torch/tensors_int8_mixed_dtypes.pt",
        lib,
        "dict of tensors: int8/uint8/int16/int32/int64/bool/float64/complex64/0-d/empty",
        "torch.save(dict, f) zip format",
    )

    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    views = {
        "base": base,
        "row_view": base[1],  # storage_offset 6
        "strided_cols": base[:, 1::2],  # strides (6, 2), offset 1
        "transposed": base.t(),  # strides (1, 6)
        "flat_slice": base.view(-1)[5:17],  # offset 5
    }
    torch.save(views, target("torch/shared_storage_views.pt"))
    record(
        "torch/shared_storage_views.pt",
        lib,
        "one storage shared by a base tensor and views with storage_offset and non-contiguous strides",
        "torch.save(dict, f) zip format (single data/0 record)",
    )

    torch.save(model, target("torch/whole_module_sequential.pt"))
    record(
        "torch/whole_module_sequential.pt",
        lib,
        "entire nn.Sequential module object (torch.nn classes only)",
        "torch.save(model, f) zip format (needs weights_only=False to load)",
    )

    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    loss = model(x).pow(2).mean()
    loss.backward()
    opt.step()
    torch.save(opt.state_dict(), target("torch/optimizer_adam.pt"))
    record(
        "torch/optimizer_adam.pt",
        lib,
        "torch.optim.Adam state_dict after one step",
        "torch.save(opt.state_dict(), f) zip format",
    )

    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    opt.zero_grad()
    model(x).sum().backward()
    sgd.step()
    torch.save(sgd.state_dict(), target("torch/optimizer_sgd_momentum.pth"))
    record(
        "torch/optimizer_sgd_momentum.pth",
        lib,
        "torch.optim.SGD(momentum) state_dict after one step",
        "torch.save(opt.state_dict(), f) zip format",
    )
    model.eval()

    ckpt = {
        "epoch": 3,
        "global_step": 120,
        "lr": 0.001,
        "best_acc": 0.8125,
        "arch": "tiny-cnn",
        "milestones": [1, 2, 5],
        "hyper_parameters": {"hidden": 4, "dropout": 0.0, "name": "run-1", "betas": (0.9, 0.999)},
        "state_dict": model.state_dict(),
        "optimizer_states": [opt.state_dict()],
    }
    torch.save(ckpt, target("torch/training_checkpoint.ckpt"))
    record(
        "torch/training_checkpoint.ckpt",
        lib,
        "training checkpoint dict: epoch/step ints, floats, str, list, tuple, nested dict, "
        "state_dict, optimizer state",
        "torch.save(dict, f) zip format",
    )

    torch.save(sd, target("torch/legacy_state_dict.pt"), _use_new_zipfile_serialization=False)
    record(
        "torch/legacy_state_dict.pt",
        lib,
        "fp32 state_dict in the pre-1.6 legacy (non-zip) format",
        "torch.save(sd, f, _use_new_zipfile_serialization=False): 5 concatenated pickles + raw storages",
        nondeterministic=NONDETERMINISTIC["object-id"],
    )

    torch.save(views, target("torch/legacy_shared_views.pth"), _use_new_zipfile_serialization=False)
    record(
        "torch/legacy_shared_views.pth",
        lib,
        "shared-storage views in legacy format",
        "torch.save(views, f, _use_new_zipfile_serialization=False)",
        nondeterministic=NONDETERMINISTIC["object-id"],
    )

    meta = {
        "dtype": torch.float16,
        "device": torch.device("cpu"),
        "size": torch.Size([2, 3]),
        "param": nn.Parameter(torch.ones(2)),
        "sparse_coo": torch.sparse_coo_tensor([[0, 1], [1, 0]], [1.0, 2.0], (2, 2)),
        "grad_tensor": torch.ones(3, requires_grad=True),
        "layout": torch.strided,
    }
    torch.save(meta, target("torch/tensor_metadata_objects.pt"))
    record(
        "torch/tensor_metadata_objects.pt",
        lib,
        "torch.dtype/device/Size/Parameter/sparse COO/requires_grad tensor/layout",
        "torch.save(dict, f) zip format",
    )

    scripted = torch.jit.script(model)
    torch.jit.save(scripted, str(target("torch/torchscript_sequential.pt")))
    record(
        "torch/torchscript_sequential.pt",
        lib,
        "TorchScript archive of the nn.Sequential model (data.pkl, constants.pkl, code/*.py, *.debug_pkl)",
        "torch.jit.save(torch.jit.script(model), f)",
    )

    traced = torch.jit.trace(nn.Sequential(nn.Linear(3, 2), nn.Tanh()).eval(), torch.randn(1, 3))
    torch.jit.save(traced, str(target("torch/torchscript_traced_linear.pt")))
    record(
        "torch/torchscript_traced_linear.pt",
        lib,
        "TorchScript archive from torch.jit.trace(Linear->Tanh)",
        "torch.jit.save(torch.jit.trace(...), f)",
    )

    try:
        ep = torch.export.export(model, (x,))
        torch.export.save(ep, str(target("torch/exported_program.pt2")))
        record(
            "torch/exported_program.pt2",
            lib,
            "torch.export ExportedProgram archive (json graph + weights + nested sample_inputs "
            "torch.save zip)",
            "torch.export.save(torch.export.export(model, (x,)), f)",
        )
    except Exception as exc:  # pragma: no cover - reported in manifest
        print(f"torch.export failed: {exc!r}", file=sys.stderr)

    try:
        qmodel = torch.ao.quantization.quantize_dynamic(
            nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)), {nn.Linear}, dtype=torch.qint8
        )
        torch.save(qmodel.state_dict(), target("torch/quantized_dynamic_state_dict.pt"))
        record(
            "torch/quantized_dynamic_state_dict.pt",
            lib,
            "state_dict of a dynamically int8-quantized Linear model (quantized tensors, packed params)",
            "torch.save(quantize_dynamic(model).state_dict(), f) zip format",
        )
    except Exception as exc:  # pragma: no cover
        print(f"quantize_dynamic failed: {exc!r}", file=sys.stderr)
    del out


# ---------------------------------------------------------------------------
# scikit-learn
# ---------------------------------------------------------------------------


def sklearn_estimators() -> list[tuple[str, str, Callable[[], Any]]]:
    """(file stem, description, builder) for each fitted estimator."""

    X, y = make_classification(n_samples=40, n_features=4, n_informative=3, n_redundant=0, random_state=0)
    Xr, yr = make_regression(n_samples=40, n_features=4, random_state=0)
    df = pd.DataFrame(
        {
            "age": [25.0, np.nan, 40.0, 33.0, 51.0, 29.0, np.nan, 45.0],
            "income": [3.1, 4.2, 5.0, np.nan, 6.3, 2.2, 3.3, 4.4],
            "city": ["paris", "rome", "oslo", "rome", "paris", "oslo", "rome", "paris"],
        }
    )
    ydf = np.array([0, 1, 0, 1, 1, 0, 1, 0])
    texts = ["good model", "bad model", "great data", "awful data", "good data", "bad weights"]
    ytext = [1, 0, 1, 0, 1, 0]

    def fit(est: Any, *args: Any) -> Any:
        return est.fit(*args)

    return [
        ("logistic_regression", "LogisticRegression", lambda: fit(LogisticRegression(), X, y)),
        (
            "random_forest_classifier",
            "RandomForestClassifier(3 trees, depth 3)",
            lambda: fit(RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0), X, y),
        ),
        (
            "gradient_boosting_regressor",
            "GradientBoostingRegressor(5 stages)",
            lambda: fit(GradientBoostingRegressor(n_estimators=5, max_depth=2, random_state=0), Xr, yr),
        ),
        (
            "hist_gradient_boosting_classifier",
            "HistGradientBoostingClassifier(5 iters)",
            lambda: fit(HistGradientBoostingClassifier(max_iter=5, random_state=0), X, y),
        ),
        ("svc", "SVC(rbf)", lambda: fit(SVC(), X, y)),
        ("kmeans", "KMeans(3 clusters)", lambda: fit(KMeans(n_clusters=3, n_init=1, random_state=0), X)),
        ("pca", "PCA(2 components)", lambda: fit(PCA(n_components=2, random_state=0), X)),
        (
            "mlp_classifier",
            "MLPClassifier(5 hidden)",
            lambda: fit(MLPClassifier(hidden_layer_sizes=(5,), max_iter=30, random_state=0), X, y),
        ),
        (
            "isolation_forest",
            "IsolationForest(5 trees)",
            lambda: fit(IsolationForest(n_estimators=5, random_state=0), X),
        ),
        (
            "pipeline_scaler_logreg",
            "Pipeline(StandardScaler -> LogisticRegression)",
            lambda: fit(Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]), X, y),
        ),
        (
            "column_transformer_pipeline",
            "Pipeline(ColumnTransformer(SimpleImputer on numeric, OneHotEncoder on str) -> "
            "LogisticRegression) fitted on a pandas DataFrame",
            lambda: fit(
                Pipeline(
                    [
                        (
                            "prep",
                            ColumnTransformer(
                                [
                                    ("num", SimpleImputer(strategy="median"), ["age", "income"]),
                                    ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
                                ]
                            ),
                        ),
                        ("clf", LogisticRegression()),
                    ]
                ),
                df,
                ydf,
            ),
        ),
        (
            "tfidf_linearsvc_pipeline",
            "Pipeline(TfidfVectorizer -> LinearSVC)",
            lambda: fit(
                Pipeline([("tfidf", TfidfVectorizer()), ("svm", LinearSVC(random_state=0))]), texts, ytext
            ),
        ),
        (
            "decision_tree_classifier",
            "DecisionTreeClassifier(depth 3)",
            lambda: fit(DecisionTreeClassifier(max_depth=3, random_state=0), X, y),
        ),
        (
            "kneighbors_classifier",
            "KNeighborsClassifier(kd_tree)",
            lambda: fit(KNeighborsClassifier(n_neighbors=3, algorithm="kd_tree"), X, y),
        ),
        (
            "kneighbors_balltree",
            "KNeighborsClassifier(ball_tree)",
            lambda: fit(KNeighborsClassifier(n_neighbors=3, algorithm="ball_tree"), X, y),
        ),
        (
            "label_encoder",
            "LabelEncoder fitted on strings",
            lambda: fit(LabelEncoder(), ["cat", "dog", "cat", "bird"]),
        ),
        (
            "calibrated_classifier_cv",
            "CalibratedClassifierCV(LogisticRegression, cv=2)",
            lambda: fit(CalibratedClassifierCV(LogisticRegression(), cv=2), X, y),
        ),
        (
            "grid_search_cv",
            "GridSearchCV(DecisionTree, max_depth in [1,2], cv=2) fitted (cv_results_ has masked arrays)",
            lambda: fit(
                GridSearchCV(DecisionTreeClassifier(random_state=0), {"max_depth": [1, 2]}, cv=2), X, y
            ),
        ),
        ("gaussian_nb", "GaussianNB", lambda: fit(GaussianNB(), X, y)),
        ("ridge", "Ridge regression", lambda: fit(Ridge(), Xr, yr)),
        (
            "function_transformer_log1p",
            "Pipeline(FunctionTransformer(numpy.log1p) -> StandardScaler) (references a numpy ufunc by name)",
            lambda: fit(
                Pipeline([("log", FunctionTransformer(np.log1p)), ("scale", StandardScaler())]), np.abs(X)
            ),
        ),
    ]


def make_sklearn() -> None:
    lib = "scikit-learn"
    for stem, what, build in sklearn_estimators():
        seed_all()
        est = build()
        nd = {
            "grid_search_cv": NONDETERMINISTIC["gridsearch-timing"],
            "tfidf_linearsvc_pipeline": NONDETERMINISTIC["object-id"],
        }.get(stem)
        for proto in (2, 4, 5):
            rel = f"sklearn/{stem}.p{proto}.pkl"
            with target(rel).open("wb") as f:
                pickle.dump(est, f, protocol=proto)
            record(rel, lib, what, f"pickle.dump(est, f, protocol={proto})", nondeterministic=nd)
        rel = f"sklearn/{stem}.joblib"
        joblib.dump(est, target(rel))
        record(
            rel,
            lib,
            what,
            "joblib.dump(est, f) (uncompressed, NumpyArrayWrapper + raw array bytes)",
            nondeterministic=nd,
        )


# ---------------------------------------------------------------------------
# joblib compressors
# ---------------------------------------------------------------------------


def joblib_arrays() -> dict[str, Any]:
    """Arrays exercising every branch of joblib's array writer."""
    rng = np.random.default_rng(0)
    return {
        "float64_c": rng.standard_normal((3, 4)),
        "float32_fortran": np.asfortranarray(rng.standard_normal((3, 2)).astype(np.float32)),
        "int8": np.arange(-3, 4, dtype=np.int8),
        "bool": np.array([True, False, True]),
        "complex128": np.array([1 + 2j, 3 - 1j]),
        "big_endian_int32": np.arange(5, dtype=">i4"),
        "structured": np.array(
            [(1, 2.5, b"ab"), (2, 3.5, b"cd")], dtype=[("id", "<i4"), ("x", "<f8"), ("tag", "S2")]
        ),
        "datetime64": np.array(["2024-01-01", "2024-06-30"], dtype="datetime64[D]"),
        "unicode": np.array(["alpha", "be"], dtype="<U5"),
        "scalar0d": np.array(7.0),
        "empty": np.zeros((0, 3)),
        "object": np.array([1, "two", [3, 4], {"five": 5}, None], dtype=object),
        "np_scalar": np.float64(1.25),
        "plain": {"name": "arrays", "n": 3},
    }


def make_joblib() -> None:

    lib = "joblib"
    seed_all()
    X, y = make_classification(n_samples=30, n_features=4, random_state=0)
    model = RandomForestClassifier(n_estimators=2, max_depth=3, random_state=0).fit(X, y)
    arrays = joblib_arrays()
    # (file suffix, compress argument, human label); suffix is cosmetic when a
    # tuple is passed (joblib only auto-selects by extension otherwise).
    variants = [
        ("joblib", 0, "uncompressed"),
        ("joblib.z", ("zlib", 3), "zlib level 3"),
        ("joblib.gz", ("gzip", 3), "gzip level 3"),
        ("joblib.bz2", ("bz2", 3), "bz2 level 3"),
        ("joblib.lzma", ("lzma", 3), "lzma (FORMAT_ALONE) level 3"),
        ("joblib.xz", ("xz", 3), "xz (FORMAT_XZ) level 3"),
        ("joblib.lz4", ("lz4", 3), "lz4 frame level 3"),
    ]
    for name, obj, what in (
        ("rf_model", model, "RandomForestClassifier(2 trees) incl. structured-dtype node arrays"),
        (
            "arrays_dict",
            arrays,
            "dict of numpy arrays of many dtypes incl. Fortran order, big-endian, structured, object dtype",
        ),
    ):
        for suffix, compress, label in variants:
            rel = f"joblib/{name}.{label.split()[0]}.{suffix}" if compress else f"joblib/{name}.{suffix}"
            joblib.dump(obj, target(rel), compress=compress)
            record(rel, lib, what, f"joblib.dump(obj, f, compress={compress!r}) -> {label}")
    # Compression chosen from the file extension alone (compress=0 default).
    for ext in ("z", "gz", "bz2", "lzma", "xz", "lz4"):
        rel = f"joblib/arrays_dict.byext.{ext}"
        joblib.dump(arrays, target(rel))
        record(
            rel,
            lib,
            "dict of numpy arrays",
            f"joblib.dump(obj, 'name.{ext}') -> compressor auto-selected from extension '.{ext}', "
            "default level",
        )
    rel = "joblib/arrays_dict.compress_true.pkl"
    joblib.dump(arrays, target(rel), compress=True)
    record(rel, lib, "dict of numpy arrays", "joblib.dump(obj, f, compress=True) -> zlib, default level")
    rel = "joblib/arrays_dict.protocol2.joblib"
    joblib.dump(arrays, target(rel), protocol=2)
    record(rel, lib, "dict of numpy arrays", "joblib.dump(obj, f, protocol=2) (no FRAME opcodes)")

    class NoTell(io.RawIOBase):
        """A write-only stream without tell(): makes joblib disable alignment
        padding (numpy_array_alignment_bytes=None), as for sockets/pipes."""

        def __init__(self, sink: io.BufferedWriter) -> None:
            self.sink = sink

        def writable(self) -> bool:
            return True

        def write(self, b: Any) -> int:
            return self.sink.write(bytes(b))

        def tell(self) -> int:
            raise io.UnsupportedOperation("no tell")

    rel = "joblib/arrays_dict.noalign.joblib"
    with target(rel).open("wb") as sink:
        joblib.dump(arrays, NoTell(sink))
    record(
        rel,
        lib,
        "dict of numpy arrays",
        "joblib.dump(obj, fileobj_without_tell) -> numpy_array_alignment_bytes=None, no padding byte",
    )


# ---------------------------------------------------------------------------
# xgboost / lightgbm
# ---------------------------------------------------------------------------


def make_xgboost() -> None:

    lib = "xgboost"
    seed_all()
    X, y = make_classification(n_samples=40, n_features=4, random_state=0)
    Xr, yr = make_regression(n_samples=40, n_features=4, random_state=0)
    common = {"n_estimators": 3, "max_depth": 2, "n_jobs": 1, "random_state": 0, "tree_method": "hist"}
    clf = xgb.XGBClassifier(**common).fit(X, y)
    reg = xgb.XGBRegressor(**common).fit(Xr, yr)
    booster = xgb.train(
        {"max_depth": 2, "nthread": 1, "seed": 0, "objective": "binary:logistic"},
        xgb.DMatrix(X, label=y),
        num_boost_round=3,
    )
    for stem, obj, what in (
        ("xgb_classifier", clf, "XGBClassifier(3 trees)"),
        ("xgb_regressor", reg, "XGBRegressor(3 trees)"),
        ("booster", booster, "xgboost.Booster from xgb.train (3 rounds)"),
    ):
        rel = f"xgboost/{stem}.pkl"
        with target(rel).open("wb") as f:
            pickle.dump(obj, f, protocol=pickle.DEFAULT_PROTOCOL)
        record(rel, lib, what, f"pickle.dump(obj, f, protocol={pickle.DEFAULT_PROTOCOL})")
        rel = f"xgboost/{stem}.joblib"
        joblib.dump(obj, target(rel))
        record(rel, lib, what, "joblib.dump(obj, f)")
    booster.save_model(str(target("xgboost/booster.json")))
    record(
        "xgboost/booster.json",
        lib,
        "native JSON model",
        "Booster.save_model('x.json')",
        contains_pickle=False,
    )
    booster.save_model(str(target("xgboost/booster.ubj")))
    record(
        "xgboost/booster.ubj",
        lib,
        "native UBJSON model",
        "Booster.save_model('x.ubj')",
        contains_pickle=False,
    )


def make_lightgbm() -> None:

    lib = "lightgbm"
    seed_all()
    X, y = make_classification(n_samples=60, n_features=4, random_state=0)
    params = {
        "n_estimators": 3,
        "num_leaves": 4,
        "min_child_samples": 5,
        "n_jobs": 1,
        "random_state": 0,
        "verbose": -1,
        "deterministic": True,
    }
    clf = lgb.LGBMClassifier(**params).fit(X, y)
    booster = lgb.train(
        {
            "objective": "binary",
            "num_leaves": 4,
            "min_data_in_leaf": 5,
            "verbose": -1,
            "num_threads": 1,
            "seed": 0,
            "deterministic": True,
        },
        lgb.Dataset(X, label=y),
        num_boost_round=3,
    )
    for stem, obj, what in (
        ("lgbm_classifier", clf, "LGBMClassifier(3 trees)"),
        ("booster", booster, "lightgbm.Booster from lgb.train (3 rounds)"),
    ):
        rel = f"lightgbm/{stem}.pkl"
        with target(rel).open("wb") as f:
            pickle.dump(obj, f, protocol=pickle.DEFAULT_PROTOCOL)
        record(rel, lib, what, f"pickle.dump(obj, f, protocol={pickle.DEFAULT_PROTOCOL})")
    joblib.dump(clf, target("lightgbm/lgbm_classifier.joblib"))
    record("lightgbm/lgbm_classifier.joblib", lib, "LGBMClassifier(3 trees)", "joblib.dump(obj, f)")
    booster.save_model(str(target("lightgbm/booster.txt")))
    record(
        "lightgbm/booster.txt", lib, "native text model", "Booster.save_model('x.txt')", contains_pickle=False
    )


# ---------------------------------------------------------------------------
# numpy / scipy
# ---------------------------------------------------------------------------


def make_numpy() -> None:
    lib = "numpy"
    seed_all()
    rng = np.random.default_rng(0)
    a32 = rng.standard_normal((3, 4)).astype(np.float32)
    np.save(target("numpy/float32_2d.npy"), a32)
    record(
        "numpy/float32_2d.npy", lib, "float32 (3,4) C-order", "np.save (format v1.0)", contains_pickle=False
    )
    np.save(target("numpy/int64_fortran.npy"), np.asfortranarray(np.arange(12, dtype=np.int64).reshape(3, 4)))
    record(
        "numpy/int64_fortran.npy",
        lib,
        "int64 (3,4) Fortran-order",
        "np.save (v1.0, fortran_order True)",
        contains_pickle=False,
    )
    np.save(target("numpy/big_endian_f8.npy"), np.arange(4, dtype=">f8"))
    record("numpy/big_endian_f8.npy", lib, "big-endian float64", "np.save (v1.0)", contains_pickle=False)
    rec = np.array([(1, 2.0, "a"), (2, 3.0, "b")], dtype=[("id", "<i4"), ("val", "<f4"), ("tag", "<U1")])
    np.save(target("numpy/structured.npy"), rec)
    record(
        "numpy/structured.npy", lib, "structured dtype (i4, f4, U1)", "np.save (v1.0)", contains_pickle=False
    )
    with target("numpy/header_v2.npy").open("wb") as f:
        np.lib.format.write_array(f, a32, version=(2, 0))
    record(
        "numpy/header_v2.npy",
        lib,
        "float32 array with a v2.0 header (4-byte header length)",
        "np.lib.format.write_array(f, a, version=(2, 0))",
        contains_pickle=False,
    )
    with target("numpy/header_v3.npy").open("wb") as f:
        np.lib.format.write_array(f, a32, version=(3, 0))
    record(
        "numpy/header_v3.npy",
        lib,
        "float32 array with a v3.0 header (utf8 header)",
        "np.lib.format.write_array(f, a, version=(3, 0))",
        contains_pickle=False,
    )
    utf = np.zeros(2, dtype=[("Δt", "<f8"), ("x", "<i2")])
    np.save(target("numpy/utf8_field_auto_v3.npy"), utf)
    record(
        "numpy/utf8_field_auto_v3.npy",
        lib,
        "structured dtype with non-latin1 field name -> numpy picks v3.0 automatically",
        "np.save",
        contains_pickle=False,
    )
    np.save(
        target("numpy/datetime64.npy"),
        np.array(["2024-01-01T00:00", "2024-01-02T12:30"], dtype="datetime64[m]"),
    )
    record("numpy/datetime64.npy", lib, "datetime64[m]", "np.save", contains_pickle=False)
    obj = np.array([[1, 2, 3], "text", 42, {"k": "v"}, (1.5, None), b"raw"], dtype=object)
    np.save(target("numpy/object_array_plain_python.npy"), obj, allow_pickle=True)
    record(
        "numpy/object_array_plain_python.npy",
        lib,
        "object-dtype array of plain Python data (list/str/int/dict/tuple/bytes) - benign but the "
        "payload is a pickle",
        "np.save(f, obj_array, allow_pickle=True) (the .npy header is followed by a pickle; protocol "
        "4 with numpy 2.x)",
    )
    np.savez(target("numpy/arrays.npz"), weights=a32, ids=np.arange(5), mask=np.array([True, False]))
    record(
        "numpy/arrays.npz",
        lib,
        "npz of 3 numeric arrays",
        "np.savez (zip stored, .npy members)",
        contains_pickle=False,
    )
    np.savez_compressed(target("numpy/arrays_compressed.npz"), weights=a32, ids=np.arange(5))
    record(
        "numpy/arrays_compressed.npz",
        lib,
        "npz of 2 numeric arrays, deflated",
        "np.savez_compressed",
        contains_pickle=False,
    )
    np.savez(
        target("numpy/with_object_member.npz"),
        numbers=np.arange(3),
        objects=np.array(["a", 1, None], dtype=object),
    )
    record(
        "numpy/with_object_member.npz",
        lib,
        "npz where one member is an object array (pickle inside a .npy inside the zip)",
        "np.savez (allow_pickle implied on save)",
    )
    payload = {
        "arr": a32,
        "ints": np.arange(4),
        "f64": np.float64(1.5),
        "i32": np.int32(7),
        "b": np.bool_(True),
        "dtype": np.dtype("<f4"),
        "dt64": np.datetime64("2024-01-01"),
        "masked": np.ma.masked_array([1.0, 2.0], mask=[False, True]),
    }
    for proto in (2, 5):
        rel = f"numpy/ndarray_and_scalars.p{proto}.pkl"
        with target(rel).open("wb") as f:
            pickle.dump(payload, f, protocol=proto)
        record(
            rel,
            lib,
            "pickled ndarray, numpy scalars, dtype, datetime64, masked array",
            f"pickle.dump(obj, f, protocol={proto})"
            + (" (in-band PickleBuffer/BYTEARRAY8)" if proto == 5 else ""),
        )

    seed_all()
    m = sp.random(5, 4, density=0.4, format="csr", random_state=0, dtype=np.float64)
    sparse = {"csr_matrix": m, "csc_matrix": m.tocsc(), "coo_matrix": m.tocoo(), "csr_array": sp.csr_array(m)}
    with target("scipy/sparse_matrices.p5.pkl").open("wb") as f:
        pickle.dump(sparse, f, protocol=5)
    record(
        "scipy/sparse_matrices.p5.pkl",
        "scipy",
        "scipy.sparse csr/csc/coo matrix and csr_array",
        "pickle.dump(obj, f, protocol=5)",
    )
    sp.save_npz(target("scipy/csr_matrix.npz"), m)
    record(
        "scipy/csr_matrix.npz",
        "scipy",
        "scipy.sparse.save_npz (npz with format/shape/data/indices/indptr members)",
        "scipy.sparse.save_npz(f, m)",
        contains_pickle=False,
    )


# ---------------------------------------------------------------------------
# pandas
# ---------------------------------------------------------------------------


def make_pandas() -> None:
    lib = "pandas"
    df = pd.DataFrame(
        {
            "when": pd.date_range("2024-01-01", periods=4, freq="D"),
            "when_tz": pd.date_range("2024-01-01", periods=4, freq="h", tz="UTC"),
            "cat": pd.Categorical(["a", "b", "a", "c"]),
            "text": pd.Series(["x", "yy", None, "zzz"], dtype="string"),
            "obj_text": ["p", "q", "r", "s"],
            "n": np.arange(4, dtype=np.int64),
            "nullable": pd.array([1, None, 3, 4], dtype="Int64"),
            "f": [0.5, 1.5, np.nan, 3.0],
            "flag": [True, False, True, False],
            "delta": pd.to_timedelta([1, 2, 3, 4], unit="s"),
        }
    )
    rel = "pandas/dataframe.pkl"
    df.to_pickle(target(rel))
    record(
        rel,
        lib,
        "DataFrame: datetime, tz-aware datetime, categorical, string, object str, int64, Int64, "
        "float, bool, timedelta",
        "DataFrame.to_pickle(f) (protocol 5)",
    )
    comps: list[tuple[str, Any, str | None]] = [
        ("gz", {"method": "gzip", "mtime": 0}, None),
        ("bz2", "infer", None),
        ("xz", "infer", None),
        ("zip", "infer", NONDETERMINISTIC["zip-mtime"]),
    ]
    for ext, comp, nd in comps:
        rel = f"pandas/dataframe.pkl.{ext}"
        df.to_pickle(target(rel), compression=comp)
        record(
            rel,
            lib,
            "same DataFrame, compressed",
            f"DataFrame.to_pickle('x.pkl.{ext}', compression={comp!r})",
            nondeterministic=nd,
        )
    s = pd.Series([1.0, 2.5, np.nan], index=pd.Index(["a", "b", "c"], name="key"), name="score")
    s.to_pickle(target("pandas/series.pkl"))
    record("pandas/series.pkl", lib, "float Series with named str index", "Series.to_pickle(f)")
    s.to_pickle(target("pandas/series.pkl.gz"), compression={"method": "gzip", "mtime": 0})
    record(
        "pandas/series.pkl.gz",
        lib,
        "same Series gzip-compressed",
        "Series.to_pickle('x.pkl.gz', compression={'method': 'gzip', 'mtime': 0})",
    )
    extras = {
        "datetime_index": pd.date_range("2024-03-01", periods=3, freq="D", name="day"),
        "categorical": pd.Categorical(["lo", "hi", "lo"], categories=["lo", "hi"], ordered=True),
        "timestamp": pd.Timestamp("2024-05-06 07:08:09", tz="UTC"),
        "multiindex": pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "v"]),
        "period_index": pd.period_range("2024-01", periods=2, freq="M"),
        "interval": pd.Interval(0, 1),
    }
    for proto in (2, 5):
        rel = f"pandas/index_categorical_misc.p{proto}.pkl"
        with target(rel).open("wb") as f:
            pickle.dump(extras, f, protocol=proto)
        record(
            rel,
            lib,
            "DatetimeIndex, ordered Categorical, tz Timestamp, MultiIndex, PeriodIndex, Interval",
            f"pickle.dump(obj, f, protocol={proto})",
        )


# ---------------------------------------------------------------------------
# plain python
# ---------------------------------------------------------------------------


def make_python() -> None:
    lib = "python"
    shared = [1, 2, 3]
    recursive: list[Any] = ["self"]
    recursive.append(recursive)
    composite = {
        "str": "héllo ✓",
        "int": 42,
        "neg": -7,
        "bigint": 2**100,
        "float": 3.25,
        "inf": float("inf"),
        "bool": True,
        "none": None,
        "list": [1, "a", 2.5],
        "tuple": (1, 2, (3, 4)),
        "empty_tuple": (),
        "set": {1, 2, 3},
        "frozenset": frozenset({4, 5}),
        "bytes": b"\x00\x01binary",
        "bytearray": bytearray(b"ba"),
        "complex": complex(1.5, -2.0),
        "datetime": dt.datetime(2024, 1, 2, 3, 4, 5, 600000),
        "datetime_utc": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        "datetime_offset": dt.datetime(2024, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        "date": dt.date(2024, 1, 2),
        "time": dt.time(13, 14, 15),
        "timedelta": dt.timedelta(days=1, seconds=2),
        "decimal": decimal.Decimal("3.14159"),
        "fraction": fractions.Fraction(3, 7),
        "ordered": collections.OrderedDict([("b", 1), ("a", 2)]),
        "defaultdict": collections.defaultdict(list, {"k": [1]}),
        "counter": collections.Counter("abca"),
        "deque": collections.deque([1, 2]),
        "shared_a": shared,
        "shared_b": shared,
        "recursive": recursive,
    }
    simple = {"name": "plain", "values": [1, 2, 3], "nested": {"x": 1.5, "y": [True, None]}, "t": (1, "two")}
    for proto in range(6):
        rel = f"python/composite.p{proto}.pkl"
        with target(rel).open("wb") as f:
            pickle.dump(composite, f, protocol=proto)
        record(
            rel,
            lib,
            "dict of builtins/datetime/decimal/fractions/collections types, bytes, complex, sets, "
            "shared + recursive refs",
            f"pickle.dump(obj, f, protocol={proto})",
        )
        rel = f"python/simple_no_globals.p{proto}.pkl"
        with target(rel).open("wb") as f:
            pickle.dump(simple, f, protocol=proto)
        record(
            rel,
            lib,
            "dict/list/tuple/str/int/float/bool/None only (no GLOBAL opcodes expected)",
            f"pickle.dump(obj, f, protocol={proto})",
        )
    # Pure-Python pickler (what joblib uses) emits slightly different opcodes.
    rel = "python/composite.pure_python_pickler.p4.pkl"
    with target(rel).open("wb") as f:
        pickle._Pickler(f, protocol=4).dump(composite)  # type: ignore[attr-defined]
    record(
        rel,
        lib,
        "same composite dict via pickle._Pickler (pure Python)",
        "pickle._Pickler(f, protocol=4).dump(obj)",
    )
    for name, opener in (
        ("gz", lambda p: gzip.GzipFile(p, "wb", mtime=0)),
        ("bz2", lambda p: bz2.BZ2File(p, "wb")),
        ("xz", lambda p: lzma.LZMAFile(p, "wb")),
    ):
        rel = f"python/simple.pkl.{name}"
        with opener(target(rel)) as f:
            pickle.dump(simple, f, protocol=4)
        record(
            rel,
            lib,
            "simple dict pickle inside a compressed stream",
            f"pickle.dump(obj, {name} file, protocol=4)",
        )


def main() -> None:
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    for step in (
        make_torch,
        make_sklearn,
        make_joblib,
        make_xgboost,
        make_lightgbm,
        make_numpy,
        make_pandas,
        make_python,
    ):
        step()
    MANIFEST.sort(key=lambda e: e["path"])
    doc = {
        "description": "Benign fixtures written by real ML libraries; regenerate with "
        "tests/assets/make_benign.py. Never load these with pickle in tests: "
        "they are inputs for static scanning.",
        "generator": {
            "script": "tests/assets/make_benign.py",
            "versions": VERSIONS,
            "platform": f"{platform.system()} {platform.machine()}",
        },
        "nondeterministic_reasons": NONDETERMINISTIC,
        "total_files": len(MANIFEST),
        "total_bytes": sum(e["size"] for e in MANIFEST),
        "files": MANIFEST,
    }
    (OUT / "MANIFEST.json").write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {len(MANIFEST)} files, {doc['total_bytes']} bytes under {OUT}")


if __name__ == "__main__":
    main()
