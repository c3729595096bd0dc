#!/usr/bin/env python3
"""Regenerate the benign PMML fixtures under ``tests/assets/pmml/`` with a real exporter (nyoka).

Why: mlvet's PMML/XML handler must report nothing on what PMML exporters write (no DTD, no entities, no
XInclude). nyoka is a pure-Python sklearn → PMML exporter; sklearn2pmml would need a Java runtime.
Nothing here loads a file. Run::

    pip install nyoka lxml scikit-learn pandas
    python3 tests/assets/make_pmml.py
"""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import nyoka
import pandas as pd
from nyoka import skl_to_pmml
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

warnings.filterwarnings("ignore")
OUT = Path(__file__).resolve().parent / "pmml"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    X = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], "b": [1.0, 0.0, 1.0, 0.0, 1.0, 0.0]})
    reg = Pipeline([("scale", StandardScaler()), ("lr", LinearRegression())]).fit(X, [0.0, 1, 2, 3, 4, 5])
    clf = Pipeline([("tree", DecisionTreeClassifier(max_depth=2, random_state=0))]).fit(X, [0, 0, 0, 1, 1, 1])
    for name, pipe in (("linear_regression.pmml", reg), ("decision_tree.pmml", clf)):
        path = OUT / name
        skl_to_pmml(pipe, ["a", "b"], "y", str(path))
        # Drop the export timestamp so regenerating gives byte-identical files.
        path.write_text(re.sub(r"<Timestamp>.*?</Timestamp>", "<Timestamp/>", path.read_text()))
    manifest = {"generator": {"nyoka": nyoka.__version__}, "files": sorted(p.name for p in OUT.glob("*.pmml"))}
    (OUT / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
