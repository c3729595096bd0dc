"""data_integrity: the model's training data is known, pinned by a lock, and was verified against it.

A card that names its datasets says *what* the model was trained on; only a lock (``mlvet data lock``) says
*which version* of it, and only a verification says the data used matched the data vetted — the defence
against split-view poisoning (Carlini et al., 2023). The facts come from the model's card, its MLflow run
inputs, Lightning hyper-parameters and, with ``mlvet score --db``, the links recorded by ``mlvet data link``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlvet.trust.score.base import Check, CheckResult, Risk, ScoreContext, register


@dataclass
class _Dataset:
    """What all references to one dataset name say together."""

    sources: set[str] = field(default_factory=set)
    lock: str | None = None
    verified: bool | None = None


class DataIntegrity(Check):
    """Training data known (3 points), locked (up to 4 more) and verified (up to 3 more)."""
    name = "data_integrity"
    risk = Risk.LOW
    description = ("Training data a reviewer can trust: the datasets are named (card, MLflow run, Lightning "
                   "hyper-parameters, mlvet data link), pinned by a lock's root digest, and verified against it.")

    def run(self, ctx: ScoreContext) -> CheckResult:
        refs = ctx.lineage
        if not refs:
            return self.result(ctx, 0, "training data unknown: no card datasets, MLflow run inputs, Lightning data "
                                       "hyper-parameters or recorded data link")
        merged: dict[str, _Dataset] = {}
        for r in refs:
            entry = merged.setdefault(r.name, _Dataset())
            entry.sources.add(r.source)
            if r.lock_root and entry.lock is None:
                entry.lock = r.lock_root
            if r.verified is False or (r.verified is True and entry.verified is None):
                entry.verified = r.verified
        n = len(merged)
        locked = sum(e.lock is not None for e in merged.values())
        verified = sum(e.verified is True for e in merged.values())
        failed = [name for name, e in merged.items() if e.verified is False]
        details = []
        for name, e in sorted(merged.items()):
            state = ("DOES NOT MATCH its lock" if e.verified is False else "verified" if e.verified else
                     "not verified" if e.lock else "not locked")
            lock = f"lock sha256:{e.lock[:16]}…, " if e.lock else ""
            details.append(f"{name} ({', '.join(sorted(e.sources))}; {lock}{state})")
        if failed:
            return self.result(ctx, 1, f"training data changed since it was locked: {', '.join(sorted(failed))}",
                               details)
        score = 3 + round(4 * locked / n) + round(3 * verified / n)
        if verified == n:
            return self.result(ctx, score, f"all {n} training dataset(s) are locked and verified", details)
        if locked == 0:
            return self.result(ctx, score, f"{n} training dataset(s) named but none is pinned by a lock "
                                           "(mlvet data lock, mlvet data link --lock)", details)
        return self.result(ctx, score, f"{locked} of {n} training dataset(s) locked, {verified} verified", details)


register(DataIntegrity())
