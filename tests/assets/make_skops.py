#!/usr/bin/env python3
"""Regenerate the benign skops fixtures under ``tests/assets/skops/`` with the real ``skops.io.dump``.

Why: mlvet's skops audit must report nothing of medium or above on what skops itself writes for ordinary
scikit-learn models (pipelines with NumPy ufunc transformers, trees, ensembles, sparse-input models).
Nothing here loads a file. Run::

    pip install skops scikit-learn scipy
    python3 tests/assets/make_skops.py
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import sklearn
import skops
import skops.io as sio
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier

warnings.filterwarnings("ignore")
OUT = Path(__file__).resolve().parent / "skops"


def models() -> dict[str, object]:
    rng = np.random.RandomState(0)
    X = rng.rand(40, 3)
    y = (X[:, 0] > 0.5).astype(int)
    text = ["red apple", "green pear", "red cherry", "green apple"] * 5
    return {
        "pipeline_log1p_tree": make_pipeline(
            FunctionTransformer(np.log1p), StandardScaler(), DecisionTreeClassifier(max_depth=2, random_state=0)
        ).fit(X, y),
        "logistic_regression": LogisticRegression().fit(X, y),
        "random_forest": RandomForestClassifier(n_estimators=3, max_depth=2, random_state=0).fit(X, y),
        "hist_gradient_boosting": HistGradientBoostingClassifier(max_iter=3, random_state=0).fit(X, y),
        "tfidf_logreg": make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(text, [0, 1, 0, 1] * 5),
        "onehot": OneHotEncoder().fit(np.array([["a"], ["b"], ["c"]], dtype=object)),
        "sparse_fit": LogisticRegression().fit(sp.csr_matrix(X), y),
    }


def main() -> None:
    OUT.mkdir(exist_ok=True)
    manifest: dict[str, object] = {
        "generator": {"skops": skops.__version__, "sklearn": sklearn.__version__, "numpy": np.__version__},
        "files": {},
    }
    for name, model in models().items():
        path = OUT / f"{name}.skops"
        sio.dump(model, path)
        manifest["files"][path.name] = {"untrusted_types_reported_by_skops": sio.get_untrusted_types(file=path)}  # type: ignore[index]
    (OUT / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
