"""scikit-learn and its savers: joblib (every compressor), pickle protocols, skops, skl2onnx, MLflow; and the
scientific-Python libraries saved the way their docs say: statsmodels ``results.save``, SciPy sparse
matrices, optuna studies through joblib, sklearn-crfsuite models.

The gray set here: a cloudpickled pipeline whose FunctionTransformer holds a lambda (the lambda's bytecode
is in the file and is rebuilt at load time), and an MLflow pyfunc model whose PythonModel class is
defined in ``__main__`` (cloudpickle stores the class by value, methods and all).
"""

from __future__ import annotations

import pickle
import warnings

import numpy as np

from ._common import Corpus

FOLDERS = ("sklearn", "joblib", "skops", "skl2onnx", "mlflow", "statsmodels", "scipy", "optuna", "crfsuite")

#: Given to MLflow so it does not infer requirements by re-loading each model in a subprocess (slow).
REQS = ["scikit-learn"]

CODE_PICKLE_RULES = ["PKL100", "PKL101", "PKL102", "PKL110", "PKL204"]


def _estimators():  # type: ignore[no-untyped-def]
    from sklearn import (
        calibration,
        cluster,
        compose,
        decomposition,
        discriminant_analysis,
        ensemble,
        feature_extraction,
        feature_selection,
        gaussian_process,
        impute,
        kernel_ridge,
        linear_model,
        manifold,
        mixture,
        model_selection,
        multiclass,
        naive_bayes,
        neighbors,
        neural_network,
        preprocessing,
        svm,
        tree,
    )
    from sklearn.compose import ColumnTransformer
    from sklearn.datasets import make_classification, make_regression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    X, y = make_classification(n_samples=40, n_features=6, n_informative=3, random_state=0)
    Xr, yr = make_regression(n_samples=40, n_features=6, random_state=0)
    clf = {
        "logistic_regression": linear_model.LogisticRegression(max_iter=200),
        "sgd_classifier": linear_model.SGDClassifier(random_state=0),
        "random_forest": ensemble.RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0),
        "extra_trees": ensemble.ExtraTreesClassifier(n_estimators=3, max_depth=3, random_state=0),
        "gradient_boosting": ensemble.GradientBoostingClassifier(n_estimators=3, random_state=0),
        "hist_gradient_boosting": ensemble.HistGradientBoostingClassifier(max_iter=3, random_state=0),
        "adaboost": ensemble.AdaBoostClassifier(n_estimators=3, random_state=0),
        "bagging": ensemble.BaggingClassifier(n_estimators=2, random_state=0),
        "voting": ensemble.VotingClassifier([("lr", linear_model.LogisticRegression()),
                                             ("nb", naive_bayes.GaussianNB())]),
        "stacking": ensemble.StackingClassifier([("dt", tree.DecisionTreeClassifier(max_depth=2))],
                                                final_estimator=linear_model.LogisticRegression(), cv=2),
        "decision_tree": tree.DecisionTreeClassifier(max_depth=3, random_state=0),
        "svc_probability": svm.SVC(probability=True, random_state=0),
        "linear_svc": svm.LinearSVC(random_state=0),
        "knn": neighbors.KNeighborsClassifier(n_neighbors=3),
        "gaussian_nb": naive_bayes.GaussianNB(),
        "mlp_classifier": neural_network.MLPClassifier(hidden_layer_sizes=(4,), max_iter=20, random_state=0),
        "pipeline_scaler_logreg": make_pipeline(preprocessing.StandardScaler(), linear_model.LogisticRegression()),
        "pipeline_pca_svc": make_pipeline(decomposition.PCA(n_components=3), svm.SVC()),
        "pipeline_log1p_function_transformer": make_pipeline(
            preprocessing.FunctionTransformer(np.abs), preprocessing.FunctionTransformer(np.log1p),
            linear_model.LogisticRegression()),
        "feature_union_pipeline": make_pipeline(
            FeatureUnion([("pca", decomposition.PCA(n_components=2)), ("poly", preprocessing.PolynomialFeatures(2))]),
            linear_model.LogisticRegression(max_iter=300)),
        "column_transformer_pipeline": make_pipeline(
            ColumnTransformer([
                ("num", make_pipeline(impute.SimpleImputer(), preprocessing.StandardScaler()), [0, 1, 2]),
                ("bin", preprocessing.KBinsDiscretizer(n_bins=3, quantile_method="averaged_inverted_cdf"), [3, 4, 5]),
            ]),
            tree.DecisionTreeClassifier(max_depth=2, random_state=0)),
    }
    clf.update({
        "calibrated_classifier": calibration.CalibratedClassifierCV(linear_model.LogisticRegression(), cv=2),
        "gaussian_process": gaussian_process.GaussianProcessClassifier(random_state=0),
        "lda": discriminant_analysis.LinearDiscriminantAnalysis(),
        "qda": discriminant_analysis.QuadraticDiscriminantAnalysis(reg_param=0.1),
        "one_vs_rest": multiclass.OneVsRestClassifier(svm.LinearSVC(random_state=0)),
        "grid_search": model_selection.GridSearchCV(tree.DecisionTreeClassifier(random_state=0),
                                                    {"max_depth": [1, 2]}, cv=2),
        "select_k_best_pipeline": make_pipeline(feature_selection.SelectKBest(k=3),
                                                linear_model.LogisticRegression()),
        "spline_pipeline": make_pipeline(preprocessing.SplineTransformer(n_knots=3), linear_model.RidgeClassifier()),
        "target_encoder_pipeline": make_pipeline(preprocessing.TargetEncoder(random_state=0),
                                                 linear_model.LogisticRegression()),
    })
    reg = {
        "ridge": linear_model.Ridge(),
        "lasso": linear_model.Lasso(),
        "elastic_net_cv": linear_model.ElasticNetCV(cv=2),
        "random_forest_regressor": ensemble.RandomForestRegressor(n_estimators=3, max_depth=3, random_state=0),
        "svr": svm.SVR(),
        "kneighbors_regressor": neighbors.KNeighborsRegressor(n_neighbors=3),
        "isotonic_pipeline": make_pipeline(preprocessing.MinMaxScaler(), linear_model.BayesianRidge()),
        "hist_gradient_boosting_regressor": ensemble.HistGradientBoostingRegressor(max_iter=3, random_state=0),
        "transformed_target": compose.TransformedTargetRegressor(regressor=linear_model.Ridge(),
                                                                 func=np.arcsinh, inverse_func=np.sinh),
        "kernel_ridge": kernel_ridge.KernelRidge(kernel="rbf"),
        "huber": linear_model.HuberRegressor(),
    }
    unsup = {
        "kmeans": cluster.KMeans(n_clusters=2, n_init=2, random_state=0),
        "dbscan": cluster.DBSCAN(),
        "pca": decomposition.PCA(n_components=2),
        "truncated_svd": decomposition.TruncatedSVD(n_components=2, random_state=0),
        "isolation_forest": ensemble.IsolationForest(n_estimators=3, random_state=0),
        "nearest_neighbors": neighbors.NearestNeighbors(n_neighbors=2),
        "one_hot_encoder": preprocessing.OneHotEncoder(),
        "quantile_transformer": preprocessing.QuantileTransformer(n_quantiles=10),
        "nmf": decomposition.NMF(n_components=2, random_state=0, max_iter=50),
        "birch": cluster.Birch(n_clusters=2),
        "gaussian_mixture": mixture.GaussianMixture(n_components=2, random_state=0),
        "tsne_free_isomap": manifold.Isomap(n_components=2, n_neighbors=5),
        "local_outlier_factor": neighbors.LocalOutlierFactor(novelty=True),
    }
    fitted = {}
    for name, est in clf.items():
        fitted[name] = est.fit(X, y)
    for name, est in reg.items():
        fitted[name] = est.fit(Xr, yr)
    for name, est in unsup.items():
        data = np.round(X) if name == "one_hot_encoder" else X
        fitted[name] = est.fit(np.abs(data) if name == "nmf" else data)
    texts = ["the model is safe", "scan the file", "bad weights load", "good data", "torch save model"]
    tfidf = make_pipeline(feature_extraction.text.TfidfVectorizer(), linear_model.LogisticRegression())
    fitted["tfidf_text_pipeline"] = tfidf.fit(texts, [1, 1, 0, 1, 0])
    fitted["count_vectorizer"] = feature_extraction.text.CountVectorizer(ngram_range=(1, 2)).fit(texts)
    fitted["dict_vectorizer"] = feature_extraction.DictVectorizer().fit([{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
    return fitted, X


def _sklearn(corpus: Corpus, fitted, X) -> None:  # type: ignore[no-untyped-def]
    import joblib  # noqa: TID251

    for name, est in fitted.items():
        rel = f"sklearn/joblib/{name}.joblib"
        joblib.dump(est, corpus.path(rel))
        corpus.record(rel, "scikit-learn", "joblib.dump(estimator)", what=type(est).__name__)
    for i, (name, est) in enumerate(sorted(fitted.items())):
        if i % 3:
            continue
        proto = (2, 4, 5)[(i // 3) % 3]
        rel = f"sklearn/pickle/{name}.p{proto}.pkl"
        with corpus.path(rel).open("wb") as fh:
            pickle.dump(est, fh, protocol=proto)
        corpus.record(rel, "scikit-learn", f"pickle.dump(estimator, protocol={proto})", what=type(est).__name__)
    compressors = {"zlib": ("zlib", 3), "gzip": ("gzip", 3), "bz2": ("bz2", 3), "lzma": ("lzma", 3),
                   "xz": ("xz", 3), "lz4": ("lz4", 3)}
    for i, (label, compress) in enumerate(compressors.items()):
        for name in ("random_forest", "pipeline_scaler_logreg", sorted(fitted)[i * 2]):
            rel = f"joblib/{label}/{name}.joblib.{label}"
            joblib.dump(fitted[name], corpus.path(rel), compress=compress)
            corpus.record(rel, "joblib", f"joblib.dump(estimator, compress={compress!r})")
    rel = "joblib/plain/arrays_and_estimator.joblib"
    joblib.dump({"X": X, "model": fitted["kmeans"], "meta": {"created": "2026-01-01", "n": 40}}, corpus.path(rel))
    corpus.record(rel, "joblib", "joblib.dump(dict with arrays)")
    rel = "joblib/plain/mmap_friendly.joblib"
    joblib.dump([np.arange(1000, dtype=np.float32), np.eye(3)], corpus.path(rel), protocol=4)
    corpus.record(rel, "joblib", "joblib.dump(list of arrays, protocol=4)")


def _cloudpickled_lambda(corpus: Corpus, X) -> None:  # type: ignore[no-untyped-def]
    import cloudpickle  # noqa: TID251
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    pipe = make_pipeline(FunctionTransformer(lambda a: a * 2.0 + 1.0), LogisticRegression())
    pipe.fit(X, (X[:, 0] > 0).astype(int))
    rel = "sklearn/code/function_transformer_lambda.cloudpkl"
    with corpus.path(rel).open("wb") as fh:
        cloudpickle.dump(pipe, fh)
    corpus.record(rel, "scikit-learn", "cloudpickle.dump(Pipeline(FunctionTransformer(lambda)))", kind="code",
                  what="the lambda's bytecode is rebuilt into a function at load time", min_severity="high",
                  code_rules=CODE_PICKLE_RULES)


def _skops(corpus: Corpus, fitted) -> None:  # type: ignore[no-untyped-def]
    import skops.io as sio

    for name in ("logistic_regression", "random_forest", "pipeline_scaler_logreg", "hist_gradient_boosting",
                 "column_transformer_pipeline", "kmeans", "tfidf_text_pipeline", "mlp_classifier"):
        rel = f"skops/{name}.skops"
        sio.dump(fitted[name], corpus.path(rel))
        corpus.record(rel, "skops", "skops.io.dump(estimator)")


def _skl2onnx(corpus: Corpus, fitted, X) -> None:  # type: ignore[no-untyped-def]
    from skl2onnx import to_onnx

    for name in ("logistic_regression", "random_forest", "pipeline_scaler_logreg", "ridge", "kmeans",
                 "svc_probability"):
        onx = to_onnx(fitted[name], X[:1].astype(np.float32), target_opset=17)
        rel = f"skl2onnx/{name}.onnx"
        corpus.path(rel).write_bytes(onx.SerializeToString())
        corpus.record(rel, "skl2onnx", "skl2onnx.to_onnx(estimator)")


class _Scaler:
    """An MLflow pyfunc PythonModel as a notebook defines it (in ``__main__``)."""

    def load_context(self, context):  # type: ignore[no-untyped-def]
        self.factor = 2.0

    def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
        return model_input * self.factor


def _mlflow(corpus: Corpus, fitted, X) -> None:  # type: ignore[no-untyped-def]
    import sys

    import mlflow.pyfunc
    import mlflow.sklearn

    for name in ("logistic_regression", "pipeline_scaler_logreg"):
        rel = f"mlflow/sklearn_{name}"
        target = corpus.root / rel
        mlflow.sklearn.save_model(fitted[name], str(target), serialization_format="cloudpickle",
                                  pip_requirements=REQS)
        corpus.record_tree(rel, "mlflow", "mlflow.sklearn.save_model()")
    rel = "mlflow/sklearn_skops"
    mlflow.sklearn.save_model(fitted["pipeline_pca_svc"], str(corpus.root / rel), serialization_format="skops",
                              pip_requirements=REQS)
    corpus.record_tree(rel, "mlflow", "mlflow.sklearn.save_model(serialization_format='skops')")
    import mlflow.pytorch
    import torch  # noqa: TID251 - fixture generator, never part of the scanner

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    for fmt in ("pt2", "pickle"):
        rel = f"mlflow/pytorch_{fmt}"
        mlflow.pytorch.save_model(net, str(corpus.root / rel), serialization_format=fmt,
                                  input_example=np.zeros((1, 4), dtype=np.float32), pip_requirements=["torch"])
        corpus.record_tree(rel, "mlflow", f"mlflow.pytorch.save_model(serialization_format={fmt!r})")
    cls = type("Scaler", (mlflow.pyfunc.PythonModel,), {k: v for k, v in vars(_Scaler).items()
                                                         if k in ("load_context", "predict", "__doc__")})
    cls.__module__ = "__main__"
    setattr(sys.modules["__main__"], "Scaler", cls)
    rel = "mlflow/pyfunc_python_model"
    mlflow.pyfunc.save_model(str(corpus.root / rel), python_model=cls(), pip_requirements=["mlflow"])
    corpus.record_tree(rel, "mlflow", "mlflow.pyfunc.save_model(python_model=PythonModel from __main__)",
                       what="cloudpickle stores the __main__ class by value: its methods' bytecode is in the file",
                       code={"python_model.pkl": ("high", CODE_PICKLE_RULES)})
    from . import mlflow_code

    rel = "mlflow/pyfunc_code_paths"
    mlflow.pyfunc.save_model(str(corpus.root / rel), python_model=cls(), pip_requirements=["mlflow"],
                             code_paths=[mlflow_code.__file__])
    corpus.record_tree(rel, "mlflow", "mlflow.pyfunc.save_model(code_paths=[...])",
                       what="code_paths: MLflow puts code/ on sys.path and imports from it when loading",
                       code={"python_model.pkl": ("high", CODE_PICKLE_RULES),
                             "MLmodel": ("medium", ["OTH020"]),
                             "code/mlflow_code.py": ("medium", ["OTH020"])},
                       via={"code/mlflow_code.py": "MLmodel"})


def _statsmodels(corpus: Corpus) -> None:
    import pandas as pd
    import statsmodels.api as sm
    from statsmodels.tsa.arima.model import ARIMA
    from statsmodels.tsa.holtwinters import ExponentialSmoothing
    from statsmodels.tsa.statespace.sarimax import SARIMAX

    rng = np.random.default_rng(0)
    x = rng.normal(size=(30, 2))
    y = x @ [1.0, -0.5] + rng.normal(scale=0.1, size=30)
    ts = pd.Series(np.cumsum(rng.normal(size=30)) + 10.0, index=pd.date_range("2024-01-01", periods=30, freq="D"))
    results = {
        "ols": sm.OLS(y, sm.add_constant(x)).fit(),
        "wls": sm.WLS(y, sm.add_constant(x), weights=np.ones(30)).fit(),
        "glm_poisson": sm.GLM(np.abs(np.round(y)) + 1, sm.add_constant(x), family=sm.families.Poisson()).fit(),
        "logit": sm.Logit((y > 0).astype(float), sm.add_constant(x)).fit(disp=0),
        "arima": ARIMA(ts, order=(1, 0, 0)).fit(),
        "sarimax": SARIMAX(ts, order=(1, 0, 0), seasonal_order=(0, 0, 0, 0)).fit(disp=False),
        "exponential_smoothing": ExponentialSmoothing(ts, trend="add").fit(),
    }
    for name, res in results.items():
        rel = f"statsmodels/{name}.pickle"
        res.save(str(corpus.path(rel)))
        corpus.record(rel, "statsmodels", f"{type(res).__name__}.save()")
    rel = "statsmodels/ols_remove_data.pickle"
    results["ols"].save(str(corpus.path(rel)), remove_data=True)
    corpus.record(rel, "statsmodels", "OLSResults.save(remove_data=True)")


def _scipy(corpus: Corpus) -> None:
    import scipy.io
    import scipy.sparse as sp

    m = sp.random(6, 5, density=0.3, random_state=0, format="csr")
    for fmt in ("csr", "csc", "coo", "lil", "dok", "bsr"):
        rel = f"scipy/sparse_{fmt}.pkl"
        with corpus.path(rel).open("wb") as fh:
            pickle.dump(m.asformat(fmt), fh, protocol=4)
        corpus.record(rel, "scipy", f"pickle.dump(scipy.sparse.{fmt}_matrix)")
    rel = "scipy/sparse_array_csr.pkl"
    with corpus.path(rel).open("wb") as fh:
        pickle.dump(sp.csr_array(m), fh)
    corpus.record(rel, "scipy", "pickle.dump(scipy.sparse.csr_array)")
    for compressed in (True, False):
        rel = f"scipy/sparse_{'compressed' if compressed else 'plain'}.npz"
        sp.save_npz(str(corpus.path(rel)), m, compressed=compressed)
        corpus.record(rel, "scipy", f"scipy.sparse.save_npz(compressed={compressed})")
    rel = "scipy/arrays.mat"
    scipy.io.savemat(str(corpus.path(rel)), {"w": np.arange(6.0).reshape(2, 3), "name": "layer1"})
    corpus.record(rel, "scipy", "scipy.io.savemat()")


def _optuna(corpus: Corpus) -> None:
    import joblib  # noqa: TID251
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0), study_name="tiny")
    study.optimize(lambda t: (t.suggest_float("x", -2, 2) - 1) ** 2 + t.suggest_int("n", 1, 3), n_trials=4)
    rel = "optuna/study.pkl"
    joblib.dump(study, corpus.path(rel))
    corpus.record(rel, "optuna", "joblib.dump(optuna.Study) (the optuna FAQ's way to save an in-memory study)")
    rel = "optuna/tpe_sampler.pkl"
    with corpus.path(rel).open("wb") as fh:
        pickle.dump(study.sampler, fh)
    corpus.record(rel, "optuna", "pickle.dump(TPESampler) (optuna's documented way to resume sampling)")


def _crfsuite(corpus: Corpus) -> None:
    import joblib  # noqa: TID251
    import sklearn_crfsuite

    X = [[{"w": "the", "pos": "DT"}, {"w": "model", "pos": "NN"}],
         [{"w": "scan", "pos": "VB"}, {"w": "it", "pos": "PRP"}]]
    y = [["O", "B"], ["B", "O"]]
    crf = sklearn_crfsuite.CRF(algorithm="lbfgs", max_iterations=5)
    crf.fit(X, y)
    rel = "crfsuite/crf.joblib"
    joblib.dump(crf, corpus.path(rel))
    corpus.record(rel, "sklearn-crfsuite", "joblib.dump(sklearn_crfsuite.CRF)")


def make(corpus: Corpus) -> None:
    warnings.filterwarnings("ignore")
    fitted, X = _estimators()
    _sklearn(corpus, fitted, X)
    _cloudpickled_lambda(corpus, X)
    _skops(corpus, fitted)
    _skl2onnx(corpus, fitted, X)
    _mlflow(corpus, fitted, X)
    _statsmodels(corpus)
    _scipy(corpus)
    _optuna(corpus)
    _crfsuite(corpus)
