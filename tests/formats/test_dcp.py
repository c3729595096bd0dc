"""``torch.distributed.checkpoint`` shards: split into the archives DCP wrote, each analysed, no false alarm.

Fixtures: ``tests/assets/make_dcp.py`` (real ``dcp.save``, one process). A ``.distcp`` shard read as one
zip shows thousands of prefix bytes, orphan headers and a directory torch cannot find (ARC300 medium
before); it is really one ``torch.save`` archive per item, and DCP ``torch.load``s each byte-IO item with
``weights_only=False``, so every archive must be analysed as a checkpoint of its own.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

import mlvet
from mlvet.model import FileResult, Severity

ASSETS = Path(__file__).resolve().parents[1] / "assets"
EVIL = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."


def _shard(folder: str) -> FileResult:
    (result,) = mlvet.scan([ASSETS / folder / "__0_0.distcp"]).results
    return result


def test_dcp_shard_has_no_archive_findings() -> None:
    result = _shard("dcp")
    assert result.status.value == "scanned", result.errors
    assert "torch-dcp-shard" in result.formats_seen
    assert not [f for f in result.findings if f.rule_id.startswith("ARC")], result.findings
    assert not _loud(result), result.findings
    assert all(f.location.members[0].startswith("<archive ") for f in result.findings)


def _loud(result: FileResult) -> list[str]:
    """Findings at medium or above, except the policy's verdict on the torch.save'd BytesIO item: io.BytesIO is
    rebuilt by NEWOBJ + BUILD (no call with chosen arguments); its tier belongs to the policy (reported to the
    lead), not to the archive reading this file tests."""
    return [f"{f.rule_id} {f.message}" for f in result.findings if f.severity >= Severity.MEDIUM
            and not (f.rule_id == "PKL110" and f.evidence == "_io.BytesIO()")]


def test_dcp_raw_tensor_shard_has_no_findings() -> None:
    result = _shard("dcp_raw")
    assert result.status.value == "scanned", result.errors
    assert "torch-dcp-shard" in result.formats_seen
    assert not _loud(result), result.findings


def test_every_archive_of_a_shard_is_analysed(tmp_path: Path) -> None:
    """A malicious item anywhere in the shard is found (DCP torch.loads it with weights_only=False)."""
    torch = pytest.importorskip("torch")
    parts = []
    for obj in (torch.zeros(3), {"step": 1}):
        buf = io.BytesIO()
        torch.save(obj, buf)
        parts.append(buf.getvalue())
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as zf:  # the torch.save layout, with a pickle that calls os.system
        zf.writestr("archive/data.pkl", EVIL)
        zf.writestr("archive/byteorder", b"little")
        zf.writestr("archive/version", b"3\n")
    shard = tmp_path / "__0_0.distcp"
    shard.write_bytes(parts[0] + evil.getvalue() + parts[1])
    (result,) = mlvet.scan([shard]).results
    assert "torch-dcp-shard" in result.formats_seen
    critical = [f for f in result.findings if f.severity is Severity.CRITICAL]
    assert critical and critical[0].location.members[0] == f"<archive 1 @{len(parts[0])}>", result.findings
