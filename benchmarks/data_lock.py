"""Training-data benchmark: `mlvet data lock` and `verify` throughput against `sha256sum`, and peak memory.

    python benchmarks/data_lock.py [--gb 1.0] [--dir /tmp/mlvet-bench-data] [--out benchmarks/results-data.md]

Two generated datasets of ``--gb`` GB each (random bytes, so nothing compresses or deduplicates):

* **many small files**: 64 KiB files in 100-file folders (an image dataset unpacked to disk);
* **few large shards**: 256 MiB files (WebDataset-style shards stored as plain files).

Each dataset is hashed, in the same run and on the same files, by ``mlvet data lock`` (default threads),
``mlvet data verify`` against that lock, and GNU ``sha256sum`` over every file (one process, as
``find -type f -print0 | xargs -0 sha256sum``, and two in parallel with ``xargs -P 2``), plus ``openssl dgst
-sha256`` (the SHA-256 code that Python's ``hashlib`` links, so the I/O and hashing code can be told apart).
Every command is a fresh process; wall time, CPU time and peak RSS come from ``os.wait4``. To show that
memory is flat in the dataset's *bytes*, each dataset is also locked at half the size.

The issue asks for 5 GB; the shared machine of this project (2 cores, disk shared by several jobs) is run at
``--gb`` (1 GB by default) instead. Files are read from the page cache after being written (the machine has
far more RAM than the data, and dropping the caches would disturb other jobs), so the figures are hashing
throughput — what a disk-bound run approaches when the disk is faster than SHA-256 on these cores.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

MB = 1 << 20


def _write(path: Path, size: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        left = size
        while left:
            block = min(left, 8 * MB)
            fh.write(os.urandom(block))
            left -= block


def make_small(root: Path, total: int) -> int:
    """64 KiB files, 100 per folder."""
    size = 64 * 1024
    count = max(1, total // size)
    for i in range(count):
        _write(root / f"{i // 100:05d}" / f"{i:07d}.jpg", size)
    return count


def make_large(root: Path, total: int) -> int:
    """256 MiB shards (the last one smaller)."""
    shard = 256 * MB
    count = 0
    left = total
    while left > 0:
        _write(root / f"{count:05d}.bin", min(shard, left))
        left -= shard
        count += 1
    return count


def run(cmd: list[str] | str, shell: bool = False) -> tuple[float, float, float, int]:
    """(wall s, cpu s, peak RSS MiB, exit code) of a fresh process (its children's RSS included via wait4)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, shell=shell, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        sys.stderr.write(proc.stderr.read().decode() if proc.stderr else "")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, code


def bench(name: str, root: Path, total: int, mlvet: str, work: Path) -> list[str]:
    lock = work / f"{name}.lock"
    rows = []
    mb = total / MB
    steps = [
        ("`mlvet data lock`", [mlvet, "data", "lock", str(root), "-o", str(lock)], False),
        ("`mlvet data verify`", [mlvet, "data", "verify", str(root), "--lock", str(lock), "--no-resume"], False),
        ("`sha256sum` (1 process)", f"find {root} -type f -print0 | xargs -0 sha256sum > /dev/null", True),
        ("`sha256sum` (xargs -P 2)", f"find {root} -type f -print0 | xargs -0 -P 2 -n 64 sha256sum > /dev/null",
         True),
        # the SHA-256 that Python's hashlib links (OpenSSL), as a command: separates the hash code from the I/O
        ("`openssl dgst -sha256` (xargs -P 2)",
         f"find {root} -type f -print0 | xargs -0 -P 2 -n 64 openssl dgst -sha256 > /dev/null", True),
    ]
    for label, cmd, shell in steps:
        wall, cpu, rss, code = run(cmd, shell)
        rows.append(f"| {name} | {label} | {wall:.1f} | {cpu:.1f} | {mb / wall:.0f} | {rss:.0f} | {code} |")
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    """Generate, measure, write the Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/mlvet-bench-data"))
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("results-data.md"))
    parser.add_argument("--keep", action="store_true", help="Keep the generated data.")
    args = parser.parse_args()
    mlvet = os.environ.get("MLVET_BIN") or shutil.which("mlvet") or "mlvet"
    total = int(args.gb * 1024 * MB)
    work = args.dir
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    header = ["| dataset | command | wall s | CPU s | MB/s | peak RSS MiB | exit |", "|---|---|---|---|---|---|---|"]
    rows: list[str] = []
    memory: list[str] = []
    try:
        for name, maker in (("many small files", make_small), ("few large shards", make_large)):
            for fraction in (0.5, 1.0):
                size = int(total * fraction)
                root = work / f"{maker.__name__}-{fraction}"
                count = maker(root, size)
                label = f"{name}: {count} files, {size / MB / 1024:.2f} GB"
                if fraction == 1.0:
                    rows += bench(label, root, size, mlvet, work)
                else:  # memory only: lock at half size
                    wall, _cpu, rss, _ = run([mlvet, "data", "lock", str(root), "-o", str(work / "half.lock")])
                    memory.append(f"| {label} | {rss:.0f} | {size / MB / wall:.0f} |")
                    print(memory[-1], flush=True)
                if fraction == 1.0:
                    _, _, rss, _ = run([mlvet, "data", "lock", str(root), "-o", str(work / "full.lock")])
                    memory.append(f"| {label} | {rss:.0f} | — |")
                shutil.rmtree(root)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = [
        "# Training-data benchmark (`benchmarks/data_lock.py`)", "",
        f"Run {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, `--gb {args.gb}` "
        "(scaled down from the issue's 5 GB; see the script's docstring). Files were read from the page cache.", "",
        *header, *rows, "",
        "Peak memory of `mlvet data lock` at half and full size (flat in bytes; grows only with the number of "
        "entries, about 200 bytes each):", "",
        "| dataset | peak RSS MiB | MB/s |", "|---|---|---|", *memory, "",
    ]
    args.out.write_text("\n".join(text))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
