"""signature: an OpenSSF model-signing signature is present and matches the files."""

from __future__ import annotations

from mlvet.trust.score.base import Check, CheckResult, Risk, ScoreContext, register
from mlvet.words import plural


class Signature(Check):
    """An OpenSSF model signature next to the model, and whether its manifest matches the files."""
    name = "signature"
    risk = Risk.HIGH
    description = ("A model signature (OpenSSF model signing) proves the files are the ones the publisher "
                   "released. Full marks need the signer verified with a key (--public-key).")

    def run(self, ctx: ScoreContext) -> CheckResult:
        sig = ctx.signature
        details = [f"signature: {sig.signature}"] if sig.signature else []
        if sig.method:
            details.append(f"method: {sig.method}")
        details += [f"changed: {p}" for p in sig.changed] + [f"missing: {p}" for p in sig.missing]
        details += [f"not in the signature: {p}" for p in sig.extra]
        if sig.reason:
            details.append(sig.reason)
        if sig.error is not None:
            # Fail closed: a signature that cannot be checked proves nothing, but say so rather than "absent".
            return self.result(ctx, 0, f"signatures could not be checked: {sig.error}", details)
        if not sig.present:
            return self.result(ctx, 0, "no signature: nothing proves these are the files the publisher released",
                               details)
        if sig.verified:
            return self.result(ctx, 10, "signature verified with the given key; every file matches it", details)
        if sig.verified is False:
            return self.result(ctx, 0, f"signature verification failed: {sig.reason}", details)
        if sig.manifest_ok:
            # Integrity without authenticity: whoever replaced the files could also have re-signed them.
            return self.result(ctx, 8, "files match the signed manifest, but the signer was not verified "
                                       "(pass --public-key to verify it)", details)
        if sig.manifest_ok is False:
            n = len(sig.changed) + len(sig.missing) + len(sig.extra)
            return self.result(ctx, 0, f"signature present but {plural(n, 'file')} differ{'s' if n == 1 else ''} "
                                       "from what was signed", details)
        return self.result(ctx, 0, f"signature present but could not be checked: {sig.reason}", details)


register(Signature())
