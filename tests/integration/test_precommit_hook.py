"""The published pre-commit hook, run by the real ``pre-commit`` tool in a throwaway git repository.

``pre-commit try-repo <this repo> mlvet-scan`` installs the hook the way users get it (``language: python``:
a virtualenv with mlvet pip-installed from this repository) and runs it on the staged files. No network:
the hook environment is created with the interpreter's site-packages visible
(``VIRTUALENV_SYSTEM_SITE_PACKAGES``, where the test extra installed mlvet's dependencies) and pip runs
with ``--no-index`` and without build isolation, so nothing is downloaded.
"""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def test_hook_manifest_scans_every_file_by_content() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    by_id = {h["id"]: h for h in hooks}
    assert set(by_id) == {"mlvet-scan", "mlvet-data-verify"}
    verify = by_id["mlvet-data-verify"]
    assert verify["entry"].split()[:3] == ["mlvet", "data", "verify"] and verify["pass_filenames"] is False
    hook = by_id["mlvet-scan"]
    assert hook["entry"].split()[:2] == ["mlvet", "scan"]
    assert hook["types"] == ["file"] and "files" not in hook  # no extension filter: content decides
    assert hook["language"] == "python"


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


class _Evil:
    def __reduce__(self) -> tuple[object, ...]:
        return (os.system, ("echo pwned",))


@pytest.fixture(scope="module")
def precommit_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pre-commit-home")


def _try_repo(work: Path, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "VIRTUALENV_SYSTEM_SITE_PACKAGES": "1",
           "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PRE_COMMIT_COLOR": "never"}
    return subprocess.run([sys.executable, "-m", "pre_commit", "try-repo", str(REPO), "mlvet-scan", "--verbose"],
                          cwd=work, env=env, capture_output=True, text=True, check=False, timeout=900)


@pytest.mark.parametrize("malicious", [False, True], ids=["benign", "malicious"])
def test_precommit_runs_the_hook_on_staged_files(tmp_path: Path, precommit_home: Path, malicious: bool) -> None:
    pytest.importorskip("pre_commit")
    joblib = pytest.importorskip("joblib")
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout of mlvet")
    work = tmp_path / "work"
    work.mkdir()
    _git(work, "init", "-q")
    _git(work, "config", "user.email", "t@example.com")
    _git(work, "config", "user.name", "t")
    (work / "README.md").write_text("# models\n")
    joblib.dump({"coef": [0.5, 1.5]}, work / "model.joblib")
    if malicious:
        # A pickle that calls os.system, named like an image: found by content, not by extension.
        (work / "diagram.png").write_bytes(pickle.dumps(_Evil(), protocol=4))
    _git(work, "add", ".")
    proc = _try_repo(work, precommit_home)
    out = proc.stdout + proc.stderr
    if malicious:
        assert proc.returncode == 1, out
        assert "Failed" in out and "PKL100" in out and "diagram.png" in out
    else:
        assert proc.returncode == 0, out
        assert "Passed" in out


def test_data_verify_hook_passes_then_fails_on_a_changed_file(tmp_path: Path, precommit_home: Path) -> None:
    """The data hook, configured the way docs/pre-commit.md shows, on a dataset and its lock."""
    pytest.importorskip("pre_commit")
    if not (REPO / "src" / "mlvet" / "commands" / "data.py").exists():
        pytest.skip("this checkout has no `mlvet data` command")
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs git and a git checkout of mlvet")
    rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                         check=True).stdout.strip()
    work = tmp_path / "work"
    (work / "data").mkdir(parents=True)
    _git(work, "init", "-q")
    _git(work, "config", "user.email", "t@example.com")
    _git(work, "config", "user.name", "t")
    (work / "data" / "train.csv").write_text("text,label\nhello,1\nworld,0\n")
    (work / "data" / "test.csv").write_text("text,label\nagain,1\n")
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    subprocess.run([sys.executable, "-m", "mlvet", "data", "lock", "data", "-o", "data.lock.json"], cwd=work,
                   env=env, check=True, capture_output=True, timeout=300)
    (work / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {REPO}\n  rev: {rev}\n  hooks:\n  - id: mlvet-data-verify\n"
        "    args: [data, --lock, data.lock.json, --no-resume]\n")
    _git(work, "add", ".")
    run_env = {**os.environ, "PRE_COMMIT_HOME": str(precommit_home), "VIRTUALENV_SYSTEM_SITE_PACKAGES": "1",
               "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0", "PRE_COMMIT_COLOR": "never"}
    cmd = [sys.executable, "-m", "pre_commit", "run", "mlvet-data-verify", "--all-files"]
    ok = subprocess.run(cmd, cwd=work, env=run_env, capture_output=True, text=True, check=False, timeout=900)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    (work / "data" / "train.csv").write_text("text,label\nhello,0\nworld,0\n")  # a flipped label
    bad = subprocess.run(cmd, cwd=work, env=run_env, capture_output=True, text=True, check=False, timeout=900)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "Failed" in bad.stdout
