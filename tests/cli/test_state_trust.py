"""Issue 11, trust side: ``sign``/``verify``/``diff``/``convert`` through the real console script.

Signatures next to the model they sign, never silently overwritten, written atomically; missing extras are
usage errors naming the extra; ``diff`` calls independently initialised models unrelated; FIFOs are named;
``convert`` output follows the umask and SIGTERM leaves no ``.partial`` file.
"""

from __future__ import annotations

import os
import signal
import stat
import time
from pathlib import Path

import pytest
from state_cli import BENIGN, run, shim, start, wait_for

# ---- 7. signatures --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ec_keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An EC P-256 key pair (PEM), made with cryptography, the library model_signing itself uses."""
    crypto = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
    from cryptography.hazmat.primitives import serialization

    folder = tmp_path_factory.mktemp("keys")
    key = crypto.generate_private_key(crypto.SECP256R1())
    private, public = folder / "key.pem", folder / "key.pub"
    private.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                     serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, public


def test_signature_goes_next_to_the_model_and_is_never_overwritten_silently(
        tmp_path: Path, ec_keys: tuple[Path, Path]) -> None:
    pytest.importorskip("model_signing.signing")
    private, public = ec_keys
    first, second = tmp_path / "first.bin", tmp_path / "second.bin"
    first.write_bytes(b"weights one")
    second.write_bytes(b"weights two")
    for model in (first, second):  # two models signed from one working directory
        done = run("sign", "key", model, "--private-key", private, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    sig1, sig2 = tmp_path / "first.bin.sig", tmp_path / "second.bin.sig"
    assert sig1.is_file() and sig2.is_file() and not (tmp_path / "model.sig").exists()
    assert stat.S_IMODE(sig1.stat().st_mode) == 0o644  # written atomically with a normal mode (umask 022)
    assert not [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")]
    for model in (first, second):  # verify (and score) find each one in the same default place
        verified = run("verify", "key", model, "--public-key", public, cwd=tmp_path)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        card = run("score", model, "--public-key", public, "--format", "json", cwd=tmp_path)
        assert b'"signature"' in card.stdout and b"verified" in card.stdout
    before = sig1.read_bytes()
    again = run("sign", "key", first, "--private-key", private, cwd=tmp_path)
    assert again.returncode == 4
    assert again.stderr.startswith(b"mlvet: error:") and b"pass --force to overwrite" in again.stderr
    assert sig1.read_bytes() == before
    forced = run("sign", "key", first, "--private-key", private, "--force", cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert sig1.read_bytes() != before  # a fresh signature (new timestamp and signature bytes)


def test_folder_signature_goes_inside_the_folder(tmp_path: Path, ec_keys: tuple[Path, Path]) -> None:
    pytest.importorskip("model_signing.signing")
    private, public = ec_keys
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.bin").write_bytes(b"w")
    done = run("sign", "key", model, "--private-key", private, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (model / "model.sig").is_file()
    verified = run("verify", "key", model, "--public-key", public, cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout  # the signature itself is not part of the manifest


def test_old_default_place_is_still_found(tmp_path: Path, ec_keys: tuple[Path, Path]) -> None:
    """Signatures made before this change (./model.sig, model_signing's CLI default) still verify."""
    pytest.importorskip("model_signing.signing")
    private, public = ec_keys
    model = tmp_path / "m.bin"
    model.write_bytes(b"w")
    done = run("sign", "key", model, "--private-key", private, "--signature", "model.sig", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    verified = run("verify", "key", model, "--public-key", public, cwd=tmp_path)
    assert verified.returncode == 0, verified.stdout


@pytest.mark.parametrize("command", ["sign", "verify"])
def test_sign_and_verify_without_the_extra_are_usage_errors(tmp_path: Path, command: str) -> None:
    model = tmp_path / "m.bin"
    model.write_bytes(b"w")
    key = tmp_path / "k.pem"
    key.write_text("not used")
    option = "--private-key" if command == "sign" else "--public-key"
    done = run(command, "key", model, option, key, extra_env=shim(tmp_path, "model_signing"))
    assert done.returncode == 4, done.stderr
    assert b"mlvet: error:" in done.stderr and b"pip install 'mlvet[signing]'" in done.stderr
    assert not (tmp_path / "m.bin.sig").exists()


# ---- 8. diff ---------------------------------------------------------------------------------------------------


def _torch_models(tmp_path: Path) -> dict[str, Path]:
    torch = pytest.importorskip("torch")
    from torch import nn  # noqa: TID251 - makes the fixture models; mlvet itself never imports torch

    def make(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        # Norm layers start identical (ones / zeros) in both models; bias-free projections as in LLaMA-style
        # transformers. By tensor count, 4 of 10 tensors differ: the old heuristic's "partial fine-tune".
        return nn.Sequential(nn.Linear(64, 128, bias=False), nn.LayerNorm(128), nn.ReLU(),
                             nn.Linear(128, 128, bias=False), nn.LayerNorm(128), nn.Linear(128, 128, bias=False),
                             nn.LayerNorm(128), nn.Linear(128, 10, bias=False))

    paths = {name: tmp_path / f"{name}.pt" for name in ("a", "b", "tuned")}
    torch.save(make(1).state_dict(), paths["a"])
    torch.save(make(2).state_dict(), paths["b"])
    tuned = make(1)
    with torch.no_grad():
        for p in tuned.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    torch.save(tuned.state_dict(), paths["tuned"])
    return paths


def test_diff_of_independently_initialised_models_is_unrelated(tmp_path: Path) -> None:
    import json

    paths = _torch_models(tmp_path)
    done = run("diff", paths["a"], paths["b"], "--format", "json")
    assert done.returncode == 1, done.stderr
    summary = json.loads(done.stdout)["summary"]
    assert summary["verdict"] == "unrelated", summary
    assert summary["fraction_tensors_changed"] < 0.5  # identical norm layers: by tensor count, "partial"
    text = run("diff", paths["a"], paths["b"]).stdout.decode()
    assert text.splitlines()[2].startswith("UNRELATED:") and "partial fine-tune" not in text
    tuned = json.loads(run("diff", paths["a"], paths["tuned"], "--format", "json").stdout)["summary"]
    assert tuned["verdict"] == "widespread"  # a real fine-tune keeps its verdict


def test_diff_without_numpy_is_a_usage_error(tmp_path: Path) -> None:
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    for p, byte in ((a, 0), (b, 1)):  # NumPy .npy v1.0 by hand: the shim blocks numpy in the child
        header = "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }"
        header += " " * (-(10 + len(header) + 1) % 64) + "\n"
        p.write_bytes(b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode() + bytes([byte]) * 16)
    done = run("diff", a, b, extra_env=shim(tmp_path, "numpy"))
    assert done.returncode == 4, done.stderr
    assert b"pip install 'mlvet[diff]'" in done.stderr
    assert done.stdout == b""  # no verdict computed without the measurements


# ---- 9. FIFOs, convert's output mode and SIGTERM -----------------------------------------------------------------


def test_diff_and_convert_name_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    model = tmp_path / "m.pkl"
    model.write_bytes(BENIGN)
    diff = run("diff", fifo, model, timeout=60)
    assert diff.returncode == 2, diff.stderr
    assert b"a FIFO (named pipe), not a regular file" in diff.stderr and b"no such file" not in diff.stderr
    conv = run("convert", fifo, tmp_path / "out.safetensors", timeout=60)
    assert conv.returncode == 2, conv.stderr
    assert b"a FIFO (named pipe), not a regular file" in conv.stderr and b"no such file" not in conv.stderr


def _checkpoint(path: Path, mib: int) -> Path:
    torch = pytest.importorskip("torch")
    torch.save({"w": torch.zeros(mib << 18)}, path)  # float32: 4 bytes an element
    return path


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_convert_output_mode_follows_the_umask(tmp_path: Path, umask: int) -> None:
    src = _checkpoint(tmp_path / "m.pt", 1)
    out = tmp_path / "m.safetensors"
    def set_umask() -> None:
        os.umask(umask)

    done = run("convert", src, out, preexec=set_umask)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask


def test_sigterm_during_convert_leaves_no_partial_file(tmp_path: Path) -> None:
    src = _checkpoint(tmp_path / "big.pt", 400)
    out = tmp_path / "big.safetensors"
    out.write_bytes(b"previous output")
    proc = start("convert", src, out, "--force")

    def partial_growing() -> bool:
        return any(p.name.endswith(".partial") and p.stat().st_size > 0 for p in tmp_path.iterdir())

    wait_for(partial_growing, proc)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    if proc.returncode == 0:  # pragma: no cover - the machine wrote 400 MB faster than we could signal
        pytest.skip("the conversion finished before SIGTERM arrived")
    assert proc.returncode == 143, err
    time.sleep(0.1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.pt", "big.safetensors"]  # no .partial debris
    assert out.read_bytes() == b"previous output"  # the old output is kept
