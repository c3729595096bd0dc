"""The body of ``mlvet scan``, free of click: the click command (:mod:`mlvet.commands.scan`) and the fast
path of :mod:`mlvet.cli` for the plain ``mlvet scan PATH... [--format F]`` both run it.

Pre-commit hooks and CI jobs call ``mlvet scan`` once per file, so its start-up is paid per file; importing
click (with ``inspect``, ``typing``, ``uuid`` ...) costs about as much as scanning a 500 MB checkpoint. The fast
path parses the common argument lists itself and hands anything else to click.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

from mlvet.commands import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE
from mlvet.model import Severity


def run(paths: list[str], renderer: Any, output: str | None, threshold: Severity, policy_file: str | None,
        jobs: int, color: bool | None, verbose: bool, progress: bool | None, *, engine: str | None = None,
        db: str | None = None, run_id: str | None = None, resume: bool = False) -> int:
    """Scan ``paths``, render the report and return the exit code (options already validated).

    ``engine`` (``local`` or ``dask://HOST:PORT``) says where files are scanned; with ``db`` the scan is a
    resumable run recorded in that database (``run_id``, ``resume``) and served from its result cache.
    """
    from pathlib import Path

    from mlvet.commands import _io
    from mlvet.scanner import resolve_policy, scan

    run_scan: Callable[..., Any] = scan
    _io.check_output(output, what="report")
    policy = resolve_policy(policy_file, Path.cwd())
    show_progress = progress if progress is not None else sys.stderr.isatty()
    if any(":/" in p for p in paths):  # a remote URL (hf://, s3://, models:/ ...): checked before importing
        from mlvet.remote.base import is_remote

        if any(is_remote(p) for p in paths):
            from mlvet.remote.scan import scan_paths

            run_scan = scan_paths
            show_progress = False
    if db is not None or engine is not None:
        report = _scan_on_engine(paths, policy, jobs, engine, db, run_id, resume)
    else:
        report = _scan_with_progress(run_scan, paths, policy, jobs, show_progress)
    use_color = color if color is not None else (output is None and sys.stdout.isatty()
                                                 and "NO_COLOR" not in os.environ)
    if output:
        with _io.output_file(output, what="report") as fh:
            renderer.render(report, fh, color=False, verbose=verbose)
    else:
        renderer.render(report, _io.text_stdout(), color=use_color, verbose=verbose)
    if report.max_severity >= threshold and report.max_severity > Severity.NONE:
        return EXIT_FINDINGS
    if report.incomplete:
        return EXIT_INCOMPLETE
    return EXIT_CLEAN


def _scan_on_engine(paths: list[str], policy: Any, jobs: int, engine_spec: str | None, db: str | None,
                    run_id: str | None, resume: bool) -> Any:
    """The scan on an engine, and with ``db`` into a recorded run (see :mod:`mlvet.batch`)."""
    from mlvet.commands import _io
    from mlvet.engine import open_engine

    engine = open_engine(engine_spec, jobs)
    try:
        if db is None:
            from mlvet.scanner import scan as run_scan

            return run_scan(paths, policy=policy, jobs=jobs, engine=engine)
        from mlvet.batch.local import scan_into_store
        from mlvet.store import Store

        with Store(db) as store:
            report, stats = scan_into_store(paths, policy, store, engine, run_id=run_id, resume=resume)
        _io.note(f"run {stats.run_id}: {stats.files} files, {stats.already_done} already recorded, "
                 f"{stats.cache_hits + stats.shared_in_run} from the result cache, {stats.scanned} scanned")
        return report
    finally:
        engine.close()


#: The options the fast path parses itself, with the keyword of :func:`run` each sets (and, for a flag, to what).
_VALUED = {"--format": "fmt", "-f": "fmt", "--fail-on": "fail_on"}
_FLAGS: dict[str, tuple[str, bool]] = {
    "--color": ("color", True), "--no-color": ("color", False), "--progress": ("progress", True),
    "--no-progress": ("progress", False), "--verbose": ("verbose", True), "-v": ("verbose", True)}
#: The click command's defaults (``tests/cli/test_perf_startup.py`` checks them against it).
DEFAULTS: dict[str, Any] = {"fmt": "text", "fail_on": "high", "output": None, "policy_file": None, "jobs": 0,
                            "color": None, "verbose": False, "progress": None}
DEFAULTS.update({"engine": None, "db": None, "run_id": None, "resume": False})  # issue 14


def fast_path(args: list[str]) -> Callable[[], int] | None:
    """The scan that ``mlvet scan`` + ``args`` asks for, or None when click must parse ``args``.

    Only the common shapes are taken: paths that do not start with ``-``, and the options of :data:`_VALUED`
    (``--opt value`` or ``--opt=value``) and :data:`_FLAGS`. Anything else — another option, ``--``, help,
    a missing value, no path, an invalid format or severity — goes to click, which parses it (or explains
    the error) exactly as it always has.
    """
    opts = dict(DEFAULTS)
    paths: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-"):
            paths.append(arg)
            continue
        name, eq, value = arg.partition("=")
        if name in _VALUED and not (eq and not name.startswith("--")):  # click reads -f=x as the value "=x"
            if not eq:
                if i >= len(args) or args[i].startswith("-"):
                    return None
                value = args[i]
                i += 1
            opts[_VALUED[name]] = value
        elif arg in _FLAGS:
            key, flag = _FLAGS[arg]
            opts[key] = flag
        else:
            return None
    if not paths:
        return None
    from mlvet.report import get_renderer

    try:
        threshold = Severity.parse(opts["fail_on"])
        renderer = get_renderer(opts["fmt"])
    except ValueError:
        return None
    return lambda: run(paths, renderer, opts["output"], threshold, opts["policy_file"], opts["jobs"],
                       opts["color"], opts["verbose"], opts["progress"])


def _scan_with_progress(run_scan: Any, paths: list[str], policy: Any, jobs: int, show: bool) -> Any:
    """Run the scan, with a progress bar on stderr when ``show``: measured in bytes, not files.

    A file count stalls on big files (402/404 for 40 s on two 20 GB checkpoints); bytes move with the work
    that is left: finished files count whole, files being scanned by how far their reader has got (asked
    of the kernel at each refresh, see :func:`mlvet.parallel.note_reading`). The bar starts only once the
    scanner reports the total, after its worker processes have been forked (rich's refresh thread must not
    exist at fork time), and rich is imported only when shown.
    """
    if not show:
        return run_scan(paths, policy=policy, jobs=jobs)
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    state: dict[str, Any] = {"done": 0, "files": 0, "in_flight": lambda: 0}

    class _BytesProgress(Progress):
        """Adds the bytes read so far of the files in progress at each refresh: big files move too."""

        def get_renderables(self) -> Any:
            task = state.get("task")
            if task is not None:
                self.update(task, completed=min(state["total"], state["done"] + state["in_flight"]()))
            yield from super().get_renderables()

    bar = _BytesProgress(TextColumn("scanning"), BarColumn(), TaskProgressColumn(), DownloadColumn(),
                         TextColumn("{task.fields[files]}/{task.fields[nfiles]} files"), TimeElapsedColumn(),
                         console=Console(stderr=True), transient=True)

    def on_start(nfiles: int, nbytes: int, in_flight: Any) -> None:
        state["in_flight"], state["total"] = in_flight, max(1, nbytes)
        state["task"] = bar.add_task("scan", total=state["total"], files=0, nfiles=nfiles)
        bar.start()

    def on_result(res: Any) -> None:
        state["files"] += 1
        state["done"] += res.size or 0
        bar.update(state["task"], completed=state["done"], files=state["files"])

    try:
        return run_scan(paths, policy=policy, jobs=jobs, progress=on_result, on_start=on_start)
    finally:
        bar.stop()
