"""The ``mlvet`` command line: a thin layer over :func:`mlvet.scanner.scan` and the renderers.

Exit codes (documented in the README and tested; the error tree and its codes are in :mod:`mlvet.errors`):
  0  no finding at or above ``--fail-on`` and every input fully analysed
  1  at least one finding at or above ``--fail-on``
  2  scan incomplete: an input could not be fully analysed (and no finding reached the threshold)
  4  usage or configuration error (bad option, missing path, invalid policy)

An :class:`~mlvet.errors.MlvetError` that ends a command exits with its own ``exit_code``.
"""

from __future__ import annotations

import sys
from typing import Any

from mlvet._version import __version__
from mlvet.commands import EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_USAGE

__all__ = ["EXIT_CLEAN", "EXIT_FINDINGS", "EXIT_INCOMPLETE", "EXIT_USAGE", "get_cli", "main"]


def main(argv: list[str] | None = None) -> int:
    """Console entry point; returns (and exits with) the documented exit code."""
    args = sys.argv[1:] if argv is None else argv
    if args in (["--version"], ["-V"]):  # fast path: no heavy imports
        print(f"mlvet {__version__}")
        return _exit(EXIT_CLEAN, argv)
    code = _run_click(args)
    return _exit(code, argv)


def _exit(code: int, argv: list[str] | None) -> int:
    if argv is None:
        sys.exit(code)
    return code


#: Optional dependencies by top-level module, and the extra that installs each (see pyproject.toml).
_EXTRAS = {"cyclonedx": "bom", "packageurl": "bom", "model_signing": "signing", "OpenSSL": "signing",
           "psycopg": "postgres", "numpy": "diff", "py7zr": "archives", "lz4": "lz4", "h5py": "hdf5",
           "spdx_python_model": "spdx"}


def _run_click(args: list[str]) -> int:
    import click

    from mlvet.errors import MlvetError

    try:
        result = get_cli().main(args=args, prog_name="mlvet", standalone_mode=False)
    except click.UsageError as exc:
        exc.show()
        return EXIT_USAGE
    except click.Abort:
        click.echo("aborted", err=True)
        return EXIT_USAGE
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except MlvetError as exc:
        click.echo(f"mlvet: error: {exc.diagnostics()}", err=True)
        return exc.exit_code
    except ModuleNotFoundError as exc:
        extra = _EXTRAS.get((exc.name or "").split(".")[0])
        if extra is None:
            return _internal_error(exc)
        click.echo(f"mlvet: error: this command needs the optional dependency {exc.name!r}: "
                   f"pip install 'mlvet[{extra}]'", err=True)
        return EXIT_USAGE
    except Exception as exc:
        return _internal_error(exc)
    return int(result) if isinstance(result, int) else EXIT_CLEAN


def _internal_error(exc: Exception) -> int:
    """A bug, not a bad input: say so briefly (traceback with MLVET_DEBUG=1) and exit 2, never clean."""
    import os

    import click

    click.echo(f"mlvet: internal error: {type(exc).__name__}: {exc}", err=True)
    if os.environ.get("MLVET_DEBUG"):
        raise exc
    click.echo("The command did not complete; set MLVET_DEBUG=1 for a traceback and please report it.", err=True)
    return EXIT_INCOMPLETE


def _build_cli() -> Any:
    import click

    from mlvet.commands import register_all

    class _Group(click.Group):
        def list_commands(self, ctx: click.Context) -> list[str]:
            return list(self.commands)  # registration order: the primary commands first

    @click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, "-V", "--version", prog_name="mlvet")
    def group() -> None:
        """mlvet: static security for ML models: scan, inventory, BOM, trust. Never loads what it reads."""

    register_all(group)
    return group


_CLI: Any = None


def get_cli() -> Any:
    """The click command group, built on first use so that ``--version`` never imports click."""
    global _CLI  # noqa: PLW0603 - a lazily built singleton
    if _CLI is None:
        _CLI = _build_cli()
    return _CLI

if __name__ == "__main__":  # pragma: no cover
    main()
