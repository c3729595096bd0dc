"""Process behaviour of the real ``mlvet`` console script: output files, a closed stdout, signals, messages.

Each test starts the installed console script in a subprocess, because what is tested belongs to the
process: its exit code, the files it leaves behind, the bytes on its streams, and what a signal does to it.
"""

from __future__ import annotations

import json
import os
import pickle
import resource
import signal
import subprocess
import time
from pathlib import Path

import pytest
from procwatch import wait_until_busy


def _run(exe: str, *args: str, cwd: Path | None = None, timeout: float = 120,
         **kw: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1"}
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, cwd=cwd, env=env,
                          check=False, **kw)  # type: ignore[call-overload, no-any-return]


@pytest.fixture(scope="module")
def many_pickles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3000 small data pickles: a scan that takes long enough to interrupt, with a large JSON report."""
    folder = tmp_path_factory.mktemp("many")
    for i in range(3000):
        (folder / f"f{i:05d}.pkl").write_bytes(pickle.dumps({"weights": list(range(20)), "i": i}, protocol=4))
    return folder


@pytest.fixture(scope="module")
def medium_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fully analysed folder whose worst finding is medium (a chat template using a gadget global)."""
    folder = tmp_path_factory.mktemp("medium")
    template = "{% for m in messages %}{{ cycler(1, 2).next() }}{{ m.content }}{% endfor %}"
    (folder / "tokenizer_config.json").write_text(json.dumps({"chat_template": template}))
    for i in range(1500):
        (folder / f"data{i:04d}.pkl").write_bytes(pickle.dumps([i, i + 1], protocol=2))
    return folder


# -- output files ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [["scan"], ["score"], ["bom", "--format", "cyclonedx"]])
def test_output_in_missing_folder_is_a_usage_error(mlvet_exe: str, many_pickles: Path, tmp_path: Path,
                                                   command: list[str]) -> None:
    target = tmp_path / "no-such-folder" / "out.txt"
    done = _run(mlvet_exe, *command, str(many_pickles), "-o", str(target))
    assert done.returncode == 4, done.stderr
    assert done.stderr.startswith("mlvet: error: cannot write"), done.stderr
    assert "does not exist" in done.stderr
    assert "internal error" not in done.stderr
    assert not target.parent.exists()


def test_output_is_checked_before_the_scan(mlvet_exe: str, many_pickles: Path, tmp_path: Path) -> None:
    # The same 3000-file job with a writable and with an impossible -o, timed in the same test: the refusal
    # costs the process start-up only (a ratio, so a loaded machine slows both alike).
    started = time.monotonic()
    refused = _run(mlvet_exe, "scan", str(many_pickles), "-f", "json", "-o", str(tmp_path / "none" / "x"))
    refusal = time.monotonic() - started
    started = time.monotonic()
    full = _run(mlvet_exe, "scan", str(many_pickles), "-f", "json", "-o", str(tmp_path / "ok.json"))
    job = time.monotonic() - started
    assert (refused.returncode, full.returncode) == (4, 0), (refused.stderr, full.stderr)
    assert refusal < job / 2, (refusal, job)


def _limit_file_size(limit: int) -> None:
    """In the child: files may not grow past ``limit`` bytes (a full disk as the process sees it)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # the write then fails with EFBIG instead of killing us
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))


def test_failed_write_keeps_the_previous_report_and_leaves_no_debris(mlvet_exe: str, many_pickles: Path,
                                                                    tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text("previous report\n")
    done = _run(mlvet_exe, "scan", str(many_pickles), "-f", "json", "-o", str(report),
                preexec_fn=lambda: _limit_file_size(4096))
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("mlvet: error: cannot write the report to"), done.stderr
    assert "the previous file is unchanged" in done.stderr
    assert report.read_text() == "previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_report_file_mode_follows_the_umask(mlvet_exe: str, medium_only: Path, tmp_path: Path,
                                            umask: int, expected: int) -> None:
    report = tmp_path / "report.txt"
    done = _run(mlvet_exe, "scan", str(medium_only / "data0001.pkl"), "-o", str(report),
                preexec_fn=lambda: os.umask(umask))
    assert done.returncode == 0, done.stderr
    assert report.stat().st_mode & 0o777 == expected
    assert "data0001.pkl" in report.read_text()


def test_replacing_a_report_keeps_its_mode(mlvet_exe: str, medium_only: Path, tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_text("old")
    report.chmod(0o640)
    done = _run(mlvet_exe, "scan", str(medium_only / "data0001.pkl"), "-o", str(report))
    assert done.returncode == 0, done.stderr
    assert report.stat().st_mode & 0o777 == 0o640
    assert report.read_text() != "old"


# -- a closed stdout ---------------------------------------------------------------------------------------

@pytest.mark.parametrize(("fail_on", "expected"), [("high", 0), ("medium", 1)])
def test_reader_closing_the_pipe_does_not_change_the_verdict(mlvet_exe: str, medium_only: Path,
                                                             fail_on: str, expected: int) -> None:
    # ``mlvet scan folder -v | head -1``: the reader leaves after one line; the report is far larger than
    # a pipe buffer, so the writer does meet the closed pipe.
    proc = subprocess.Popen([mlvet_exe, "scan", str(medium_only), "-v", "--fail-on", fail_on],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"})
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    code = proc.wait(timeout=120)
    assert first
    assert code == expected, stderr
    assert stderr == "", stderr  # no traceback, no "Exception ignored ... BrokenPipeError"


def test_report_larger_than_a_pipe_buffer(mlvet_exe: str, medium_only: Path) -> None:
    """The folder above really writes more than a pipe holds (else the test above proves nothing)."""
    done = _run(mlvet_exe, "scan", str(medium_only), "-v")
    assert len(done.stdout.encode()) > 65536  # a Linux pipe buffer
    assert done.returncode == 0


# -- signals -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("signum", "expected"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_scan_exits_by_convention_and_keeps_the_old_report(
        mlvet_exe: str, many_pickles: Path, tmp_path: Path, signum: int, expected: int) -> None:
    report = tmp_path / "report.json"
    report.write_text("previous report\n")
    proc = subprocess.Popen([mlvet_exe, "scan", str(many_pickles), "-f", "json", "-o", str(report)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"})
    wait_until_busy(proc, many_pickles)
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == expected, err.decode()
    assert err.decode().strip().endswith("mlvet: error: interrupted"), err.decode()
    assert "Traceback" not in err.decode()
    assert report.read_text() == "previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


# -- messages ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["scan", "--bogus", "x"], ["scan"], ["scan", "--fail-on", "severe", "x"],
                                  ["score", "--format", "pdf", "x"], ["nosuchcommand"]])
def test_usage_errors_have_one_prefix_and_exit_4(mlvet_exe: str, args: list[str]) -> None:
    done = _run(mlvet_exe, *args)
    assert done.returncode == 4, done.stderr
    assert done.stderr.startswith("mlvet: error: "), done.stderr
    assert "Traceback" not in done.stderr
