"""Imported by the ``.pth`` hook when ``MLVET_GUARD`` is set: install the guard before user code runs.

Settings come from the environment: ``MLVET_GUARD_FAIL_ON`` (default ``high``) and ``MLVET_GUARD_POLICY``
(a policy file). A setting that cannot be applied stops the interpreter (exit 4) rather than letting it
run unguarded: the user asked for the guard, so running without it would fail open.
"""

from __future__ import annotations

import os
import sys


def _autoload() -> None:
    try:
        import mlvet.guard

        mlvet.guard.install(policy=os.environ.get("MLVET_GUARD_POLICY") or None,
                            fail_on=os.environ.get("MLVET_GUARD_FAIL_ON") or "high")
    except Exception as exc:
        sys.stderr.write(f"mlvet.guard: MLVET_GUARD is set but the guard could not be installed: {exc}\n")
        sys.stderr.flush()
        # Not SystemExit: site.py reports exceptions from .pth lines and carries on, unguarded.
        os._exit(4)


_autoload()
