"""Gradient-boosting libraries: XGBoost, LightGBM and CatBoost, in each library's native formats and
pickled/joblib'd the way their docs show."""

from __future__ import annotations

import pickle
import warnings

import numpy as np

from ._common import Corpus

FOLDERS = ("xgboost", "lightgbm", "catboost")


def _data():  # type: ignore[no-untyped-def]
    from sklearn.datasets import make_classification

    return make_classification(n_samples=60, n_features=5, random_state=0)


def _xgboost(corpus: Corpus, X, y) -> None:  # type: ignore[no-untyped-def]
    import joblib  # noqa: TID251
    import xgboost as xgb

    booster = xgb.train({"max_depth": 2, "objective": "binary:logistic", "seed": 0}, xgb.DMatrix(X, label=y), 3)
    for ext in ("json", "ubj"):
        rel = f"xgboost/booster.{ext}"
        booster.save_model(str(corpus.path(rel)))
        corpus.record(rel, "xgboost", f"Booster.save_model('.{ext}')")
    rel = "xgboost/booster_raw.bin"
    corpus.path(rel).write_bytes(bytes(booster.save_raw("ubj")))
    corpus.record(rel, "xgboost", "Booster.save_raw('ubj')")
    clf = xgb.XGBClassifier(n_estimators=3, max_depth=2, random_state=0).fit(X, y)
    reg = xgb.XGBRegressor(n_estimators=3, max_depth=2, random_state=0).fit(X, X[:, 0])
    rel = "xgboost/classifier.json"
    clf.save_model(str(corpus.path(rel)))
    corpus.record(rel, "xgboost", "XGBClassifier.save_model()")
    for name, model in (("classifier", clf), ("regressor", reg), ("booster", booster)):
        rel = f"xgboost/{name}.pkl"
        with corpus.path(rel).open("wb") as fh:
            pickle.dump(model, fh)
        corpus.record(rel, "xgboost", f"pickle.dump({type(model).__name__})")
        rel = f"xgboost/{name}.joblib"
        joblib.dump(model, corpus.path(rel))
        corpus.record(rel, "xgboost", f"joblib.dump({type(model).__name__})")


def _lightgbm(corpus: Corpus, X, y) -> None:  # type: ignore[no-untyped-def]
    import joblib  # noqa: TID251
    import lightgbm as lgb

    booster = lgb.train({"objective": "binary", "num_leaves": 4, "verbose": -1, "seed": 0},
                        lgb.Dataset(X, label=y), num_boost_round=3)
    rel = "lightgbm/booster.txt"
    booster.save_model(str(corpus.path(rel)))
    corpus.record(rel, "lightgbm", "Booster.save_model()")
    rel = "lightgbm/booster.json"
    import json

    corpus.path(rel).write_text(json.dumps(booster.dump_model()), encoding="utf-8")
    corpus.record(rel, "lightgbm", "Booster.dump_model() as JSON")
    clf = lgb.LGBMClassifier(n_estimators=3, num_leaves=4, verbose=-1, random_state=0).fit(X, y)
    reg = lgb.LGBMRegressor(n_estimators=3, num_leaves=4, verbose=-1, random_state=0).fit(X, X[:, 0])
    for name, model in (("classifier", clf), ("regressor", reg), ("booster", booster)):
        rel = f"lightgbm/{name}.pkl"
        with corpus.path(rel).open("wb") as fh:
            pickle.dump(model, fh)
        corpus.record(rel, "lightgbm", f"pickle.dump({type(model).__name__})")
        rel = f"lightgbm/{name}.joblib"
        joblib.dump(model, corpus.path(rel))
        corpus.record(rel, "lightgbm", f"joblib.dump({type(model).__name__})")


def _catboost(corpus: Corpus, X, y) -> None:  # type: ignore[no-untyped-def]
    import catboost

    clf = catboost.CatBoostClassifier(iterations=3, depth=2, verbose=False, random_seed=0,
                                      allow_writing_files=False).fit(X, y)
    for fmt, ext in (("cbm", "cbm"), ("json", "json"), ("onnx", "onnx"), ("coreml", "mlmodel")):
        rel = f"catboost/classifier.{ext}"
        clf.save_model(str(corpus.path(rel)), format=fmt)
        corpus.record(rel, "catboost", f"CatBoostClassifier.save_model(format={fmt!r})")
    reg = catboost.CatBoostRegressor(iterations=3, depth=2, verbose=False, random_seed=0,
                                     allow_writing_files=False).fit(X, X[:, 0])
    rel = "catboost/regressor.cbm"
    reg.save_model(str(corpus.path(rel)))
    corpus.record(rel, "catboost", "CatBoostRegressor.save_model()")
    for name, model in (("classifier", clf), ("regressor", reg)):
        rel = f"catboost/{name}.pkl"
        with corpus.path(rel).open("wb") as fh:
            pickle.dump(model, fh)
        corpus.record(rel, "catboost", f"pickle.dump({type(model).__name__})")


def make(corpus: Corpus) -> None:
    warnings.filterwarnings("ignore")
    X, y = _data()
    X = X.astype(np.float32)
    _xgboost(corpus, X, y)
    _lightgbm(corpus, X, y)
    _catboost(corpus, X, y)
