"""PyTorch core: every way ``torch`` itself writes a model, plus the files that really carry code.

Covers state_dict and full-model saves in the zip and the legacy (``_use_new_zipfile_serialization=False``)
formats with user classes (both ``__main__`` classes, as a training script has, and classes of a user
package), optimizer/scheduler/GradScaler state, dynamically quantized models, TorchScript, ``torch.export``
archives, single-process ``torch.distributed.checkpoint`` folders, and pickled ``torch.fx`` GraphModules
(kind "code": torch rebuilds them by running their Python source through ``exec``).
"""

from __future__ import annotations

import sys
import warnings

import torch  # noqa: TID251 - fixture generator, never part of the scanner
import torch.nn as nn  # noqa: TID251
import torch.nn.functional as F  # noqa: TID251

from ._common import Corpus

LIB = "torch"
FOLDERS = ("torch",)


class TinyMLP(nn.Module):
    """A user model as a training script defines it (saved as ``__main__.TinyMLP``)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(0.1)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.drop(self.act(self.fc1(x))))


class TinyCNN(nn.Module):
    """Conv + BatchNorm + pooling, the classic image classifier shape."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(4, 8, 3, padding=1), nn.GroupNorm(2, 8), nn.GELU(), nn.AdaptiveAvgPool2d(1),
        )
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1))


class TinyLSTM(nn.Module):
    """Embedding + LSTM + LayerNorm text model."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(20, 6, padding_idx=0)
        self.rnn = nn.LSTM(6, 8, batch_first=True, bidirectional=True)
        self.norm = nn.LayerNorm(16)
        self.out = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.rnn(self.emb(x))
        return self.out(self.norm(h[:, -1]))


class TinyTransformer(nn.Module):
    """nn.TransformerEncoder keeps ``torch.nn.functional.relu`` as its activation attribute."""

    def __init__(self) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, batch_first=True)
        self.enc = nn.TransformerEncoder(layer, num_layers=2, enable_nested_tensor=False)
        self.head = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.enc(x).mean(1))


class GatedUnit(nn.Module):
    """A user module that keeps a plain function and a GRU, as research code does."""

    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(4, 4, batch_first=True)
        self.gate = nn.Linear(4, 4)
        self.activation = F.silu
        self.register_buffer("scale", torch.ones(4))
        self.config = {"hidden": 4, "name": "gated", "dropout": 0.0}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(x)
        return self.activation(self.gate(h)) * self.scale


class FxNet(nn.Module):
    """Traced with torch.fx. Its forward is unannotated: fx copies annotations into the generated code's
    globals, and this module's postponed (string) annotations would make torch.save fail."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.out = nn.Linear(4, 2)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.out(torch.relu(self.fc(x)) + 1)


MAIN_CLASSES = (TinyMLP, TinyCNN, TinyLSTM, TinyTransformer, GatedUnit)


def _as_main(cls: type) -> type:
    """Give a model class to ``__main__`` the way a training script's classes are pickled."""
    main = sys.modules["__main__"]
    sub = type(cls.__name__, (cls,), {"__module__": "__main__", "__doc__": cls.__doc__})
    setattr(main, cls.__name__, sub)
    return sub


def _models(main: bool) -> dict[str, nn.Module]:
    torch.manual_seed(0)
    classes = [_as_main(c) if main else c for c in MAIN_CLASSES]
    return {c.__name__.lower(): c() for c in classes}


def _save_models(corpus: Corpus) -> None:
    user = _models(main=False)
    main = _models(main=True)
    for name, model in user.items():
        rel = f"torch/state_dict/{name}.pt"
        torch.save(model.state_dict(), corpus.path(rel))
        corpus.record(rel, LIB, "torch.save(model.state_dict())")
        rel = f"torch/state_dict_legacy/{name}.pt"
        torch.save(model.state_dict(), corpus.path(rel), _use_new_zipfile_serialization=False)
        corpus.record(rel, LIB, "torch.save(model.state_dict(), _use_new_zipfile_serialization=False)")
    for label, models in (("main", main), ("package", user)):
        for name, model in models.items():
            rel = f"torch/full_model_{label}/{name}.pt"
            torch.save(model, corpus.path(rel))
            corpus.record(rel, LIB, "torch.save(model)", what=f"full model, {label} classes")
            rel = f"torch/full_model_{label}_legacy/{name}.pth"
            torch.save(model, corpus.path(rel), _use_new_zipfile_serialization=False)
            corpus.record(rel, LIB, "torch.save(model, _use_new_zipfile_serialization=False)",
                          what=f"full model, {label} classes")
    # Stock torch containers saved whole (no user class at all).
    stock = {
        "sequential": nn.Sequential(nn.Linear(4, 4), nn.Tanh(), nn.Linear(4, 1), nn.Sigmoid()),
        "module_dict": nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.Conv1d(2, 2, 1)}),
        "transformer": nn.Transformer(d_model=8, nhead=2, num_encoder_layers=1, num_decoder_layers=1,
                                      dim_feedforward=8),
        "multihead_attention": nn.MultiheadAttention(8, 2),
    }
    for name, model in stock.items():
        for legacy in (False, True):
            rel = f"torch/full_model_stock{'_legacy' if legacy else ''}/{name}.pt"
            torch.save(model, corpus.path(rel), _use_new_zipfile_serialization=not legacy)
            corpus.record(rel, LIB, "torch.save(model" + (", _use_new_zipfile_serialization=False)" if legacy
                                                          else ")"))


def _save_training_state(corpus: Corpus) -> None:
    model = TinyMLP()
    x, y = torch.randn(16, 8), torch.randint(0, 3, (16,))
    optimizers = {
        "sgd_momentum": torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True),
        "adam": torch.optim.Adam(model.parameters(), lr=1e-3),
        "adamw_amsgrad": torch.optim.AdamW(model.parameters(), lr=1e-3, amsgrad=True),
        "rmsprop": torch.optim.RMSprop(model.parameters(), lr=1e-3),
        "adagrad": torch.optim.Adagrad(model.parameters(), lr=1e-2),
    }
    for name, opt in optimizers.items():
        for _ in range(2):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        rel = f"torch/optimizer/{name}.pt"
        torch.save(opt.state_dict(), corpus.path(rel))
        corpus.record(rel, LIB, "torch.save(optimizer.state_dict())")
    opt = optimizers["adamw_amsgrad"]
    schedulers = {
        "step_lr": torch.optim.lr_scheduler.StepLR(opt, step_size=2),
        "cosine": torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=10),
        "onecycle": torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=10),
        "lambda_lr": torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda=lambda step: 0.9 ** step),
        "reduce_on_plateau": torch.optim.lr_scheduler.ReduceLROnPlateau(opt),
    }
    for name, sched in schedulers.items():
        rel = f"torch/scheduler/{name}.pt"
        torch.save(sched.state_dict(), corpus.path(rel))
        corpus.record(rel, LIB, "torch.save(scheduler.state_dict())")
    scaler = torch.amp.GradScaler("cpu")
    rel = "torch/training/grad_scaler.pt"
    torch.save(scaler.state_dict(), corpus.path(rel))
    corpus.record(rel, LIB, "torch.save(torch.amp.GradScaler.state_dict())")
    rel = "torch/training/rng_state.pth"
    torch.save({"python": __import__("random").getstate(), "cpu": torch.get_rng_state(),
                "numpy": __import__("numpy").random.get_state()}, corpus.path(rel))
    corpus.record(rel, LIB, "torch.save(rng states)")
    rel = "torch/training/checkpoint_dict.tar"
    torch.save({"epoch": 3, "model_state_dict": model.state_dict(), "optimizer_state_dict": opt.state_dict(),
                "loss": torch.tensor(0.25), "history": [0.9, 0.5, 0.25]}, corpus.path(rel))
    corpus.record(rel, LIB, "torch.save(checkpoint dict)", what="the PyTorch tutorial's checkpoint layout")
    swa = torch.optim.swa_utils.AveragedModel(model)
    rel = "torch/training/swa_averaged_model.pt"
    torch.save(swa, corpus.path(rel))
    corpus.record(rel, LIB, "torch.save(torch.optim.swa_utils.AveragedModel)")


def _save_tensors(corpus: Corpus) -> None:
    torch.manual_seed(1)
    base = torch.arange(6.0).view(2, 3)
    tensors = {
        "float16": torch.randn(3, 3).half(),
        "bfloat16": torch.randn(3, 3).bfloat16(),
        "int8": torch.randint(-5, 5, (4,), dtype=torch.int8),
        "bool": torch.tensor([True, False]),
        "complex64": torch.randn(2, dtype=torch.complex64),
        "float8_e4m3fn": torch.randn(4).to(torch.float8_e4m3fn),
        "sparse_coo": torch.eye(3).to_sparse(),
        "sparse_csr": torch.eye(3).to_sparse_csr(),
        "quantized_per_tensor": torch.quantize_per_tensor(torch.randn(4), 0.1, 0, torch.quint8),
        "quantized_per_channel": torch.quantize_per_channel(torch.randn(2, 3), torch.tensor([0.1, 0.2]),
                                                            torch.tensor([0, 0]), 0, torch.qint8),
        "view_sharing": {"base": base, "row": base[0], "t": base.t()},
        "parameter": nn.Parameter(torch.ones(2)),
        "size_and_dtype": {"size": torch.Size([2, 3]), "dtype": torch.float32, "device": torch.device("cpu")},
    }
    for name, value in tensors.items():
        rel = f"torch/tensors/{name}.pt"
        torch.save(value, corpus.path(rel))
        corpus.record(rel, LIB, "torch.save(tensor)")
    rel = "torch/tensors/protocol4.pt"
    torch.save({"w": torch.ones(2)}, corpus.path(rel), pickle_protocol=4)
    corpus.record(rel, LIB, "torch.save(obj, pickle_protocol=4)")
    rel = "torch/tensors/legacy_bfloat16.pt"
    torch.save(tensors["bfloat16"], corpus.path(rel), _use_new_zipfile_serialization=False)
    corpus.record(rel, LIB, "torch.save(tensor, _use_new_zipfile_serialization=False)")


def _save_quantized(corpus: Corpus) -> None:
    torch.manual_seed(2)
    for name, cls in (("mlp", TinyMLP), ("lstm", TinyLSTM)):
        model = cls().eval()
        q = torch.ao.quantization.quantize_dynamic(model, {nn.Linear, nn.LSTM}, dtype=torch.qint8)
        for legacy in (False, True):
            rel = f"torch/quantized/{name}_dynamic{'_legacy' if legacy else ''}.pt"
            torch.save(q, corpus.path(rel), _use_new_zipfile_serialization=not legacy)
            corpus.record(rel, LIB, "torch.save(torch.ao.quantization.quantize_dynamic(model))"
                          + (" legacy format" if legacy else ""))
        rel = f"torch/quantized/{name}_dynamic_state_dict.pt"
        torch.save(q.state_dict(), corpus.path(rel))
        corpus.record(rel, LIB, "torch.save(quantize_dynamic(model).state_dict())")
    q16 = torch.ao.quantization.quantize_dynamic(TinyMLP().eval(), {nn.Linear}, dtype=torch.float16)
    rel = "torch/quantized/mlp_dynamic_fp16.pt"
    torch.save(q16, corpus.path(rel))
    corpus.record(rel, LIB, "torch.save(quantize_dynamic(model, dtype=torch.float16))")


def _save_scripted(corpus: Corpus) -> None:
    torch.manual_seed(3)
    scripted = {
        "mlp_script": torch.jit.script(TinyMLP().eval()),
        "lstm_script": torch.jit.script(TinyLSTM().eval()),
        "cnn_trace": torch.jit.trace(TinyCNN().eval(), torch.randn(1, 3, 8, 8)),
        "transformer_trace": torch.jit.trace(TinyTransformer().eval(), torch.randn(1, 4, 8), check_trace=False),
        "quantized_script": torch.jit.script(
            torch.ao.quantization.quantize_dynamic(TinyMLP().eval(), {nn.Linear}, dtype=torch.qint8)),
    }
    for name, module in scripted.items():
        rel = f"torch/torchscript/{name}.pt"
        torch.jit.save(module, str(corpus.path(rel)))
        corpus.record(rel, LIB, "torch.jit.save(torch.jit.script/trace(model))",
                      what="TorchScript: torch's own restricted language, no Python")
    frozen = torch.jit.freeze(torch.jit.script(TinyCNN().eval()))
    rel = "torch/torchscript/cnn_frozen.pt"
    torch.jit.save(frozen, str(corpus.path(rel)))
    corpus.record(rel, LIB, "torch.jit.save(torch.jit.freeze(script))")


def _save_exported(corpus: Corpus) -> None:
    torch.manual_seed(4)
    cases = {
        "mlp": (TinyMLP().eval(), (torch.randn(2, 8),)),
        "cnn": (TinyCNN().eval(), (torch.randn(1, 3, 8, 8),)),
    }
    for name, (model, args) in cases.items():
        ep = torch.export.export(model, args)
        rel = f"torch/export/{name}.pt2"
        torch.export.save(ep, str(corpus.path(rel)))
        corpus.record(rel, LIB, "torch.export.save(torch.export.export(model))")


def _save_dcp(corpus: Corpus) -> None:
    import torch.distributed.checkpoint as dcp  # noqa: TID251

    torch.manual_seed(5)
    model = TinyMLP()
    opt = torch.optim.Adam(model.parameters())
    opt.zero_grad()
    model(torch.randn(2, 8)).sum().backward()
    opt.step()
    folder = corpus.dir("torch/dcp/model_only")
    dcp.save(model.state_dict(), checkpoint_id=str(folder))
    corpus.record_tree("torch/dcp/model_only", LIB, "torch.distributed.checkpoint.save(state_dict)")
    folder = corpus.dir("torch/dcp/model_and_optimizer")
    from torch.distributed.checkpoint.state_dict import get_state_dict  # noqa: TID251

    msd, osd = get_state_dict(model, opt)
    dcp.save({"model": msd, "optim": osd, "step": 7}, checkpoint_id=str(folder))
    corpus.record_tree("torch/dcp/model_and_optimizer", LIB,
                       "torch.distributed.checkpoint.save(get_state_dict(model, optimizer))")


def _save_fx(corpus: Corpus) -> None:
    """GraphModules pickle their generated Python source; torch rebuilds them with ``exec`` at load."""
    torch.manual_seed(6)
    cases = {"fxnet": FxNet, "sequential": lambda: nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))}
    for name, build in cases.items():
        gm = torch.fx.symbolic_trace(build().eval())
        rel = f"torch/fx/{name}_graph_module.pt"
        torch.save(gm, corpus.path(rel))
        corpus.record(rel, LIB, "torch.save(torch.fx.symbolic_trace(model))", kind="code",
                      what="torch.fx.graph_module.reduce_graph_module runs the pickled source through exec",
                      min_severity="high", code_rules=["PKL100", "PKL102", "PKL204"])


def _save_package(corpus: Corpus) -> None:
    """torch.package copies the model's module source into the archive; importing the package runs it."""
    from .packaged_net import PackagedNet

    torch.manual_seed(7)
    rel = "torch/package/packaged_net.pt"
    with torch.package.PackageExporter(str(corpus.path(rel))) as exp:
        exp.intern(PackagedNet.__module__)
        exp.extern("torch.**")
        exp.save_pickle("model", "model.pkl", PackagedNet())
    corpus.record(rel, LIB, "torch.package.PackageExporter.save_pickle()", kind="code",
                  what="the interned module's Python source runs when PackageImporter loads the model",
                  min_severity="low", code_rules=["OTH053"])


def make(corpus: Corpus) -> None:
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    # GraphModule pickling first: after torch.export has run, fx codegen adds globals torch.save cannot name.
    _save_fx(corpus)
    _save_models(corpus)
    _save_training_state(corpus)
    _save_tensors(corpus)
    _save_quantized(corpus)
    _save_scripted(corpus)
    _save_exported(corpus)
    _save_dcp(corpus)
    _save_package(corpus)
