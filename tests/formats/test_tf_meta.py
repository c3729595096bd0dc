"""TensorFlow SavedModels without ``schema_version`` and bare MetaGraphDefs: their operators are seen (they
used to be read as a GraphDef with only a function library, or not at all), custom operators are findings
and never errors. Fixtures: ``tests/assets/make_tf_meta.py`` (derived from TensorFlow-written SavedModels)."""

from __future__ import annotations

from pathlib import Path

import pytest
from _support import fl, fv

import mlvet
from mlvet.model import FileResult, Severity, Status

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "tf_meta"


def scan(path: Path) -> FileResult:
    (res,) = mlvet.scan(path).results
    return res


def rules(res: FileResult) -> set[tuple[str, Severity]]:
    return {(f.rule_id, f.severity) for f in res.findings}


def _meta_graph(*ops: str, stripped: tuple[str, ...] = ()) -> bytes:
    nodes = b"".join(fl(1, fl(1, f"n{i}") + fl(2, op)) for i, op in enumerate(ops))
    op_list = b"".join(fl(1, fl(1, name)) for name in stripped)
    info = (fl(2, op_list) if stripped else b"") + fl(4, "serve") + fl(5, "2.15.0")
    return fl(1, info) + fl(2, nodes + fl(4, fv(1, 1808)))


@pytest.mark.parametrize(
    ("name", "fmt", "expected"),
    [
        ("savedmodel_benign_noschema.pb", "tf-savedmodel", set()),
        ("savedmodel_benign.meta", "tf-metagraph", set()),
        ("savedmodel_file_ops_noschema.pb", "tf-savedmodel", {("TFG502", Severity.HIGH)}),
        ("savedmodel_file_ops.meta", "tf-metagraph", {("TFG502", Severity.HIGH)}),
        ("savedmodel_pyfunc_noschema.pb", "tf-savedmodel", {("TFG501", Severity.HIGH)}),
        ("savedmodel_pyfunc.meta", "tf-metagraph", {("TFG501", Severity.HIGH)}),
    ],
)
def test_ops_are_seen(name: str, fmt: str, expected: set[tuple[str, Severity]]) -> None:
    res = scan(ASSETS / name)
    assert (res.status, res.format) == (Status.SCANNED, fmt), res.errors
    assert rules(res) - {("TFG500", Severity.INFO)} == expected
    assert any(f.rule_id == "TFG500" and "nodes" in f.message for f in res.findings)


def test_custom_ops_are_findings_not_errors(tmp_path: Path) -> None:
    p = tmp_path / "saved_model.pb"
    p.write_bytes(fl(2, _meta_graph("Placeholder", "MyVendorGelu")))
    res = scan(p)
    assert res.status is Status.SCANNED and ("TFG504", Severity.LOW) in rules(res)
    p.write_bytes(fv(1, 1) + fl(2, _meta_graph("Placeholder", "MyVendorGelu")))
    assert ("TFG504", Severity.LOW) in rules(scan(p))


def test_stripped_op_list_custom_op(tmp_path: Path) -> None:
    p = tmp_path / "model.ckpt.meta"
    p.write_bytes(_meta_graph("Placeholder", stripped=("Placeholder", "ShellExecOp")))
    res = scan(p)
    assert res.format == "tf-metagraph"
    assert any(f.rule_id == "TFG504" and "ShellExecOp" in f.message for f in res.findings)


def test_graphdef_with_only_a_library_is_still_a_graphdef(tmp_path: Path) -> None:
    function = fl(1, fl(1, "f")) + fl(3, fl(1, "r") + fl(2, "ReadFile"))
    p = tmp_path / "frozen.pb"
    p.write_bytes(fl(2, fl(1, function)) + fl(4, fv(1, 1808)))
    res = scan(p)
    assert res.format == "tf-graphdef" and ("TFG502", Severity.HIGH) in rules(res)


@pytest.mark.parametrize("name", ["savedmodel_file_ops_noschema.pb", "savedmodel_file_ops.meta"])
def test_truncated_fail_closed(tmp_path: Path, name: str) -> None:
    data = (ASSETS / name).read_bytes()
    p = tmp_path / name
    for cut in (len(data) // 3, len(data) // 2, len(data) - 3):
        p.write_bytes(data[:cut])
        res = scan(p)
        assert res.status is Status.ERROR or res.severity >= Severity.HIGH, cut
