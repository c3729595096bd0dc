"""``mlvet hub-scan``: scan a list of hub repositories into the database, on an engine, resumably."""

from __future__ import annotations

import click

from mlvet.commands import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE


def register(group: click.Group) -> None:
    """Add ``hub-scan`` to the group."""

    @group.command("hub-scan")
    @click.option("--repos", "repos_file", default=None, type=click.Path(dir_okay=False, path_type=str),
                  help="File with one repository id per line (org/name, datasets/org/name, optional @revision). "
                  "Either this or a hub query (--search/--author/--filter).")
    @click.option("--search", default=None, help="Hub query: repositories whose id contains TEXT.")
    @click.option("--author", default=None, help="Hub query: repositories of this user or organisation.")
    @click.option("--filter", "filters", multiple=True, help="Hub query: repositories with this tag (repeatable; "
                  "all must match).")
    @click.option("--limit", type=click.IntRange(1, 1_000_000), default=None, show_default="1000",
                  help="Hub query: scan at most N of the listed repositories.")
    @click.option("--repo-type", type=click.Choice(["model", "dataset", "space"]), default=None,
                  show_default="model", help="Hub query: which kind of repositories to list.")
    @click.option("--db", envvar="MLVET_DB", required=True,
                  help="SQLAlchemy database URL the results are written into (env MLVET_DB).")
    @click.option("--engine", "engine_spec", default=None,
                  help="Where repositories are resolved and scanned: 'local' (worker processes, the default) or "
                  "dask://HOST:PORT (a Dask scheduler; workers fetch from the hub themselves).")
    @click.option("--endpoint", default=None, help="The hub to read from (default: HF_ENDPOINT, else the "
                  "Hugging Face Hub); tokens come from HF_TOKEN and the hub client's own config.")
    @click.option("--jobs", "-j", default=0, show_default="0: auto", type=click.IntRange(0, 256),
                  help="Local worker processes (with --engine local).")
    @click.option("--policy", "policy_file", type=click.Path(dir_okay=False, path_type=str),
                  help="Policy file (TOML) for the scans.")
    @click.option("--run-id", default=None, help="Name of the run (default: a new id).")
    @click.option("--resume", is_flag=True, help="Continue the run of the same repository list (or --run-id): "
                  "files already recorded are not scanned again.")
    @click.option("--fail-on", default="high", show_default=True,
                  help="Exit 1 when a file has a finding of at least this severity.")
    def hub_scan(repos_file: str | None, search: str | None, author: str | None, filters: tuple[str, ...],
                 limit: int | None, repo_type: str | None, db: str, engine_spec: str | None, endpoint: str | None,
                 jobs: int, policy_file: str | None, run_id: str | None, resume: bool, fail_on: str) -> int:
        """Resolve and scan the hub repositories listed in --repos (or selected by a hub query); results go into
        --db as they complete."""
        from pathlib import Path

        from mlvet.batch.hub import HubQuery, query_repo_list, read_repo_list
        from mlvet.batch.hub import hub_scan as run_hub_scan
        from mlvet.commands import _io
        from mlvet.engine import open_engine
        from mlvet.model import Severity, Status
        from mlvet.report.text import printable
        from mlvet.scanner import resolve_policy
        from mlvet.store import Store
        from mlvet.store.results import ScanRuns

        try:
            threshold = Severity.parse(fail_on)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--fail-on") from None
        querying = bool(search or author or filters)
        if querying == (repos_file is not None):
            raise click.UsageError("give either --repos FILE or a hub query (--search, --author, --filter)")
        if not querying and (limit is not None or repo_type is not None):
            raise click.UsageError("--limit and --repo-type refine a hub query; they do not apply to --repos")
        specs: list[str] = []
        if repos_file is not None:
            specs = read_repo_list(repos_file)
            if not specs:
                raise click.UsageError(f"{repos_file} lists no repository")
        policy = resolve_policy(policy_file, Path.cwd())
        with Store(db) as store:
            if querying:
                specs = query_repo_list(HubQuery(repo_type or "model", search, author, filters, limit or 1000),
                                        endpoint)
                if not specs:
                    _io.note("the hub query matched no repository: nothing to scan")
                    return EXIT_CLEAN
            engine = open_engine(engine_spec, jobs)
            try:
                stats, phases = run_hub_scan(specs, policy, store, engine, run_id=run_id, resume=resume,
                                             endpoint=endpoint)
            finally:
                engine.close()
            results = ScanRuns(store).results(stats.run_id)
        worst = max((r.severity for _s, r, _h, _n in results), default=Severity.NONE)
        errors = sum(r.status is Status.ERROR for _s, r, _h, _n in results)
        flagged = sorted({src for src, r, _h, _n in results if r.severity >= threshold > Severity.NONE})
        out = _io.text_stdout()
        out.write(f"run {stats.run_id}: {phases['repos']} repositories ({phases['resolved']} resolved), "
                  f"{stats.files} files: {stats.already_done} already recorded, {stats.cache_hits} cache hits, "
                  f"{stats.shared_in_run} shared within the run, {stats.scanned} scanned "
                  f"({stats.bytes_read} bytes read); {errors} incomplete\n")
        for src in flagged:
            out.write(f"{printable(src)}: findings at or above {fail_on}\n")
        if worst >= threshold > Severity.NONE:
            return EXIT_FINDINGS
        if errors:
            _io.note(f"{_io.plural(errors, 'file')} could not be fully analysed (exit 2)")
            return EXIT_INCOMPLETE
        return EXIT_CLEAN
