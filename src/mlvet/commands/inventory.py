"""``mlvet inventory``: discover ML assets, fingerprint and scan them, record the run, report changes."""

from __future__ import annotations

import sys
from typing import Any

import click

from mlvet.commands import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE


def register(group: click.Group) -> None:
    """Add ``inventory`` to the group."""

    @group.command()
    @click.argument("paths", nargs=-1, type=click.Path(path_type=str, readable=False))
    @click.option("--db", envvar="MLVET_DB", help="SQLAlchemy database URL (default: a SQLite file in the user "
                  "data folder; env MLVET_DB).")
    @click.option("--hf-cache", is_flag=True, help="Also inventory the Hugging Face cache (HF_HUB_CACHE, HF_HOME).")
    @click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
    @click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=str),
                  help="Write the report to this file instead of standard output.")
    @click.option("--rescan", is_flag=True, help="Scan every asset again instead of reusing results for "
                  "unchanged content (use after changing the policy).")
    @click.option("--policy", "policy_file", type=click.Path(dir_okay=False, path_type=str),
                  help="Policy file (TOML) for the scans.")
    @click.option("--jobs", "-j", default=0, show_default="0: auto", type=click.IntRange(0, 256),
                  help="Assets scanned in parallel (worker processes); 0 chooses from the machine and the input: "
                  "one per available CPU (at most 8), one for small inputs.")
    @click.option("--fail-on", default=None, help="Exit 1 when an asset has a finding of at least this severity.")
    @click.option("--fail-on-worse", is_flag=True, help="Exit 1 when an asset's verdict got worse since the "
                  "previous run.")
    @click.option("--progress/--no-progress", default=None, help="Progress on stderr (default: on a terminal).")
    @click.option("--engine", "engine_spec", default=None, help="Where assets are scanned: 'local' (worker "
                  "processes, the default) or dask://HOST:PORT (a Dask scheduler; workers must see the same paths).")
    @click.option("--push", "push_url", default=None, metavar="URL",
                  help="Also send the run to an mlvet server (token from MLVET_TOKEN or --token-file).")
    @click.option("--token-file", default=None, type=click.Path(dir_okay=False, path_type=str),
                  help="File holding the server token for --push (instead of MLVET_TOKEN).")
    @click.option("--host", "host_name", default=None, help="Host name the pushed run is filed under "
                  "(default: this machine's name).")
    @click.option("--owner", default=None, help="Owner of the pushed run (default: the current user).")
    def inventory(paths: tuple[str, ...], db: str | None, hf_cache: bool, fmt: str, output: str | None,
                  rescan: bool, policy_file: str | None, jobs: int, fail_on: str | None, fail_on_worse: bool,
                  progress: bool | None, engine_spec: str | None, push_url: str | None, token_file: str | None,
                  host_name: str | None, owner: str | None) -> int:
        """Find the models and datasets under PATHS, record them in the database and show what changed."""
        import json
        from pathlib import Path

        from mlvet.inventory import run_inventory
        from mlvet.inventory.serialize import asset_to_dict, changes_to_dict, run_to_dict
        from mlvet.model import Severity
        from mlvet.scanner import resolve_policy
        from mlvet.store import Store

        if not paths and not hf_cache:
            raise click.UsageError("give at least one PATH, or --hf-cache")
        threshold = None
        if fail_on:
            try:
                threshold = Severity.parse(fail_on)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--fail-on") from None
        from mlvet.commands import _io

        if hf_cache:
            import os

            from mlvet.inventory.discover import default_hf_cache

            if not os.path.isdir(default_hf_cache()):
                _io.note(f"no Hugging Face cache at {default_hf_cache()}")
        _io.check_output(output)
        push_token = _push_token(push_url, token_file, host_name, owner)
        policy = resolve_policy(policy_file, Path.cwd())
        store = Store(db)
        engine = None
        try:
            if engine_spec is not None:
                from mlvet.engine import open_engine

                engine = open_engine(engine_spec, jobs)
            show = progress if progress is not None else sys.stderr.isatty()
            with _Progress(show) as cb:
                run, assets, changes, previous = run_inventory(list(paths), store, hf_cache=hf_cache,
                                                               rescan=rescan, policy=policy, jobs=jobs,
                                                               progress=cb, engine=engine)
        finally:
            if engine is not None:
                engine.close()
            store.close()
        if fmt == "json":
            doc = {"run": run_to_dict(run), "assets": [asset_to_dict(a) for a in assets],
                   "changes": changes_to_dict(changes, assets, previous)}
            # Undecodable bytes in file names (surrogateescape) become \\udcXX escapes: still valid JSON.
            text = json.dumps(doc, indent=2, ensure_ascii=False).encode("utf-8", "backslashreplace").decode() + "\n"
            if output:
                with _io.output_file(output) as fh:
                    fh.write(text)
            else:
                _io.text_stdout().write(text)
        else:
            from mlvet.commands._tables import render_inventory

            if output:
                with _io.output_file(output) as fh:
                    render_inventory(run, assets, changes, previous, fh)
            else:
                _io.text_stdout()
                render_inventory(run, assets, changes, previous)
        if push_url is not None and push_token is not None:
            _push(push_url, push_token, run, assets, host_name, owner)
        if threshold is not None and any(a.severity >= threshold > Severity.NONE for a in assets):
            return EXIT_FINDINGS
        if fail_on_worse and changes.worse:
            return EXIT_FINDINGS
        incomplete = sum(a.incomplete for a in assets)
        if incomplete:  # the README's table: an input that could not be fully analysed is exit 2, as in scan
            _io.note(f"{_io.plural(incomplete, 'asset')} could not be fully analysed (exit 2)")
            return EXIT_INCOMPLETE
        return EXIT_CLEAN


def _push_token(url: str | None, token_file: str | None, host: str | None, owner: str | None) -> str | None:
    """The token for ``--push``, checked before any work (a push that cannot authenticate is a usage error)."""
    import os

    if url is None:
        if token_file or host or owner:
            raise click.UsageError("--token-file, --host and --owner go with --push URL")
        return None
    if not url.startswith(("http://", "https://")):
        raise click.BadParameter(f"{url!r} is not an http:// or https:// URL", param_hint="--push")
    if token_file is not None:
        try:
            with open(token_file, encoding="utf-8") as fh:
                token = fh.read(4096).strip()
        except OSError as exc:
            raise click.BadParameter(f"cannot read {token_file}: {exc.strerror or exc}",
                                     param_hint="--token-file") from None
    else:
        token = os.environ.get("MLVET_TOKEN", "").strip()
    if not token:
        raise click.UsageError("--push needs a token: set MLVET_TOKEN or give --token-file")
    return token


def _push(url: str, token: str, run: Any, assets: Any, host: str | None, owner: str | None) -> None:
    """Send the recorded run to the server (retries reuse one idempotency key: never a duplicate run)."""
    import getpass
    import socket

    from mlvet.commands import _io
    from mlvet.server.wire import new_idempotency_key, push_payload, push_run

    if owner is None:
        try:
            owner = getpass.getuser()
        except (KeyError, OSError):
            owner = None
    host = host or run.host or socket.gethostname()
    payload = push_payload(run, assets, host=host, owner=owner, idempotency_key=new_idempotency_key())
    answer = push_run(url, token, payload)
    counts = ", ".join(f"{len(answer.get('changes', {}).get(k, []))} {k}" for k in ("new", "changed", "removed",
                                                                                   "worse"))
    _io.note(f"pushed to {url} as run {answer.get('run_id')} of host {host} ({counts})")


class _Progress:
    """A rich progress display on stderr fed by discovery's (stage, done, total) events; silent when off."""

    def __init__(self, show: bool) -> None:
        self.show = show
        self.bar: Any = None
        self.tasks: dict[str, Any] = {}

    def __enter__(self) -> Any:
        if not self.show:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                            TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self.bar.start()
        return self._event

    def _event(self, stage: str, done: int, total: int | None) -> None:
        task = self.tasks.get(stage)
        if task is None:
            for done_task in self.tasks.values():  # an earlier stage is over: show its bar as complete
                t = self.bar.tasks[done_task]
                self.bar.update(done_task, total=t.completed)
            label = {"walk": "files seen", "assets": "assets"}.get(stage, stage)
            task = self.tasks[stage] = self.bar.add_task(label, total=total)
        self.bar.update(task, completed=done, total=total)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
