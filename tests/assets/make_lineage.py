"""Make the lineage fixtures in tests/assets/lineage with the real libraries (run from the repo root).

    MLFLOW_ALLOW_FILE_STORE=true python tests/assets/make_lineage.py

Why: the lineage round trip (issue 15, item 5) must read what the tools really write, not what the project
imagines: a Hub model card written by ``huggingface_hub`` (``ModelCardData(datasets=...)``), an MLflow
file-store tracking folder where a run logged a dataset input (``mlflow.log_input``, context ``training``) and
a model (``mlflow.sklearn.log_model``, MLflow 3 layout ``<exp>/models/<id>/artifacts/MLmodel``), and a
Lightning-style ``hparams.yaml`` beside a checkpoint saved by ``torch.save``. Needs huggingface_hub,
safetensors, torch, mlflow and scikit-learn; the outputs are committed (small).

- ``hf_model/``: config.json + model.safetensors + README.md card naming ``acme/reviews`` as training data.
- ``mlruns/``: experiment 0 with one run, its dataset input ``reviews-train`` (source ``s3://acme-data/reviews/
  train.parquet``) and the logged model.
- ``mlflow_db/``: the same run logged to a SQLite tracking store (MLflow 3's default backend): the artifacts under
  ``mlruns/`` and ``mlflow.db.gz`` (the database gzipped for the repository: 950 KB of mostly empty tables;
  the tests unpack it).
- ``lightning/version_0/``: ``hparams.yaml`` (``data_dir``) and ``checkpoints/last.ckpt`` whose
  ``hyper_parameters`` name ``train_file`` (read symbolically, never loaded).
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
from pathlib import Path

OUT = Path(__file__).resolve().parent / "lineage"


def main() -> None:
    import huggingface_hub
    import mlflow
    import pandas as pd
    import sklearn
    import torch  # noqa: TID251 - fixture generator, never part of the scanner
    from huggingface_hub import ModelCard, ModelCardData
    from safetensors.torch import save_file
    from sklearn.linear_model import LogisticRegression

    if OUT.exists():
        shutil.rmtree(OUT)
    hf = OUT / "hf_model"
    hf.mkdir(parents=True)
    (hf / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"],
                                                "hidden_size": 4}, indent=1), encoding="utf-8")
    save_file({"w": torch.zeros(2, 2)}, str(hf / "model.safetensors"))
    data = ModelCardData(license="apache-2.0", datasets=["acme/reviews"], library_name="transformers")
    card = ModelCard.from_template(data, model_id="tiny", model_description="A tiny model.")
    card.save(str(hf / "README.md"))

    cwd = os.getcwd()
    os.chdir(OUT)
    try:
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        mlflow.set_tracking_uri("file:./mlruns")
        df = pd.DataFrame({"x": [1, 2, 3, 4], "y": [0, 1, 0, 1]})
        ds = mlflow.data.from_pandas(df, source="s3://acme-data/reviews/train.parquet", name="reviews-train",
                                     targets="y")
        with mlflow.start_run():
            mlflow.log_input(ds, context="training")
            mlflow.sklearn.log_model(LogisticRegression().fit(df[["x"]], df["y"]), name="model")
        db_dir = OUT / "mlflow_db"
        db_dir.mkdir()
        os.chdir(db_dir)
        mlflow.set_tracking_uri("sqlite:///mlflow.db")
        mlflow.set_experiment("Default")
        with mlflow.start_run():
            mlflow.log_input(ds, context="training")
            mlflow.sklearn.log_model(LogisticRegression().fit(df[["x"]], df["y"]), name="model")
        with open("mlflow.db", "rb") as src, gzip.GzipFile("mlflow.db.gz", "wb", mtime=0) as dst:
            shutil.copyfileobj(src, dst)
        os.remove("mlflow.db")
    finally:
        os.chdir(cwd)

    lv = OUT / "lightning" / "version_0"
    (lv / "checkpoints").mkdir(parents=True)
    (lv / "hparams.yaml").write_text("data_dir: /srv/data/reviews-v3\nlr: 0.01\nbatch_size: 8\n", encoding="utf-8")
    torch.save({"pytorch-lightning_version": "2.5.0", "state_dict": {"w": torch.zeros(2)},
                "hyper_parameters": {"train_file": "s3://acme-data/reviews/train.jsonl", "hidden": 4}},
               lv / "checkpoints" / "last.ckpt")
    versions = {"huggingface_hub": huggingface_hub.__version__, "mlflow": mlflow.__version__,
                "torch": torch.__version__, "scikit-learn": sklearn.__version__}
    (OUT / "MANIFEST.json").write_text(json.dumps({"generator": "tests/assets/make_lineage.py",
                                                   "versions": versions}, indent=1) + "\n")


if __name__ == "__main__":
    main()
