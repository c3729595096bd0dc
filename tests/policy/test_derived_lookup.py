"""The read side of the shipped facts: lazy, quick on first use, complete over the pins, small on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import mlvet.policy.derived as derived
from mlvet.policy.derive.sources import read_pins

SRC = Path(derived.__file__).resolve().parents[2]


def test_libraries_are_the_pins_plus_the_stdlib() -> None:
    libs = derived.libraries()
    assert {k: v for k, v in libs.items() if k != "stdlib"} == {p.library: p.version for p in read_pins()}
    assert libs["stdlib"].count(".") == 2
    for name in ("torch", "numpy", "scipy", "scikit-learn", "pandas", "transformers", "accelerate", "peft",
                 "diffusers", "sentence-transformers", "timm", "statsmodels", "xgboost", "lightgbm", "catboost",
                 "ultralytics"):
        assert name in libs


def test_shipped_file_is_small() -> None:
    size = len(resources.files("mlvet.policy").joinpath("derived.json").read_bytes())
    assert size < 3_000_000, size


def test_first_lookup_is_quick_and_nothing_loads_before_it() -> None:
    # CPU time of the first lookup (read + index the file + decode one module), in a fresh interpreter; CPU
    # rather than wall time so that a busy CI machine does not make it flaky.
    code = (
        "import time, mlvet.policy.derived as d\n"
        "assert d._table.cache_info().currsize == 0\n"
        "t = time.process_time(); f = d.lookup('torch.fx.graph_module', 'reduce_graph_module')\n"
        "print(time.process_time() - t, f is not None)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    best = min(
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                             check=True).stdout.split()[0])
        for _ in range(3)
    )
    assert best < 0.1, f"first lookup took {best * 1000:.0f} ms"


def test_lookup_reports_the_library_and_kind() -> None:
    facts = derived.lookup("torch.fx.graph_module", "reduce_graph_module")
    assert facts is not None and facts.library == "torch" and facts.kind == "function"
    facts = derived.lookup("sklearn.linear_model._logistic", "LogisticRegression")
    assert facts is not None and facts.library == "scikit-learn" and facts.kind == "class"
    assert derived.lookup("sklearn.linear_model._logistic", "NoSuchName") is None
    assert derived.lookup("no.such.module", "X") is None


def test_unreadable_or_foreign_file_means_no_facts(tmp_path: Path) -> None:
    assert derived._Table(json.loads('{"schema": 99, "modules": {"os": {"f": "system"}}}')).get("os", "system") is None
    assert derived._Table({}).get("os", "system") is None
