"""``mlvet scan models:/…`` and ``runs:/…`` against a real ``mlflow server`` process: the same findings as a
local scan of the artifact folder the server stores, the model version and run pinned in every result, the
1 GB safetensors artifact read by range through the artifact proxy, and every failure incomplete (exit 2) or
a usage error (exit 4), never clean."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from mlflowserver import MlflowServer
from s3server import S3Server, free_port

import mlvet
from mlvet.model import FileResult, Status
from mlvet.remote.base import CountingReader, open_source
from mlvet.remote.scan import scan_remote

SRC = Path(__file__).resolve().parents[2] / "src"


def _run(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(SRC), **env}
    return subprocess.run([sys.executable, "-m", "mlvet", "scan", *args], env=full, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _verdict(res: FileResult) -> tuple[Any, ...]:
    findings = sorted((f.rule_id, f.severity.label, f.message, f.evidence, f.location.members, f.location.offset)
                      for f in res.findings)
    return res.status, res.format, res.severity, tuple(findings), len(res.errors)


@pytest.fixture
def tracking(mlflow_server: MlflowServer, monkeypatch: pytest.MonkeyPatch) -> MlflowServer:
    """MLFLOW_TRACKING_URI pointed at the loopback server (how a user configures the client)."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_server.uri)
    return mlflow_server


def _assert_equal_to_local(remote: list[FileResult], folder: Path) -> None:
    local = {str(Path(r.path).relative_to(folder)): r for r in mlvet.scan([str(folder)]).results}
    assert sorted(r.origin.path.split("/", 1)[-1] if r.origin else "" for r in remote)  # every result has one
    names = {r.path.split("/", 3)[3]: r for r in remote}  # models:/NAME/VERSION/<path>
    assert set(names) == set(local)
    for name, res in names.items():
        assert _verdict(res) == _verdict(local[name]), name


def test_registered_model_findings_equal_a_local_scan(tracking: MlflowServer) -> None:
    remote = list(scan_remote("models:/evil/1", jobs=2).results)
    _assert_equal_to_local(remote, tracking.artifact_dir("evil"))
    evil = next(r for r in remote if r.path.endswith("/extras/evil.pkl"))
    assert evil.severity.label == "critical" and "PKL100" in {f.rule_id for f in evil.findings}


def test_origin_pins_version_and_run(tracking: MlflowServer) -> None:
    expected = tracking.models["evil"]
    for res in scan_remote("models:/evil/1").results:
        assert res.origin is not None
        assert (res.origin.kind, res.origin.locator, res.origin.revision) == ("mlflow", "models:/evil", "1")
        assert res.origin.get("run_id") == expected["run_id"]
        assert res.origin.get("tracking_uri") == tracking.uri
        assert res.origin.get("artifact_uri") == expected["download_uri"]
        assert res.path == f"models:/evil/1/{res.origin.path}"


def test_alias_resolves_to_a_pinned_version(tracking: MlflowServer) -> None:
    expected = tracking.models["clf"]
    results = scan_remote("models:/clf@champion").results
    assert results and all(r.path.startswith(f"models:/clf/{expected['version']}/") for r in results)
    for res in results:
        assert res.origin is not None and res.origin.revision == expected["version"]
        assert res.origin.get("requested_alias") == "champion"
        assert res.origin.get("model_id") == expected["model_id"]  # MLflow 3: a logged model, apart from the run
    _assert_equal_to_local(list(results), tracking.artifact_dir("clf"))


def test_big_safetensors_artifact_costs_its_header(tracking: MlflowServer) -> None:
    big = next(r for r in scan_remote("models:/evil/1").results if r.path.endswith("big.safetensors"))
    assert big.status is Status.SCANNED, big.errors
    assert big.size is not None and big.size > 1 << 30
    assert big.bytes_read is not None and 0 < big.bytes_read < 1 << 20


def test_runs_uri_of_a_folder_a_file_and_a_logged_model(tracking: MlflowServer) -> None:
    run_id = tracking.models["evil"]["run_id"]
    folder = scan_remote(f"runs:/{run_id}/model").results
    assert {r.path for r in folder} == {f"runs:/{run_id}/model/{p}" for p in
                                        (str(x.relative_to(tracking.artifact_dir("evil")))
                                         for x in tracking.artifact_dir("evil").rglob("*") if x.is_file())}
    assert all(r.origin is not None and r.origin.revision == run_id for r in folder)
    [one] = scan_remote(f"runs:/{run_id}/model/extras/evil.pkl").results
    assert one.path == f"runs:/{run_id}/model/extras/evil.pkl"
    assert "PKL100" in {f.rule_id for f in one.findings}
    clf = tracking.models["clf"]
    logged = scan_remote(f"runs:/{clf['run_id']}/model").results
    assert {r.path.rsplit("/", 1)[1] for r in logged} == {p.name for p in tracking.artifact_dir("clf").iterdir()}
    assert all(r.origin is not None and r.origin.get("model_id") == clf["model_id"] for r in logged)


def test_cli_exit_codes(mlflow_server: MlflowServer) -> None:
    env = {"MLFLOW_TRACKING_URI": mlflow_server.uri}
    found = _run(env, "models:/evil/1", "--format", "json")
    assert found.returncode == 1, found.stderr
    doc = json.loads(found.stdout)
    assert all(r["origin"]["revision"] == "1" and "bytes_read" in r for r in doc["results"])
    clean = _run(env, "models:/clf/1", "--format", "json")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    missing = _run(env, "models:/clf/99", "--format", "json")
    assert missing.returncode == 2, missing.stderr
    [res] = json.loads(missing.stdout)["results"]
    assert res["status"] == "error" and "not found" in res["errors"][0]


def test_unreachable_tracking_server_is_incomplete() -> None:
    started = time.monotonic()
    done = _run({"MLFLOW_TRACKING_URI": f"http://127.0.0.1:{free_port()}"}, "models:/clf/1", "--format", "json")
    assert done.returncode == 2, done.stderr
    assert time.monotonic() - started < 90
    [res] = json.loads(done.stdout)["results"]
    assert res["status"] == "error" and res["path"] == "models:/clf/1"


def test_without_a_tracking_uri_or_the_extra_it_is_a_usage_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    done = subprocess.run([sys.executable, "-m", "mlvet", "scan", "models:/clf/1"], capture_output=True, text=True,
                          env={**env, "PYTHONPATH": str(SRC)}, timeout=60, check=False, cwd=tmp_path)
    assert done.returncode == 4, done.stderr
    assert "MLFLOW_TRACKING_URI" in done.stderr
    assert not list(tmp_path.iterdir())  # no local store was created in the working folder
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 'mlflow':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Block())\n")
    blocked = _run({"PYTHONPATH": f"{shim}{os.pathsep}{SRC}", "MLFLOW_TRACKING_URI": "http://127.0.0.1:9"},
                   "runs:/abc/model")
    assert blocked.returncode == 4, blocked.stderr
    assert "mlvet[mlflow]" in blocked.stderr


def test_malformed_urls_are_usage_errors() -> None:
    for url in ("models:/clf", "models:/clf/latest-ish", "runs:/"):
        done = _run({"MLFLOW_TRACKING_URI": "http://127.0.0.1:9"}, url)
        assert done.returncode == 4, (url, done.stderr)


def test_bom_names_the_pinned_model_version(mlflow_server: MlflowServer, tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(SRC), "MLFLOW_TRACKING_URI": mlflow_server.uri}
    out = tmp_path / "bom.json"
    done = subprocess.run([sys.executable, "-m", "mlvet", "bom", "models:/evil/1", "-o", str(out)], env=env,
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    bom = json.loads(text)
    assert any(p.get("value") == "models:/evil/1" for p in bom["metadata"]["properties"])
    assert "extras/evil.pkl" in text and "PKL100" in text


def test_s3_artifact_store_is_read_by_range_through_fsspec(mlflow_s3_server: MlflowServer, s3_server: S3Server,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {**mlflow_s3_server.s3_env, "MLFLOW_TRACKING_URI": mlflow_s3_server.uri}.items():
        monkeypatch.setenv(key, value)
    expected = mlflow_s3_server.models["evil"]
    assert expected["download_uri"].startswith("s3://models/mlflow/")
    remote = {r.path.split("/", 3)[3]: r for r in scan_remote("models:/evil/1").results}
    folder = mlflow_s3_server.workdir / "evil-model"  # the folder the registration logged, byte for byte
    local = {str(Path(r.path).relative_to(folder)): r for r in mlvet.scan([str(folder)]).results}
    local["extras/evil.pkl"] = mlvet.scan([str(s3_server.files["evil.pkl"])]).results[0]
    assert set(remote) == set(local)
    for name, res in remote.items():
        assert _verdict(res) == _verdict(local[name]), name
        assert res.origin is not None and res.origin.get("artifact_uri") == expected["download_uri"]
        assert res.bytes_read is not None and res.size is not None and 0 < res.bytes_read <= res.size
    assert "PKL100" in {f.rule_id for f in remote["extras/evil.pkl"].findings}
    # Read by range from the bucket (a plain counting reader over s3fs), not downloaded whole first.
    source = open_source("models:/evil/1")
    source.resolve()
    listed = next(f for f in source.files() if f.name == "extras/evil.pkl")
    with source.open(listed) as reader:
        assert type(reader) is CountingReader
        assert reader.read(2) == b"\x80\x04"
    source.close()
