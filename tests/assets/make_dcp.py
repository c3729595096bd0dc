"""Build the ``torch.distributed.checkpoint`` fixture in ``tests/assets/dcp/`` with the real torch (fixture time only).

    python tests/assets/make_dcp.py

One process, no process group: ``dcp.save`` then assumes a single rank and writes ``.metadata`` (a
pickle of ``Metadata`` dataclasses) and one shard ``__0_0.distcp``: one ``torch.save`` archive per tensor
and per non-tensor item (the int, the string, the float and the ``BytesIO`` below are each
``torch.save``'d), concatenated at the offsets ``.metadata`` records. ``dcp_raw/`` holds the same state
saved with ``SerializationFormat.SAFETENSORS``: tensors as raw bytes between the archives.
"""

from __future__ import annotations

import io
import shutil
import warnings
from pathlib import Path

import torch  # noqa: TID251 - fixture generator, never part of the scanner
import torch.distributed.checkpoint as dcp  # noqa: TID251 - fixture generator

OUT = Path(__file__).resolve().parent / "dcp"
#: The same state with tensors written as raw bytes between the archives (SerializationFormat.SAFETENSORS).
OUT_RAW = Path(__file__).resolve().parent / "dcp_raw"


def main() -> None:
    from torch.distributed.checkpoint import FileSystemWriter  # noqa: TID251 - fixture generator
    from torch.distributed.checkpoint.filesystem import SerializationFormat  # noqa: TID251 - fixture generator

    shutil.rmtree(OUT, ignore_errors=True)
    shutil.rmtree(OUT_RAW, ignore_errors=True)
    g = torch.Generator().manual_seed(0)
    state = {
        "model": {"linear.weight": torch.randn(4, 3, generator=g), "linear.bias": torch.zeros(4),
                  "embed": torch.arange(12, dtype=torch.int64).reshape(3, 4)},
        "optim": {"lr": 0.01, "step": 7},
        "name": "tiny-dcp",
        "blob": io.BytesIO(b"opaque user bytes"),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "assuming the intent is to save in a single process"
        dcp.save(state, checkpoint_id=str(OUT))
        state["blob"] = io.BytesIO(b"opaque user bytes")  # consumed by the first save
        raw = FileSystemWriter(str(OUT_RAW), serialization_format=SerializationFormat.SAFETENSORS)
        dcp.save(state, storage_writer=raw)
    for p in sorted([*OUT.iterdir(), *OUT_RAW.iterdir()]):
        print(f"{p.parent.name}/{p.name}: {p.stat().st_size} bytes")


if __name__ == "__main__":
    main()
