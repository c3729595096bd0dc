"""What the walk cannot read is never clean: unreadable folders and files, links out of the scanned folder,
FIFOs (issue 9, fail-open paths).

The permission tests must run without the privilege to ignore permissions: as root (CI), ``chmod 000``
stops nothing. They run the real console script in a subprocess as ``nobody`` (``setpriv``); where the
interpreter itself lives somewhere ``nobody`` cannot enter (pyenv under ``/root``), they stay uid 0 but
drop every capability (``setpriv --bounding-set=-all``), which removes ``CAP_DAC_OVERRIDE`` and
``CAP_DAC_READ_SEARCH``: permission bits then apply to root like to anyone. A probe proves the chosen
prefix really cannot read a ``chmod 000`` file before a test relies on it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import mlvet

SRC = str(Path(mlvet.__file__).resolve().parents[1])
EVIL = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."  # os.system('id'): critical when scanned
BENIGN = pickle.dumps({"a": 1, "w": [0.5, 1.5]}, protocol=4)
REVISION = "0123456789abcdef0123456789abcdef01234567"


def _console_script() -> list[str]:
    script = Path(sys.executable).with_name("mlvet")
    if script.exists():
        return [str(script)]
    found = shutil.which("mlvet")
    if found is None:  # pragma: no cover - the package is installed in every test environment
        pytest.skip("the mlvet console script is not installed")
    return [found]


_DB_DIR: list[str] = []


def _db_url() -> str:
    """A database file in a fresh folder anyone may write (the CLI refuses in-memory databases)."""
    if not _DB_DIR:
        _DB_DIR.append(tempfile.mkdtemp(prefix="mlvet-db-"))
        os.chmod(_DB_DIR[0], 0o1777)
    return f"sqlite:///{_DB_DIR[0]}/inventory.db"


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["MLVET_DB"] = _db_url()
    env.pop("COLUMNS", None)
    return env


def _cannot_read(prefix: list[str], probe: Path) -> bool:
    """True when ``prefix`` runs the console script and is refused reading ``probe`` (mode 000)."""
    code = "import sys, mlvet, click\ntry:\n    open(sys.argv[1], 'rb')\nexcept PermissionError:\n    sys.exit(7)\n"
    try:
        done = subprocess.run([*prefix, sys.executable, "-c", code, str(probe)], env=_env(),
                              capture_output=True, timeout=60, check=False)
    except OSError:
        return False
    return done.returncode == 7


@pytest.fixture(scope="module")
def unprivileged() -> list[str]:
    """A command prefix under which permission bits are enforced (see the module docstring)."""
    folder = Path(tempfile.mkdtemp(prefix="mlvet-perm-probe-"))
    try:
        folder.chmod(0o755)
        probe = folder / "probe"
        probe.write_bytes(b"x")
        probe.chmod(0)
        if os.geteuid() != 0:
            if _cannot_read([], probe):
                return []
            pytest.skip("not root and permissions are not enforced here (cannot drop privileges)")
        candidates = []
        if shutil.which("setpriv"):
            candidates.append(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            candidates.append(["setpriv", "--inh-caps=-all", "--bounding-set=-all"])
        if shutil.which("runuser"):
            candidates.append(["runuser", "-u", "nobody", "--"])
        for prefix in candidates:
            if _cannot_read(prefix, probe):
                return prefix
        pytest.fail("running as root but no way to drop the privilege to ignore permissions (setpriv/runuser)")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture()
def shared_tmp() -> Iterator[Path]:
    """A temporary folder every user can enter (pytest's tmp_path is private to root)."""
    folder = Path(tempfile.mkdtemp(prefix="mlvet-walk-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for p in folder.rglob("*"):
            if not p.is_symlink():
                p.chmod(0o755 if p.is_dir() else 0o644)
        shutil.rmtree(folder, ignore_errors=True)


def _open_tree(root: Path) -> None:
    for p in [root, *root.rglob("*")]:
        if not p.is_symlink():
            p.chmod(0o755 if p.is_dir() else 0o644)


def _tree_with_locked_parts(base: Path) -> Path:
    """benign model beside a folder and a file nobody may read; the hidden ones are malicious."""
    root = base / "models"
    (root / "locked").mkdir(parents=True)
    (root / "ok.pkl").write_bytes(BENIGN)
    (root / "locked" / "payload.pkl").write_bytes(EVIL)
    (root / "secret.pkl").write_bytes(EVIL)
    _open_tree(base)
    (root / "locked").chmod(0)
    (root / "secret.pkl").chmod(0)
    return root


def _run(prefix: list[str], *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*prefix, *_console_script(), *args], env=_env(), cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)


# ---- permission denied -------------------------------------------------------------------------------------


def test_scan_reports_unreadable_folder_and_file_as_errors(unprivileged: list[str], shared_tmp: Path) -> None:
    root = _tree_with_locked_parts(shared_tmp)
    done = _run(unprivileged, "scan", str(root), "--format", "json", cwd=shared_tmp)
    assert done.returncode == 2, (done.stdout, done.stderr)  # incomplete, never "clean" (0)
    results = {Path(r["path"]).name: r for r in json.loads(done.stdout)["results"]}
    assert results["ok.pkl"]["status"] == "scanned"
    assert results["locked"]["status"] == "error"
    assert "Permission denied" in results["locked"]["errors"][0]
    assert results["secret.pkl"]["status"] == "error"
    assert json.loads(done.stdout)["summary"]["errors"] == 2


def test_inventory_and_bom_surface_unreadable_parts(unprivileged: list[str], shared_tmp: Path) -> None:
    root = _tree_with_locked_parts(shared_tmp)
    # MLVET_DB: a file in a folder anyone may write (see _env), as nobody cannot write the shared folder.
    done = _run(unprivileged, "inventory", str(root), "--format", "json", cwd=shared_tmp)
    assert done.returncode == 2, done.stderr  # incomplete assets: exit 2 (README exit-code table)
    assets = {Path(a["path"]).name: a for a in json.loads(done.stdout)["assets"]}
    assert assets["locked"]["verdict"] == "incomplete"
    assert assets["secret.pkl"]["verdict"] == "incomplete"
    assert assets["ok.pkl"]["verdict"] == "clean"
    bom = _run(unprivileged, "bom", str(root), cwd=shared_tmp)
    assert bom.returncode == 0, bom.stderr
    doc = json.loads(bom.stdout)
    flagged = {Path(c.get("name", "")).name for c in doc["components"]
               if any(p["name"].endswith("incomplete") and p["value"] == "true" for p in c.get("properties", []))}
    assert {"locked", "secret.pkl"} <= flagged, flagged


def test_score_counts_unreadable_parts_as_incomplete(unprivileged: list[str], shared_tmp: Path) -> None:
    root = _tree_with_locked_parts(shared_tmp)
    done = _run(unprivileged, "score", str(root), "--format", "json", cwd=shared_tmp)
    assert done.returncode == 2, done.stderr  # the card rests on an incomplete scan
    card = json.loads(done.stdout)
    check = next(c for c in card["checks"] if c["name"] == "scan_completeness")
    assert check["score"] is not None and check["score"] < 10
    assert any("locked" in d for d in check["details"]), check


# ---- FIFOs ---------------------------------------------------------------------------------------------------


def test_score_does_not_hang_on_fifos(tmp_path: Path) -> None:
    (tmp_path / "model.pkl").write_bytes(BENIGN)
    for name in ("pipe", "run.sh", "README.md", "config.json", "lib.so"):
        os.mkfifo(tmp_path / name)
    # Without the fix, opening the FIFO blocks forever: the timeout turns that into a failure.
    done = subprocess.run([*_console_script(), "score", str(tmp_path), "--format", "json"], env=_env(),
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["checks"]
    scan = subprocess.run([*_console_script(), "scan", str(tmp_path), "--format", "json"], env=_env(),
                          capture_output=True, text=True, timeout=120, check=False)
    pipe = next(r for r in json.loads(scan.stdout)["results"] if r["path"].endswith("pipe"))
    assert pipe["status"] == "skipped" and pipe["skip_reason"] == "not a regular file"


# ---- symbolic links ------------------------------------------------------------------------------------------


def test_file_link_out_of_the_folder_is_reported_and_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "payload.pkl").write_bytes(EVIL)
    root = tmp_path / "model"
    root.mkdir()
    (root / "weights.pkl").write_bytes(BENIGN)
    os.symlink("../elsewhere/payload.pkl", root / "linked.pkl")
    os.symlink(str(outside / "payload.pkl"), root / "absolute.pkl")
    report = mlvet.scan([root])
    by_name = {Path(r.path).name: r for r in report.results}
    for name in ("linked.pkl", "absolute.pkl"):
        res = by_name[name]
        assert res.status.value == "error"
        (finding,) = res.findings
        assert finding.rule_id == "FMT002" and finding.severity.label == "medium"
        assert "elsewhere/payload.pkl" in finding.message and "did not read it" in finding.message
        # Not read: the payload's os.system would have been a critical PKL100.
        assert not any(f.rule_id.startswith("PKL") for f in res.findings)
    assert by_name["weights.pkl"].status.value == "scanned"
    done = subprocess.run([*_console_script(), "scan", str(root)], env=_env(), capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 2, done.stdout  # incomplete (medium is under the default --fail-on high)


def test_folder_links_are_mentioned_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "payload.pkl").write_bytes(EVIL)
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "w.pkl").write_bytes(BENIGN)
    os.symlink("sub", root / "alias")
    os.symlink("../elsewhere", root / "external")
    by_name = {Path(r.path).name: r for r in mlvet.scan([root]).results}
    assert by_name["alias"].status.value == "skipped" and "not followed" in (by_name["alias"].skip_reason or "")
    assert by_name["external"].status.value == "error"
    assert [f.rule_id for f in by_name["external"].findings] == ["FMT002"]
    assert "payload.pkl" not in by_name  # never walked into


def test_links_inside_the_folder_are_scanned(tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "x.pkl").write_bytes(EVIL)
    os.symlink("real/x.pkl", tmp_path / "alias.pkl")
    by_name = {Path(r.path).name: r for r in mlvet.scan([tmp_path]).results}
    assert by_name["alias.pkl"].severity.label == "critical"  # followed: it is part of the folder


def test_hf_cache_snapshot_scanned_alone_stays_clean(tmp_path: Path) -> None:
    """Snapshot files link to ../../blobs, outside the snapshot folder: that is the hub's layout, not an attack."""
    repo = tmp_path / "models--acme--tiny"
    blobs, snap = repo / "blobs", repo / "snapshots" / REVISION
    blobs.mkdir(parents=True)
    snap.mkdir(parents=True)
    for name, data in {"weights.pkl": BENIGN, "config.json": b'{"model_type": "gpt2"}'}.items():
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        os.symlink(os.path.relpath(blobs / digest, snap), snap / name)
    report = mlvet.scan([snap])
    assert {Path(r.path).name for r in report.results} == {"weights.pkl", "config.json"}
    assert all(r.status.value != "error" and not r.findings for r in report.results), report.results
    # A local_dir download of an older huggingface_hub links straight into the cache blobs: also normal.
    local = tmp_path / "local_dir"
    local.mkdir()
    digest = hashlib.sha256(BENIGN).hexdigest()
    os.symlink(str(blobs / digest), local / "weights.pkl")
    (res,) = mlvet.scan([local]).results
    assert res.status.value == "scanned" and not res.findings



def test_inventory_leaves_fifos_alone_and_reports_links_out(tmp_path: Path) -> None:
    from mlvet.inventory.discover import inventory

    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "payload.pkl").write_bytes(EVIL)
    root = tmp_path / "models"
    root.mkdir()
    (root / "ok.pkl").write_bytes(BENIGN)
    os.mkfifo(root / "pipe.pkl")
    os.symlink("../elsewhere/payload.pkl", root / "linked.pkl")
    _run, assets = inventory([str(root)])
    by_name = {Path(a.path).name: a for a in assets}
    assert "pipe.pkl" not in by_name  # a FIFO holds no model: neither an asset nor "incomplete"
    assert by_name["ok.pkl"].verdict == "clean"
    linked = by_name["linked.pkl"]
    assert linked.verdict == "incomplete" and not linked.files  # not read: the target is outside the root
