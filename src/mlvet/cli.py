"""The ``mlvet`` command line: a thin layer over :func:`mlvet.scanner.scan` and the renderers.

Exit codes (documented in the README and tested):
  0  no finding at or above ``--fail-on`` and every input fully analysed
  1  at least one finding at or above ``--fail-on``
  2  scan incomplete: an input could not be fully analysed (and no finding reached the threshold)
  4  usage or configuration error (bad option, missing path, invalid policy)
"""

from __future__ import annotations

import sys
from typing import Any

from mlvet._version import __version__

EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_USAGE = 0, 1, 2, 4


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns (and exits with) the documented exit code."""
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):  # fast path: no heavy imports
        print(f"mlvet {__version__}")
        return _exit(EXIT_CLEAN, argv)
    code = _run_click(args)
    return _exit(code, argv)


def _exit(code: int, argv: list[str] | None) -> int:
    if argv is None:
        sys.exit(code)
    return code


def _run_click(args: list[str]) -> int:
    import click

    from mlvet.errors import MlvetError

    try:
        result = get_cli().main(args=args, prog_name="mlvet", standalone_mode=False)
    except click.UsageError as exc:
        exc.show()
        return EXIT_USAGE
    except click.Abort:
        click.echo("aborted", err=True)
        return EXIT_USAGE
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except MlvetError as exc:
        click.echo(f"mlvet: error: {exc.diagnostics()}", err=True)
        return EXIT_USAGE
    except Exception as exc:
        import os

        click.echo(f"mlvet: internal error: {type(exc).__name__}: {exc}", err=True)
        if os.environ.get("MLVET_DEBUG"):
            raise
        click.echo("The scan did not complete; set MLVET_DEBUG=1 for a traceback and please report it.", err=True)
        return EXIT_INCOMPLETE
    return int(result) if isinstance(result, int) else EXIT_CLEAN


def _build_cli() -> Any:
    import click

    from mlvet.model import Severity

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, "-V", "--version", prog_name="mlvet")
    def group() -> None:
        """mlvet: static security scanner for ML model files. Never loads what it reads."""

    @group.command()
    @click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=str))
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
        policy = resolve_policy(policy_file, Path.cwd())
        show_progress = progress if progress is not None else sys.stderr.isatty()
        report = _scan_with_progress(run_scan, list(paths), policy, jobs, show_progress)
        use_color = color if color is not None else (output is None and sys.stdout.isatty()
                                                     and "NO_COLOR" not in os.environ)
        if output:
            with open(output, "w", encoding="utf-8") as fh:
                renderer.render(report, fh, color=False, verbose=verbose)
        else:
            stream = sys.stdout
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="backslashreplace")
            renderer.render(report, stream, color=use_color, verbose=verbose)
        if report.max_severity >= threshold and report.max_severity > Severity.NONE:
            return EXIT_FINDINGS
        if report.incomplete:
            return EXIT_INCOMPLETE
        return EXIT_CLEAN

    @group.command()
    @click.option("--format", "-f", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text")
    def rules(fmt: str) -> int:
        """List every rule mlvet can report."""
        import json

        from mlvet.formats import import_all

        import_all()  # format modules register their rules on import
        from mlvet.rules import all_rules

        items = all_rules()
        if fmt == "json":
            click.echo(json.dumps([{"id": r.id, "name": r.name, "severity": r.severity.label,
                                    "summary": r.summary, "why": r.why, "fix": r.fix, "cwe": r.cwe}
                                   for r in items], indent=2))
        elif fmt == "markdown":
            click.echo("| id | name | default severity | what it means |\n|---|---|---|---|")
            for r in items:
                click.echo(f"| {r.id} | {r.name} | {r.severity.label} | {r.summary} |")
        else:
            for r in items:
                click.echo(f"{r.id}  {r.severity.label:<8}  {r.name}: {r.summary}")
        return EXIT_CLEAN

    return group


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


_CLI: Any = None


def get_cli() -> Any:
    """The click command group, built on first use so that ``--version`` never imports click."""
    global _CLI  # noqa: PLW0603 - a lazily built singleton
    if _CLI is None:
        _CLI = _build_cli()
    return _CLI

if __name__ == "__main__":  # pragma: no cover
    main()
