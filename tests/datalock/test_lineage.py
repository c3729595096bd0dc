"""Lineage round trip (issue 15, item 5): a model card, an MLflow run and an explicit ``mlvet data link`` appear
in the inventory database, in ``mlvet score`` (``data_integrity``) and in both BOMs, which validate.

Fixtures: ``tests/assets/lineage`` (``tests/assets/make_lineage.py``: huggingface_hub's ModelCard, a real MLflow
file-store run with a logged dataset input and model, a torch-saved Lightning-style checkpoint with
``hparams.yaml``) and ``tests/assets/dataset_code/hf_parquet`` as the dataset that gets locked. Everything runs
through the real ``mlvet`` process.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from _datalock import mlvet

from mlvet.inventory.lineage import DatasetRef, discover_lineage, from_lightning, from_mlflow
from mlvet.store import Store
from mlvet.store.lineage import lineage_of, record_discovered, record_link

ASSETS = Path(__file__).resolve().parents[1] / "assets"
LIN = ASSETS / "lineage"


def _unpack(folder: Path) -> None:
    """mlflow.db is committed gzipped (950 KB of mostly empty tables): unpack it where MLflow left it."""
    import gzip

    with gzip.open(folder / "mlflow.db.gz", "rb") as src, open(folder / "mlflow.db", "wb") as dst:
        shutil.copyfileobj(src, dst)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A copied tree (models + a dataset + its lock) and an inventory database that recorded it."""
    base = tmp_path_factory.mktemp("lineage")
    shutil.copytree(LIN, base / "models")
    _unpack(base / "models" / "mlflow_db")
    shutil.copytree(ASSETS / "dataset_code" / "hf_parquet", base / "reviews")
    db = f"sqlite:///{base / 'inv.db'}"
    done = mlvet("inventory", str(base / "models"), "--db", db, "--no-progress", "-f", "json")
    assert done.returncode == 0, done.stderr
    done = mlvet("data", "lock", str(base / "reviews"), "-o", str(base / "reviews.lock"))
    assert done.returncode == 0, done.stderr
    mlflow_model = next((base / "models" / "mlruns").glob("0/models/*/artifacts"))  # the file-store run
    return {"base": base, "db": db, "hf": base / "models" / "hf_model", "mlflow": mlflow_model,
            "ckpt": base / "models" / "lightning" / "version_0" / "checkpoints" / "last.ckpt",
            "reviews": base / "reviews", "lock": base / "reviews.lock"}


def _rows(db: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(db)
    with engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(sa.text(
            "SELECT model_path, source, dataset_name, dataset_uri, lock_root, digest, verified FROM lineage "
            "ORDER BY model_path, source, dataset_name"))]
    engine.dispose()
    return rows


def _lock_root(lock: Path) -> str:
    return str(json.loads(lock.read_text())["root"])


def test_round_trip_database_score_and_both_boms(tree: dict[str, Any]) -> None:
    db = str(tree["db"])
    done = mlvet("data", "link", str(tree["hf"]), str(tree["reviews"]), "--lock", str(tree["lock"]), "--db", db,
                 "-f", "json")
    assert done.returncode == 0, done.stderr
    linked = json.loads(done.stdout)
    root = _lock_root(tree["lock"])
    assert (linked["lock_root"], linked["verified"], linked["dataset"]) == (root, True, "reviews")

    # -- the database holds all three sources
    rows = _rows(db)
    by = {(Path(r["model_path"]).name, r["source"], r["dataset_name"]): r for r in rows}
    card = by[("hf_model", "model-card", "acme/reviews")]
    assert card["dataset_uri"] == "hf://datasets/acme/reviews" and card["lock_root"] is None
    explicit = by[("hf_model", "explicit", "reviews")]
    assert (explicit["lock_root"], bool(explicit["verified"])) == (root, True)
    run = by[("artifacts", "mlflow-run", "reviews-train")]
    assert (run["dataset_uri"], run["digest"]) == ("s3://acme-data/reviews/train.parquet", "92ed6111")
    names = {k[2] for k in by if k[0] == "last.ckpt"}
    assert names == {"/srv/data/reviews-v3", "s3://acme-data/reviews/train.jsonl"}

    # -- listed back by `mlvet data lineage`
    done = mlvet("data", "lineage", str(tree["hf"]), "--db", db, "-f", "json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)[str(tree["hf"])]
    assert [(r["name"], r["source"], r["locked"], r["verified"]) for r in listed] == [
        ("reviews", "explicit", True, True), ("acme/reviews", "model-card", False, None)]

    # -- the report card
    done = mlvet("score", str(tree["hf"]), "--db", db, "-f", "json")
    assert done.returncode == 0, done.stderr
    checks = {c["name"]: c for c in json.loads(done.stdout)["checks"]}
    di = checks["data_integrity"]
    assert di["score"] == 7 and "1 of 2 training dataset(s) locked, 1 verified" in di["reason"], di
    assert any("reviews (explicit; lock sha256:" in d and "verified" in d for d in di["details"])
    done = mlvet("score", str(tree["mlflow"]), "-f", "json")
    di = {c["name"]: c for c in json.loads(done.stdout)["checks"]}["data_integrity"]
    assert di["score"] == 3 and any("reviews-train (mlflow-run; not locked)" in d for d in di["details"]), di

    # -- CycloneDX: modelCard.modelParameters.datasets -> data components, the locked one hashed by its root
    out = tree["base"] / "bom.cdx.json"
    done = mlvet("bom", "--from-db", "--db", db, "-o", str(out))
    assert done.returncode == 0, done.stderr
    from mlvet.bom.cyclonedx_validate import validate_bom

    text = out.read_text()
    assert validate_bom(text) == []
    doc = json.loads(text)
    comps = {c["bom-ref"]: c for c in doc["components"]}
    hf = next(c for c in doc["components"] if c["name"] == "hf_model")
    refs = [d["ref"] for d in hf["modelCard"]["modelParameters"]["datasets"]]
    targets = [comps[r] for r in refs]
    assert {t["type"] for t in targets} == {"data"}
    locked = next(t for t in targets if t["name"] == "reviews" and "group" not in t)
    assert locked["hashes"] == [{"alg": "SHA-256", "content": root}]
    assert {"name": "mlvet:verified", "value": "true"} in locked["properties"]
    assert locked["data"][0]["contents"]["url"].startswith("file://")
    assert any(t.get("group") == "acme" and t["name"] == "reviews" and "hashes" not in t for t in targets)
    mlflow_models = [c for c in doc["components"] if c["name"] == "artifacts"]  # file store and SQLite store
    assert len(mlflow_models) == 2
    for mlf in mlflow_models:
        (ref,) = [d["ref"] for d in mlf["modelCard"]["modelParameters"]["datasets"]]
        assert comps[ref]["name"] == "reviews-train"
        assert {"name": "mlvet:mlflow-digest", "value": "92ed6111"} in comps[ref]["properties"]
        assert comps[ref]["data"][0]["contents"]["url"] == "s3://acme-data/reviews/train.parquet"

    # -- SPDX 3: trainedOn relationships; the locked dataset verifiedUsing the lock root
    out = tree["base"] / "bom.spdx.json"
    done = mlvet("bom", "--from-db", "--db", db, "--format", "spdx", "-o", str(out))
    assert done.returncode == 0, done.stderr
    from mlvet.bom.spdx import validate_spdx

    text = out.read_text()
    assert validate_spdx(text) == []
    graph = json.loads(text)["@graph"]
    ids = {e.get("spdxId"): e for e in graph}
    model = next(e for e in graph if e.get("type") == "ai_AIPackage" and e.get("name") == "hf_model")
    rel = next(e for e in graph if e.get("type") == "Relationship" and e["relationshipType"] == "trainedOn"
               and e["from"] == model["spdxId"])
    trained = [ids[t] for t in rel["to"]]
    assert {t["type"] for t in trained} == {"dataset_DatasetPackage"}
    pinned = next(t for t in trained if t["name"] == "reviews")
    assert pinned["verifiedUsing"][0]["hashValue"] == root
    assert {t["name"] for t in trained} == {"reviews", "acme/reviews"}


def test_link_reports_a_changed_dataset(tree: dict[str, Any], tmp_path: Path) -> None:
    changed = tmp_path / "reviews"
    shutil.copytree(tree["reviews"], changed)
    (changed / "README.md").write_text("edited\n")
    db = f"sqlite:///{tmp_path / 'l.db'}"
    done = mlvet("data", "link", str(tree["hf"]), str(changed), "--lock", str(tree["lock"]), "--db", db)
    assert done.returncode == 1, done.stderr
    assert "DIFFERS" in done.stderr
    row = next(r for r in _rows(db) if r["source"] == "explicit")
    assert row["verified"] is False or row["verified"] == 0
    done = mlvet("score", str(tree["hf"]), "--db", db, "-f", "json")
    di = {c["name"]: c for c in json.loads(done.stdout)["checks"]}["data_integrity"]
    assert di["score"] == 1 and "changed since it was locked" in di["reason"]


def test_link_usage_errors(tree: dict[str, Any], tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'u.db'}"
    assert mlvet("data", "link", str(tmp_path / "nope"), "x/y", "--db", db).returncode == 4
    bad = tmp_path / "bad.lock"
    bad.write_text('{"format": "mlvet-data-lock", "version": 1, "root": "00"}')
    assert mlvet("data", "link", str(tree["hf"]), str(tree["reviews"]), "--lock", str(bad),
                 "--db", db).returncode == 4
    # a hub id without a lock: recorded, not pinned
    done = mlvet("data", "link", str(tree["hf"]), "acme/other", "--db", db, "-f", "json")
    assert done.returncode == 0 and json.loads(done.stdout)["uri"] == "hf://datasets/acme/other"


def test_relinking_replaces_and_inventory_keeps_explicit_links(db_url: str) -> None:
    with Store(db_url) as store:
        record_link(store, "/m", DatasetRef("d", "explicit", lock_root="a" * 64, verified=False))
        record_link(store, "/m", DatasetRef("d", "explicit", lock_root="b" * 64, verified=True))
        from mlvet.inventory.model import Asset

        asset = Asset(id="0123456789abcdef", kind="model", name="m", path="/m", format="x", framework=None,
                      files=())
        record_discovered(store, [(asset, [DatasetRef("org/ds", "model-card")])])
        record_discovered(store, [(asset, [DatasetRef("org/ds2", "model-card")])])
        refs = lineage_of(store, "/m")
    assert [(r.name, r.source, r.lock_root, r.verified) for r in refs] == [
        ("d", "explicit", "b" * 64, True), ("org/ds2", "model-card", None, None)]


def test_static_readers_tolerate_damage(tmp_path: Path) -> None:
    src = next(LIN.glob("mlruns/0/models/*/artifacts"))
    assert [r.name for r in from_mlflow(str(src))] == ["reviews-train"]
    broken = tmp_path / "mlruns"
    shutil.copytree(LIN / "mlruns", broken)
    for meta in broken.glob("0/datasets/*/meta.yaml"):
        meta.write_bytes(b"\x00\xff{[")
    assert from_mlflow(str(next(broken.glob("0/models/*/artifacts")))) == []
    ckpt = tmp_path / "x.ckpt"
    ckpt.write_bytes(b"PK\x03\x04 not a zip")
    assert from_lightning(str(ckpt)) == []
    assert discover_lineage(str(tmp_path), None, [str(ckpt)]) == []


def test_symbolic_checkpoint_hparams_are_read_without_loading(tmp_path: Path) -> None:
    import torch  # noqa: TID251 - the test writes a real checkpoint; mlvet only reads it symbolically

    class Boom:
        def __reduce__(self) -> tuple[Any, ...]:
            return (print, ("LOADED",))

    ckpt = tmp_path / "m.ckpt"
    torch.save({"hyper_parameters": {"dataset_name": "acme/clean", "payload": Boom()}}, ckpt)
    refs = from_lightning(str(ckpt))
    assert [(r.name, r.detail) for r in refs] == [("acme/clean", "hyper_parameters: dataset_name")]


def _unpacked_db_tree(tmp_path: Path) -> Path:
    tree = tmp_path / "mlflow_db"
    shutil.copytree(LIN / "mlflow_db", tree)
    _unpack(tree)
    return tree


def test_mlflow_sqlite_tracking_store(tmp_path: Path) -> None:
    """MLflow 3's default backend: the run's inputs come from mlflow.db above the model, read-only."""
    tree = _unpacked_db_tree(tmp_path)
    model = next(tree.glob("mlruns/*/models/*/artifacts"))
    before = (tree / "mlflow.db").read_bytes()
    (ref,) = from_mlflow(str(model))
    assert (ref.name, ref.uri, ref.digest, ref.source) == (
        "reviews-train", "s3://acme-data/reviews/train.parquet", "92ed6111", "mlflow-run")
    assert ref.detail is not None and ref.detail.endswith("context training")
    assert (tree / "mlflow.db").read_bytes() == before
    assert sorted(p.name for p in tree.iterdir()) == ["mlflow.db", "mlflow.db.gz", "mlruns"]  # no journal left
    (tree / "mlflow.db").write_bytes(b"not a database" * 100)
    assert from_mlflow(str(model)) == []
