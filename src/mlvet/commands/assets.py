"""``mlvet assets``: list and filter the inventoried assets from the database (the current inventory by default)."""

from __future__ import annotations

import click

from mlvet.commands import EXIT_CLEAN


def register(group: click.Group) -> None:
    """Add ``assets`` to the group."""

    @group.command()
    @click.option("--db", envvar="MLVET_DB", help="SQLAlchemy database URL (env MLVET_DB).")
    @click.option("--kind", type=click.Choice(["model", "dataset"]), help="Only models or only datasets.")
    @click.option("--file-format", "file_format", help="Only assets of this format (safetensors, pytorch-zip, ...).")
    @click.option("--severity", "min_severity", help="Only assets with a finding of at least this severity.")
    @click.option("--license", "license_", help="Only assets with this declared license (e.g. apache-2.0).")
    @click.option("--path", "path_glob", help="Only assets whose path matches this glob (e.g. '*/prod/*').")
    @click.option("--run", "run_id", type=int, help="Assets of this run instead of the latest.")
    @click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
    def assets(db: str | None, kind: str | None, file_format: str | None, min_severity: str | None,
               license_: str | None, path_glob: str | None, run_id: int | None, fmt: str) -> int:
        """List the assets recorded by `mlvet inventory`, filtered.

        By default this is the current inventory: the latest run of each set of roots that was inventoried
        (an asset found by several, once, in its newest state); --run N lists one run's assets.
        """
        import json

        from mlvet.commands import _io
        from mlvet.inventory.serialize import asset_to_dict
        from mlvet.model import Severity
        from mlvet.store import Store

        sev = None
        if min_severity:
            try:
                sev = Severity.parse(min_severity)
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint="--severity") from None
        from mlvet.errors import UsageError

        store = Store(db, read_only=True)
        try:
            if run_id is not None and store.run(run_id) is None:
                raise UsageError(f"no inventory run {run_id} in the database (see the run ids in "
                                 "'mlvet inventory --format json')")
            found = store.query_assets(kind=kind, fmt=file_format, min_severity=sev, license=license_,
                                       path_glob=path_glob, run_id=run_id)
        finally:
            store.close()
        out = _io.text_stdout()
        if fmt == "json":
            text = json.dumps([asset_to_dict(a) for a in found], indent=2, ensure_ascii=False)
            out.write(text.encode("utf-8", "backslashreplace").decode() + "\n")
        else:
            from mlvet.commands._tables import assets_table, console, summary_line
            from mlvet.words import plural

            con = console()
            con.print(assets_table(found))
            con.print(f"{plural(len(found), 'asset')}: {summary_line(found)}" if found else "0 assets")
        return EXIT_CLEAN
