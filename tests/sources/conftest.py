"""Session fixtures for the remote-source tests: a moto S3 server (and a small one that enforces keys) and a
real ``mlflow server`` with registered models. Each starts once per session (per xdist worker) and stops at
its end; see ``s3server.py`` and ``mlflowserver.py`` for what they serve and why.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mlflowserver import MlflowServer
from s3server import S3Server, write_model_files


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto S3 with the versioned ``models`` bucket (any key accepted; includes the sparse 1 GB file)."""
    server = S3Server(tmp_path_factory.mktemp("s3"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto S3 that enforces IAM keys: only ``server.access_key`` is accepted (no 1 GB file)."""
    server = S3Server(tmp_path_factory.mktemp("s3auth"), auth=True, big=False)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` with ``clf`` (v1, alias ``champion``) and ``evil`` (v1, malicious artifact)."""
    files = write_model_files(tmp_path_factory.mktemp("mlflow-files"), big=False)
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    try:
        server.start(files["evil.pkl"])
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def mlflow_s3_server(s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real ``mlflow server`` whose artifact store is the moto bucket (clients read S3 directly)."""
    env = {**s3_server.env(), "MLFLOW_S3_ENDPOINT_URL": s3_server.endpoint}
    server = MlflowServer(tmp_path_factory.mktemp("mlflow-s3"), s3_root="s3://models/mlflow", s3_env=env)
    try:
        server.start(s3_server.files["evil.pkl"])
        yield server
    finally:
        server.stop()
