"""Issue 11, inventory side: ``inventory``/``assets``/``bom --from-db`` through the real console script.

Output files checked first and written atomically, untrusted names escaped in every table, incomplete
analysis visible in every human output, interrupted runs keeping their hashes, read-only databases, refused
in-memory databases, missing drivers named, and the small wording and exit-code items.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
from pathlib import Path

import pytest
from state_cli import BENIGN, run, shim, start, truncated_pickle, unprivileged, wait_for

# ---- 1. -o checked before the work, written atomically ------------------------------------------------------


def test_inventory_output_is_checked_before_the_work(tmp_path: Path) -> None:
    (tmp_path / "m.pkl").write_bytes(BENIGN)
    db = tmp_path / "inv.db"
    done = run("inventory", "--db", f"sqlite:///{db}", "-o", tmp_path / "nodir" / "x.txt", tmp_path / "m.pkl")
    assert done.returncode == 4, done.stderr
    assert b"mlvet: error: cannot write the report to" in done.stderr and b"does not exist" in done.stderr
    assert b"internal error" not in done.stderr
    assert not db.exists()  # refused before anything was done: no database, no run


@pytest.mark.parametrize("fmt", ["table", "json"])
def test_inventory_output_replaces_the_file_atomically_with_a_normal_mode(tmp_path: Path, fmt: str) -> None:
    (tmp_path / "m.pkl").write_bytes(BENIGN)
    out = tmp_path / "report.txt"
    out.write_text("old report\n")
    os.chmod(out, 0o640)
    done = run("inventory", "--db", f"sqlite:///{tmp_path / 'inv.db'}", "-f", fmt, "-o", out, tmp_path / "m.pkl")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b""
    text = out.read_text()
    assert "old report" not in text and "m.pkl" in text
    if fmt == "json":
        assert json.loads(text)["assets"][0]["name"] == "m.pkl"
    assert stat.S_IMODE(out.stat().st_mode) == 0o640  # a replaced file keeps its mode
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]


# ---- 2. terminal safety -------------------------------------------------------------------------------------

#: ESC sequence (clear screen), rich markup and an undecodable byte, all in one file name.
_EVIL_NAME = b"evil\x1b[2J[bold red]CLEAN\xff.pkl"


def _evil_tree(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    root.mkdir()
    with open(os.path.join(os.fsencode(root), _EVIL_NAME), "wb") as fh:
        fh.write(BENIGN)
    return root


def _assert_escaped(out: bytes) -> None:
    assert b"\x1b" not in out  # the escape sequence never reaches the terminal
    assert b"\xff" not in out  # nor the invalid byte
    assert b"[bold red]CLEAN" in out  # markup printed literally, not eaten
    assert b"\\x1b" in out and b"\\udcff" in out  # both shown as visible escapes


def test_inventory_and_assets_tables_escape_untrusted_names(tmp_path: Path) -> None:
    root = _evil_tree(tmp_path)
    db = f"sqlite:///{tmp_path / 'inv.db'}"
    done = run("inventory", "--db", db, root)
    assert done.returncode == 0, done.stderr
    _assert_escaped(done.stdout)
    assert b"new  model evil" in done.stdout  # the changes line is escaped too
    out_file = tmp_path / "report.txt"
    assert run("inventory", "--db", db, "-o", out_file, root).returncode == 0
    _assert_escaped(out_file.read_bytes())
    listed = run("assets", "--db", db)
    assert listed.returncode == 0, listed.stderr
    _assert_escaped(listed.stdout)
    as_json = run("inventory", "--db", db, "-f", "json", root)
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout)["assets"][0]["name"] == os.fsdecode(_EVIL_NAME)


# ---- 3. incomplete analysis is visible in every human output -----------------------------------------------


def test_a_file_scan_reports_as_error_is_incomplete_everywhere(tmp_path: Path) -> None:
    bad = tmp_path / "trunc.pkl"
    bad.write_bytes(truncated_pickle())
    scan = run("scan", "--format", "json", bad)
    assert scan.returncode == 2
    result = json.loads(scan.stdout)["results"][0]
    assert result["status"] == "error" and result["severity"] == "medium"  # the case the issue saw as "medium"
    db = f"sqlite:///{tmp_path / 'inv.db'}"
    inv = run("inventory", "--db", db, bad)
    assert inv.returncode == 2, inv.stderr  # the README table: incomplete is exit 2
    row = next(line for line in inv.stdout.decode().splitlines() if "trunc.pkl" in line and "│" in line)
    assert "incomplete" in row and "medium" not in row
    assert "1 incomplete (not fully analysed)" in inv.stdout.decode()
    listed = run("assets", "--db", db).stdout.decode()
    row = next(line for line in listed.splitlines() if "trunc.pkl" in line and "│" in line)
    assert "incomplete" in row and "medium" not in row
    doc = json.loads(run("inventory", "--db", db, "-f", "json", bad).stdout)
    assert doc["assets"][0]["verdict"] == "incomplete" and doc["assets"][0]["incomplete"] is True
    card = run("score", bad).stdout.decode()
    assert "Incomplete: 1 file could not be fully analysed" in card
    bom = run("bom", bad, "-o", tmp_path / "bom.json")
    assert bom.returncode == 0, bom.stderr
    assert b"1 asset, 1 incomplete" in bom.stderr


# ---- 4. an interrupted inventory keeps its hashing work -----------------------------------------------------


def _hash_rows(db: Path) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM hash_cache").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_interrupted_inventory_commits_the_hashes_it_computed(tmp_path: Path, signum: int, code: int) -> None:
    import numpy as np

    root = tmp_path / "data"
    root.mkdir()
    header = np.lib.format.header_data_from_array_1_0(np.zeros(4, dtype="<f4"))
    n = 24
    for i in range(n):  # sparse 256 MiB NumPy files: hashing all of them takes seconds, so the run is stopped half way
        with open(root / f"a{i:02d}.npy", "wb") as fh:
            np.lib.format.write_array_header_1_0(fh, header)
            fh.truncate(256 << 20)
    db = tmp_path / "inv.db"
    proc = start("inventory", "--db", f"sqlite:///{db}", "--no-progress", root)
    wait_for(lambda: _hash_rows(db) > 0, proc)  # the first batch is committed (about a second in)
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert b"mlvet: error: interrupted" in err
    kept = _hash_rows(db)
    assert 0 < kept < n, kept  # stopped half way, and what was hashed is kept
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("SELECT count(*) FROM runs").fetchone()[0] == 0  # no half-recorded run
    again = run("inventory", "--db", f"sqlite:///{db}", "-f", "json", root)
    assert again.returncode == 0, again.stderr
    doc = json.loads(again.stdout)
    assert doc["run"]["files_seen"] == n
    assert doc["run"]["files_hashed"] <= n - kept  # the next run resumes: only what was not hashed yet
    assert len(doc["assets"]) == n


# ---- 5. read-only databases -----------------------------------------------------------------------------------


def _recorded_db(tmp_path: Path) -> tuple[Path, Path]:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "m.pkl").write_bytes(BENIGN)
    db_dir = shared / "db"
    db_dir.mkdir()
    db = db_dir / "inventory.db"
    assert run("inventory", "--db", f"sqlite:///{db}", shared / "m.pkl").returncode == 0
    for p in (tmp_path, shared):
        p.chmod(0o755)
    (shared / "m.pkl").chmod(0o644)
    db.chmod(0o444)
    db_dir.chmod(0o555)
    return shared, db


def test_read_only_database_can_be_listed_but_not_written(tmp_path: Path) -> None:
    prefix, preexec = unprivileged()
    tmp_path.chmod(0o755)
    tmp_path.parent.chmod(0o755)
    shared, db = _recorded_db(tmp_path)
    before = db.read_bytes()
    try:
        url = f"sqlite:///{db}"
        listed = run("assets", "--db", url, "-f", "json", prefix=prefix, preexec=preexec)
        assert listed.returncode == 0, listed.stderr
        assert [a["name"] for a in json.loads(listed.stdout)] == ["m.pkl"]
        bom = run("bom", "--from-db", "--db", url, prefix=prefix, preexec=preexec)
        assert bom.returncode == 0, bom.stderr
        assert b"m.pkl" in bom.stdout
        assert sorted(p.name for p in db.parent.iterdir()) == ["inventory.db"]  # no journal, no -wal, no -shm
        assert db.read_bytes() == before
        # Writing needs write access: a clear usage error before any work, not "attempt to write a readonly
        # database" at the end.
        writer = run("inventory", "--db", url, shared / "m.pkl", prefix=prefix, preexec=preexec)
        assert writer.returncode == 4, writer.stderr
        assert b"mlvet: error: cannot write the inventory database" in writer.stderr
        assert b"read-only" in writer.stderr and b"mlvet assets" in writer.stderr
    finally:
        db.parent.chmod(0o755)
        db.chmod(0o644)


def test_read_only_open_never_writes_even_with_permission(tmp_path: Path) -> None:
    """As root (or the owner), permissions stop nothing: SQLite's mode=ro is what keeps ``assets`` read-only.

    An empty database is one a writer would migrate (create every table): the reader must leave it as is.
    """
    db = tmp_path / "inventory.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE unrelated (x)")
    stamp = db.stat().st_mtime_ns, db.read_bytes()
    for argv in (["assets"], ["bom", "--from-db"]):
        done = run(*argv, "--db", f"sqlite:///{db}")
        assert done.returncode == 4, done.stderr
        assert b"holds no inventory: run `mlvet inventory` first" in done.stderr
    assert (db.stat().st_mtime_ns, db.read_bytes()) == stamp  # not migrated, not touched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inventory.db"]
    missing = run("assets", "--db", f"sqlite:///{tmp_path / 'none.db'}")
    assert missing.returncode == 4 and b"run `mlvet inventory` first" in missing.stderr
    assert not (tmp_path / "none.db").exists()


# ---- 6. in-memory databases and a missing PostgreSQL driver --------------------------------------------------


@pytest.mark.parametrize("args", [["inventory", "{m}"], ["assets"], ["bom", "--from-db"], ["bom", "{m}"]])
@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_in_memory_database_is_refused(tmp_path: Path, args: list[str], url: str) -> None:
    (tmp_path / "m.pkl").write_bytes(BENIGN)
    argv = [a.format(m=tmp_path / "m.pkl") for a in args]
    done = run(*argv, "--db", url)
    assert done.returncode == 4, done.stderr
    assert b"mlvet: error:" in done.stderr and b"in-memory database" in done.stderr


def test_postgres_url_without_psycopg_names_the_extra(tmp_path: Path) -> None:
    (tmp_path / "m.pkl").write_bytes(BENIGN)
    for argv in (["inventory", str(tmp_path / "m.pkl")], ["assets"]):
        done = run(*argv, "--db", "postgresql://u@127.0.0.1:9/db", extra_env=shim(tmp_path, "psycopg"))
        assert done.returncode == 4, done.stderr
        assert b"pip install 'mlvet[postgres]'" in done.stderr, done.stderr


# ---- 10. smaller items ----------------------------------------------------------------------------------------


def test_unreadable_file_alone_or_in_a_folder_is_incomplete(tmp_path: Path) -> None:
    prefix, preexec = unprivileged()
    tmp_path.chmod(0o755)
    tmp_path.parent.chmod(0o755)
    folder = tmp_path / "models"
    folder.mkdir(mode=0o755)
    locked = folder / "locked.pkl"
    locked.write_bytes(BENIGN)
    locked.chmod(0)
    try:
        alone = run("scan", locked, prefix=prefix, preexec=preexec)
        inside = run("scan", folder, prefix=prefix, preexec=preexec)
        assert alone.returncode == inside.returncode == 2, (alone.stderr, inside.stderr)
        assert b"Permission denied" in alone.stdout
        db_dir = tmp_path / "db"
        db_dir.mkdir(mode=0o777)
        db_dir.chmod(0o777)
        inv = run("inventory", "-f", "json", "--db", f"sqlite:///{db_dir / 'i.db'}", locked, prefix=prefix,
                  preexec=preexec)
        assert inv.returncode == 2, inv.stderr  # incomplete asset: exit 2, as in scan
        assert json.loads(inv.stdout)["assets"][0]["verdict"] == "incomplete"
    finally:
        locked.chmod(0o644)


def test_assets_piped_uses_full_width_and_unknown_run_is_a_usage_error(tmp_path: Path) -> None:
    deep = tmp_path / ("a-long-folder-name-" * 4) / "models"
    deep.mkdir(parents=True)
    (deep / "model-with-a-rather-long-name.pkl").write_bytes(BENIGN)
    db = f"sqlite:///{tmp_path / 'inv.db'}"
    inv = run("inventory", "--db", db, deep)
    assert inv.returncode == 0, inv.stderr
    listed = run("assets", "--db", db)
    assert listed.returncode == 0
    text = listed.stdout.decode()
    assert "model-with-a-rather-long-name.pkl" in text  # one cell, not folded over lines at 80 columns
    assert max(len(line) for line in text.splitlines()) > 80
    assert "1 asset: 1 model, 0 datasets" in text
    missing = run("assets", "--db", db, "--run", "99")
    assert missing.returncode == 4
    assert missing.stderr.startswith(b"mlvet: error: no inventory run 99")
    assert missing.stdout == b""


def test_counts_read_as_english(tmp_path: Path) -> None:
    import numpy as np

    root = tmp_path / "models"
    root.mkdir()
    (root / "m.pkl").write_bytes(BENIGN)
    np.save(root / "d.npy", np.zeros(3, dtype="<f4"))
    done = run("inventory", "--db", f"sqlite:///{tmp_path / 'inv.db'}", root)
    assert done.returncode == 0, done.stderr
    text = done.stdout.decode()
    assert "1 model, 1 dataset, 0 flagged (medium or worse); 2 files seen, 2 hashed" in text
    assert "(s)" not in text and "1 datasets" not in text and "1 models" not in text
