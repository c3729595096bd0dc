"""A real ``mlflow server`` process on loopback with registered models, for the ``models:/`` and ``runs:/`` tests.

The server runs as a subprocess (SQLite backend store and proxied artifacts in a temporary folder, a free
port on 127.0.0.1, one worker, a bounded wait for ``/health``). Models are logged through the real client
(``mlflow.sklearn.log_model`` with ``registered_model_name``), so the registry, the logged-model records and
the artifact layout are exactly what MLflow writes. A second registered model, logged the MLflow 2 way
(a saved model folder logged as run artifacts and registered from its ``runs:/`` URI), carries next to the
genuine sklearn model a malicious pickle built from opcodes (never loaded), logged with ``log_artifact``, and
a sparse "1 GB" safetensors file with a real header, written straight into the server's artifact folder.

The client calls run in a child process (``python -c``) so the test process never imports ``mlflow``'s
tracking state or its global tracking URI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from s3server import free_port, wait_http, write_big_safetensors

#: Logs and registers the models; prints one JSON line with what the tests need to know.
_REGISTER = r'''
import json, sys, warnings
warnings.filterwarnings("ignore")
import mlflow, mlflow.sklearn
import numpy as np
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

evil_path, folder = sys.argv[1], sys.argv[2]
model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
mlflow.set_experiment("mlvet")
out = {}
with mlflow.start_run() as run:
    info = mlflow.sklearn.log_model(model, name="model", registered_model_name="clf",
                                    serialization_format="pickle")
    out["clf"] = {"run_id": run.info.run_id, "model_id": info.model_id, "version": info.registered_model_version}
# The MLflow 2 way: a model folder logged as run artifacts, then registered from its runs:/ URI.
mlflow.sklearn.save_model(model, folder, serialization_format="pickle")
with mlflow.start_run() as run:
    mlflow.log_artifacts(folder, artifact_path="model")
    mlflow.log_artifact(evil_path, artifact_path="model/extras")
    version = mlflow.register_model(f"runs:/{run.info.run_id}/model", "evil")
    out["evil"] = {"run_id": run.info.run_id, "model_id": "", "version": version.version}
client = MlflowClient()
client.set_registered_model_alias("clf", "champion", out["clf"]["version"])
for name in ("clf", "evil"):
    out[name]["download_uri"] = client.get_model_version_download_uri(name, out[name]["version"])
print("RESULT " + json.dumps(out))
'''


@dataclass
class MlflowServer:
    """An ``mlflow server`` subprocess with two registered models (``clf`` v1 aliased ``champion``, ``evil`` v1)."""

    workdir: Path
    #: Artifacts in an S3 bucket (``s3://…``, read by clients directly) instead of the server's proxy.
    s3_root: str | None = None
    #: Environment for the clients of an S3 artifact store (AWS keys, endpoints).
    s3_env: dict[str, str] = field(default_factory=dict)
    uri: str = ""
    #: What registration reported: name -> run_id, model_id, version, download_uri.
    models: dict[str, dict[str, str]] = field(default_factory=dict)
    _proc: subprocess.Popen[bytes] | None = None

    def start(self, evil_file: Path) -> str:
        """Start the server, register the models, and return the tracking URI."""
        port = free_port()
        self.workdir.mkdir(parents=True, exist_ok=True)
        artifacts = self.workdir / "artifacts"
        self._log = open(self.workdir / "mlflow-server.log", "wb")
        mlflow = shutil.which("mlflow") or "mlflow"
        store = (["--default-artifact-root", self.s3_root, "--no-serve-artifacts"] if self.s3_root else
                 ["--artifacts-destination", str(artifacts), "--serve-artifacts"])
        self._proc = subprocess.Popen(
            [mlflow, "server", "--backend-store-uri", f"sqlite:///{self.workdir / 'mlflow.db'}", *store,
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
            env={**os.environ, **self.s3_env}, cwd=self.workdir, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.uri = f"http://127.0.0.1:{port}"
        wait_http(self.uri + "/health", 240, self._proc)  # bounded; generous for a loaded machine
        env = {**os.environ, **self.s3_env, "MLFLOW_TRACKING_URI": self.uri}
        done = subprocess.run([sys.executable, "-c", _REGISTER, str(evil_file),
                               str(self.workdir / "evil-model")], env=env, capture_output=True,
                              timeout=180, cwd=self.workdir, check=False)
        lines = [ln for ln in done.stdout.decode().splitlines() if ln.startswith("RESULT ")]
        if done.returncode != 0 or not lines:
            raise RuntimeError(f"model registration failed: {done.stderr.decode()[-3000:]}")
        self.models = json.loads(lines[-1][len("RESULT "):])
        if self.s3_root:
            return self.uri
        # The "1 GB" artifact is written straight into the proxied store, sparse: uploading a gigabyte of
        # zeros through the proxy would cost a minute and a real gigabyte on disk, and the store is a folder
        # the server lists and serves as it does any logged file.
        weights = self.artifact_dir("evil") / "weights"
        weights.mkdir(parents=True, exist_ok=True)
        write_big_safetensors(weights / "big.safetensors")
        return self.uri

    def artifact_dir(self, name: str) -> Path:
        """The local folder the server stores a registered model's artifacts in (for local comparison scans)."""
        uri = self.models[name]["download_uri"]
        if not uri.startswith("mlflow-artifacts:/"):
            raise AssertionError(f"unexpected artifact location {uri}")
        return self.workdir / "artifacts" / uri[len("mlflow-artifacts:/"):].lstrip("/")

    def stop(self) -> None:
        """Stop the server's process group (uvicorn/gunicorn workers included), bounded wait."""
        if self._proc is not None:
            import signal

            try:
                os.killpg(self._proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self._proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait(timeout=10)
            self._proc = None
            self._log.close()
