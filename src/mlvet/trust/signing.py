"""Signing and verification of model files and folders in the OpenSSF model-signing format.

Why a layer over ``model_signing`` rather than our own signer: the format (a Sigstore bundle whose DSSE
envelope carries an in-toto statement listing every file's digest) is only worth having if signatures
made here verify with the ``model_signing`` CLI and the other way round. So every cryptographic step --
hashing the model, signing, checking the key, the certificate chain or the Sigstore identity -- is
``model_signing``'s own, configured exactly as its CLI configures it (same git paths ignored, the
signature file itself left out of the manifest when it lies inside the model folder). One deliberate
difference: the default signature goes next to the model (``<folder>/model.sig``, ``<file>.sig``), not
to ``model.sig`` in the working directory, where signing a second model overwrote the first's.

What this layer adds:

* **which file** -- when verification fails, the manifest signed in the bundle is compared with a fresh
  manifest of the model, so the result lists the changed, missing and extra files by name (relative to
  the model folder; a single-file model is reported under its own name);
* **keyless inspection** (:func:`inspect_signature`) -- finds the signature next to a model and checks
  the files against the manifest in it without checking *who* signed; the report card uses it to say
  "signature present, files intact" before anyone has the publisher's key;
* one error type (:class:`SigningError`) with messages a user can act on, and typed results.

Reading a bundle (where it is, the method, the signer, the signed manifest) needs no extra and is in
:mod:`mlvet.trust.signature_file`; this module holds what calls ``model_signing``.

``model_signing`` is an optional extra (``pip install 'mlvet[signing]'``) and is imported only when a
function here runs. Signature files are untrusted input: they are read with a size limit and parsed as
JSON only.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, get_args

from mlvet.errors import UsageError
from mlvet.outfile import check_writable, default_file_mode
from mlvet.trust.signature_file import (
    DEFAULT_SIGNATURE_NAME,
    GIT_PATHS,
    MAX_SIGNATURE_BYTES,
    METHODS,
    HashAlgorithm,
    Method,
    SignatureInfo,
    SignatureReadError,
    SigningError,
    _add_item,
    _describe,
    _read_signed_manifest,
    _SignedManifest,
    _signer_description,
    default_signature_path,
    find_signature,
    signature_candidates,
)

__all__ = [
    "DEFAULT_SIGNATURE_NAME", "GIT_PATHS", "MAX_SIGNATURE_BYTES", "METHODS", "HashAlgorithm", "Method",
    "SignatureInfo", "SignatureReadError", "SigningError", "VerifyResult", "check_signature_target",
    "default_signature_path", "describe_differences", "find_signature", "inspect_signature", "is_available",
    "require_library", "sign", "signature_candidates", "verify",
]

#: How many file names a reason text lists per category before summarising the rest.
_MAX_NAMES_IN_REASON = 20

_INSTALL_HINT = "install the signing extra: pip install 'mlvet[signing]'"


@dataclass(frozen=True)
class VerifyResult:
    """The outcome of :func:`verify`. File names are POSIX paths relative to the model folder."""

    ok: bool
    """True only when the signature is authentic for the given key/certificates/identity and every
    file matches the signed manifest."""
    method: str
    """The method used to verify (``key``, ``certificate`` or ``sigstore``)."""
    signature: str
    """The signature file that was checked."""
    reason: str
    """One sentence for a user: what was verified, or why verification failed."""
    changed: tuple[str, ...] = ()
    """Files whose content differs from the signed digest."""
    missing: tuple[str, ...] = ()
    """Signed files that are no longer there."""
    extra: tuple[str, ...] = ()
    """Files that were not signed (renamed files show up as one missing and one extra)."""


# ---- the library, imported lazily ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Lib:
    """The three public modules of ``model_signing``; typed Any because the library is partly annotated."""

    hashing: Any
    signing: Any
    verifying: Any


def _lib() -> _Lib:
    try:
        from model_signing import hashing, signing, verifying
    except ImportError as exc:  # the package, or one of its own dependencies (e.g. pyOpenSSL), is missing
        raise SigningError(f"model-signing is not available ({exc}); {_INSTALL_HINT}") from exc
    return _Lib(hashing, signing, verifying)


def require_library() -> None:
    """Import ``model_signing`` and let a missing module propagate as ``ModuleNotFoundError`` with its name.

    For the command line, which maps that name to the extra to install (exit 4, a usage problem); the
    library functions below raise :class:`SigningError` instead.
    """
    import model_signing.hashing
    import model_signing.signing
    import model_signing.verifying  # noqa: F401


def is_available() -> bool:
    """True when ``model_signing`` can be imported (the ``signing`` extra is installed)."""
    try:
        _lib()
    except SigningError:
        return False
    return True


# ---- signing ------------------------------------------------------------------------------------------


def sign(
    model_path: str | os.PathLike[str],
    method: Method,
    *,
    signature: str | os.PathLike[str] | None = None,
    private_key: str | os.PathLike[str] | None = None,
    signing_certificate: str | os.PathLike[str] | None = None,
    certificate_chain: Sequence[str | os.PathLike[str]] = (),
    password: bytes | None = None,
    ignore_paths: Iterable[str | os.PathLike[str]] = (),
    ignore_git_paths: bool = True,
    allow_symlinks: bool = False,
    hash_algorithm: HashAlgorithm = "sha256",
    use_staging: bool = False,
    trust_config: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    identity_token: str | None = None,
    use_ambient_credentials: bool = False,
    oauth_force_oob: bool = False,
    client_id: str | None = None,
    client_secret: str | None = None,
) -> Path:
    """Sign the model file or folder at ``model_path``; return the path of the signature written.

    ``signature`` defaults to :func:`~mlvet.trust.signature_file.default_signature_path` (next to the
    model); an existing signature is replaced only with ``overwrite`` (else :class:`UsageError`), and it
    is replaced atomically: the bundle is written under a temporary name and renamed into place, so an
    interruption leaves the old signature (or none), never half of one.
    ``ignore_paths`` are relative to the model folder, or absolute (paths outside the model are
    dropped); the signature file is always left out of the manifest. ``key`` and ``certificate`` need
    ``private_key`` (an EC P-256/P-384/P-521 PEM key; ``password`` if it is encrypted -- the key method
    only, as in ``model_signing``); ``certificate`` also needs ``signing_certificate`` and, to carry the
    chain up to a trusted root, ``certificate_chain``. ``sigstore`` needs the network (an OIDC token:
    ``identity_token``, ambient credentials, or the interactive browser flow). A ``hash_algorithm``
    other than sha256 verifies with mlvet and the ``model_signing`` Python API, but not with its CLI,
    which always hashes with sha256.
    """
    lib = _lib()
    model = _existing_model(model_path)
    sig_path = Path(signature) if signature is not None else default_signature_path(model)
    check_signature_target(sig_path, overwrite=overwrite)
    config = lib.signing.Config()
    if method == "key":
        key = _need_file(private_key, "private key", "--private-key")
        _call_loading(lambda: config.use_elliptic_key_signer(private_key=key, password=password), "private key")
    elif method == "certificate":
        key = _need_file(private_key, "private key", "--private-key")
        cert = _need_file(signing_certificate, "signing certificate", "--signing-certificate")
        chain = [_need_file(c, "certificate chain file", "--certificate-chain") for c in certificate_chain]
        if password is not None:
            raise SigningError("model-signing's certificate method cannot use an encrypted private key; "
                               "decrypt it first (e.g. openssl pkey -in KEY -out PLAIN_KEY) or use the key method")
        _call_loading(lambda: config.use_certificate_signer(private_key=key, signing_certificate=cert,
                                                            certificate_chain=chain),
                      "private key or certificates")
    elif method == "sigstore":
        trust = _need_file(trust_config, "trust configuration", "--trust-config") if trust_config else None
        _call_sigstore(lambda: config.use_sigstore_signer(
            use_ambient_credentials=use_ambient_credentials, use_staging=use_staging,
            identity_token=identity_token, force_oob=oauth_force_oob, client_id=client_id,
            client_secret=client_secret, trust_config=trust))
    else:
        raise SigningError(f"unknown signing method {method!r}; choose one of {', '.join(METHODS)}")
    if hash_algorithm not in get_args(HashAlgorithm):
        raise SigningError(f"unknown hash algorithm {hash_algorithm!r}; choose sha256, blake2 or blake3")
    # Not created yet: model_signing hashes the model first and writes the bundle last; both names are
    # left out of the manifest.
    tmp = sig_path.with_name(f".{sig_path.name}.{secrets.token_hex(6)}.partial")
    hashing = (lib.hashing.Config()
               .use_file_serialization(hashing_algorithm=hash_algorithm)
               .set_ignored_paths(paths=_model_relative(model, [*ignore_paths, sig_path.absolute()], tmp),
                                  ignore_git_paths=ignore_git_paths)
               .set_allow_symlinks(allow_symlinks))
    try:
        config.set_hashing_config(hashing).sign(model, tmp)
        os.chmod(tmp, default_file_mode())
        os.replace(tmp, sig_path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, SigningError) or not isinstance(exc, Exception):
            raise
        # the library raises ValueError, OSError, sigstore and network errors alike
        where = " (Sigstore signing needs network access to Sigstore's services)" if method == "sigstore" else ""
        raise SigningError(f"signing {model} failed{where}: {_describe(exc)}") from exc
    return sig_path


def check_signature_target(sig_path: Path, *, overwrite: bool) -> None:
    """Refuse (exit 4) to replace an existing signature unless asked, or to write where nothing can be."""
    if sig_path.exists() and not overwrite:
        raise UsageError(f"{sig_path} exists; pass --force to overwrite it (or --signature to write elsewhere)")
    check_writable(sig_path, what="signature")


# ---- verification -------------------------------------------------------------------------------------


def verify(
    model_path: str | os.PathLike[str],
    method: Method,
    *,
    signature: str | os.PathLike[str] | None = None,
    public_key: str | os.PathLike[str] | None = None,
    certificate_chain: Sequence[str | os.PathLike[str]] = (),
    identity: str | None = None,
    identity_provider: str | None = None,
    ignore_paths: Iterable[str | os.PathLike[str]] = (),
    ignore_git_paths: bool = True,
    allow_symlinks: bool = False,
    ignore_unsigned_files: bool = False,
    use_staging: bool = False,
    trust_config: str | os.PathLike[str] | None = None,
) -> VerifyResult:
    """Verify the model at ``model_path`` against its signature with ``model_signing``.

    ``signature`` defaults to the first of :func:`signature_candidates` that exists. ``key`` needs
    ``public_key``; ``certificate`` takes the trusted CA certificate(s) as ``certificate_chain`` (the
    system's roots when empty); ``sigstore`` needs ``identity`` and ``identity_provider`` and the
    network. The hashing method is the one recorded in the signature; ``ignore_paths`` are relative to
    the model folder or absolute, and the paths ignored at signing time stay ignored.

    Returns a failed result (``ok=False``, with the changed/missing/extra files) when the signature is
    not authentic or the files do not match it. Raises :class:`SignatureReadError` when the signature
    cannot be read and :class:`SigningError` when verification cannot run (bad key file, library
    missing, no network for Sigstore).
    """
    lib = _lib()
    model = _existing_model(model_path)
    if method == "sigstore" and (not identity or not identity_provider):
        raise SigningError("Sigstore verification needs the expected signer: --identity and --identity-provider")
    sig_path = _resolve_signature(model, signature)
    signed = _read_signed_manifest(sig_path)
    config = lib.verifying.Config()
    if method == "key":
        key = _need_file(public_key, "public key", "--public-key")
        _call_loading(lambda: config.use_elliptic_key_verifier(public_key=key), "public key")
    elif method == "certificate":
        chain = [_need_file(c, "certificate chain file", "--certificate-chain") for c in certificate_chain]
        _call_loading(lambda: config.use_certificate_verifier(certificate_chain=chain), "certificate chain")
    elif method == "sigstore":
        trust = _need_file(trust_config, "trust configuration", "--trust-config") if trust_config else None
        _call_sigstore(lambda: config.use_sigstore_verifier(identity=identity, oidc_issuer=identity_provider,
                                                            use_staging=use_staging, trust_config=trust))
    else:
        raise SigningError(f"unknown verification method {method!r}; choose one of {', '.join(METHODS)}")
    hashing = _hashing_for(lib, signed, model, [*ignore_paths], sig_path, ignore_git_paths, allow_symlinks)
    try:
        config.set_hashing_config(hashing).set_ignore_unsigned_files(ignore_unsigned_files).verify(model, sig_path)
    except Exception as exc:  # every library failure is a failed verification, explained below
        return _failed(lib, method, model, sig_path, signed, exc, [*ignore_paths], ignore_git_paths,
                       allow_symlinks, ignore_unsigned_files)
    who = _signer_description(signed)
    scope = " (unsigned files ignored)" if ignore_unsigned_files else " and no unsigned file is present"
    return VerifyResult(ok=True, method=method, signature=str(sig_path),
                        reason=f"verified with the {method} method{who}: every signed file ({len(signed.files)}) "
                               f"matches {sig_path.name}{scope}")


def _failed(lib: _Lib, method: str, model: Path, sig_path: Path, signed: _SignedManifest, exc: Exception,
            ignore_paths: list[str | os.PathLike[str]], ignore_git_paths: bool, allow_symlinks: bool,
            ignore_unsigned_files: bool) -> VerifyResult:
    """Explain a failed verification: which files differ from the manifest, or why the signature is bad."""
    message = _describe(exc)
    if type(exc).__name__ == "InvalidSignature":
        message = "the signature does not match its payload (another key, or the signature or payload was altered)"
    # model_signing checks the signature first and raises "Signature mismatch" only once it was authentic.
    authentic = message.startswith("Signature mismatch")
    try:
        changed, missing, extra = _compare(lib, signed, model, ignore_paths, sig_path, ignore_git_paths,
                                           allow_symlinks)
    except SigningError as hash_error:
        return VerifyResult(ok=False, method=method, signature=str(sig_path), reason=str(hash_error))
    if ignore_unsigned_files:
        extra = ()
    differences = describe_differences(changed, missing, extra)
    signed_single = set(signed.files) == {"."}
    if signed_single != model.is_file():
        differences = (f"the signature covers a single file but {model} is a folder" if signed_single else
                       f"the signature covers a folder but {model} is a single file") + \
            (f" ({differences})" if differences else "")
    if authentic:
        reason = f"the model does not match the signed manifest in {sig_path}: {differences or message}"
    else:
        if signed.method_hint and signed.method_hint != method:
            reason = (f"the signature {sig_path} was made with the {signed.method_hint} method and does not "
                      f"verify with the {method} method")
        else:
            reason = f"the signature {sig_path} does not verify with the {method} method: {message}"
        if differences:
            reason += f"; the model also differs from the (unverified) manifest in it: {differences}"
    return VerifyResult(ok=False, method=method, signature=str(sig_path), reason=reason,
                        changed=changed, missing=missing, extra=extra)


# ---- keyless inspection -------------------------------------------------------------------------------


def inspect_signature(
    model_path: str | os.PathLike[str],
    signature: str | os.PathLike[str] | None = None,
    *,
    ignore_paths: Iterable[str | os.PathLike[str]] = (),
    ignore_git_paths: bool = True,
) -> SignatureInfo:
    """Check the model's files against the manifest in its signature, without checking who signed.

    Finds the signature (``signature`` or the first matching :func:`signature_candidates`), reads the
    DSSE payload of the bundle (an in-toto statement listing each file's digest), checks the statement's
    root digest, recomputes the digests with ``model_signing``'s hashing as recorded in the statement,
    and compares. This proves integrity against the signature file only: anyone can write such a file,
    so authenticity needs :func:`verify` with the publisher's key, certificate or identity.
    """
    model = Path(model_path)
    if signature is not None:
        sig_path: Path | None = Path(signature)
    else:
        sig_path = find_signature(model)
    if sig_path is None:
        looked = ", ".join(str(p) for p, _ in signature_candidates(model))
        return SignatureInfo(present=False, signature=None, method_hint=None, manifest_ok=None,
                             reason=f"no signature found (looked for {looked})")
    if not sig_path.is_file():
        return SignatureInfo(present=False, signature=str(sig_path), method_hint=None, manifest_ok=None,
                             reason=f"signature {sig_path} does not exist")
    try:
        signed = _read_signed_manifest(sig_path)
    except SignatureReadError as exc:
        return SignatureInfo(present=True, signature=str(sig_path), method_hint=None, manifest_ok=False,
                             reason=str(exc))
    base = SignatureInfo(present=True, signature=str(sig_path), method_hint=signed.method_hint,
                         manifest_ok=None, signed_files=len(signed.files))
    if not signed.root_digest_ok:
        return replace(base, manifest_ok=False,
                             reason=f"the manifest in {sig_path} is inconsistent: its root digest does not "
                                    "match the file digests it lists (the payload was edited)")
    if not model.exists():
        return replace(base, manifest_ok=None, reason=f"{model} does not exist")
    try:
        lib = _lib()
        changed, missing, extra = _compare(lib, signed, model, [*ignore_paths], sig_path, ignore_git_paths, False)
    except SigningError as exc:
        return replace(base, manifest_ok=None, reason=str(exc))
    differences = describe_differences(changed, missing, extra)
    if differences:
        return replace(base, manifest_ok=False, changed=changed, missing=missing, extra=extra,
                             reason=f"the model does not match the manifest in {sig_path.name}: {differences}")
    method = f" ({signed.method_hint} method)" if signed.method_hint else ""
    return replace(base, manifest_ok=True,
                         reason=f"every listed file ({len(signed.files)}) matches the manifest in "
                                f"{sig_path.name}{method}; "
                                "the signer was not checked (use mlvet verify with the publisher's key)")


def describe_differences(changed: Sequence[str], missing: Sequence[str], extra: Sequence[str]) -> str:
    """``changed: a; missing: b; extra: c`` (empty when there is no difference), long lists shortened."""
    parts = []
    for label, names in (("changed", changed), ("missing", missing), ("extra (not signed)", extra)):
        if names:
            shown = ", ".join(names[:_MAX_NAMES_IN_REASON])
            more = f" and {len(names) - _MAX_NAMES_IN_REASON} more" if len(names) > _MAX_NAMES_IN_REASON else ""
            parts.append(f"{label}: {shown}{more}")
    return "; ".join(parts)


# ---- hashing the model the way the signature says -----------------------------------------------------


def _hashing_for(lib: _Lib, signed: _SignedManifest, model: Path, ignore_paths: list[str | os.PathLike[str]],
                 sig_path: Path, ignore_git_paths: bool, allow_symlinks: bool) -> Any:
    """A ``model_signing.hashing.Config`` that reproduces the signer's serialization (method, hash, shards)."""
    ser = signed.serialization
    algorithm = ser.get("hash_type", "sha256")
    if algorithm not in get_args(HashAlgorithm):
        raise SignatureReadError(f"the signature uses an unknown hash algorithm {str(algorithm)[:40]!r}")
    config = lib.hashing.Config()
    if ser.get("method") == "shards":
        shard_size = ser.get("shard_size")
        if not isinstance(shard_size, int) or shard_size <= 0:
            raise SignatureReadError("the signature's shard serialization has no valid shard_size")
        config.use_shard_serialization(hashing_algorithm=algorithm, shard_size=shard_size)
    elif ser.get("method") == "files":
        config.use_file_serialization(hashing_algorithm=algorithm)
    else:
        raise SignatureReadError(f"the signature uses an unknown serialization {str(ser.get('method'))[:40]!r}")
    signed_ignores = [p for p in ser.get("ignore_paths", []) if isinstance(p, str)]
    paths = _model_relative(model, ignore_paths, sig_path) + [Path(p) for p in signed_ignores]
    return (config.set_ignored_paths(paths=paths, ignore_git_paths=ignore_git_paths)
            .set_allow_symlinks(allow_symlinks or ser.get("allow_symlinks") is True))


def _compare(lib: _Lib, signed: _SignedManifest, model: Path, ignore_paths: list[str | os.PathLike[str]],
             sig_path: Path, ignore_git_paths: bool,
             allow_symlinks: bool) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """(changed, missing, extra) file names between the signed manifest and a fresh one of ``model``."""
    hashing = _hashing_for(lib, signed, model, ignore_paths, sig_path, ignore_git_paths, allow_symlinks)
    try:
        fresh_manifest = hashing.hash(model)
        fresh: dict[str, dict[str, tuple[str, str]]] = {}
        sharded = signed.serialization.get("method") == "shards"
        for descriptor in fresh_manifest.resource_descriptors():
            _add_item(fresh, str(descriptor.identifier), str(descriptor.digest.algorithm),
                      str(descriptor.digest.digest_hex).lower(), sharded)
    except Exception as exc:  # symlinks refused, special files, permissions...
        raise SigningError(f"cannot hash {model}: {_describe(exc)}") from exc
    display = _display_name(model)
    changed = sorted(display(f) for f in signed.files.keys() & fresh.keys() if signed.files[f] != fresh[f])
    missing = sorted(display(f) for f in signed.files.keys() - fresh.keys())
    extra = sorted(display(f) for f in fresh.keys() - signed.files.keys())
    return tuple(changed), tuple(missing), tuple(extra)


def _display_name(model: Path) -> Any:
    """A single-file model's manifest names its one file ``.``; show the file's own name instead."""
    name = model.resolve().name

    def display(identifier: str) -> str:
        return name if identifier == "." else identifier

    return display


def _model_relative(model: Path, paths: list[str | os.PathLike[str]], sig_path: Path) -> list[Path]:
    """Ignore paths relative to the model folder, as ``model_signing.hashing`` wants them.

    Relative inputs are taken as relative to the model folder already; absolute ones (what the CLI
    passes, after resolving against the working directory like ``model_signing``'s CLI does) are made
    relative, and dropped when outside the model. The signature file is relative to the working
    directory and always ignored when inside the model.
    """
    root = model.resolve()
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if not p.is_absolute():
            out.append(p)
            continue
        try:
            out.append(p.resolve().relative_to(root))
        except ValueError:
            continue
    try:
        rel = sig_path.resolve().relative_to(root)
    except ValueError:
        pass
    else:
        if rel != Path("."):
            out.append(rel)
    return out


# ---- small helpers ------------------------------------------------------------------------------------


def _existing_model(model_path: str | os.PathLike[str]) -> Path:
    model = Path(model_path)
    if not (model.is_file() or model.is_dir()):
        raise SigningError(f"{model} is not a file or a folder")
    return model


def _resolve_signature(model: Path, signature: str | os.PathLike[str] | None) -> Path:
    if signature is not None:
        path = Path(signature)
        if not path.is_file():
            raise SignatureReadError(f"the signature {path} does not exist")
        return path
    found = find_signature(model)
    if found is None:
        looked = ", ".join(str(p) for p, _ in signature_candidates(model))
        raise SignatureReadError(f"no signature found for {model} (looked for {looked}); pass --signature")
    return found


def _need_file(path: str | os.PathLike[str] | None, what: str, option: str) -> Path:
    if path is None:
        raise SigningError(f"this method needs a {what} ({option})")
    p = Path(path)
    if not p.is_file():
        raise SigningError(f"the {what} {p} does not exist")
    return p


def _call_loading(action: Any, what: str) -> None:
    """Run a ``use_*`` configuration call that loads key material; explain a failure."""
    try:
        action()
    except Exception as exc:  # cryptography raises ValueError/TypeError/UnsupportedAlgorithm, RSA keys AttributeError
        hint = ""
        text = _describe(exc)
        if isinstance(exc, AttributeError) or "curve" in text.lower():
            hint = " (model-signing accepts elliptic-curve keys on P-256, P-384 or P-521 only)"
        elif "password" in text.lower() or "decrypt" in text.lower():
            hint = " (wrong or missing --password?)"
        raise SigningError(f"cannot use the {what}: {text}{hint}") from exc


def _call_sigstore(action: Any) -> None:
    try:
        action()
    except Exception as exc:  # TUF refresh and network failures come as assorted exception types
        raise SigningError(f"Sigstore is not reachable (it needs network access to fetch its trust root): "
                           f"{_describe(exc)}") from exc
