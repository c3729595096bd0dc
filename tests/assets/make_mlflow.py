#!/usr/bin/env python3
"""Regenerate the MLflow model-folder fixtures under ``tests/assets/mlflow/`` with the real ``mlflow``.

Why: mlvet reads ``MLmodel`` with its own strict YAML subset parser and must (a) parse what MLflow
writes exactly as PyYAML does, (b) report nothing of medium or above for ordinary sklearn models, and
(c) say which artifacts MLflow will unpickle or which code it will run. Folders:

* ``sklearn_skops/``: ``mlflow.sklearn.save_model`` with MLflow's default (skops) serialisation;
* ``sklearn_pickle/``, ``sklearn_cloudpickle/``: the same model with ``serialization_format`` pickle /
  cloudpickle (the artifact is a pickle, reported low, and scanned by the pickle handler);
* ``pyfunc_python_model/``: ``mlflow.pyfunc.save_model(python_model=obj)`` (a cloudpickled class: code);
* ``pyfunc_from_code/``: "models from code", ``python_model="model_script.py"`` (the script runs on load).

Nothing here loads a model. ``mlflow-skinny`` is enough (the full ``mlflow`` package is not needed)::

    pip install mlflow-skinny scikit-learn skops
    python3 tests/assets/make_mlflow.py
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import numpy as np
from sklearn.linear_model import LogisticRegression

warnings.filterwarnings("ignore")
OUT = Path(__file__).resolve().parent / "mlflow"

SCRIPT = '''"""A models-from-code script: MLflow runs it to build the model."""
import mlflow
from mlflow.pyfunc import PythonModel


class Echo(PythonModel):
    def predict(self, context, model_input, params=None):
        return model_input


mlflow.models.set_model(Echo())
'''


class Echo(mlflow.pyfunc.PythonModel):
    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return model_input


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir()
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    mlflow.sklearn.save_model(model, OUT / "sklearn_skops")
    mlflow.sklearn.save_model(model, OUT / "sklearn_pickle", serialization_format="pickle")
    mlflow.sklearn.save_model(model, OUT / "sklearn_cloudpickle", serialization_format="cloudpickle")
    mlflow.pyfunc.save_model(OUT / "pyfunc_python_model", python_model=Echo())
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "model_script.py"
        script.write_text(SCRIPT)
        mlflow.pyfunc.save_model(OUT / "pyfunc_from_code", python_model=str(script))
    manifest = {
        "generator": {"mlflow": mlflow.__version__},
        "files": sorted(str(p.relative_to(OUT)) for p in OUT.rglob("*") if p.is_file()),
    }
    (OUT / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
