"""PyTorch Lightning checkpoints (``tests/assets/lightning/``), written by the real ``lightning`` library.

Needs ``lightning`` (2.6) and torch==2.13.0 in a venv: ``python tests/assets/make_lightning.py``.

* ``benign_trainer.ckpt``: ``Trainer.fit`` of a tiny module that calls ``save_hyperparameters()`` with a
  datamodule that does too (keys ``hyper_parameters``, ``datamodule_hyper_parameters``, ``callbacks``,
  ``loops``, ``hparams_name``, ``optimizer_states`` ...).
* ``benign_cli.ckpt``: the same model trained through ``LightningCLI`` (subclass mode), which stores
  ``_instantiator = "lightning.pytorch.cli.instantiate_module"`` and the model's ``_class_path`` in the
  hyper-parameters, and a nested ``class_path``/``init_args`` config.
* ``instantiator_attack.ckpt``: the benign checkpoint re-saved with ``_instantiator`` naming a callable
  outside Lightning's allowlist (Lightning up to 2.5 imported and called any path).
* ``class_path_attack.ckpt``: a nested ``class_path`` naming ``subprocess.Popen`` in ``init_args``, which
  jsonargparse would import and construct when instantiating the hyper-parameters.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "lightning"


def main() -> None:
    import lightning.pytorch as pl
    import torch  # noqa: TID251 - fixture generator, never part of the scanner
    from lightning.pytorch.cli import LightningCLI
    from torch import nn  # noqa: TID251 - fixture generator
    from torch.utils.data import DataLoader, TensorDataset  # noqa: TID251 - fixture generator

    class Tiny(pl.LightningModule):
        def __init__(self, hidden: int = 4, lr: float = 0.1, head: dict | None = None) -> None:
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Linear(3, hidden)

        def training_step(self, batch, idx):  # type: ignore[no-untyped-def]
            x, y = batch
            return ((self.net(x).sum(1) - y) ** 2).mean()

        def configure_optimizers(self):  # type: ignore[no-untyped-def]
            return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)

    class Data(pl.LightningDataModule):
        def __init__(self, batch_size: int = 4) -> None:
            super().__init__()
            self.save_hyperparameters()

        def train_dataloader(self):  # type: ignore[no-untyped-def]
            g = torch.Generator().manual_seed(0)
            return DataLoader(TensorDataset(torch.randn(8, 3, generator=g), torch.randn(8, generator=g)),
                              batch_size=self.hparams.batch_size)

    sys.modules["__main__"].Tiny = Tiny  # type: ignore[attr-defined]
    sys.modules["__main__"].Data = Data  # type: ignore[attr-defined]
    Tiny.__module__ = Data.__module__ = "__main__"
    OUT.mkdir(exist_ok=True)
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        trainer = pl.Trainer(max_steps=2, default_root_dir=tmp, logger=False, enable_progress_bar=False,
                             enable_model_summary=False, accelerator="cpu")
        trainer.fit(Tiny(), datamodule=Data())
        trainer.save_checkpoint(OUT / "benign_trainer.ckpt")

        sys.argv = ["cli", "fit", "--model", "__main__.Tiny", "--model.head",
                    '{"class_path": "torch.nn.ReLU", "init_args": {"inplace": false}}',
                    "--trainer.max_steps", "2", "--trainer.logger", "false", "--trainer.accelerator", "cpu",
                    "--trainer.enable_progress_bar", "false", f"--trainer.default_root_dir={tmp}"]
        cli = LightningCLI(Tiny, Data, subclass_mode_model=True, save_config_callback=None)
        cli.trainer.save_checkpoint(OUT / "benign_cli.ckpt")

    ckpt = torch.load(OUT / "benign_cli.ckpt", weights_only=False)
    ckpt["hyper_parameters"]["_instantiator"] = "os.system"
    torch.save(ckpt, OUT / "instantiator_attack.ckpt")
    ckpt = torch.load(OUT / "benign_cli.ckpt", weights_only=False)
    ckpt["hyper_parameters"]["head"] = {"class_path": "subprocess.Popen", "init_args": {"args": ["id"]}}
    torch.save(ckpt, OUT / "class_path_attack.ckpt")


if __name__ == "__main__":
    main()
