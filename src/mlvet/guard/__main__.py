"""``python -m mlvet.guard [--fail-on SEVERITY] [--policy FILE] script.py [args...]``.

Runs ``script.py`` as ``__main__`` (like ``python script.py``) with the guard installed; ``-m module``
runs a module instead. An :class:`~mlvet.guard.UnsafeModelError` the script does not catch ends it with a
traceback and exit status 1, like any uncaught exception.
"""

from __future__ import annotations

import os
import runpy
import sys

USAGE = "usage: python -m mlvet.guard [--fail-on SEVERITY] [--policy FILE] (script.py | -m module) [args...]"


def main(argv: list[str]) -> int:
    """Parse the guard's own options, install it, and run the script or module with the rest."""
    fail_on = "high"
    policy: str | None = None
    args = list(argv)
    while args and args[0].startswith("--"):
        opt = args.pop(0)
        if opt == "--":
            break
        if opt in ("--fail-on", "--policy") and args:
            value = args.pop(0)
            if opt == "--fail-on":
                fail_on = value
            else:
                policy = value
        else:
            sys.stderr.write(f"{USAGE}\nunknown option {opt!r}\n")
            return 4
    if not args or (args[0] == "-m" and len(args) < 2):
        sys.stderr.write(USAGE + "\n")
        return 4
    import mlvet.guard

    try:
        mlvet.guard.install(policy=policy, fail_on=fail_on)
    except Exception as exc:
        sys.stderr.write(f"mlvet.guard: {exc}\n")
        return 4
    if args[0] == "-m":
        sys.argv = args[1:]
        runpy.run_module(args[1], run_name="__main__", alter_sys=True)
    else:
        sys.argv = args
        sys.path.insert(0, os.path.dirname(os.path.abspath(args[0])))
        runpy.run_path(args[0], run_name="__main__")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
