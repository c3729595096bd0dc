"""Signing and verification (issue 5, item 2): interoperability with the ``model_signing`` CLI, tamper
detection that names the file, keyless inspection, and clean failures.

Everything runs offline: key pairs and a root -> intermediate -> leaf certificate chain are generated at
test time with ``cryptography`` (the library model_signing itself uses), models are written with the real
safetensors library, and the ``model_signing`` CLI runs in a subprocess exactly as a user would run it.
Sigstore needs the network, so it is only checked to fail cleanly (and quickly) here.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("model_signing.signing", reason="model-signing (mlvet[signing]) is not installed")

import numpy as np
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from safetensors.numpy import save_file

from mlvet.cli import main as mlvet_main
from mlvet.trust import signing

# The console script pip installed with model-signing: on PATH, or beside this interpreter (a venv's bin/ or a
# --user install need not be on PATH in CI).
MODEL_SIGNING = shutil.which("model_signing") or shutil.which(
    "model_signing", path=str(Path(sys.executable).parent)) or "model_signing"


# ---- key material --------------------------------------------------------------------------------------


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey, password: bytes | None = None) -> Path:
    encryption = (serialization.BestAvailableEncryption(password) if password
                  else serialization.NoEncryption())
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption))
    return path


def _write_public(path: Path, key: ec.EllipticCurvePrivateKey) -> Path:
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo))
    return path


def _cert(subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
          *, ca: bool, days_back: int) -> x509.Certificate:
    """A certificate as model_signing (through OpenSSL) accepts it: CAs with basicConstraints CA:TRUE and
    keyCertSign; the leaf with digitalSignature key usage and the codeSigning extended key usage."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mlvet tests")])
    issuer_name, issuer_key = issuer if issuer else (name, key)
    now = dt.datetime.now(dt.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(days=days_back)).not_valid_after(now + dt.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False))
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                          encipher_only=False, decipher_only=False), critical=True)
    else:
        builder = (builder
                   .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False, key_agreement=False,
                                                key_cert_sign=False, crl_sign=False, encipher_only=False,
                                                decipher_only=False), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
                   .add_extension(x509.SubjectAlternativeName([x509.RFC822Name("publisher@example.com")]),
                                  critical=False))
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


@dataclass(frozen=True)
class Keys:
    private: Path
    public: Path
    other_public: Path          # a different key pair: verification with it must fail
    encrypted: Path             # ``private`` encrypted with PASSWORD
    leaf_key: Path
    leaf_cert: Path
    intermediate: Path          # carried in the signature (--certificate-chain when signing)
    root: Path                  # the trust anchor (--certificate-chain when verifying)
    other_root: Path            # an unrelated CA
    rsa_key: Path


PASSWORD = b"correct horse"


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    d = tmp_path_factory.mktemp("keys")
    key = ec.generate_private_key(ec.SECP256R1())
    other = ec.generate_private_key(ec.SECP256R1())
    root_key = ec.generate_private_key(ec.SECP384R1())
    inter_key = ec.generate_private_key(ec.SECP256R1())
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    other_root_key = ec.generate_private_key(ec.SECP256R1())
    root = _cert("mlvet test root CA", root_key, None, ca=True, days_back=3)
    inter = _cert("mlvet test intermediate CA", inter_key, (root.subject, root_key), ca=True, days_back=2)
    leaf = _cert("mlvet test publisher", leaf_key, (inter.subject, inter_key), ca=False, days_back=1)
    other_root = _cert("unrelated CA", other_root_key, None, ca=True, days_back=3)
    return Keys(
        private=_write_key(d / "key.pem", key), public=_write_public(d / "key.pub", key),
        other_public=_write_public(d / "other.pub", other),
        encrypted=_write_key(d / "encrypted.pem", key, PASSWORD),
        leaf_key=_write_key(d / "leaf.key", leaf_key), leaf_cert=_pem(d / "leaf.pem", leaf),
        intermediate=_pem(d / "intermediate.pem", inter), root=_pem(d / "root.pem", root),
        other_root=_pem(d / "other_root.pem", other_root),
        rsa_key=_write_key(d / "rsa.pem", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
    )


# ---- models --------------------------------------------------------------------------------------------


def _make_folder(root: Path) -> Path:
    model = root / "tiny-model"
    (model / "tokenizer").mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"architectures": ["TinyNet"], "hidden_size": 8}))
    save_file({"embed.weight": np.arange(64, dtype=np.float32).reshape(8, 8),
               "head.bias": np.ones(8, dtype=np.float16)}, str(model / "model.safetensors"),
              metadata={"format": "np"})
    (model / "tokenizer" / "tokenizer.json").write_text(json.dumps({"vocab": {"a": 0, "b": 1}}))
    (model / ".gitattributes").write_text("*.safetensors filter=lfs\n")  # ignored by default, as in model_signing
    return model


def _make_file(root: Path) -> Path:
    path = root / "weights.safetensors"
    save_file({"w": np.linspace(0, 1, 32, dtype=np.float32)}, str(path))
    return path


LAYOUTS: dict[str, Callable[[Path], Path]] = {"folder": _make_folder, "file": _make_file}


def _sign_args(method: str, keys: Keys) -> list[str]:
    if method == "key":
        return ["--private_key", str(keys.private)]
    return ["--private_key", str(keys.leaf_key), "--signing_certificate", str(keys.leaf_cert),
            "--certificate_chain", str(keys.intermediate)]


def _verify_args(method: str, keys: Keys) -> list[str]:
    if method == "key":
        return ["--public_key", str(keys.public)]
    return ["--certificate_chain", str(keys.root)]


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str


def _model_signing(*args: str, cwd: Path) -> Done:
    """Run model_signing's CLI (its console-script entry point, ``model_signing._cli:main``) in-process.

    In-process because each fresh ``model_signing`` process spends seconds importing sigstore; the
    option parsing and defaults exercised are the same. :func:`test_console_script_round_trip` runs the
    real ``model_signing`` executable in a subprocess.
    """
    from click.testing import CliRunner
    from model_signing._cli import main

    with contextlib.chdir(cwd):
        result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    return Done(result.exit_code, result.stdout, result.stderr)


def _model_signing_subprocess(*args: str, cwd: Path) -> Done:
    assert MODEL_SIGNING, "the model_signing CLI is not on PATH"
    done = subprocess.run([MODEL_SIGNING, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    return Done(done.returncode, done.stdout, done.stderr)


def _mlvet(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """Run the mlvet CLI in-process; return (exit code, stdout + stderr)."""
    code = mlvet_main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out + out.err


def _mlvet_sign_args(method: str, keys: Keys) -> list[str]:
    """mlvet's spelling of the options (dashes); model_signing's underscores are accepted too."""
    if method == "key":
        return ["--private-key", str(keys.private)]
    return ["--private-key", str(keys.leaf_key), "--signing-certificate", str(keys.leaf_cert),
            "--certificate-chain", str(keys.intermediate)]


def _mlvet_verify_args(method: str, keys: Keys) -> list[str]:
    if method == "key":
        return ["--public-key", str(keys.public)]
    return ["--certificate-chain", str(keys.root)]


# ---- interoperability with the model_signing CLI -------------------------------------------------------


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("method", ["key", "certificate"])
def test_mlvet_signs_model_signing_verifies(tmp_path: Path, keys: Keys, method: str, layout: str,
                                            capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    model = LAYOUTS[layout](tmp_path)
    monkeypatch.chdir(tmp_path)
    # By default the signature goes next to the model: inside a folder (and out of its manifest), <file>.sig
    # beside a file; never ./model.sig, where a second model's signature would replace the first's.
    code, out = _mlvet(capsys, "sign", method, model, *_mlvet_sign_args(method, keys))
    assert code == 0, out
    sig = model / "model.sig" if layout == "folder" else model.with_name(model.name + ".sig")
    assert sig.is_file()
    if layout != "folder":
        assert not (tmp_path / "model.sig").exists()

    theirs = _model_signing("verify", method, str(model), "--signature", str(sig), *_verify_args(method, keys),
                            cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stderr
    assert "Verification succeeded" in theirs.stdout

    code, out = _mlvet(capsys, "verify", method, model, "--signature", sig, *_mlvet_verify_args(method, keys))
    assert code == 0, out
    assert out.startswith("verified:")
    if method == "certificate":
        assert "mlvet test publisher" in out and "publisher@example.com" in out  # the signer is named

    # Without --signature mlvet finds it in the same default place.
    code, out = _mlvet(capsys, "verify", method, model, *_mlvet_verify_args(method, keys))
    assert code == 0, out


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("method", ["key", "certificate"])
def test_model_signing_signs_mlvet_verifies(tmp_path: Path, keys: Keys, method: str, layout: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    model = LAYOUTS[layout](tmp_path)
    sig = tmp_path / f"{model.name}.sig"
    theirs = _model_signing("sign", method, str(model), "--signature", str(sig), *_sign_args(method, keys),
                            cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stderr

    code, out = _mlvet(capsys, "verify", method, model, "--signature", sig,
                       *_verify_args(method, keys))  # model_signing's option spelling works unchanged
    assert code == 0, out

    result = signing.verify(model, method, signature=sig, public_key=keys.public if method == "key" else None,
                            certificate_chain=[keys.root] if method == "certificate" else ())
    assert result.ok and result.changed == result.missing == result.extra == ()
    info = signing.inspect_signature(model)  # found as <model>.sig beside the model
    assert info.present and info.manifest_ok is True and info.method_hint == method
    assert info.signed_files == (3 if layout == "folder" else 1)


def test_console_script_round_trip(tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str]) -> None:
    """The real ``model_signing`` executable, both directions, on a folder."""
    model = _make_folder(tmp_path)
    theirs = _model_signing_subprocess("sign", "key", str(model), "--private_key", str(keys.private), cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stderr
    code, out = _mlvet(capsys, "verify", "key", model, "--signature", tmp_path / "model.sig",
                       "--public-key", keys.public)
    assert code == 0, out
    ours = tmp_path / "ours.sig"
    code, out = _mlvet(capsys, "sign", "certificate", model, "--signature", ours,
                       *_mlvet_sign_args("certificate", keys))
    assert code == 0, out
    theirs = _model_signing_subprocess("verify", "certificate", str(model), "--signature", str(ours),
                                       "--certificate_chain", str(keys.root), cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stderr
    assert "Verification succeeded" in theirs.stdout


def test_ignored_paths_round_trip(tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """--ignore-paths (relative to the working directory, as in model_signing) is recorded in the
    signature, so both verifiers leave the file out without being told again."""
    model = _make_folder(tmp_path)
    (model / "README.md").write_text("draft")
    monkeypatch.chdir(tmp_path)
    code, out = _mlvet(capsys, "sign", "key", model, "--private-key", keys.private,
                       "--ignore-paths", "tiny-model/README.md")
    assert code == 0, out
    (model / "README.md").write_text("edited after signing")
    theirs = _model_signing("verify", "key", str(model), "--signature", str(model / "model.sig"), "--public_key",
                            str(keys.public), cwd=tmp_path)
    assert theirs.returncode == 0, theirs.stderr
    assert signing.verify(model, "key", public_key=keys.public).ok
    (model / "config.json").write_text("{}")
    result = signing.verify(model, "key", public_key=keys.public)
    assert not result.ok and result.changed == ("config.json",)


def test_git_paths_option(tmp_path: Path, keys: Keys) -> None:
    model = _make_folder(tmp_path)
    sig = signing.sign(model, "key", signature=tmp_path / "with-git.sig", private_key=keys.private,
                       ignore_git_paths=False)
    (model / ".gitattributes").write_text("changed\n")
    result = signing.verify(model, "key", signature=sig, public_key=keys.public, ignore_git_paths=False)
    assert not result.ok and result.changed == (".gitattributes",)
    # With the default the git file is not hashed, so the signed entry for it is reported missing.
    result = signing.verify(model, "key", signature=sig, public_key=keys.public)
    assert not result.ok and result.missing == (".gitattributes",)


def test_encrypted_key(tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str]) -> None:
    model = _make_file(tmp_path)
    sig = tmp_path / "enc.sig"
    code, out = _mlvet(capsys, "sign", "key", model, "--private-key", keys.encrypted, "--password", PASSWORD.decode(),
                       "--signature", sig)
    assert code == 0, out
    assert signing.verify(model, "key", signature=sig, public_key=keys.public).ok
    code, out = _mlvet(capsys, "sign", "key", model, "--private-key", keys.encrypted, "--password", "wrong",
                       "--signature", tmp_path / "x.sig")
    assert code == 2 and "private key" in out and "Traceback" not in out
    code, out = _mlvet(capsys, "sign", "key", model, "--private-key", keys.encrypted, "--signature", tmp_path / "x.sig")
    assert code == 2 and "password" in out.lower()


def test_unsupported_key_fails_cleanly(tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str]) -> None:
    model = _make_file(tmp_path)
    code, out = _mlvet(capsys, "sign", "key", model, "--private-key", keys.rsa_key, "--signature", tmp_path / "s")
    assert code == 2
    assert "P-256" in out and "Traceback" not in out
    assert not (tmp_path / "s").exists()


def test_certificate_signer_checks_key_matches_certificate(tmp_path: Path, keys: Keys,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    model = _make_file(tmp_path)
    code, out = _mlvet(capsys, "sign", "certificate", model, "--private-key", keys.private,  # not the leaf's key
                       "--signing-certificate", keys.leaf_cert, "--signature", tmp_path / "s")
    assert code == 2 and "does not match" in out


# ---- tampering -----------------------------------------------------------------------------------------


def _flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 0x01
    path.write_bytes(bytes(data))


def _tamper_tensor(model: Path) -> None:
    _flip_byte(model / "model.safetensors", -3)  # inside the tensor data, the header stays valid


def _add_file(model: Path) -> None:
    (model / "tokenizer" / "added.py").write_text("import os\n")


def _remove_file(model: Path) -> None:
    (model / "tokenizer" / "tokenizer.json").unlink()


def _rename_file(model: Path) -> None:
    (model / "config.json").rename(model / "config.renamed.json")


TAMPERS: dict[str, tuple[Callable[[Path], None], tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    # name: (action, changed, missing, extra)
    "modified": (_tamper_tensor, ("model.safetensors",), (), ()),
    "added": (_add_file, (), (), ("tokenizer/added.py",)),
    "removed": (_remove_file, (), ("tokenizer/tokenizer.json",), ()),
    "renamed": (_rename_file, (), ("config.json",), ("config.renamed.json",)),
}


@pytest.fixture(scope="module")
def signed_folders(tmp_path_factory: pytest.TempPathFactory, keys: Keys) -> dict[str, tuple[Path, Path]]:
    """A folder signed by model_signing's CLI with each method: {method: (model, signature)}."""
    out = {}
    for method in ("key", "certificate"):
        root = tmp_path_factory.mktemp(f"signed-{method}")
        model = _make_folder(root)
        sig = root / "model.sig"
        done = _model_signing("sign", method, str(model), "--signature", str(sig), *_sign_args(method, keys),
                              cwd=root)
        assert done.returncode == 0, done.stderr
        out[method] = (model, sig)
    return out


def _copy_signed(signed: tuple[Path, Path], dest: Path) -> tuple[Path, Path]:
    model, sig = signed
    shutil.copytree(model, dest / model.name)
    shutil.copy(sig, dest / sig.name)
    return dest / model.name, dest / sig.name


@pytest.mark.parametrize("tamper", sorted(TAMPERS))
@pytest.mark.parametrize("method", ["key", "certificate"])
def test_tampering_is_detected_and_named(tmp_path: Path, keys: Keys, signed_folders: dict[str, tuple[Path, Path]],
                                         method: str, tamper: str, capsys: pytest.CaptureFixture[str]) -> None:
    model, sig = _copy_signed(signed_folders[method], tmp_path)
    action, changed, missing, extra = TAMPERS[tamper]
    assert signing.verify(model, method, signature=sig, public_key=keys.public, certificate_chain=[keys.root]).ok
    action(model)

    code, out = _mlvet(capsys, "verify", method, model, "--signature", sig, *_mlvet_verify_args(method, keys))
    assert code == 1, out
    assert "verification FAILED" in out
    for name in changed + missing + extra:
        assert name in out

    result = signing.verify(model, method, signature=sig, public_key=keys.public, certificate_chain=[keys.root])
    assert not result.ok
    assert (result.changed, result.missing, result.extra) == (changed, missing, extra)
    assert "does not match the signed manifest" in result.reason

    info = signing.inspect_signature(model, sig)
    assert info.present and info.manifest_ok is False
    assert (info.changed, info.missing, info.extra) == (changed, missing, extra)

    if method == "key":  # the reference verifier agrees (once per kind of tampering is enough)
        theirs = _model_signing("verify", "key", str(model), "--signature", str(sig), "--public_key",
                                str(keys.public), cwd=tmp_path)
        assert theirs.returncode == 1


def test_tampered_single_file_is_named(tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    model = _make_file(tmp_path)
    monkeypatch.chdir(tmp_path)
    signing.sign(model, "key", private_key=keys.private)
    _flip_byte(model, -1)
    code, out = _mlvet(capsys, "verify", "key", model, "--public-key", keys.public)
    assert code == 1
    assert "changed: weights.safetensors" in out  # the file's name, not model_signing's "." identifier
    info = signing.inspect_signature(model)
    assert info.manifest_ok is False and info.changed == ("weights.safetensors",)


def test_modified_signature_bytes(tmp_path: Path, keys: Keys, signed_folders: dict[str, tuple[Path, Path]],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    model, sig = _copy_signed(signed_folders["key"], tmp_path)
    bundle = json.loads(sig.read_text())
    raw = bytearray(base64.b64decode(bundle["dsseEnvelope"]["signatures"][0]["sig"]))
    raw[-1] ^= 0x01
    bundle["dsseEnvelope"]["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()
    sig.write_text(json.dumps(bundle))
    code, out = _mlvet(capsys, "verify", "key", model, "--signature", sig, "--public-key", keys.public)
    assert code == 1, out
    assert str(sig) in out and "does not verify" in out
    # The files themselves still match the (now unauthenticated) manifest: inspection says so.
    assert signing.inspect_signature(model, sig).manifest_ok is True


def test_modified_signed_manifest(tmp_path: Path, keys: Keys, signed_folders: dict[str, tuple[Path, Path]],
                                  capsys: pytest.CaptureFixture[str]) -> None:
    """An attacker who edits the manifest (to match a swapped file) breaks the signature; the edited
    entry is still named, and keyless inspection notices the root digest no longer matches."""
    model, sig = _copy_signed(signed_folders["key"], tmp_path)
    bundle = json.loads(sig.read_text())
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    for resource in statement["predicate"]["resources"]:
        if resource["name"] == "config.json":
            resource["digest"] = "00" * 32
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    sig.write_text(json.dumps(bundle))
    code, out = _mlvet(capsys, "verify", "key", model, "--signature", sig, "--public-key", keys.public)
    assert code == 1, out
    assert "does not verify" in out and "config.json" in out
    info = signing.inspect_signature(model, sig)
    assert info.manifest_ok is False and "root digest" in info.reason
    theirs = _model_signing("verify", "key", str(model), "--signature", str(sig), "--public_key", str(keys.public),
                            cwd=tmp_path)
    assert theirs.returncode == 1


# ---- wrong keys, wrong method, unreadable signatures ----------------------------------------------------


def test_wrong_key_fails(tmp_path: Path, keys: Keys, signed_folders: dict[str, tuple[Path, Path]],
                         capsys: pytest.CaptureFixture[str]) -> None:
    model, sig = signed_folders["key"]
    code, out = _mlvet(capsys, "verify", "key", model, "--signature", sig, "--public-key", keys.other_public)
    assert code == 1, out
    assert "does not verify with the key method" in out
    result = signing.verify(model, "key", signature=sig, public_key=keys.other_public)
    assert not result.ok and result.changed == result.missing == result.extra == ()


def test_untrusted_ca_fails(keys: Keys, signed_folders: dict[str, tuple[Path, Path]],
                            capsys: pytest.CaptureFixture[str]) -> None:
    model, sig = signed_folders["certificate"]
    code, out = _mlvet(capsys, "verify", "certificate", model, "--signature", sig,
                       "--certificate-chain", keys.other_root)
    assert code == 1, out
    assert "does not verify with the certificate method" in out


def test_wrong_method_is_explained(keys: Keys, signed_folders: dict[str, tuple[Path, Path]],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    model, sig = signed_folders["key"]
    code, out = _mlvet(capsys, "verify", "certificate", model, "--signature", sig, "--certificate-chain", keys.root)
    assert code == 1
    assert "made with the key method" in out


_BAD_PAYLOAD = b'{"dsseEnvelope": {"payload": "%%%", "payloadType": "application/vnd.in-toto+json"}}'


@pytest.mark.parametrize("content", [b"", b"not json", b"[1, 2]", b'{"mediaType": "x"}', _BAD_PAYLOAD,
                                     b"\xff\xfe garbage"])
def test_unreadable_signature_exits_2(tmp_path: Path, keys: Keys, content: bytes,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    model = _make_file(tmp_path)
    sig = tmp_path / "model.sig"
    sig.write_bytes(content)
    code, out = _mlvet(capsys, "verify", "key", model, "--signature", sig, "--public-key", keys.public)
    assert code == 2, out
    assert "cannot verify" in out and "Traceback" not in out
    with pytest.raises(signing.SignatureReadError):
        signing.verify(model, "key", signature=sig, public_key=keys.public)
    info = signing.inspect_signature(model, sig)
    assert info.present and info.manifest_ok is False


def test_missing_signature(tmp_path: Path, keys: Keys, capsys: pytest.CaptureFixture[str],
                           monkeypatch: pytest.MonkeyPatch) -> None:
    model = _make_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, out = _mlvet(capsys, "verify", "key", model, "--public-key", keys.public)
    assert code == 2 and "no signature found" in out
    code, out = _mlvet(capsys, "verify", "key", model, "--public-key", keys.public, "--signature", tmp_path / "nope")
    assert code == 4  # a --signature that does not exist is a usage error
    code, out = _mlvet(capsys, "verify", "key", model)
    assert code == 4 and "--public-key" in out


def test_verify_json_output(keys: Keys, signed_folders: dict[str, tuple[Path, Path]],
                            capsys: pytest.CaptureFixture[str]) -> None:
    model, sig = signed_folders["key"]
    code, out = _mlvet(capsys, "verify", "key", model, "--signature", sig, "--public-key", keys.public, "-f", "json")
    assert code == 0
    data = json.loads(out)
    assert data["ok"] is True and data["method"] == "key" and data["signature"] == str(sig)
    assert data["changed"] == data["missing"] == data["extra"] == []


def test_ignore_unsigned_files(tmp_path: Path, keys: Keys, signed_folders: dict[str, tuple[Path, Path]]) -> None:
    model, sig = _copy_signed(signed_folders["key"], tmp_path)
    _add_file(model)
    assert not signing.verify(model, "key", signature=sig, public_key=keys.public).ok
    result = signing.verify(model, "key", signature=sig, public_key=keys.public, ignore_unsigned_files=True)
    assert result.ok and "unsigned files ignored" in result.reason


# ---- keyless inspection and signature discovery --------------------------------------------------------


def test_inspect_unsigned(tmp_path: Path) -> None:
    model = _make_folder(tmp_path)
    info = signing.inspect_signature(model)
    assert info == signing.SignatureInfo(present=False, signature=None, method_hint=None, manifest_ok=None,
                                         reason=info.reason)
    assert "no signature found" in info.reason and "model.sig" in info.reason


def test_inspect_finds_signature_inside_folder(tmp_path: Path, keys: Keys) -> None:
    model = _make_folder(tmp_path)
    signing.sign(model, "certificate", signature=model / "model.sig", private_key=keys.leaf_key,
                 signing_certificate=keys.leaf_cert, certificate_chain=[keys.intermediate])
    info = signing.inspect_signature(model)
    assert info.present and info.manifest_ok is True and info.method_hint == "certificate"
    assert info.signature == str(model / "model.sig") and info.signed_files == 3


def test_generic_signature_of_another_model_is_not_taken(tmp_path: Path, keys: Keys) -> None:
    """A model.sig beside two models belongs to the one its statement names."""
    first = _make_folder(tmp_path / "a")
    second = tmp_path / "a" / "other-model"
    shutil.copytree(first, second)
    signing.sign(second, "key", signature=tmp_path / "a" / "model.sig", private_key=keys.private)
    assert signing.find_signature(first) is None
    assert signing.find_signature(second) == tmp_path / "a" / "model.sig"
    assert signing.inspect_signature(first).present is False


def test_inspect_without_the_library(tmp_path: Path, keys: Keys, monkeypatch: pytest.MonkeyPatch) -> None:
    model = _make_file(tmp_path)
    sig = signing.sign(model, "key", signature=tmp_path / "m.sig", private_key=keys.private)
    monkeypatch.setitem(sys.modules, "model_signing", None)  # as if mlvet[signing] were not installed
    assert not signing.is_available()
    with pytest.raises(signing.SigningError, match=r"mlvet\[signing\]"):
        signing.sign(model, "key", private_key=keys.private)
    info = signing.inspect_signature(model, sig)
    assert info.present and info.method_hint == "key" and info.manifest_ok is None
    assert "mlvet[signing]" in info.reason


# ---- Sigstore: needs the network; here it must fail cleanly and quickly ---------------------------------


def _run_mlvet_subprocess(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run([sys.executable, "-m", "mlvet", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=60, check=False)
    except subprocess.TimeoutExpired:
        pytest.skip("Sigstore's services neither answered nor failed within 60 s (filtered network)")


def test_sigstore_verify_fails_cleanly_offline(tmp_path: Path, keys: Keys,
                                               signed_folders: dict[str, tuple[Path, Path]]) -> None:
    model, sig = signed_folders["key"]
    done = _run_mlvet_subprocess(["verify", "sigstore", str(model), "--signature", str(sig),
                                  "--identity", "publisher@example.com",
                                  "--identity-provider", "https://accounts.example.com"], tmp_path)
    assert done.returncode in (1, 2), done.stderr  # 2 offline (no trust root), 1 if the network answers
    assert "Traceback" not in done.stderr
    if done.returncode == 2:
        assert "Sigstore" in done.stderr


def test_sigstore_sign_fails_cleanly_offline(tmp_path: Path) -> None:
    model = _make_file(tmp_path)
    done = _run_mlvet_subprocess(["sign", "sigstore", str(model), "--identity-token", "not-a-jwt",
                                  "--signature", str(tmp_path / "s.sig")], tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "signing failed" in done.stderr
    assert not (tmp_path / "s.sig").exists()


def test_sigstore_needs_identity(tmp_path: Path) -> None:
    model = _make_file(tmp_path)
    (tmp_path / "model.sig").write_text("{}")
    with pytest.raises(signing.SigningError, match="identity"):
        signing.verify(model, "sigstore", signature=tmp_path / "model.sig")


def test_symlink_in_model_is_refused_cleanly(tmp_path: Path, keys: Keys, signed_folders: dict[str, tuple[Path, Path]],
                                             capsys: pytest.CaptureFixture[str]) -> None:
    model, sig = _copy_signed(signed_folders["key"], tmp_path)
    (model / "link.json").symlink_to(model / "config.json")
    code, out = _mlvet(capsys, "verify", "key", model, "--signature", sig, "--public-key", keys.public)
    assert code == 1 and "symlink" in out and "Traceback" not in out
    code, out = _mlvet(capsys, "verify", "key", model, "--signature", sig, "--public-key", keys.public,
                       "--allow-symlinks")
    assert code == 1 and "extra    link.json" in out  # followed, but it was not signed


def test_folder_signature_against_a_file(keys: Keys, signed_folders: dict[str, tuple[Path, Path]]) -> None:
    model, sig = signed_folders["key"]
    result = signing.verify(model / "config.json", "key", signature=sig, public_key=keys.public)
    assert not result.ok and "covers a folder" in result.reason
