#!/usr/bin/env python3
"""Derive the schemaless SavedModel and bare MetaGraphDef fixtures under ``tests/assets/tf_meta/``.

Why: TensorFlow's loader accepts a ``saved_model.pb`` without ``schema_version`` (it is field 1, a plain
varint, and optional in the proto), and ``tf.compat.v1.train.export_meta_graph`` / ``Saver`` write a bare
MetaGraphDef (``model.ckpt.meta``) that ``import_meta_graph`` loads. Both are made here from the SavedModels
TensorFlow itself wrote for ``tests/assets/tensorflow`` (``make_tensorflow.py``), at the protobuf level:

* ``*_noschema.pb``: the SavedModel with its ``schema_version`` field (bytes ``08 01``) removed;
* ``*.meta``: the SavedModel's first ``meta_graphs`` entry, which is exactly a serialized MetaGraphDef.

No TensorFlow is needed to run this; nothing is loaded. Run::

    python3 tests/assets/make_tf_meta.py
"""

from __future__ import annotations

from pathlib import Path

SRC = Path(__file__).resolve().parent / "tensorflow"
OUT = Path(__file__).resolve().parent / "tf_meta"


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, i


def split(saved_model: bytes) -> tuple[bytes, bytes]:
    """(the SavedModel without schema_version, its first MetaGraphDef)."""
    if saved_model[:1] != b"\x08":
        raise ValueError("expected schema_version as the first field")
    _, i = _varint(saved_model, 1)
    rest = saved_model[i:]
    if rest[:1] != b"\x12":
        raise ValueError("expected meta_graphs after schema_version")
    length, j = _varint(rest, 1)
    return rest, rest[j : j + length]


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name in ("savedmodel_benign", "savedmodel_file_ops", "savedmodel_pyfunc"):
        schemaless, meta = split((SRC / name / "saved_model.pb").read_bytes())
        (OUT / f"{name}_noschema.pb").write_bytes(schemaless)
        (OUT / f"{name}.meta").write_bytes(meta)
    for p in sorted(OUT.iterdir()):
        print(p.name, p.stat().st_size)


if __name__ == "__main__":
    main()
