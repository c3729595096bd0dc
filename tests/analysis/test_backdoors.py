"""Architectural-backdoor heuristics: trigger branches in ONNX/TF graphs and out-of-family weights."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from mlvet.analysis.graph_triggers import Graph, Node, find_triggers
from mlvet.analysis.weight_stats import outliers, stats_of
from mlvet.model import FileResult, Severity, Status
from mlvet.policy import default_policy
from mlvet.scanner import scan_file

ASSETS = Path(__file__).resolve().parents[1] / "assets"
FIXTURES = ASSETS / "backdoor"


def scan(name: str) -> FileResult:
    return scan_file(str(FIXTURES / name), default_policy())


def bkd(result: FileResult) -> list[Any]:
    return [f for f in result.findings if f.rule_id.startswith("BKD")]


def test_onnx_trigger_where_is_high_with_the_branch_as_evidence() -> None:
    result = scan("trigger_where.onnx")
    assert result.status is Status.SCANNED, result.errors
    [f] = [f for f in bkd(result) if f.rule_id == "BKD100"]
    assert f.severity is Severity.HIGH
    for step in ("input 'x'", "take_first_pixel (Slice)", "check_trigger (Equal)", "trigger_value",
                 "backdoor_select (Where)", "graph output"):
        assert step in f.evidence


def test_onnx_trigger_if_is_medium() -> None:
    [f] = bkd(scan("trigger_reduce.onnx"))
    assert f.rule_id == "BKD100" and f.severity is Severity.MEDIUM
    assert "sum_input (ReduceSum)" in f.evidence and "branch (If)" in f.evidence


@pytest.mark.parametrize("name", ["trigger_graphdef.pb", "trigger_function.pb"])
def test_tensorflow_trigger_is_high(name: str) -> None:
    result = scan(name)
    assert result.format == "tf-graphdef"
    [f] = bkd(result)
    assert f.rule_id == "BKD100" and f.severity is Severity.HIGH
    assert "first_pixel (Slice)" in f.evidence and "(Where)" in f.evidence


@pytest.mark.parametrize("name", ["benign_mask.onnx", "benign_graphdef.pb", "benign_gpt2.onnx", "benign_bert.onnx"])
def test_attention_mask_and_plain_models_are_not_flagged(name: str) -> None:
    result = scan(name)
    assert result.status is Status.SCANNED
    assert not bkd(result)


@pytest.mark.parametrize("name", ["outlier_weights.onnx", "outlier_weights.safetensors"])
def test_out_of_family_layer_is_pointed_out_at_low(name: str) -> None:
    found = bkd(scan(name))
    assert found and {f.rule_id for f in found} == {"BKD101"}
    assert all(f.severity is Severity.LOW and "layer5.weight" in f.message for f in found)


def test_no_backdoor_findings_on_the_benign_onnx_and_tf_fixtures() -> None:
    import mlvet

    paths = [ASSETS / "ecosystem", ASSETS / "onnx", ASSETS / "tensorflow", ASSETS / "safetensors"]
    report = mlvet.scan([p for p in paths if p.exists()])
    flagged = [(r.path, f.rule_id) for r in report.results for f in r.findings if f.rule_id.startswith("BKD")]
    assert not flagged


def test_where_between_two_body_values_is_not_a_trigger() -> None:
    g = Graph(
        nodes=[
            Node("a", "MatMul", ("x", "W"), ("h1",)), Node("b", "MatMul", ("x", "W2"), ("h2",)),
            Node("cmp", "Equal", ("x", "c"), ("m",)), Node("sel", "Where", ("m", "h1", "h2"), ("y",)),
        ],
        inputs={"x"}, outputs=["y"], constants={"W", "W2", "c"},
    )
    assert find_triggers(g) == []


def test_select_feeding_the_body_is_not_a_trigger() -> None:
    g = Graph(
        nodes=[
            Node("cmp", "Equal", ("x", "c"), ("m",)), Node("sel", "Where", ("m", "k", "x"), ("x2",)),
            Node("body", "MatMul", ("x2", "W"), ("y",)),
        ],
        inputs={"x"}, outputs=["y"], constants={"W", "c", "k"},
    )
    assert find_triggers(g) == []


def test_same_family_weights_with_ordinary_spread_are_not_outliers() -> None:
    rng = random.Random(5)
    stats = []
    for i in range(12):
        scale = 0.02 * (1 + 0.5 * rng.random())
        s = stats_of(f"l{i}", (8, 8), [rng.gauss(0, scale) for _ in range(64)])
        assert s is not None
        stats.append(s)
    assert outliers(stats) == []


def test_graph_search_is_bounded_on_a_long_chain() -> None:
    import time

    nodes = [Node(f"n{i}", "Add", (f"v{i}", "c"), (f"v{i + 1}",)) for i in range(20_000)]
    g = Graph(nodes=nodes, inputs={"v0"}, outputs=["v20000"], constants={"c"})
    start = time.monotonic()
    assert find_triggers(g) == []
    assert time.monotonic() - start < 20


def test_weight_statistics_read_no_tensor_bytes_without_a_family(tmp_path: Path) -> None:
    """Files whose matrices come in fewer than MIN_FAMILY of a shape (most files) cost a header read only."""
    import io
    import json
    import struct

    from mlvet.analysis.weight_stats import MIN_FAMILY
    from mlvet.formats import weight_outliers

    shapes = [[8, 8 + i] for i in range(MIN_FAMILY)]  # six matrices, every shape different
    header: dict[str, Any] = {}
    offset = 0
    for i, shape in enumerate(shapes):
        nbytes = 4 * shape[0] * shape[1]
        header[f"w{i}"] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    blob = json.dumps(header).encode()
    data_start = 8 + len(blob)
    raw = struct.pack("<Q", len(blob)) + blob + b"\0" * offset

    class Watched(io.BytesIO):
        reads_past_header = 0

        def read(self, n: int | None = -1) -> bytes:
            if self.tell() >= data_start:
                Watched.reads_past_header += 1
            return super().read(n)

    class Ctx:
        def report(self, *args: object, **kwargs: object) -> None:
            raise AssertionError("no finding expected")

    weight_outliers.report_safetensors_outliers(Watched(raw), len(raw), data_start, list(header.items()),
                                                Ctx())  # type: ignore[arg-type]
    assert Watched.reads_past_header == 0
