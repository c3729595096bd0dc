"""``mlvet scan s3://…`` against moto in server mode, through s3fs: the same findings as a local scan of the
same files, every object pinned to its version id, a 1 GB safetensors object costing its header, and every
failure (missing object, refused key, unreachable endpoint, missing extra) incomplete or a usage error, never
clean."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from s3server import BUCKET, PREFIX, S3Server, free_port

import mlvet
from mlvet.model import FileResult, Status
from mlvet.policy import default_policy
from mlvet.remote.base import open_source
from mlvet.remote.fsspec_source import _sha256_from_checksum
from mlvet.remote.scan import remote_result, scan_remote

SRC = Path(__file__).resolve().parents[2] / "src"


def _run(env: dict[str, str], *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "PYTHONPATH": str(SRC), **env}
    return subprocess.run([sys.executable, "-m", "mlvet", "scan", *args], env=full, capture_output=True,
                          text=True, timeout=timeout, check=False)


def _verdict(res: FileResult) -> tuple[Any, ...]:
    """What must not depend on where the bytes came from."""
    findings = sorted((f.rule_id, f.severity.label, f.message, f.evidence, f.location.members, f.location.offset)
                      for f in res.findings)
    return res.status, res.format, res.severity, tuple(findings), len(res.errors)


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The standard AWS environment variables pointed at the loopback server (as a user would set them)."""
    for key, value in s3_server.env().items():
        monkeypatch.setenv(key, value)
    return s3_server


def test_findings_equal_a_local_scan(s3_env: S3Server) -> None:
    remote = scan_remote(f"s3://{BUCKET}/{PREFIX}", jobs=2)
    local = mlvet.scan([str(p) for p in s3_env.files.values()])
    by_name = {Path(r.path).name: r for r in local.results}
    assert sorted(r.origin.path for r in remote.results if r.origin) == sorted(PREFIX + n for n in s3_env.files)
    for res in remote.results:
        assert res.origin is not None
        name = res.origin.path[len(PREFIX):]
        assert _verdict(res) == _verdict(by_name[name]), name
        assert res.size == s3_env.files[name].stat().st_size
    evil = next(r for r in remote.results if r.path.split("?")[0].endswith("/evil.pkl"))
    assert evil.severity.label == "critical" and "PKL100" in {f.rule_id for f in evil.findings}
    assert evil.sha256 == hashlib.sha256(s3_env.files["evil.pkl"].read_bytes()).hexdigest()


def test_origin_pins_the_version_id(s3_env: S3Server) -> None:
    remote = scan_remote(f"s3://{BUCKET}/{PREFIX}")
    for res in remote.results:
        assert res.origin is not None
        assert res.origin.kind == "s3" and res.origin.locator == f"s3://{BUCKET}"
        assert res.origin.revision == s3_env.versions[res.origin.path]
        assert res.path == f"s3://{BUCKET}/{res.origin.path}?versionId={res.origin.revision}"
        assert res.origin.get("endpoint") == s3_env.endpoint


def test_an_object_overwritten_mid_scan_is_still_the_pinned_version(s3_env: S3Server, tmp_path: Path) -> None:
    key = "pinned/model.pkl"
    first = s3_env.upload(key, s3_env.files["evil.pkl"])
    source = open_source(f"s3://{BUCKET}/{key}")
    source.resolve()
    [listed] = list(source.files())
    benign = tmp_path / "benign.joblib"
    benign.write_bytes(s3_env.files["sklearn.joblib"].read_bytes())
    second = s3_env.upload(key, benign)
    assert second != first
    res = remote_result(source, listed, default_policy())
    source.close()
    assert listed.origin.revision == first
    assert "PKL100" in {f.rule_id for f in res.findings}
    # The old version stays addressable by the pinned URL; the plain URL now means the new one.
    assert "PKL100" in {f.rule_id for f in scan_remote(res.path).results[0].findings}
    latest = scan_remote(f"s3://{BUCKET}/{key}").results[0]
    assert latest.origin is not None and latest.origin.revision == second
    assert latest.severity.label not in ("high", "critical")


def test_big_safetensors_costs_its_header(s3_env: S3Server) -> None:
    [res] = scan_remote(f"s3://{BUCKET}/{PREFIX}big.safetensors").results
    assert res.status is Status.SCANNED, res.errors
    assert res.format == "safetensors"
    assert res.size is not None and res.size > 1 << 30
    assert res.bytes_read is not None and 0 < res.bytes_read < 1 << 20
    assert res.sha256 is None  # no SHA-256 from the store, and the file was not read whole


def test_full_object_sha256_checksum_is_the_content_key(s3_env: S3Server) -> None:
    s3 = s3_env.client()
    body = s3_env.files["small.safetensors"].read_bytes()
    s3.put_object(Bucket=BUCKET, Key="checked/small.safetensors", Body=body, ChecksumAlgorithm="SHA256")
    head = s3.head_object(Bucket=BUCKET, Key="checked/small.safetensors", ChecksumMode="ENABLED")
    assert _sha256_from_checksum(head) == hashlib.sha256(body).hexdigest()
    assert _sha256_from_checksum({**head, "ChecksumType": "COMPOSITE"}) is None
    md5_like = base64.b64encode(hashlib.md5(body).digest()).decode()
    assert _sha256_from_checksum({"ChecksumSHA256": md5_like}) is None
    [res] = scan_remote(f"s3://{BUCKET}/checked/small.safetensors").results
    assert res.sha256 == hashlib.sha256(body).hexdigest()


def test_cli_json_carries_origin_and_bytes_read(s3_server: S3Server) -> None:
    done = _run(s3_server.env(), f"s3://{BUCKET}/{PREFIX}", "--format", "json")
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    by_path = {r["origin"]["path"]: r for r in doc["results"]}
    assert set(by_path) == {PREFIX + n for n in s3_server.files}
    big = by_path[PREFIX + "big.safetensors"]
    assert big["origin"]["revision"] == s3_server.versions[PREFIX + "big.safetensors"]
    assert 0 < big["bytes_read"] < 1 << 20
    assert by_path[PREFIX + "evil.pkl"]["severity"] == "critical"


def test_missing_object_is_incomplete(s3_server: S3Server) -> None:
    done = _run(s3_server.env(), f"s3://{BUCKET}/{PREFIX}no-such-model.pkl", "--format", "json")
    assert done.returncode == 2, done.stderr
    [res] = json.loads(done.stdout)["results"]
    assert res["status"] == "error" and "no such object" in res["errors"][0]


def test_wrong_key_is_incomplete_and_the_right_key_reads(s3_auth_server: S3Server) -> None:
    url = f"s3://{BUCKET}/{PREFIX}evil.pkl"
    wrong = {**s3_auth_server.env(), "AWS_ACCESS_KEY_ID": "AKIAWRONGWRONGWRONG", "AWS_SECRET_ACCESS_KEY": "nope"}
    done = _run(wrong, url, "--format", "json")
    assert done.returncode == 2, done.stderr
    [res] = json.loads(done.stdout)["results"]
    assert res["status"] == "error" and "access denied" in res["errors"][0]
    control = _run(s3_auth_server.env(), url, "--format", "json")
    assert control.returncode == 1, control.stderr


def test_unreachable_endpoint_is_incomplete(s3_server: S3Server) -> None:
    env = {**s3_server.env(), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}"}
    started = time.monotonic()
    done = _run(env, f"s3://{BUCKET}/{PREFIX}", "--format", "json")
    assert done.returncode == 2, done.stderr
    assert time.monotonic() - started < 90
    [res] = json.loads(done.stdout)["results"]
    assert res["status"] == "error" and res["path"] == f"s3://{BUCKET}/{PREFIX}"


def test_missing_extra_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(
        "import sys\n"
        "class _Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] == 's3fs':\n"
        "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
        "        return None\n"
        "sys.meta_path.insert(0, _Block())\n")
    done = _run({"PYTHONPATH": f"{shim}{os.pathsep}{SRC}"}, f"s3://{BUCKET}/{PREFIX}")
    assert done.returncode == 4, done.stderr
    assert "mlvet[s3]" in done.stderr


def test_inventory_records_every_object_pinned(s3_server: S3Server, tmp_path: Path) -> None:
    env = {**s3_server.env(), "PYTHONPATH": str(SRC)}
    done = subprocess.run([sys.executable, "-m", "mlvet", "inventory", f"s3://{BUCKET}/{PREFIX}", "--db",
                           f"sqlite:///{tmp_path / 'inv.db'}", "--format", "json"], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, done.stderr
    [asset] = json.loads(done.stdout)["assets"]
    assert asset["verdict"] == "critical" and asset["incomplete"] is False
    assert asset["metadata"]["extra"]["origin_kind"] == "s3"
    paths = {f["rel"]: f["path"] for f in asset["files"]}
    assert set(paths) == {PREFIX + n for n in s3_server.files}
    for rel, path in paths.items():
        assert path == f"s3://{BUCKET}/{rel}?versionId={s3_server.versions[rel]}"
