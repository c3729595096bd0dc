"""The loopback servers themselves behave like the real services the remote sources talk to."""

from __future__ import annotations

import urllib.request

import pytest
from botocore.exceptions import ClientError
from mlflowserver import MlflowServer
from s3server import BUCKET, PREFIX, S3Server


def test_s3_server_versions_and_ranges(s3_server: S3Server) -> None:
    s3 = s3_server.client()
    head = s3.head_object(Bucket=BUCKET, Key=PREFIX + "big.safetensors")
    assert head["ContentLength"] > 1 << 30
    assert head["VersionId"] == s3_server.versions[PREFIX + "big.safetensors"]
    got = s3.get_object(Bucket=BUCKET, Key=PREFIX + "big.safetensors", Range="bytes=0-7")
    assert got["ContentRange"].startswith("bytes 0-7/")
    assert got["Body"].read() == s3_server.files["big.safetensors"].read_bytes()[:8]


def test_s3_auth_server_refuses_a_wrong_key(s3_auth_server: S3Server) -> None:
    key = PREFIX + "evil.pkl"
    assert s3_auth_server.client().get_object(Bucket=BUCKET, Key=key)["Body"].read()[:2] == b"\x80\x04"
    with pytest.raises(ClientError) as info:
        s3_auth_server.client("AKIAWRONGWRONGWRONG", "wrong").get_object(Bucket=BUCKET, Key=key)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_mlflow_server_serves_registered_artifacts_by_range(mlflow_server: MlflowServer) -> None:
    uri = mlflow_server.models["evil"]["download_uri"]
    url = mlflow_server.uri + "/api/2.0/mlflow-artifacts/artifacts/" + uri.removeprefix("mlflow-artifacts:/")
    request = urllib.request.Request(url + "/extras/evil.pkl", headers={"Range": "bytes=0-1"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 206
        assert response.read() == b"\x80\x04"
    assert (mlflow_server.artifact_dir("evil") / "weights" / "big.safetensors").stat().st_size > 1 << 30
