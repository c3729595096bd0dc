"""Dataset scanning (issue 15, item 4): loading scripts, pickled Arrow extension types, pickled columns and
custom feature types are findings at the right severity; parquet/Arrow written by datasets, pandas and pyarrow
are clean; malformed footers and schemas are errors.

Fixtures: ``tests/assets/dataset_code`` (``tests/assets/make_dataset_code.py``, the real libraries) and
``tests/assets/datasets``. pyarrow is used only to cross-check what mlvet's own footer/schema reader found.
"""

from __future__ import annotations

import base64
import io
import random
import shutil
import zipfile
from pathlib import Path

import pytest

import mlvet
from mlvet.containers.arrow_schema import parse_encapsulated, read_schema_message
from mlvet.containers.thrift_compact import parquet_key_values
from mlvet.model import FileResult, Severity, Status

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DC = ASSETS / "dataset_code"
DS = ASSETS / "datasets"


def _scan(path: Path) -> FileResult:
    report = mlvet.scan(path)
    assert len(report.results) == 1, [r.path for r in report.results]
    return report.results[0]


def _rules(result: FileResult) -> dict[str, Severity]:
    out: dict[str, Severity] = {}
    for f in result.findings:
        out[f.rule_id] = max(out.get(f.rule_id, Severity.NONE), f.severity)
    return out


# ---- clean: what the libraries write -----------------------------------------------------------------

CLEAN = [
    ("hf_parquet/data/train-00000-of-00001.parquet", "parquet"),
    ("hf_saved/data-00000-of-00001.arrow", "arrow"),
    ("hf_saved/dataset_info.json", "hf-dataset-info"),
    ("hf_saved/state.json", "hf-dataset-state"),
]


@pytest.mark.parametrize(("name", "fmt"), CLEAN)
def test_datasets_written_by_the_library_scan_clean(name: str, fmt: str) -> None:
    r = _scan(DC / name)
    assert (r.status, r.format, r.findings, r.errors) == (Status.SCANNED, fmt, (), ())


def test_hf_features_in_the_schema_are_read() -> None:
    assert "hf-dataset-features" in _scan(DC / "hf_parquet/data/train-00000-of-00001.parquet").formats_seen


def test_plain_parquet_and_arrow_from_pandas_and_pyarrow_are_clean() -> None:
    report = mlvet.scan(DS)
    by = {Path(r.path).name: r for r in report.results}
    for name, fmt in (("train-00000-of-00002.parquet", "parquet"), ("table.arrow", "arrow"),
                      ("data-00000-of-00001.arrow", "arrow")):
        assert (by[name].status, by[name].format) == (Status.SCANNED, fmt), name
    assert max((f.severity for r in report.results for f in r.findings), default=Severity.NONE) < Severity.MEDIUM


def test_benign_repo_folders_have_nothing_at_medium_or_above() -> None:
    report = mlvet.scan([DC / "hf_parquet", DC / "hf_saved"])
    assert report.summary().errors == 0
    assert all(f.severity < Severity.MEDIUM for r in report.results for f in r.findings)


# ---- findings --------------------------------------------------------------------------------------


def test_loading_script_is_high_with_its_own_code_findings() -> None:
    r = _scan(DC / "hf_script/hf_script.py")
    rules = _rules(r)
    assert r.format == "hf-dataset-script"
    assert rules["DAT001"] == Severity.HIGH
    assert rules["HFR911"] == Severity.HIGH  # os.system inside _split_generators
    assert "HfScript" in next(f.message for f in r.findings if f.rule_id == "DAT001")


def test_loading_script_found_by_layout_without_builder_class(tmp_path: Path) -> None:
    folder = tmp_path / "squadish"
    folder.mkdir()
    (folder / "squadish.py").write_text("import os\nprint(os.getcwd())\n")
    r = _scan(folder / "squadish.py")
    assert _rules(r) == {"DAT001": Severity.HIGH}


def test_loading_script_in_hub_cache_layout(tmp_path: Path) -> None:
    snap = tmp_path / "datasets--org--hf_script" / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    shutil.copy(DC / "hf_script/hf_script.py", snap / "hf_script.py")
    assert _rules(_scan(snap / "hf_script.py"))["DAT001"] == Severity.HIGH


def test_python_mentioning_datasets_that_is_no_script_is_not_a_finding(tmp_path: Path) -> None:
    p = tmp_path / "prep.py"
    p.write_text("import datasets\nds = datasets.load_dataset('x')\n")
    r = _scan(p)
    assert (r.status, r.findings) == (Status.SKIPPED, ())


def test_pickled_extension_type_calling_os_system_is_critical() -> None:
    r = _scan(DC / "pickled_extension.parquet")
    rules = _rules(r)
    assert rules["DAT002"] == Severity.HIGH
    assert rules["PKL100"] == Severity.CRITICAL
    assert r.severity == Severity.CRITICAL
    assert any("arrow.py_extension_type" in f.message and "'x'" in f.message for f in r.findings)


def test_pickled_extension_type_with_plain_payload_is_high() -> None:
    r = _scan(DC / "pickled_extension_benign.arrow")
    assert r.format == "arrow"
    assert _rules(r) == {"DAT002": Severity.HIGH}


def test_pickled_extension_type_inside_an_archive(tmp_path: Path) -> None:
    z = tmp_path / "shards.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.write(DC / "pickled_extension.parquet", "data/train.parquet")
    assert _scan(z).severity == Severity.CRITICAL


def test_pandas_pickle_and_object_arrays() -> None:
    assert _scan(DC / "pandas_object_evil.pkl").severity == Severity.CRITICAL
    assert _scan(DC / "object_array_evil.npz").severity == Severity.CRITICAL
    benign = _scan(DC / "pandas_object.pkl")
    assert benign.status != Status.ERROR and benign.severity < Severity.MEDIUM
    npy = _scan(DC / "object_array.npy")
    assert "numpy-object-array" in npy.formats_seen and npy.severity < Severity.MEDIUM


def test_custom_feature_type_is_low() -> None:
    r = _scan(DC / "hf_custom_feature/dataset_info.json")
    assert _rules(r) == {"DAT003": Severity.LOW}
    assert "Molecule" in r.findings[0].message


def test_custom_feature_in_parquet_schema_metadata(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table({"a": [1]}).replace_schema_metadata(
        {"huggingface": '{"info": {"features": {"a": {"_type": "Tensorish", "dtype": "int64"}}}}'})
    pq.write_table(table, tmp_path / "t.parquet")
    assert _rules(_scan(tmp_path / "t.parquet")) == {"DAT003": Severity.LOW}


def test_unknown_extension_type_is_info(tmp_path: Path) -> None:
    import pyarrow as pa

    class Geo(pa.ExtensionType):
        def __init__(self) -> None:
            super().__init__(pa.int32(), "acme.geometry")

        def __arrow_ext_serialize__(self) -> bytes:
            return b'{"crs": "EPSG:4326"}'

        @classmethod
        def __arrow_ext_deserialize__(cls, storage_type: object, serialized: bytes) -> Geo:
            return Geo()

    t = pa.table({"g": pa.ExtensionArray.from_storage(Geo(), pa.array([1], pa.int32()))})
    with pa.OSFile(str(tmp_path / "g.arrow"), "wb") as sink, pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t)
    assert _rules(_scan(tmp_path / "g.arrow")) == {"DAT004": Severity.INFO}


def test_state_json_pointing_outside_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "state.json"
    p.write_text('{"_data_files": [{"filename": "../../etc/x.arrow"}], "_fingerprint": "0"}')
    assert _scan(p).status == Status.ERROR


# ---- the readers agree with pyarrow; malformed input is an error --------------------------------------


def _footer(data: bytes) -> bytes:
    n = int.from_bytes(data[-8:-4], "little")
    return data[-8 - n : -8]


@pytest.mark.parametrize("name", ["pickled_extension.parquet", "hf_parquet/data/train-00000-of-00001.parquet"])
def test_footer_and_schema_match_pyarrow(name: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    ours = dict(parquet_key_values(_footer((DC / name).read_bytes())))
    theirs = pq.read_metadata(DC / name).metadata
    assert {k.encode(): v for k, v in ours.items()} == theirs
    raw = base64.b64decode(ours["ARROW:schema"])
    schema = parse_encapsulated(raw, "t")
    ref = pa.ipc.read_schema(pa.py_buffer(raw))
    assert [f.path for f in schema.fields if "." not in f.path] == ref.names
    for f in schema.fields:
        if "." not in f.path:
            field = ref.field(f.path)
            expected = {k.decode(): v for k, v in (field.metadata or {}).items()}
            if isinstance(field.type, pa.ExtensionType):
                # A process that imported `datasets` has registered its extension types, and pyarrow then turns
                # the field's extension keys into the type: compare the name through the type instead.
                expected["ARROW:extension:name"] = field.type.extension_name.encode()
                expected["ARROW:extension:metadata"] = dict(f.metadata)["ARROW:extension:metadata"]
            assert dict(f.metadata) == expected


def test_arrow_stream_schema_matches_pyarrow() -> None:
    import pyarrow as pa

    path = DC / "hf_saved/data-00000-of-00001.arrow"
    with open(path, "rb") as f:
        ours = read_schema_message(f, 0, path.stat().st_size, "t")
    ref = pa.ipc.open_stream(pa.OSFile(str(path))).schema
    assert {k.encode(): v for k, v in ours.metadata} == ref.metadata


def test_parquet_scan_reads_only_the_footer(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    p = tmp_path / "big.parquet"
    pq.write_table(pa.table({"x": pa.array(range(400_000), pa.int64())}), p, compression="none")
    size = p.stat().st_size

    class Counting(io.BytesIO):
        read_bytes = 0

        def read(self, n: int | None = -1) -> bytes:
            out = super().read(n)
            Counting.read_bytes += len(out)
            return out

    r = mlvet.scan_bytes(p.read_bytes(), "big.parquet")
    assert r.status == Status.SCANNED
    from mlvet.policy import default_policy
    from mlvet.scanner import scan_stream

    data = Counting(p.read_bytes())
    assert scan_stream(data, size, "big.parquet", default_policy()).status == Status.SCANNED
    assert size > 3_000_000 and Counting.read_bytes < 64 * 1024


@pytest.mark.parametrize("mutate", ["truncate", "huge_footer", "bad_schema_b64", "garbage_footer"])
def test_malformed_parquet_is_an_error(mutate: str) -> None:
    data = bytearray((DC / "hf_parquet/data/train-00000-of-00001.parquet").read_bytes())
    if mutate == "truncate":
        data = data[: len(data) // 2]
    elif mutate == "huge_footer":
        data[-8:-4] = (0x7FFFFFF0).to_bytes(4, "little")
    elif mutate == "bad_schema_b64":
        i = data.find(b"ARROW:schema")
        j = data.find(b"/////", i)  # the base64 of the 0xFFFFFFFF continuation marker
        data[j : j + 4] = b"!!!!"
    else:
        n = int.from_bytes(data[-8:-4], "little")
        data[-8 - n : -8] = bytes([0xFF]) * n
    assert mlvet.scan_bytes(bytes(data), "x.parquet").status == Status.ERROR


def test_random_footer_corruption_never_crashes() -> None:
    src = (DC / "pickled_extension.parquet").read_bytes()
    n = int.from_bytes(src[-8:-4], "little")
    rng = random.Random(15)
    for _ in range(300):
        data = bytearray(src)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(src) - 8 - n, len(src) - 8)] = rng.randrange(256)
        r = mlvet.scan_bytes(bytes(data), "x.parquet")
        assert r.status in (Status.ERROR, Status.SCANNED), r.status
        # never silently clean when the pickle survived intact
        if bytes(data).find(b"posix\x94\x8c\x06system") >= 0 and r.status == Status.SCANNED and not r.findings:
            pytest.fail("an intact pickled extension went unreported")


def test_arrow_file_footer_schema_is_read_too(tmp_path: Path) -> None:
    """File readers take the schema from the footer: a benign first message must not hide a pickled type there."""
    import pyarrow as pa

    benign = tmp_path / "benign.arrow"
    with pa.OSFile(str(benign), "wb") as sink, pa.ipc.new_file(sink, pa.schema([("t", pa.int64())])) as w:
        w.write_table(pa.table({"t": [1, 2, 3]}))
    a = benign.read_bytes()
    b = (DC / "pickled_extension_benign.arrow").read_bytes()
    na, nb = int.from_bytes(a[-10:-6], "little"), int.from_bytes(b[-10:-6], "little")
    spliced = tmp_path / "spliced.arrow"
    spliced.write_bytes(a[: len(a) - 10 - na] + b[len(b) - 10 - nb :])
    ref = pa.ipc.open_file(pa.OSFile(str(spliced))).schema  # what a reader sees: the footer's schema
    assert (ref.field("t").metadata or {}).get(b"ARROW:extension:name", b"").startswith(b"ray.")
    r = _scan(spliced)
    assert _rules(r).get("DAT002") == Severity.HIGH
    assert _rules(_scan(benign)) == {}


def test_loading_script_in_hub_cache_found_by_layout_past_a_long_header(tmp_path: Path) -> None:
    snap = tmp_path / "datasets--org--squadish" / "snapshots" / ("b" * 40)
    snap.mkdir(parents=True)
    header = "# " + "licence text " * 400 + "\n"  # the import sits past the 4 KiB the sniffers see
    (snap / "squadish.py").write_text(header + "import subprocess\nsubprocess.run(['id'])\n")
    rules = _rules(_scan(snap / "squadish.py"))
    assert rules["DAT001"] == Severity.HIGH and "HFR911" in rules


def test_random_arrow_schema_corruption_never_crashes() -> None:
    src = (DC / "pickled_extension_benign.arrow").read_bytes()
    rng = random.Random(16)
    for _ in range(300):
        data = bytearray(src)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(8, min(len(src), 400))] = rng.randrange(256)
        r = mlvet.scan_bytes(bytes(data), "x.arrow")
        assert r.status in (Status.ERROR, Status.SCANNED), r.status
