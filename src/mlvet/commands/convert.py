"""``mlvet convert IN OUT.safetensors``: a pickle-based PyTorch checkpoint to safetensors, never unpickled.

Exit codes: 0 converted; 1 refused because the input is unsafe (a scan finding of medium severity or more,
or a pickle callable outside the tensor-rebuilding set); 2 the input is unreadable, malformed or cannot be
represented in safetensors; 4 usage errors (missing input, existing output without ``--force``).
"""

from __future__ import annotations

import click

from mlvet.commands import EXIT_CLEAN, EXIT_INCOMPLETE


def register(group: click.Group) -> None:
    """Add ``convert`` to the group."""

    @group.command()
    @click.argument("source", type=click.Path(dir_okay=False, readable=False, path_type=str))
    @click.argument("output", type=click.Path(dir_okay=False, path_type=str))
    @click.option("--force", is_flag=True, help="Replace OUTPUT if it exists.")
    @click.option("--policy", "policy_file", type=click.Path(dir_okay=False, path_type=str),
                  help="Policy file (TOML) applied on top of the shipped policy and pyproject [tool.mlvet].")
    def convert(source: str, output: str, force: bool, policy_file: str | None) -> int:
        """Convert a PyTorch checkpoint (SOURCE) to safetensors (OUTPUT) without unpickling it.

        The input is scanned first; only tensor-rebuilding pickle callables are accepted. Non-tensor
        entries (epoch counters, strings ...) are left out and listed.
        """
        from pathlib import Path

        from mlvet.commands import _io
        from mlvet.errors import MlvetError, UsageError
        from mlvet.report.text import printable
        from mlvet.scanner import resolve_policy
        from mlvet.trust.convert import convert_to_safetensors
        from mlvet.trust.torchckpt import ConversionRefused

        try:
            policy = resolve_policy(policy_file, Path.cwd())
            result = convert_to_safetensors(source, output, overwrite=force, policy=policy)
        except ConversionRefused as exc:
            _io.error(f"conversion refused: {printable(exc.reason)}")
            return exc.exit_code
        except MlvetError as exc:
            what = exc.diagnostics() if isinstance(exc, UsageError) else f"cannot convert {source}: {exc.diagnostics()}"
            _io.error(printable(what))
            return exc.exit_code
        except OSError as exc:
            _io.error(f"{exc.strerror or exc}: {exc.filename or output}")
            return EXIT_INCOMPLETE
        skipped = ""
        if result.skipped:
            names = list(result.skipped)
            shown = ", ".join(printable(n) for n in names[:5])
            shown += f" and {len(names) - 5} more" if len(names) > 5 else ""
            skipped = f"; left out {len(names)} non-tensor entr{'y' if len(names) == 1 else 'ies'}: {shown}"
        click.echo(
            f"converted {result.tensors} tensor{'s' if result.tensors != 1 else ''} "
            f"({result.data_bytes} bytes) from {result.source_format} {printable(source)} to {printable(output)}"
            f"{skipped}"
        )
        return EXIT_CLEAN
