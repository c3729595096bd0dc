"""Keras config findings into a scan context: the format-side half of :mod:`mlvet.analysis.keras_config`.

The walker returns data; this module alone decides how it is reported (one finding per distinct
object with its count, a summary finding past the cap, analysis faults as errors) and content-scans
the pickles a config embeds (TorchModuleWrapper). The ``.keras``, bare-JSON and HDF5 readers share it.
"""

from __future__ import annotations

import io
from typing import Any

from mlvet.analysis.keras_config import MAX_FINDINGS, ConfigAnalysis, ConfigWalker, parse_config_json
from mlvet.errors import AnalysisError
from mlvet.formats.base import ScanContext


def emit(result: ConfigAnalysis, ctx: ScanContext) -> None:
    """Report one config's hits and faults into ``ctx``."""
    for hit in result.hits.values():
        msg = hit.message if hit.count == 1 else f"{hit.message} ({hit.count} occurrences)"
        ctx.report(hit.rule, msg, severity=hit.severity, evidence=hit.evidence)
    worst = result.dropped_worst
    if worst is not None:
        ctx.report(
            worst.rule,
            f"{result.dropped} further findings in {result.origin} were not listed (limit {MAX_FINDINGS}); "
            f"the most severe: {worst.message}",
            severity=worst.severity, evidence=worst.evidence,
        )
    for message in result.errors:
        ctx.error(message)


def analyse_config(
    doc: Any, shadowed: list[tuple[str, Any]], ctx: ScanContext, origin: str, *, no_safe_mode: bool = False
) -> None:
    """Walk one parsed config and report into ``ctx`` (embedded pickles are content-scanned)."""
    result = ConfigWalker(ctx.policy, origin, no_safe_mode=no_safe_mode).walk(doc, shadowed)
    emit(result, ctx)
    for name, raw in result.embedded:
        sub = ctx.child(name)
        sub.scan_stream(io.BytesIO(raw), len(raw), name)


def analyse_config_bytes(data: bytes | str, ctx: ScanContext, origin: str, *, no_safe_mode: bool = False) -> None:
    """Parse a config (bounded, duplicates kept) and report it; a non-object document is an error."""
    doc, shadowed = parse_config_json(data, origin)
    if not isinstance(doc, dict):
        raise AnalysisError(f"{origin} is JSON but not an object (found {type(doc).__name__})")
    analyse_config(doc, shadowed, ctx, origin, no_safe_mode=no_safe_mode)

