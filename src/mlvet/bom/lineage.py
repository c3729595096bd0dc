"""Training-data lineage in the BOMs: which recorded datasets a model was trained on, shared by both writers.

The CycloneDX writer lists them in ``modelCard.modelParameters.datasets`` as references to ``data`` components,
the SPDX writer as ``trainedOn`` relationships to ``dataset_DatasetPackage`` elements. A dataset pinned by a
lock (``mlvet data lock``) carries the lock's root digest as its SHA-256 — the identity of that exact version of
the data — so a consumer can tell "trained on the data we vetted" from "trained on something of that name".
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from mlvet.inventory.lineage import DatasetRef
from mlvet.inventory.model import Asset

__all__ = ["Lineage", "dataset_url", "lineage_key", "lineage_pairs", "model_lineage"]

#: Datasets per model path (and per ``id:<asset id>``), as :func:`mlvet.store.lineage.lineage_by_model` returns.
Lineage = Mapping[str, Sequence[DatasetRef]]


def model_lineage(asset: Asset, lineage: Lineage | None) -> list[DatasetRef]:
    """The model's lineage beyond its card's own ``datasets:`` list (which the writers already cover).

    Card-sourced references are dropped (the card list is the same facts); the rest are de-duplicated by
    (name, lock, digest), their sources merged.
    """
    if not lineage or asset.kind != "model":
        return []
    refs = [*lineage.get(asset.path, ()), *lineage.get(f"id:{asset.id}", ())]
    out: dict[str, DatasetRef] = {}
    for r in refs:
        if r.source == "model-card" and r.lock_root is None:
            continue
        key = lineage_key(r)
        if key in out:
            prev = out[key]
            sources = sorted(set(prev.source.split(",")) | {r.source})
            verified = prev.verified if r.verified is None else (r.verified and prev.verified is not False)
            out[key] = DatasetRef(prev.name, ",".join(sources), prev.uri or r.uri, prev.lock_root, prev.digest,
                                  prev.digest_kind, prev.detail or r.detail, verified)
        else:
            out[key] = r
    return list(out.values())


def lineage_key(ref: DatasetRef) -> str:
    """A stable short key for a dataset reference: the same data named the same way is one element."""
    material = "\0".join((ref.name, ref.lock_root or "", ref.digest or "", ref.uri or ""))
    return hashlib.sha256(material.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def dataset_url(ref: DatasetRef) -> str | None:
    """The reference's location as a URI (``file://`` for an absolute local path), or None."""
    uri = ref.uri
    if not uri:
        return None
    if os.path.isabs(uri):
        return Path(uri).as_uri()
    parts = urlsplit(uri)
    if parts.scheme and (parts.netloc or parts.path) and " " not in uri:
        return uri
    return None


def lineage_pairs(ref: DatasetRef) -> list[tuple[str, str | None]]:
    """``mlvet:*`` properties of a lineage dataset (None values are left out by the writers)."""
    return [
        ("mlvet:lineage-source", ref.source),
        ("mlvet:dataset-uri", ref.uri),
        ("mlvet:lock-root", ref.lock_root),
        ("mlvet:locked", "true" if ref.locked else "false"),
        ("mlvet:verified", None if ref.verified is None else ("true" if ref.verified else "false")),
        (f"mlvet:{ref.digest_kind}-digest" if ref.digest_kind else "mlvet:digest", ref.digest),
        ("mlvet:lineage-detail", ref.detail),
    ]
