"""``mlvet guard install|uninstall|status``: the opt-in start-up hook of :mod:`mlvet.guard`.

``install`` writes a one-line ``.pth`` file into site-packages (or ``--user`` / ``--site-dir``); from then
on every Python started with ``MLVET_GUARD=1`` in its environment installs the guard before user code runs
(``MLVET_GUARD_FAIL_ON``, ``MLVET_GUARD_POLICY`` configure it). Without the variable the hook imports
nothing. ``uninstall`` removes the file.
"""

from __future__ import annotations

import click

from mlvet.commands import EXIT_CLEAN, EXIT_FINDINGS


def _where(user: bool, site_dir: str | None) -> str:
    from mlvet.guard.pth import site_dir as default_site_dir

    return site_dir if site_dir else default_site_dir(user)


def register(group: click.Group) -> None:
    """Add ``guard`` and its sub-commands to the group."""

    @group.group()
    def guard() -> None:
        """Scan models when Python loads them (the MLVET_GUARD start-up hook)."""

    user_option = click.option("--user", is_flag=True, help="Use the per-user site-packages folder.")
    site_option = click.option("--site-dir", type=click.Path(file_okay=False), default=None,
                               help="Use this folder instead of the interpreter's site-packages.")

    @guard.command("install")
    @user_option
    @site_option
    def install(user: bool, site_dir: str | None) -> int:
        """Install the start-up hook (active only where MLVET_GUARD=1 is set)."""
        from mlvet.guard.pth import install_pth

        path = install_pth(_where(user, site_dir))
        click.echo(f"installed {path}; set MLVET_GUARD=1 to guard a Python process")
        return EXIT_CLEAN

    @guard.command("uninstall")
    @user_option
    @site_option
    def uninstall(user: bool, site_dir: str | None) -> int:
        """Remove the start-up hook."""
        from mlvet.guard.pth import pth_path, uninstall_pth

        where = _where(user, site_dir)
        if uninstall_pth(where):
            click.echo(f"removed {pth_path(where)}")
        else:
            click.echo(f"not installed in {where}")
        return EXIT_CLEAN

    @guard.command("status")
    @user_option
    @site_option
    def status(user: bool, site_dir: str | None) -> int:
        """Say whether the hook is installed there (exit 0) or not (exit 1)."""
        import os

        from mlvet.guard.pth import pth_path

        path = pth_path(_where(user, site_dir))
        if os.path.exists(path):
            click.echo(f"installed: {path}")
            return EXIT_CLEAN
        click.echo(f"not installed: {path}")
        return EXIT_FINDINGS
