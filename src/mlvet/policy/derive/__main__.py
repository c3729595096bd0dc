"""``python -m mlvet.policy.derive [--write] [--audit]``: derive the load facts from the pinned libraries.

Without ``--write`` it only derives and prints a summary (and the audit with ``--audit``); ``--write``
replaces ``mlvet/policy/derived.json``. Exit status 1 when the audit flags a safe-tier entry.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from mlvet.policy.derive import derive
from mlvet.policy.derive.sources import PINS, SourceError, cache_dir
from mlvet.policy.derived import dumps

TARGET = Path(__file__).resolve().parent.parent / "derived.json"


def dump(table: dict[str, object]) -> str:
    """The canonical text of ``derived.json`` (sorted, one module per line: re-derivation is byte-stable)."""
    return dumps(table)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mlvet.policy.derive", description=__doc__)
    ap.add_argument("--write", action="store_true", help=f"write {TARGET.name} beside derived.py")
    ap.add_argument("--out", type=Path, help="write the table here instead")
    ap.add_argument("--audit", action="store_true", help="audit the shipped policy's safe tier")
    ap.add_argument("--pins", type=Path, default=PINS)
    ap.add_argument("--cache", type=Path, default=None,
                    help=f"wheel and summary cache (default $MLVET_DERIVE_CACHE or {cache_dir()})")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--no-download", action="store_true", help="fail instead of downloading a missing wheel")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    start = time.monotonic()
    try:
        result = derive(args.pins, args.cache, args.jobs, not args.no_download, log)
    except SourceError as exc:
        log(f"error: {exc}")
        return 2
    for lib in result.libraries:
        for mod, why in sorted(lib.skipped.items()):
            log(f"not derived ({lib.name}): {mod}: {why}")
    log(f"derived in {time.monotonic() - start:.1f}s")
    target = args.out or (TARGET if args.write else None)
    if target is not None:
        target.write_text(dump(result.table), encoding="utf-8")
        log(f"wrote {target} ({target.stat().st_size / 1e6:.2f} MB)")
    if args.audit:
        from mlvet.policy import default_policy
        from mlvet.policy.derive.audit import audit

        flags, _uncovered = audit(default_policy(), result.table)
        for flag in flags:
            print(flag)
        return 1 if flags else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
