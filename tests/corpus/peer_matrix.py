"""Run the peer scanners (picklescan, modelscan, fickling, modelaudit) over the malicious corpus.

Test/benchmark tooling only: it needs the peers installed (ideally in a throw-away virtualenv
outside the repo, e.g. ``python -m venv /tmp/peers && /tmp/peers/bin/pip install picklescan
modelscan fickling modelaudit py7zr``) and is never imported by mlvet.  Peers are static scanners,
so they run in-process; each sample is written under its (possibly misleading) file name.

Verdict per cell: ``D`` = flagged as dangerous/unsafe, ``w`` = only a warning / suspicious /
scan error, ``.`` = reported clean (a *bypass*), ``E`` = the peer crashed.

Usage::

    /tmp/peers/bin/python tests/corpus/peer_matrix.py [--markdown out.md]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

# No telemetry, no network: the peers only read local files here.
for _var in ("PROMPTFOO_DISABLE_TELEMETRY", "NO_ANALYTICS", "IS_TESTING", "DO_NOT_TRACK"):
    os.environ[_var] = "1"


def _no_network(event: str, _args: object) -> None:
    if event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname", "urllib.Request"):
        raise PermissionError(f"peer_matrix blocks {event}")


sys.addaudithook(_no_network)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import build_malicious  # noqa: E402  (sibling module; audit hook must be installed first)


def _picklescan(path: Path) -> str:
    from picklescan.scanner import scan_file_path  # type: ignore[import-not-found,import-untyped,unused-ignore]

    r = scan_file_path(str(path))
    if r.issues_count > 0:
        return "D"
    return "w" if (r.scan_err or getattr(r, "suspicious_count", 0)) else "."


def _modelscan(path: Path) -> str:
    from modelscan.modelscan import ModelScan  # type: ignore[import-not-found,import-untyped,unused-ignore]

    res = ModelScan().scan(str(path))
    if res.get("summary", {}).get("total_issues", 0) > 0 or res.get("issues"):
        return "D"
    return "w" if res.get("errors") else "."


def _fickling(path: Path) -> str:
    import fickling  # type: ignore[import-not-found,import-untyped,unused-ignore]

    r = fickling.scan_file(str(path))
    return "." if r.is_safe else "D"


def _modelaudit(path: Path) -> str:
    from modelaudit.core import scan_model_directory_or_file  # type: ignore[import-not-found,import-untyped,unused-ignore]

    r = scan_model_directory_or_file(str(path))
    issues = r.get("issues", []) if isinstance(r, dict) else getattr(r, "issues", [])
    sev = set()
    for i in issues:
        s = i.get("severity") if isinstance(i, dict) else getattr(i, "severity", None)
        sev.add(str(getattr(s, "value", s)).lower())
    if sev & {"critical", "issueseverity.critical"}:
        return "D"
    return "w" if issues else "."


PEERS: dict[str, Callable[[Path], str]] = {
    "picklescan": _picklescan,
    "modelscan": _modelscan,
    "fickling": _fickling,
    "modelaudit": _modelaudit,
}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--markdown", type=Path, default=None)
    args = ap.parse_args()
    logging.disable(logging.CRITICAL)
    samples = build_malicious.build_all()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for s in samples:
            d = Path(tmp) / s.name
            d.mkdir()
            p = d / s.filename
            p.write_bytes(s.data)
            cells = []
            for fn in PEERS.values():
                try:
                    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
                        cells.append(fn(p))
                except Exception:
                    cells.append("E")
            rows.append((s, cells))
    lines = ["| sample | technique | " + " | ".join(PEERS) + " |", "|---|---|" + "---|" * len(PEERS)]
    lines += [f"| {s.name} | {s.technique} | " + " | ".join(c) + " |" for s, c in rows]
    tot = ["", "bypassed (clean or crash) per peer:"]
    for i, name in enumerate(PEERS):
        miss = sum(1 for _, c in rows if c[i] in ".E")
        weak = sum(1 for _, c in rows if c[i] == "w")
        tot.append(f"  {name}: {miss} of {len(rows)} missed, {weak} warning-only")
    allmiss = [s.name for s, c in rows if all(x in ".Ew" for x in c)]
    tot.append(f"  missed (no D) by every peer: {len(allmiss)}: {', '.join(allmiss)}")
    text = "\n".join(lines + tot)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
