"""``mlvet data lock|verify|domains|link``: training-data integrity (lock files, verification, split-view
exposure, model-to-data lineage).

Exit codes (README "Training data"): ``lock`` 0 written, 2 a file could not be read (nothing written);
``verify`` 0 everything matches, 1 anything missing, extra or changed (with ``--max-affected F``: only when
the affected share exceeds F), else 2 when a file or table could not be read or a Croissant file gave no
SHA-256 for some files (never reported clean); ``domains`` 0 report printed (1 with
``--fail-over F`` when the takeover share exceeds F); ``link`` 0 recorded (and, with ``--lock`` and a local
DATASET, it matches the lock), 1 recorded but the dataset differs from its lock, 2 recorded but the dataset
could not be fully read to verify it; ``lineage`` 0 listed; 4 usage errors everywhere.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Any

import click

from mlvet.commands import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE, _io

_FORMAT = click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text",
                       show_default=True, help="Output format.")
_WORKERS = click.option("--workers", type=click.IntRange(1, 256), default=None,
                        help="Hashing threads (default: two per core, at most 32).")
_SYMLINKS = click.option("--allow-symlinks", is_flag=True,
                         help="Follow symbolic links that lead outside the dataset instead of refusing them.")


def _fraction(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise click.BadParameter("expected a fraction between 0 and 1")
    return value


def register(group: click.Group) -> None:
    """Add the ``data`` group (``lock``, ``verify``, ``domains``) to the mlvet group."""

    @group.group(name="data")
    def data_group() -> None:
        """Training-data integrity: lock a dataset, verify it against its lock, check URL-list domains."""

    @data_group.command(name="lock")
    @click.argument("dataset", type=click.Path(exists=True, path_type=str))
    @click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=str),
                  help="Where to write the lock file.")
    @click.option("--croissant", type=click.Path(dir_okay=False, path_type=str),
                  help="Also write the hashes into this Croissant file (updated if it exists).")
    @click.option("--url-column", help="The URL column of URL-list tables (default: url, URL, image_url, ...).")
    @_WORKERS
    @_SYMLINKS
    def lock_cmd(dataset: str, output: str, croissant: str | None, url_column: str | None, workers: int | None,
                 allow_symlinks: bool) -> int:
        """Hash every file (tar members, URL-list rows) of DATASET into a lock file."""
        from mlvet.data.croissant import write_croissant
        from mlvet.data.lock import build_lock
        from mlvet.data.walk import open_dataset

        _io.check_output(output, what="lock file")
        existing = None
        if croissant is not None:
            _io.check_output(croissant, what="Croissant file")
            existing = _read_json(croissant) if os.path.exists(croissant) else None
        exclude = (output, croissant) if croissant else (output,)
        ds = open_dataset(dataset, allow_symlinks=allow_symlinks, exclude=exclude)
        result = build_lock(ds, workers=workers, url_column=url_column)
        if result.errors:
            for message in result.errors[:50]:
                _io.error(message)
            _io.error(f"{_io.plural(len(result.errors), 'file')} could not be read: no lock written")
            return EXIT_INCOMPLETE
        lock = result.lock
        with _io.output_file(output, what="lock file", binary=True) as fh:
            fh.write(lock.to_bytes())
        if croissant is not None:
            doc = write_croissant(lock, existing, os.path.basename(os.path.abspath(dataset)))
            with _io.output_file(croissant, what="Croissant file") as fh:
                json.dump(doc, fh, indent=2, sort_keys=False)
                fh.write("\n")
        rows = sum(len(t.rows) for t in lock.tables.values())
        _io.note(f"locked {len(lock.files)} files, {sum(map(len, lock.members.values()))} tar members, "
                 f"{rows} rows ({lock.layout}); root sha256:{lock.root} -> {output}")
        return EXIT_CLEAN

    @data_group.command(name="verify")
    @click.argument("dataset", type=click.Path(exists=True, path_type=str))
    @click.option("--lock", "lock_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=str),
                  help="The lock file (or a Croissant file with sha256 on its FileObjects).")
    @_FORMAT
    @click.option("--max-affected", type=float, callback=_fraction, metavar="FRACTION",
                  help="Exit 1 only when the affected share exceeds FRACTION (default: any difference).")
    @click.option("--journal", type=click.Path(dir_okay=False, path_type=str),
                  help="Progress journal for resuming (default: beside the lock, else the user cache).")
    @click.option("--resume/--no-resume", default=True, show_default=True,
                  help="Keep a progress journal so that an interrupted verification resumes.")
    @_WORKERS
    @_SYMLINKS
    def verify_cmd(dataset: str, lock_path: str, fmt: str, max_affected: float | None, journal: str | None,
                   resume: bool, workers: int | None, allow_symlinks: bool) -> int:
        """Compare DATASET with its lock: missing, extra and changed files or rows (exit 1 on any)."""
        from mlvet.data.croissant import is_croissant, lock_from_croissant
        from mlvet.data.lockfile import from_document
        from mlvet.data.verify import Journal, default_journal_path, verify_dataset
        from mlvet.data.walk import open_dataset

        doc = _read_json(lock_path)
        from_croissant = lock_from_croissant(doc) if is_croissant(doc) else None
        lock = from_croissant.lock if from_croissant is not None else from_document(doc)
        journal_path = None
        if resume:
            journal_path = journal or default_journal_path(lock_path, lock.root)
        ds = open_dataset(dataset, allow_symlinks=allow_symlinks, exclude=(lock_path,))
        report = verify_dataset(ds, lock, workers=workers, journal=Journal(journal_path, lock.root))
        unchecked: list[str] = []
        if from_croissant is not None:  # files it names without a SHA-256, or only through a FileSet glob
            named = set(from_croissant.unverifiable)
            unchecked = sorted(named | {rel for rel in report.extra if from_croissant.covered(rel)})
            report.extra = [rel for rel in report.extra if rel not in named and not from_croissant.covered(rel)]
            report.unverifiable.extend(unchecked)
        if report.resumed:
            _io.note(f"resumed: {report.resumed} file hash(es) taken from the journal of an interrupted run")
        for message in report.errors[:50]:
            _io.error(message)
        if fmt == "json":
            click.echo(json.dumps(report.to_json(), indent=2))
        else:
            _print_verify(report)
        if unchecked:
            _io.warn(f"{_io.plural(len(unchecked), 'file')} with no SHA-256 in the Croissant file: not verified")
        differs = not report.matches if max_affected is None else report.affected_fraction > max_affected
        if differs:
            return EXIT_FINDINGS
        return EXIT_INCOMPLETE if report.errors or unchecked else EXIT_CLEAN

    @data_group.command(name="domains")
    @click.argument("file", type=click.Path(exists=True, path_type=str))
    @click.option("--url-column", help="The URL column (default: url, URL, image_url, ...).")
    @click.option("--resolver", metavar="HOST:PORT", help="DNS server to ask (default: the system's resolvers).")
    @click.option("--rdap", metavar="URL", help="RDAP base URL, e.g. https://rdap.org (default: no RDAP lookups).")
    @click.option("--snapshot", type=click.Path(exists=True, dir_okay=False, path_type=str),
                  help="Work offline from facts recorded with --record-snapshot.")
    @click.option("--record-snapshot", type=click.Path(dir_okay=False, path_type=str),
                  help="Write the DNS/RDAP facts gathered to this file, for later offline runs.")
    @click.option("--since", metavar="DATE", help="Registrations after this date (ISO 8601) are 'changed' "
                  "(default: the snapshot's recording date).")
    @click.option("--offline", is_flag=True, help="No DNS or RDAP: shares only (statuses unknown).")
    @click.option("--timeout", type=click.FloatRange(0.1, 60), default=3.0, show_default=True,
                  help="Seconds per DNS query (RDAP: 3x).")
    @click.option("--rate", type=click.FloatRange(0.1, 100), default=5.0, show_default=True,
                  help="RDAP requests per second at most.")
    @click.option("--cache-dir", type=click.Path(file_okay=False, path_type=str),
                  help="RDAP answer cache (default: the user cache folder; 'none' disables it).")
    @click.option("--fail-over", type=float, callback=_fraction, metavar="FRACTION",
                  help="Exit 1 when the takeover share exceeds FRACTION.")
    @_FORMAT
    def domains_cmd(file: str, url_column: str | None, resolver: str | None, rdap: str | None,
                    snapshot: str | None, record_snapshot: str | None, since: str | None, offline: bool,
                    timeout: float, rate: float, cache_dir: str | None, fail_over: float | None, fmt: str) -> int:
        """Per-domain share of a URL list's rows, and which domains expired, changed or stopped resolving."""
        from datetime import datetime, timezone

        from mlvet.data.domains import count_domains, iter_urls, load_snapshot, snapshot_document, survey
        from mlvet.data.probes import DnsProbe, RdapProbe
        from mlvet.errors import UsageError

        if record_snapshot is not None:
            _io.check_output(record_snapshot, what="domain snapshot")
        since_date = None
        if since is not None:
            try:
                since_date = datetime.fromisoformat(since.replace("Z", "+00:00"))
            except ValueError:
                raise UsageError(f"--since {since!r}: expected an ISO 8601 date") from None
            if since_date.tzinfo is None:
                since_date = since_date.replace(tzinfo=timezone.utc)
        recorded = None
        facts = None
        dns = rdap_probe = None
        if snapshot is not None:
            facts, recorded = load_snapshot(snapshot)
        elif not offline:
            dns = DnsProbe(resolver, timeout)
            if rdap is not None:
                cache = None if cache_dir == "none" else cache_dir or _cache_dir()
                rdap_probe = RdapProbe(rdap, timeout=3 * timeout, min_interval=1.0 / rate, cache_dir=cache)
        counts, total = count_domains(iter_urls(file, url_column))
        report = survey(counts, total, dns=dns, rdap=rdap_probe, snapshot=facts, since=since_date or recorded)
        if record_snapshot is not None:
            with _io.output_file(record_snapshot, what="domain snapshot") as fh:
                json.dump(snapshot_document(report.facts, datetime.now(timezone.utc)), fh, indent=1)
                fh.write("\n")
        if fmt == "json":
            click.echo(json.dumps(report.to_json(), indent=2))
        else:
            _print_domains(report)
        if fail_over is not None and report.takeover_share > fail_over:
            return EXIT_FINDINGS
        return EXIT_CLEAN


    @data_group.command(name="link")
    @click.argument("model", type=click.Path(exists=True, path_type=str))
    @click.argument("dataset")
    @click.option("--lock", "lock_path", type=click.Path(exists=True, dir_okay=False, path_type=str),
                  help="The dataset's lock file: its root digest pins the data version; a local DATASET is "
                       "verified against it.")
    @click.option("--name", help="Dataset name to record (default: the Hub id or URI given, or the folder name).")
    @click.option("--no-verify", is_flag=True, help="Record the lock without hashing a local DATASET again.")
    @click.option("--db", envvar="MLVET_DB", help="SQLAlchemy database URL (default: a SQLite file in the user "
                  "data folder; env MLVET_DB).")
    @_FORMAT
    @_WORKERS
    def link_cmd(model: str, dataset: str, lock_path: str | None, name: str | None, no_verify: bool,
                 db: str | None, fmt: str, workers: int | None) -> int:
        """Record that MODEL was trained on DATASET (a local path, a Hub id or a URI) in the inventory database."""
        from mlvet.inventory.lineage import DatasetRef
        from mlvet.store import Store
        from mlvet.store.lineage import record_link

        model_path, model_id, model_name = _model_identity(model)
        local = os.path.exists(dataset)
        uri = os.path.abspath(dataset) if local else dataset
        if name is None:
            name = os.path.basename(uri.rstrip(os.sep)) if local else dataset
        if not name.strip():
            raise click.BadParameter("empty dataset name", param_hint="DATASET")
        if not local and "://" not in dataset:
            uri = f"hf://datasets/{dataset}"
        lock_root = None
        verified: bool | None = None
        report = None
        if lock_path is not None:
            lock = _load_lock(lock_path)
            lock_root = lock.root
            if local and not no_verify:
                from mlvet.data.verify import verify_dataset
                from mlvet.data.walk import open_dataset

                report = verify_dataset(open_dataset(dataset, exclude=(lock_path,)), lock, workers=workers)
                for message in report.errors[:50]:
                    _io.error(message)
                verified = None if report.errors and report.matches else report.matches
        ref = DatasetRef(name=name, source="explicit", uri=uri, lock_root=lock_root, verified=verified,
                         detail=f"lock {os.path.abspath(lock_path)}" if lock_path else None)
        with Store(db) as store:
            record_link(store, model_path, ref, model_id=model_id, model_name=model_name)
        if fmt == "json":
            click.echo(json.dumps({"model": model_path, "model_id": model_id, "dataset": name, "uri": uri,
                                   "lock_root": lock_root, "verified": verified}, indent=2))
        else:
            state = {None: "not verified", True: "verified against its lock", False: "DIFFERS from its lock"}
            pinned = f"lock sha256:{lock_root}, {state[verified]}" if lock_root else "no lock (not pinned)"
            from mlvet.report.text import printable

            _io.note(f"linked {printable(model_name or model_path)} -> {printable(name)} ({pinned})")
        if verified is False:
            return EXIT_FINDINGS
        if report is not None and report.errors:
            return EXIT_INCOMPLETE
        return EXIT_CLEAN


    @data_group.command(name="lineage")
    @click.argument("model", required=False)
    @click.option("--db", envvar="MLVET_DB", help="SQLAlchemy database URL (default: a SQLite file in the user "
                  "data folder; env MLVET_DB). Opened read-only.")
    @_FORMAT
    def lineage_cmd(model: str | None, db: str | None, fmt: str) -> int:
        """List the training data recorded for MODEL (a path), or for every model, in the inventory database."""
        from mlvet.store import Store
        from mlvet.store.lineage import lineage_by_model

        with Store(db, read_only=True) as store:
            recorded = lineage_by_model(store)
        if model is not None:
            key = os.path.abspath(model)
            recorded = {key: recorded.get(key, [])}
        rows = {path: refs for path, refs in sorted(recorded.items()) if not path.startswith("id:")}
        if fmt == "json":
            click.echo(json.dumps({path: [dataclasses.asdict(r) | {"locked": r.locked} for r in refs]
                                   for path, refs in rows.items()}, indent=2))
            return EXIT_CLEAN
        from mlvet.report.text import printable

        out = _io.text_stdout()
        for path, refs in rows.items():
            print(printable(path), file=out)
            if not refs:
                print("  (no training data recorded)", file=out)
            for r in refs:
                lock = f"lock sha256:{r.lock_root[:16]}…" if r.lock_root else "not locked"
                state = {None: "", True: ", verified", False: ", DIFFERS from its lock"}[r.verified]
                print(f"  {printable(r.name)}  [{r.source}] {lock}{state}"
                      + (f"  {printable(r.uri)}" if r.uri and r.uri != r.name else ""), file=out)
        return EXIT_CLEAN


def _model_identity(model: str) -> tuple[str, str | None, str | None]:
    """(absolute path, inventory asset id, name) of MODEL as ``mlvet inventory`` would record it."""
    from mlvet.inventory.discover import iter_groups
    from mlvet.inventory.model import asset_id

    path = os.path.abspath(model)
    for group in iter_groups([path]):
        if os.path.abspath(group.root) == path:
            return path, asset_id(group.key), group.name
    return path, None, os.path.basename(path.rstrip(os.sep)) or path


def _load_lock(path: str) -> Any:
    from mlvet.data.croissant import is_croissant, lock_from_croissant
    from mlvet.data.lockfile import from_document

    doc = _read_json(path)
    found = lock_from_croissant(doc) if is_croissant(doc) else None
    return found.lock if found is not None else from_document(doc)


def _cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "mlvet", "rdap")


def _read_json(path: str) -> Any:
    from mlvet.errors import UsageError

    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path} is not JSON: {exc}") from None


def _print_verify(report: Any) -> None:
    out = _io.text_stdout()
    from mlvet.report.text import printable

    for label, items in (("missing", report.missing), ("extra", report.extra), ("changed", report.changed),
                         ("unverifiable", report.unverifiable)):
        for item in sorted(items)[:1000]:
            print(f"{label:<13} {printable(item)}", file=out)
        if len(items) > 1000:
            print(f"{label:<13} … and {len(items) - 1000} more (use --format json)", file=out)
    verdict = "matches the lock" if report.matches else "DIFFERS from the lock"
    print(f"{verdict}: {len(report.missing)} missing, {len(report.extra)} extra, {len(report.changed)} changed, "
          f"{len(report.unverifiable)} unverifiable; affected {report.affected_fraction:.4%}", file=out)


def _print_domains(report: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{report.total} rows, {len(report.domains)} domains")
    for name in ("domain", "rows", "share", "status"):
        table.add_column(name, justify="right" if name in ("rows", "share") else "left")
    for row in report.domains[:200]:
        table.add_row(_io.cell(row.domain), str(row.rows), f"{row.share:.4%}", row.status)
    console = Console(file=sys.stdout)
    console.print(table)
    if len(report.domains) > 200:
        console.print(f"… {len(report.domains) - 200} more domains (use --format json)")
    console.print(f"takeover share (rows on expired domains): {report.takeover_share:.4%}")
