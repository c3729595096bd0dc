"""pinned_revision: the model is identified by an immutable revision, not a branch that can move.

In a Hugging Face cache every snapshot is a commit, but ``refs/main`` naming that commit means it was
fetched by a branch: the next ``from_pretrained("org/name")`` loads whatever was pushed since, so a
reviewed model can be swapped under its users. huggingface_hub writes no ref when a download names a
commit hash, so a snapshot no ref points to was pinned. ``local_dir`` downloads record the commit of
every file; files from different commits mean a partial update. Outside these layouts the revision
cannot be known: inconclusive.
"""

from __future__ import annotations

from mlvet.trust.score.base import Check, CheckResult, Risk, ScoreContext, register


class PinnedRevision(Check):
    """Whether the model is pinned to a commit rather than a moving branch."""
    name = "pinned_revision"
    risk = Risk.MEDIUM
    description = "The model was fetched by commit hash (pinned), not through a branch such as main that can move."

    def run(self, ctx: ScoreContext) -> CheckResult:
        ref = ctx.hf_ref
        if ref is not None and ref.revision:
            from mlvet.hfcache import read_refs

            others = {name: c for name, c in read_refs(ref.cache_dir).items() if c != ref.revision}
            details = [f"repository: {ref.repo_id}", f"snapshot commit: {ref.revision}"]
            details += [f"ref {r} → this commit" for r in ref.refs]
            details += [f"ref {r} → {c}" for r, c in sorted(others.items())]
            if ref.refs:
                refs = f"ref{'s' if len(ref.refs) > 1 else ''} {', '.join(ref.refs)}"
                return self.result(ctx, 6, f"commit {ref.revision[:12]} was fetched through the moving "
                                           f"{refs}; pin revision=\"{ref.revision}\" so an "
                                           "upstream push cannot change what you load", details)
            return self.result(ctx, 10, f"pinned to commit {ref.revision[:12]} (no branch points to this snapshot)",
                               details)
        records = ctx.local_download
        if records:
            commits = sorted({c for c, _e in records.values()})
            details = [f"{path}: commit {c}" for path, (c, _e) in sorted(records.items())][:30]
            if len(commits) == 1:
                return self.result(ctx, 10, f"every file was downloaded from commit {commits[0][:12]}", details)
            return self.result(ctx, 3, f"files come from {len(commits)} different commits: a partial update",
                               details)
        return self.result(ctx, None, "not a Hugging Face cache snapshot or local_dir download: the revision "
                                      "cannot be determined")


register(PinnedRevision())
