"""Build the safetensors fixtures in tests/assets/safetensors/ (run: ``python tests/assets/make_safetensors.py``).

* Benign files are written by the real ``safetensors`` library (``safetensors.numpy.save_file`` and
  ``safetensors.torch.save_file`` with torch 2.13.0): several dtypes, metadata, an empty file and a
  zero-element tensor.
* Malformed and malicious files are built from bytes by :func:`malicious_fixtures` (no dependency): header
  length beyond the file, invalid UTF-8/JSON, duplicate keys, non-string metadata, unknown dtype, shape
  and size mismatches, 64-bit overflow, offsets out of bounds, overlapping tensors, gaps, and a pickle
  hidden after the last tensor. Tests import these builders and check the committed files match them.
* ``make_big_safetensors(path, size)`` writes a sparse multi-GB file (header, then ``truncate``) for the
  streaming test and the benchmark.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / "safetensors"

#: A pickle that calls os.system('id') (bytes only; never loaded): proves hidden bytes are scanned.
PICKLE_PAYLOAD = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."


def raw(header: bytes | str, data: bytes = b"", *, length: int | None = None) -> bytes:
    """A file from a raw header (padded with spaces to 8 bytes, as the library does) and data bytes."""
    h = header.encode() if isinstance(header, str) else header
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h) if length is None else length) + h + data


def st(tensors: dict[str, Any], data: bytes, metadata: Any = None) -> bytes:
    header: dict[str, Any] = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    header.update(tensors)
    return raw(json.dumps(header, separators=(",", ":")), data)


def t(dtype: str, shape: list[Any], begin: Any, end: Any) -> dict[str, Any]:
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def malicious_fixtures() -> dict[str, bytes]:
    """Every crafted file, by name (each hits one detection; see tests/formats/test_safetensors.py)."""
    d16 = bytes(range(16))
    out: dict[str, bytes] = {}
    # --- header length and encoding --------------------------------------------------------------------
    out["header_length_beyond_file.safetensors"] = raw('{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}',
                                                       length=0xFFFFFFFFFF)
    out["header_not_json.safetensors"] = raw('{"a": {"dtype": "F32", "shape": [4], ', b"")
    out["header_not_utf8.safetensors"] = raw(b'{"a\xff\xfe": 1}')
    out["entry_not_tensor.safetensors"] = raw('{"a":1}')
    out["header_nan.safetensors"] = raw('{"a":{"dtype":"F32","shape":[NaN],"data_offsets":[0,0]}}')
    # --- header semantics -------------------------------------------------------------------------------
    out["duplicate_keys.safetensors"] = raw(
        '{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},'
        '"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}', d16)
    out["metadata_not_string.safetensors"] = st({"w": t("F32", [4], 0, 16)}, d16,
                                                metadata={"format": "pt", "layers": 12, "cfg": {"a": 1}})
    out["unknown_dtype.safetensors"] = st({"w": t("F128", [1], 0, 16)}, d16)
    out["bad_shape.safetensors"] = st({"w": t("F32", [-4], 0, 16)}, d16)
    out["bad_offsets.safetensors"] = st({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0]}}, d16)
    out["unexpected_field.safetensors"] = st({"w": {**t("F32", [4], 0, 16), "loader": "x"}}, d16)
    # --- sizes and offsets ------------------------------------------------------------------------------
    out["shape_larger_than_span.safetensors"] = st({"w": t("F32", [64, 64], 0, 16)}, d16)
    out["shape_smaller_than_span.safetensors"] = st({"w": t("F32", [2], 0, 16)}, d16)
    out["shape_overflow.safetensors"] = st({"w": t("F32", [2**40, 2**40], 0, 16)}, d16)
    out["sub_byte_misaligned.safetensors"] = st({"w": t("F4", [3], 0, 2)}, d16[:2])
    out["offsets_out_of_bounds.safetensors"] = st({"w": t("U8", [16], 2**40, 2**40 + 16)}, d16)
    out["offsets_reversed.safetensors"] = st({"w": t("U8", [0], 16, 8)}, d16)
    out["overlap.safetensors"] = st({"a": t("F32", [4], 0, 16), "b": t("F32", [2], 8, 16)}, d16)
    out["gap.safetensors"] = st({"a": t("F32", [2], 0, 8), "b": t("F32", [1], 12, 16)}, d16)
    out["trailing_pickle.safetensors"] = st({"a": t("F32", [4], 0, 16)}, d16) + PICKLE_PAYLOAD
    return out


def make_big_safetensors(path: str | Path, size: int) -> int:
    """Write a sparse safetensors file of about ``size`` bytes: one U8 tensor fills the data section.

    The header is written, then ``truncate`` extends the file without writing data (sparse on most
    filesystems). Returns the exact file size.
    """
    n = 64
    while True:
        length = size - 8 - n
        header = json.dumps({"big": t("U8", [length], 0, length)}, separators=(",", ":")).encode()
        header += b" " * (-len(header) % 8)
        if len(header) == n:
            break
        n = len(header)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", n) + header)
        f.truncate(8 + n + length)
    return 8 + n + length


def write_benign(out: Path) -> None:
    import numpy as np
    import torch  # noqa: TID251 - fixture generation only
    from safetensors.numpy import save_file as save_np
    from safetensors.torch import save_file as save_torch

    rng = np.random.default_rng(0)
    save_np({"embed": rng.standard_normal((8, 4), dtype=np.float32), "ids": np.arange(6, dtype=np.int64),
             "mask": np.array([True, False, True]), "half": np.ones((2, 3), dtype=np.float16)},
            str(out / "benign_numpy.safetensors"), metadata={"format": "np", "note": "tiny"})
    g = torch.Generator().manual_seed(0)
    save_torch({"w": torch.randn(4, 4, generator=g, dtype=torch.float32).to(torch.bfloat16),
                "fp8": torch.ones(8).to(torch.float8_e4m3fn), "i8": torch.arange(5, dtype=torch.int8),
                "u16": torch.ones(3, dtype=torch.uint16), "c": torch.ones(2, dtype=torch.complex64),
                "empty": torch.zeros(0, 3)},
               str(out / "benign_torch.safetensors"), metadata={"format": "pt"})
    save_np({}, str(out / "benign_empty.safetensors"))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, data in malicious_fixtures().items():
        (OUT / name).write_bytes(data)
    write_benign(OUT)
    for p in sorted(OUT.glob("*.safetensors")):
        print(f"{p.stat().st_size:8d}  {p.name}")


if __name__ == "__main__":
    main()
