"""``mlvet scan``: the scanner's command line (exit codes in :mod:`mlvet.cli`)."""

from __future__ import annotations

import sys
from typing import Any

import click

from mlvet.commands import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE


def register(group: click.Group) -> None:
    """Add ``scan`` to the group."""
    from mlvet.model import Severity

    @group.command()
    @click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str, readable=False))
    @click.option("--format", "-f", "fmt", default="text", show_default=True,
                  help="Output format: text, json or sarif.")
    @click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, path_type=str),
                  help="Write the report to this file instead of standard output.")
    @click.option("--fail-on", default="high", show_default=True,
                  help="Exit 1 when a finding has at least this severity (info, low, medium, high, critical).")
    @click.option("--policy", "policy_file", type=click.Path(dir_okay=False, path_type=str),
                  help="Policy file (TOML) applied on top of the shipped policy and pyproject [tool.mlvet].")
    @click.option("--jobs", "-j", default=0, show_default="0: auto", type=click.IntRange(0, 256),
                  help="Files scanned in parallel (worker processes); 0 chooses from the machine and the input: "
                  "one per available CPU (at most 8), one for small inputs.")
    @click.option("--color/--no-color", default=None, help="Force or disable colour (default: on a terminal).")
    @click.option("--verbose", "-v", is_flag=True, help="List every file and all evidence.")
    @click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: on a terminal).")
    def scan(paths: tuple[str, ...], fmt: str, output: str | None, fail_on: str, policy_file: str | None,
             jobs: int, color: bool | None, verbose: bool, progress: bool | None) -> int:
        """Scan model files, folders and archives (PATHS) without loading them."""
        import os
        from pathlib import Path

        from mlvet.commands import _io
        from mlvet.report import get_renderer
        from mlvet.scanner import resolve_policy
        from mlvet.scanner import scan as run_scan

        try:
            threshold = Severity.parse(fail_on)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--fail-on") from None
        try:
            renderer = get_renderer(fmt)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--format") from None
        _io.check_output(output, what="report")
        policy = resolve_policy(policy_file, Path.cwd())
        show_progress = progress if progress is not None else sys.stderr.isatty()
        report = _scan_with_progress(run_scan, list(paths), policy, jobs, show_progress)
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
