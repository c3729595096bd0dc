"""``mlvet rules``: list every rule with its default severity."""

from __future__ import annotations

import click

from mlvet.commands import EXIT_CLEAN


def register(group: click.Group) -> None:
    """Add ``rules`` to the group."""

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

