"""Change tracking between two inventory runs over the same roots.

An asset is identified across runs by its grouping key (:func:`mlvet.inventory.model.asset_id`): the
path of a file or folder, or ``repo id @ revision`` for Hugging Face snapshots (so a new revision of a
repository is a new asset and the old snapshot, once deleted, is "removed"). "Changed" means the content
hash differs: any file's bytes, or the set of file names. "Worse" compares verdicts: a higher severity, or
the same severity with a file that can no longer be fully analysed.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlvet.inventory.model import Asset, Changes


def _rank(a: Asset) -> tuple[int, int]:
    return int(a.severity), int(a.incomplete)


def compute_changes(previous: Sequence[Asset], current: Sequence[Asset]) -> Changes:
    """What is new, changed, removed and worse in ``current`` relative to ``previous`` (lists of asset ids)."""
    before = {a.id: a for a in previous}
    after = {a.id: a for a in current}
    new = sorted(i for i in after if i not in before)
    removed = sorted(i for i in before if i not in after)
    common = sorted(i for i in after if i in before)
    changed = [i for i in common if after[i].content_hash != before[i].content_hash]
    worse = [i for i in common if _rank(after[i]) > _rank(before[i])]
    return Changes(new=tuple(new), changed=tuple(changed), removed=tuple(removed), worse=tuple(worse))
