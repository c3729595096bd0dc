"""Terminal tables for the inventory commands (rich), kept out of the command modules' logic."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from mlvet.inventory.model import Asset, Changes, InventoryRun

_VERDICT_STYLE = {"clean": "green", "info": "cyan", "low": "cyan", "medium": "yellow", "high": "red",
                  "critical": "bold red", "incomplete": "magenta"}


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _console(output: str | None) -> object:
    from rich.console import Console

    if output:
        return Console(file=open(output, "w", encoding="utf-8"), width=200, no_color=True)
    console = Console(file=sys.stdout)
    if not console.is_terminal:
        console = Console(file=sys.stdout, width=200)  # piped or redirected: don't wrap rows at 80 columns
    return console


def _display_path(path: str) -> str:
    """Relative to the working folder when below it: shorter, and what the user typed."""
    import os

    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def assets_table(assets: Sequence[Asset], title: str | None = None) -> object:
    """A rich Table of assets: kind, name, format, framework, files, size, license, verdict, path."""
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for col in ("kind", "name", "format", "framework", "files", "size", "license", "verdict", "path"):
        table.add_column(col, overflow="fold", justify="right" if col in ("files", "size") else "left",
                         no_wrap=col in ("kind", "verdict", "files", "size"))
    for a in assets:
        style = _VERDICT_STYLE.get(a.verdict, "")
        table.add_row(a.kind, a.name, a.format, a.framework or "", str(len(a.files)), _size(a.size),
                      a.metadata.license or "", f"[{style}]{a.verdict}[/]" if style else a.verdict,
                      _display_path(a.path))
    return table


def render_inventory(run: InventoryRun, assets: Sequence[Asset], changes: Changes, previous: Sequence[Asset],
                     output: str | None) -> None:
    """Changes first (what a reviewer wants), then the asset table and one summary line."""
    console = _console(output)
    names = {a.id: a for a in [*previous, *assets]}
    lines = []
    for label, ids, style in (("worse", changes.worse, "bold red"), ("new", changes.new, "green"),
                              ("changed", changes.changed, "yellow"), ("removed", changes.removed, "dim")):
        for a in sorted((names[i] for i in ids), key=lambda a: a.path):
            lines.append(f"[{style}]{label:>8}[/]  {a.kind} {a.name}  ({_display_path(a.path)})")
    console.print(assets_table(assets, title=f"Inventory run {run.id}"))  # type: ignore[attr-defined]
    if lines:
        console.print("\n[bold]Changes since the previous run[/]")  # type: ignore[attr-defined]
        for line in lines:
            console.print(line, highlight=False)  # type: ignore[attr-defined]
    by_kind = {k: sum(a.kind == k for a in assets) for k in ("model", "dataset")}
    flagged = sum(a.verdict not in ("clean", "info", "low") for a in assets)
    console.print(  # type: ignore[attr-defined]
        f"{by_kind['model']} models, {by_kind['dataset']} datasets, {flagged} flagged (medium or worse); "
        f"{run.files_seen} files seen, {run.files_hashed} hashed; "
        f"{len(changes.new)} new, {len(changes.changed)} changed, {len(changes.removed)} removed, "
        f"{len(changes.worse)} worse", highlight=False)
