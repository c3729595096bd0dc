"""PyTorch Lightning checkpoints: real ones are clean; instantiation paths in hyper-parameters are ranked."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import pytest

from mlvet.model import FileResult, Severity, Status
from mlvet.policy import default_policy
from mlvet.scanner import scan_file, scan_stream

FIXTURES = Path(__file__).resolve().parents[1] / "assets" / "lightning"


def scan(name: str) -> FileResult:
    return scan_file(str(FIXTURES / name), default_policy())


def scan_bytes(data: bytes) -> FileResult:
    return scan_stream(io.BytesIO(data), len(data), "model.ckpt", default_policy())


def worst(result: FileResult, rule: str) -> Severity | None:
    sev = [f.severity for f in result.findings if f.rule_id == rule]
    return max(sev) if sev else None


@pytest.mark.parametrize("name", ["benign_trainer.ckpt", "benign_cli.ckpt"])
def test_checkpoints_written_by_lightning_have_nothing_at_medium(name: str) -> None:
    result = scan(name)
    assert result.status is Status.SCANNED, result.errors
    assert result.format == "pytorch-zip"
    assert all(f.severity < Severity.MEDIUM for f in result.findings), result.findings


def test_cli_checkpoint_lists_its_class_paths_for_review() -> None:
    result = scan("benign_cli.ckpt")
    paths = {f.evidence for f in result.findings if f.rule_id == "OTH096"}
    assert any("torch.nn.ReLU" in p for p in paths) and any("__main__.Tiny" in p for p in paths)
    assert worst(result, "OTH096") is Severity.INFO


def test_foreign_instantiator_is_critical_when_it_runs_a_command() -> None:
    result = scan("instantiator_attack.ckpt")
    assert worst(result, "OTH095") is Severity.CRITICAL


def test_dangerous_nested_class_path_is_critical() -> None:
    result = scan("class_path_attack.ckpt")
    assert worst(result, "OTH096") is Severity.CRITICAL
    assert any("subprocess.Popen" in f.message for f in result.findings)


def test_unknown_instantiator_is_high() -> None:
    data = pickle.dumps({"hyper_parameters": {"_instantiator": "mypkg.build"}}, protocol=2)
    assert worst(scan_bytes(data), "OTH095") is Severity.HIGH


def test_allowlisted_instantiator_is_not_reported() -> None:
    data = pickle.dumps({"hyper_parameters": {"_instantiator": "lightning.pytorch.cli.instantiate_module"}})
    assert worst(scan_bytes(data), "OTH095") is None


def test_plain_data_pickle_without_globals_is_still_read_as_a_value() -> None:
    # No GLOBAL at all: the quick skim alone would call it plain data and never build its value.
    data = pickle.dumps({"datamodule_hyper_parameters": {"_instantiator": "builtins.exec"}}, protocol=4)
    assert worst(scan_bytes(data), "OTH095") is Severity.CRITICAL


def test_protocol0_escaped_key_is_still_read() -> None:
    data = b"(dp0\nV\\u0068yper_parameters\np1\n(dp2\nV_instantiator\np3\nVos.system\np4\nss."
    assert pickle.loads(data) == {"hyper_parameters": {"_instantiator": "os.system"}}  # noqa: TID251 - proves the key
    assert worst(scan_bytes(data), "OTH095") is Severity.CRITICAL


def test_padded_hyper_parameters_cannot_hide_the_instantiator() -> None:
    hp = {f"k{i}": i for i in range(500)}
    hp["_instantiator"] = "os.system"
    result = scan_bytes(pickle.dumps({"hyper_parameters": hp}))
    sev = worst(result, "OTH095")
    assert sev is not None and sev >= Severity.MEDIUM
