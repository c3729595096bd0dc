"""CycloneDX 1.6 ML-BOMs: every document validates against the official schema offline, fields round-trip.

The network is blocked for the whole module (``socket.connect`` and name resolution raise), so a validator
that tried to fetch a remote ``$ref`` would fail here rather than silently pass on a developer's machine.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from _bom_support import NetworkBlocked
from packageurl import PackageURL

from mlvet.bom import BomValidationError, bom_json, build_bom, validate_bom
from mlvet.bom import cyclonedx as cdx
from mlvet.inventory.model import Asset, AssetFile, AssetMetadata, HubRef, InventoryRun, asset_id
from mlvet.model import Confidence, Finding, Location, Severity

SERIAL = uuid.UUID("00000000-0000-4000-8000-000000000001")
WHEN = datetime(2026, 11, 29, 6, 0, tzinfo=timezone.utc)
REV = "86B5E0934494BD15C9632B12F734A8A67F723594"  # upper case on purpose: the purl must lower-case it
DS_REV = "e" * 40


def test_the_network_block_is_live() -> None:
    import urllib.request

    with pytest.raises(NetworkBlocked):
        urllib.request.urlopen("http://cyclonedx.org/schema/spdx.schema.json", timeout=1)


# ---------------------------------------------------------------------------------------------- fixtures


def _sha(text: str) -> str:
    import hashlib

    return hashlib.sha256(text.encode()).hexdigest()


def _file(root: str, rel: str, *, fmt: str | None = None, severity: Severity = Severity.NONE,
          status: str | None = "scanned", integrity: str | None = None, size: int = 10) -> AssetFile:
    return AssetFile(path=f"{root}/{rel}", rel=rel, size=size, sha256=_sha(root + rel), format=fmt,
                     severity=severity, scan_status=status, integrity=integrity)


def _finding(path: str, rule: str = "PKL100", severity: Severity = Severity.CRITICAL, evidence: str = "os.system('id')",
             offset: int | None = 31, cwe: int | None = 502) -> Finding:
    return Finding(rule_id=rule, severity=severity, message="calls os.system",
                   location=Location(path, ("archive/data.pkl",), offset), evidence=evidence,
                   confidence=Confidence.HIGH, cwe=cwe)


def full_model() -> Asset:
    """A Hugging Face snapshot with every field populated."""
    root = "/cache/models--google-bert--bert-base-uncased/snapshots/" + REV.lower()
    files = (
        _file(root, "model.safetensors", fmt="safetensors", integrity="ok", size=440_000_000),
        _file(root, "config.json", fmt="json", integrity="ok"),
        _file(root, "tokenizer/vocab.txt", fmt="text", integrity="mismatch", status="skipped"),
    )
    return Asset(
        id=asset_id(f"hf:model:google-bert/bert-base-uncased@{REV.lower()}"), kind="model",
        name="google-bert/bert-base-uncased", path=root, format="safetensors", framework="transformers", files=files,
        hub=HubRef("model", "google-bert/bert-base-uncased", REV, ("main", "v1")),
        metadata=AssetMetadata(
            architecture="BertForMaskedLM", parameters=109_514_298, task="fill-mask", license="apache-2.0",
            base_models=("google/bert_uncased_L-12_H-768_A-12", "./local-checkpoint"),
            datasets=("bookcorpus", "wikimedia/wikipedia", "our internal crawl 2024"), library="transformers",
            languages=("en",), tags=("exbert", "bert"), card=True, card_sections=("training data",),
            remote_code=True, extra=(("model_type", "bert"), ("dtype", "float32")),
        ),
    )


def wiki_dataset() -> Asset:
    """A hub dataset present in the inventory: the model's card names it, so the card must reference it."""
    root = "/cache/datasets--wikimedia--wikipedia/snapshots/" + DS_REV
    return Asset(
        id=asset_id(f"hf:dataset:wikimedia/wikipedia@{DS_REV}"), kind="dataset", name="wikimedia/wikipedia",
        path=root, format="parquet", framework=None,
        files=(_file(root, "20231101.en/train-00000.parquet", fmt="parquet"),
               _file(root, "20231101.en/train-00001.parquet", fmt="parquet")),
        hub=HubRef("dataset", "wikimedia/wikipedia", DS_REV),
        metadata=AssetMetadata(license="cc-by-sa-3.0", task="text-generation"),
    )


def evil_model() -> Asset:
    """A single-file pickle checkpoint with findings (one of them reported twice at different offsets)."""
    path = "/models/evil.pt"
    return Asset(
        id=asset_id(f"path:{path}"), kind="model", name="evil.pt", path=path, format="pytorch-zip",
        framework="pytorch", files=(_file("/models", "evil.pt", fmt="pytorch-zip", severity=Severity.CRITICAL),),
        findings=(
            _finding(path, offset=31), _finding(path, offset=77),
            _finding(path, rule="PKL101", severity=Severity.HIGH, evidence="import subprocess.Popen", cwe=None),
            _finding(path, rule="XYZ999", severity=Severity.LOW, evidence="a rule mlvet does not know", cwe=None),
        ),
        metadata=AssetMetadata(license="llama2"),
    )


def minimal_model() -> Asset:
    path = "/models/plain.onnx"
    return Asset(id=asset_id(f"path:{path}"), kind="model", name="plain.onnx", path=path, format="onnx",
                 framework=None, files=(_file("/models", "plain.onnx", status=None),))


def run() -> InventoryRun:
    return InventoryRun(started_at=WHEN, finished_at=WHEN, roots=("/cache", "/models"), tool_version="0.1.0", id=7,
                        host="build-1", files_seen=120, files_hashed=6)


def render(assets: list[Asset], inventory_run: InventoryRun | None = None) -> dict[str, Any]:
    text = bom_json(assets, inventory_run, serial_number=SERIAL, timestamp=WHEN)
    assert validate_bom(text) == []
    doc: dict[str, Any] = json.loads(text)
    return doc


def components(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["bom-ref"]: c for c in doc["components"]}


def props(node: dict[str, Any]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in node.get("properties", []):
        out.setdefault(p["name"], []).append(p["value"])
    return out


def all_refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if "bom-ref" in node:
            yield node["bom-ref"]
        for value in node.values():
            yield from all_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from all_refs(value)


# ---------------------------------------------------------------------------------------------- documents


def test_full_inventory_validates_and_round_trips() -> None:
    model, wiki, evil = full_model(), wiki_dataset(), evil_model()
    doc = render([model, wiki, evil, minimal_model()], run())
    assert doc["specVersion"] == "1.6" and doc["bomFormat"] == "CycloneDX"
    assert doc["serialNumber"] == f"urn:uuid:{SERIAL}"
    assert doc["metadata"]["timestamp"].startswith("2026-11-29T06:00:00")
    tools = doc["metadata"]["tools"]["components"]
    assert [(t["name"], t["type"]) for t in tools] == [("mlvet", "application")]
    assert props(doc["metadata"])["mlvet:root"] == ["/cache", "/models"]
    assert props(doc["metadata"])["mlvet:run-id"] == ["7"]

    comps = components(doc)
    bert = comps[f"model:{model.id}"]
    assert bert["type"] == "machine-learning-model"
    assert (bert["group"], bert["name"]) == ("google-bert", "bert-base-uncased")
    assert bert["purl"] == f"pkg:huggingface/google-bert/bert-base-uncased@{REV.lower()}"
    assert PackageURL.from_string(bert["purl"]).version == bert["version"] == REV.lower()
    # multi-file asset: manifest hash on the component, one nested file component per file
    assert bert["hashes"] == [{"alg": "SHA-256", "content": model.content_hash}]
    assert props(bert)["mlvet:hash-method"] == ["mlvet-manifest-sha256"]
    nested = {c["name"]: c for c in bert["components"]}
    assert set(nested) == {f.rel for f in model.files}
    for f in model.files:
        assert nested[f.rel]["type"] == "file"
        assert nested[f.rel]["hashes"] == [{"alg": "SHA-256", "content": f.sha256}]
        assert props(nested[f.rel])["mlvet:size"] == [str(f.size)]
    assert props(nested["tokenizer/vocab.txt"])["mlvet:integrity"] == ["mismatch"]
    assert bert["licenses"] == [{"license": {"id": "Apache-2.0", "acknowledgement": "declared"}}]
    assert sorted(bert["tags"]) == ["bert", "exbert"]
    p = props(bert)
    assert p["mlvet:verdict"] == ["clean"] and p["mlvet:severity"] == ["none"]
    assert p["mlvet:format"] == ["safetensors"] and p["mlvet:framework"] == ["transformers"]
    assert p["mlvet:parameters"] == ["109514298"] and p["mlvet:integrity"] == ["mismatch"]
    assert p["mlvet:remote-code"] == ["true"] and p["mlvet:hf:ref"] == ["main", "v1"]
    assert p["mlvet:extra:dtype"] == ["float32"]

    card = bert["modelCard"]["modelParameters"]
    assert card["modelArchitecture"] == "BertForMaskedLM"
    assert card["architectureFamily"] == "bert"
    assert card["task"] == "fill-mask"
    refs = [d["ref"] for d in card["datasets"]]
    assert len(refs) == 3
    # the dataset present in the inventory is referenced directly, the others get shared data components
    assert refs[1] == f"dataset:{wiki.id}"
    bookcorpus, internal = comps[refs[0]], comps[refs[2]]
    assert bookcorpus["type"] == "data" and bookcorpus["name"] == "bookcorpus"
    assert bookcorpus["purl"] == "pkg:huggingface/bookcorpus?repository_url=https://huggingface.co/datasets"
    assert bookcorpus["data"] == [{"type": "dataset", "name": "bookcorpus",
                                   "contents": {"url": "https://huggingface.co/datasets/bookcorpus"}}]
    assert "purl" not in internal and internal["name"] == "our internal crawl 2024"

    ancestors = bert["pedigree"]["ancestors"]
    assert [a.get("purl") for a in ancestors] == ["pkg:huggingface/google/bert_uncased_L-12_H-768_A-12", None]
    assert all(a["type"] == "machine-learning-model" for a in ancestors)

    wiki_c = comps[f"dataset:{wiki.id}"]
    assert wiki_c["type"] == "data" and "modelCard" not in wiki_c
    assert wiki_c["purl"] == f"pkg:huggingface/wikimedia/wikipedia@{DS_REV}?repository_url=https://huggingface.co/datasets"
    assert wiki_c["licenses"] == [{"license": {"id": "CC-BY-SA-3.0", "acknowledgement": "declared"}}]
    assert wiki_c["data"][0]["type"] == "dataset"

    evil_c = comps[f"model:{evil.id}"]
    assert evil_c["hashes"] == [{"alg": "SHA-256", "content": evil.files[0].sha256}]
    assert "components" not in evil_c  # a single-file asset is not listed twice
    assert evil_c["licenses"] == [{"license": {"name": "llama2", "acknowledgement": "declared"}}]
    assert props(evil_c)["mlvet:verdict"] == ["critical"]

    refs_all = list(all_refs(doc))
    assert len(refs_all) == len(set(refs_all))


def test_minimal_model_and_empty_inventory() -> None:
    asset = minimal_model()
    doc = render([asset])
    (comp,) = doc["components"]
    assert comp["type"] == "machine-learning-model" and comp["name"] == "plain.onnx"
    assert comp["hashes"] == [{"alg": "SHA-256", "content": asset.files[0].sha256}]
    assert "modelCard" not in comp and "purl" not in comp and "licenses" not in comp
    assert props(comp)["mlvet:unscanned-files"] == ["1"]
    assert "vulnerabilities" not in doc

    empty = render([])
    assert empty.get("components", []) == [] and empty["specVersion"] == "1.6"


def test_findings_become_vulnerabilities() -> None:
    evil = evil_model()
    doc = render([evil])
    vulns = {v["id"]: v for v in doc["vulnerabilities"]}
    crit = [f for f in evil.findings if f.rule_id == "PKL100"]
    assert crit[0].fingerprint == crit[1].fingerprint  # same finding at two offsets: one vulnerability
    assert len(vulns) == 3
    v = vulns[f"PKL100-{crit[0].fingerprint}"]
    assert v["source"] == {"name": "mlvet"}
    assert v["ratings"] == [{"source": {"name": "mlvet"}, "severity": "critical", "method": "other"}]
    assert v["cwes"] == [502]
    assert v["affects"] == [{"ref": f"model:{evil.id}"}]
    assert "os.system('id')" in v["detail"]
    assert "/models/evil.pt!archive/data.pkl@31" in v["detail"] and "@77" in v["detail"]
    assert v["recommendation"].startswith("Do not load")
    assert props(v)["mlvet:rule"] == ["PKL100"]
    high = next(x for x in vulns.values() if x["id"].startswith("PKL101-"))
    assert high["ratings"][0]["severity"] == "high" and high["cwes"] == [502]  # CWE from the rule registry
    unknown = next(x for x in vulns.values() if x["id"].startswith("XYZ999-"))
    assert unknown["description"] == "calls os.system" and "cwes" not in unknown


def test_output_is_deterministic_and_order_independent() -> None:
    assets = [full_model(), wiki_dataset(), evil_model(), minimal_model()]
    one = bom_json(assets, run(), serial_number=SERIAL, timestamp=WHEN)
    two = bom_json(list(reversed(assets)), run(), serial_number=SERIAL, timestamp=WHEN)
    assert one == two
    # refs depend on asset ids only, not on the serial number or time
    three = json.loads(bom_json(assets))
    assert sorted(all_refs(three)) == sorted(all_refs(json.loads(one)))


def test_build_bom_returns_the_library_model() -> None:
    from cyclonedx.model.component import ComponentType

    bom = build_bom([full_model(), evil_model()], serial_number=SERIAL, timestamp=WHEN)
    assert bom.serial_number == SERIAL
    types = sorted(c.type.value for c in bom.components)
    assert types == ["data"] * 3 + ["machine-learning-model"] * 2
    assert {str(c.purl) for c in bom.components if c.type is ComponentType.MACHINE_LEARNING_MODEL and c.purl} == {
        f"pkg:huggingface/google-bert/bert-base-uncased@{REV.lower()}"}
    assert len(bom.vulnerabilities) == 3


def test_undecodable_paths_stay_valid_utf8() -> None:
    bad = "/models/caf\udce9.pt"  # a Latin-1 byte in a file name, as os.fsdecode gives it
    asset = Asset(id=asset_id(f"path:{bad}"), kind="model", name="caf\udce9.pt", path=bad, format="pickle",
                  framework=None, files=(AssetFile(path=bad, rel="caf\udce9.pt", size=1, sha256=_sha("x")),))
    text = bom_json([asset])
    text.encode("utf-8")  # would raise on a lone surrogate
    assert validate_bom(text) == []
    assert "caf\\xe9.pt" in json.loads(text)["components"][0]["name"]


@pytest.mark.parametrize(("license_text", "expected"), [
    ("MIT", {"license": {"id": "MIT", "acknowledgement": "declared"}}),
    ("cc-by-nc-4.0", {"license": {"id": "CC-BY-NC-4.0", "acknowledgement": "declared"}}),
    ("Apache-2.0 OR MIT", {"expression": "Apache-2.0 OR MIT", "acknowledgement": "declared"}),
    ("bigscience-openrail-m", {"license": {"name": "bigscience-openrail-m", "acknowledgement": "declared"}}),
])
def test_licenses_are_spdx_when_they_are_spdx(license_text: str, expected: dict[str, Any]) -> None:
    asset = minimal_model()
    asset = Asset(**{**asset.__dict__, "metadata": AssetMetadata(license=license_text)})
    (comp,) = render([asset])["components"]
    assert comp["licenses"] == [expected]


# --------------------------------------------------------------------------------------------------- purls


@pytest.mark.parametrize(("repo_id", "revision", "repo_type", "expected"), [
    # the purl-spec examples
    ("distilbert-base-uncased", "043235d6088ecd3dd5fb5ca3592b6913fd516027", "model",
     "pkg:huggingface/distilbert-base-uncased@043235d6088ecd3dd5fb5ca3592b6913fd516027"),
    ("microsoft/deberta-v3-base", "559062AD13D311B87B2C455E67DCD5F1C8F65111", "model",
     "pkg:huggingface/microsoft/deberta-v3-base@559062ad13d311b87b2c455e67dcd5f1c8f65111"),
    # namespace and name are case sensitive; a branch name is not a version
    ("TheBloke/Llama-2-7B-GGUF", "main", "model", "pkg:huggingface/TheBloke/Llama-2-7B-GGUF"),
    ("HuggingFaceFW/fineweb", None, "dataset",
     "pkg:huggingface/HuggingFaceFW/fineweb?repository_url=https://huggingface.co/datasets"),
    ("./local/path", None, "model", None),
    ("https://example.com/m", None, "model", None),
    ("a/b/c", None, "model", None),
    ("org/space", None, "space", None),
])
def test_hf_purl(repo_id: str, revision: str | None, repo_type: str, expected: str | None) -> None:
    purl = cdx.hf_purl(repo_id, revision, repo_type)
    assert (purl.to_string() if purl else None) == expected
    if purl is not None:
        assert PackageURL.from_string(purl.to_string()) == purl


# ----------------------------------------------------------------------------------------------- validation


@pytest.fixture(scope="module")
def valid_doc() -> dict[str, Any]:
    text = bom_json([full_model(), wiki_dataset(), evil_model()], run(), serial_number=SERIAL, timestamp=WHEN)
    doc: dict[str, Any] = json.loads(text)
    return doc


def _mutated(doc: dict[str, Any], change: Any) -> str:
    bad = copy.deepcopy(doc)
    change(bad)
    return json.dumps(bad)


def _comp(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in doc["components"] if c["type"] == kind)


MUTATIONS: dict[str, Any] = {
    "missing bomFormat": lambda d: d.pop("bomFormat"),
    "unknown component type": lambda d: _comp(d, "machine-learning-model").update(type="neural-network"),
    "hash of the wrong length": lambda d: _comp(d, "machine-learning-model")["hashes"][0].update(content="ab" * 31),
    "unknown hash algorithm": lambda d: _comp(d, "data")["components"][0]["hashes"][0].update(alg="SHA-257"),
    "unknown severity": lambda d: d["vulnerabilities"][0]["ratings"][0].update(severity="catastrophic"),
    "model card key outside the schema": lambda d: _comp(d, "machine-learning-model")["modelCard"].update(arch="x"),
    "data entry without type": lambda d: _comp(d, "data")["data"][0].pop("type"),
    "component without name": lambda d: _comp(d, "data").pop("name"),
    "bad serial number": lambda d: d.update(serialNumber="not-a-uuid"),
    "dangling dataset ref": lambda d: _comp(d, "machine-learning-model")["modelCard"]["modelParameters"]["datasets"]
    .append({"ref": "dataset:nowhere"}),
    "dangling affects ref": lambda d: d["vulnerabilities"][0]["affects"].append({"ref": "model:nowhere"}),
    "duplicate bom-ref": lambda d: d["components"][1].update({"bom-ref": d["components"][0]["bom-ref"]}),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_malformed_boms_fail_validation(valid_doc: dict[str, Any], name: str) -> None:
    assert validate_bom(json.dumps(valid_doc)) == []
    errors = validate_bom(_mutated(valid_doc, MUTATIONS[name]))
    assert errors, f"{name}: accepted by the validator"


def test_validation_error_messages_point_at_the_problem(valid_doc: dict[str, Any]) -> None:
    errors = validate_bom(_mutated(valid_doc, MUTATIONS["unknown component type"]))
    assert any("components" in e and "neural-network" in e for e in errors), errors
    assert validate_bom("{not json") and validate_bom("[]")
    assert validate_bom(json.dumps({**valid_doc, "specVersion": "1.5"}))


def test_the_schema_is_the_official_one_shipped_offline() -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.schema._res import BOM_JSON_STRICT

    schema = json.loads(Path(BOM_JSON_STRICT[SchemaVersion.V1_6] or "").read_text(encoding="utf-8"))
    assert schema["$id"] == "http://cyclonedx.org/schema/bom-1.6.schema.json"
    assert "modelCard" in schema["definitions"] and "componentData" in schema["definitions"]


def test_an_invalid_document_is_never_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    """bom_json validates before returning: a builder bug surfaces as BomValidationError, not as a file."""
    monkeypatch.setattr(cdx._Builder, "_model_card", lambda self, asset: {"architecture": "not a 1.6 field"})
    with pytest.raises(BomValidationError) as info:
        bom_json([full_model()])
    assert "modelCard" in info.value.diagnostics()


@pytest.mark.parametrize("name", [None, "unknown component type", "hash of the wrong length", "bad serial number",
                                  "missing bomFormat"])
def test_schema_verdicts_match_the_library_validator(valid_doc: dict[str, Any], name: str | None) -> None:
    """validate_bom's fast IRI check changes nothing: the library's own JsonStrictValidator agrees."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = json.dumps(valid_doc) if name is None else _mutated(valid_doc, MUTATIONS[name])
    library = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    library_messages = sorted(e.data.message for e in library or ())
    ours = sorted(e.split(": ", 1)[1] for e in validate_bom(text))
    assert ours == library_messages


@pytest.mark.parametrize("url", ["https://huggingface.co/datasets/org/name", "https://例え.jp/データ",
                                 "http://exa mple.com/", "https://huggingface.co/datasets/org/na<me"])
def test_iri_reference_check_agrees_with_the_library(valid_doc: dict[str, Any], url: str) -> None:
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    text = _mutated(valid_doc, lambda d: _comp(d, "data")["externalReferences"][0].update(url=url))
    library = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text)
    assert (library is None) == (validate_bom(text) == [])


def test_large_inventory_is_fast() -> None:
    """Hundreds of hub models with URLs: validation must not cost 0.1-1.5 s per URL (450 URLs here)."""
    import time

    assets = []
    for i in range(150):
        repo = f"org{i}/model-{i}"
        assets.append(Asset(
            id=asset_id(f"hf:model:{repo}"), kind="model", name=repo, path=f"/c/{i}", format="safetensors",
            framework="transformers", files=(_file(f"/c/{i}", "model.safetensors"), _file(f"/c/{i}", "config.json")),
            hub=HubRef("model", repo, f"{i:040x}"),
            metadata=AssetMetadata(datasets=(f"data-org/set-{i % 50}",), base_models=(f"base/model-{i % 7}",)),
        ))
    started = time.monotonic()
    doc = json.loads(bom_json(assets))
    assert len(doc["components"]) == 200
    assert time.monotonic() - started < 30


# ------------------------------------------------------------------------------------- end to end (CLI)


def _bom_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from mlvet.cli import main

    code = main(["bom", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def model_folder(tmp_path: Path) -> Path:
    """A real safetensors model (saved by safetensors itself) next to a torch checkpoint with a payload."""
    import build_malicious
    import safetensors.torch
    import torch  # noqa: TID251 - makes the fixture only

    root = tmp_path / "models"
    (root / "good").mkdir(parents=True)
    safetensors.torch.save_file({"weight": torch.ones(8, 4), "bias": torch.zeros(8)},
                                str(root / "good" / "model.safetensors"))
    (root / "evil.pt").write_bytes(build_malicious.torch_zip(build_malicious.sh_pickle()))
    return root


def test_cli_bom_of_a_folder_reports_the_payload_as_a_vulnerability(
        model_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_file = tmp_path / "bom.json"
    code, _out, err = _bom_cli([str(model_folder), "-o", str(out_file)], capsys)
    assert code == 0, err
    text = out_file.read_text(encoding="utf-8")
    assert validate_bom(text) == []
    doc = json.loads(text)
    by_name = {c["name"]: c for c in doc["components"]}
    assert set(by_name) == {"model.safetensors", "evil.pt"}
    good, evil = by_name["model.safetensors"], by_name["evil.pt"]
    assert good["type"] == evil["type"] == "machine-learning-model"
    import hashlib

    for comp, path in ((good, model_folder / "good" / "model.safetensors"), (evil, model_folder / "evil.pt")):
        assert comp["hashes"] == [{"alg": "SHA-256", "content": hashlib.sha256(path.read_bytes()).hexdigest()}]
    assert props(good)["mlvet:verdict"] == ["clean"] and props(good)["mlvet:parameters"] == ["40"]
    assert props(evil)["mlvet:verdict"] == ["critical"]
    vulns = doc["vulnerabilities"]
    assert vulns and all(v["affects"] == [{"ref": evil["bom-ref"]}] for v in vulns)
    pkl100 = [v for v in vulns if v["id"].startswith("PKL100-")]
    assert pkl100 and pkl100[0]["ratings"][0]["severity"] == "critical" and pkl100[0]["cwes"] == [502]
    assert "os.system" in pkl100[0]["detail"]

    # stdout without -o: the same document apart from serial number and timestamp
    code, out, _err = _bom_cli([str(model_folder)], capsys)
    assert code == 0 and validate_bom(out) == []
    again = json.loads(out)
    assert sorted(all_refs(again)) == sorted(all_refs(doc))


def test_cli_bom_of_a_realistic_tree_with_an_hf_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inventory"))
    from _inventory_tree import EXPECTED, REV1, build_tree

    root = build_tree(tmp_path / "tree")
    code, out, err = _bom_cli([str(root)], capsys)
    assert code == 0, err
    assert validate_bom(out) == []
    doc = json.loads(out)
    comps = components(doc)
    top = [c for c in doc["components"] if "mlvet:asset-id" in props(c)]  # inventory assets, not card stubs
    assert len(top) == len(EXPECTED)
    gpt2 = next(c for c in top if c.get("purl", "").startswith("pkg:huggingface/acme/tiny-gpt2"))
    assert gpt2["purl"] == f"pkg:huggingface/acme/tiny-gpt2@{REV1}"
    assert gpt2["licenses"][0]["license"]["id"] == "Apache-2.0"
    assert gpt2["pedigree"]["ancestors"][0]["purl"] == "pkg:huggingface/openai-community/gpt2"
    assert gpt2["modelCard"]["modelParameters"]["task"] == "text-generation"
    (dataset_ref,) = gpt2["modelCard"]["modelParameters"]["datasets"]
    reviews = comps[dataset_ref["ref"]]  # the card's dataset is the cached dataset asset itself
    assert reviews["type"] == "data"
    assert reviews["purl"] == f"pkg:huggingface/acme/reviews@{REV1}?repository_url=https://huggingface.co/datasets"
    assert props(reviews)["mlvet:hf:repo-type"] == ["dataset"]
    files = {c["name"] for c in gpt2["components"]}
    assert "model.safetensors" in files and "config.json" in files
    assert all(c["type"] == "file" and c["hashes"][0]["alg"] == "SHA-256" for c in gpt2["components"])
    evil = next(c for c in top if c["name"] == "model.pkl")
    assert any(v["affects"] == [{"ref": evil["bom-ref"]}] for v in doc["vulnerabilities"])
    kinds = sorted(c["type"] for c in top)
    assert kinds.count("data") == sum(1 for e in EXPECTED if e[0] == "dataset")


def test_cli_bom_from_the_database(model_folder: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlvet.inventory import run_inventory
    from mlvet.store import Store

    url = f"sqlite:///{tmp_path / 'inventory.db'}"
    code, _out, err = _bom_cli(["--from-db", "--db", url], capsys)
    assert code == 4 and "no inventory database" in err and "mlvet inventory" in err  # nothing created either
    assert not (tmp_path / "inventory.db").exists()
    with Store(url) as store:
        recorded, assets, _changes, _previous = run_inventory([str(model_folder)], store)
    code, out, err = _bom_cli(["--from-db", "--db", url], capsys)
    assert code == 0, err
    assert validate_bom(out) == []
    doc = json.loads(out)
    assert {c["bom-ref"] for c in doc["components"]} == {f"{a.kind}:{a.id}" for a in assets}
    assert props(doc["metadata"])["mlvet:run-id"] == [str(recorded.id)]
    assert any(v["id"].startswith("PKL100-") for v in doc["vulnerabilities"])


@pytest.mark.parametrize(("args", "fragment"), [
    ([], "give at least one PATH"),
    (["--from-db", "somewhere"], "not both"),
    (["/no/such/folder"], "no such file"),
    (["--spec-version", "1.5", "."], "1.5"),
])
def test_cli_usage_errors(args: list[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _bom_cli(args, capsys)
    assert code == 4 and out == "" and fragment in err


def test_cli_output_file_errors_and_permissions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import os
    import stat

    empty = tmp_path / "empty"
    empty.mkdir()
    code, _out, err = _bom_cli([str(empty), "-o", str(tmp_path / "missing" / "bom.json")], capsys)
    assert code == 4 and "cannot write" in err
    target = tmp_path / "bom.json"
    code, _out, err = _bom_cli([str(empty), "-o", str(target)], capsys)
    assert code == 0, err
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    assert validate_bom(target.read_text(encoding="utf-8")) == []
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".mlvet-bom-")] == []
