"""Reading an OpenSSF model-signing bundle without verifying it: where the signature of a model is, which
method signed it, who the signer says they are, and the manifest of file digests it lists. Used by the
report card's signature check and by ``mlvet verify`` to explain a failure; verification itself needs
the ``signing`` extra and lives in :mod:`mlvet.trust.signing`."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal, get_args

from mlvet.errors import EXIT_INCOMPLETE, MlvetError

Method = Literal["key", "certificate", "sigstore"]


HashAlgorithm = Literal["sha256", "blake2", "blake3"]


#: The signing methods, in the order ``model_signing``'s CLI lists them (PKCS #11 is not offered).
METHODS: tuple[Method, ...] = get_args(Method)


#: ``model_signing``'s CLI writes ``model.sig`` in the working directory unless ``--signature`` is given;
#: mlvet writes it next to the model instead (see :func:`default_signature_path`).
DEFAULT_SIGNATURE_NAME = "model.sig"


def default_signature_path(model_path: str | os.PathLike[str]) -> Path:
    """Where ``mlvet sign`` writes a model's signature by default: next to what it signs.

    A folder gets ``<folder>/model.sig`` (``model_signing``'s file name, shipped inside the model it
    signs and left out of the manifest, as ``model_signing`` leaves its signature out); a file
    ``<file>.sig`` beside it (the name ``model_signing``'s documentation gives single-file signatures).
    Two models signed from one working directory therefore never share, and overwrite, one ``model.sig``;
    both places are the first :func:`signature_candidates`, so ``verify`` and ``score`` find them.
    """
    model = Path(model_path)
    if model.is_dir():
        return model / DEFAULT_SIGNATURE_NAME
    return model.with_name(model.name + ".sig")


#: Paths ``model_signing`` leaves out of the manifest unless told otherwise (``--no-ignore-git-paths``).
GIT_PATHS: tuple[str, ...] = (".git", ".gitattributes", ".github", ".gitignore")


#: A bundle lists one digest per file (or shard); even a model with 100k files stays far below this.
MAX_SIGNATURE_BYTES = 64 * 1024 * 1024


_IN_TOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


_IN_TOTO_STATEMENT = "https://in-toto.io/Statement/v1"


_PREDICATE_V1 = "https://model_signing/signature/v1.0"


_PREDICATE_V01 = "https://model_signing/Digests/v0.1"  # pre-1.0 signatures, still accepted by model_signing


class SigningError(MlvetError):
    """Signing or verification could not be carried out (library missing, unreadable key, network...)."""

    exit_code = EXIT_INCOMPLETE


class SignatureReadError(SigningError):
    """The signature file is missing, too large, or not a model-signing bundle."""


@dataclass(frozen=True)
class SignatureInfo:
    """What :func:`inspect_signature` learned without a key: integrity, not authenticity."""

    present: bool
    """A signature file was found (or given)."""
    signature: str | None
    """Its path."""
    method_hint: str | None
    """The method the bundle was made with, read from its verification material (``key``,
    ``certificate``, ``sigstore``), or None when unknown."""
    manifest_ok: bool | None
    """True when every file matches the manifest in the signature; False when a file differs or the
    signature cannot be read; None when it could not be checked (no signature, library missing)."""
    changed: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()
    reason: str = ""
    signed_files: int = 0
    """How many files the manifest lists."""


def signature_candidates(model_path: str | os.PathLike[str]) -> list[tuple[Path, bool]]:
    """Where a model's signature is looked for, in order, each with "must name this model".

    ``<folder>/model.sig`` (signed from inside the folder, or shipped with it), ``<model>.sig`` beside
    the model (``model_signing``'s documentation names signatures so), then the generic ``model.sig``
    beside the model and in the working directory (``model_signing``'s CLI default). A generic file is
    accepted only when the statement in it names this model, so a sibling model's signature is not
    taken for this one's.
    """
    model = Path(model_path)
    resolved = model.resolve()
    out: list[tuple[Path, bool]] = []
    if model.is_dir():
        out.append((model / DEFAULT_SIGNATURE_NAME, False))
    if resolved.name:
        out.append((resolved.with_name(resolved.name + ".sig"), False))
    out.append((resolved.parent / DEFAULT_SIGNATURE_NAME, True))
    out.append((Path.cwd() / DEFAULT_SIGNATURE_NAME, True))
    seen: set[Path] = set()
    unique: list[tuple[Path, bool]] = []
    for path, check in out:
        key = path.resolve()
        if key not in seen and key != resolved:
            seen.add(key)
            unique.append((path, check))
    return unique


def find_signature(model_path: str | os.PathLike[str]) -> Path | None:
    """The first existing :func:`signature_candidates` entry that belongs to this model, or None."""
    name = Path(model_path).resolve().name
    for path, must_name_model in signature_candidates(model_path):
        if not path.is_file():
            continue
        if not must_name_model:
            return path
        try:
            signed = _read_signed_manifest(path)
        except SignatureReadError:
            continue
        if signed.model_name in (name, None):
            return path
    return None


@dataclass(frozen=True)
class _SignedManifest:
    """The in-toto statement of a bundle, as data (read without checking the signature)."""

    model_name: str | None
    serialization: dict[str, Any]
    files: dict[str, dict[str, tuple[str, str]]]
    """file (manifest identifier without shard range) -> {shard range or "" -> (algorithm, hex digest)}"""
    root_digest_ok: bool
    method_hint: str | None
    certificate_der: bytes | None = field(default=None, repr=False)


def _read_signed_manifest(sig_path: Path) -> _SignedManifest:
    """Parse the bundle at ``sig_path`` into its manifest. Raises SignatureReadError when it cannot."""
    try:
        with sig_path.open("rb") as fh:
            raw = fh.read(MAX_SIGNATURE_BYTES + 1)
    except OSError as exc:
        raise SignatureReadError(f"cannot read the signature {sig_path}: {exc.strerror or exc}") from exc
    if len(raw) > MAX_SIGNATURE_BYTES:
        raise SignatureReadError(f"the signature {sig_path} is larger than {MAX_SIGNATURE_BYTES >> 20} MiB")
    try:
        bundle = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SignatureReadError(f"the signature {sig_path} is not a JSON Sigstore bundle ({exc})") from exc
    if not isinstance(bundle, dict):
        raise SignatureReadError(f"the signature {sig_path} is not a Sigstore bundle (not a JSON object)")
    envelope = bundle.get("dsseEnvelope")
    if not isinstance(envelope, dict) or not isinstance(envelope.get("payload"), str):
        raise SignatureReadError(f"the signature {sig_path} holds no DSSE envelope: it is not a model signature")
    if envelope.get("payloadType") != _IN_TOTO_PAYLOAD_TYPE:
        raise SignatureReadError(f"the signature {sig_path} does not carry an in-toto statement "
                                 f"(payload type {str(envelope.get('payloadType'))[:80]!r})")
    try:
        statement = json.loads(base64.b64decode(envelope["payload"], validate=True).decode("utf-8"))
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SignatureReadError(f"the payload of the signature {sig_path} cannot be decoded ({exc})") from exc
    if not isinstance(statement, dict) or statement.get("_type") != _IN_TOTO_STATEMENT:
        raise SignatureReadError(f"the payload of the signature {sig_path} is not an in-toto v1 statement")
    try:
        return _parse_statement(statement, _method_hint(bundle), _leaf_certificate(bundle))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise SignatureReadError(f"the manifest in the signature {sig_path} is malformed ({_describe(exc)})") from exc


def _parse_statement(statement: dict[str, Any], hint: str | None, cert: bytes | None) -> _SignedManifest:
    files: dict[str, dict[str, tuple[str, str]]] = {}
    predicate_type = statement.get("predicateType")
    if predicate_type == _PREDICATE_V1:
        subjects = statement["subject"]
        if not isinstance(subjects, list) or len(subjects) != 1:
            raise ValueError("expected exactly one subject")
        name = subjects[0]["name"]
        root = subjects[0]["digest"]["sha256"]
        predicate = statement["predicate"]
        serialization = dict(predicate["serialization"])
        sharded = serialization.get("method") == "shards"
        root_hasher = hashlib.sha256()
        for resource in predicate["resources"]:
            digest_hex = str(resource["digest"])
            root_hasher.update(bytes.fromhex(digest_hex))
            _add_item(files, str(resource["name"]), str(resource["algorithm"]), digest_hex.lower(), sharded)
        return _SignedManifest(model_name=str(name), serialization=serialization, files=files,
                               root_digest_ok=root_hasher.hexdigest() == str(root).lower(),
                               method_hint=hint, certificate_der=cert)
    if predicate_type == _PREDICATE_V01:
        for subject in statement["subject"]:
            digest_hex = str(subject["digest"]["sha256"])
            bytes.fromhex(digest_hex)
            _add_item(files, str(subject["name"]), "sha256", digest_hex.lower(), False)
        return _SignedManifest(model_name=None, serialization={"method": "files", "hash_type": "sha256",
                                                               "allow_symlinks": False},
                               files=files, root_digest_ok=True, method_hint=hint, certificate_der=cert)
    raise ValueError(f"unknown predicate type {str(predicate_type)[:100]!r}")


def _add_item(files: dict[str, dict[str, tuple[str, str]]], identifier: str, algorithm: str, digest: str,
              sharded: bool) -> None:
    path, shard = identifier, ""
    if sharded:
        path, start, end = identifier.rsplit(":", 2)
        shard = f"{int(start)}:{int(end)}"
    files.setdefault(str(PurePosixPath(path)), {})[shard] = (algorithm, digest)


def _method_hint(bundle: dict[str, Any]) -> str | None:
    """key / certificate / sigstore, from the bundle's verification material (how model_signing writes it)."""
    material = bundle.get("verificationMaterial")
    if not isinstance(material, dict):
        return None
    if material.get("tlogEntries"):
        return "sigstore"  # only Sigstore signing records transparency-log entries
    if "publicKey" in material:
        return "key"
    if "x509CertificateChain" in material:
        return "certificate"
    if "certificate" in material:
        return "sigstore"
    return None


def _leaf_certificate(bundle: dict[str, Any]) -> bytes | None:
    material = bundle.get("verificationMaterial")
    try:
        if isinstance(material, dict) and isinstance(material.get("x509CertificateChain"), dict):
            return base64.b64decode(material["x509CertificateChain"]["certificates"][0]["rawBytes"])
        if isinstance(material, dict) and isinstance(material.get("certificate"), dict):
            return base64.b64decode(material["certificate"]["rawBytes"])
    except (KeyError, IndexError, TypeError, binascii.Error):
        return None
    return None


def _signer_description(signed: _SignedManifest) -> str:
    """`` (signer: CN=...)`` from the leaf certificate, when there is one; informative only."""
    if signed.certificate_der is None:
        return ""
    try:
        from cryptography import x509

        cert = x509.load_der_x509_certificate(signed.certificate_der)
        names = cert.subject.rfc4514_string()
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            alt = [str(v) for v in san.get_values_for_type(x509.RFC822Name)] + \
                [str(v) for v in san.get_values_for_type(x509.UniformResourceIdentifier)]
        except x509.ExtensionNotFound:
            alt = []
        who = ", ".join(x for x in [names, *alt] if x)
    except Exception:  # a description, never a reason to fail
        return ""
    return f" (signer: {who})" if who else ""


def _describe(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if len(text) <= 600 else text[:600] + "..."
