"""ML asset inventory: discovery, grouping, fingerprints and change tracking.

The result model is :mod:`mlvet.inventory.model`; :func:`run_inventory` is the whole job (discover,
fingerprint, scan, compare with the previous run over the same roots, record) and what ``mlvet inventory``
calls.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlvet.inventory.model import Asset, Changes, InventoryRun
    from mlvet.store import Store

__all__ = ["run_inventory"]


def run_inventory(paths: Sequence[str], store: Store, *, hf_cache: bool = False, rescan: bool = False,
                  policy: Any = None, jobs: int = 1, progress: Any = None, engine: Any = None,
                  ) -> tuple[InventoryRun, list[Asset], Changes, list[Asset]]:
    """Inventory ``paths``, record the run in ``store`` and return (run, assets, changes, previous assets).

    Changes are computed against the latest earlier run over exactly the same roots (so inventories of
    different trees in one database do not report each other's assets as removed). The previous assets
    are returned so a caller can name removed ones. The run records the digest of the policy it scanned with,
    so that a later run under another policy scans again instead of reusing these results.
    """
    from mlvet.inventory.changes import compute_changes
    from mlvet.inventory.discover import inventory, resolve_roots
    from mlvet.policy import default_policy
    from mlvet.policy.digest import policy_digest
    from mlvet.store.results import set_run_policy_digest

    policy = policy if policy is not None else default_policy()
    digest = policy_digest(policy)
    roots = resolve_roots(paths, hf_cache=hf_cache)
    prev_run = store.previous_run(roots)
    previous = store.assets_of_run(prev_run.id) if prev_run is not None and prev_run.id is not None else []
    run, assets = inventory(paths, store=store, hf_cache=hf_cache, rescan=rescan, policy=policy, jobs=jobs,
                            progress=progress, previous=(prev_run, previous), engine=engine,
                            policy_digest=digest)
    changes = compute_changes(previous, assets)
    recorded = store.record_run(run, assets, changes)
    if recorded.id is not None:
        set_run_policy_digest(store, recorded.id, digest)
    _record_lineage(store, assets)
    return recorded, assets, changes, previous


def _record_lineage(store: Store, assets: Sequence[Asset]) -> None:
    """Record the training data each model names (card, MLflow run, Lightning hparams): see inventory.lineage."""
    from mlvet.inventory.lineage import discover_lineage
    from mlvet.store.lineage import record_discovered

    record_discovered(store, [(a, discover_lineage(a.path, a.metadata, [f.path for f in a.files]))
                              for a in assets if a.kind == "model"])
