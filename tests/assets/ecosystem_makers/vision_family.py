"""Vision and training frameworks on top of torch: timm (its tiny ``test_*`` architectures), Ultralytics
YOLO checkpoints, PyTorch Lightning checkpoints and torchmetrics state.

Ultralytics: ``YOLO(<tiny yaml>).save()`` is the library's own save; the training checkpoint (``last.pt``)
is the dict ``BaseTrainer.save_model`` writes, rebuilt with Ultralytics' own ModelEMA, fp16 optimizer
converter and config, since a real training run needs a dataset.
"""

from __future__ import annotations

import warnings
from copy import deepcopy
from pathlib import Path

import torch  # noqa: TID251 - fixture generator, never part of the scanner

from ._common import Corpus

FOLDERS = ("timm", "ultralytics", "lightning", "torchmetrics")

TINY_YOLO = """\
nc: 3
scales:
  t: [0.33, 0.0625, 1024]
backbone:
  - [-1, 1, Conv, [64, 3, 2]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [-1, 1, C2f, [128, True]]
  - [-1, 1, Conv, [256, 3, 2]]
  - [-1, 1, C2f, [256, True]]
  - [-1, 1, SPPF, [256, 5]]
head:
  - [-1, 1, nn.Upsample, [None, 2, "nearest"]]
  - [[-1, 2], 1, Concat, [1]]
  - [-1, 1, C2f, [128]]
  - [-1, 1, Conv, [128, 3, 2]]
  - [[-1, 5], 1, Concat, [1]]
  - [-1, 1, C2f, [256]]
  - [[8, 11], 1, Detect, [nc]]
"""


#: timm architectures shrunk with their own constructor arguments, so each file stays in the tens of KB.
ARCHS: dict[str, dict[str, object]] = {
    "test_vit": {"embed_dim": 16, "depth": 1, "num_heads": 2, "img_size": 32, "patch_size": 8},
    "resnet18": {"layers": [1, 1, 1, 1], "channels": (8, 16, 16, 16)},
    "test_efficientnet": {"channel_multiplier": 0.25, "depth_multiplier": 0.25},
    "test_convnext": {"dims": (8, 16, 16, 16), "depths": (1, 1, 1, 1)},
}


def _timm(corpus: Corpus) -> None:
    import timm
    from safetensors.torch import save_file
    from timm.models import _hub as push_to_hub

    torch.manual_seed(0)
    for arch, kwargs in ARCHS.items():
        model = timm.create_model(arch, pretrained=False, num_classes=3, **kwargs)
        rel = f"timm/{arch}_state_dict.pth"
        torch.save(model.state_dict(), corpus.path(rel))
        corpus.record(rel, "timm", "torch.save(timm.create_model(...).state_dict())")
        rel = f"timm/{arch}.safetensors"
        save_file(model.state_dict(), str(corpus.path(rel)))
        corpus.record(rel, "timm", "safetensors.torch.save_file(timm model state_dict)")
        rel = f"timm/hf/{arch}"
        push_to_hub.save_for_hf(model, str(corpus.dir(rel)))
        corpus.record_tree(rel, "timm", "timm.models._hub.save_for_hf()")
    model = timm.create_model("test_vit", pretrained=False, num_classes=3, **ARCHS["test_vit"])
    rel = "timm/test_vit_full_model.pt"
    torch.save(model, corpus.path(rel))
    corpus.record(rel, "timm", "torch.save(timm model)")
    from timm.utils import ModelEmaV3

    ema = ModelEmaV3(model, decay=0.99)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    rel = "timm/train_checkpoint.pth.tar"
    # The dict timm's CheckpointSaver writes (train.py): epoch, arch, state_dict, optimizer, version, state_dict_ema.
    torch.save({"epoch": 1, "arch": "test_vit", "state_dict": model.state_dict(), "optimizer": opt.state_dict(),
                "version": 2, "args": None, "state_dict_ema": ema.module.state_dict(), "metric": 0.5},
               corpus.path(rel))
    corpus.record(rel, "timm", "timm.utils.CheckpointSaver layout (torch.save)")


def _ultralytics(corpus: Corpus, tmp: Path) -> None:
    from ultralytics import YOLO, __version__
    from ultralytics.cfg import get_cfg
    from ultralytics.utils.torch_utils import ModelEMA, convert_optimizer_state_dict_to_fp16

    torch.manual_seed(0)
    yaml_path = tmp / "yolo-tiny-t.yaml"
    yaml_path.write_text(TINY_YOLO, encoding="utf-8")
    yolo = YOLO(str(yaml_path), task="detect")
    rel = "ultralytics/yolo_tiny_saved.pt"
    yolo.save(str(corpus.path(rel)))
    corpus.record(rel, "ultralytics", "ultralytics.YOLO.save()")
    model = yolo.model
    ema = ModelEMA(model)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model.train()
    sum(p.float().pow(2).sum() for p in model.parameters()).backward()
    opt.step()
    ema.update(model)
    args = get_cfg(overrides={"model": "yolo-tiny-t.yaml", "data": "coco8.yaml", "epochs": 1, "imgsz": 32})
    ckpt = {
        "epoch": 0, "best_fitness": None, "stopper": {"best_fitness": None, "best_epoch": 0},
        "model": None, "ema": deepcopy(ema.ema).half(), "updates": ema.updates, "modelopt": None,
        "optimizer": convert_optimizer_state_dict_to_fp16(deepcopy(opt.state_dict())),
        "scaler": torch.amp.GradScaler("cpu", enabled=False).state_dict(),
        "train_args": vars(args), "train_metrics": {"metrics/mAP50(B)": 0.0, "fitness": 0.0},
        "train_results": {}, "date": "2026-01-01T00:00:00+00:00", "version": __version__,
        "license": "AGPL-3.0 License (https://ultralytics.com/license)", "docs": "https://docs.ultralytics.com",
    }
    rel = "ultralytics/last.pt"
    torch.save(ckpt, corpus.path(rel))
    corpus.record(rel, "ultralytics", "the dict of ultralytics BaseTrainer.save_model() (torch.save)",
                  what="training checkpoint: EMA model (ultralytics classes), fp16 optimizer state, train args")


def _lightning(corpus: Corpus) -> None:
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import EarlyStopping, ModelCheckpoint
    from pytorch_lightning.loggers import CSVLogger

    from .lightning_module import TinyRegressor

    pl.seed_everything(0, workers=False, verbose=False)
    root = corpus.dir("lightning/run")
    data = torch.utils.data.TensorDataset(torch.randn(16, 4), torch.randn(16, 1))
    loader = torch.utils.data.DataLoader(data, batch_size=8)
    ckpt = ModelCheckpoint(dirpath=str(root / "checkpoints"), filename="epoch{epoch}", save_last=True,
                           monitor="train_loss", auto_insert_metric_name=False)
    logger = CSVLogger(str(root), name="logs", version=0)
    trainer = pl.Trainer(max_epochs=2, accelerator="cpu", devices=1, logger=logger,
                         callbacks=[ckpt, EarlyStopping(monitor="train_loss", patience=3)], enable_progress_bar=False,
                         enable_model_summary=False, log_every_n_steps=1, deterministic=True)
    trainer.fit(TinyRegressor(hidden=8, lr=0.01), loader)
    trainer.save_checkpoint(str(root / "manual.ckpt"))
    trainer.save_checkpoint(str(root / "weights_only.ckpt"), weights_only=True)
    corpus.record_tree("lightning/run", "pytorch-lightning", "pytorch_lightning.Trainer.fit() + save_checkpoint()",
                       what="ModelCheckpoint/EarlyStopping callback state, hparams, loops, optimizer")


def _torchmetrics(corpus: Corpus) -> None:
    import torchmetrics

    acc = torchmetrics.classification.MulticlassAccuracy(num_classes=3)
    acc.update(torch.tensor([0, 1, 2, 1]), torch.tensor([0, 1, 1, 1]))
    f1 = torchmetrics.classification.MulticlassF1Score(num_classes=3)
    coll = torchmetrics.MetricCollection({"acc": acc, "f1": f1})
    rel = "torchmetrics/metric_collection_state.pt"
    torch.save(coll.state_dict(), corpus.path(rel))
    corpus.record(rel, "torchmetrics", "torch.save(MetricCollection.state_dict())")
    rel = "torchmetrics/accuracy_full.pt"
    torch.save(acc, corpus.path(rel))
    corpus.record(rel, "torchmetrics", "torch.save(MulticlassAccuracy)")


def make(corpus: Corpus) -> None:
    import shutil
    import tempfile

    warnings.filterwarnings("ignore")
    _timm(corpus)
    tmp = Path(tempfile.mkdtemp(prefix="mlvet-eco-"))
    try:
        _ultralytics(corpus, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _lightning(corpus)
    _torchmetrics(corpus)
