"""SPDX 3.0.1 ML-BOMs: every document passes the SPDX model's own checks offline, and fields round-trip.

Documents are read back with the bindings' ``JSONLDDeserializer`` (the reader SPDX tooling uses), so the
assertions look at what a consumer gets, not at mlvet's JSON text. The network is blocked for the whole
module, as in the CycloneDX tests.
"""

from __future__ import annotations

import copy
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from _bom_support import NetworkBlocked
from packageurl import PackageURL

from mlvet._version import __version__
from mlvet.inventory.model import Asset, AssetFile, AssetMetadata, asset_id

spdx_bom = pytest.importorskip("mlvet.bom.spdx")
from spdx_python_model.bindings.v3_0_1 import model as spdx  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_cyclonedx import (  # noqa: E402
    DS_REV,
    REV,
    WHEN,
    _sha,
    evil_model,
    full_model,
    minimal_model,
    run,
    wiki_dataset,
)

NS = spdx_bom.DEFAULT_NAMESPACE


def test_the_network_block_is_live() -> None:
    import urllib.request

    with pytest.raises(NetworkBlocked):
        urllib.request.urlopen(spdx_bom.CONTEXT, timeout=1)


# ---------------------------------------------------------------------------------------------- helpers


class Doc:
    """A written document read back through the bindings, with lookups by id, type and relationship."""

    def __init__(self, text: str) -> None:
        assert spdx_bom.validate_spdx(text) == []
        self.text = text
        self.json: dict[str, Any] = json.loads(text)
        self.objects = spdx.SHACLObjectSet()
        spdx.JSONLDDeserializer().deserialize_data(self.json, self.objects)
        assert self.objects.missing_ids == set()

    def __getitem__(self, spdx_id: str) -> Any:
        obj = self.objects.find_by_id(spdx_id)
        assert obj is not None, spdx_id
        return obj

    def of_type(self, cls: type[Any]) -> list[Any]:
        return sorted(self.objects.foreach_type(cls, match_subclass=False), key=lambda o: o._id or "")

    def related(self, source: Any, kind: str) -> list[Any]:
        """The ``to`` elements of every ``kind`` relationship from ``source``."""
        iri = spdx.RelationshipType.NAMED_INDIVIDUALS[kind]
        return [t for r in self.objects.foreach_type(spdx.Relationship)
                if r.from_ is source and r.relationshipType == iri for t in r.to]

    def sources(self, target: Any, kind: str) -> list[Any]:
        iri = spdx.RelationshipType.NAMED_INDIVIDUALS[kind]
        return [r.from_ for r in self.objects.foreach_type(spdx.Relationship)
                if r.relationshipType == iri and target in r.to]


def short(iri: str) -> str:
    return iri.rsplit("/", 1)[-1]


def props(element: Any) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for ext in element.extension:
        for entry in ext.extension_cdxProperty:
            out.setdefault(entry.extension_cdxPropName, []).append(entry.extension_cdxPropValue)
    return out


def hashes(element: Any) -> list[tuple[str, str]]:
    return [(short(h.algorithm), h.hashValue) for h in element.verifiedUsing]


def render(assets: list[Asset], **kwargs: Any) -> Doc:
    return Doc(spdx_bom.spdx_json(assets, kwargs.pop("inventory_run", None), created=WHEN, **kwargs))


# ---------------------------------------------------------------------------------------------- documents


def test_full_inventory_validates_and_round_trips() -> None:
    model, wiki, evil, plain = full_model(), wiki_dataset(), evil_model(), minimal_model()
    doc = render([model, wiki, evil, plain], inventory_run=run())
    assert doc.json["@context"] == "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"

    (document,) = doc.of_type(spdx.SpdxDocument)
    assert {short(p) for p in document.profileConformance} >= {"core", "software", "ai", "dataset", "security"}
    assert document.dataLicense.simplelicensing_licenseExpression == "CC0-1.0"
    info = document.creationInfo
    assert info.specVersion == "3.0.1" and info.created == WHEN
    assert [t.name for t in info.createdUsing] == [f"mlvet-{__version__}"]
    assert [a.name for a in info.createdBy] == ["mlvet"]
    assert props(document)["mlvet:root"] == ["/cache", "/models"] and props(document)["mlvet:run-id"] == ["7"]
    (sbom,) = doc.of_type(spdx.software_Sbom)
    assert document.rootElement == [sbom] and [short(t) for t in sbom.software_sbomType] == ["analyzed"]
    assert {e._id for e in sbom.rootElement} == {f"{NS}{a.kind}:{a.id}" for a in (model, wiki, evil, plain)}
    assert set(sbom.element) <= set(document.element)

    bert = doc[f"{NS}model:{model.id}"]
    assert isinstance(bert, spdx.ai_AIPackage)
    assert bert.name == "google-bert/bert-base-uncased"
    assert bert.software_packageUrl == f"pkg:huggingface/google-bert/bert-base-uncased@{REV.lower()}"
    assert PackageURL.from_string(bert.software_packageUrl).version == bert.software_packageVersion == REV.lower()
    assert bert.software_homePage == "https://huggingface.co/google-bert/bert-base-uncased"
    assert bert.suppliedBy.name == "google-bert"
    assert short(bert.software_primaryPurpose) == "model"
    assert list(bert.ai_typeOfModel) == ["BertForMaskedLM", "bert"] and list(bert.ai_domain) == ["fill-mask"]
    assert hashes(bert) == [("sha256", model.content_hash)]
    p = props(bert)
    assert p["mlvet:parameters"] == ["109514298"] and p["mlvet:verdict"] == ["clean"]
    assert p["mlvet:hash-method"] == ["mlvet-manifest-sha256"] and p["mlvet:integrity"] == ["mismatch"]
    assert sorted(p["mlvet:tag"]) == ["bert", "exbert"]
    assert bert.ai_hyperparameter == [] and bert.ai_metric == []  # a parameter count is neither

    # files: one software_File per file, each with its own hash, and a complete `contains`
    files = {f.name: f for f in doc.related(bert, "contains")}
    assert set(files) == {f.rel for f in model.files}
    for f in model.files:
        assert hashes(files[f.rel]) == [("sha256", f.sha256)]
        assert props(files[f.rel])["mlvet:size"] == [str(f.size)]
    assert props(files["tokenizer/vocab.txt"])["mlvet:integrity"] == ["mismatch"]
    (contains,) = [r for r in doc.of_type(spdx.Relationship) if r.from_ is bert and short(r.relationshipType)
                   == "contains"]
    assert short(contains.completeness) == "complete"

    # license, lineage, training data
    (lic,) = doc.related(bert, "hasDeclaredLicense")
    assert lic.simplelicensing_licenseExpression == "Apache-2.0"
    bases = doc.sources(bert, "ancestorOf")
    assert sorted(b.name for b in bases) == ["./local-checkpoint", "google/bert_uncased_L-12_H-768_A-12"]
    assert all(isinstance(b, spdx.ai_AIPackage) for b in bases)
    assert {b.software_packageUrl for b in bases} == {None, "pkg:huggingface/google/bert_uncased_L-12_H-768_A-12"}
    trained = doc.related(bert, "trainedOn")
    assert [d.name for d in trained] == ["bookcorpus", "wikimedia/wikipedia", "our internal crawl 2024"]
    assert all(isinstance(d, spdx.dataset_DatasetPackage) for d in trained)
    assert trained[1] is doc[f"{NS}dataset:{wiki.id}"]  # the dataset in the inventory, not a stub
    assert trained[0].software_packageUrl == "pkg:huggingface/bookcorpus?repository_url=https://huggingface.co/datasets"
    assert [short(t) for t in trained[0].dataset_datasetType] == ["noAssertion"]
    assert trained[2].software_packageUrl is None

    wiki_p = trained[1]
    assert wiki_p.software_packageUrl == (f"pkg:huggingface/wikimedia/wikipedia@{DS_REV}"
                                          "?repository_url=https://huggingface.co/datasets")
    assert wiki_p.dataset_datasetSize == wiki.size
    assert sorted(short(t) for t in wiki_p.dataset_datasetType) == ["structured", "text"]
    assert wiki_p.dataset_intendedUse == "text-generation"
    assert [x.simplelicensing_licenseExpression for x in doc.related(wiki_p, "hasDeclaredLicense")] == ["CC-BY-SA-3.0"]
    assert len(doc.related(wiki_p, "contains")) == 2

    evil_p = doc[f"{NS}model:{evil.id}"]
    assert hashes(evil_p) == [("sha256", evil.files[0].sha256)]
    assert doc.related(evil_p, "contains") == []  # a single-file asset is not listed twice
    (evil_lic,) = doc.related(evil_p, "hasDeclaredLicense")
    assert evil_lic.simplelicensing_licenseExpression == "LicenseRef-llama2"

    ids = [o.get("spdxId") for o in doc.json["@graph"] if "spdxId" in o]
    assert len(ids) == len(set(ids)) and all(i.startswith(NS) for i in ids)


def test_findings_become_vulnerabilities_with_vex_affects() -> None:
    evil = evil_model()
    doc = render([evil])
    package = doc[f"{NS}model:{evil.id}"]
    vulns = {v.name: v for v in doc.of_type(spdx.security_Vulnerability)}
    crit = [f for f in evil.findings if f.rule_id == "PKL100"]
    assert len(vulns) == 3  # the same finding at two offsets is one vulnerability
    v = vulns[f"PKL100-{crit[0].fingerprint}"]
    (ident,) = v.externalIdentifier
    assert short(ident.externalIdentifierType) == "securityOther" and ident.identifier == v.name
    (cwe,) = v.externalRef
    assert short(cwe.externalRefType) == "cwe" and list(cwe.locator) == ["https://cwe.mitre.org/data/definitions/502.html"]
    assert "os.system('id')" in v.description and "@31" in v.description and "@77" in v.description
    assert props(v)["mlvet:severity"] == ["critical"] and props(v)["mlvet:rule"] == ["PKL100"]

    vex = {r.from_.name: r for r in doc.of_type(spdx.security_VexAffectedVulnAssessmentRelationship)}
    assert set(vex) == set(vulns)
    affects = vex[v.name]
    assert short(affects.relationshipType) == "affects" and list(affects.to) == [package]
    assert affects.security_actionStatement.startswith("Do not load")
    assert "severity critical" in affects.security_statusNotes
    assert affects.suppliedBy.name == "mlvet"
    unknown = next(r for name, r in vex.items() if name.startswith("XYZ999-"))
    assert unknown.security_actionStatement  # required by the model even when mlvet has no rule text
    assert vulns[unknown.from_.name].externalRef == []  # no CWE known


def test_a_finding_in_one_file_of_a_snapshot_names_that_file() -> None:
    model = full_model()
    weights = model.files[0]
    finding = evil_model().findings[0]
    finding = type(finding)(**{**finding.__dict__, "location": type(finding.location)(weights.path)})
    doc = render([Asset(**{**model.__dict__, "findings": (finding,)})])
    (vex,) = doc.of_type(spdx.security_VexAffectedVulnAssessmentRelationship)
    assert vex.security_assessedElement.name == weights.rel
    assert list(vex.to) == [doc[f"{NS}model:{model.id}"]]


def test_minimal_model_and_empty_inventory() -> None:
    asset = minimal_model()
    doc = render([asset])
    (package,) = doc.of_type(spdx.ai_AIPackage)
    assert package.name == "plain.onnx" and hashes(package) == [("sha256", asset.files[0].sha256)]
    assert package.software_packageUrl is None and package.suppliedBy is None
    assert list(package.ai_typeOfModel) == [] and list(package.ai_domain) == []
    assert doc.of_type(spdx.Relationship) == [] and doc.of_type(spdx.security_Vulnerability) == []
    assert props(package)["mlvet:unscanned-files"] == ["1"]

    empty = render([])
    (sbom,) = empty.of_type(spdx.software_Sbom)
    assert list(sbom.rootElement) == []


def test_the_library_reads_back_exactly_what_mlvet_wrote() -> None:
    doc = render([full_model(), wiki_dataset(), evil_model(), minimal_model()], inventory_run=run())
    again = spdx.JSONLDSerializer().serialize_data(doc.objects, force_at_graph=True)
    assert again == doc.json


def test_output_is_deterministic_and_ids_do_not_depend_on_time() -> None:
    assets = [full_model(), wiki_dataset(), evil_model(), minimal_model()]
    one = spdx_bom.spdx_json(assets, run(), created=WHEN)
    two = spdx_bom.spdx_json(list(reversed(assets)), run(), created=WHEN)
    assert one == two
    later = spdx_bom.spdx_json(assets, run(), created=datetime(2027, 1, 1, tzinfo=timezone.utc))
    changed = [(a, b) for a, b in zip(one.splitlines(), later.splitlines(), strict=True) if a != b]
    assert [a.strip() for a, _b in changed] == ['"created": "2026-11-29T06:00:00Z",']


def test_namespace() -> None:
    doc = render([minimal_model()], namespace="https://example.com/boms/")
    assert all(o["spdxId"].startswith("https://example.com/boms/") for o in doc.json["@graph"] if "spdxId" in o)
    for bad in ("", "no-scheme", "_:blank", "https://exa mple.com/", "1http://x/"):
        with pytest.raises(ValueError, match="namespace"):
            spdx_bom.build_spdx([], namespace=bad)


@pytest.mark.parametrize(("declared", "expected"), [
    ("apache-2.0", "Apache-2.0"),
    ("cc-by-nc-4.0", "CC-BY-NC-4.0"),
    ("Apache-2.0 OR MIT", "Apache-2.0 OR MIT"),
    ("bigscience-openrail-m", "LicenseRef-bigscience-openrail-m"),
    ("Llama 2 Community License", "LicenseRef-Llama-2-Community-License"),
    ("  ", None),
])
def test_license_expressions(declared: str, expected: str | None) -> None:
    assert spdx_bom.license_expression(declared) == expected
    if expected is not None:
        asset = Asset(**{**minimal_model().__dict__, "metadata": AssetMetadata(license=declared)})
        doc = render([asset])
        (lic,) = doc.related(doc.of_type(spdx.ai_AIPackage)[0], "hasDeclaredLicense")
        assert lic.simplelicensing_licenseExpression == expected


def test_undecodable_paths_stay_valid_utf8() -> None:
    root = "/models/caf\udce9"
    files = tuple(AssetFile(path=f"{root}/{n}", rel=n, size=1, sha256=_sha(str(i)))
                  for i, n in enumerate(("w\udcff.bin", "c.json")))
    asset = Asset(id=asset_id(f"path:{root}"), kind="model", name="caf\udce9", path=root, format="pytorch-zip",
                  framework=None, files=files)
    text = spdx_bom.spdx_json([asset])
    text.encode("utf-8")
    doc = Doc(text)
    names = {f.name for f in doc.of_type(spdx.software_File)}
    assert names == {"w\\xff.bin", "c.json"}


# ----------------------------------------------------------------------------------------------- validation


@pytest.fixture(scope="module")
def valid_doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(spdx_bom.spdx_json([full_model(), wiki_dataset(), evil_model()], run(),
                                                        created=WHEN))
    return doc


def _item(doc: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(o for o in doc["@graph"] if o["type"] == kind)


def _model(doc: dict[str, Any]) -> dict[str, Any]:
    return next(o for o in doc["@graph"] if o["type"] == "ai_AIPackage" and "verifiedUsing" in o)


def _dataset(doc: dict[str, Any]) -> dict[str, Any]:
    return next(o for o in doc["@graph"] if o["type"] == "dataset_DatasetPackage" and "verifiedUsing" in o)


def _drop_profile(doc: dict[str, Any], profile: str) -> None:
    for kind in ("SpdxDocument", "software_Sbom"):
        _item(doc, kind)["profileConformance"].remove(profile)


MUTATIONS: dict[str, Any] = {
    "required creationInfo removed": lambda d: _model(d).pop("creationInfo"),
    "required datasetType removed": lambda d: _dataset(d).pop("dataset_datasetType"),
    "required relationship 'to' removed": lambda d: _item(d, "Relationship").pop("to"),
    "required VEX action statement removed":
        lambda d: _item(d, "security_VexAffectedVulnAssessmentRelationship").pop("security_actionStatement"),
    "required specVersion removed": lambda d: _item(d, "CreationInfo").pop("specVersion"),
    "spdxId removed": lambda d: _model(d).pop("spdxId"),
    "dataset size of the wrong type": lambda d: _dataset(d).update(dataset_datasetSize="20 bytes"),
    "negative dataset size": lambda d: _dataset(d).update(dataset_datasetSize=-1),
    "name of the wrong type": lambda d: _model(d).update(name=42),
    "hash of the wrong length": lambda d: _model(d)["verifiedUsing"][0].update(hashValue="ab" * 31),
    "hash that is not hex": lambda d: _model(d)["verifiedUsing"][0].update(hashValue="z" * 64),
    "unknown hash algorithm": lambda d: _model(d)["verifiedUsing"][0].update(algorithm="sha257"),
    "unknown relationship type": lambda d: _item(d, "Relationship").update(relationshipType="finetunedOn"),
    "unknown dataset type": lambda d: _dataset(d).update(dataset_datasetType=["tabular"]),
    "unknown property": lambda d: _model(d).update(ai_architecture="BertForMaskedLM"),
    "abstract class": lambda d: _model(d).update(type="software_SoftwareArtifact"),
    "unknown class": lambda d: _model(d).update(type="ai_Model"),
    "date without a time zone": lambda d: _item(d, "CreationInfo").update(created="2026-11-29T06:00:00"),
    "dangling reference": lambda d: _item(d, "Relationship")["to"].append(NS + "model:nowhere"),
    "reference to the wrong class": lambda d: _model(d).update(creationInfo=_model(d)["spdxId"]),
    "duplicate spdxId": lambda d: _dataset(d).update(spdxId=_model(d)["spdxId"]),
    "VEX with another relationship type":
        lambda d: _item(d, "security_VexAffectedVulnAssessmentRelationship").update(relationshipType="contains"),
    "VEX from a package":
        lambda d: _item(d, "security_VexAffectedVulnAssessmentRelationship").update(**{"from": _model(d)["spdxId"]}),
    "another spec version": lambda d: _item(d, "CreationInfo").update(specVersion="3.0.0"),
    "invalid purl": lambda d: _model(d).update(software_packageUrl="huggingface/org/name"),
    "undeclared profile": lambda d: _drop_profile(d, "ai"),
    "two documents": lambda d: d["@graph"].append({**_item(d, "SpdxDocument"), "spdxId": NS + "document:2"}),
    "another context": lambda d: d.update({"@context": "https://spdx.org/rdf/3.0.0/spdx-context.jsonld"}),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_malformed_documents_fail_validation(valid_doc: dict[str, Any], name: str) -> None:
    assert spdx_bom.validate_spdx(json.dumps(valid_doc)) == []
    bad = copy.deepcopy(valid_doc)
    MUTATIONS[name](bad)
    assert bad != valid_doc
    errors = spdx_bom.validate_spdx(json.dumps(bad))
    assert errors, f"{name}: accepted by the validator"


def test_validation_errors_point_at_the_problem(valid_doc: dict[str, Any]) -> None:
    def errors_for(name: str) -> str:
        bad = copy.deepcopy(valid_doc)
        MUTATIONS[name](bad)
        return "\n".join(spdx_bom.validate_spdx(json.dumps(bad)))

    model_id = _model(valid_doc)["spdxId"]
    assert "sha256" in errors_for("hash of the wrong length") and "62" not in errors_for("hash of the wrong length")
    assert "ai_architecture" in errors_for("unknown property") and model_id in errors_for("unknown property")
    assert "creationInfo" in errors_for("required creationInfo removed")
    assert "dataset_datasetType" in errors_for("required datasetType removed")
    assert "model:nowhere" in errors_for("dangling reference")
    assert "'ai'" in errors_for("undeclared profile")
    assert "ai_Model" in errors_for("unknown class") and "not a class" in errors_for("unknown class")
    assert "'tabular' is not a valid value" in errors_for("unknown dataset type")
    assert spdx_bom.validate_spdx("{not json") and spdx_bom.validate_spdx("[]")
    assert spdx_bom.validate_spdx(json.dumps({**valid_doc, "@graph": {}}))


def test_an_invalid_document_is_never_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    """spdx_json validates before returning: a builder bug surfaces as SpdxValidationError, not as a file."""
    monkeypatch.setattr(spdx_bom, "_HASH_HEX_LENGTH", {**spdx_bom._HASH_HEX_LENGTH, "sha256": 40})
    with pytest.raises(spdx_bom.SpdxValidationError) as info:
        spdx_bom.spdx_json([minimal_model()])
    assert "sha256" in info.value.diagnostics()
    monkeypatch.setattr(spdx_bom, "_dataset_types", lambda asset: [])  # datasetType is required
    with pytest.raises(spdx_bom.SpdxValidationError):
        spdx_bom.spdx_json([wiki_dataset()])


def test_large_inventory_is_fast() -> None:
    """A few hundred hub models with files, lineage and datasets: seconds, not minutes (2 cores)."""
    import time

    from mlvet.inventory.model import HubRef

    assets = []
    for i in range(150):
        repo = f"org{i}/model-{i}"
        assets.append(Asset(
            id=asset_id(f"hf:model:{repo}"), kind="model", name=repo, path=f"/c/{i}", format="safetensors",
            framework="transformers", hub=HubRef("model", repo, f"{i:040x}"),
            files=tuple(AssetFile(path=f"/c/{i}/f{j}", rel=f"f{j}", size=j, sha256=_sha(f"{i}/{j}")) for j in range(4)),
            metadata=AssetMetadata(datasets=(f"data-org/set-{i % 50}",), base_models=(f"base/model-{i % 7}",),
                                   license="mit"),
        ))
    started = time.monotonic()
    doc = Doc(spdx_bom.spdx_json(assets))
    assert len(doc.of_type(spdx.ai_AIPackage)) == 150 + 7 and len(doc.of_type(spdx.software_File)) == 600
    assert len(doc.of_type(spdx.dataset_DatasetPackage)) == 50
    assert time.monotonic() - started < 30


# ------------------------------------------------------------------------------------- end to end (CLI)


def _bom_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from mlvet.cli import main

    code = main(["bom", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_spdx_of_a_realistic_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "inventory"))
    from _inventory_tree import EXPECTED, REV1, build_tree

    root = build_tree(tmp_path / "tree")
    out_file = tmp_path / "bom.spdx.json"
    code, _out, err = _bom_cli([str(root), "--format", "spdx", "-o", str(out_file)], capsys)
    assert code == 0, err
    assert "SPDX 3.0.1 document" in err and f"{len(EXPECTED)} assets" in err
    doc = Doc(out_file.read_text(encoding="utf-8"))
    (sbom,) = doc.of_type(spdx.software_Sbom)
    assets = list(sbom.rootElement)
    assert len(assets) == len(EXPECTED) == 17
    found = {(("model" if isinstance(a, spdx.ai_AIPackage) else "dataset"), a.name,
              props(a)["mlvet:format"][0]) for a in assets}
    assert found == {(kind, name, fmt) for kind, name, fmt, _fw, _path in EXPECTED}
    for a in assets:
        assert isinstance(a, spdx.ai_AIPackage | spdx.dataset_DatasetPackage)
        assert short(a.software_primaryPurpose) == ("model" if isinstance(a, spdx.ai_AIPackage) else "data")
        assert hashes(a) and props(a)["mlvet:asset-id"]

    gpt2 = next(a for a in assets if (a.software_packageUrl or "").startswith("pkg:huggingface/acme/tiny-gpt2"))
    assert gpt2.software_packageUrl == f"pkg:huggingface/acme/tiny-gpt2@{REV1}"
    assert list(gpt2.ai_domain) == ["text-generation"]
    assert [x.simplelicensing_licenseExpression for x in doc.related(gpt2, "hasDeclaredLicense")] == ["Apache-2.0"]
    (base,) = doc.sources(gpt2, "ancestorOf")
    assert base.software_packageUrl == "pkg:huggingface/openai-community/gpt2"
    (reviews,) = doc.related(gpt2, "trainedOn")
    assert reviews in assets and isinstance(reviews, spdx.dataset_DatasetPackage)  # the cached dataset itself
    assert reviews.software_packageUrl == f"pkg:huggingface/acme/reviews@{REV1}?repository_url=https://huggingface.co/datasets"
    files = {f.name for f in doc.related(gpt2, "contains")}
    assert {"model.safetensors", "config.json"} <= files
    evil = next(a for a in assets if a.name == "model.pkl")
    affecting = [r for r in doc.of_type(spdx.security_VexAffectedVulnAssessmentRelationship) if evil in r.to]
    assert affecting and any(props(r.from_)["mlvet:rule"][0].startswith("PKL") for r in affecting)

    # stdout: the same document apart from the run's times (the creation time is the run's end)
    code, out, _err = _bom_cli([str(root), "--format", "spdx"], capsys)
    assert code == 0
    assert _without_times(json.loads(out)) == _without_times(doc.json)
    assert out != doc.text


def _without_times(node: Any) -> Any:
    if isinstance(node, dict):
        if node.get("extension_cdxPropName") in ("mlvet:run-started", "mlvet:run-finished"):
            return None
        return {k: _without_times(v) for k, v in node.items() if k != "created"}
    if isinstance(node, list):
        return [_without_times(v) for v in node]
    return node


def test_cli_spdx_from_the_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import build_malicious

    from mlvet.inventory import run_inventory
    from mlvet.store import Store

    folder = tmp_path / "models"
    folder.mkdir()
    (folder / "evil.pt").write_bytes(build_malicious.torch_zip(build_malicious.sh_pickle()))
    url = f"sqlite:///{tmp_path / 'inventory.db'}"
    with Store(url) as store:
        recorded, assets, _changes, _previous = run_inventory([str(folder)], store)
    code, out, err = _bom_cli(["--from-db", "--db", url, "--format", "spdx"], capsys)
    assert code == 0, err
    doc = Doc(out)
    (document,) = doc.of_type(spdx.SpdxDocument)
    assert props(document)["mlvet:run-id"] == [str(recorded.id)]
    (asset,) = assets
    package = doc[f"{NS}model:{asset.id}"]
    vex = doc.of_type(spdx.security_VexAffectedVulnAssessmentRelationship)
    assert vex and all(list(r.to) == [package] for r in vex)
    assert any(props(r.from_)["mlvet:rule"] == ["PKL100"] for r in vex)


@pytest.mark.parametrize(("args", "fragment"), [
    (["--format", "spdx", "--spec-version", "1.6", "."], "always 3.0.1"),
    (["--spdx-namespace", "https://example.com/", "."], "needs --format spdx"),
    (["--format", "spdx", "--spdx-namespace", "not an iri", "."], "namespace"),
    (["--format", "spdx-2.3", "."], "spdx-2.3"),
])
def test_cli_usage_errors(args: list[str], fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _bom_cli(args, capsys)
    assert code == 4 and out == "" and fragment in err


def test_cli_names_the_extra_when_the_library_is_missing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    import mlvet.bom

    for name in [m for m in sys.modules if m == "mlvet.bom.spdx" or m.startswith("spdx_python_model")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.delattr(mlvet.bom, "spdx", raising=False)
    monkeypatch.setitem(sys.modules, "spdx_python_model", None)  # what an absent package looks like to import
    code, out, err = _bom_cli([str(tmp_path), "--format", "spdx"], capsys)
    assert code == 4 and out == ""
    assert "pip install 'mlvet[spdx]'" in err
    code, out, err = _bom_cli([str(tmp_path)], capsys)  # CycloneDX does not need it
    assert code == 0 and json.loads(out)["specVersion"] == "1.6"
