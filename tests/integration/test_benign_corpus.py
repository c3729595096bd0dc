"""Files written by the real ML libraries must scan clean: no medium-or-worse finding, never an error.

Why this matters as much as detection: a scanner that cries wolf on a stock ``torch.save`` or a fitted
scikit-learn pipeline gets switched off. The fixtures in ``tests/assets/benign`` come from
``tests/assets/make_benign.py`` with pinned library versions (see MANIFEST.json); this module also checks
that the corpus still contains what it claims, so a regenerated corpus that silently lost, say, the lz4
joblib files cannot make this test vacuous.
"""

from __future__ import annotations

import io
import json
import pickle
import tarfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mlvet.model import FileResult, Severity, Status
from mlvet.policy import default_policy
from mlvet.scanner import scan_file

BENIGN_DIR = Path(__file__).resolve().parents[1] / "assets" / "benign"

BENIGN_FILES = sorted(p for p in BENIGN_DIR.rglob("*") if p.is_file() and p.name != "MANIFEST.json")


def _manifest() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((BENIGN_DIR / "MANIFEST.json").read_text(encoding="utf-8"))
    return data


def _rel(p: Path) -> str:
    return p.relative_to(BENIGN_DIR).as_posix()


@pytest.mark.parametrize("path", BENIGN_FILES, ids=_rel)
def test_benign_file_scans_clean(path: Path, scan_one) -> None:  # type: ignore[no-untyped-def]
    result = scan_one(path)
    loud = [(f.rule_id, f.severity.label, f.message, f.evidence) for f in result.findings
            if f.severity >= Severity.MEDIUM]
    assert not loud, f"{_rel(path)}: false positive(s) {loud}"
    assert result.status in (Status.SCANNED, Status.SKIPPED), (
        f"{_rel(path)}: status {result.status.value} ({result.errors}); a stock library file must be analysable"
    )


def test_manifest_lists_exactly_the_files_on_disk() -> None:
    manifest = _manifest()
    listed = sorted(f["path"] for f in manifest["files"])
    assert listed == [_rel(p) for p in BENIGN_FILES]
    assert manifest["total_files"] == len(BENIGN_FILES)


def _by_library() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for entry in _manifest()["files"]:
        out.setdefault(entry["library"], []).append(entry)
    return out


def test_corpus_covers_every_library() -> None:
    libs = _by_library()
    counts = {lib: len(entries) for lib, entries in libs.items()}
    minimum = {"torch": 10, "scikit-learn": 40, "xgboost": 4, "lightgbm": 2, "joblib": 14, "numpy": 8, "pandas": 5}
    for lib, n in minimum.items():
        assert counts.get(lib, 0) >= n, f"{lib}: {counts.get(lib, 0)} files, expected at least {n} ({counts})"


def test_sklearn_has_several_estimators_and_pipelines() -> None:
    sk = _by_library()["scikit-learn"]
    models = {Path(e["path"]).name.split(".", 1)[0] for e in sk}
    pipelines = {Path(e["path"]).name.split(".", 1)[0] for e in sk if e["what"].startswith("Pipeline(")}
    assert len(models) >= 15, sorted(models)
    assert len(pipelines) >= 3, sorted(pipelines)
    for essential in ("random_forest_classifier", "logistic_regression", "gradient_boosting_regressor", "svc",
                      "kmeans", "pipeline_scaler_logreg", "column_transformer_pipeline"):
        assert essential in models, f"sklearn fixture {essential} is missing"
    # Every estimator is saved through pickle protocols 2, 4 and 5 and through joblib.
    formats = Counter(e["format"] for e in sk)
    assert {"pickle-p2", "pickle-p4", "pickle-p5"} <= set(formats), formats


def test_joblib_covers_all_seven_compression_settings() -> None:
    jl = _by_library()["joblib"]
    formats = {e["format"] for e in jl}
    # Uncompressed plus the six compressors joblib ships (zlib, gzip, bz2, lzma, xz, lz4).
    assert {"pickle-p4", "zlib", "gzip", "bz2", "lzma-alone", "xz", "lz4-frame"} <= formats, sorted(formats)
    lz4 = [e["path"] for e in jl if e["format"] == "lz4-frame"]
    assert len(lz4) >= 2, lz4


def test_torch_covers_zip_legacy_and_torchscript() -> None:
    torch = _by_library()["torch"]
    names = {Path(e["path"]).name for e in torch}
    assert any("torchscript" in n for n in names), names
    assert any(e["format"] == "torch-legacy" for e in torch)
    assert sum(e["format"] == "zip" for e in torch) >= 8


def test_numpy_and_pandas_formats() -> None:
    libs = _by_library()
    np_formats = Counter(e["format"] for e in libs["numpy"])
    assert np_formats["npy"] >= 5 and np_formats["zip"] >= 2, np_formats
    pd_formats = {e["format"] for e in libs["pandas"]}
    assert {"gzip", "bz2", "xz"} <= pd_formats, pd_formats


def test_whole_corpus_as_one_folder_scan() -> None:
    """Scanning the folder gives the same verdicts as scanning each file, and an exit-0-worthy report."""
    import mlvet

    report = mlvet.scan(BENIGN_DIR)
    assert len(report.results) == len(BENIGN_FILES) + 1  # + MANIFEST.json (text: skipped)
    assert report.max_severity < Severity.MEDIUM
    assert not report.incomplete
    manifest = next(r for r in report.results if r.path.endswith("MANIFEST.json"))
    assert manifest.status is Status.SKIPPED


# ---- synthetic benign layouts the real libraries no longer write ---------------------------------------


def _legacy_tar(members: dict[str, bytes]) -> bytes:
    """A deterministic tar of in-memory members (what torch < 0.4 wrote with tarfile)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_benign_legacy_torch_tar_layout(tmp_path: Path) -> None:
    """Pre-0.4 torch tar checkpoint: storages = count, records, then the storage_views list (torch reads it)."""
    # Plain data only: pickle.dumps of built-in values writes bytes and references no callable.
    sys_info = pickle.dumps({"protocol_version": 1001, "little_endian": True,
                             "type_sizes": {"short": 2, "int": 4, "long": 4}}, protocol=2)
    storages = pickle.dumps(0, protocol=2) + pickle.dumps([], protocol=2)  # no storages, empty storage_views
    tensors = pickle.dumps(0, protocol=2)
    path = tmp_path / "legacy.tar.pt"
    path.write_bytes(_legacy_tar({"sys_info": sys_info, "pickle": pickle.dumps({"w": [1.0, 2.0]}, protocol=2),
                                  "tensors": tensors, "storages": storages}))
    result: FileResult = scan_file(str(path), default_policy())
    assert result.format == "pytorch-legacy-tar"
    assert result.status is Status.SCANNED, result.errors
    assert result.severity < Severity.MEDIUM, result.findings
