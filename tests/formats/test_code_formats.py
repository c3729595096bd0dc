"""Code-bearing formats: torch.package, TorchServe .mar, NeMo .nemo, Hydra configs, loader-imported Python
(hubconf.py, custom_generate, diffusers model_index.json), MLflow models in archives and old joblib ``ZF``.

What the libraries write (``tests/assets/make_code_formats.py``) is reported as code at low/info at most; the
published attack shapes are critical; truncated and malformed variants fail closed.
"""

from __future__ import annotations

import io
import json
import tarfile
import zlib
from pathlib import Path

import pytest

import mlvet
from mlvet.model import FileResult, Severity, Status

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "code_formats"
SHELL = 'import os\nos.system("id")\n'


def scan(path: Path) -> FileResult:
    (res,) = mlvet.scan(path).results
    return res


def rules(res: FileResult) -> set[tuple[str, Severity]]:
    return {(f.rule_id, f.severity) for f in res.findings}


BENIGN = {
    "torch_package_benign.pt": ("torch-package", "OTH053"),
    "tiny_benign.mar": ("torchserve-mar", "OTH054"),
    "tiny_tgz.mar.tar.gz": ("compressed", "OTH054"),
    "asr_benign.nemo": ("nemo", "HFR909"),
    "hydra_benign.yaml": ("hydra-config", "HFR909"),
    "joblib_zf_benign.pkl": ("compressed", None),
}
MALICIOUS = {
    "torch_package_os_system.pt": "HFR911",
    "tiny_evil.mar": "HFR911",
    "asr_os_system.nemo": "HFR909",
    "hydra_subprocess.yaml": "HFR909",
    "hydra_eval.yaml": "HFR909",
    "joblib_zf_os_system.pkl": "PKL100",
}


@pytest.mark.parametrize("name", sorted(BENIGN), ids=str)
def test_library_output_is_code_but_quiet(name: str) -> None:
    res = scan(ASSETS / name)
    fmt, rule = BENIGN[name]
    assert res.status is Status.SCANNED, res.errors
    assert res.format == fmt
    assert res.severity < Severity.MEDIUM, [(f.rule_id, f.severity, f.message) for f in res.findings]
    if rule is not None:
        assert any(f.rule_id == rule for f in res.findings)


@pytest.mark.parametrize("name", sorted(MALICIOUS), ids=str)
def test_attack_shapes_are_critical(name: str) -> None:
    res = scan(ASSETS / name)
    assert res.status is Status.SCANNED, res.errors
    assert (MALICIOUS[name], Severity.CRITICAL) in rules(res), res.findings


def test_torch_package_names_the_module_and_its_call() -> None:
    res = scan(ASSETS / "torch_package_os_system.pt")
    src = [f for f in res.findings if f.rule_id == "HFR911"]
    assert src and src[0].location.members[-1].endswith("tinynet_os_system.py")
    summary = next(f for f in res.findings if f.rule_id == "OTH053")
    assert "tinynet_os_system" in summary.message and "dangerous calls" in summary.message


def test_nemo_tar_is_not_taken_for_a_prefixed_zip() -> None:
    res = scan(ASSETS / "asr_os_system.nemo")
    hit = next(f for f in res.findings if f.severity is Severity.CRITICAL)
    assert hit.location.members == ("./model_config.yaml",) and "os.system" in hit.message
    assert "tar" in res.formats_seen and "pytorch-zip" in res.formats_seen


def _tar(members: dict[str, bytes], trailing: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue() + trailing


def test_data_after_the_tar_end_is_scanned(tmp_path: Path) -> None:
    evil = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."
    p = tmp_path / "x.tar"
    p.write_bytes(_tar({"a.txt": b"hello"}, trailing=evil))
    res = scan(p)
    assert ("ARC300", Severity.MEDIUM) in rules(res) and ("PKL100", Severity.CRITICAL) in rules(res)


def test_mar_handler_missing_is_said(tmp_path: Path) -> None:
    import zipfile

    p = tmp_path / "m.mar"
    manifest = {"runtime": "python", "model": {"modelName": "m", "handler": "custom_handler.py"}}
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("MAR-INF/MANIFEST.json", json.dumps(manifest))
    res = scan(p)
    assert res.format == "torchserve-mar"
    assert "NOT in the archive" in next(f.message for f in res.findings if f.rule_id == "OTH054")


def test_mar_with_broken_manifest_fails_closed(tmp_path: Path) -> None:
    import zipfile

    p = tmp_path / "m.mar"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("MAR-INF/MANIFEST.json", "{not json")
        z.writestr("handler.py", SHELL)
    res = scan(p)
    assert res.status is Status.ERROR and res.severity is Severity.CRITICAL


@pytest.mark.parametrize("name", ["torch_package_benign.pt", "tiny_benign.mar", "asr_benign.nemo"])
def test_truncated_archives_fail_closed(tmp_path: Path, name: str) -> None:
    data = (ASSETS / name).read_bytes()
    p = tmp_path / name
    # Zips: cuts anywhere (the central directory is at the end); the tar: cuts inside its two members' data.
    cuts = (700, 1500, 2200, 2900) if name.endswith(".nemo") else (len(data) // 4, len(data) // 2, len(data) - 40)
    for cut in cuts:
        p.write_bytes(data[:cut])
        res = scan(p)
        assert res.status is Status.ERROR or res.severity >= Severity.MEDIUM, (cut, res)


def test_hydra_yaml_outside_the_subset_parser_is_still_ranked(tmp_path: Path) -> None:
    p = tmp_path / "conf.yaml"
    p.write_text("defaults: &d\n  x: 1\nmodel:\n  <<: *d\n  _target_: os.system\n  _args_: [id]\n")
    assert ("HFR909", Severity.CRITICAL) in rules(scan(p))


def test_yaml_without_targets_is_not_claimed(tmp_path: Path) -> None:
    p = tmp_path / "conf.yaml"
    p.write_text("lr: 0.1\nlayers: [1, 2]\n# _target_ mentioned only in a comment\n")
    assert scan(p).format != "hydra-config"


def test_hydra_library_targets_are_info(tmp_path: Path) -> None:
    res = scan(ASSETS / "hydra_benign.yaml")
    assert {f.severity for f in res.findings} == {Severity.INFO}


def _zf(payload: bytes, *, length: int | None = None, pad: bytes = b"") -> bytes:
    field = f"{len(payload) if length is None else length:#x}".ljust(19).encode()
    return b"ZF" + field + pad + zlib.compress(payload)


def test_zf_with_the_older_extra_space(tmp_path: Path) -> None:
    p = tmp_path / "old.pkl"
    p.write_bytes(_zf(b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.", pad=b" "))
    assert ("PKL100", Severity.CRITICAL) in rules(scan(p))


def test_zf_truncated_and_corrupt_fail_closed(tmp_path: Path) -> None:
    good = (ASSETS / "joblib_zf_benign.pkl").read_bytes()
    p = tmp_path / "bad.pkl"
    for data in (good[:-6], good[:30], good[:21] + b"\x00" * 20):
        p.write_bytes(data)
        assert scan(p).status is Status.ERROR


# ---- loader-imported Python ---------------------------------------------------------------------------


def test_benign_hubconf_is_low(tmp_path: Path) -> None:
    p = tmp_path / "hubconf.py"
    p.write_text("dependencies = ['torch']\nimport torch\n\ndef tiny(pretrained=False):\n"
                 "    return torch.nn.Linear(2, 2)\n")
    res = scan(p)
    assert rules(res) == {("OTH050", Severity.LOW)}


def test_custom_generate_folder_and_plain_generate_py(tmp_path: Path) -> None:
    folder = tmp_path / "custom_generate"
    folder.mkdir()
    (folder / "generate.py").write_text(SHELL)
    assert scan(folder / "generate.py").severity is Severity.CRITICAL
    other = tmp_path / "scripts"
    other.mkdir()
    (other / "generate.py").write_text("import subprocess\nsubprocess.run(['make'])\n")
    assert scan(other / "generate.py").format != "loader-code"  # no custom_generate contract: not claimed


def test_diffusers_pipeline_module_next_to_the_index_is_analysed(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text(json.dumps(
        {"_class_name": ["pipeline", "MyPipeline"], "_diffusers_version": "0.30.0", "unet": ["diffusers", "UNet"]}))
    (tmp_path / "pipeline.py").write_text("class MyPipeline:\n    pass\n")
    res = scan(tmp_path / "model_index.json")
    assert rules(res) == {("OTH051", Severity.MEDIUM)}
    (tmp_path / "pipeline.py").write_text(SHELL + "class MyPipeline:\n    pass\n")
    res = scan(tmp_path / "model_index.json")
    assert ("OTH051", Severity.CRITICAL) in rules(res)


def test_mlflow_model_in_a_tar_with_benign_loader(tmp_path: Path) -> None:
    mlmodel = b"flavors:\n  python_function:\n    loader_module: loader\n    code: code\n"
    p = tmp_path / "m.tar"
    p.write_bytes(_tar({"m/MLmodel": mlmodel, "m/code/loader.py": b"def _load_pyfunc(p):\n    return p\n"}))
    res = scan(p)
    assert ("OTH055", Severity.LOW) in rules(res) and res.severity < Severity.HIGH
    assert "no dangerous call found" in next(f.message for f in res.findings if f.rule_id == "OTH055")
