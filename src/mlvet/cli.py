"""The ``mlvet`` command line: a thin layer over :func:`mlvet.scanner.scan` and the renderers.

Exit codes (documented in the README and tested; the error tree and its codes are in :mod:`mlvet.errors`):
  0  no finding at or above ``--fail-on`` and every input fully analysed
  1  at least one finding at or above ``--fail-on``
  2  scan incomplete: an input could not be fully analysed (and no finding reached the threshold)
  4  usage or configuration error (bad option, missing path, invalid policy, missing optional dependency)
  130  interrupted by Ctrl-C (SIGINT);  143  terminated by SIGTERM (cleanup done, partial files removed)

An :class:`~mlvet.errors.MlvetError` that ends a command exits with its own ``exit_code``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable
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
    if argv is None:  # the process is ours: SIGTERM cleans up like Ctrl-C, a closed stdout is not an error
        from mlvet.commands import _io

        _io.install_signal_handlers()
        _io.guard_stdout()
    code = _run_click(args)
    return _exit(code, argv)


def _exit(code: int, argv: list[str] | None) -> int:
    if argv is None:
        with contextlib.suppress(BrokenPipeError, ValueError):
            sys.stdout.flush()
        sys.exit(code)
    return code


#: Optional dependencies by top-level module, and the extra that installs each (see pyproject.toml).
_EXTRAS = {"cyclonedx": "bom", "packageurl": "bom", "model_signing": "signing", "OpenSSL": "signing",
           "psycopg": "postgres", "numpy": "diff", "py7zr": "archives", "lz4": "lz4", "h5py": "hdf5",
           "spdx_python_model": "spdx"}
_EXTRAS.update({"distributed": "dask", "dask": "dask"})  # issue 14: --engine dask://

#: What each extra is for, in the message that names it.
_EXTRA_PURPOSE = {"bom": "writing ML-BOMs", "signing": "signing and verifying models",
                  "postgres": "a PostgreSQL inventory database", "diff": "comparing tensors",
                  "archives": "7-Zip archives", "lz4": "LZ4-compressed files", "hdf5": "HDF5 files",
                  "spdx": "SPDX documents"}
_EXTRA_PURPOSE["dask"] = "--engine dask://"
_EXTRAS.update({"fastapi": "serve", "uvicorn": "serve", "starlette": "serve", "itsdangerous": "serve",
                "multipart": "serve", "python_multipart": "serve"})  # issue 13 (server)
_EXTRA_PURPOSE["serve"] = "the server (mlvet serve)"


def missing_extra_message(exc: ModuleNotFoundError) -> str | None:
    """The message for an optional dependency that is not installed, or None when ``exc`` is not one."""
    extra = _EXTRAS.get((exc.name or "").split(".")[0])
    if extra is None:
        return None
    return (f"{_EXTRA_PURPOSE.get(extra, 'this command')} needs the optional dependency {exc.name!r}, "
            f"which is not installed: pip install 'mlvet[{extra}]'")


def _run_click(args: list[str]) -> int:
    fast = _fast_scan(args)
    if fast is not None:
        return _guarded(fast)

    import click

    from mlvet.commands import _io

    def call() -> Any:
        try:
            return get_cli().main(args=args, prog_name="mlvet", standalone_mode=False)
        except click.UsageError as exc:
            _io.error(exc.format_message())
            if exc.ctx is not None:
                _io.note(f"try '{exc.ctx.command_path} --help' for help")
            return EXIT_USAGE
        except click.Abort as exc:  # click wraps KeyboardInterrupt (and our SIGTERM) in Abort
            _io.error("interrupted")
            return _io.interrupt_exit_code(exc.__cause__ or exc.__context__)
        except click.exceptions.Exit as exc:
            return int(exc.exit_code)

    return _guarded(call)


def _fast_scan(args: list[str]) -> Callable[[], int] | None:
    """The plain ``mlvet scan PATH... [--format F] [--fail-on S] [--no-color] ...`` without click (its import
    costs as much as scanning a 500 MB checkpoint), or None: anything else goes through click."""
    if not args or args[0] != "scan" or "_MLVET_COMPLETE" in os.environ:
        return None
    from mlvet.commands import _scan_body

    return _scan_body.fast_path(args[1:])


def _guarded(call: Callable[[], Any]) -> int:
    """Run a command; every way it can end becomes the documented exit code and one message on stderr."""
    from mlvet.commands import _io
    from mlvet.errors import MlvetError

    try:
        result = call()
    except KeyboardInterrupt as exc:  # the fast path, or raised outside click's own handler (e.g. teardown)
        _io.error("interrupted")
        return _io.interrupt_exit_code(exc)
    except MlvetError as exc:
        _io.error(exc.diagnostics())
        return exc.exit_code
    except ModuleNotFoundError as exc:
        message = missing_extra_message(exc)
        if message is None:
            return _internal_error(exc)
        _io.error(message)
        return EXIT_USAGE
    except BrokenPipeError:  # stdout is guarded; this is stderr or a pipe the command opened itself
        return EXIT_INCOMPLETE
    except Exception as exc:
        return _internal_error(exc)
    return int(result) if isinstance(result, int) else EXIT_CLEAN


def _internal_error(exc: Exception) -> int:
    """A bug, not a bad input: say so briefly (traceback with MLVET_DEBUG=1) and exit 2, never clean."""
    from mlvet.commands import _io

    _io.error(f"internal error: {type(exc).__name__}: {exc}")
    if os.environ.get("MLVET_DEBUG"):
        raise exc
    _io.note("the command did not complete; set MLVET_DEBUG=1 for a traceback and please report it")
    return EXIT_INCOMPLETE


def _build_cli() -> Any:
    import click

    from mlvet import commands

    class _Group(click.Group):
        """Lists every command from :data:`mlvet.commands.COMMANDS` but imports a command's module only when
        that command is looked up: ``mlvet scan`` pays for the scan command alone. Help imports them all
        (it shows each command's short help, which lives with the command)."""

        def list_commands(self, ctx: click.Context) -> list[str]:
            return list(commands.COMMANDS)  # table order: the primary commands first

        def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
            if cmd_name not in self.commands and cmd_name in commands.COMMANDS:
                commands.register(self, cmd_name)
            return self.commands.get(cmd_name)

        def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
            commands.register_all(self)
            super().format_commands(ctx, formatter)

    @click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, "-V", "--version", prog_name="mlvet")
    def group() -> None:
        """mlvet: static security for ML models: scan, inventory, BOM, trust. Never loads what it reads."""

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
