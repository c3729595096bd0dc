"""The guard's machinery: the verdict cache, streams, process-internal pickling, entry points, the hook.

Payloads here are plain pickles (fast); the loaders' own behaviour is in ``test_guard_loaders.py``.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import os
import pickle
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import _guard_support as gs
import pytest

REPO = Path(__file__).resolve().parents[2]
BENIGN = {"weights": [0.5, 1.5], "name": "tiny"}


def _square(x: int) -> int:
    return x * x


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLVET_GUARD")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO / "src"), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(extra)
    return env


# ---- cache ----------------------------------------------------------------------------------------------


def test_verdict_survives_a_new_installation_through_the_disk_cache(tmp_path: Path, guard: Any) -> None:
    p = tmp_path / "ok.pkl"
    p.write_bytes(pickle.dumps(BENIGN))
    with open(p, "rb") as f:
        assert pickle.load(f) == BENIGN
    assert guard.scans == 1
    guard.reinstall()  # fresh memory: only the disk cache knows the file
    with open(p, "rb") as f:
        assert pickle.load(f) == BENIGN
    assert guard.scans == 0 and guard.hits == 1


def test_file_rewritten_in_place_is_scanned_again(tmp_path: Path, canary: Path, guard: Any) -> None:
    p = tmp_path / "model.pkl"
    p.write_bytes(pickle.dumps(BENIGN))
    with open(p, "rb") as f:
        assert pickle.load(f) == BENIGN
    gs.evil_pickle(p, canary)  # same path, same inode, new content
    with pytest.raises(guard.module.UnsafeModelError), open(p, "rb") as f:
        pickle.load(f)
    assert not canary.exists()
    assert guard.scans == 2


def test_cached_entry_for_other_content_is_never_trusted(tmp_path: Path, canary: Path, guard: Any) -> None:
    good, bad = tmp_path / "good.pkl", tmp_path / "bad.pkl"
    good.write_bytes(pickle.dumps(BENIGN))
    gs.evil_pickle(bad, canary)
    with open(good, "rb") as f:
        pickle.load(f)
    from mlvet.guard.cache import VerdictCache

    # Plant the clean verdict of good.pkl under bad.pkl's key: the entry names another hash, so it is a miss.
    checker = guard.module._Installed.patcher.checker
    cache: VerdictCache = checker.cache
    import hashlib

    bad_sha = hashlib.sha256(bad.read_bytes()).hexdigest()
    key = cache._verdict_key(bad_sha)
    entries = list(Path(guard.cache_dir, "v").rglob("*.json"))
    assert entries, "the verdict was not written to disk"
    data = json.loads(entries[0].read_text())
    target = Path(guard.cache_dir, "v", key[:2], key + ".json")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({**data, "key": key}))  # sha256 still names good.pkl's content
    guard.reinstall()
    with pytest.raises(guard.module.UnsafeModelError), open(bad, "rb") as f:
        pickle.load(f)
    assert not canary.exists()


def test_cache_folder_writable_by_others_is_not_used(tmp_path: Path) -> None:
    from mlvet.guard.cache import VerdictCache

    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    assert VerdictCache("digest", str(shared)).directory is None
    private = tmp_path / "private"
    assert VerdictCache("digest", str(private)).directory == str(private)
    assert stat.S_IMODE(private.stat().st_mode) == 0o700


def test_policy_and_threshold_are_part_of_the_cache_key(tmp_path: Path, guard: Any) -> None:
    p = tmp_path / "ok.pkl"
    p.write_bytes(pickle.dumps(BENIGN))
    with open(p, "rb") as f:
        pickle.load(f)
    guard.reinstall(fail_on="low")
    with open(p, "rb") as f:
        pickle.load(f)
    assert guard.scans == 1 and guard.hits == 0


def test_folder_with_unrecognised_data_loads_but_broken_pickle_is_refused(tmp_path: Path, guard: Any) -> None:
    transformers = pytest.importorskip("transformers")
    folder = gs.tiny_bert(tmp_path / "bert")
    (folder / "tokenizer.model").write_bytes(bytes(range(256)) * 8)  # a binary format mlvet does not know
    assert mlvet_scan_status(folder / "tokenizer.model") == ("other", "error")
    model = transformers.AutoModel.from_pretrained(str(folder))
    assert type(model).__name__ == "BertModel"
    (folder / "extra.bin").write_bytes(pickle.dumps({"a": list(range(100))}, protocol=4)[:40])  # truncated
    with pytest.raises(guard.module.UnsafeModelError, match=r"malformed|truncated|not fully analysed"):
        transformers.AutoModel.from_pretrained(str(folder))
    with pytest.raises(guard.module.UnsafeModelError), open(folder / "tokenizer.model", "rb") as f:
        pickle.load(f)  # named directly, unrecognised content still fails closed


def mlvet_scan_status(path: Path) -> tuple[str, str]:
    import mlvet

    result = mlvet.scan([path]).results[0]
    return result.format, result.status.value


# ---- streams and bytes ------------------------------------------------------------------------------------


def test_unseekable_stream_reads_exactly_one_pickle(guard: Any) -> None:
    r, w = os.pipe()
    with os.fdopen(w, "wb") as fw:
        fw.write(pickle.dumps(BENIGN) + pickle.dumps([1, 2, 3]) + b"tail")
    with os.fdopen(r, "rb", buffering=0) as fr:
        assert pickle.load(fr) == BENIGN
        assert pickle.load(fr) == [1, 2, 3]
        assert fr.read() == b"tail"
    assert guard.scans == 2


def test_unseekable_stream_with_payload_is_refused(canary: Path, tmp_path: Path, guard: Any) -> None:
    data = gs.evil_pickle(tmp_path / "e.pkl", canary).read_bytes()
    r, w = os.pipe()
    with os.fdopen(w, "wb") as fw:
        fw.write(data)
    with os.fdopen(r, "rb", buffering=0) as fr, pytest.raises(guard.module.UnsafeModelError):
        pickle.load(fr)
    assert not canary.exists()


def test_seekable_stream_keeps_its_position(guard: Any) -> None:
    buf = io.BytesIO(b"junk" + pickle.dumps(BENIGN) + pickle.dumps("second"))
    buf.seek(4)
    assert pickle.load(buf) == BENIGN
    assert pickle.load(buf) == "second"


def test_fifo_path_is_refused_not_read(tmp_path: Path, guard: Any) -> None:
    fifo = tmp_path / "model.fifo"
    os.mkfifo(fifo)
    with pytest.raises(guard.module.UnsafeModelError, match="not a regular file"):
        guard.module._Installed.patcher.checker.check_path(fifo, "torch.load")


def test_loads_arguments_pass_through(guard: Any) -> None:
    data = pickle.dumps(b"\xff\xfe", protocol=0)
    assert pickle.loads(data, encoding="bytes") == pickle.loads(bytearray(data))
    with pytest.raises(TypeError):
        pickle.loads("not bytes")  # the library's own error, unchanged


def test_payload_cannot_uninstall_the_guard_first(tmp_path: Path, canary: Path, guard: Any) -> None:
    """A pickle that calls ``mlvet.guard.uninstall()`` before its payload is scanned, not run."""
    import mlvet.guard

    class Off:
        def __reduce__(self) -> tuple[Any, ...]:
            return (mlvet.guard.uninstall, ())

    blob = pickle.dumps([Off(), gs.Canary(canary)], protocol=4)
    with pytest.raises(mlvet.guard.UnsafeModelError):
        pickle.loads(blob)
    assert mlvet.guard.installed() and not canary.exists()


def test_uninstall_restores_the_original_loaders() -> None:
    import mlvet.guard

    torch = pytest.importorskip("torch")
    before = (pickle.load, pickle.loads, torch.load, torch.serialization.load)
    mlvet.guard.install(disk_cache=False)
    assert pickle.load is not before[0] and torch.load is not before[2]
    mlvet.guard.install(disk_cache=False)  # reinstalling replaces, never stacks
    assert getattr(pickle.load, "__mlvet_guard_original__", None) is before[0]
    mlvet.guard.uninstall()
    assert (pickle.load, pickle.loads, torch.load, torch.serialization.load) == before


def test_multiprocessing_is_not_scanned(guard: Any) -> None:
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(1) as pool:
        assert pool.map(_square, [1, 2, 3]) == [1, 4, 9]
    assert guard.scans == 0


# ---- entry points -----------------------------------------------------------------------------------------


def _script(tmp_path: Path, target: Path) -> Path:
    script = tmp_path / "load.py"
    script.write_text(textwrap.dedent(f"""
        import pickle, sys
        print("argv", sys.argv[1:])
        with open({str(target)!r}, "rb") as f:
            print("loaded", pickle.load(f))
    """))
    return script


def test_python_m_mlvet_guard_runs_a_script(tmp_path: Path, canary: Path) -> None:
    ok = tmp_path / "ok.pkl"
    ok.write_bytes(pickle.dumps(BENIGN))
    env = _env(MLVET_GUARD_CACHE="off")
    proc = subprocess.run([sys.executable, "-m", "mlvet.guard", str(_script(tmp_path, ok)), "a", "--b"],
                          capture_output=True, text=True, check=False, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "argv ['a', '--b']" in proc.stdout and "loaded {'weights'" in proc.stdout
    evil = gs.evil_pickle(tmp_path / "evil.pkl", canary)
    proc = subprocess.run([sys.executable, "-m", "mlvet.guard", str(_script(tmp_path, evil))],
                          capture_output=True, text=True, check=False, env=env, timeout=300)
    assert proc.returncode == 1
    assert "UnsafeModelError" in proc.stderr and "PKL100" in proc.stderr and str(evil) in proc.stderr
    assert not canary.exists()


def _with_hook(tmp_path: Path) -> dict[str, str]:
    """Make the hook's site folder a real site folder for child processes (sitecustomize → addsitedir)."""
    from mlvet.cli import main

    site_dir = tmp_path / "site"
    assert main(["guard", "install", "--site-dir", str(site_dir)]) == 0
    boot = tmp_path / "boot"
    boot.mkdir()
    (boot / "sitecustomize.py").write_text(f"import site\nsite.addsitedir({str(site_dir)!r})\n")
    return _env(PYTHONPATH=os.pathsep.join([str(boot), str(REPO / "src")]), MLVET_GUARD_CACHE="off")


def test_pth_hook_guards_only_when_the_variable_is_set(tmp_path: Path, canary: Path) -> None:
    env = _with_hook(tmp_path)
    evil = gs.evil_pickle(tmp_path / "evil.pkl", canary)
    code = f"import pickle, sys; pickle.load(open({str(evil)!r}, 'rb'))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False,
                          env={**env, "MLVET_GUARD": "1"}, timeout=300)
    assert proc.returncode == 1 and "UnsafeModelError" in proc.stderr, proc.stderr
    assert not canary.exists()
    off = subprocess.run([sys.executable, "-c", "import sys; print('mlvet.guard' in sys.modules)"],
                         capture_output=True, text=True, check=False, env={**env, "MLVET_GUARD": "0"}, timeout=300)
    assert off.stdout.strip() == "False"


def test_pth_hook_guarded_spawn_workers_still_work(tmp_path: Path) -> None:
    """A spawned child reads its bootstrap pickle from a pipe with the guard installed: not refused."""
    env = {**_with_hook(tmp_path), "MLVET_GUARD": "1"}
    (tmp_path / "work.py").write_text(textwrap.dedent("""
        import multiprocessing, sys
        def square(x):
            return x * x
        if __name__ == "__main__":
            with multiprocessing.get_context("spawn").Pool(2) as pool:
                print(pool.map(square, range(4)), "mlvet.guard" in sys.modules)
    """))
    proc = subprocess.run([sys.executable, str(tmp_path / "work.py")], capture_output=True, text=True, check=False,
                          env=env, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[0, 1, 4, 9] True"


def test_pth_hook_with_a_bad_policy_stops_the_interpreter(tmp_path: Path) -> None:
    env = {**_with_hook(tmp_path), "MLVET_GUARD": "1", "MLVET_GUARD_POLICY": str(tmp_path / "missing.toml")}
    proc = subprocess.run([sys.executable, "-c", "print('ran')"], capture_output=True, text=True, check=False, env=env,
                          timeout=300)
    assert proc.returncode == 4 and "ran" not in proc.stdout
    assert "could not be installed" in proc.stderr


def test_guard_command_install_status_uninstall(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlvet.cli import main
    from mlvet.guard.pth import PTH_NAME

    site_dir = str(tmp_path / "site")
    assert main(["guard", "status", "--site-dir", site_dir]) == 1
    assert main(["guard", "install", "--site-dir", site_dir]) == 0
    assert (tmp_path / "site" / PTH_NAME).read_text().startswith("import os;")
    assert main(["guard", "status", "--site-dir", site_dir]) == 0
    assert main(["guard", "uninstall", "--site-dir", site_dir]) == 0
    assert not (tmp_path / "site" / PTH_NAME).exists()
    assert "removed" in capsys.readouterr().out


def test_transformers_imported_before_install_is_guarded(tmp_path: Path, canary: Path) -> None:
    """transformers imported before install() (no import hook involved), then installed twice: still refused."""
    pytest.importorskip("transformers")
    folder = gs.evil_remote_code(tmp_path / "bert", canary)
    code = textwrap.dedent(f"""
        from transformers import AutoConfig, AutoModel
        import mlvet.guard
        for round in range(2):  # install, then reinstall
            mlvet.guard.install(disk_cache=False)
            for loader in (AutoConfig, AutoModel):
                try:
                    loader.from_pretrained({str(folder)!r}, trust_remote_code=True)
                except mlvet.guard.UnsafeModelError as err:
                    print("refused", loader.__name__, [f.rule_id for f in err.findings][:1])
    """)
    env = _env(HF_MODULES_CACHE=str(tmp_path / "modules"), HF_HUB_OFFLINE="1")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("refused") == 4, proc.stdout + proc.stderr[-2000:]
    assert not canary.exists()
