"""Data pickled by the general-purpose picklers (dill, cloudpickle, the stdlib), pandas ``to_pickle`` with
every compression, and NumPy's own ``.npy``/``.npz`` writers.

Data-only dill/cloudpickle files must scan clean even though dill routes NumPy arrays through its own
helpers. The gray set: functions, lambdas and classes pickled by value (their bytecode is in the file).
"""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import fractions
import functools
import operator
import pickle
import uuid
import warnings

import numpy as np

from ._common import Corpus

FOLDERS = ("dill", "cloudpickle", "pandas", "numpy", "stdlib")

CODE_PICKLE_RULES = ["PKL100", "PKL101", "PKL102", "PKL110", "PKL204"]

Point = collections.namedtuple("Point", "x y")


def _data_values() -> dict[str, object]:
    rng = np.random.default_rng(0)
    return {
        "dict_of_arrays": {"w": rng.normal(size=(3, 4)).astype(np.float32), "b": np.zeros(4), "step": 10},
        "structured_array": np.array([(1, 2.0, b"ab")], dtype=[("i", "i4"), ("f", "f8"), ("s", "S2")]),
        "masked_array": np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0]),
        "numpy_scalars": [np.float32(1.5), np.int64(7), np.bool_(True), np.datetime64("2024-01-01")],
        "stdlib_values": {"when": dt.datetime(2024, 1, 2, 3, 4, 5), "d": decimal.Decimal("1.10"),
                          "f": fractions.Fraction(1, 3), "od": collections.OrderedDict(a=1),
                          "dd": collections.defaultdict(list, {"k": [1]}), "s": {1, 2}, "fs": frozenset({3}),
                          "c": complex(1, 2), "b": bytearray(b"xy"), "u": uuid.UUID(int=1)},
        "nested_lists": [[1, 2, [3, 4]], ("t", None, True), b"bytes", "text" * 3],
    }


def _frames():  # type: ignore[no-untyped-def]
    import pandas as pd

    idx = pd.date_range("2024-01-01", periods=5, freq="h", tz="UTC")
    return {
        "numeric": pd.DataFrame({"a": np.arange(5), "b": np.linspace(0, 1, 5)}),
        "mixed": pd.DataFrame({"t": idx, "cat": pd.Categorical(list("abcab")), "s": list("vwxyz"),
                               "n": pd.array([1, None, 3, 4, 5], dtype="Int64"), "f": [0.5] * 5}),
        "multiindex": pd.DataFrame({"v": range(4)}, index=pd.MultiIndex.from_product([["x", "y"], [1, 2]])),
        "series_period": pd.Series(range(3), index=pd.period_range("2024-01", periods=3, freq="M")),
        "sparse_interval": pd.DataFrame({"sp": pd.arrays.SparseArray([0, 0, 1.0]),
                                         "iv": pd.IntervalIndex.from_breaks([0, 1, 2, 3])}),
    }


def _dill(corpus: Corpus) -> None:
    import dill  # noqa: TID251

    values = _data_values()
    values["namedtuple"] = Point(1, 2)
    for name, value in values.items():
        rel = f"dill/data/{name}.dill"
        corpus.path(rel).write_bytes(dill.dumps(value))
        corpus.record(rel, "dill", "dill.dumps(data)")
    frames = _frames()
    rel = "dill/data/dataframe.dill"
    corpus.path(rel).write_bytes(dill.dumps(frames["mixed"]))
    corpus.record(rel, "dill", "dill.dumps(pandas.DataFrame)")
    rel = "dill/data/dict_of_arrays_recurse.dill"
    corpus.path(rel).write_bytes(dill.dumps(values["dict_of_arrays"], recurse=True, byref=True))
    corpus.record(rel, "dill", "dill.dumps(data, recurse=True, byref=True)")
    # Code by value: a lambda, a closure, a function, and an instance of a class defined in __main__.
    scale = 3.0
    code = {
        "lambda": lambda v: v * 2,
        "closure": _make_closure(scale),
        "function_with_defaults": _make_function(),
        "main_class_instance": _main_instance("Normaliser"),
    }
    for name, fn in code.items():
        rel = f"dill/code/{name}.dill"
        corpus.path(rel).write_bytes(dill.dumps(fn))
        corpus.record(rel, "dill", "dill.dumps(function)", kind="code", what="function bytecode rebuilt at load",
                      min_severity="high", code_rules=CODE_PICKLE_RULES)


def _main_instance(name: str) -> object:
    """An instance of a class defined in ``__main__`` (notebook style): dill and cloudpickle store the class
    by value, methods' bytecode included."""
    import sys

    cls = type(name, (), {"__module__": "__main__", "offset": 1.0, "__call__": lambda self, v: v + self.offset})
    setattr(sys.modules["__main__"], name, cls)
    return cls()


def _make_closure(k: float):  # type: ignore[no-untyped-def]
    return lambda v: v * k


def _make_function():  # type: ignore[no-untyped-def]
    def normalise(v, mean=0.0, std=1.0):  # type: ignore[no-untyped-def]
        return (v - mean) / std

    return normalise


def _cloudpickle(corpus: Corpus) -> None:

    import cloudpickle  # noqa: TID251

    for name, value in _data_values().items():
        rel = f"cloudpickle/data/{name}.pkl"
        corpus.path(rel).write_bytes(cloudpickle.dumps(value))
        corpus.record(rel, "cloudpickle", "cloudpickle.dumps(data)")
    rel = "cloudpickle/data/dataframe.pkl"
    corpus.path(rel).write_bytes(cloudpickle.dumps(_frames()["numeric"]))
    corpus.record(rel, "cloudpickle", "cloudpickle.dumps(pandas.DataFrame)")
    rel = "cloudpickle/data/numpy_ufunc_reference.pkl"
    corpus.path(rel).write_bytes(cloudpickle.dumps({"activation": np.tanh, "reduce": np.add.reduce}))
    corpus.record(rel, "cloudpickle", "cloudpickle.dumps(numpy functions by reference)")
    code = {"lambda": lambda v: v ** 2, "function": _make_function(),
            "main_class_instance": _main_instance("Featurizer")}
    for name, value in code.items():
        rel = f"cloudpickle/code/{name}.pkl"
        corpus.path(rel).write_bytes(cloudpickle.dumps(value))
        corpus.record(rel, "cloudpickle", "cloudpickle.dumps(function or __main__ class)", kind="code",
                      what="function bytecode rebuilt at load", min_severity="high", code_rules=CODE_PICKLE_RULES)


def _pandas(corpus: Corpus) -> None:
    for name, frame in _frames().items():
        rel = f"pandas/{name}.pkl"
        frame.to_pickle(corpus.path(rel))
        corpus.record(rel, "pandas", "DataFrame.to_pickle()")
    mixed = _frames()["mixed"]
    for comp in ("gzip", "bz2", "xz", "zip", "zstd", "tar"):
        ext = {"gzip": "gz", "tar": "tar.gz"}.get(comp, comp)
        rel = f"pandas/compressed/mixed.pkl.{ext}"
        try:
            mixed.to_pickle(corpus.path(rel), compression=comp)
        except ImportError:
            corpus.path(rel).unlink(missing_ok=True)
            continue
        corpus.record(rel, "pandas", f"DataFrame.to_pickle(compression={comp!r})")
    rel = "pandas/protocol2.pkl"
    _frames()["numeric"].to_pickle(corpus.path(rel), protocol=2)
    corpus.record(rel, "pandas", "DataFrame.to_pickle(protocol=2)")


def _numpy(corpus: Corpus) -> None:
    values = _data_values()
    arrays = {
        "float32_matrix": values["dict_of_arrays"]["w"],  # type: ignore[index]
        "int64_range": np.arange(10),
        "fortran_order": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "structured": values["structured_array"],
        "unicode": np.array(["a", "bc"]),
        "complex128": np.array([1 + 2j]),
        "float16_3d": np.ones((2, 2, 2), dtype=np.float16),
        "datetime64": np.array(["2024-01-01"], dtype="datetime64[D]"),
    }
    for name, arr in arrays.items():
        rel = f"numpy/{name}.npy"
        np.save(corpus.path(rel), arr)
        corpus.record(rel, "numpy", "numpy.save()")
    rel = "numpy/object_array_of_strings.npy"
    np.save(corpus.path(rel), np.array(["x", 1, None], dtype=object), allow_pickle=True)
    corpus.record(rel, "numpy", "numpy.save(object array, allow_pickle=True)")
    rel = "numpy/weights.npz"
    np.savez(corpus.path(rel), **{k: v for k, v in arrays.items() if k != "structured"})
    corpus.record(rel, "numpy", "numpy.savez()")
    rel = "numpy/weights_compressed.npz"
    np.savez_compressed(corpus.path(rel), a=arrays["int64_range"], b=arrays["float32_matrix"])
    corpus.record(rel, "numpy", "numpy.savez_compressed()")
    rel = "numpy/pickled_array.pkl"
    with corpus.path(rel).open("wb") as fh:
        pickle.dump(arrays["float32_matrix"], fh, protocol=5)
    corpus.record(rel, "numpy", "pickle.dump(numpy.ndarray, protocol=5)")
    rel = "numpy/ndarray_dump.pkl"
    arrays["int64_range"].dump(corpus.path(rel))
    corpus.record(rel, "numpy", "numpy.ndarray.dump()")


def _stdlib(corpus: Corpus) -> None:
    values = _data_values()
    for proto in range(pickle.HIGHEST_PROTOCOL + 1):
        rel = f"stdlib/stdlib_values.p{proto}.pkl"
        with corpus.path(rel).open("wb") as fh:
            pickle.dump(values["stdlib_values"], fh, protocol=proto)
        corpus.record(rel, "python", f"pickle.dump(stdlib values, protocol={proto})")
    # Stdlib callables kept in configs by reference (sort keys, partials): the pickle names them, calls none.
    refs = {"sort_key": operator.itemgetter("score"), "field": operator.attrgetter("name"),
            "add_one": functools.partial(operator.add, 1), "reducer": functools.reduce, "ops": [operator.getitem, max]}
    rel = "stdlib/callable_references.pkl"
    with corpus.path(rel).open("wb") as fh:
        pickle.dump(refs, fh, protocol=4)
    corpus.record(rel, "python", "pickle.dump(operator/functools callables by reference)")


def make(corpus: Corpus) -> None:
    warnings.filterwarnings("ignore")
    _dill(corpus)
    _cloudpickle(corpus)
    _pandas(corpus)
    _numpy(corpus)
    _stdlib(corpus)
