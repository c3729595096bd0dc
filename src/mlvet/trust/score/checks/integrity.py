"""integrity: the files still match the hashes they were published under.

Three independent records can say what a file should be: the Hugging Face cache names each blob by its
hash; ``huggingface_hub`` ``local_dir`` downloads keep the Hub's etag (sha256 for LFS files, git blob id
otherwise) next to each file; a model signature carries a manifest of file digests. Any mismatch scores
0; when none of these records exists the check is inconclusive — nothing published to compare with.
"""

from __future__ import annotations

import hashlib
import os
import re

from mlvet.trust.score.base import Check, CheckResult, Risk, ScoreContext, register

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")


def _etag_matches(path: str, etag: str) -> bool | None:
    """Compare a file with a Hub etag; None when the etag is not a content hash."""
    etag = etag.strip().strip('"').removeprefix("W/").strip('"').lower()
    if _SHA256.match(etag):
        h = hashlib.sha256()
    elif _SHA1.match(etag):
        h = hashlib.sha1(usedforsecurity=False)  # git blob id, not a security primitive here
        h.update(b"blob %d\x00" % os.path.getsize(path))
    else:
        return None
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest() == etag


class Integrity(Check):
    """Files whose bytes do not match the hub's recorded hashes (cache blobs, LFS pointers)."""
    name = "integrity"
    risk = Risk.HIGH
    description = ("Files are compared with the hashes they were published under: Hugging Face cache blob "
                   "names, local_dir download records and the signature's manifest.")

    def run(self, ctx: ScoreContext) -> CheckResult:
        ok: list[str] = []
        bad: list[str] = []
        unknown: list[str] = []
        sources: list[str] = []
        if ctx.hf_ref is not None:
            from mlvet.hfcache import blob_integrity

            sources.append("Hugging Face cache blob names")
            for f in ctx.files:
                res = blob_integrity(f)
                if res.status == "ok":
                    ok.append(f"{ctx.rel(f)}: {res.algorithm} matches the blob name")
                elif res.status == "mismatch":
                    bad.append(f"{ctx.rel(f)}: content {res.algorithm} {res.actual} ≠ blob name {res.expected}")
                else:
                    unknown.append(f"{ctx.rel(f)}: not a hash-named blob (copied file?)")
        records = ctx.local_download
        if records:
            sources.append("local_dir download records")
            for f in ctx.files:
                rec = records.get(ctx.rel(f))
                if rec is None:
                    unknown.append(f"{ctx.rel(f)}: no download record")
                    continue
                try:
                    match = _etag_matches(f, rec[1])
                except OSError as exc:
                    unknown.append(f"{ctx.rel(f)}: unreadable ({exc.strerror or exc})")
                    continue
                if match is None:
                    unknown.append(f"{ctx.rel(f)}: etag {rec[1]!r} is not a content hash")
                elif match:
                    ok.append(f"{ctx.rel(f)}: matches its download etag")
                else:
                    bad.append(f"{ctx.rel(f)}: differs from the etag recorded at download ({rec[1]})")
        sig = ctx.signature
        if sig.present and sig.manifest_ok is not None:
            sources.append("signature manifest")
            if sig.manifest_ok:
                ok.append("every file matches the signature's manifest")
            else:
                bad += [f"{p}: changed since signing" for p in sig.changed]
                bad += [f"{p}: signed but missing" for p in sig.missing]
                bad += [f"{p}: present but not signed" for p in sig.extra]
                if not (sig.changed or sig.missing or sig.extra):
                    bad.append(f"the signature's manifest does not match: {sig.reason}")
        details = bad + ok + unknown
        if bad:
            return self.result(ctx, 0, f"files not matching their published hash: {len(bad)} "
                                       f"({', '.join(sources)})", details)
        if not ok:
            return self.result(ctx, None, "no published hashes to compare with (not a Hugging Face cache or "
                                          "local_dir download, and no signature manifest)", details)
        if unknown and not (sig.present and sig.manifest_ok):
            return self.result(ctx, 8, f"files matching their published hash: {len(ok)}; {len(unknown)} could not "
                                       f"be checked ({', '.join(sources)})", details)
        return self.result(ctx, 10, f"every file matches its published hash ({', '.join(sources)})", details)


register(Integrity())
