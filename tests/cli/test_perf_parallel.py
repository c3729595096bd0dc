"""Parallel scans pay off and stay correct: batching, the default job count, order, and workers that die.

The timing itself is measured by ``benchmarks/cli_perf.py`` (a shared CI machine cannot assert speed-ups);
these tests pin the mechanisms the speed depends on and the guarantees that must not be traded for it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlvet.model import FileResult, Status
from mlvet.parallel import (
    BATCH_MAX_FILES,
    MAX_DEFAULT_JOBS,
    PARALLEL_MIN_FILES,
    WorkerPool,
    available_cpus,
    default_jobs,
    make_batches,
    ordered,
    resolve_jobs,
)
from mlvet.scanner import scan

BENIGN = Path(__file__).resolve().parents[1] / "assets" / "benign"


def mlvet_command() -> list[str]:
    """The installed console script next to this interpreter, else ``python -m mlvet``."""
    script = Path(sys.executable).with_name("mlvet")
    return [str(script)] if script.exists() else [sys.executable, "-m", "mlvet"]


# ---- batching -------------------------------------------------------------------------------------------


def test_small_files_share_tasks_and_every_file_is_in_exactly_one() -> None:
    sizes = [1000] * 10_000
    batches = make_batches(sizes, jobs=2)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(10_000))
    assert all(len(b) <= BATCH_MAX_FILES for b in batches)
    assert len(batches) <= 10_000 / BATCH_MAX_FILES + 1  # ~160 tasks, not 10,000


def test_batches_leave_several_tasks_per_worker() -> None:
    """Few files: small tasks, so that one slow file cannot keep the other workers idle."""
    batches = make_batches([10] * 40, jobs=2)
    assert len(batches) >= 8
    assert sorted(i for b in batches for i in b) == list(range(40))


def test_a_big_file_is_a_task_of_its_own_and_goes_first() -> None:
    sizes = [100] * 50 + [5 << 30] + [100] * 50
    batches = make_batches(sizes, jobs=2, max_bytes=64 << 20)
    assert batches[0] == [50]
    assert all(50 not in b for b in batches[1:])


def test_bytes_cap_splits_medium_files() -> None:
    sizes = [30 << 20] * 6
    batches = make_batches(sizes, jobs=1, max_files=64, max_bytes=64 << 20)
    assert all(sum(sizes[i] for i in b) <= 64 << 20 for b in batches)
    assert sorted(i for b in batches for i in b) == list(range(6))


# ---- the default job count ------------------------------------------------------------------------------


def test_default_is_one_process_for_small_inputs() -> None:
    assert default_jobs(1, 10, cpus=8) == 1
    assert default_jobs(PARALLEL_MIN_FILES - 1, 10_000, cpus=8) == 1
    assert default_jobs(50_000, 10 << 30, cpus=1) == 1


def test_default_uses_the_cpus_for_big_inputs_capped() -> None:
    assert default_jobs(10_000, 40 << 20, cpus=2) == 2
    assert default_jobs(10_000, 40 << 20, cpus=64) == MAX_DEFAULT_JOBS
    assert default_jobs(3, 60 << 30, cpus=8) == 3  # three huge files: one worker each, no more


def test_explicit_jobs_are_kept_but_never_exceed_the_files() -> None:
    assert resolve_jobs(4, 100, 0) == 4
    assert resolve_jobs(4, 2, 0) == 2
    assert resolve_jobs(0, 5, 0) == 1
    assert 1 <= available_cpus() <= (os.cpu_count() or 1)


# ---- correctness ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """~300 files copied from the real-library fixtures (over the parallel threshold)."""
    root = tmp_path_factory.mktemp("many")
    sources = [p for sub in ("sklearn", "torch", "numpy") for p in sorted((BENIGN / sub).iterdir())
               if p.is_file() and p.stat().st_size < 2_000_000]
    assert len(sources) > 10
    i = 0
    while i < PARALLEL_MIN_FILES + 100:
        src = sources[i % len(sources)]
        shutil.copy(src, root / f"{i:04d}_{src.name}")
        i += 1
    return root


def _comparable(doc: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in doc.items() if k not in ("started_at", "finished_at")}


def test_console_script_reports_are_identical_for_every_job_count(many_files: Path) -> None:
    docs = []
    for jobs in ("1", "2", "0"):
        proc = subprocess.run([*mlvet_command(), "scan", str(many_files), "--format", "json", "-j", jobs],
                              capture_output=True, text=True, timeout=300, check=False)
        assert proc.returncode in (0, 1, 2), proc.stderr
        docs.append(_comparable(json.loads(proc.stdout)))
    assert len(docs[0]["results"]) == PARALLEL_MIN_FILES + 100  # type: ignore[arg-type]
    assert docs[0] == docs[1] == docs[2]


def test_progress_sees_every_result_once_and_start_reports_the_bytes(many_files: Path) -> None:
    seen: list[FileResult] = []
    started: list[tuple[int, int]] = []
    report = scan([many_files], jobs=2, progress=seen.append, on_start=lambda n, b, _f: started.append((n, b)))
    total = sum(p.stat().st_size for p in many_files.iterdir())
    assert started == [(len(report.results), total)]
    assert sorted(r.path for r in seen) == sorted(r.path for r in report.results)
    assert [r.path for r in report.results] == sorted(r.path for r in report.results)  # input order


def _die_on_marked(state: str, item: str) -> str:
    if item == "die":
        os._exit(3)
    return f"{state}:{item}"


def test_a_worker_that_dies_fails_closed() -> None:
    items = ["a", "b", "die", "c"]
    with WorkerPool[str, str](2, "S") as pool:
        out = ordered(len(items), pool.submit(_die_on_marked, items, [1] * len(items),
                                              lambda item, why: f"FAILED {item}: {why}"))
    assert len(out) == 4
    assert out[2].startswith("FAILED die")
    assert all(o in (f"S:{i}",) or o.startswith(f"FAILED {i}") for o, i in zip(out, items, strict=True))


def test_worker_failure_becomes_an_error_result_in_a_scan(many_files: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The scanner's ``on_failure``: an error result per file of a failed batch, never a missing or clean one."""
    import mlvet.scanner as scanner_mod

    monkeypatch.setattr(scanner_mod, "_scan_item", _crash_item)
    report = scan([many_files], jobs=2)
    assert len(report.results) == PARALLEL_MIN_FILES + 100
    assert all(r.status is Status.ERROR and "worker process failed" in r.errors[0] for r in report.results)
    assert report.incomplete


def _crash_item(policy: object, path: str) -> FileResult:
    raise RuntimeError("boom")


# ---- progress within big files --------------------------------------------------------------------------


def test_reading_position_follows_the_scanned_descriptor(tmp_path: Path) -> None:
    from mlvet.parallel import note_reading, reading_position

    target = tmp_path / "big.bin"
    target.write_bytes(b"\0" * 100_000)
    with open(target, "rb") as fh:
        note_reading(fh.fileno())
        try:
            fh.seek(12_345)
            assert reading_position() == 12_345
        finally:
            note_reading(-1)
    assert reading_position() == 0


def _read_and_wait(path: str, item: int) -> int:
    from mlvet.parallel import note_reading

    with open(path, "rb") as fh:
        note_reading(fh.fileno())
        fh.seek(item)
        import time

        time.sleep(3)
        note_reading(-1)
    return item


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads worker offsets from /proc")
def test_pool_reports_the_bytes_its_workers_have_read(tmp_path: Path) -> None:
    import time

    target = tmp_path / "big.bin"
    target.write_bytes(b"\0" * 1_000_000)
    with WorkerPool[int, int](2, str(target)) as pool:
        arriving = pool.submit(_read_and_wait, [300_000, 500_000], [1, 1], lambda item, why: -1)
        deadline = time.monotonic() + 60
        seen = 0
        while time.monotonic() < deadline and seen < 300_000:
            seen = pool.in_flight()
            time.sleep(0.05)
        assert seen in (300_000, 500_000, 800_000)  # one worker's offset, or both (they run side by side)
        assert sorted(r for _i, r in arriving) == [300_000, 500_000]
    pool.in_flight()  # the workers are gone: still answers, never raises
