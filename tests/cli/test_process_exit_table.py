"""The README's exit-code table, driven command by command through the real console script.

Every command registered on the ``mlvet`` group must appear in :data:`TABLE` with, for each documented exit
code, either a scenario that ends the command with that code or the reason the command cannot end that way.
A new command without an entry fails :func:`test_every_command_and_code_is_covered`; a scenario ending with
another code fails its parametrised case.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import resource
import signal
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from procwatch import wait_until_busy

from mlvet.cli import get_cli
from mlvet.commands._io import EXIT_SIGINT, EXIT_SIGTERM
from mlvet.errors import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_USAGE

CODES = (EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_USAGE, EXIT_SIGINT, EXIT_SIGTERM)
README = Path(__file__).resolve().parents[2] / "README.md"


@dataclass
class Files:
    """Inputs shared by the scenarios (built once per module)."""

    root: Path
    clean: Path         # a data-only pickle
    malicious: Path     # a pickle whose load calls os.system
    truncated: Path     # half of a pickle: cannot be fully analysed
    clean_dir: Path     # a folder holding only the clean pickle
    bad_dir: Path       # a folder holding the malicious pickle
    many: Path          # 2500 small pickles: long enough to interrupt
    key: Path           # EC private key (PEM)
    pub: Path           # its public key
    small_a: Path       # two 4 MiB safetensors files that differ in every element
    small_b: Path
    big_a: Path         # two sparse 1 GiB safetensors files (zeros) that differ in their last element only:
    big_b: Path         # hashing or comparing them takes long enough to be interrupted


class _Evil:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo owned",))


def _safetensors(path: Path, value: float, count: int, *, sparse_last: float | None = None) -> None:
    """A one-tensor safetensors file; with ``sparse_last`` the data is a hole of zeros ending in that value."""
    header = json.dumps({"w": {"dtype": "F32", "shape": [count], "data_offsets": [0, 4 * count]}}).encode()
    header += b" " * (-len(header) % 8)
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        if sparse_last is not None:
            fh.seek(4 * (count - 1), os.SEEK_CUR)
            fh.write(struct.pack("<f", sparse_last))
            return
        chunk = struct.pack("<f", value) * (1 << 20)
        for _ in range(count // (1 << 20)):
            fh.write(chunk)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Files:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    root = tmp_path_factory.mktemp("exit-table")
    data = pickle.dumps({"weights": list(range(64)), "name": "layer"}, protocol=4)
    clean_dir, bad_dir, many = root / "clean", root / "bad", root / "many"
    for folder in (clean_dir, bad_dir, many):
        folder.mkdir()
    (clean_dir / "model.pkl").write_bytes(data)
    (bad_dir / "model.pkl").write_bytes(pickle.dumps(_Evil(), protocol=2))
    truncated = root / "truncated.pkl"
    truncated.write_bytes(data[: len(data) // 2])
    for i in range(2500):
        (many / f"m{i:05d}.pkl").write_bytes(pickle.dumps({"i": i, "w": list(range(16))}, protocol=4))
    key = ec.generate_private_key(ec.SECP256R1())
    key_path, pub_path = root / "key.pem", root / "key.pub"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    pub_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo))
    small_a, small_b = root / "a.safetensors", root / "b.safetensors"
    _safetensors(small_a, 1.0, 1 << 20)
    _safetensors(small_b, 2.0, 1 << 20)
    big_a, big_b = root / "big_a.safetensors", root / "big_b.safetensors"
    _safetensors(big_a, 0.0, 256 << 20, sparse_last=0.0)
    _safetensors(big_b, 0.0, 256 << 20, sparse_last=1.0)
    return Files(root, clean_dir / "model.pkl", bad_dir / "model.pkl", truncated, clean_dir, bad_dir, many,
                 key_path, pub_path, small_a, small_b, big_a, big_b)


@dataclass
class Run:
    """How to run one scenario: the arguments after ``mlvet``, and what else the process needs."""

    args: list[str]
    #: For the signal codes: a file or folder the command must have open before it is signalled.
    busy_with: Path | None = None
    #: Files the process writes may not grow past this many bytes (a full disk, as the process sees it).
    file_size_limit: int | None = None


#: A scenario gets the shared files and a fresh folder, and returns its :class:`Run` (or just the arguments).
Scenario = Callable[[Files, Path], "list[str] | Run"]


def _db(tmp: Path) -> str:
    return f"sqlite:///{tmp / 'inv.db'}"


def _inventoried(f: Files, tmp: Path, folder: Path) -> str:
    db = _db(tmp)
    done = _mlvet("inventory", str(folder), "--db", db, "-f", "json", cwd=tmp)
    assert done.returncode in (0, 1), done.stderr
    return db


def _signed(f: Files, tmp: Path) -> Path:
    model = tmp / "model"
    model.mkdir()
    (model / "weights.pkl").write_bytes(f.clean.read_bytes())
    done = _mlvet("sign", "key", str(model), "--private-key", str(f.key), cwd=tmp)
    assert done.returncode == 0, done.stderr
    return model


def _tampered(f: Files, tmp: Path) -> list[str]:
    model = _signed(f, tmp)
    (model / "weights.pkl").write_bytes(f.clean.read_bytes() + b"\n")
    return ["verify", "key", str(model), "--public-key", str(f.pub)]


def _corrupt_signature(f: Files, tmp: Path) -> list[str]:
    model = _signed(f, tmp)
    (model / "model.sig").write_text("{not a bundle")
    return ["verify", "key", str(model), "--public-key", str(f.pub)]


def _torch_checkpoint(tmp: Path, *, truncate: bool = False) -> Path:
    """A checkpoint written by torch.save (cut short with ``truncate``: unreadable, so not convertible)."""
    torch = pytest.importorskip("torch")
    path = tmp / "ckpt.pt"
    torch.save({"w": torch.ones(4, 4)}, path)
    if truncate:
        data = path.read_bytes()
        path.write_bytes(data[: len(data) - 200])
    return path


def _dataset(f: Files, tmp: Path, *, big: bool = False, dangling: bool = False) -> Path:
    """A dataset folder: two small files (or four hard links to the 1 GiB files), optionally a dangling link."""
    data = tmp / "dataset"
    data.mkdir()
    if big:
        for i, src in enumerate((f.big_a, f.big_b, f.big_a, f.big_b)):
            os.link(src, data / f"shard{i}.safetensors")
    else:
        (data / "a.pkl").write_bytes(f.clean.read_bytes())
        (data / "b.txt").write_text("text")
    if dangling:
        (data / "gone.bin").symlink_to(tmp / "no-such-target")
    return data


def _locked(f: Files, tmp: Path) -> tuple[Path, Path]:
    data = _dataset(f, tmp)
    lock = tmp / "data.lock"
    done = _mlvet("data", "lock", str(data), "-o", str(lock), cwd=tmp)
    assert done.returncode == 0, done.stderr
    return data, lock


def _verified(f: Files, tmp: Path) -> list[str]:
    data, lock = _locked(f, tmp)
    return ["data", "verify", str(data), "--lock", str(lock)]


def _changed_dataset(f: Files, tmp: Path) -> list[str]:
    data, lock = _locked(f, tmp)
    (data / "b.txt").write_text("edited")
    return ["data", "verify", str(data), "--lock", str(lock)]


def _big_lock(f: Files, tmp: Path) -> Run:
    data = _dataset(f, tmp, big=True)
    return Run(["data", "lock", str(data), "-o", str(tmp / "data.lock"), "--workers", "1"],
               busy_with=data)


TABLE: dict[str, dict[int, Scenario | str]] = {
    "scan": {
        EXIT_CLEAN: lambda f, t: ["scan", str(f.clean)],
        EXIT_FINDINGS: lambda f, t: ["scan", str(f.malicious)],
        EXIT_INCOMPLETE: lambda f, t: ["scan", str(f.truncated)],
        EXIT_USAGE: lambda f, t: ["scan", str(t / "missing.pkl")],
        EXIT_SIGINT: lambda f, t: Run(["scan", str(f.many), "-f", "json"], busy_with=f.many),
    },
    "inventory": {
        EXIT_CLEAN: lambda f, t: ["inventory", str(f.clean_dir), "--db", _db(t)],
        EXIT_FINDINGS: lambda f, t: ["inventory", str(f.bad_dir), "--db", _db(t), "--fail-on", "high"],
        EXIT_INCOMPLETE: lambda f, t: ["inventory", str(f.truncated), "--db", _db(t)],
        EXIT_USAGE: lambda f, t: ["inventory", str(f.clean_dir), "--db", "sqlite://"],
        EXIT_SIGINT: lambda f, t: Run(["inventory", str(f.many), "--db", _db(t), "--rescan"], busy_with=f.many),
    },
    "assets": {
        EXIT_CLEAN: lambda f, t: ["assets", "--db", _inventoried(f, t, f.bad_dir)],
        EXIT_FINDINGS: "assets lists what the database holds and judges nothing: `inventory --fail-on` does",
        EXIT_INCOMPLETE: "assets only reads the database; an unreadable database is a usage error (4)",
        EXIT_USAGE: lambda f, t: ["assets", "--db", _inventoried(f, t, f.clean_dir), "--run", "99"],
        EXIT_SIGINT: "assets answers from the database at once: there is no long-running work to interrupt",
    },
    "bom": {
        EXIT_CLEAN: lambda f, t: ["bom", str(f.clean_dir), "-o", str(t / "bom.json")],
        EXIT_FINDINGS: "a BOM describes; it does not judge (score and inventory --fail-on do)",
        EXIT_INCOMPLETE: lambda f, t: Run(["bom", str(f.clean_dir), "-o", str(t / "bom.json")], file_size_limit=1024),
        EXIT_USAGE: lambda f, t: ["bom", str(t / "missing")],
        EXIT_SIGINT: lambda f, t: Run(["bom", str(f.many), "-o", str(t / "bom.json")], busy_with=f.many),
    },
    "score": {
        EXIT_CLEAN: lambda f, t: ["score", str(f.clean_dir)],
        EXIT_FINDINGS: lambda f, t: ["score", str(f.bad_dir), "--fail-under", "5"],
        EXIT_INCOMPLETE: lambda f, t: ["score", str(f.truncated)],
        EXIT_USAGE: lambda f, t: ["score", str(f.clean_dir), "--format", "pdf"],
        EXIT_SIGINT: lambda f, t: Run(["score", str(f.many)], busy_with=f.many),
    },
    "sign": {
        EXIT_CLEAN: lambda f, t: ["sign", "key", str(f.clean_dir), "--private-key", str(f.key),
                                  "--signature", str(t / "s.sig")],
        EXIT_FINDINGS: "signing judges nothing; verify reports a mismatch",
        EXIT_INCOMPLETE: lambda f, t: ["sign", "key", str(f.clean_dir), "--private-key", str(f.pub),
                                       "--signature", str(t / "s.sig")],
        EXIT_USAGE: lambda f, t: ["sign", "key", str(_signed(f, t)), "--private-key", str(f.key)],
        EXIT_SIGINT: lambda f, t: Run(["sign", "key", str(f.big_a), "--private-key", str(f.key),
                                       "--signature", str(t / "s.sig")], busy_with=f.big_a),
    },
    "verify": {
        EXIT_CLEAN: lambda f, t: ["verify", "key", str(_signed(f, t)), "--public-key", str(f.pub)],
        EXIT_FINDINGS: _tampered,
        EXIT_INCOMPLETE: _corrupt_signature,
        EXIT_USAGE: lambda f, t: ["verify", "key", str(t / "missing"), "--public-key", str(f.pub)],
        EXIT_SIGINT: "verify of a big model is interrupted while hashing, as sign is (same hashing code)",
    },
    "diff": {
        EXIT_CLEAN: lambda f, t: ["diff", str(f.small_a), str(f.small_a)],
        EXIT_FINDINGS: lambda f, t: ["diff", str(f.small_a), str(f.small_b)],
        EXIT_INCOMPLETE: lambda f, t: ["diff", str(f.small_a), str(f.truncated)],
        EXIT_USAGE: lambda f, t: ["diff", str(f.small_a), str(t / "missing.safetensors")],
        EXIT_SIGINT: lambda f, t: Run(["diff", str(f.big_a), str(f.big_b)], busy_with=f.big_b),
    },
    "convert": {
        EXIT_CLEAN: lambda f, t: ["convert", str(_torch_checkpoint(t)), str(t / "out.safetensors")],
        EXIT_FINDINGS: lambda f, t: ["convert", str(f.malicious), str(t / "out.safetensors")],
        EXIT_INCOMPLETE: lambda f, t: ["convert", str(_torch_checkpoint(t, truncate=True)), str(t / "out.safetensors")],
        EXIT_USAGE: lambda f, t: ["convert", str(f.clean), str(f.clean)],
        EXIT_SIGINT: "tests/cli: SIGTERM and SIGINT during a 400 MB convert (test_state_* of the convert tests)",
    },
    "data": {
        EXIT_CLEAN: _verified,
        EXIT_FINDINGS: _changed_dataset,
        EXIT_INCOMPLETE: lambda f, t: ["data", "lock", str(_dataset(f, t, dangling=True)), "-o",
                                       str(t / "data.lock")],
        EXIT_USAGE: lambda f, t: ["data", "verify", str(_dataset(f, t)), "--lock", str(t / "missing.lock")],
        EXIT_SIGINT: _big_lock,
    },
    "guard": {
        EXIT_CLEAN: lambda f, t: ["guard", "install", "--site-dir", str(t / "site")],
        EXIT_FINDINGS: lambda f, t: ["guard", "status", "--site-dir", str(t / "site")],
        EXIT_INCOMPLETE: lambda f, t: Run(["guard", "install", "--site-dir", str(t)], file_size_limit=0),
        EXIT_USAGE: lambda f, t: ["guard", "install", "--site-dir", str(f.clean)],
        EXIT_SIGINT: "guard install/uninstall/status write, remove or read one small file at once: nothing to "
                     "interrupt",
    },
    "serve": {
        EXIT_CLEAN: "serve runs until it is stopped, and it is stopped by a signal (130/143)",
        EXIT_FINDINGS: "serve judges nothing at exit; the gateway refuses files per request (HTTP 403)",
        EXIT_INCOMPLETE: "serve fails closed per request (an HTTP error), not by its exit code",
        EXIT_USAGE: lambda f, t: ["serve", "--config", str(t / "missing.toml"), "--db", _db(t)],
        EXIT_SIGINT: lambda f, t: Run(["serve", "--db", _db(t), "--port", "0", "--no-access-log"],
                                      busy_with=t / "inv.db"),
    },
    "token": {
        EXIT_CLEAN: lambda f, t: ["token", "create", "--name", "ci", "--scope", "read,push", "--db", _db(t)],
        EXIT_FINDINGS: "token manages credentials and judges nothing",
        EXIT_INCOMPLETE: "token writes or reads one row in one transaction: it is done or a database error (4)",
        EXIT_USAGE: lambda f, t: ["token", "create", "--name", "ci", "--scope", "everything", "--db", _db(t)],
        EXIT_SIGINT: "token create/list/revoke is one short transaction: nothing to interrupt",
    },
    "rules": {
        EXIT_CLEAN: lambda f, t: ["rules"],
        EXIT_FINDINGS: "rules lists the rule table; it reads no input",
        EXIT_INCOMPLETE: "rules lists the rule table; it reads no input",
        EXIT_USAGE: lambda f, t: ["rules", "--format", "yaml"],
        EXIT_SIGINT: "rules prints a static table at once: nothing to interrupt",
    },
}


# ---- hub-scan (issue 14): a hub stand-in serving the shared files, started once for the module ----------

_HUB: dict[str, object] = {}


def _hub(f: Files) -> str:
    """The base URL of a loopback hub stand-in serving org/clean, org/bad, org/trunc and org/many."""
    if "url" not in _HUB:
        import shutil

        from support.hubserver import HubServer

        server = HubServer(f.root / "hub-server")
        trunc = f.root / "hub-trunc"
        trunc.mkdir(exist_ok=True)
        shutil.copy(f.truncated, trunc / "model.pkl")
        for name, folder in (("clean", f.clean_dir), ("bad", f.bad_dir), ("trunc", trunc), ("many", f.many)):
            server.add_repo(f"org/{name}", folder)
        _HUB["server"], _HUB["url"] = server, server.start()
    return str(_HUB["url"])


def _hub_scan(f: Files, t: Path, *repos: str) -> list[str]:
    listing = t / "repos.txt"
    listing.write_text("\n".join(repos) + "\n")
    return ["hub-scan", "--repos", str(listing), "--db", _db(t), "--endpoint", _hub(f), "-j", "1"]


TABLE["hub-scan"] = {  # issue 14 (append-only)
    EXIT_CLEAN: lambda f, t: _hub_scan(f, t, "org/clean"),
    EXIT_FINDINGS: lambda f, t: _hub_scan(f, t, "org/clean", "org/bad"),
    EXIT_INCOMPLETE: lambda f, t: _hub_scan(f, t, "org/trunc"),
    EXIT_USAGE: lambda f, t: _hub_scan(f, t, "org/clean", "not a repo id"),
    EXIT_SIGINT: lambda f, t: Run(_hub_scan(f, t, "org/many"), busy_with=t / "inv.db"),
}


def _console() -> str:
    import shutil
    import sys

    beside = Path(sys.executable).with_name("mlvet")
    found = str(beside) if beside.exists() else shutil.which("mlvet")
    assert found, "the mlvet console script is not installed"
    return found


def _limit(size: int | None) -> Callable[[], None] | None:
    if size is None:
        return None

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))
    return apply


def _mlvet(*args: str, cwd: Path | None = None, file_size_limit: int | None = None,
           ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([_console(), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False,
                          env={**os.environ, "NO_COLOR": "1"}, preexec_fn=_limit(file_size_limit))


def _cases() -> list[object]:
    cases = []
    for command, row in TABLE.items():
        for code, entry in row.items():
            if isinstance(entry, str):
                continue
            codes = (EXIT_SIGINT, EXIT_SIGTERM) if code == EXIT_SIGINT else (code,)
            cases.extend(pytest.param(command, c, entry, id=f"{command}-{c}") for c in codes)
    return cases


@pytest.mark.parametrize(("command", "code", "scenario"), _cases())
def test_command_ends_with_the_documented_code(files: Files, tmp_path: Path, command: str, code: int,
                                               scenario: Scenario) -> None:
    made = scenario(files, tmp_path)
    run = made if isinstance(made, Run) else Run(made)
    if code not in (EXIT_SIGINT, EXIT_SIGTERM):
        done = _mlvet(*run.args, cwd=tmp_path, file_size_limit=run.file_size_limit)
        assert done.returncode == code, (run.args, done.returncode, done.stderr[-2000:])
        if code in (EXIT_INCOMPLETE, EXIT_USAGE):
            assert re.search(r"^mlvet: (error|note|warning): ", done.stderr, flags=re.MULTILINE) or \
                "ERROR" in done.stdout or "incomplete" in done.stdout.lower(), done.stderr
        assert "Traceback" not in done.stderr
        return
    assert run.busy_with is not None
    before = set(tmp_path.iterdir())
    proc = subprocess.Popen([_console(), *run.args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "NO_COLOR": "1"})
    wait_until_busy(proc, run.busy_with)
    proc.send_signal(signal.SIGINT if code == EXIT_SIGINT else signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == code, (run.args, proc.returncode, err[-2000:])
    assert "mlvet: error: interrupted" in err
    assert "Traceback" not in err
    debris = [p.name for p in set(tmp_path.iterdir()) - before if p.suffix != ".db" and not p.name.endswith("-journal")]
    assert debris == [], debris


def test_every_command_and_code_is_covered() -> None:
    commands = set(get_cli().list_commands(None))  # every command, without importing their modules
    assert commands == set(TABLE), f"commands without an exit-code entry: {commands ^ set(TABLE)}"
    for command, row in TABLE.items():
        codes = set(row) | ({EXIT_SIGTERM} if EXIT_SIGINT in row else set())
        assert codes == set(CODES), (command, sorted(set(CODES) - codes))
        for code, entry in row.items():
            if isinstance(entry, str):
                assert len(entry) > 20, (command, code, "say why the command cannot end this way")


def test_readme_lists_the_codes_the_table_drives() -> None:
    section = README.read_text(encoding="utf-8").split("### Exit codes", 1)[1].split("\n\n", 2)[1]
    assert [int(c) for c in re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)] == list(CODES)


# ---- subcommands added later (append-only): same contract, driven through the real console script ----------


def _linked(f: Files, tmp: Path, *, change: bool = False) -> list[str]:
    data, lock = _locked(f, tmp)
    if change:
        (data / "b.txt").write_text("edited")
    return ["data", "link", str(f.clean_dir), str(data), "--lock", str(lock), "--db", _db(tmp)]


#: ``mlvet data link`` (issue 15, lineage): its rows of the README table.
DATA_LINK: dict[int, Scenario | str] = {
    EXIT_CLEAN: _linked,
    EXIT_FINDINGS: lambda f, t: _linked(f, t, change=True),
    EXIT_INCOMPLETE: "link verifies with data verify's code, where a file that cannot be read is also missing or "
                     "changed: the link then ends 1 (DIFFERS); the data row drives the read errors themselves",
    EXIT_USAGE: lambda f, t: ["data", "link", str(f.clean_dir), "x/y", "--lock", str(t / "missing.lock"),
                              "--db", _db(t)],
    EXIT_SIGINT: "link is interrupted while hashing the dataset, in data verify's hashing code, whose SIGINT and "
                 "SIGTERM handling the data row drives (data lock of 4 GiB); nothing is recorded before it ends",
}


@pytest.mark.parametrize("code", sorted(c for c, s in DATA_LINK.items() if not isinstance(s, str)))
def test_data_link_ends_with_the_documented_code(files: Files, tmp_path: Path, code: int) -> None:
    scenario = DATA_LINK[code]
    assert not isinstance(scenario, str)
    made = scenario(files, tmp_path)
    run = made if isinstance(made, Run) else Run(made)
    done = _mlvet(*run.args, cwd=tmp_path)
    assert done.returncode == code, (run.args, done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr
    if code == EXIT_USAGE:
        assert re.search(r"^mlvet: error: ", done.stderr, flags=re.MULTILINE) or "Error" in done.stderr, done.stderr


def test_data_link_rows_cover_every_code() -> None:
    assert set(DATA_LINK) | {EXIT_SIGTERM} == set(CODES)
    assert all(len(s) > 20 for s in DATA_LINK.values() if isinstance(s, str))


#: ``mlvet data lineage`` (issue 15, lineage listing): its rows of the README table.
DATA_LINEAGE: dict[int, Scenario | str] = {
    EXIT_CLEAN: lambda f, t: ["data", "lineage", "--db", _inventoried(f, t, f.clean_dir)],
    EXIT_FINDINGS: "lineage lists what the database records and judges nothing: score's data_integrity does",
    EXIT_INCOMPLETE: "lineage only reads the database; an unreadable database is a usage error (4)",
    EXIT_USAGE: lambda f, t: ["data", "lineage", "--db", _db(t)],  # no database there yet
    EXIT_SIGINT: "lineage answers from the database at once: there is no long-running work to interrupt",
}


@pytest.mark.parametrize("code", sorted(c for c, s in DATA_LINEAGE.items() if not isinstance(s, str)))
def test_data_lineage_ends_with_the_documented_code(files: Files, tmp_path: Path, code: int) -> None:
    scenario = DATA_LINEAGE[code]
    assert not isinstance(scenario, str)
    made = scenario(files, tmp_path)
    run = made if isinstance(made, Run) else Run(made)
    done = _mlvet(*run.args, cwd=tmp_path)
    assert done.returncode == code, (run.args, done.returncode, done.stderr[-2000:])
    assert "Traceback" not in done.stderr


def test_data_lineage_rows_cover_every_code() -> None:
    assert set(DATA_LINEAGE) | {EXIT_SIGTERM} == set(CODES)
    assert all(len(s) > 20 for s in DATA_LINEAGE.values() if isinstance(s, str))
