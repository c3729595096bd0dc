"""Discovery groups a realistic tree into the assets a user would name, by content, with fingerprints."""

from __future__ import annotations

import hashlib
import os
import random
import shutil
from pathlib import Path

import pytest
from _inventory_tree import ASSETS, EXPECTED, REV1, build_tree

from mlvet.inventory.classify import classify
from mlvet.inventory.discover import inventory
from mlvet.model import Severity


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tree(tmp_path_factory.mktemp("tree"))


def _summary(root: Path, assets: list) -> set[tuple]:  # type: ignore[type-arg]
    return {(a.kind, a.name, a.format, a.framework, os.path.relpath(a.path, root)) for a in assets}


def test_cache_layout_is_huggingface_hubs_own(tree: Path) -> None:
    from huggingface_hub import scan_cache_dir

    info = scan_cache_dir(tree / "hub")
    repos = {(r.repo_type, r.repo_id): r for r in info.repos}
    assert set(repos) == {("model", "acme/tiny-gpt2"), ("dataset", "acme/reviews")}
    (rev,) = repos[("model", "acme/tiny-gpt2")].revisions
    assert rev.commit_hash == REV1 and set(rev.refs) == {"main"}


def test_every_asset_found_and_grouped(tree: Path) -> None:
    _run, assets = inventory([str(tree)], scan=False)
    assert _summary(tree, assets) == EXPECTED


def test_groups_hold_the_right_files_with_real_hashes(tree: Path) -> None:
    run, assets = inventory([str(tree)], scan=False)
    by_name = {a.name: a for a in assets}
    hf = by_name["acme/tiny-gpt2"]
    assert {f.rel for f in hf.files} == {"README.md", "chat_template.jinja", "config.json", "generation_config.json",
                                         "model.safetensors", "tokenizer.json", "tokenizer_config.json"}
    assert hf.hub is not None and (hf.hub.repo_id, hf.hub.revision, hf.hub.refs) == ("acme/tiny-gpt2", REV1, ("main",))
    assert all(f.integrity == "ok" for f in hf.files)
    weights = next(f for f in hf.files if f.rel == "model.safetensors")
    data = (ASSETS / "hf" / "tiny-gpt2" / "model.safetensors").read_bytes()
    assert weights.sha256 == hashlib.sha256(data).hexdigest() and weights.size == len(data)
    ds = by_name["acme/reviews"]
    assert ds.kind == "dataset" and {f.rel for f in ds.files} == {
        "README.md", "data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet"}
    assert {f.rel for f in by_name["shards"].files} == {"train-00000-of-00002.parquet",
                                                         "train-00001-of-00002.parquet"}
    mlflow = by_name["mlflow_model"]
    assert "MLmodel" in {f.rel for f in mlflow.files} and len(mlflow.files) == len(
        [p for p in (tree / "projects" / "mlflow_model").rglob("*") if p.is_file()])
    # Ordinary files and VCS internals are not assets; every asset file was hashed once.
    paths = {f.path for a in assets for f in a.files}
    assert not any("/docs/" in p or "/.git/" in p or p.endswith("train.py") for p in paths)
    assert run.files_hashed == len(paths) and run.files_seen > len(paths)


def test_scan_verdicts_attached(tree: Path) -> None:
    _run, assets = inventory([str(tree)])
    by_name = {a.name: a for a in assets}
    evil = by_name["model.pkl"]
    assert evil.severity == Severity.CRITICAL and evil.verdict == "critical"
    assert any(f.rule_id.startswith("PKL") for f in evil.findings)
    for name in ("model.pt", "tiny.gguf", "model.onnx", "shards", "reviews.csv", "acme/reviews"):
        assert by_name[name].severity < Severity.MEDIUM, (name, by_name[name].findings)
    assert all(f.scan_status in ("scanned", "skipped") for a in assets for f in a.files)


def test_tampered_cache_blob_is_a_finding(tmp_path: Path) -> None:
    root = build_tree(tmp_path / "t")
    snap = root / "hub" / "models--acme--tiny-gpt2" / "snapshots" / REV1
    blob = Path(os.path.realpath(snap / "model.safetensors"))
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    _run, assets = inventory([str(root / "hub")])
    hf = next(a for a in assets if a.name == "acme/tiny-gpt2")
    bad = next(f for f in hf.files if f.rel == "model.safetensors")
    assert bad.integrity == "mismatch"
    assert any(f.rule_id == "HFR920" for f in hf.findings) and hf.severity >= Severity.HIGH


def test_single_file_path_and_missing_path(tree: Path) -> None:
    _run, assets = inventory([str(tree / "projects" / "evil" / "model.pkl")], scan=False)
    assert [(a.kind, a.format) for a in assets] == [("model", "pickle")]
    from mlvet.errors import UsageError

    with pytest.raises(UsageError):
        inventory([str(tree / "nope")], scan=False)


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("benign/torch/torchscript_sequential.pt", ("model", "torchscript")),
        ("benign/torch/exported_program.pt2", ("model", "pytorch-pt2")),
        ("benign/joblib/rf_model.gzip.joblib.gz", ("model", "compressed-gzip")),
        ("keras/benign/k3_functional.h5", ("model", "keras-h5")),
        ("keras/benign/k3_sequential.weights.h5", ("model", "keras-weights-h5")),
        ("tensorflow/flex_readfile.tflite", ("model", "tflite")),
        ("benign/numpy/structured.npy", ("dataset", "numpy")),
        ("datasets/examples.tfrecord", ("dataset", "tfrecord")),
        ("datasets/shard-000000.tar", ("dataset", "webdataset")),
        ("datasets/table.arrow", ("dataset", "arrow")),
    ],
)
def test_classify_by_content(tmp_path: Path, src: str, expected: tuple[str, str]) -> None:
    # Renamed to a meaningless name: content decides (text formats are the documented exception).
    dst = tmp_path / "blob.dat"
    shutil.copyfile(ASSETS / src, dst)
    kind = classify(str(dst))
    assert kind is not None and (kind.role, kind.format) == expected


@pytest.mark.parametrize(
    "data",
    [b"", b"hello world\n", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, b"PK\x03\x04garbage", b"\x00" * 12,
     random.Random(1).randbytes(64), random.Random(2).randbytes(4096)],
    ids=["empty", "text", "png", "broken-zip", "zeros", "random64", "random4k"],
)
def test_ordinary_and_garbage_files_are_not_assets(tmp_path: Path, data: bytes) -> None:
    for name in ("file.bin", "x.txt", "noext"):
        p = tmp_path / name
        p.write_bytes(data)
        assert classify(str(p)) is None, name


def test_garbage_with_a_model_extension_is_still_a_candidate(tmp_path: Path) -> None:
    (tmp_path / "weights.pt").write_bytes(b"\x01\x02\x03not a checkpoint at all\xff\xfe")
    kind = classify(str(tmp_path / "weights.pt"))
    assert kind is not None and (kind.role, kind.format) == ("model", "unknown")


def test_parallel_scanning_gives_the_same_assets(tree: Path) -> None:
    _r1, serial = inventory([str(tree)])
    _r2, parallel = inventory([str(tree)], jobs=2)
    assert parallel == serial


def test_hf_cache_option_uses_huggingface_hubs_location(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlvet.inventory.discover import default_hf_cache

    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HOME", str(tree / "nowhere"))
    assert default_hf_cache() == str(tree / "nowhere" / "hub")
    monkeypatch.setenv("HF_HUB_CACHE", str(tree / "hub"))
    assert default_hf_cache() == os.environ["HF_HUB_CACHE"]
    _run, assets = inventory([str(tree / "docs")], hf_cache=True, scan=False)
    assert sorted(a.name for a in assets) == ["acme/reviews", "acme/tiny-gpt2"]


def test_special_files_and_link_loops_do_not_hang_or_crash(tmp_path: Path) -> None:
    root = tmp_path / "t"
    root.mkdir()
    os.mkfifo(root / "pipe.pkl")
    (root / "loop.pt").symlink_to(root / "loop.pt")
    (root / "dangling.safetensors").symlink_to(root / "missing")
    (root / "unreadable.pt").write_bytes(b"\x80\x02K\x01.")
    (root / "unreadable.pt").chmod(0)
    shutil.copyfile(ASSETS / "gguf" / "benign_tiny.gguf", root / "ok.gguf")
    _run, assets = inventory([str(root)])
    names = {a.name for a in assets}
    assert "ok.gguf" in names and "pipe.pkl" not in names and "loop.pt" not in names


def test_text_and_idl_files_with_model_extensions_are_not_models(tmp_path: Path) -> None:
    (tmp_path / "distutils-precedence.pth").write_text("import os; var = 'SETUPTOOLS_USE_DISTUTILS'\n")
    (tmp_path / "notes.model").write_text("not a model\n")
    (tmp_path / "idl.sav").write_bytes(b"SR\x00\x04\x00\x00\x00\x0a" + bytes(200))
    (tmp_path / "proto0.pkl").write_bytes(b"cos\nsystem\n(S'id'\ntR.")  # a text pickle is still found
    assert [classify(str(p)) for p in sorted(tmp_path.iterdir())] == [
        None, None, None, classify(str(tmp_path / "proto0.pkl"))]
    kind = classify(str(tmp_path / "proto0.pkl"))
    assert kind is not None and kind.format == "pickle"
