"""The opt-in start-up hook: a ``.pth`` file that installs the guard when ``MLVET_GUARD`` is set.

``mlvet guard install`` writes :data:`PTH_NAME` into a site-packages folder. Python runs its one line at
every interpreter start; the line only reads an environment variable, so an interpreter without
``MLVET_GUARD`` (or with ``MLVET_GUARD=0``) pays for one ``os.environ`` lookup and imports nothing of
mlvet. With it set, :mod:`mlvet.guard._autoload` installs the guard before any user code runs.
"""

from __future__ import annotations

import os
import site
import sysconfig

__all__ = ["PTH_LINE", "PTH_NAME", "install_pth", "pth_path", "uninstall_pth"]

PTH_NAME = "mlvet-guard.pth"
#: ``site`` executes ``.pth`` lines that start with ``import``; this one imports the autoloader only when
#: the variable is set to something other than empty or ``0``.
PTH_LINE = ('import os; os.environ.get("MLVET_GUARD", "0").strip() not in ("", "0") '
            'and __import__("mlvet.guard._autoload")\n')


def site_dir(user: bool = False) -> str:
    """The folder the hook goes to: the interpreter's site-packages, or the per-user one."""
    if user:
        return site.getusersitepackages()
    return sysconfig.get_paths()["purelib"]


def pth_path(directory: str) -> str:
    """Where the hook file is (or would be) in ``directory``."""
    return os.path.join(directory, PTH_NAME)


def install_pth(directory: str) -> str:
    """Write the hook into ``directory`` (created if missing); returns its path."""
    from mlvet.errors import UsageError
    from mlvet.outfile import atomic_writer

    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {directory}: {exc.strerror or exc}") from None
    path = pth_path(directory)
    # Atomic (a half-written hook would run half a line in every interpreter start) and never left behind:
    # the temporary name ends in .partial, which site.py does not execute.
    with atomic_writer(path, what="start-up hook") as f:
        f.write(PTH_LINE)
    return path


def uninstall_pth(directory: str) -> bool:
    """Remove the hook from ``directory``; False when it was not there."""
    try:
        os.unlink(pth_path(directory))
    except FileNotFoundError:
        return False
    return True
