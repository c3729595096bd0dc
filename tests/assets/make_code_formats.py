#!/usr/bin/env python3
"""Regenerate the code-bearing format fixtures under ``tests/assets/code_formats/``.

Why: torch.package archives, TorchServe ``.mar`` files, NeMo ``.nemo`` tarballs and Hydra configs are code
by design; mlvet must say so quietly for what the libraries write (no finding at medium or above for an
ordinary model) and loudly for the published attack shapes:

* ``torch.package`` (torch 2.13.0, ``PackageExporter``): a benign ``nn.Module`` module interned, and the same
  module with an ``os.system`` call at module level (the code runs when ``PackageImporter`` loads the model).
* TorchServe (``torch-model-archiver`` 0.12.0): a ``.mar`` with an ordinary handler, and one whose handler
  starts a shell at import (the published "malicious handler" shape); ``--archive-format tgz`` as well.
* NeMo (CVE-2025-23304, Unit 42 2026): ``nemo_toolkit`` is far too large to install here, so the ``.nemo``
  is built to its published layout (``SaveRestoreConnector``: a tar of ``model_config.yaml``, written by
  OmegaConf, and ``model_weights.ckpt``, a ``torch.save`` state dict), benign and with a Hydra ``_target_``
  naming ``os.system``.
* Hydra configs written by OmegaConf 2.3 (``OmegaConf.save``): ordinary targets (``torch.nn.Linear``,
  ``torch.optim.Adam``, a NeMo class) and dangerous ones (``subprocess.run``, ``builtins.eval``).
* Old joblib ``ZF`` files (joblib < 0.10 ``write_zfile``; joblib itself no longer writes them): built to that
  function's layout, ``b"ZF"`` + hex length padded to 19 + a zlib stream of the pickle.

Nothing is loaded. Run (torch-model-archiver and omegaconf from a venv; torch 2.13.0 pinned)::

    pip install torch-model-archiver==0.12.0 omegaconf==2.3.0 torch==2.13.0
    python3 tests/assets/make_code_formats.py
"""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import tarfile
import tempfile
import zlib
from pathlib import Path

import torch  # noqa: TID251 - fixture generator, never part of the scanner
from omegaconf import OmegaConf

OUT = Path(__file__).resolve().parent / "code_formats"
PAYLOAD = 'echo mlvet-test >> "${MLVET_MARKER:-/dev/null}"'
MODULE = '''"""A small model shipped as source."""

import torch


class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(4, 2)

    def forward(self, x):
        return torch.relu(self.fc(x))
'''
EVIL_PREFIX = f"import os\nos.system({PAYLOAD!r})\n"
HANDLER = '''"""A TorchServe handler built on the base handler."""

import torch
from ts.torch_handler.base_handler import BaseHandler


class TinyHandler(BaseHandler):
    def preprocess(self, data):
        return torch.tensor([row.get("body") for row in data], dtype=torch.float32)

    def postprocess(self, data):
        return data.tolist()
'''


def _package(name: str, source: str) -> None:
    """torch.package with the model module interned (its source copied in)."""
    with tempfile.TemporaryDirectory() as tmp:
        mod = f"tinynet_{name}"
        Path(tmp, f"{mod}.py").write_text(source)
        sys.path.insert(0, tmp)
        try:
            module = __import__(mod) if "os.system" not in source else None
            if module is None:  # never run the payload: export the benign module's object under the evil source
                Path(tmp, f"{mod}.py").write_text(MODULE)
                module = __import__(mod)
                Path(tmp, f"{mod}.py").write_text(source)
            torch.manual_seed(0)
            out = OUT / f"torch_package_{name}.pt"
            with torch.package.PackageExporter(str(out)) as exp:
                exp.intern(mod)
                exp.extern("torch.**")
                exp.save_pickle("model", "model.pkl", module.TinyNet())
        finally:
            sys.path.remove(tmp)
            sys.modules.pop(f"tinynet_{name}", None)


def _mar(name: str, handler: str, archive_format: str = "default") -> None:
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "model.py").write_text(MODULE)
        Path(tmp, "handler.py").write_text(handler)
        torch.manual_seed(0)
        sys.path.insert(0, tmp)
        try:
            net = __import__("model").TinyNet()
        finally:
            sys.path.remove(tmp)
            sys.modules.pop("model", None)
        torch.save(net.state_dict(), Path(tmp, "weights.pt"))
        Path(tmp, "index_to_name.json").write_text('{"0": "no", "1": "yes"}')
        archiver = Path(sys.executable).with_name("torch-model-archiver")
        subprocess.run(
            [str(archiver), "--model-name", name, "--version", "1.0", "--model-file", "model.py",
             "--serialized-file", "weights.pt", "--handler", "handler.py", "--extra-files", "index_to_name.json",
             "--export-path", str(OUT), "--archive-format", archive_format, "--force"],
            cwd=tmp, check=True,
        )


def _nemo(name: str, config: dict[str, object]) -> None:
    cfg = OmegaConf.create(config)
    buf = io.BytesIO()
    torch.manual_seed(0)
    torch.save(torch.nn.Linear(4, 2).state_dict(), buf)
    with tempfile.TemporaryDirectory() as tmp:
        OmegaConf.save(cfg, Path(tmp, "model_config.yaml"))
        Path(tmp, "model_weights.ckpt").write_bytes(buf.getvalue())
        with tarfile.open(OUT / f"{name}.nemo", "w:") as tar:  # NeMo >= 1.7 writes uncompressed tars
            for member in ("model_config.yaml", "model_weights.ckpt"):
                info = tar.gettarinfo(Path(tmp, member), arcname=f"./{member}")
                info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
                with open(Path(tmp, member), "rb") as f:
                    tar.addfile(info, f)


NEMO_BENIGN = {
    "target": "nemo.collections.asr.models.ctc_models.EncDecCTCModel",
    "sample_rate": 16000,
    "preprocessor": {"_target_": "nemo.collections.asr.modules.AudioToMelSpectrogramPreprocessor",
                     "features": 64, "window_size": 0.025},
    "encoder": {"_target_": "nemo.collections.asr.modules.ConvASREncoder", "feat_in": 64,
                "jasper": [{"filters": 128, "repeat": 1, "kernel": [11], "stride": [1]}]},
    "decoder": {"_target_": "nemo.collections.asr.modules.ConvASRDecoder", "feat_in": 128, "num_classes": 28},
    "optim": {"name": "adam", "lr": 0.001},
}


def _hydra() -> None:
    benign = {
        "model": {"_target_": "torch.nn.Linear", "in_features": 4, "out_features": 2},
        "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.001},
        "scheduler": {"_target_": "torch.optim.lr_scheduler.StepLR", "_partial_": True, "step_size": 10},
        "trainer": {"max_epochs": 3, "callbacks": [{"_target_": "nemo.utils.exp_manager.TimingCallback"}]},
    }
    OmegaConf.save(OmegaConf.create(benign), OUT / "hydra_benign.yaml")
    evil = {"model": {"_target_": "subprocess.run", "_args_": [["sh", "-c", PAYLOAD]]}}
    OmegaConf.save(OmegaConf.create(evil), OUT / "hydra_subprocess.yaml")
    evil2 = {"data": {"loader": {"_target_": "builtins.eval", "_args_": ["__import__('os').getcwd()"]}}}
    OmegaConf.save(OmegaConf.create(evil2), OUT / "hydra_eval.yaml")


def _zf(name: str, obj: object) -> None:
    """joblib < 0.10 ``write_zfile``: ``b"ZF"`` + hex(len) left-justified to len(hex(2**64)) + zlib stream."""
    data = pickle.dumps(obj, protocol=2)
    length = f"{len(data):#x}".ljust(len(f"{2**64:#x}"))
    (OUT / name).write_bytes(b"ZF" + length.encode() + zlib.compress(data, 1))


class _System:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (PAYLOAD,))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    _package("benign", MODULE)
    _package("os_system", EVIL_PREFIX + MODULE)
    _mar("tiny_benign", HANDLER)
    _mar("tiny_evil", EVIL_PREFIX + HANDLER)
    _mar("tiny_tgz", HANDLER, "tgz")
    os.replace(OUT / "tiny_tgz.tar.gz", OUT / "tiny_tgz.mar.tar.gz")
    _nemo("asr_benign", NEMO_BENIGN)
    evil = {**NEMO_BENIGN, "encoder": {"_target_": "os.system", "_args_": [PAYLOAD]}}
    _nemo("asr_os_system", evil)
    _hydra()
    _zf("joblib_zf_benign.pkl", {"weights": [0.5, 1.5], "classes": ["a", "b"]})
    _zf("joblib_zf_os_system.pkl", _System())
    for p in sorted(OUT.iterdir()):
        print(p.name, p.stat().st_size)


if __name__ == "__main__":
    main()
