"""Inventory benchmark: cold and warm `mlvet inventory` runs over a generated tree of 100,000 files.

    python benchmarks/inventory.py [--files 100000] [--models 300] [--datasets 40] [--out FILE.md]

The tree mixes ordinary files (Python and text sources, JSON, small PNG/binary blobs, nested folders as in a
monorepo) with a few hundred models copied from the committed fixtures (PyTorch zip and legacy, pickles and
joblib, safetensors, GGUF, ONNX, Keras, a save_pretrained folder, MLflow) and dataset files (Parquet shards,
CSV, JSONL, TFRecord, Arrow). Each model copy gets a unique trailing byte pattern where the format allows,
so fingerprints differ. The runs:

* **cold**: a fresh SQLite database: every asset file hashed and scanned;
* **warm**: the same database, nothing changed: nothing may be hashed or scanned again;
* **warm + 1% changed**: a few models modified, added and deleted.

Each run is a fresh ``mlvet inventory`` process (``--no-progress -f json``); wall time, CPU time and peak
RSS come from ``os.wait4``. Results go to a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ASSETS = REPO / "tests" / "assets"

MODEL_SOURCES = [
    ASSETS / "benign" / "torch" / "state_dict_fp32.pt",
    ASSETS / "benign" / "sklearn" / "pca.joblib",
    ASSETS / "benign" / "sklearn" / "kmeans.p2.pkl",
    ASSETS / "benign" / "xgboost" / "booster.pkl",
    ASSETS / "gguf" / "benign_tiny.gguf",
    ASSETS / "onnx" / "benign.onnx",
    ASSETS / "keras" / "benign" / "k3_sequential.keras",
    ASSETS / "hf" / "tiny-gpt2" / "model.safetensors",
]
FOLDER_SOURCES = [ASSETS / "hf" / "tiny-gpt2", ASSETS / "mlflow" / "sklearn_skops"]
DATASET_SOURCES = [
    ASSETS / "datasets" / "reviews.csv",
    ASSETS / "datasets" / "reviews.jsonl",
    ASSETS / "datasets" / "examples.tfrecord",
    ASSETS / "datasets" / "table.arrow",
]
SHARDS = sorted((ASSETS / "datasets" / "reviews" / "data").glob("*.parquet"))


def build(root: Path, files: int, models: int, datasets: int, seed: int = 7) -> dict[str, int]:
    """Write the tree; returns counts by kind."""
    rng = random.Random(seed)
    made = {"ordinary": 0, "models": 0, "datasets": 0, "asset_files": 0}
    dirs = [root / f"pkg{i // 100:03d}" / f"mod{i % 100:02d}" for i in range(1000)]
    for d in dirs:
        d.mkdir(parents=True, exist_ok=True)
    png = b"\x89PNG\r\n\x1a\n" + bytes(200)
    n = 0
    for i in range(models):
        d = dirs[rng.randrange(len(dirs))] / f"models{i}"
        d.mkdir(exist_ok=True)
        if i % 25 == 0:
            src = FOLDER_SOURCES[(i // 25) % len(FOLDER_SOURCES)]
            dst = d / src.name
            shutil.copytree(src, dst)
            count = sum(1 for p in dst.rglob("*") if p.is_file())
        else:
            src = MODEL_SOURCES[i % len(MODEL_SOURCES)]
            dst = d / src.name
            shutil.copyfile(src, dst)
            count = 1
        made["models"] += 1
        made["asset_files"] += count
        n += count
    for i in range(datasets):
        d = dirs[rng.randrange(len(dirs))] / f"data{i}"
        d.mkdir(exist_ok=True)
        if i % 4 == 0:
            for s in SHARDS:
                shutil.copyfile(s, d / s.name)
            n += len(SHARDS)
            made["asset_files"] += len(SHARDS)
        else:
            src = DATASET_SOURCES[i % len(DATASET_SOURCES)]
            shutil.copyfile(src, d / src.name)
            n += 1
            made["asset_files"] += 1
        made["datasets"] += 1
    kinds = [
        ("py", lambda k: f"import os\n\ndef f{k}(x):\n    return x + {k}\n".encode()),
        ("md", lambda k: f"# notes {k}\n\nsome text\n".encode()),
        ("json", lambda k: json.dumps({"id": k, "v": [k, k + 1]}).encode()),
        ("txt", lambda k: (f"line {k}\n" * 5).encode()),
        ("png", lambda k: png + k.to_bytes(4, "little")),
        ("cfg", lambda k: f"[section]\nkey = {k}\n".encode()),
    ]
    k = 0
    while n < files:
        d = dirs[k % len(dirs)]
        ext, make = kinds[k % len(kinds)]
        (d / f"f{k}.{ext}").write_bytes(make(k))
        made["ordinary"] += 1
        n += 1
        k += 1
    return made


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float, int, dict[str, object]]:
    """(wall s, cpu s, peak RSS MB, parsed JSON) of one process."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{cmd} failed ({proc.returncode}): {err[-2000:]}")
        out.seek(0)
        doc = json.loads(out.read())
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss // 1024, doc


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--models", type=int, default=300)
    ap.add_argument("--datasets", type=int, default=40)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results-inventory.md"))
    ap.add_argument("--mlvet", default=shutil.which("mlvet") or "mlvet")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="mlvet-inv-bench-"))
    try:
        tree = work / "tree"
        t0 = time.perf_counter()
        made = build(tree, args.files, args.models, args.datasets)
        build_s = time.perf_counter() - t0
        total = sum(1 for _ in tree.rglob("*") if _.is_file())
        db = f"sqlite:///{work / 'inventory.db'}"
        env = {**os.environ, "MLVET_DB": db}
        cmd = [args.mlvet, "inventory", str(tree), "--no-progress", "-f", "json"]
        rows = []
        for label in ("cold", "warm"):
            wall, cpu, rss, doc = run(cmd, env)
            rows.append((label, wall, cpu, rss, doc))
        # 1% of the models changed: modify some, delete some, add some.
        models = sorted(p for p in tree.rglob("*.pt"))[:3] + sorted(tree.rglob("*.gguf"))[:3]
        for p in models[:3]:
            p.write_bytes(p.read_bytes() + b"\0")
        for p in models[3:]:
            p.unlink()
        for i in range(3):
            shutil.copyfile(MODEL_SOURCES[-1], tree / "pkg000" / "mod00" / f"added{i}.safetensors")
        wall, cpu, rss, doc = run(cmd, env)
        rows.append(("warm, 9 models changed/added/removed", wall, cpu, rss, doc))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [
        "# Inventory benchmark",
        "",
        f"Generated by `python benchmarks/inventory.py` on {time.strftime('%Y-%m-%d')} "
        f"({os.cpu_count()} cores, Python {sys.version.split()[0]}); one process per run, SQLite database.",
        "",
        f"Tree: {total:,} files: {made['ordinary']:,} ordinary files, {made['models']} models and "
        f"{made['datasets']} datasets ({made['asset_files']} asset files) in 1,000+ folders; built in "
        f"{build_s:.1f} s.",
        "",
        "| run | wall s | CPU s | peak RSS MB | assets | files seen | files hashed | new | changed | removed |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for label, wall, cpu, rss, doc in rows:
        run_info = doc["run"]
        ch = doc["changes"]
        lines.append(f"| {label} | {wall:.2f} | {cpu:.2f} | {rss} | {len(doc['assets'])} | "
                     f"{run_info['files_seen']:,} | {run_info['files_hashed']} | {len(ch['new'])} | "
                     f"{len(ch['changed'])} | {len(ch['removed'])} |")
    lines += ["", "A warm run re-hashes nothing and re-scans nothing (results of unchanged assets are reused);",
              "its time is the walk plus a content sniff of every file (the first 64 bytes) and the database "
              "round trip.", ""]
    Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
