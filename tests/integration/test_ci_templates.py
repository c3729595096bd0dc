"""The GitHub Action and the GitLab CI template, run locally with their own shell steps.

The action's ``run:`` steps are executed in order with bash, with the ``${{ inputs.* }}`` /
``${{ steps.scan.outputs.* }}`` expressions of their ``env:`` resolved the way the runner would and the
``GITHUB_*`` files pointing at temporary files; the ``uses:`` upload step is only checked for shape (it
needs GitHub). The SARIF written is validated against the official SARIF 2.1.0 schema (the same pinned
schema as tests/unit/test_report_sarif.py). The GitLab template's ``script:`` lines run the same way.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
_EXPR = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


class _Evil:
    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, ("echo pwned",))


def _official_schema() -> dict[str, Any]:
    spec = importlib.util.spec_from_file_location("_sarif_tests", REPO / "tests" / "unit" / "test_report_sarif.py")
    assert spec is not None and spec.loader is not None
    unit_dir = str(REPO / "tests" / "unit")
    sys.path.insert(0, unit_dir)  # it imports its sibling test_report_common
    try:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(unit_dir)
    schema: dict[str, Any] = module._load_official_schema()
    return schema


def _base_env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_", "MLVET_"))}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MLVET_PYTHON"] = sys.executable
    return env


def _run_action(work: Path, inputs: dict[str, str]) -> tuple[list[int], dict[str, str], str]:
    """Run the action's shell steps; returns (exit codes of the run steps, outputs, job summary)."""
    action = yaml.safe_load((REPO / "action.yml").read_text())
    values = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()}
    values.update(inputs)
    out_file, summary = work / "github_output", work / "step_summary"
    out_file.touch()
    summary.touch()
    outputs: dict[str, str] = {}
    codes = []
    for step in action["runs"]["steps"]:
        if "run" not in step:
            continue

        def resolve(match: re.Match[str]) -> str:
            expr = match.group(1)
            if expr.startswith("inputs."):
                return values[expr[len("inputs."):]]
            if expr.startswith("steps.scan.outputs."):
                return outputs.get(expr[len("steps.scan.outputs."):], "")
            raise AssertionError(f"unexpected expression {expr}")

        env = _base_env(work)
        env.update({k: _EXPR.sub(resolve, str(v)) for k, v in step.get("env", {}).items()})
        env.update({"GITHUB_ACTION_PATH": str(REPO), "GITHUB_OUTPUT": str(out_file),
                    "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_WORKSPACE": str(work)})
        if step["name"] == "Install mlvet":
            # Exercise the real install script without touching this interpreter: pip resolves and builds
            # mlvet from the action's checkout but installs nothing.
            env["MLVET_PIP_ARGS"] = "--dry-run --no-deps --no-index --no-build-isolation"
        proc = subprocess.run(["bash", "-c", step["run"]], cwd=work, env=env, capture_output=True, text=True,
                              check=False, timeout=600)
        codes.append(proc.returncode)
        for line in out_file.read_text().splitlines():
            key, _, value = line.partition("=")
            outputs[key] = value
    return codes, outputs, summary.read_text()


def test_action_shape() -> None:
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    steps = action["runs"]["steps"]
    upload = [s for s in steps if "uses" in s]
    assert len(upload) == 1 and upload[0]["uses"].startswith("github/codeql-action/upload-sarif@")
    assert "always()" in upload[0]["if"]
    for step in steps:
        if "run" in step:
            assert "${{" not in step["run"], "inputs must reach scripts through env, never interpolated"
            script = re.search(r"scripts/action/[\w.]+", step["run"])
            assert script and (REPO / script.group(0)).is_file()
    assert {"paths", "fail-on", "sarif-file", "upload-sarif"} <= set(action["inputs"])


@pytest.fixture
def work(tmp_path: Path) -> Path:
    joblib = pytest.importorskip("joblib")
    (tmp_path / "models").mkdir()
    joblib.dump({"coef": [0.5, 1.5]}, tmp_path / "models" / "clf.joblib")
    (tmp_path / "README.md").write_text("# repo\n")
    return tmp_path


def test_action_passes_on_benign_models(work: Path) -> None:
    codes, outputs, summary = _run_action(work, {"paths": "models README.md"})
    assert codes == [0, 0, 0], codes
    assert outputs["exit-code"] == "0"
    assert "✅" in summary and "2 files scanned, 0 findings" in summary
    doc = json.loads((work / "mlvet.sarif").read_text())
    jsonschema.validate(doc, _official_schema())


def test_action_fails_on_a_malicious_model_and_reports_it(work: Path) -> None:
    hostile = "weights|<b>x<i>.png"
    (work / "models" / hostile).write_bytes(pickle.dumps(_Evil(), protocol=4))
    codes, outputs, summary = _run_action(work, {"paths": "models\nREADME.md\n", "sarif-file": "out/report.sarif"})
    assert codes[:2] == [0, 0] and codes[2] == 1, codes  # scan step never fails; the last one does
    assert outputs["exit-code"] == "1"
    assert "| critical | PKL100 |" in summary
    assert "weights\\|&lt;b&gt;x&lt;i&gt;.png" in summary and "<b>" not in summary
    doc = json.loads((work / "out" / "report.sarif").read_text())
    jsonschema.validate(doc, _official_schema())
    assert any(r["ruleId"] == "PKL100" for r in doc["runs"][0]["results"])


def test_action_fail_on_threshold_and_incomplete_files(work: Path) -> None:
    (work / "models" / "blob.bin").write_bytes(bytes(range(256)) * 8)  # unrecognised binary: incomplete
    codes, outputs, summary = _run_action(work, {"paths": "models"})
    assert outputs["exit-code"] == "2" and codes[-1] == 2
    assert "Not fully analysed" in summary
    codes, _, _ = _run_action(work, {"paths": "models", "fail-on-incomplete": "false"})
    assert codes[-1] == 0


def test_gitlab_template_writes_sarif_and_code_quality(work: Path) -> None:
    (work / "models" / "evil.pkl").write_bytes(pickle.dumps(_Evil(), protocol=4))
    template = yaml.safe_load((REPO / "ci" / "gitlab" / "mlvet.gitlab-ci.yml").read_text())
    job = template[".mlvet-scan"]
    assert job["artifacts"]["reports"]["codequality"] == "gl-code-quality-report.json"
    env = _base_env(work)
    env.update({k: str(v) for k, v in job["variables"].items()})
    env.update({"MLVET_PATHS": "models", "MLVET_SPEC": "", "MLVET_PYTHON": sys.executable})
    script = "set -eo pipefail\n" + "\n".join(job["script"])
    proc = subprocess.run(["bash", "-c", script], cwd=work, env=env, capture_output=True, text=True, check=False,
                          timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    jsonschema.validate(json.loads((work / "gl-mlvet.sarif").read_text()), _official_schema())
    issues = json.loads((work / "gl-code-quality-report.json").read_text())
    assert any(i["check_name"] == "PKL100" and i["severity"] == "blocker" and i["location"]["path"].endswith("evil.pkl")
               for i in issues)
    assert all({"description", "check_name", "fingerprint", "severity", "location"} <= set(i) for i in issues)
    assert "PKL100" in proc.stdout
