"""The report card's moving parts: risk levels, the Check interface, its registry and the shared context.

Modelled on OpenSSF Scorecard: every check scores one property of a model 0–10 and explains itself; the
overall score is the mean of the check scores weighted by each check's *risk* (critical 10, high 7.5,
medium 5, low 2.5 by default, overridable in the policy's ``[score]`` table). A check that has nothing to
look at (no Hugging Face layout for the revision check, no hashes to compare for integrity) is
*inconclusive* (score ``None``) and left out of the mean, so a model is neither rewarded nor punished for
a property that does not apply to it. Absence of something a trustworthy model should have (a signature,
a licence, a card) is not inconclusive: it scores 0, because it is what the reader needs to know.

Adding a check is one module in :mod:`mlvet.trust.score.checks` that subclasses :class:`Check` and calls
:func:`register`, plus one line in that package's import list. Checks read everything through a
:class:`ScoreContext`, built once per target, whose expensive parts (the scan, the metadata, the
signature) are computed on first use and shared.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from mlvet.errors import MlvetError, UsageError
from mlvet.trust.score.settings import DEFAULT_WEIGHTS, score_settings

if TYPE_CHECKING:
    from mlvet.hfcache import HFRef
    from mlvet.inventory.lineage import DatasetRef
    from mlvet.inventory.model import AssetMetadata
    from mlvet.model import ScanReport
    from mlvet.policy import Policy


class Risk(str, Enum):
    """How much a failing check matters; maps to a weight through the policy (``[score].weights``)."""

    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @classmethod
    def parse(cls, text: str) -> Risk:
        """Parse a risk name (case-insensitive); raises ValueError listing the choices."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValueError(f"unknown risk {text!r}; choose one of: {', '.join(r.value for r in cls)}") from None


#: A risk override of this value takes a check out of the score entirely.
IGNORE = "ignore"


@dataclass(frozen=True)
class CheckResult:
    """One line of the report card."""

    name: str
    #: 0–10, or None when the check is inconclusive (left out of the overall score).
    score: int | None
    #: One sentence saying why, always present (also for inconclusive checks).
    reason: str
    #: Supporting facts (files, findings, fields), shown in the detailed views.
    details: tuple[str, ...] = ()
    risk: Risk = Risk.MEDIUM
    #: The weight this check carried (0 when ignored by the policy).
    weight: float = 0.0
    description: str = ""

    @property
    def inconclusive(self) -> bool:
        """True when the check could not decide (no score counted)."""
        return self.score is None


class Check(ABC):
    """A report-card check. Subclasses set the class attributes and implement :meth:`run`.

    ``run`` must not raise for bad *input* (adversarial files are normal); if it does anyway, the engine
    records the check as failed with score 0 rather than dropping it, so that crashing a check can never
    lift a model's score.
    """

    name: ClassVar[str]
    risk: ClassVar[Risk]
    description: ClassVar[str]

    @abstractmethod
    def run(self, ctx: ScoreContext) -> CheckResult:
        """Score the target; build the result with :meth:`result`."""

    def result(self, ctx: ScoreContext, score: int | None, reason: str, details: Iterable[str] = ()) -> CheckResult:
        """A :class:`CheckResult` for this check with the risk and weight the policy gives it."""
        if score is not None:
            score = max(0, min(10, int(score)))
        risk, weight = ctx.risk_and_weight(self)
        return CheckResult(self.name, score, reason, tuple(details), risk, weight, self.description)


_REGISTRY: dict[str, Check] = {}


def register(check: Check) -> Check:
    """Add a check to the report card (called at import time by each module in ``checks/``)."""
    if check.name in _REGISTRY and type(_REGISTRY[check.name]) is not type(check):
        raise ValueError(f"two report-card checks are named {check.name!r}")
    _REGISTRY[check.name] = check
    return check


def all_checks() -> tuple[Check, ...]:
    """Every registered check, most important first (by risk, then name), so every output lists them alike."""
    import mlvet.trust.score.checks  # noqa: F401  (registers the shipped checks)

    rank = {r: i for i, r in enumerate(Risk)}
    return tuple(sorted(_REGISTRY.values(), key=lambda c: (rank[c.risk], c.name)))


def check_names() -> frozenset[str]:
    """Names of all checks; the policy validates ``[score].risk`` keys against them."""
    return frozenset(c.name for c in all_checks())


# ---- the signature as the checks see it -----------------------------------------------------------------


@dataclass(frozen=True)
class SignatureStatus:
    """What the signing layer said, in one shape for both the keyless inspection and a keyed verification."""

    present: bool
    #: True when the signer was verified with a key/certificate the user supplied; None when not attempted.
    verified: bool | None
    #: True when the files match the signed manifest; None when that could not be determined.
    manifest_ok: bool | None
    reason: str
    signature: str | None = None
    method: str | None = None
    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    #: Set when the signing layer could not run at all (library missing, unreadable signature ...).
    error: str | None = None


# ---- context --------------------------------------------------------------------------------------------

#: Folders that hold tool state, not model content (git metadata, huggingface_hub local_dir bookkeeping).
_BOOKKEEPING_DIRS = (".git", os.path.join(".cache", "huggingface"))


class ScoreContext:
    """Everything the checks need about one target, computed lazily and at most once.

    ``target`` may be a file, a folder, a Hugging Face cache snapshot folder or a cache repository folder
    (``models--org--name``), which is resolved to the snapshot ``refs/main`` points to.
    """

    def __init__(
        self,
        target: str | os.PathLike[str],
        *,
        policy: Policy | None = None,
        public_key: str | None = None,
        signature: str | None = None,
        report: ScanReport | None = None,
        jobs: int = 1,
        db: str | None = None,
    ) -> None:
        from mlvet.policy import default_policy

        self.requested = os.fspath(target)
        if not os.path.lexists(self.requested):
            raise UsageError(f"no such file or directory: {self.requested}")
        self.notes: list[str] = []
        self.target = resolve_target(self.requested, self.notes)
        self.policy = policy or default_policy()
        #: The ``[score]`` settings, validated before any check runs (a typo is exit 4, not a silent default).
        self.settings = score_settings(self.policy)
        self.public_key = public_key
        self.signature_path = signature
        self.jobs = jobs
        self._report = report
        #: Inventory database URL whose lineage records (``mlvet data link``, inventory runs) count too.
        self.db = db

    # -- basic facts --------------------------------------------------------------------------------------

    @property
    def is_dir(self) -> bool:
        """True when the target is a folder."""
        return os.path.isdir(self.target)

    @cached_property
    def files(self) -> tuple[str, ...]:
        """Regular files of the target (symlinks to files included, as in HF snapshots), sorted, no tool state."""
        if not self.is_dir:
            return (self.target,)
        from mlvet.scanner import iter_files

        out = []
        for f in iter_files([self.target], self.policy.limits.max_files):
            rel = os.path.relpath(f, self.target)
            if any(rel == d or rel.startswith(d + os.sep) for d in _BOOKKEEPING_DIRS):
                continue
            out.append(f)
        return tuple(out)

    def rel(self, path: str) -> str:
        """Path relative to the target folder (the file name for a single-file target), with forward slashes."""
        if not self.is_dir:
            return os.path.basename(path)
        return Path(os.path.relpath(path, self.target)).as_posix()

    @cached_property
    def name(self) -> str:
        """Human name: the repository id for Hugging Face targets, else the file or folder name."""
        ref = self.hf_ref
        if ref is not None:
            return ref.repo_id
        return os.path.basename(os.path.abspath(self.target).rstrip(os.sep)) or self.target

    # -- the expensive parts -----------------------------------------------------------------------------

    @cached_property
    def report(self) -> ScanReport:
        """The scanner's verdict on every file of the target."""
        if self._report is not None:
            return self._report
        from mlvet.scanner import scan

        return scan([self.target], policy=self.policy, jobs=self.jobs)

    @cached_property
    def _metadata(self) -> tuple[AssetMetadata | None, str | None]:
        try:
            from mlvet.inventory.metadata import read_metadata
        except ImportError:  # pragma: no cover - the inventory ships with mlvet
            return None, "the metadata reader (mlvet.inventory.metadata) is not available"
        try:
            if self.is_dir:
                return read_metadata(self.target, [self.rel(f) for f in self.files]), None
            fmt = self.report.results[0].format if self.report.results else None
            return read_metadata(self.target, fmt=fmt), None
        except Exception as exc:  # an adversarial card must not take the report card down
            return None, f"metadata could not be read ({type(exc).__name__}: {exc})"

    @property
    def metadata(self) -> AssetMetadata | None:
        """What the card, configs and headers say (None when it could not be read; see ``metadata_error``)."""
        return self._metadata[0]

    @property
    def metadata_error(self) -> str | None:
        """Why the target's metadata could not be read, if it could not."""
        return self._metadata[1]

    @cached_property
    def signature(self) -> SignatureStatus:
        """The signature check: full verification when a public key was given, keyless inspection otherwise."""
        return _signature_status(self.target, self.signature_path, self.public_key)

    @cached_property
    def hf_ref(self) -> HFRef | None:
        """The Hugging Face cache coordinates of the target, if it sits in a cache snapshot."""
        from mlvet.hfcache import parse_hf_path

        return parse_hf_path(self.target)

    @cached_property
    def local_download(self) -> Mapping[str, tuple[str, str]]:
        """``huggingface_hub`` ``local_dir`` download records: file in repo → (commit hash, etag).

        ``hf_hub_download(local_dir=...)`` and ``snapshot_download(local_dir=...)`` keep, for each file,
        ``.cache/huggingface/download/<path>.metadata`` with the commit and the Hub's etag (the sha256 for
        LFS files, the git blob id otherwise): a record of where the file came from and what it was.
        """
        if not self.is_dir:
            return {}
        base = Path(self.target, ".cache", "huggingface", "download")
        if not base.is_dir():
            return {}
        out: dict[str, tuple[str, str]] = {}
        for dirpath, _dirs, names in os.walk(base):
            for n in names:
                if not n.endswith(".metadata") or len(out) >= self.policy.limits.max_files:
                    continue
                p = Path(dirpath, n)
                try:
                    if p.stat().st_size > 4096:
                        continue
                    lines = p.read_text(encoding="utf-8", errors="replace").splitlines()
                except OSError:
                    continue
                if len(lines) >= 2:
                    rel = p.relative_to(base).as_posix()[: -len(".metadata")]
                    out[rel] = (lines[0].strip(), lines[1].strip())
        return out

    @cached_property
    def lineage(self) -> list[DatasetRef]:
        """The datasets the model names or was linked to: found statically, plus the database's records.

        A database that cannot be read is an error (exit 4 from the CLI), never "no lineage".
        """
        from mlvet.inventory.lineage import discover_lineage

        refs = discover_lineage(self.target, self.metadata, list(self.files))
        if self.db is not None:
            from mlvet.store import Store
            from mlvet.store.lineage import lineage_of

            with Store(self.db, read_only=True) as store:
                paths = dict.fromkeys((os.path.abspath(self.requested), os.path.abspath(self.target)))
                for path in paths:
                    refs = lineage_of(store, path) + refs
        return refs

    # -- policy -------------------------------------------------------------------------------------------

    def risk_and_weight(self, check: Check) -> tuple[Risk, float]:
        """The risk the policy assigns to ``check`` (its own unless overridden) and that risk's weight."""
        override = self.settings.risks.get(check.name)
        if override == IGNORE:
            return check.risk, 0.0
        risk = Risk.parse(override) if override else check.risk
        return risk, float(self.settings.weights.get(risk.value, DEFAULT_WEIGHTS[risk.value]))


def resolve_target(path: str, notes: list[str]) -> str:
    """Map a Hugging Face cache *repository* folder to one of its snapshots; anything else is unchanged."""
    from mlvet.hfcache import parse_hf_path, read_refs

    ref = parse_hf_path(path)
    if ref is None or ref.revision is not None or ref.blob is not None:
        return path
    if os.path.abspath(ref.cache_dir) != os.path.abspath(path):
        return path
    snapshots = Path(path, "snapshots")
    revs = sorted(p.name for p in snapshots.iterdir()) if snapshots.is_dir() else []
    if not revs:
        raise UsageError(f"{path} is a Hugging Face cache folder without snapshots")
    refs = read_refs(path)
    main = refs.get("main")
    if main in revs:
        notes.append(f"scored the snapshot refs/main points to ({main})")
        return str(snapshots / main)
    if len(revs) == 1:
        notes.append(f"scored the only snapshot ({revs[0]})")
        return str(snapshots / revs[0])
    raise UsageError(
        f"{path} holds several snapshots and no refs/main; score one of: "
        + ", ".join(str(snapshots / r) for r in revs)
    )


def _signature_status(target: str, signature: str | None, public_key: str | None) -> SignatureStatus:
    """Ask the signing layer; an unavailable or failing layer is a clear status, never an exception."""
    try:
        from mlvet.trust import signing
    except ImportError as exc:
        return SignatureStatus(False, None, None, "", error=f"signature support is unavailable ({exc})")
    if public_key is not None:
        try:
            res = signing.verify(target, "key", signature=signature, public_key=public_key)
        except Exception as exc:  # verification could not run: say whether there was anything to verify
            why = exc.diagnostics() if isinstance(exc, MlvetError) else f"{type(exc).__name__}: {exc}"
            try:
                present = bool(signing.inspect_signature(target, signature=signature).present)
            except Exception:
                present = signature is not None
            if not present:
                return SignatureStatus(False, None, None, f"no signature to verify ({why})")
            return SignatureStatus(True, False, None, f"verification failed: {why}", signature, "key")
        ok = bool(res.ok)
        tampered = bool(res.changed or res.missing or res.extra)
        return SignatureStatus(
            True, ok, True if ok else (False if tampered else None), res.reason, res.signature, res.method,
            tuple(res.changed), tuple(res.missing), tuple(res.extra),
        )
    try:
        info = signing.inspect_signature(target, signature=signature)
    except Exception as exc:
        why = exc.diagnostics() if isinstance(exc, MlvetError) else f"{type(exc).__name__}: {exc}"
        return SignatureStatus(False, None, None, "", error=why)
    return SignatureStatus(
        bool(info.present), None, info.manifest_ok, info.reason, info.signature, info.method_hint,
        tuple(info.changed), tuple(info.missing), tuple(info.extra),
    )


# ---- the card -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cap:
    """Why the overall score was limited."""

    limit: float
    severity: str
    reason: str


@dataclass(frozen=True)
class ScoreCard:
    """The report card for one target: the checks, the weighted mean and any cap applied to it."""

    target: str
    name: str
    score: float
    #: The weighted mean before any cap.
    uncapped_score: float
    checks: tuple[CheckResult, ...]
    generated_at: datetime
    tool_version: str
    weights: Mapping[str, float]
    cap: Cap | None = None
    hub: Mapping[str, object] | None = None
    scan: Mapping[str, object] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    policy_sources: tuple[str, ...] = ()

    @property
    def inconclusive(self) -> tuple[str, ...]:
        """The checks that could not decide."""
        return tuple(c.name for c in self.checks if c.score is None)


def aggregate(checks: Sequence[CheckResult]) -> float:
    """Weighted mean of the conclusive checks, rounded to one decimal; 0.0 when nothing could be scored.

    Nothing scored means nothing was established about the model: that is no reason for confidence.
    """
    scored = [(c.score, c.weight) for c in checks if c.score is not None and c.weight > 0]
    total = sum(w for _s, w in scored)
    if total <= 0:
        return 0.0
    return round(sum(s * w for s, w in scored) / total, 1)
