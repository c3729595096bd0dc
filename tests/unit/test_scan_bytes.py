"""``mlvet.scan_bytes``: the public way to scan content already in memory, same verdict as a file."""

from __future__ import annotations

import pickle
from pathlib import Path

import mlvet
from mlvet.model import Status
from mlvet.policy import default_policy
from mlvet.scanner import scan_file

_EVIL = b"cos\nsystem\n(S'id'\ntR."  # protocol 0: os.system('id')
_CUT = pickle.dumps({"weights": list(range(50))}, protocol=4)[:-7]  # a binary pickle cut short


def test_same_result_as_scanning_the_file(tmp_path: Path) -> None:
    for name, data in (("evil.png", _EVIL), ("ok.pkl", pickle.dumps({"a": [1, 2.5, "x"]})), ("cut.pkl", _CUT)):
        path = tmp_path / name
        path.write_bytes(data)
        from_file = scan_file(str(path), default_policy())
        from_bytes = mlvet.scan_bytes(data, str(path))
        assert from_bytes == from_file, name


def test_verdicts() -> None:
    evil = mlvet.scan_bytes(_EVIL, "model.png")
    assert evil.status is Status.SCANNED and evil.format == "pickle"
    assert {f.rule_id for f in evil.findings} >= {"PKL100", "FMT001"}
    assert mlvet.scan_bytes(_CUT, "model.pkl").status is Status.ERROR  # truncated: never clean
