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
    @click.option("--jobs", "-j", default=1, show_default=True, type=click.IntRange(1, 256),
                  help="Files scanned in parallel (worker processes).")
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
    if not show:
        return run_scan(paths, policy=policy, jobs=jobs)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from mlvet.scanner import iter_files

    total = sum(1 for _ in iter_files(paths, policy.limits.max_files))
    with Progress(TextColumn("scanning"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), transient=True) as bar:
        task = bar.add_task("scan", total=total)
        return run_scan(paths, policy=policy, jobs=jobs, progress=lambda _r: bar.advance(task))


