"""``mlvet scan``: the scanner's command line (exit codes in :mod:`mlvet.cli`)."""

from __future__ import annotations

import click


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
    @click.option("--engine", default=None, help="Where files are scanned: 'local' (worker processes, the default) "
                  "or dask://HOST:PORT (a Dask scheduler; workers must see the same paths).")
    @click.option("--db", default=None, help="Record the scan as a resumable run in this database (SQLAlchemy URL) "
                  "and reuse its content-hash result cache.")
    @click.option("--run-id", default=None, help="Name of the recorded run (with --db; default: a new id).")
    @click.option("--resume", is_flag=True, help="Continue the run of the same paths (or --run-id): files already "
                  "recorded are not scanned again (with --db).")
    def scan(paths: tuple[str, ...], fmt: str, output: str | None, fail_on: str, policy_file: str | None,
             jobs: int, color: bool | None, verbose: bool, progress: bool | None, engine: str | None,
             db: str | None, run_id: str | None, resume: bool) -> int:
        """Scan model files, folders and archives (PATHS) without loading them."""
        from mlvet.commands._scan_body import run
        from mlvet.report import get_renderer

        try:
            threshold = Severity.parse(fail_on)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--fail-on") from None
        try:
            renderer = get_renderer(fmt)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--format") from None
        if (run_id or resume) and db is None:
            raise click.UsageError("--run-id and --resume need --db")
        return run(list(paths), renderer, output, threshold, policy_file, jobs, color, verbose, progress,
                   engine=engine, db=db, run_id=run_id, resume=resume)
