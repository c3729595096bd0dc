"""``mlvet data lock`` / ``verify`` on an img2dataset-style URL list: each kind of damage is reported exactly.

The dataset is made at test time by make_urllist.py (2 shards, 2000 rows, content files per successful row,
a sha256 column as ``img2dataset --compute_hash`` writes it, a few rows without a hash).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

import pytest
from _datalock import mlvet, verify_json
from make_urllist import make_dataset

from mlvet.data.lockfile import FORMAT, canonical, load_lock
from mlvet.errors import UsageError

pa = pytest.importorskip("pyarrow", reason="pyarrow (mlvet[data]) is not installed")
pq = pytest.importorskip("pyarrow.parquet")

Fixture = tuple[Path, Path, dict[str, Any]]


def _success_row(dataset: Path, shard: str, nth: int = 3) -> tuple[int, str]:
    """Index and key of the ``nth`` successful row with a hash in ``shard``."""
    rows = pq.read_table(dataset / f"{shard}.parquet").to_pylist()
    hits = [(i, r["key"]) for i, r in enumerate(rows) if r["status"] == "success" and r["sha256"]]
    return hits[nth]


def test_lock_then_verify_passes(urllist: Fixture) -> None:
    dataset, lock, truth = urllist
    code, report = verify_json(dataset, lock)
    assert code == 0
    assert set(report) == {"missing", "extra", "changed", "unverifiable", "affected_fraction"}
    assert report["missing"] == report["extra"] == report["changed"] == []
    assert report["unverifiable"] == truth["unverifiable"]  # successful rows the index has no hash for
    assert report["affected_fraction"] == 0


def test_lock_document_is_canonical_versioned_and_deterministic(urllist: Fixture, tmp_path: Path) -> None:
    dataset, lock, truth = urllist
    raw = lock.read_bytes()
    doc = json.loads(raw)
    assert doc["format"] == FORMAT and doc["version"] == 1 and doc["layout"] == "img2dataset"
    assert canonical(doc) == raw  # the file is its own canonical form
    body = {k: v for k, v in doc.items() if k != "root"}
    assert doc["root"] == hashlib.sha256(canonical(body)).hexdigest()
    paths = [f["path"] for f in doc["files"]]
    assert paths == sorted(paths) and len(paths) == len(set(paths))
    image = next(p for p in paths if p.endswith(".jpg"))
    assert next(f for f in doc["files"] if f["path"] == image)["sha256"] == \
        hashlib.sha256((dataset / image).read_bytes()).hexdigest()
    rows = sum(len(t["rows"]) for t in doc["tables"].values())
    assert rows == truth["rows"]
    # per-row content hashes where the content is local, null where the download failed
    table = doc["tables"]["00000.parquet"]
    assert table["url_column"] == "url" and table["hash_column"] == "sha256" and table["key_column"] == "key"
    parquet = pq.read_table(dataset / "00000.parquet").to_pylist()
    for entry, row in zip(table["rows"], parquet):
        if row["status"] == "success":
            assert entry["content"] == f"00000/{row['key']}.jpg"
            assert entry["sha256"] == hashlib.sha256((dataset / entry["content"]).read_bytes()).hexdigest()
        else:
            assert entry["content"] is None and entry["sha256"] is None
    again = tmp_path / "again.lock"
    assert mlvet("data", "lock", str(dataset), "-o", str(again), "--workers", "1").returncode == 0
    assert again.read_bytes() == raw  # same data, same bytes, whatever the thread count
    assert load_lock(lock).root == doc["root"]


def test_edited_lock_is_refused(urllist: Fixture, tmp_path: Path) -> None:
    dataset, lock, _ = urllist
    doc = json.loads(lock.read_bytes())
    doc["files"][1]["sha256"] = "0" * 64
    forged = tmp_path / "forged.lock"
    forged.write_bytes(canonical(doc))
    done = mlvet("data", "verify", str(dataset), "--lock", str(forged))
    assert done.returncode == 4
    assert "mlvet: error:" in done.stderr and "root digest" in done.stderr
    with pytest.raises(UsageError):
        load_lock(forged)


def test_changed_image_bytes(urllist: Fixture, scratch: Any) -> None:
    dataset, lock, _ = urllist
    index, key = _success_row(dataset, "00000")
    image = scratch.keep(dataset / "00000" / f"{key}.jpg")
    data = bytearray(image.read_bytes())
    data[40] ^= 0xFF
    image.write_bytes(bytes(data))
    code, report = verify_json(dataset, lock)
    assert code == 1
    # the file differs from the lock, and its row's content no longer matches the index's sha256
    assert report["changed"] == sorted([f"00000/{key}.jpg", f"00000.parquet#{index}"])
    assert report["missing"] == report["extra"] == []
    assert report["affected_fraction"] == pytest.approx(2 / load_lock(lock).units, abs=1e-9)


def test_deleted_image(urllist: Fixture, scratch: Any) -> None:
    dataset, lock, _ = urllist
    _, key = _success_row(dataset, "00001", 10)
    scratch.keep(dataset / "00001" / f"{key}.jpg").unlink()
    code, report = verify_json(dataset, lock)
    assert code == 1
    assert report["missing"] == [f"00001/{key}.jpg"]
    assert report["extra"] == report["changed"] == []


def test_added_image(urllist: Fixture, scratch: Any) -> None:
    dataset, lock, _ = urllist
    (dataset / "00001" / "000019999.jpg").write_bytes(b"\xff\xd8\xff\xe0 not in the lock \xff\xd9")
    code, report = verify_json(dataset, lock)
    assert code == 1
    assert report["extra"] == ["00001/000019999.jpg"]
    assert report["missing"] == report["changed"] == []


def test_edited_parquet_row(urllist: Fixture, scratch: Any) -> None:
    dataset, lock, _ = urllist
    path = scratch.keep(dataset / "00001.parquet")
    rows = pq.read_table(path).to_pylist()
    rows[17]["url"] = "https://attacker.example.net/img/swapped.jpg"
    pq.write_table(pa.Table.from_pylist(rows, schema=pq.read_schema(path)), path)
    code, report = verify_json(dataset, lock)
    assert code == 1
    assert report["changed"] == ["00001.parquet#17"]  # the row, not the whole file
    assert report["missing"] == report["extra"] == []


def test_removed_parquet_rows_are_missing_rows(urllist: Fixture, scratch: Any) -> None:
    dataset, lock, _ = urllist
    path = scratch.keep(dataset / "00000.parquet")
    table = pq.read_table(path)
    pq.write_table(table.slice(0, table.num_rows - 2), path)
    code, report = verify_json(dataset, lock)
    assert code == 1
    assert report["missing"] == [f"00000.parquet#{table.num_rows - 2}", f"00000.parquet#{table.num_rows - 1}"]
    assert report["changed"] == report["extra"] == []


def test_max_affected_threshold(urllist: Fixture, scratch: Any) -> None:
    dataset, lock, _ = urllist
    scratch.keep(dataset / "00000_stats.json").write_text("{}")
    assert verify_json(dataset, lock, "--max-affected", "0.01")[0] == 0
    code, report = verify_json(dataset, lock, "--max-affected", "0")
    assert code == 1 and report["changed"] == ["00000_stats.json"]
    assert mlvet("data", "verify", str(dataset), "--lock", str(lock), "--max-affected", "2").returncode == 4


def test_usage_errors_exit_4(urllist: Fixture, tmp_path: Path) -> None:
    dataset, lock, _ = urllist
    assert mlvet("data", "verify", str(dataset)).returncode == 4  # --lock is required
    assert mlvet("data", "verify", str(tmp_path / "nope"), "--lock", str(lock)).returncode == 4
    not_json = tmp_path / "x.lock"
    not_json.write_text("not json")
    done = mlvet("data", "verify", str(dataset), "--lock", str(not_json))
    assert done.returncode == 4 and "mlvet: error:" in done.stderr
    done = mlvet("data", "lock", str(dataset), "-o", str(tmp_path / "no" / "such" / "dir.lock"))
    assert done.returncode == 4 and not (tmp_path / "no").exists()


def test_unreadable_file_is_incomplete_not_clean(tmp_path: Path) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "a.txt").write_text("a")
    os.symlink(folder / "gone", folder / "dangling")
    done = mlvet("data", "lock", str(folder), "-o", str(tmp_path / "d.lock"))
    assert done.returncode == 2 and "dangling" in done.stderr
    assert not (tmp_path / "d.lock").exists()
    os.unlink(folder / "dangling")
    os.symlink("/etc/hostname", folder / "outside")
    done = mlvet("data", "lock", str(folder), "-o", str(tmp_path / "d.lock"))
    assert done.returncode == 2 and "outside the dataset" in done.stderr


def test_lock_inside_the_dataset_is_not_part_of_it(tmp_path: Path) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "train.txt").write_text("hello\n")
    assert mlvet("data", "lock", str(folder), "-o", str(folder / "data.lock")).returncode == 0
    code, report = verify_json(folder, folder / "data.lock")
    assert code == 0 and report["extra"] == []


def _rewrite_member(tar_path: Path, member: str) -> None:
    with tarfile.open(tar_path) as tar:
        members = [(info, tar.extractfile(info).read()) for info in tar.getmembers()]  # type: ignore[union-attr]
    with tarfile.open(tar_path, "w") as tar:
        for info, data in members:
            new = data[:-3] + b"!\xff\xd9" if info.name == member else data
            info.size = len(new)
            tar.addfile(info, io.BytesIO(new))


def test_webdataset_members_are_hashed_without_extraction(tmp_path: Path) -> None:
    dataset = tmp_path / "wds"
    make_dataset(dataset, rows=300, domains=40, fmt="webdataset")
    lock = tmp_path / "wds.lock"
    assert mlvet("data", "lock", str(dataset), "-o", str(lock)).returncode == 0
    doc = json.loads(lock.read_bytes())
    members = doc["members"]["00000.tar"]
    assert {m["name"].rsplit(".", 1)[1] for m in members} == {"jpg", "json", "txt"}
    assert not any(p.suffix == ".jpg" for p in dataset.rglob("*"))  # nothing was extracted
    row = next(r for r in doc["tables"]["00000.parquet"]["rows"] if r["content"])
    assert row["content"].startswith("00000.tar!/")
    assert verify_json(dataset, lock)[0] == 0
    index, key = _success_row(dataset, "00000", 2)
    _rewrite_member(dataset / "00000.tar", f"{key}.jpg")
    code, report = verify_json(dataset, lock)
    assert code == 1
    assert report["changed"] == sorted([f"00000.tar!/{key}.jpg", f"00000.parquet#{index}"])


def test_datasets_save_to_disk_and_hf_cache(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    saved = tmp_path / "saved"
    datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0]}).save_to_disk(str(saved))
    lock = tmp_path / "saved.lock"
    assert mlvet("data", "lock", str(saved), "-o", str(lock)).returncode == 0
    assert json.loads(lock.read_bytes())["layout"] == "hf-save-to-disk"
    assert verify_json(saved, lock)[0] == 0
    arrow = next(saved.glob("*.arrow"))
    with open(arrow, "ab") as fh:
        fh.write(b"\0")
    assert verify_json(saved, lock)[1]["changed"] == [arrow.name]
    # a Hugging Face cache repository: the snapshot refs/main names, its symlinks into blobs/ followed
    repo = tmp_path / "hub" / "datasets--acme--reviews"
    commit = "1" * 40
    (repo / "blobs").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    snap = repo / "snapshots" / commit / "data"
    snap.mkdir(parents=True)
    content = b"text,label\nhello,1\n"
    blob = repo / "blobs" / hashlib.sha256(content).hexdigest()
    blob.write_bytes(content)
    os.symlink(os.path.relpath(blob, snap), snap / "train.csv")
    lock = tmp_path / "hub.lock"
    assert mlvet("data", "lock", str(repo), "-o", str(lock)).returncode == 0
    doc = json.loads(lock.read_bytes())
    assert doc["layout"] == "hf-cache"
    assert doc["files"] == [{"path": "data/train.csv", "size": len(content), "sha256": blob.name}]


def test_resume_after_interruption(tmp_path: Path) -> None:
    from mlvet.data.lock import build_lock
    from mlvet.data.verify import Journal, verify_dataset
    from mlvet.data.walk import open_dataset

    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(60):
        (folder / f"{i:03d}.bin").write_bytes(os.urandom(100 + i))
    ds = open_dataset(str(folder))
    lock = build_lock(ds, workers=1).lock
    journal_path = str(tmp_path / "data.lock.mlvet-journal")
    seen = []

    def interrupt(res: Any) -> None:
        seen.append(res.path)
        if len(seen) == 25:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        verify_dataset(ds, lock, workers=1, journal=Journal(journal_path, lock.root), progress=interrupt)
    assert os.path.exists(journal_path)  # kept for the next run
    (folder / "003.bin").write_bytes(b"changed after the interruption")  # new size and mtime: hashed again
    report = verify_dataset(ds, lock, workers=2, journal=Journal(journal_path, lock.root))
    assert report.resumed == 23  # 24 recorded before the interruption, one of them since changed
    assert report.changed == ["003.bin"] and not report.missing and not report.extra
    assert not os.path.exists(journal_path)  # a finished run leaves no journal (mtimes are not a cache)
    # a journal of another lock is ignored
    Path(journal_path).write_text(json.dumps({"lock": "0" * 64}) + "\n")
    assert verify_dataset(ds, lock, journal=Journal(journal_path, lock.root)).resumed == 0


def test_croissant_round_trip(urllist: Fixture, tmp_path: Path, scratch: Any) -> None:
    dataset, _, _ = urllist
    croissant = tmp_path / "croissant.json"
    assert mlvet("data", "lock", str(dataset), "-o", str(tmp_path / "c.lock"), "--croissant",
                 str(croissant)).returncode == 0
    doc = json.loads(croissant.read_text())
    assert "mlcommons.org/croissant" in json.dumps(doc["@context"]) and doc["@type"] == "sc:Dataset"
    objects = {o["contentUrl"]: o for o in doc["distribution"]}
    assert objects["00000.parquet"]["@type"] == "cr:FileObject"
    assert objects["00000.parquet"]["sha256"] == hashlib.sha256((dataset / "00000.parquet").read_bytes()).hexdigest()
    assert objects["00000.parquet"]["encodingFormat"] == "application/x-parquet"
    assert verify_json(dataset, croissant)[0] == 0  # a Croissant file is accepted as the lock
    scratch.keep(dataset / "00001_stats.json").write_text("{}")
    code, report = verify_json(dataset, croissant)
    assert code == 1 and report["changed"] == ["00001_stats.json"]
    # an existing Croissant file is updated in place: its FileObjects get hashes, a FileSet is kept
    existing = {"@context": doc["@context"], "@type": "sc:Dataset", "name": "mine", "conformsTo":
                "http://mlcommons.org/croissant/1.0", "distribution": [
                    {"@type": "cr:FileObject", "@id": "shard0", "name": "shard0", "contentUrl": "00000.parquet",
                     "encodingFormat": "application/x-parquet"},
                    {"@type": "cr:FileSet", "@id": "images", "name": "images", "includes": "*/*.jpg"}]}
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps(existing))
    assert mlvet("data", "lock", str(dataset), "-o", str(tmp_path / "m.lock"), "--croissant", str(mine)).returncode == 0
    updated = json.loads(mine.read_text())
    assert updated["name"] == "mine" and updated["distribution"][0]["@id"] == "shard0"
    assert updated["distribution"][0]["sha256"] == objects["00000.parquet"]["sha256"]
    assert updated["distribution"][1]["@type"] == "cr:FileSet"


def test_croissant_without_hashes_is_unverifiable(tmp_path: Path) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "a.csv").write_text("url\nhttps://example.com/a\n")
    (folder / "b.jpg").write_bytes(b"x")
    croissant = tmp_path / "c.json"
    croissant.write_text(json.dumps({
        "@context": {"cr": "http://mlcommons.org/croissant/"}, "@type": "sc:Dataset", "name": "d",
        "distribution": [{"@type": "cr:FileObject", "@id": "a", "contentUrl": "a.csv", "md5": "x"},
                         {"@type": "cr:FileSet", "@id": "imgs", "includes": "*.jpg"}]}))
    code, report = verify_json(folder, croissant)
    # nothing can be checked: incomplete (2), never clean
    assert code == 2 and report["extra"] == [] and report["unverifiable"] == ["a.csv", "b.jpg"]


def test_lock_can_be_signed(urllist: Fixture, tmp_path: Path) -> None:
    pytest.importorskip("model_signing.signing", reason="model-signing (mlvet[signing]) is not installed")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    _, lock, _ = urllist
    key = ec.generate_private_key(ec.SECP256R1())
    private, public = tmp_path / "key.pem", tmp_path / "pub.pem"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    signed = tmp_path / "data.lock"
    shutil.copy(lock, signed)
    sig = tmp_path / "data.lock.sig"
    done = mlvet("sign", "key", str(signed), "--private-key", str(private), "--signature", str(sig))
    assert done.returncode == 0, done.stderr
    assert mlvet("verify", "key", str(signed), "--public-key", str(public), "--signature", str(sig)).returncode == 0
    signed.write_bytes(signed.read_bytes().replace(b'"version":1', b'"version":2'))
    assert mlvet("verify", "key", str(signed), "--public-key", str(public), "--signature", str(sig)).returncode == 1


@pytest.mark.parametrize(("name", "content"), [
    ("urls.parquet", b"PAR1 this is not a parquet file PAR1"),
    ("urls.jsonl", b'{"url": "https://a.example.com/x"}\n' + b"[" * 100_000 + b"\n"),
    ("urls.csv", b"url\nhttps://a.example.com/\xff\xfe\n"),  # not UTF-8
], ids=["parquet-garbage", "jsonl-deep-nesting", "csv-not-utf8"])
def test_malformed_tables_are_incomplete(tmp_path: Path, name: str, content: bytes) -> None:
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / name).write_bytes(content)
    (folder / "not-a-shard.tar").write_bytes(b"plain bytes named .tar")  # hashed as a file, no members
    done = mlvet("data", "lock", str(folder), "-o", str(tmp_path / "d.lock"))
    assert done.returncode == 2, done.stderr
    assert "cannot read the table" in done.stderr and "internal error" not in done.stderr
    assert not (tmp_path / "d.lock").exists()
    (folder / name).unlink()
    assert mlvet("data", "lock", str(folder), "-o", str(tmp_path / "d.lock")).returncode == 0
    assert json.loads((tmp_path / "d.lock").read_bytes())["members"] == {}  # a .tar that is no tar: a plain file
