"""``mlvet token create|list|revoke``: API tokens of ``mlvet serve`` (scoped, stored hashed, shown once)."""

from __future__ import annotations

import click

from mlvet.commands import EXIT_CLEAN


def register(group: click.Group) -> None:
    """Add the ``token`` group to the group."""

    @group.group()
    def token() -> None:
        """Create, list and revoke API tokens for `mlvet serve` (in the server's database)."""

    db_option = click.option("--db", envvar="MLVET_DB", default=None,
                             help="SQLAlchemy database URL of the server (default: MLVET_DB or the user's SQLite "
                             "file).")

    @token.command("create")
    @click.option("--name", required=True, help="Who the token is for (a team, a CI job, a machine).")
    @click.option("--scope", "scope", required=True,
                  help="Comma-separated scopes: read, push, scan, gateway, admin (admin implies all).")
    @db_option
    def create(name: str, scope: str, db: str | None) -> int:
        """Create a token and print it once: it is stored only as a hash and cannot be shown again."""
        from mlvet.commands import _io
        from mlvet.server.config import parse_scopes
        from mlvet.server.tokens import create_token
        from mlvet.store import Store

        if not name.strip() or len(name) > 255:
            raise click.BadParameter("give a name of 1 to 255 characters", param_hint="--name")
        scopes = parse_scopes(scope, "--scope")
        if not scopes:
            raise click.BadParameter("give at least one scope", param_hint="--scope")
        with Store(db) as store:
            token_id, secret = create_token(store, name.strip(), scopes)
        _io.text_stdout().write(secret + "\n")
        _io.note(f"token {token_id} ({name.strip()}; {', '.join(sorted(scopes))}) created; it is shown only "
                 "this once: store it now")
        return EXIT_CLEAN

    @token.command("list")
    @db_option
    @click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
    def list_(db: str | None, fmt: str) -> int:
        """List tokens (id, name, prefix, scopes, created, revoked); never the tokens themselves."""
        import json

        from mlvet.commands import _io
        from mlvet.server.tokens import list_tokens
        from mlvet.store import Store

        with Store(db) as store:
            tokens = list_tokens(store)
        out = _io.text_stdout()
        if fmt == "json":
            doc = [{"id": t.id, "name": t.name, "prefix": t.prefix, "scopes": list(t.scopes),
                    "created_at": t.created_at.isoformat(),
                    "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None} for t in tokens]
            out.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
            return EXIT_CLEAN
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        table = Table("id", "name", "prefix", "scopes", "created", "revoked")
        for t in tokens:
            table.add_row(str(t.id), escape(t.name), t.prefix + "…", ",".join(t.scopes),
                          t.created_at.strftime("%Y-%m-%d %H:%M"),
                          t.revoked_at.strftime("%Y-%m-%d %H:%M") if t.revoked_at else "")
        Console(file=out, highlight=False, soft_wrap=True).print(table)
        return EXIT_CLEAN

    @token.command("revoke")
    @click.argument("token_ref", metavar="ID|NAME")
    @db_option
    def revoke(token_ref: str, db: str | None) -> int:
        """Revoke a token by id, or every active token with this name; requests with it get 401 at once."""
        from mlvet.commands import _io
        from mlvet.errors import UsageError
        from mlvet.server.tokens import revoke_token
        from mlvet.store import Store

        with Store(db) as store:
            ids = revoke_token(store, token_ref)
        if not ids:
            raise UsageError(f"no active token with id or name {token_ref!r} (see mlvet token list)")
        _io.note(f"revoked token {', '.join(map(str, ids))}")
        return EXIT_CLEAN
