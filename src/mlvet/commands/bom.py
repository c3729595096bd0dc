"""``mlvet bom``: a CycloneDX 1.6 ML-BOM of the models and datasets under PATHs, or of the latest recorded run.

Exit codes: 0 when the BOM was written (findings are in the BOM as vulnerabilities; ``mlvet scan`` is the
gate), 4 for usage errors (no PATH and no ``--from-db``, both, an empty database), 2 when mlvet built a BOM
the schema rejects (a bug: nothing is written).
"""

from __future__ import annotations

import click

from mlvet.commands import EXIT_CLEAN, EXIT_INCOMPLETE


def register(group: click.Group) -> None:
    """Add ``bom`` to the group."""

    @group.command()
    @click.argument("paths", nargs=-1, type=click.Path(path_type=str))
    @click.option("--db", "db_url", metavar="URL",
                  help="Inventory database (SQLAlchemy URL; default: MLVET_DB or a SQLite file in the user's "
                       "data folder). With PATHs it supplies (and refreshes) the file-hash cache and earlier "
                       "scan results of unchanged files; no run is recorded.")
    @click.option("--from-db", is_flag=True, help="Describe the latest inventory run recorded in the database.")
    @click.option("--hf-cache", is_flag=True, help="Include the Hugging Face cache (alone or with PATHs).")
    @click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, path_type=str),
                  help="Write the BOM to this file instead of standard output.")
    @click.option("--spec-version", type=click.Choice(["1.6"]), default="1.6", show_default=True,
                  help="CycloneDX specification version.")
    def bom(paths: tuple[str, ...], db_url: str | None, from_db: bool, hf_cache: bool, output: str | None,
            spec_version: str) -> int:
        """Write a CycloneDX ML-BOM of the models and datasets under PATHS (or --from-db)."""
        import os

        from mlvet.bom import BomValidationError, bom_json

        if from_db and (paths or hf_cache):
            raise click.UsageError("give PATHs (and --hf-cache) or --from-db, not both")
        if not from_db and not paths and not hf_cache:
            raise click.UsageError("give at least one PATH, --hf-cache, or --from-db")
        for path in paths:
            if not os.path.lexists(path):
                raise click.UsageError(f"no such file or folder: {path}")

        from mlvet.store import Store

        if from_db:
            with Store(db_url) as store:
                run, assets = store.latest_assets()
            if run is None:
                raise click.UsageError("the inventory database has no recorded run; run `mlvet inventory` first")
        else:
            from mlvet.inventory.discover import inventory

            if db_url is not None:
                with Store(db_url) as store:
                    run, assets = inventory(list(paths), store=store, hf_cache=hf_cache)
            else:
                run, assets = inventory(list(paths), hf_cache=hf_cache)
        try:
            text = bom_json(assets, run)
        except BomValidationError as exc:
            click.echo(f"mlvet: {exc.diagnostics()}", err=True)
            return EXIT_INCOMPLETE
        if output:
            _write_atomically(output, text)
            click.echo(f"wrote CycloneDX {spec_version} BOM with {len(assets)} assets to {output}", err=True)
        else:
            click.echo(text, nl=False)
        return EXIT_CLEAN


def _write_atomically(path: str, text: str) -> None:
    """Write next to the target and rename, so a reader never sees half a BOM (or a stale one after an error)."""
    import contextlib
    import os
    import tempfile

    from mlvet.errors import UsageError

    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".mlvet-bom-", suffix=".json", dir=folder)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)  # mkstemp creates 0600; give the file the mode open() would have
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise UsageError(f"cannot write {path}: {exc.strerror or exc}") from None
