"""Hydra / OmegaConf YAML configs: every ``_target_`` names a callable that ``hydra.utils.instantiate`` calls.

NeMo's ``restore_from`` reads ``model_config.yaml`` from the ``.nemo`` tar and instantiates it
(CVE-2025-23304); research repositories ship Hydra configs the same way. JSON configs are covered by
:mod:`mlvet.formats.hf`; this handler covers YAML, wherever it sits (a folder, a ``.nemo`` tar, a zip).

Parsing: the strict YAML subset parser of :mod:`mlvet.formats.mlflow` (no tags, anchors or object
construction) reads the document so targets come with their key path and arguments. OmegaConf writes plain
block YAML, but a hand-written config may use what the subset refuses: then every ``key: value`` line whose
key is ``_target_`` is still found by a line scan (fail closed: no target escapes ranking because the file
used a construct the parser does not know). Ranking is :func:`mlvet.formats.code_findings.report_targets`.
"""

from __future__ import annotations

import re
from typing import Any, BinaryIO

from mlvet.analysis.config_targets import TARGET_KEYS
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.code_findings import report_targets

#: YAML configs larger than this are not read (real Hydra/NeMo configs are a few hundred KB at most).
MAX_BYTES = 16 * 1024 * 1024
#: Small files are searched whole for a target key when the head has none.
_SMALL = 4 * 1024 * 1024
_KEY_BYTES = tuple(k.encode() for k in TARGET_KEYS)
_LINE_RE = re.compile(r"""^\s*(?:-\s+)*["']?(_target_|_call_)["']?\s*:\s*(.*?)\s*$""")


def _text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(head) - 4
    return True


def _has_key(data: bytes) -> bool:
    return any(re.search(rb"(?m)^[\s\-]*[\"']?" + k + rb"[\"']?\s*:", data) for k in _KEY_BYTES)


def line_targets(text: str) -> dict[str, Any]:
    """``{"line N": {"_target_": value}}`` for each target line (the fallback when the YAML is not parsed)."""
    out: dict[str, Any] = {}
    for number, line in enumerate(text.splitlines(), 1):
        m = _LINE_RE.match(line)
        if m and m.group(2):
            value = m.group(2).split(" #", 1)[0].strip().strip("'\"")
            out[f"line {number}"] = {m.group(1): value}
    return out


class HydraYamlHandler:
    """YAML (not JSON) text with a ``_target_``/``_call_`` key: a config that instantiation turns into calls."""

    id = "hydra-config"
    priority = 68

    def sniff(self, probe: Probe) -> bool:
        head = probe.head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if not _text(probe.head) or head[:1] in (b"{", b"["):
            return False
        if _has_key(probe.head):
            return True
        if probe.size <= _SMALL:
            probe.stream.seek(0)
            return _has_key(probe.stream.read(_SMALL))
        return False

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        if size > MAX_BYTES:
            raise AnalysisError(f"YAML config of {size} bytes exceeds the {MAX_BYTES}-byte limit; not analysed")
        text = stream.read(MAX_BYTES + 1).decode("utf-8", "replace").lstrip("\ufeff")
        from mlvet.formats.mlflow import parse_yaml

        try:
            doc: Any = parse_yaml(text, "YAML config")
        except AnalysisError:
            doc = line_targets(text)
        report_targets(doc, ctx)


register(HydraYamlHandler())
