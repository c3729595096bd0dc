"""skops files: benign fixtures from ``skops.io.dump`` and attacks on skops' trusted-type audit, from bytes.

The malicious ``schema.json`` documents below use the node layout skops itself writes (protocol 2, as in
``tests/assets/skops``), with one construct changed per test. Each test fails if its detection is removed.
"""

from __future__ import annotations

import io
import json
import pickle
import struct
import zipfile
from pathlib import Path
from typing import Any

import pytest

import mlvet
import mlvet.formats.skops  # registers the zip layout until formats/__init__ imports it
from mlvet.model import FileResult, Severity, Status

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "skops"


def scan(path: Path) -> FileResult:
    (res,) = mlvet.scan(path).results
    return res


def node(loader: str, module: str, cls: str, **extra: Any) -> dict[str, Any]:
    return {"__class__": cls, "__module__": module, "__loader__": loader, **extra}


def json_node(value: Any) -> dict[str, Any]:
    return node("JsonNode", "builtins", "str", content=json.dumps(value), is_json=True)


def dict_node(content: dict[str, Any]) -> dict[str, Any]:
    return node("DictNode", "builtins", "dict", content=content, key_types=node(
        "ListNode", "builtins", "list", content=[node("TypeNode", "builtins", "str") for _ in content]))


def estimator(**attrs: Any) -> dict[str, Any]:
    """A FunctionTransformer whose attributes are the given nodes (a typical carrier of callables)."""
    return node("ObjectNode", "sklearn.preprocessing._function_transformer", "FunctionTransformer",
                content=dict_node(attrs))


def skops_file(tmp_path: Path, root: dict[str, Any], members: dict[str, bytes] | None = None,
               name: str = "model.skops") -> Path:
    schema = dict(root, protocol=2, _skops_version="0.16.0")
    p = tmp_path / name
    with zipfile.ZipFile(p, "w") as zf:
        for member, data in (members or {}).items():
            zf.writestr(member, data)
        zf.writestr("schema.json", json.dumps(schema, indent=2))
    return p


def found(res: FileResult) -> list[tuple[str, Severity]]:
    return [(f.rule_id, f.severity) for f in res.findings]


# ---- benign ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(ASSETS.glob("*.skops")), ids=lambda p: p.name)
def test_benign_skops_files_have_no_findings(path: Path) -> None:
    res = scan(path)
    assert res.status is Status.SCANNED, res.errors
    assert "skops" in res.formats_seen
    assert res.findings == ()


def test_benign_skops_dump_live(tmp_path: Path) -> None:
    sio = pytest.importorskip("skops.io")
    np = pytest.importorskip("numpy")
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    X = np.arange(20.0).reshape(10, 2)
    model = make_pipeline(FunctionTransformer(np.sqrt), GradientBoostingRegressor(n_estimators=2)).fit(X, X[:, 0])
    sio.dump(model, tmp_path / "m.skops")
    res = scan(tmp_path / "m.skops")
    assert res.status is Status.SCANNED and not [f for f in res.findings if f.severity >= Severity.MEDIUM]


# ---- attacks -----------------------------------------------------------------------------------------------


def test_function_node_with_eval_is_critical(tmp_path: Path) -> None:
    res = scan(skops_file(tmp_path, estimator(func=node("FunctionNode", "builtins", "eval"))))
    assert ("OTH001", Severity.CRITICAL) in found(res)
    assert "builtins.eval" in res.findings[0].message


def test_protocol0_function_node_content_is_checked(tmp_path: Path) -> None:
    fn = node("FunctionNode", "builtins", "function", content={"module_path": "os", "function": "system"})
    res = scan(skops_file(tmp_path, estimator(func=fn)))
    assert ("OTH001", Severity.CRITICAL) in found(res)


def test_numpy_ufunc_function_node_is_trusted_but_other_numpy_functions_are_not(tmp_path: Path) -> None:
    ok = scan(skops_file(tmp_path, estimator(func=node("FunctionNode", "numpy", "log1p")), name="a.skops"))
    assert ok.findings == ()
    bad = scan(skops_file(tmp_path, estimator(func=node("FunctionNode", "numpy", "fromfile")), name="b.skops"))
    assert ("OTH001", Severity.CRITICAL) in found(bad)


def test_unknown_object_type_is_medium(tmp_path: Path) -> None:
    res = scan(skops_file(tmp_path, node("ObjectNode", "evil_pkg.models", "Backdoored", content=dict_node({}))))
    assert found(res) == [("OTH002", Severity.MEDIUM)]
    assert "evil_pkg.models.Backdoored" in res.findings[0].message


def test_type_node_and_reduce_constructor_gadgets(tmp_path: Path) -> None:
    root = estimator(
        a=node("TypeNode", "subprocess", "Popen"),
        b=node("ConstructorFromReduceNode", "builtins", "exec", content=node(
            "TupleNode", "builtins", "tuple", content=[json_node("import os")])),
        c=node("TypeNode", "evil", "Thing"),
    )
    res = scan(skops_file(tmp_path, root))
    by_evidence = {f.evidence: (f.rule_id, f.severity) for f in res.findings}
    assert by_evidence["TypeNode subprocess.Popen"] == ("OTH001", Severity.CRITICAL)
    assert by_evidence["ConstructorFromReduceNode builtins.exec"] == ("OTH001", Severity.CRITICAL)
    assert by_evidence["TypeNode evil.Thing"] == ("OTH002", Severity.LOW)


def test_operator_func_node_with_misleading_module_cve_2025_54412(tmp_path: Path) -> None:
    """The audit reported the declared module; the loader ran getattr(operator, __class__)."""
    op = node("OperatorFuncNode", "sklearn.linear_model._logistic", "call",
              attrs=node("TupleNode", "builtins", "tuple", content=[]))
    res = scan(skops_file(tmp_path, estimator(func=op)))
    msgs = " ".join(f.message for f in res.findings)
    assert ("OTH003", Severity.CRITICAL) in found(res)
    assert "CVE-2025-54412" in msgs and "operator.call" in msgs


def test_operator_attrgetter_with_dunder_is_critical(tmp_path: Path) -> None:
    op = node("OperatorFuncNode", "operator", "attrgetter", attrs=node(
        "TupleNode", "builtins", "tuple", content=[json_node("__class__.__init__.__globals__")]))
    res = scan(skops_file(tmp_path, estimator(func=op), name="a.skops"))
    assert found(res) == [("OTH003", Severity.CRITICAL)]
    item = node("OperatorFuncNode", "operator", "itemgetter", attrs=node(
        "TupleNode", "builtins", "tuple", content=[json_node(0)]))
    res = scan(skops_file(tmp_path, estimator(func=item), name="b.skops"))
    assert found(res) == [("OTH002", Severity.MEDIUM)]


def test_method_node_type_mismatch_cve_2025_54413(tmp_path: Path) -> None:
    """The declared type (audited) differs from the object whose method is bound (run)."""
    obj = node("ObjectNode", "evil_pkg", "Runner", content=dict_node({}))
    method = node("MethodNode", "sklearn.linear_model._logistic", "LogisticRegression",
                  content={"func": "run", "obj": obj})
    res = scan(skops_file(tmp_path, estimator(func=method)))
    assert ("OTH003", Severity.CRITICAL) in found(res)
    assert any("CVE-2025-54413" in f.message for f in res.findings)


def test_method_node_binding_dunder_or_private_method(tmp_path: Path) -> None:
    obj = node("ObjectNode", "sklearn.linear_model._logistic", "LogisticRegression", content=dict_node({}))
    dunder = node("MethodNode", obj["__module__"], obj["__class__"], content={"func": "__reduce_ex__", "obj": obj})
    private = node("MethodNode", obj["__module__"], obj["__class__"], content={"func": "_validate_data", "obj": obj})
    public = node("MethodNode", obj["__module__"], obj["__class__"], content={"func": "predict", "obj": obj})
    res = scan(skops_file(tmp_path, estimator(a=dunder, b=private, c=public)))
    sev = {f.evidence.split(".")[-1]: f.severity for f in res.findings}
    assert sev == {"__reduce_ex__": Severity.CRITICAL, "_validate_data": Severity.HIGH, "predict": Severity.MEDIUM}


def test_unknown_loader_is_reported(tmp_path: Path) -> None:
    res = scan(skops_file(tmp_path, estimator(x=node("ShinyNewNode", "evil", "Thing"))))
    assert ("OTH004", Severity.MEDIUM) in found(res)


def test_object_array_member_is_scanned_as_a_pickle(tmp_path: Path) -> None:
    """An .npy member with dtype object holds a pickle; the zip handler still content-scans it."""

    class Boom:
        def __reduce__(self) -> tuple[Any, ...]:
            import os

            return (os.system, ("id",))

    header = "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }"
    header += " " * (63 - len(header) % 64) + "\n"
    npy = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + pickle.dumps([Boom()], protocol=2)
    arr = node("NdArrayNode", "numpy", "ndarray", type="numpy", file="140.npy")
    res = scan(skops_file(tmp_path, estimator(coef_=arr), members={"140.npy": npy}))
    assert any(f.rule_id.startswith("PKL1") and f.severity is Severity.CRITICAL for f in res.findings)
    assert any("140.npy" in f.location.members for f in res.findings)


def test_duplicate_schema_members_are_all_audited(tmp_path: Path) -> None:
    """Python's zipfile (skops' reader) returns the last of two same-named entries."""
    good = dict(node("ObjectNode", "sklearn.linear_model._logistic", "LogisticRegression",
                     content=dict_node({})), protocol=2)
    bad = dict(estimator(func=node("FunctionNode", "posix", "system")), protocol=2)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("schema.json", json.dumps(good))
        with pytest.warns(UserWarning):
            zf.writestr("schema.json", json.dumps(bad))
    (tmp_path / "dup.skops").write_bytes(buf.getvalue())
    res = scan(tmp_path / "dup.skops")
    assert ("OTH001", Severity.CRITICAL) in found(res)


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        (b'{"__loader__": "ObjectNode", ', "not valid JSON"),
        (b'{"protocol": 2, "content": []}', "no root node"),
        (b'{"__loader__": "ListNode", "protocol": 2, "content": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
         "deeply"),
    ],
    ids=["truncated-json", "no-root-node", "deep-nesting"],
)
def test_malformed_schema_is_an_error(tmp_path: Path, schema: bytes, message: str) -> None:
    p = tmp_path / "bad.skops"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("schema.json", schema)
    res = scan(p)
    assert res.status is Status.ERROR and message in " ".join(res.errors)


def test_findings_are_aggregated_per_type(tmp_path: Path) -> None:
    many = node("ListNode", "builtins", "list", content=[node("ObjectNode", "evil", "X") for _ in range(500)])
    res = scan(skops_file(tmp_path, estimator(items=many)))
    assert len(res.findings) == 1 and "(500 nodes)" in res.findings[0].message
