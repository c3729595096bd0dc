"""A real S3 endpoint on loopback for the remote-source tests: ``moto`` in server mode, as a subprocess.

Why a subprocess: moto reads ``INITIAL_NO_AUTH_ACTION_COUNT`` when it is imported, and the tests need
authentication *enforced* (a wrong key must be refused with 403, as AWS does). The server lets exactly the
first three requests through unauthenticated: the IAM calls that create a user, give it a policy and make
its access key. From then on only that key works. Every later call (bucket, uploads, the scans) is signed
with it, through the real clients (boto3 here, s3fs/aiobotocore in mlvet).

moto 5.2 in server mode computes the signature of a query whose values need percent-encoding (``prefix=team%2F``)
over the still-encoded value, so with authentication enforced it refuses every listing under a prefix. The
tests therefore run two servers: the main one (``auth=False``: any key is accepted, as moto does by default)
for listings and scans, and a small one with authentication enforced (``auth=True``) for the wrong-key case
and its control (the right key reads the same object; no query that needs encoding is involved).

The bucket (versioning on) holds files made by the real libraries: a joblib-dumped scikit-learn model, a
small safetensors file, a sparse "1 GB" safetensors file whose header is real, and a malicious pickle built
from opcodes (``tests/corpus/build_malicious.py``: never loaded). The same files stay on disk in
``local_dir`` so tests can compare a remote scan with a local scan of identical bytes.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

BUCKET = "models"
PREFIX = "team/"
#: Size of the sparse safetensors file's single tensor (F32 elements): 1 GiB of data.
BIG_ELEMENTS = (1 << 30) // 4


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``url`` until it answers (any HTTP status) or ``timeout`` seconds pass (bounded loop)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return
        except OSError as exc:
            last = exc
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s: {last}")


def write_big_safetensors(path: Path) -> None:
    """A safetensors file declaring one 1 GiB F32 tensor, its data left as a hole (sparse on disk)."""
    header = json.dumps({"__metadata__": {"format": "pt"},
                         "weight": {"dtype": "F32", "shape": [BIG_ELEMENTS], "data_offsets": [0, BIG_ELEMENTS * 4]}},
                        separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(header)) + header)
        f.truncate(8 + len(header) + BIG_ELEMENTS * 4)


def write_model_files(folder: Path, *, big: bool = True) -> dict[str, Path]:
    """The corpus served by the S3 (and MLflow) tests, written by the real libraries; name -> local file."""
    import joblib  # noqa: TID251 - test-only: the real producer of the fixture, never loads anything
    import numpy as np
    from safetensors.numpy import save_file
    from sklearn.linear_model import LogisticRegression

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "corpus"))
    import build_malicious

    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "sklearn.joblib": folder / "sklearn.joblib",
        "small.safetensors": folder / "small.safetensors",
        "big.safetensors": folder / "big.safetensors",
        "evil.pkl": folder / "evil.pkl",
    }
    model = LogisticRegression().fit(np.array([[0.0], [1.0], [2.0], [3.0]]), [0, 0, 1, 1])
    joblib.dump(model, files["sklearn.joblib"])
    save_file({"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.ones(5, dtype=np.int64)},
              str(files["small.safetensors"]))
    if big:
        write_big_safetensors(files["big.safetensors"])
    else:
        del files["big.safetensors"]
    files["evil.pkl"].write_bytes(build_malicious.sh_pickle())
    return files


@dataclass
class S3Server:
    """A moto S3/IAM server subprocess with one authorised user and a versioned bucket of model files."""

    workdir: Path
    #: Enforce IAM authentication (see the module docstring).
    auth: bool = False
    #: Write and upload the sparse 1 GB file (about 20 s of upload into moto); off for the small servers.
    big: bool = True
    endpoint: str = ""
    access_key: str = ""
    secret_key: str = ""
    #: key -> version id of the object as uploaded.
    versions: dict[str, str] = field(default_factory=dict)
    files: dict[str, Path] = field(default_factory=dict)
    _proc: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        """Start the server, create the user, bucket and objects; return the endpoint URL."""
        port = free_port()
        env = {**os.environ, "MOTO_ALLOW_NONEXISTENT_REGION": "true"}
        env.pop("INITIAL_NO_AUTH_ACTION_COUNT", None)
        if self.auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"
        self._log = open(self.workdir / "moto.log", "wb")
        self._proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                      env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self.endpoint = f"http://127.0.0.1:{port}"
        wait_http(self.endpoint + "/moto-api/", 120, self._proc)
        if self.auth:
            self._bootstrap_user()
        else:
            self.access_key, self.secret_key = "AKIAMLVETTEST", "mlvet-test-secret"
        self.files = write_model_files(self.workdir / "files", big=self.big)
        s3 = self.client()
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        for name, path in self.files.items():
            self.versions[PREFIX + name] = self.upload(PREFIX + name, path)
        return self.endpoint

    def _bootstrap_user(self) -> None:
        """The three unauthenticated requests: user, admin policy, access key."""
        import boto3

        iam = boto3.client("iam", endpoint_url=self.endpoint, region_name="us-east-1",
                           aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
        iam.create_user(UserName="scanner")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName="scanner", PolicyName="all", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="scanner")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]

    def client(self, access_key: str | None = None, secret_key: str | None = None):  # type: ignore[no-untyped-def]
        """A boto3 S3 client for this server (the authorised user's key unless told otherwise)."""
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id=access_key or self.access_key,
                            aws_secret_access_key=secret_key or self.secret_key,
                            config=Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=60))

    def upload(self, key: str, path: Path) -> str:
        """Upload a local file (multipart when big) and return the new object version id."""
        from boto3.s3.transfer import TransferConfig

        s3 = self.client()
        s3.upload_file(str(path), BUCKET, key,
                       Config=TransferConfig(multipart_threshold=256 << 20, multipart_chunksize=256 << 20))
        return str(s3.head_object(Bucket=BUCKET, Key=key)["VersionId"])

    def env(self) -> dict[str, str]:
        """Environment variables that point the standard AWS configuration chain at this server."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull}

    def stop(self) -> None:
        """Stop the server process (bounded wait) and close its log."""
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=10)
            self._proc = None
            self._log.close()
