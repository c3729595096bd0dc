"""SPDX 3.0.1 JSON-LD ML-BOM with the AI and Dataset profiles: the same inventory as the CycloneDX BOM.

Built with ``spdx-python-model``, the SPDX project's Python bindings generated from the 3.0.1 SHACL model,
so every class, property, enumeration value and cardinality comes from the specification itself.

What goes where, and why (the CycloneDX writer, :mod:`mlvet.bom.cyclonedx`, makes the same choices where
both formats can express them):

* **Identifiers.** Every ``spdxId`` is ``<namespace><kind>:<asset id>[/...]`` (default namespace
  ``urn:mlvet:``): derived from asset ids, never from time or a random UUID, so two documents of the same
  tree diff cleanly. Pass ``namespace`` (an IRI prefix you control) for globally unique ids.
* **Models** are ``ai_AIPackage`` (``software_primaryPurpose`` ``model``), **datasets**
  ``dataset_DatasetPackage`` (``data``). Hub assets get the ``pkg:huggingface`` purl
  (:func:`~mlvet.bom.cyclonedx.hf_purl`), the commit as ``software_packageVersion``, the hub page as
  ``software_homePage``/``software_downloadLocation`` and the hub namespace as ``suppliedBy`` agent. The AI
  profile asks for these and ``releaseTime`` on every AIPackage; for a local file nobody knows them, and
  mlvet leaves them out rather than invent them (the SHACL model, and so the bindings, do not require them).
* **Architecture → ``ai_typeOfModel``** (free text "type of the AI model"; SPDX has no architecture field)
  and the ``model_type`` family when it differs. **Task → ``ai_domain``** ("the domain where the model
  can be expected to operate"; a hub ``pipeline_tag`` is exactly that) for models and
  ``dataset_intendedUse`` for datasets.
* **Parameter count is neither ``ai_hyperparameter`` nor ``ai_metric``.** The spec defines hyperparameters
  as settings chosen *before* training that "differ from model parameters, which are learned from the
  data", and metrics as statements about *prediction quality*. A count of learned parameters is neither,
  so it is the ``mlvet:parameters`` property below, as in the CycloneDX BOM.
* **mlvet's own facts** (verdict, severity, format, framework, path, sizes, hub cache integrity, ...) are
  ``extension_CdxPropertiesExtension`` name/value pairs with the same ``mlvet:*`` names as the CycloneDX
  properties: SPDX 3 defines that extension precisely to carry CycloneDX properties, so a consumer can
  match the two BOMs field by field. File sizes live there too (SPDX 3 has no file size).
* **Hashes.** ``verifiedUsing`` SHA-256. A single-file asset carries its file's hash; a multi-file asset
  carries :attr:`~mlvet.inventory.model.Asset.content_hash` (its ``comment`` says how it is computed) and
  ``contains`` one ``software_File`` per file, each with its own hash (relationship completeness
  ``complete``: the inventory lists every file). ``dataset_datasetSize`` is the total size in bytes, as the
  Dataset profile defines it. ``dataset_datasetType`` is required: ``structured`` for tabular formats
  (parquet, arrow, csv), the modality a hub task names (``text``, ``image``, ...), else ``noAssertion``.
* **Licenses** are ``simplelicensing_LicenseExpression`` elements linked by ``hasDeclaredLicense`` (what the
  card declares, not a conclusion). A name that is not on the SPDX License List becomes
  ``LicenseRef-<name>``, the expression syntax for other licenses.
* **Lineage.** Each card ``base_model`` is an ``ai_AIPackage`` (with a purl when it is a hub id) that is
  ``ancestorOf`` the model. Card ``datasets`` (the hub card's list of training datasets) are ``trainedOn``
  targets: the inventory's own dataset package when the hub id matches, else one shared stub package.
  Recorded training data (``lineage``: MLflow run inputs, Lightning hyper-parameters, ``mlvet data link``) are
  ``trainedOn`` targets too; a locked dataset is ``verifiedUsing`` its lock's root digest.
* **Findings.** Each distinct finding (rule + fingerprint, as in CycloneDX) is a ``security_Vulnerability``
  (id ``<rule>-<fingerprint>`` as a ``securityOther`` external identifier, CWE as a ``cwe`` external
  reference) and a ``security_VexAffectedVulnAssessmentRelationship`` ``affects`` the asset, with the rule's
  fix as the required ``security_actionStatement`` and the file as ``security_assessedElement`` when the
  asset has several. VEX "affected" is the construct that says *this artifact is affected and here is what
  to do*; the plain ``hasAssociatedVulnerability`` relationship carries neither. The security profile's
  scored assessments (CVSS, EPSS, SSVC) need scores mlvet does not compute, so the scanner's severity is
  the ``mlvet:severity`` property and is repeated in ``security_statusNotes``.
* **Document.** One shared ``CreationInfo`` (spec version 3.0.1, created by the ``mlvet`` software agent
  using the ``mlvet-<version>`` tool), a ``software_Sbom`` of type ``analyzed`` whose root elements are the
  assets, and the ``SpdxDocument`` (data license CC0-1.0) declaring conformance to the core, software,
  simpleLicensing, ai, dataset, security and extension profiles.

Every document :func:`spdx_json` returns has passed :func:`validate_spdx`; one that fails is a bug in mlvet
and raises :class:`SpdxValidationError` instead of being written.
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timezone
from typing import Any

from spdx_python_model.bindings.v3_0_1 import model as spdx

from mlvet._version import __version__
from mlvet.bom.cyclonedx import (
    HF_URL,
    NS,
    _Builder,
    _clean,
    _hub_url,
    _props,
    hf_purl,
    split_hub_id,
)
from mlvet.bom.errors import InvalidDocument
from mlvet.bom.findings import finding_groups
from mlvet.bom.lineage import Lineage, dataset_url, lineage_key, lineage_pairs, model_lineage
from mlvet.bom.spdx_checks import SPEC_VERSION, _cardinality, _describe, _duplicate_ids, _locate, _short_iri
from mlvet.inventory.lineage import DatasetRef
from mlvet.inventory.model import Asset, AssetFile, InventoryRun
from mlvet.model import Severity

__all__ = ["CONTEXT", "DEFAULT_NAMESPACE", "PROFILES", "SPEC_VERSION", "SpdxValidationError", "build_spdx",
           "check_namespace", "license_expression", "spdx_json", "validate_spdx"]

#: JSON-LD context of SPDX 3.0.1 documents (what the bindings write and what they accept).
CONTEXT = "https://spdx.org/rdf/3.0.1/spdx-context.jsonld"
#: Prefix of every ``spdxId`` unless the caller gives one.
DEFAULT_NAMESPACE = "urn:mlvet:"
#: Profiles every mlvet document declares (a document may use fewer; it never uses others).
PROFILES = ("core", "software", "simpleLicensing", "ai", "dataset", "security", "extension")

_COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")
_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_LICENSE_REF = re.compile(r"[^A-Za-z0-9.-]+")
# Hex digest lengths of the fixed-size algorithms in SPDX 3.0.1's HashAlgorithm vocabulary.
_HASH_HEX_LENGTH = {
    "md2": 32, "md4": 32, "md5": 32, "sha1": 40, "sha224": 56, "sha256": 64, "sha384": 96, "sha512": 128,
    "sha3_224": 56, "sha3_256": 64, "sha3_384": 96, "sha3_512": 128, "blake2b256": 64, "blake2b384": 96,
    "blake2b512": 128, "blake3": 64, "adler32": 8,
}
_TABULAR = {"parquet", "arrow", "csv", "tsv"}
# Hub task names -> SPDX DatasetType modality (first match wins).
_MODALITY = (("video", "video"), ("image", "image"), ("audio", "audio"), ("speech", "audio"), ("text", "text"),
             ("tabular", "structured"), ("time-series", "timeseries"), ("graph", "graph"))
_VEX_TYPES = {
    "security_VexAffectedVulnAssessmentRelationship": "affects",
    "security_VexNotAffectedVulnAssessmentRelationship": "doesNotAffect",
    "security_VexFixedVulnAssessmentRelationship": "fixedIn",
    "security_VexUnderInvestigationVulnAssessmentRelationship": "underInvestigationFor",
}


class SpdxValidationError(InvalidDocument):
    """mlvet built an SPDX document that the SPDX model rejects: a bug, reported instead of writing it."""

    what = f"the SPDX {SPEC_VERSION} document"


def check_namespace(namespace: str) -> str:
    """``namespace`` if it can prefix ``spdxId`` values (an absolute IRI, not a blank node), else ValueError."""
    scheme = namespace.split(":", 1)[0]
    if (":" not in namespace or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme)
            or any(c.isspace() or c in '<>"{}|\\^`' for c in namespace)):
        raise ValueError(f"the SPDX namespace must be an absolute IRI prefix such as "
                         f"'https://example.com/bom/', got {namespace!r}")
    return namespace


def _q(text: str) -> str:
    """``text`` as one IRI path segment (undecodable file-name bytes stay distinct as ``%XX``)."""
    return urllib.parse.quote(text, safe="", encoding="utf-8", errors="surrogateescape")


def _enum(vocabulary: type[spdx.SHACLObject], name: str) -> str:
    """The full IRI of a named individual (``RelationshipType``, ``HashAlgorithm`` ...) by its short name."""
    return vocabulary.NAMED_INDIVIDUALS[name]


def license_expression(value: str) -> str | None:
    """The SPDX license expression for a declared license: a listed id (case fixed), an expression, or
    ``LicenseRef-<name>`` for anything else. None when nothing is declared."""
    from cyclonedx.spdx import fixup_id, is_expression

    text = value.strip()
    if not text:
        return None
    listed = fixup_id(text)
    if listed is not None:
        return listed
    if is_expression(text):
        return text
    return "LicenseRef-" + (_LICENSE_REF.sub("-", text).strip("-") or "unknown")


def _dataset_types(asset: Asset | None) -> list[str]:
    if asset is None:
        return ["noAssertion"]
    types = []
    if asset.format in _TABULAR:
        types.append("structured")
    task = (asset.metadata.task or "").lower()
    for needle, kind in _MODALITY:
        if needle in task:
            types.append(kind)
            break
    return sorted(set(types)) or ["noAssertion"]


class _SpdxBuilder:
    """Builds one document; holds the shared elements (creation info, agents, licenses, dataset stubs)."""

    def __init__(self, assets: Sequence[Asset], run: InventoryRun | None, created: datetime | None,
                 namespace: str | None, lineage: Lineage | None = None) -> None:
        self.lineage = lineage
        self.ns = DEFAULT_NAMESPACE if namespace is None else check_namespace(namespace)
        self.assets = sorted({a.id: a for a in assets}.values(), key=lambda a: (a.kind, a.id))
        self.run = run
        moment = created or (run.finished_at if run else None) or datetime.now(timezone.utc)
        moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        self.created = moment.astimezone(timezone.utc).replace(microsecond=0)
        self.elements: dict[str, spdx.Element] = {}
        self.ci = spdx.CreationInfo(specVersion=SPEC_VERSION, created=self.created)
        agent = self._add(spdx.SoftwareAgent(spdxId=self.id("agent:mlvet"), name="mlvet", creationInfo=self.ci))
        tool = self._add(spdx.Tool(spdxId=self.id(f"tool:mlvet-{_q(__version__)}"), name=f"mlvet-{__version__}",
                                   creationInfo=self.ci))
        self.ci.createdBy = [agent]
        self.ci.createdUsing = [tool]
        self.agent = agent
        # Hub dataset id -> the package standing for it (an inventory asset or a stub).
        self.datasets: dict[str, spdx.dataset_DatasetPackage] = {}
        self._cdx = _Builder([], None, uuid.UUID(int=0), self.created)

    def id(self, local: str) -> str:
        return self.ns + local

    def _add(self, element: Any) -> Any:
        self.elements.setdefault(element.spdxId, element)
        return self.elements[element.spdxId]

    def _extension(self, pairs: Iterable[tuple[str, str | None]]) -> list[spdx.extension_CdxPropertiesExtension]:
        """``mlvet:*`` name/value pairs as the CycloneDX-properties extension (None when there are none)."""
        entries = [spdx.extension_CdxPropertyEntry(extension_cdxPropName=n, extension_cdxPropValue=v)
                   for n, v in pairs if v is not None]
        return [spdx.extension_CdxPropertiesExtension(extension_cdxProperty=entries)] if entries else []

    def _relationship(self, local: str, source: spdx.Element, kind: str, targets: Sequence[spdx.Element],
                      complete: bool = False) -> None:
        rel = spdx.Relationship(spdxId=self.id(local), creationInfo=self.ci, from_=source, to=list(targets),
                                relationshipType=_enum(spdx.RelationshipType, kind))
        if complete:
            rel.completeness = _enum(spdx.RelationshipCompleteness, "complete")
        self._add(rel)

    @staticmethod
    def _sha256(digest: str, comment: str | None = None) -> list[spdx.Hash]:
        if not _SHA256.match(digest):  # a file the inventory could not hash has no digest
            return []
        h = spdx.Hash(algorithm=_enum(spdx.HashAlgorithm, "sha256"), hashValue=digest.lower())
        if comment:
            h.comment = comment
        return [h]

    # -- the document

    def build(self) -> spdx.SHACLObjectSet:
        for asset in self.assets:
            if asset.kind == "dataset" and asset.hub is not None and asset.hub.repo_type == "dataset":
                self.datasets.setdefault(asset.hub.repo_id, self._package(asset))  # type: ignore[arg-type]
        roots = [self._package(asset) for asset in self.assets]
        for asset, package in zip(self.assets, roots, strict=True):
            self._details(asset, package)
        digest = hashlib.sha256("\n".join(
            [*(self.run.roots if self.run else ()), *(a.id for a in self.assets)]).encode("utf-8", "surrogateescape"))
        key = digest.hexdigest()[:16]
        members = [self.elements[k] for k in sorted(self.elements)]
        sbom = spdx.software_Sbom(
            spdxId=self.id(f"sbom:{key}"), creationInfo=self.ci, name="mlvet ML-BOM",
            software_sbomType=[_enum(spdx.software_SbomType, "analyzed")], rootElement=roots, element=members,
            profileConformance=[_enum(spdx.ProfileIdentifierType, p) for p in PROFILES],
        )
        cc0 = self._license("CC0-1.0")
        document = spdx.SpdxDocument(
            spdxId=self.id(f"document:{key}"), creationInfo=self.ci, name="mlvet ML-BOM",
            comment="Models and datasets found by mlvet inventory, their files, lineage, licenses and scan findings.",
            dataLicense=cc0, rootElement=[sbom],
            element=[sbom, *(self.elements[k] for k in sorted(self.elements))],
            profileConformance=[_enum(spdx.ProfileIdentifierType, p) for p in PROFILES],
            extension=self._extension(self._run_properties()),
        )
        objects = spdx.SHACLObjectSet()
        for element in (document, sbom, *self.elements.values()):
            objects.add(element)
        return objects

    def _run_properties(self) -> list[tuple[str, str | None]]:
        """The CycloneDX writer's ``metadata`` run properties, word for word."""
        return [(p.name, p.value) for p in _Builder([], self.run, uuid.UUID(int=0), self.created)._run_properties()]

    # -- packages

    def _package(self, asset: Asset) -> spdx.software_Package:
        local = f"{asset.kind}:{asset.id}"
        known = self.elements.get(self.id(local))
        if known is not None:
            return known  # type: ignore[return-value]
        meta, hub = asset.metadata, asset.hub
        package: spdx.ai_AIPackage | spdx.dataset_DatasetPackage
        if asset.kind == "model":
            package = spdx.ai_AIPackage(spdxId=self.id(local), creationInfo=self.ci, name=asset.name,
                                        software_primaryPurpose=_enum(spdx.software_SoftwarePurpose, "model"))
            family = dict(meta.extra).get("model_type")
            package.ai_typeOfModel = list(dict.fromkeys(t for t in (meta.architecture, family) if t))
            if meta.task:
                package.ai_domain = [meta.task]
        else:
            package = spdx.dataset_DatasetPackage(
                spdxId=self.id(local), creationInfo=self.ci, name=asset.name,
                software_primaryPurpose=_enum(spdx.software_SoftwarePurpose, "data"),
                dataset_datasetType=[_enum(spdx.dataset_DatasetType, t) for t in _dataset_types(asset)],
                dataset_datasetSize=asset.size,
            )
            if meta.task:
                package.dataset_intendedUse = meta.task
        if hub is not None:
            purl = hf_purl(hub.repo_id, hub.revision, hub.repo_type)
            if purl is not None:
                package.software_packageUrl = purl.to_string()
            if hub.revision:
                package.software_packageVersion = (hub.revision.lower() if _COMMIT.match(hub.revision)
                                                   else hub.revision)
            parts = split_hub_id(hub.repo_id)
            if parts is not None:
                home = _hub_url(hub.repo_id, hub.repo_type)
                package.software_homePage = home
                exact = package.software_packageVersion if hub.revision and _COMMIT.match(hub.revision) else None
                package.software_downloadLocation = f"{home}/tree/{exact}" if exact else home
                if parts[0] is not None:
                    package.suppliedBy = self._supplier(parts[0])
        if len(asset.files) == 1:
            package.verifiedUsing = self._sha256(asset.files[0].sha256)
        elif asset.files:
            package.verifiedUsing = self._sha256(
                asset.content_hash, "mlvet manifest hash: SHA-256 over the sorted (relative path, file SHA-256) "
                                    "pairs of the files this package contains")
        return self._add(package)  # type: ignore[no-any-return]

    def _supplier(self, namespace: str) -> spdx.Agent:
        return self._add(spdx.Agent(spdxId=self.id(f"supplier:{_q(namespace)}"), creationInfo=self.ci,  # type: ignore[no-any-return]
                                    name=namespace, description=f"Hugging Face namespace {HF_URL}/{namespace}"))

    def _details(self, asset: Asset, package: spdx.software_Package) -> None:
        local = f"{asset.kind}:{asset.id}"
        meta = asset.metadata
        single = len(asset.files) == 1
        method = "file-sha256" if single else ("mlvet-manifest-sha256" if asset.files else None)
        pairs = [(p.name, p.value) for p in self._cdx._asset_properties(asset, asset.hub, method)]
        pairs += [(f"{NS}:tag", t) for t in sorted(set(meta.tags))]
        package.extension = self._extension(pairs)
        files: dict[str, spdx.software_File] = {}
        if not single:
            for f in sorted(asset.files, key=lambda f: f.rel):
                files[f.path] = self._file(local, f)
            if files:
                self._relationship(f"{local}/rel:contains", package, "contains", list(files.values()), complete=True)
        if meta.license:
            expression = license_expression(meta.license)
            if expression is not None:
                lic = self._license(expression, declared=meta.license)
                self._relationship(f"{local}/rel:hasDeclaredLicense", package, "hasDeclaredLicense", [lic])
        if asset.kind == "model":
            for base in dict.fromkeys(meta.base_models):
                self._relationship(f"{local}/rel:ancestorOf:{_q(base)}", self._base_model(base), "ancestorOf",
                                   [package])
            linked = model_lineage(asset, self.lineage)
            by_name = {r.name for r in linked}
            targets = [self._dataset(d) for d in dict.fromkeys(meta.datasets) if d not in by_name]
            targets += [self._lineage_dataset(r) for r in linked]
            if targets:
                self._relationship(f"{local}/rel:trainedOn", package, "trainedOn", list(dict.fromkeys(targets)))
        self._vulnerabilities(asset, package, files)

    def _file(self, parent: str, f: AssetFile) -> spdx.software_File:
        element = spdx.software_File(
            spdxId=self.id(f"{parent}/file:{_q(f.rel)}"), creationInfo=self.ci, name=f.rel,
            software_fileKind=_enum(spdx.software_FileKindType, "file"), verifiedUsing=self._sha256(f.sha256),
        )
        element.extension = self._extension((p.name, p.value) for p in _props([
            ("size", f.size), ("format", f.format),
            ("severity", f.severity.label if f.severity > Severity.NONE else None),
            ("scan-status", f.scan_status), ("integrity", f.integrity),
        ]))
        return self._add(element)  # type: ignore[no-any-return]

    def _license(self, expression: str, declared: str | None = None) -> spdx.simplelicensing_LicenseExpression:
        lic = spdx.simplelicensing_LicenseExpression(
            spdxId=self.id(f"license:{_q(expression)}"), creationInfo=self.ci,
            simplelicensing_licenseExpression=expression)
        if declared is not None and expression.startswith("LicenseRef-"):
            lic.comment = f"declared as {declared.strip()!r}, which is not on the SPDX License List"
        return self._add(lic)  # type: ignore[no-any-return]

    def _base_model(self, base: str) -> spdx.ai_AIPackage:
        parts = split_hub_id(base)
        package = spdx.ai_AIPackage(spdxId=self.id(f"base:{_q(base)}"), creationInfo=self.ci, name=base,
                                    software_primaryPurpose=_enum(spdx.software_SoftwarePurpose, "model"))
        if parts is not None:
            purl = hf_purl(base)
            if purl is not None:
                package.software_packageUrl = purl.to_string()
            package.software_homePage = _hub_url(base, "model")
            package.software_downloadLocation = _hub_url(base, "model")
        package.extension = self._extension([(f"{NS}:base-model", base)])
        return self._add(package)  # type: ignore[no-any-return]

    def _lineage_dataset(self, ref: DatasetRef) -> spdx.dataset_DatasetPackage:
        """A recorded training dataset; a locked one is verified by its lock's root digest."""
        spdx_id = self.id(f"dataset-lineage:{lineage_key(ref)}")
        known = self.elements.get(spdx_id)
        if known is not None:
            return known  # type: ignore[return-value]
        package = spdx.dataset_DatasetPackage(
            spdxId=spdx_id, creationInfo=self.ci, name=ref.name,
            software_primaryPurpose=_enum(spdx.software_SoftwarePurpose, "data"),
            dataset_datasetType=[_enum(spdx.dataset_DatasetType, "noAssertion")],
        )
        if ref.lock_root:
            package.verifiedUsing = self._sha256(ref.lock_root, "root digest of the mlvet data lock of this dataset")
        parts = split_hub_id(ref.name)
        url = dataset_url(ref)
        if parts is not None:
            purl = hf_purl(ref.name, repo_type="dataset")
            if purl is not None:
                package.software_packageUrl = purl.to_string()
            url = url or _hub_url(ref.name, "dataset")
        if url is not None:
            package.software_downloadLocation = url
        package.extension = self._extension(lineage_pairs(ref))
        return self._add(package)  # type: ignore[no-any-return]

    def _dataset(self, dataset_id: str) -> spdx.dataset_DatasetPackage:
        known = self.datasets.get(dataset_id)
        if known is not None:
            return known
        parts = split_hub_id(dataset_id)
        package = spdx.dataset_DatasetPackage(
            spdxId=self.id(f"dataset-ref:{_q(dataset_id)}"), creationInfo=self.ci, name=dataset_id,
            software_primaryPurpose=_enum(spdx.software_SoftwarePurpose, "data"),
            dataset_datasetType=[_enum(spdx.dataset_DatasetType, "noAssertion")],
        )
        if parts is not None:
            purl = hf_purl(dataset_id, repo_type="dataset")
            if purl is not None:
                package.software_packageUrl = purl.to_string()
            package.software_homePage = _hub_url(dataset_id, "dataset")
            package.software_downloadLocation = _hub_url(dataset_id, "dataset")
        package.extension = self._extension([(f"{NS}:named-by-card", "true")])
        self.datasets[dataset_id] = self._add(package)
        return self.datasets[dataset_id]

    # -- findings

    def _vulnerabilities(self, asset: Asset, package: spdx.software_Package,
                         files: dict[str, spdx.software_File]) -> None:
        local = f"{asset.kind}:{asset.id}"
        for g in finding_groups(asset):
            vid, first, rule, severity, cwe = g.id, g.first, g.rule, g.severity, g.cwe
            vuln = spdx.security_Vulnerability(
                spdxId=self.id(f"{local}/vuln:{_q(vid)}"), creationInfo=self.ci, name=vid,
                summary=g.summary, description=g.detail,
                externalIdentifier=[spdx.ExternalIdentifier(
                    externalIdentifierType=_enum(spdx.ExternalIdentifierType, "securityOther"), identifier=vid,
                    issuingAuthority="mlvet")],
            )
            if cwe is not None:
                vuln.externalRef = [spdx.ExternalRef(
                    externalRefType=_enum(spdx.ExternalRefType, "cwe"),
                    locator=[f"https://cwe.mitre.org/data/definitions/{cwe}.html"])]
            vuln.extension = self._extension((p.name, p.value) for p in _props([
                ("rule", first.rule_id), ("rule-name", rule.name if rule is not None else None),
                ("severity", severity.label), ("fingerprint", first.fingerprint),
                ("confidence", first.confidence.label), ("cwe", cwe), *(("location", loc) for loc in g.locations),
            ]))
            self._add(vuln)
            vex = spdx.security_VexAffectedVulnAssessmentRelationship(
                spdxId=self.id(f"{local}/vex:{_q(vid)}"), creationInfo=self.ci, from_=vuln, to=[package],
                relationshipType=_enum(spdx.RelationshipType, "affects"), suppliedBy=self.agent,
                security_actionStatement=(rule.fix if rule is not None and rule.fix else
                                          "Do not load this artifact until the finding has been reviewed."),
                security_statusNotes=(f"mlvet static analysis: rule {first.rule_id}, severity {severity.label}, "
                                      f"confidence {first.confidence.label}"),
            )
            hit = {files[f.location.path] for f in g.findings if f.location.path in files}
            if len(hit) == 1:
                vex.security_assessedElement = hit.pop()
            self._add(vex)


# ------------------------------------------------------------------------------------------------ public API


def build_spdx(assets: Sequence[Asset], run: InventoryRun | None = None, *, created: datetime | None = None,
               namespace: str | None = None, lineage: Lineage | None = None) -> spdx.SHACLObjectSet:
    """The SPDX 3.0.1 object set (the bindings' model) of the inventory; not validated yet.

    ``created`` defaults to the run's end (or now); ``namespace`` to ``urn:mlvet:``. Raises ValueError for a
    namespace that is not an IRI prefix.
    """
    return _SpdxBuilder(assets, run, created, namespace, lineage).build()


def spdx_json(assets: Sequence[Asset], run: InventoryRun | None = None, *, created: datetime | None = None,
              namespace: str | None = None, indent: int | None = 2, lineage: Lineage | None = None) -> str:
    """The SPDX 3.0.1 JSON-LD document, validated: raises :class:`SpdxValidationError` rather than return a
    document the SPDX model rejects."""
    objects = build_spdx(assets, run, created=created, namespace=namespace, lineage=lineage)
    try:
        data = spdx.JSONLDSerializer().serialize_data(objects, force_at_graph=True)
    except (TypeError, ValueError) as exc:  # the bindings' own cardinality checks while encoding
        raise SpdxValidationError([f"serialising: {exc}"]) from None
    text = json.dumps(_clean(data), indent=indent, ensure_ascii=False) + "\n"
    errors = validate_spdx(text)
    if errors:
        raise SpdxValidationError(errors)
    return text


# ----------------------------------------------------------------------------------------------- validation


def validate_spdx(text: str) -> list[str]:
    """Problems with an SPDX 3.0.1 JSON-LD document; empty when it is valid.

    The checks are the SPDX model's own, as the generated bindings implement them from the 3.0.1 SHACL
    shapes, plus what those shapes state in prose only:

    1. **Reading** with the bindings' ``JSONLDDeserializer``: every type must be a concrete SPDX class, every
       property one the class defines, every value of the property's type (string, integer >= 0, date-time
       ``YYYY-MM-DDThh:mm:ssZ`` ...), pattern and vocabulary (relationship types, hash algorithms, dataset
       types ...), every object reference of the right class, and elements need an IRI ``spdxId``.
    2. **References**: every id the document uses is defined in it (the bindings' link step).
    3. **Cardinality**: each property's ``minCount``/``maxCount`` from the model (``creationInfo``,
       ``dataset_datasetType``, a relationship's ``from``/``to`` ...), and a write-back through the
       bindings' ``JSONLDSerializer``, which enforces them again.
    4. **Rules the shapes leave to the text**: ``spdxId`` values are unique, a hash has the length of its
       algorithm, VEX relationships use their own relationship type and start at a Vulnerability, purls
       parse, the creation info says 3.0.1, there is one SpdxDocument and it declares every profile the
       document uses.

    Nothing is fetched: the bindings carry the model, so validation works offline.
    """
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return [f"not JSON: {exc}"]
    if not isinstance(doc, dict):
        return ["not an SPDX document: the top level is not an object"]
    context = doc.get("@context")
    if context != CONTEXT and not (isinstance(context, list) and CONTEXT in context):
        return [f"@context: expected {CONTEXT!r} (SPDX {SPEC_VERSION}), got {context!r}"]
    graph = doc.get("@graph")
    if not isinstance(graph, list) or not all(isinstance(item, dict) for item in graph):
        return ["@graph: expected a list of objects"]

    errors = _duplicate_ids(graph)
    objects = spdx.SHACLObjectSet()
    try:
        spdx.JSONLDDeserializer().deserialize_data(doc, objects)
    except Exception as exc:  # the bindings raise TypeError/ValueError/KeyError/NotImplementedError
        return errors + _locate(doc, graph, exc)
    errors += [f"reference to {ref!r}, which this document does not define" for ref in sorted(objects.missing_ids)]
    errors += _cardinality(objects)
    if not errors:
        try:
            spdx.JSONLDSerializer().serialize_data(objects, force_at_graph=True)
        except Exception as exc:
            errors.append(f"the document does not serialise back: {exc}")
    errors += _text_rules(objects)
    return errors


def _text_rules(objects: spdx.SHACLObjectSet) -> list[str]:
    from packageurl import PackageURL

    errors = []
    documents = list(objects.foreach_type(spdx.SpdxDocument))
    if len(documents) != 1:
        errors.append(f"expected one SpdxDocument, found {len(documents)}")
    declared = {_short_iri(p) for d in documents for p in d.profileConformance}
    used: set[str] = set()
    for obj in objects.foreach():
        compact = obj.get_compact_type() or ""
        prefix = compact.split("_", 1)[0] if "_" in compact else "core"
        used.add({"simplelicensing": "simpleLicensing", "expandedlicensing": "expandedLicensing"}.get(prefix, prefix))
        if isinstance(obj, spdx.CreationInfo) and obj.specVersion != SPEC_VERSION:
            errors.append(f"CreationInfo: specVersion {obj.specVersion!r}, expected {SPEC_VERSION!r}")
        elif isinstance(obj, spdx.Hash) and obj.algorithm and obj.hashValue is not None:
            algorithm = _short_iri(obj.algorithm)
            length = _HASH_HEX_LENGTH.get(algorithm)
            if length is not None and not re.fullmatch(f"[0-9a-fA-F]{{{length}}}", obj.hashValue):
                errors.append(f"Hash {algorithm}: {obj.hashValue!r} is not {length} hex digits")
        elif isinstance(obj, spdx.software_Package) and obj.software_packageUrl:
            try:
                PackageURL.from_string(obj.software_packageUrl)
            except ValueError as exc:
                errors.append(f"{_describe(obj)}: invalid purl {obj.software_packageUrl!r}: {exc}")
        expected = _VEX_TYPES.get(compact)
        if expected is not None and isinstance(obj, spdx.Relationship):
            if obj.relationshipType and _short_iri(obj.relationshipType) != expected:
                errors.append(f"{_describe(obj)}: relationshipType must be {expected!r}, "
                              f"got {_short_iri(obj.relationshipType)!r}")
            if not isinstance(obj.from_, spdx.security_Vulnerability):
                errors.append(f"{_describe(obj)}: 'from' must be a security_Vulnerability")
    missing = used - declared - {"core"} if documents else set()
    if documents and "core" not in declared:
        missing.add("core")
    errors += [f"SpdxDocument: uses the {p!r} profile without declaring it in profileConformance"
               for p in sorted(missing)]
    return errors
