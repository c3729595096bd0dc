"""``mlvet bom``: an ML-BOM of the models and datasets under PATHs, or of the latest recorded run.

CycloneDX 1.6 JSON by default; ``--format spdx`` writes SPDX 3.0.1 JSON-LD with the AI and Dataset profiles
(needs the ``spdx`` extra). Exit codes: 0 when the BOM was written (findings are in the BOM as
vulnerabilities; ``mlvet scan`` is the gate), 4 for usage errors (no PATH and no ``--from-db``, both, an
empty database, an option of the other format), 2 when mlvet built a BOM its format's validation rejects
(a bug: nothing is written).
"""

from __future__ import annotations

import click

from mlvet.commands import EXIT_CLEAN


def register(group: click.Group) -> None:
    """Add ``bom`` to the group."""

    @group.command()
    @click.argument("paths", nargs=-1, type=click.Path(path_type=str, readable=False))
    @click.option("--db", "db_url", metavar="URL",
                  help="Inventory database (SQLAlchemy URL; default: MLVET_DB or a SQLite file in the user's "
                       "data folder). With PATHs it supplies (and refreshes) the file-hash cache and earlier "
                       "scan results of unchanged files; no run is recorded.")
    @click.option("--from-db", is_flag=True, help="Describe the latest inventory run recorded in the database.")
    @click.option("--hf-cache", is_flag=True, help="Include the Hugging Face cache (alone or with PATHs).")
    @click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, path_type=str),
                  help="Write the BOM to this file instead of standard output.")
    @click.option("--format", "fmt", type=click.Choice(["cyclonedx", "spdx"]), default="cyclonedx",
                  show_default=True,
                  help="CycloneDX 1.6 JSON, or SPDX 3.0.1 JSON-LD with the AI and Dataset profiles.")
    @click.option("--spec-version", type=click.Choice(["1.6"]), default=None,
                  help="CycloneDX specification version (1.6, the default). SPDX documents are always 3.0.1.")
    @click.option("--spdx-namespace", metavar="IRI",
                  help="Prefix of every spdxId in an SPDX document (default: urn:mlvet:). Ids are derived from "
                       "asset ids, so documents of the same tree diff cleanly.")
    def bom(paths: tuple[str, ...], db_url: str | None, from_db: bool, hf_cache: bool, output: str | None,
            fmt: str, spec_version: str | None, spdx_namespace: str | None) -> int:
        """Write an ML-BOM of the models and datasets under PATHS (or --from-db)."""
        import os

        from mlvet.commands import _io

        _io.check_output(output, what="BOM")  # before the BOM libraries load (seconds) and the inventory runs
        from mlvet.bom import BomValidationError, bom_json
        from mlvet.errors import MlvetError

        if fmt == "spdx" and spec_version is not None:
            raise click.UsageError("--spec-version is for CycloneDX; SPDX documents are always 3.0.1")
        if fmt != "spdx" and spdx_namespace is not None:
            raise click.UsageError("--spdx-namespace needs --format spdx")
        if fmt == "spdx":
            # Fail before the inventory runs when the optional dependency is missing (the CLI names the extra).
            from mlvet.bom import spdx as spdx_bom

            if spdx_namespace is not None:
                try:
                    spdx_bom.check_namespace(spdx_namespace)
                except ValueError as exc:
                    raise click.UsageError(str(exc)) from None

        if from_db and (paths or hf_cache):
            raise click.UsageError("give PATHs (and --hf-cache) or --from-db, not both")
        if not from_db and not paths and not hf_cache:
            raise click.UsageError("give at least one PATH, --hf-cache, or --from-db")
        for path in paths:
            if not os.path.lexists(path) and ":/" not in path:  # a remote URL (hf://, models:/...) is checked when read
                raise click.UsageError(f"no such file or folder: {path}")

        from mlvet.inventory.lineage import DatasetRef
        from mlvet.store import Store
        from mlvet.store.lineage import lineage_by_model

        # Training data per model (path, or "id:<asset id>"): the database's records and what the files say.
        lineage: dict[str, list[DatasetRef]] = {}
        if from_db:
            with Store(db_url, read_only=True) as store:
                run, assets = store.latest_assets()
                lineage.update(lineage_by_model(store))
            if run is None:
                raise click.UsageError("the inventory database has no recorded run; run `mlvet inventory` first")
        else:
            from mlvet.inventory.discover import inventory
            from mlvet.inventory.lineage import discover_lineage

            if db_url is not None:
                with Store(db_url) as store:
                    run, assets = inventory(list(paths), store=store, hf_cache=hf_cache)
                    lineage.update(lineage_by_model(store))
            else:
                run, assets = inventory(list(paths), hf_cache=hf_cache)
            for a in assets:
                if a.kind == "model":
                    found = discover_lineage(a.path, a.metadata, [f.path for f in a.files])
                    lineage[a.path] = [*lineage.get(a.path, []), *found]

        invalid: type[MlvetError] = BomValidationError
        try:
            if fmt == "spdx":
                invalid = spdx_bom.SpdxValidationError
                text = spdx_bom.spdx_json(assets, run, namespace=spdx_namespace, lineage=lineage)
                label = f"SPDX {spdx_bom.SPEC_VERSION} document"
            else:
                text = bom_json(assets, run, lineage=lineage)
                label = f"CycloneDX {spec_version or '1.6'} BOM"
        except invalid as exc:
            _io.error(exc.diagnostics())
            return exc.exit_code
        if output:
            with _io.output_file(output, what="BOM") as fh:
                fh.write(text)
            from mlvet.words import plural

            incomplete = sum(a.incomplete for a in assets)
            partial = f", {incomplete} incomplete (not fully analysed)" if incomplete else ""
            _io.note(f"wrote {label} with {plural(len(assets), 'asset')}{partial} to {output}")
        else:
            click.echo(text, nl=False)
        return EXIT_CLEAN
