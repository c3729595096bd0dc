"""CLI performance benchmark: parallel scans (``-j``) and whole-process start-up against the peers.

    python benchmarks/cli_perf.py [--repeat 5] [--out benchmarks/results-cli.md] [--skip-peers]

Inputs are made locally with the real libraries (``torch==2.13.0``, scikit-learn, safetensors) under
``benchmarks/.corpus/cli`` (override with ``MLVET_BENCH_CORPUS``):

* **small**: 10,000 small files in 100 folders, as a repository of many models and their side files: scikit-
  learn pickles, PyTorch state dicts, safetensors, JSON configs, Python and text files;
* **models**: 50 model files (PyTorch checkpoints of a few MB, scikit-learn pickles, safetensors);
* **big**: one 500 MB PyTorch checkpoint (``torch.save`` of a dict of float32 tensors).

Runs, each a fresh process timed with ``os.wait4`` (wall and CPU time of the process and its workers):

* ``mlvet scan -j 1``, ``-j 2`` and the default (no ``-j``) on *small* and *models*;
* ``mlvet inventory --rescan -j 1`` and ``-j 2`` on *small* (a warm hash cache, so the scans are measured);
* ``mlvet scan big.pt --format json`` against ``picklescan -p`` and ``modelscan -p`` (from
  ``benchmarks/.venv-peers``; ``bash benchmarks/setup_peers.sh`` installs them), interleaved run by run so
  that a change in the machine's load hits every tool alike. mlvet runs from ``benchmarks/.venv-mlvet``
  when it exists (``python -m venv benchmarks/.venv-mlvet && benchmarks/.venv-mlvet/bin/pip install -e .``),
  set up like the peers' environment, else from the interpreter running this script.

Every figure is the median of ``--repeat`` runs; the load average is printed before and after, because on a
shared machine wall time is inflated (CPU time less so). Results go to a Markdown file.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PEERS = REPO / "benchmarks" / ".venv-peers" / "bin"
MLVET_VENV = REPO / "benchmarks" / ".venv-mlvet" / "bin"
CORPUS = Path(os.environ.get("MLVET_BENCH_CORPUS", REPO / "benchmarks" / ".corpus")) / "cli"


def _templates() -> dict[str, bytes]:
    """One small file of each kind, written by the real libraries."""
    import pickle

    import numpy as np
    import torch  # noqa: TID251 - the benchmark makes its inputs with the real library
    from safetensors.torch import save as st_save
    from sklearn.linear_model import LogisticRegression
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4)), np.arange(40) % 2
    out: dict[str, bytes] = {}
    out["logreg.pkl"] = pickle.dumps(LogisticRegression().fit(x, y), protocol=4)
    out["tree.pkl"] = pickle.dumps(DecisionTreeClassifier(max_depth=3).fit(x, y), protocol=5)
    buf = io.BytesIO()
    torch.save(torch.nn.Linear(8, 4).state_dict(), buf)
    out["linear.pt"] = buf.getvalue()
    out["linear.safetensors"] = st_save({"w": torch.zeros(8, 4), "b": torch.zeros(4)})
    out["config.json"] = b'{"model_type": "linear", "hidden_size": 8, "labels": ["a", "b"]}\n'
    out["train.py"] = b"import torch\n\n\ndef main():\n    model = torch.nn.Linear(8, 4)\n    print(model)\n"
    out["README.txt"] = b"A small model.\n" * 10
    return out


def _models() -> dict[str, bytes]:
    """Model files of a few MB each, as a model zoo folder holds them."""
    import pickle

    import numpy as np
    import torch  # noqa: TID251 - the benchmark makes its inputs with the real library
    from safetensors.torch import save as st_save
    from sklearn.ensemble import RandomForestClassifier

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    out: dict[str, bytes] = {}
    mlp = torch.nn.Sequential(torch.nn.Linear(512, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 512))
    buf = io.BytesIO()
    torch.save(mlp.state_dict(), buf)
    out["mlp.pt"] = buf.getvalue()
    out["mlp.safetensors"] = st_save({k: v.contiguous() for k, v in mlp.state_dict().items()})
    x, y = rng.normal(size=(300, 8)), np.arange(300) % 3
    out["forest.pkl"] = pickle.dumps(RandomForestClassifier(n_estimators=30, random_state=0).fit(x, y), protocol=5)
    return out


def build(corpus: Path) -> dict[str, Path]:
    """Make the three inputs (once; a marker file says they are complete)."""
    small, models, big = corpus / "small", corpus / "models", corpus / "big.pt"
    marker = corpus / ".complete"
    if marker.exists():
        return {"small": small, "models": models, "big": big}
    shutil.rmtree(corpus, ignore_errors=True)
    small.mkdir(parents=True)
    models.mkdir()
    templates = list(_templates().items())
    for i in range(10_000):
        name, data = templates[i % len(templates)]
        folder = small / f"m{i // 100:03d}"
        folder.mkdir(exist_ok=True)
        stem, ext = os.path.splitext(name)
        (folder / f"{stem}_{i}{ext}").write_bytes(data)
    zoo = list(_models().items())
    for i in range(50):
        name, data = zoo[i % len(zoo)]
        stem, ext = os.path.splitext(name)
        (models / f"{stem}_{i}{ext}").write_bytes(data)
    import torch  # noqa: TID251 - the benchmark makes its inputs with the real library

    torch.manual_seed(0)
    torch.save({f"layer{i}.weight": torch.randn(1024, 1024) for i in range(125)}, big)
    marker.write_text("ok\n")
    return {"small": small, "models": models, "big": big}


def timed(cmd: list[str], cwd: str | None = None) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system of the process and the children it waited for), exit code.

    A command starting with ``PYTHONPATH=DIR`` runs with that environment variable (the baseline's source).
    ``PYTHONDONTWRITEBYTECODE`` is dropped, so the warm-up run leaves ``.pyc`` files as an installed package
    has them (without them every run compiles mlvet's sources, ~0.1 s).
    """
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    if cmd and cmd[0].startswith("PYTHONPATH="):
        env["PYTHONPATH"] = cmd[0].partition("=")[2]
        cmd = cmd[1:]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=cwd)
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    before = usage.ru_utime + usage.ru_stime
    return wall, before, proc.returncode


def run_set(commands: dict[str, list[str]], repeat: int,
            cwd: str | None = None) -> dict[str, tuple[float, float, set[int]]]:
    """Run each command ``repeat`` times, interleaved; median wall and CPU seconds and the exit codes seen."""
    walls: dict[str, list[float]] = {k: [] for k in commands}
    cpus: dict[str, list[float]] = {k: [] for k in commands}
    codes: dict[str, set[int]] = {k: set() for k in commands}
    for cmd in commands.values():  # one warm-up each (page cache, .pyc files)
        timed(cmd, cwd)
    for _ in range(repeat):
        for name, cmd in commands.items():
            wall, cpu, code = timed(cmd, cwd)
            walls[name].append(wall)
            cpus[name].append(cpu)
            codes[name].add(code)
    return {k: (statistics.median(walls[k]), statistics.median(cpus[k]), codes[k]) for k in commands}


def inventory_section(folder: Path, mlvet: list[str], args: argparse.Namespace) -> list[str]:
    """``mlvet inventory --rescan`` of the small files with -j 1 and -j 2 (and the baseline), warm hash cache."""
    import tempfile

    lines = ["## `mlvet inventory --rescan` of the 10,000 small files", "",
             "| run | wall s (median) | CPU s (median) | exit |", "|---|---|---|---|"]
    with tempfile.TemporaryDirectory() as tmp:
        commands: dict[str, list[str]] = {}
        sources = [("", None)] + ([("baseline ", args.baseline_src)] if args.baseline_src else [])
        for label, src in sources:
            db = f"sqlite:///{tmp}/{label.strip() or 'current'}.db"
            prefix = [f"PYTHONPATH={src}"] if src else []
            base = [*prefix, *mlvet, "inventory", str(folder), "--db", db, "--rescan", "-f", "json", "--no-progress"]
            for j in ("1", "2"):
                commands[f"{label}-j {j}"] = [*base, "-j", j]
        res = run_set(commands, args.repeat)  # the warm-up run fills each database's hash cache
    for run, (wall, cpu, codes) in res.items():
        lines.append(f"| {run} | {wall:.2f} | {cpu:.2f} | {','.join(map(str, sorted(codes)))} |")
    print("\n".join(lines), flush=True)
    return [*lines, ""]


def _mlvet() -> list[str]:
    """mlvet's console script: from ``benchmarks/.venv-mlvet`` when it exists, else next to this interpreter.

    The peers run from a virtual environment without the system site-packages; mlvet is timed the same way
    (``python -m venv benchmarks/.venv-mlvet && benchmarks/.venv-mlvet/bin/pip install -e .``), because
    ``.pth`` files of a busy system site-packages can add tens of milliseconds to every interpreter start.
    A shell shim in front of the script (pyenv) would be timed too, so the script itself is called.
    """
    for script in (MLVET_VENV / "mlvet", Path(sys.executable).with_name("mlvet")):
        if script.exists():
            return [str(script)]
    return [sys.executable, "-m", "mlvet"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=str(REPO / "benchmarks" / "results-cli.md"))
    ap.add_argument("--skip-peers", action="store_true")
    ap.add_argument("--only", choices=["jobs", "inventory", "startup"], default=None)
    ap.add_argument("--baseline-src", default=None,
                    help="also run -j 1 and -j 2 with PYTHONPATH=this mlvet source tree (e.g. a checkout of an "
                         "older commit's src/), to show what a change did")
    args = ap.parse_args()
    inputs = build(CORPUS)
    mlvet = _mlvet()
    from mlvet.parallel import available_cpus, default_jobs

    lines = ["# CLI performance: parallel scans and start-up", "",
             f"Generated by `python benchmarks/cli_perf.py {' '.join(sys.argv[1:])}` on "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; median of {args.repeat} runs "
             f"each, interleaved. CPUs available: {available_cpus()}. Load average at start: "
             f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}. mlvet: `{' '.join(mlvet)}`.", ""]
    if args.only in (None, "jobs"):
        lines += ["## `mlvet scan` with -j 1, -j 2 and the default", ""]
        if args.baseline_src:
            lines += [f"Baseline: the same console script with `PYTHONPATH={args.baseline_src}`.", ""]
        lines += [
                  "| input | files | run | wall s (median) | CPU s (median) | exit |", "|---|---|---|---|---|---|"]
        for key in ("small", "models"):
            folder = inputs[key]
            n = sum(len(f) for _, _, f in os.walk(folder))
            size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
            base = [*mlvet, "scan", str(folder), "--format", "json", "--no-progress"]
            commands = {"-j 1": [*base, "-j", "1"], "-j 2": [*base, "-j", "2"], "default": base}
            if args.baseline_src:
                for j in ("1", "2"):
                    commands[f"baseline -j {j}"] = [f"PYTHONPATH={args.baseline_src}", *base, "-j", j]
            res = run_set(commands, args.repeat)
            for run, (wall, cpu, codes) in res.items():
                label = run if run != "default" else f"default (= -j {default_jobs(n, size)})"
                exits = ",".join(map(str, sorted(codes)))
                lines.append(f"| {key} | {n} | {label} | {wall:.2f} | {cpu:.2f} | {exits} |")
            print("\n".join(lines[-len(commands):]), flush=True)
        lines.append("")
    if args.only in (None, "inventory"):
        lines += inventory_section(inputs["small"], mlvet, args)
    if args.only in (None, "startup"):
        big = str(inputs["big"])
        cmds = {"mlvet scan --format json": [*mlvet, "scan", big, "--format", "json"],
                "mlvet scan (text)": [*mlvet, "scan", big]}
        if not args.skip_peers:
            for tool in ("picklescan", "modelscan"):
                if (PEERS / tool).exists():
                    cmds[f"{tool} -p"] = [str(PEERS / tool), "-p", big]
        cmds["mlvet --version"] = [*mlvet, "--version"]
        if args.baseline_src:
            cmds["baseline: mlvet scan --format json"] = [f"PYTHONPATH={args.baseline_src}", *cmds[
                "mlvet scan --format json"]]
            cmds["baseline: mlvet scan (text)"] = [f"PYTHONPATH={args.baseline_src}", *cmds["mlvet scan (text)"]]
        import tempfile

        # Run from a folder without pyproject.toml, as a hook runs in a project that does not configure mlvet
        # (this repository's own pyproject.toml names mlvet, so mlvet would parse it on every run).
        with tempfile.TemporaryDirectory() as project:
            res = run_set(cmds, args.repeat, cwd=project)
        lines += [f"## Whole process on a {os.path.getsize(big) / 1e6:.0f} MB PyTorch checkpoint", "",
                  "| command | wall s (median) | CPU s (median) | exit |", "|---|---|---|---|"]
        for name, (wall, cpu, codes) in res.items():
            lines.append(f"| `{name}` | {wall:.3f} | {cpu:.3f} | {','.join(map(str, sorted(codes)))} |")
        lines.append("")
    lines.append(f"Load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}.")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
