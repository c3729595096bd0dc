"""CycloneDX 1.6 ML-BOM: the inventory's models and datasets, their lineage, and what the scanner found.

What goes where, and why:

* **One component per asset.** A model is a ``machine-learning-model`` component, a dataset a ``data``
  component; their ``bom-ref`` is derived from the asset id (itself derived from the grouping key), so two
  BOMs of the same tree diff cleanly. Hugging Face assets get ``pkg:huggingface/<org>/<name>@<commit>``
  purls (purl-spec ``huggingface`` type: namespace and name are case sensitive, the version is the commit
  hash, lower-cased); the namespace/name split is also written as CycloneDX ``group``/``name``.
* **Hashes.** A single-file asset's component carries that file's SHA-256, so it matches what a download
  would hash. A multi-file asset (a snapshot, an MLflow folder) has no single byte stream to hash: its
  component carries :attr:`~mlvet.inventory.model.Asset.content_hash` (SHA-256 over the sorted
  ``(relative path, file sha256)`` pairs, property ``mlvet:hash-method`` says so), and **each file is a nested
  component of type ``file``** with its own SHA-256. Nested ``file`` components rather than properties
  because hashes are only machine-readable in ``hashes``: Dependency-Track imports nested components (it
  flattens them into the project's component list and uses their hashes for identity and integrity
  analysis), cdxgen emits files the same way, and a consumer that ignores nesting still sees a valid
  component. CycloneDX has no size field, so sizes are ``mlvet:size`` properties. A single-file asset is not
  nested again (Dependency-Track would list the same file twice).
* **Model cards.** Architecture (``modelArchitecture``), task, and the training datasets as ``{"ref": ...}``
  references to ``data`` components: a dataset found in the inventory itself (same hub id) is referenced
  directly, any other named dataset gets one shared ``data`` component (with a purl when it is a hub id).
  Recorded training data (``lineage``: MLflow run inputs, Lightning hyper-parameters, ``mlvet data link``) is
  referenced the same way; a dataset pinned by a lock carries the lock's root digest as its SHA-256.
* **Lineage.** ``base_model`` ids become ``pedigree.ancestors`` components with purls (no version: a card
  names the repository, not a commit).
* **Verdicts** are ``mlvet:*`` properties (namespaced per the CycloneDX property-taxonomy convention);
  **findings** are ``vulnerabilities`` whose id is ``<rule id>-<fingerprint>`` (stable across scans), rated by
  source ``mlvet`` with the scanner's severity, CWE, evidence in ``detail``, and ``affects`` pointing at the
  asset's component.

cyclonedx-python-lib 11 builds everything except two CycloneDX 1.5+ fields it does not model yet,
``component.modelCard`` and ``component.data`` (upstream issues CycloneDX/cyclonedx-python-lib#912 and
#913): :func:`build_bom` returns the library's :class:`~cyclonedx.model.bom.Bom` without them, and
:func:`bom_json` adds them to the serialised document by ``bom-ref``. Every document :func:`bom_json`
returns has passed :func:`validate_bom` (the official 1.6 JSON schema, offline, plus reference checks); a
document that fails is a bug in mlvet and raises :class:`BomValidationError` instead of being written.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from cyclonedx.contrib.license.factories import LicenseFactory
from cyclonedx.model import (
    ExternalReference,
    ExternalReferenceType,
    HashAlgorithm,
    HashType,
    Property,
    XsUri,
)
from cyclonedx.model.bom import Bom, BomMetaData
from cyclonedx.model.component import Component, ComponentType, Pedigree
from cyclonedx.model.license import License, LicenseAcknowledgement
from cyclonedx.model.vulnerability import (
    BomTarget,
    Vulnerability,
    VulnerabilityRating,
    VulnerabilityScoreSource,
    VulnerabilitySeverity,
    VulnerabilitySource,
)
from cyclonedx.output.json import JsonV1Dot6
from packageurl import PackageURL

from mlvet._version import __version__
from mlvet.bom.cyclonedx_validate import SPEC_VERSION, validate_bom
from mlvet.bom.errors import InvalidDocument
from mlvet.bom.findings import finding_groups
from mlvet.bom.lineage import Lineage, dataset_url, lineage_key, lineage_pairs, model_lineage
from mlvet.inventory.lineage import DatasetRef
from mlvet.inventory.model import Asset, AssetFile, HubRef, InventoryRun
from mlvet.model import Severity

#: Namespace of every property mlvet adds.
NS = "mlvet"
HF_URL = "https://huggingface.co"
#: ``repository_url`` qualifier of dataset purls: the purl-spec ``huggingface`` type is defined for models,
#: and the qualifier (the purl way to name a non-default repository) keeps ``org/name`` of a dataset from
#: being read as the model of the same name (hub datasets live under ``/datasets``).
HF_DATASETS_URL = f"{HF_URL}/datasets"

_SHA256 = re.compile(r"^[0-9a-fA-F]{64}$")
_COMMIT = re.compile(r"^[0-9a-fA-F]{40}$")
# Hub repo ids: optional namespace, then a name; letters, digits, '-', '_', '.'; 96 characters per part.
_HUB_ID = re.compile(r"^(?:(?P<ns>[A-Za-z0-9][A-Za-z0-9._-]{0,95})/)?(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,95})$")

_SEVERITY = {
    Severity.NONE: VulnerabilitySeverity.NONE,
    Severity.INFO: VulnerabilitySeverity.INFO,
    Severity.LOW: VulnerabilitySeverity.LOW,
    Severity.MEDIUM: VulnerabilitySeverity.MEDIUM,
    Severity.HIGH: VulnerabilitySeverity.HIGH,
    Severity.CRITICAL: VulnerabilitySeverity.CRITICAL,
}


class BomValidationError(InvalidDocument):
    """mlvet built a BOM that the CycloneDX schema rejects: a bug, reported instead of writing the file."""

    what = f"the CycloneDX {SPEC_VERSION} BOM"


# --------------------------------------------------------------------------------------------- refs & purls


def asset_ref(asset: Asset) -> str:
    """The component ``bom-ref`` of an asset: ``model:<asset id>`` or ``dataset:<asset id>``."""
    return f"{asset.kind}:{asset.id}"


def hub_dataset_ref(dataset_id: str) -> str:
    """``bom-ref`` of a dataset named by a card but not present in the inventory."""
    return f"dataset-ref:{dataset_id}"


def split_hub_id(repo_id: str) -> tuple[str | None, str] | None:
    """``("org", "name")`` for a hub repository id (``(None, "name")`` for legacy ids), None if it is not one."""
    m = _HUB_ID.match(repo_id.strip())
    if m is None or ".." in repo_id or "--" in repo_id:
        return None
    return m.group("ns"), m.group("name")


def hf_purl(repo_id: str, revision: str | None = None, repo_type: str = "model") -> PackageURL | None:
    """``pkg:huggingface/<org>/<name>[@<commit>]`` (datasets with a ``repository_url`` qualifier).

    The version is set only for a commit hash, as the purl type requires; a branch name such as ``main``
    says nothing stable about the content, so it is left out rather than written as a version.
    """
    parts = split_hub_id(repo_id)
    if parts is None or repo_type not in ("model", "dataset"):
        return None
    namespace, name = parts
    version = revision.lower() if revision and _COMMIT.match(revision) else None
    qualifiers = {"repository_url": HF_DATASETS_URL} if repo_type == "dataset" else None
    return PackageURL(type="huggingface", namespace=namespace, name=name, version=version, qualifiers=qualifiers)


def _hub_url(repo_id: str, repo_type: str) -> str:
    prefix = {"dataset": "datasets/", "space": "spaces/"}.get(repo_type, "")
    return f"{HF_URL}/{prefix}{repo_id}"


# ------------------------------------------------------------------------------------------------- building


@dataclass
class _Extras:
    """CycloneDX 1.6 fields cyclonedx-python-lib 11 cannot model (yet), keyed by component ``bom-ref``."""

    model_cards: dict[str, dict[str, Any]] = field(default_factory=dict)
    data: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _props(pairs: Iterable[tuple[str, object]]) -> list[Property]:
    """``mlvet:<name>`` properties, skipping unknown (None / empty) values."""
    out = []
    for name, value in pairs:
        if value is None or value == "":
            continue
        text = ("true" if value else "false") if isinstance(value, bool) else str(value)
        out.append(Property(name=f"{NS}:{name}", value=text))
    return out


def _sha256(digest: str) -> list[HashType]:
    # A file the inventory could not hash has no digest; an invalid one must not make the whole BOM invalid.
    return [HashType(alg=HashAlgorithm.SHA_256, content=digest.lower())] if _SHA256.match(digest) else []


def _licenses(value: str | None) -> list[License]:
    """An SPDX id (case-fixed: ``apache-2.0`` → ``Apache-2.0``) or expression when it is one, else a name."""
    if not value or not value.strip():
        return []
    return [LicenseFactory().make_from_string(value.strip(),
                                              license_acknowledgement=LicenseAcknowledgement.DECLARED)]


def _integrity(files: Sequence[AssetFile]) -> str | None:
    """Asset-level HF cache blob check: ``mismatch`` beats ``unknown`` beats ``ok``; None outside a cache."""
    states = {f.integrity for f in files if f.integrity}
    for state in ("mismatch", "unknown", "ok"):
        if state in states:
            return state
    return next(iter(sorted(states)), None)


class _Builder:
    """Builds one BOM; holds the cross-asset state (shared dataset components, unique refs)."""

    def __init__(self, assets: Sequence[Asset], run: InventoryRun | None,
                 serial_number: uuid.UUID | None, timestamp: datetime | None, lineage: Lineage | None = None) -> None:
        self.assets = sorted(assets, key=lambda a: (a.kind, a.id))
        self.lineage = lineage
        self.run = run
        self.serial_number = serial_number or uuid.uuid4()
        moment = timestamp or (run.finished_at if run else None) or datetime.now(timezone.utc)
        self.timestamp = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
        self.extras = _Extras()
        self.components: list[Component] = []
        self.vulnerabilities: list[Vulnerability] = []
        # Hub dataset id -> bom-ref of the component standing for it (an inventory asset or a stub).
        self.dataset_refs: dict[str, str] = {}
        for asset in self.assets:
            if asset.kind == "dataset" and asset.hub is not None and asset.hub.repo_type == "dataset":
                self.dataset_refs.setdefault(asset.hub.repo_id, asset_ref(asset))

    def build(self) -> tuple[Bom, _Extras]:
        seen: set[str] = set()
        for asset in self.assets:
            if asset.id in seen:  # the same asset twice (e.g. overlapping roots): one component
                continue
            seen.add(asset.id)
            self.components.append(self._asset_component(asset))
            self.vulnerabilities.extend(self._vulnerabilities(asset))
        metadata = BomMetaData(timestamp=self.timestamp, properties=self._run_properties())
        metadata.tools.components.add(Component(
            type=ComponentType.APPLICATION, name="mlvet", version=__version__,
            description="Static security scanner and inventory for machine-learning model files",
        ))
        bom = Bom(serial_number=self.serial_number, metadata=metadata, components=self.components,
                  vulnerabilities=self.vulnerabilities)
        return bom, self.extras

    def _run_properties(self) -> list[Property]:
        run = self.run
        if run is None:
            return []
        return _props([
            ("run-id", run.id),
            *(("root", root) for root in run.roots),
            ("host", run.host),
            ("run-started", run.started_at.isoformat()),
            ("run-finished", run.finished_at.isoformat()),
            ("files-seen", run.files_seen),
            ("files-hashed", run.files_hashed),
            ("run-tool-version", run.tool_version),
        ])

    # -- components

    def _asset_component(self, asset: Asset) -> Component:
        ref = asset_ref(asset)
        meta = asset.metadata
        hub = asset.hub
        group, name, version, purl = None, asset.name, None, None
        external: list[ExternalReference] = []
        if hub is not None:
            purl = hf_purl(hub.repo_id, hub.revision, hub.repo_type)
            parts = split_hub_id(hub.repo_id)
            if parts is not None:
                group, name = parts
                external.append(ExternalReference(type=ExternalReferenceType.WEBSITE,
                                                  url=XsUri(_hub_url(hub.repo_id, hub.repo_type))))
            # the revision as the purl spells it (lower-case commit), so version and purl agree
            version = hub.revision.lower() if hub.revision and _COMMIT.match(hub.revision) else hub.revision
        single = len(asset.files) == 1
        if single:
            hashes, method = _sha256(asset.files[0].sha256), "file-sha256"
        elif asset.files:
            hashes, method = _sha256(asset.content_hash), "mlvet-manifest-sha256"
        else:
            hashes, method = [], None
        nested = [] if single else [self._file_component(ref, f) for f in sorted(asset.files, key=lambda f: f.rel)]
        pedigree = None
        if asset.kind == "model" and meta.base_models:
            pedigree = Pedigree(ancestors=[self._base_component(ref, b) for b in dict.fromkeys(meta.base_models)])
        ctype = ComponentType.MACHINE_LEARNING_MODEL if asset.kind == "model" else ComponentType.DATA
        component = Component(
            type=ctype, name=name, group=group, version=version, bom_ref=ref, purl=purl, hashes=hashes,
            licenses=_licenses(meta.license), properties=self._asset_properties(asset, hub, method),
            components=nested, pedigree=pedigree, external_references=external,
            tags=sorted(set(meta.tags)) or None,
        )
        if asset.kind == "model":
            card = self._model_card(asset)
            if card:
                self.extras.model_cards[ref] = card
        else:
            entry: dict[str, Any] = {"type": "dataset", "name": asset.name}
            if hub is not None and split_hub_id(hub.repo_id) is not None:
                entry["contents"] = {"url": _hub_url(hub.repo_id, hub.repo_type)}
            self.extras.data[ref] = [entry]
        return component

    def _asset_properties(self, asset: Asset, hub: HubRef | None, hash_method: str | None) -> list[Property]:
        meta = asset.metadata
        pairs: list[tuple[str, object]] = [
            ("asset-id", asset.id),
            ("path", asset.path),
            ("format", asset.format),
            ("framework", asset.framework),
            ("library", meta.library),
            ("verdict", asset.verdict),
            ("severity", asset.severity.label),
            ("findings", len(asset.findings)),
            ("incomplete", asset.incomplete or None),
            ("integrity", _integrity(asset.files)),
            ("parameters", meta.parameters),
            ("size", asset.size),
            ("files", len(asset.files)),
            ("unscanned-files", sum(f.scan_status is None for f in asset.files) or None),
            ("hash-method", hash_method),
            ("card", meta.card),
            ("remote-code", meta.remote_code or None),
        ]
        if asset.kind == "dataset":  # models carry these in their model card
            pairs += [("architecture", meta.architecture), ("task", meta.task)]
            pairs += [("dataset", d) for d in meta.datasets]
        if hub is not None:
            pairs += [("hf:repo-type", hub.repo_type), ("hf:repo-id", hub.repo_id), ("hf:revision", hub.revision)]
            pairs += [("hf:ref", r) for r in hub.refs]
        pairs += [("language", lang) for lang in meta.languages]
        pairs += [(f"extra:{k}", v) for k, v in meta.extra]
        if len(asset.files) == 1:
            f = asset.files[0]
            pairs += [("file", f.rel), ("scan-status", f.scan_status)]
        return _props(pairs)

    def _file_component(self, parent_ref: str, f: AssetFile) -> Component:
        return Component(
            type=ComponentType.FILE, name=f.rel, bom_ref=f"{parent_ref}/file:{f.rel}", hashes=_sha256(f.sha256),
            properties=_props([
                ("size", f.size),
                ("format", f.format),
                ("severity", f.severity.label if f.severity > Severity.NONE else None),
                ("scan-status", f.scan_status),
                ("integrity", f.integrity),
            ]),
        )

    def _base_component(self, parent_ref: str, base: str) -> Component:
        parts = split_hub_id(base)
        group, name = parts if parts is not None else (None, base)
        external = []
        if parts is not None:
            external.append(ExternalReference(type=ExternalReferenceType.WEBSITE, url=XsUri(_hub_url(base, "model"))))
        return Component(
            type=ComponentType.MACHINE_LEARNING_MODEL, name=name, group=group, bom_ref=f"{parent_ref}/base:{base}",
            purl=hf_purl(base) if parts is not None else None, external_references=external,
            properties=_props([("hf:repo-id", base if parts is not None else None), ("base-model", base)]),
        )

    def _dataset_ref(self, dataset_id: str) -> str:
        """The ``bom-ref`` standing for a dataset a card names, creating a shared ``data`` component once."""
        known = self.dataset_refs.get(dataset_id)
        if known is not None:
            return known
        ref = hub_dataset_ref(dataset_id)
        parts = split_hub_id(dataset_id)
        group, name = parts if parts is not None else (None, dataset_id)
        entry: dict[str, Any] = {"type": "dataset", "name": dataset_id}
        external = []
        if parts is not None:
            url = _hub_url(dataset_id, "dataset")
            entry["contents"] = {"url": url}
            external.append(ExternalReference(type=ExternalReferenceType.WEBSITE, url=XsUri(url)))
        self.components.append(Component(
            type=ComponentType.DATA, name=name, group=group, bom_ref=ref,
            purl=hf_purl(dataset_id, repo_type="dataset") if parts is not None else None,
            external_references=external, properties=_props([("named-by-card", True)]),
        ))
        self.extras.data[ref] = [entry]
        self.dataset_refs[dataset_id] = ref
        return ref

    def _lineage_ref(self, ref: DatasetRef) -> str:
        """The ``bom-ref`` of a recorded training dataset: a ``data`` component with the lock root as its hash."""
        bom_ref = f"dataset-lineage:{lineage_key(ref)}"
        if bom_ref in self.extras.data:
            return bom_ref
        parts = split_hub_id(ref.name)
        group, name = parts if parts is not None else (None, ref.name)
        entry: dict[str, Any] = {"type": "dataset", "name": ref.name}
        url = dataset_url(ref)
        if url is not None:
            entry["contents"] = {"url": url}
        elif parts is not None:
            entry["contents"] = {"url": _hub_url(ref.name, "dataset")}
        self.components.append(Component(
            type=ComponentType.DATA, name=name, group=group, bom_ref=bom_ref,
            purl=hf_purl(ref.name, repo_type="dataset") if parts is not None else None,
            hashes=_sha256(ref.lock_root) if ref.lock_root else [],
            properties=[Property(name=n, value=v) for n, v in lineage_pairs(ref) if v],
        ))
        self.extras.data[bom_ref] = [entry]
        return bom_ref

    def _model_card(self, asset: Asset) -> dict[str, Any]:
        meta = asset.metadata
        params: dict[str, Any] = {}
        if meta.task:
            params["task"] = meta.task
        family = dict(meta.extra).get("model_type")
        if family:
            params["architectureFamily"] = family
        if meta.architecture:
            params["modelArchitecture"] = meta.architecture
        linked = model_lineage(asset, self.lineage)
        by_name = {r.name for r in linked}
        refs = [self._dataset_ref(d) for d in dict.fromkeys(meta.datasets) if d not in by_name]
        refs += [self._lineage_ref(r) for r in linked]
        if refs:
            params["datasets"] = [{"ref": r} for r in dict.fromkeys(refs)]
        card: dict[str, Any] = {}
        if params:
            card["modelParameters"] = params
        if meta.parameters is not None:
            card["properties"] = [{"name": f"{NS}:parameters", "value": str(meta.parameters)}]
        return card

    # -- vulnerabilities

    def _vulnerabilities(self, asset: Asset) -> Iterator[Vulnerability]:
        """One vulnerability per distinct finding of the asset (same rule and fingerprint: one entry)."""
        source = VulnerabilitySource(name=NS)
        for g in finding_groups(asset):
            yield Vulnerability(
                bom_ref=f"{asset_ref(asset)}/vuln:{g.id}", id=g.id, source=source,
                ratings=[VulnerabilityRating(source=source, severity=_SEVERITY[g.severity],
                                             method=VulnerabilityScoreSource.OTHER)],
                cwes=[g.cwe] if g.cwe is not None else None,
                description=g.summary,
                detail=g.detail,
                recommendation=g.rule.fix if g.rule is not None else None,
                affects=[BomTarget(ref=asset_ref(asset))],
                properties=_props([
                    ("rule", g.first.rule_id),
                    ("rule-name", g.rule.name if g.rule is not None else None),
                    ("fingerprint", g.first.fingerprint),
                    ("confidence", g.first.confidence.label),
                    *(("location", loc) for loc in g.locations),
                ]),
            )


# ------------------------------------------------------------------------------------------------ public API


def build_bom(assets: Sequence[Asset], run: InventoryRun | None = None, *,
              serial_number: uuid.UUID | None = None, timestamp: datetime | None = None,
              lineage: Lineage | None = None) -> Bom:
    """The cyclonedx-python-lib model of the BOM (without ``modelCard``/``data``: see the module doc).

    ``serial_number`` and ``timestamp`` default to a fresh UUID and the run's end (or now); tests pass fixed
    values to get byte-identical documents.
    """
    return _Builder(assets, run, serial_number, timestamp, lineage).build()[0]


def bom_json(assets: Sequence[Asset], run: InventoryRun | None = None, *,
             serial_number: uuid.UUID | None = None, timestamp: datetime | None = None,
             indent: int | None = 2, lineage: Lineage | None = None) -> str:
    """The CycloneDX 1.6 JSON document, validated: raises :class:`BomValidationError` rather than return
    a document the schema rejects. ``lineage``: recorded training datasets per model (see :mod:`.lineage`)."""
    bom, extras = _Builder(assets, run, serial_number, timestamp, lineage).build()
    doc = json.loads(JsonV1Dot6(bom).output_as_string())
    _apply_extras(doc, extras)
    # The library writes $schema/bomFormat/specVersion last; readers (and diffs) expect them first.
    head = ("$schema", "bomFormat", "specVersion", "serialNumber", "version", "metadata")
    doc = {**{k: doc[k] for k in head if k in doc}, **{k: v for k, v in doc.items() if k not in head}}
    text = json.dumps(_clean(doc), indent=indent, ensure_ascii=False) + "\n"
    errors = validate_bom(text)
    if errors:
        raise BomValidationError(errors)
    return text


def _apply_extras(doc: dict[str, Any], extras: _Extras) -> None:
    """Attach ``modelCard`` and ``data`` to the serialised components they belong to (by ``bom-ref``)."""
    pending = set(extras.model_cards) | set(extras.data)
    for component in doc.get("components", []):
        ref = component.get("bom-ref")
        if ref in extras.model_cards:
            component["modelCard"] = extras.model_cards[ref]
        if ref in extras.data:
            component["data"] = extras.data[ref]
        pending.discard(ref)
    if pending:  # pragma: no cover - a programming error: every extra belongs to a top-level component
        raise BomValidationError([f"no component with bom-ref {r!r} for its modelCard/data" for r in sorted(pending)])


def _clean(value: Any) -> Any:
    """Make every string valid Unicode: undecodable path bytes (surrogate escapes) become ``\\xNN`` text."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        return value
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
