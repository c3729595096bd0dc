"""Terminal tables for the inventory commands (rich), kept out of the command modules' logic.

Every string that comes from the files (names, paths, licenses, formats read from headers) goes through
:func:`mlvet.commands._io.cell`: control characters (an ESC sequence in a file name) and undecodable bytes
are shown as escapes and ``[red]`` is printed literally instead of being taken as rich markup.
Incompleteness is never hidden: the verdict column says ``incomplete`` (see
:func:`mlvet.inventory.model.verdict_text`) and the summary line counts incomplete assets.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, TextIO

from mlvet.commands._io import cell
from mlvet.inventory.model import Asset, Changes, InventoryRun, verdict_text
from mlvet.words import plural

_VERDICT_STYLE = {"clean": "green", "info": "cyan", "low": "cyan", "medium": "yellow", "high": "red",
                  "critical": "bold red", "incomplete": "magenta"}


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def console(fh: TextIO | None = None) -> Any:
    """A rich console for a table: ``fh`` (the ``-o`` file, opened by :func:`mlvet.commands._io.output_file`)
    200 columns wide and without colour, else standard output, full width when piped or redirected (a
    script reading it must not get rows wrapped at 80 columns) and the terminal's width otherwise."""
    from rich.console import Console

    if fh is not None:
        return Console(file=fh, width=200, no_color=True, highlight=False)
    out = Console(file=sys.stdout, highlight=False)
    if not out.is_terminal:
        out = Console(file=sys.stdout, width=200, highlight=False)
    return out


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

    table = Table(title=cell(title) if title else None, show_lines=False)
    for col in ("kind", "name", "format", "framework", "files", "size", "license", "verdict", "path"):
        table.add_column(col, overflow="fold", justify="right" if col in ("files", "size") else "left",
                         no_wrap=col in ("kind", "verdict", "files", "size"))
    for a in assets:
        verdict = verdict_text(a)
        style = _VERDICT_STYLE.get("incomplete" if a.verdict == "incomplete" else a.verdict, "")
        table.add_row(a.kind, cell(a.name), cell(a.format), cell(a.framework or ""), str(len(a.files)),
                      _size(a.size), cell(a.metadata.license or ""),
                      f"[{style}]{verdict}[/]" if style else verdict, cell(_display_path(a.path)))
    return table


def summary_line(assets: Sequence[Asset]) -> str:
    """``1 model, 2 datasets, 1 flagged (medium or worse), 1 incomplete``."""
    models = sum(a.kind == "model" for a in assets)
    datasets = sum(a.kind == "dataset" for a in assets)
    flagged = sum(a.severity.label in ("medium", "high", "critical") for a in assets)
    incomplete = sum(a.incomplete for a in assets)
    text = f"{plural(models, 'model')}, {plural(datasets, 'dataset')}, {flagged} flagged (medium or worse)"
    return text + (f", {incomplete} incomplete (not fully analysed)" if incomplete else "")


def render_inventory(run: InventoryRun, assets: Sequence[Asset], changes: Changes, previous: Sequence[Asset],
                     fh: TextIO | None = None) -> None:
    """Changes first (what a reviewer wants), then the asset table and one summary line."""
    out = console(fh)
    names = {a.id: a for a in [*previous, *assets]}
    lines = []
    for label, ids, style in (("worse", changes.worse, "bold red"), ("new", changes.new, "green"),
                              ("changed", changes.changed, "yellow"), ("removed", changes.removed, "dim")):
        for a in sorted((names[i] for i in ids), key=lambda a: a.path):
            lines.append(f"[{style}]{label:>8}[/]  {a.kind} {cell(a.name)}  ({cell(_display_path(a.path))})")
    out.print(assets_table(assets, title=f"Inventory run {run.id}"))
    if lines:
        out.print("\n[bold]Changes since the previous run[/]")
        for line in lines:
            out.print(line)
    out.print(
        f"{summary_line(assets)}; {plural(run.files_seen, 'file')} seen, {run.files_hashed} hashed; "
        f"{len(changes.new)} new, {len(changes.changed)} changed, {len(changes.removed)} removed, "
        f"{len(changes.worse)} worse")
