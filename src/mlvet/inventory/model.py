"""The inventory's result model: assets (models and datasets), their files and metadata, runs, changes.

One model shared by discovery (:mod:`mlvet.inventory.discover`), the database (:mod:`mlvet.store`),
the ML-BOM writer (:mod:`mlvet.bom`) and the report card (:mod:`mlvet.trust.score`). Immutable, like
:mod:`mlvet.model`; the scan verdict is carried as the scanner's own :class:`~mlvet.model.Finding` objects
so that nothing is re-interpreted on the way to a BOM or a database row.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from mlvet.model import Finding, Severity

AssetKind = Literal["model", "dataset"]


@dataclass(frozen=True)
class AssetFile:
    """One file of an asset, fingerprinted."""

    #: Absolute path on disk (as the user named it; symlinks in HF snapshots are not resolved).
    path: str
    #: Path relative to the asset's root ("model.safetensors", "1/tokenizer.json"); the file name for
    #: single-file assets.
    rel: str
    size: int
    sha256: str
    #: Content format as the scanner identified it ("safetensors", "pytorch-zip", "parquet", ...).
    format: str | None = None
    #: Highest severity the scanner reported for this file.
    severity: Severity = Severity.NONE
    #: "scanned", "skipped", "error" (scanner status) or None when the file was not scanned.
    scan_status: str | None = None
    #: HF cache blob check: "ok", "mismatch", "unknown" or None when not in a cache.
    integrity: str | None = None


@dataclass(frozen=True)
class HubRef:
    """Hugging Face repository coordinates of an asset from a cache snapshot or a hub-style folder."""

    repo_type: str
    repo_id: str
    revision: str | None = None
    refs: tuple[str, ...] = ()


@dataclass(frozen=True)
class AssetMetadata:
    """What headers, configs and the model/dataset card say about an asset. Every field may be unknown."""

    #: Architecture name(s): config.json ``architectures`` / ``model_type``, GGUF ``general.architecture``,
    #: Keras class name, sklearn estimator class ...
    architecture: str | None = None
    #: Parameter (tensor element) count summed from headers (safetensors, GGUF, ONNX initializers, ...).
    parameters: int | None = None
    #: Task: card ``pipeline_tag`` or config-derived ("text-generation", "image-classification", ...).
    task: str | None = None
    #: SPDX id or name as declared (card ``license``/``license_name``, GGUF ``general.license``).
    license: str | None = None
    #: Base model repo ids (card ``base_model``), the model's lineage.
    base_models: tuple[str, ...] = ()
    #: Training/eval dataset ids (card ``datasets``).
    datasets: tuple[str, ...] = ()
    #: Library/framework the card or files name ("transformers", "sklearn", "keras", "gguf", ...).
    library: str | None = None
    languages: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    #: A README.md model/dataset card exists.
    card: bool = False
    #: Card sections present (lower-cased headings), used for card completeness.
    card_sections: tuple[str, ...] = ()
    #: The repo asks for remote code (``auto_map`` in config.json or similar).
    remote_code: bool = False
    #: Free-form extras worth keeping (e.g. "quantization": "Q4_K_M", "dtype": "bfloat16").
    extra: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Asset:
    """A model or dataset as a user thinks of it: one HF snapshot, one .pt file, one MLflow folder ..."""

    #: Stable identity across runs: derived from the grouping key (see :func:`asset_id`).
    id: str
    kind: AssetKind
    #: Human name: repo id for HF assets, folder or file name otherwise.
    name: str
    #: Root path: the file itself for single-file assets, the folder otherwise.
    path: str
    #: Principal format ("safetensors", "pytorch-zip", "gguf", "keras", "mlflow", "parquet", ...).
    format: str
    #: Framework ("pytorch", "transformers", "tensorflow", "keras", "sklearn", "onnx", "llama.cpp", ...).
    framework: str | None
    files: tuple[AssetFile, ...]
    hub: HubRef | None = None
    metadata: AssetMetadata = field(default_factory=AssetMetadata)
    #: Findings from scanning the asset's files (the scanner's own objects).
    findings: tuple[Finding, ...] = ()
    #: True when a file could not be fully analysed (scanner status error).
    incomplete: bool = False

    @property
    def severity(self) -> Severity:
        """Highest finding severity (``none`` when clean)."""
        return max((f.severity for f in self.findings), default=Severity.NONE)

    @property
    def verdict(self) -> str:
        """"clean", "incomplete" or the highest severity label: what a gate or a dashboard shows.

        An asset that could not be fully analysed is ``incomplete`` unless a finding of high severity or
        more already condemns it: a file the scanner gave up on often carries the medium finding that says
        why (a malformed pickle), and "medium" would read as "analysed, moderately risky". A high or
        critical asset that is also incomplete keeps its severity here (the stronger statement for a
        gate) and :attr:`incomplete` stays true; human outputs show both (see :func:`verdict_text`).
        """
        if self.incomplete and self.severity < Severity.HIGH:
            return "incomplete"
        if self.findings:
            return self.severity.label
        return "clean"

    @property
    def content_hash(self) -> str:
        """sha256 over the sorted (relative path, sha256) pairs: changes when any file's content or name does."""
        h = hashlib.sha256()
        for f in sorted(self.files, key=lambda f: f.rel):
            h.update(f"{f.rel}\0{f.sha256}\n".encode("utf-8", "surrogateescape"))
        return h.hexdigest()

    @property
    def size(self) -> int:
        """Total bytes of the asset's files."""
        return sum(f.size for f in self.files)


def verdict_text(asset: Asset) -> str:
    """The verdict as people read it: :attr:`Asset.verdict`, plus ", incomplete" when a high or critical
    asset was also not fully analysed, so incompleteness is never hidden in a human output."""
    v = asset.verdict
    return f"{v}, incomplete" if asset.incomplete and v != "incomplete" else v


def asset_id(key: str) -> str:
    """The stable id for a grouping key such as ``hf:model:org/name@<rev>`` or ``path:/abs/model.pt``."""
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()[:16]


@dataclass(frozen=True)
class InventoryRun:
    """One ``mlvet inventory`` invocation."""

    started_at: datetime
    finished_at: datetime
    roots: tuple[str, ...]
    tool_version: str
    #: Database id once recorded.
    id: int | None = None
    host: str | None = None
    files_seen: int = 0
    files_hashed: int = 0


@dataclass(frozen=True)
class Changes:
    """What differs from the previous run over the same roots. Each list names asset ids."""

    new: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    #: Assets whose verdict got worse (higher severity, or clean → incomplete).
    worse: tuple[str, ...] = ()
