"""``mlvet diff A B``: the tamper diff's command line (see :mod:`mlvet.trust.diff`).

Exit codes: 0 the two models are identical, 1 they differ, 2 an input could not be read (unrecognised,
malformed, truncated, not a regular file, or a checkpoint the pickle engine refuses), 4 usage error,
including NumPy (the ``diff`` extra) not installed: the library can list changed tensors without it, but
the verdict needs the size of each change, and a command whose verdict silently depends on what happens
to be installed cannot be scripted against.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, TextIO

import click

from mlvet.commands import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE

if TYPE_CHECKING:
    from mlvet.trust.diff import TensorDiff

#: Rows per section of the text report; JSON always lists everything.
TEXT_ROWS = 200


def register(group: click.Group) -> None:
    """Add ``diff`` to the group."""

    @group.command()
    @click.argument("model_a", type=click.Path(exists=True, readable=False, path_type=str))
    @click.argument("model_b", type=click.Path(exists=True, readable=False, path_type=str))
    @click.option("--format", "-f", "fmt", type=click.Choice(["text", "json"]), default="text",
                  show_default=True, help="Output format.")
    @click.option("--color/--no-color", default=None, help="Force or disable colour (default: on a terminal).")
    @click.option("--progress/--no-progress", default=None, help="Progress bar on stderr (default: on a terminal).")
    def diff(model_a: str, model_b: str, fmt: str, color: bool | None, progress: bool | None) -> int:
        """Compare two versions of a model tensor by tensor (MODEL_A is the reference).

        Reads safetensors (single or sharded), PyTorch checkpoints (through the pickle engine, never
        unpickled), GGUF and NumPy .npy/.npz, recognised by content, in bounded memory. Lists added,
        removed, reshaped and re-typed tensors and measures each changed tensor (relative L2 norm, largest
        absolute difference, fraction of elements changed), grouped by layer, with a verdict separating a
        targeted edit of a few tensors from a fine-tune. Exit 0 identical, 1 different, 2 unreadable input.
        """
        import json
        import os
        from contextlib import ExitStack

        import numpy  # noqa: F401 - needed for the verdict; missing, the command line names the extra (exit 4)

        from mlvet.commands import _io
        from mlvet.errors import MlvetError
        from mlvet.trust.diff import diff_tensors
        from mlvet.trust.tensors import open_tensors

        show_progress = progress if progress is not None else sys.stderr.isatty()
        try:
            with ExitStack() as stack:
                sets = []
                for label, path in (("A", model_a), ("B", model_b)):
                    try:
                        sets.append(stack.enter_context(open_tensors(path)))
                    except MlvetError as exc:
                        raise _InputError(f"{label} ({path}): {exc.diagnostics()}", exc.exit_code) from None
                result = _run(diff_tensors, sets[0], sets[1], show_progress)
        except (_InputError, MlvetError) as exc:
            _io.error(exc.diagnostics())
            return exc.exit_code
        except OSError as exc:
            _io.error(f"{exc.strerror or exc}: {exc.filename or ''}")
            return EXIT_INCOMPLETE
        stream = _io.text_stdout()
        if fmt == "json":
            json.dump(result.to_dict(), stream, indent=2, allow_nan=False)
            stream.write("\n")
        else:
            use_color = color if color is not None else (stream.isatty() and "NO_COLOR" not in os.environ)
            render_text(result, model_a, model_b, stream, color=use_color)
        return EXIT_CLEAN if result.identical else EXIT_FINDINGS


class _InputError(Exception):
    """An input could not be opened; the message names which one, the code is the cause's."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code

    def diagnostics(self) -> str:
        """The message shown to the user."""
        return str(self)


def _run(diff_tensors: Any, a: Any, b: Any, show: bool) -> TensorDiff:
    if not show:
        return diff_tensors(a, b)  # type: ignore[no-any-return]
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("comparing"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("diff", total=None)

        def tick(_name: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return diff_tensors(a, b, progress=tick)  # type: ignore[no-any-return]


def _num(value: float | None, pct: bool = False) -> str:
    if value is None:
        return "-"
    if pct:
        return f"{value:.2%}"
    return f"{value:.3g}"


def render_text(result: TensorDiff, path_a: str, path_b: str, stream: TextIO, *, color: bool) -> None:
    """The human report: verdict and totals first, then the changed tensors grouped by layer."""
    from rich.console import Console
    from rich.table import Table

    from mlvet.commands._io import cell as escape  # names and paths come from the files: escaped

    console = Console(file=stream, force_terminal=color, no_color=not color, highlight=False,
                      width=None if color else 120)
    s = result.summary
    style = {"identical": "bold green", "targeted": "bold red", "scattered": "bold red", "widespread": "bold yellow",
             "partial": "bold yellow", "unrelated": "bold magenta"}.get(s.verdict, "bold")
    console.print(f"[bold]mlvet diff[/]  A = {escape(path_a)} ({escape(s.format_a)}, {s.tensors_a} tensors)")
    console.print(f"            B = {escape(path_b)} ({escape(s.format_b)}, {s.tensors_b} tensors)")
    console.print(f"[{style}]{s.verdict.upper()}[/]: {escape(s.message)}", soft_wrap=True)
    console.print(f"changed {s.changed} · unchanged {s.unchanged} · added {s.added} · removed {s.removed} · "
                  f"reshaped {s.reshaped} · retyped {s.retyped} · layers changed {s.layers_changed}/{s.layers}")
    for note in s.notes:
        console.print(f"[yellow]note:[/] {escape(note)}")
    if result.changed:
        table = Table(title="Changed tensors by layer", title_justify="left", show_edge=False)
        for header in ("layer", "tensor", "dtype", "shape", "rel L2", "max |Δ|", "changed"):
            table.add_column(header, justify="right" if header in ("rel L2", "max |Δ|", "changed") else "left")
        by_layer: dict[str, list[Any]] = {}
        for change in result.changed:
            by_layer.setdefault(change.layer, []).append(change)
        rows = 0
        for layer, changes in by_layer.items():
            for i, change in enumerate(changes):
                if rows >= TEXT_ROWS:
                    break
                rows += 1
                frac = _num(change.fraction_changed, pct=True)
                if change.measure == "bytes":
                    frac += " of bytes"
                table.add_row(escape(layer) if i == 0 else "", escape(change.name[len(layer):].lstrip(".")
                                                                      or change.name),
                              escape(change.dtype), "×".join(map(str, change.shape)) or "scalar",
                              _num(change.rel_l2), _num(change.max_abs), frac)
        console.print(table)
        if len(result.changed) > TEXT_ROWS:
            console.print(f"… and {len(result.changed) - TEXT_ROWS} more changed tensors (--format json lists all)")
    sections = (
        ("added", [escape(n) for n in result.added]),
        ("removed", [escape(n) for n in result.removed]),
        ("reshaped", [f"{escape(r.name)}: {list(r.shape_a)} → {list(r.shape_b)}" for r in result.reshaped]),
        ("retyped", [f"{escape(r.name)}: {escape(r.dtype_a)} → {escape(r.dtype_b)}" for r in result.retyped]),
    )
    for title, lines in sections:
        if not lines:
            continue
        console.print(f"[bold]{title}[/] ({len(lines)}):")
        for line in lines[:TEXT_ROWS]:
            console.print(f"  {line}")
        if len(lines) > TEXT_ROWS:
            console.print(f"  … and {len(lines) - TEXT_ROWS} more (--format json lists all)")
