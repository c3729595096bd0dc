"""Build legacy llama.cpp GGML/GGMF/GGJT files and llamafiles (``tests/assets/llama_legacy/``).

No library installable here writes the pre-GGUF formats (llama.cpp dropped them in August 2023; the ``gguf``
package only reads them through ``convert_llama_ggml_to_gguf.py``), so the files are built to the layout
that converter reads: magic, version, seven uint32 llama hyper-parameters, the vocabulary (length, bytes,
float32 score except in unversioned GGML), then tensors (n_dims, name length, type, dims, name, padding to a
32-byte file offset in GGJT, data). Malformed variants change one number each.

A llamafile is an Actually Portable Executable with a zip at its end; the stub here is the APE shell/PE
polyglot's first bytes (``MZqFpD='``) plus a shell line, not a working program, and the zip holds a GGUF
made by the ``gguf`` package (``tests/assets/gguf``) stored uncompressed, as llamafile's zipalign does, and
a ``.args`` file. Run: ``python tests/assets/make_llama_legacy.py``.
"""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "llama_legacy"
GGUF = HERE / "gguf"

MAGIC = {"ggml": b"lmgg", "ggmf": b"fmgg", "ggjt": b"tjgg"}


def build(kind: str = "ggjt", version: int = 3, *, n_vocab: int | None = None, token_len: int | None = None,
          n_dims: int | None = None, truncate: int = 0, trailing: bytes = b"") -> bytes:
    """A tiny llama model (vocab of 4, two F32 tensors) in the legacy layout ``kind``."""
    vocab = [b"<unk>", b"<s>", b"</s>", b"hi"]
    out = bytearray(MAGIC[kind])
    if kind != "ggml":
        out += struct.pack("<I", version)
    out += struct.pack("<7I", n_vocab if n_vocab is not None else len(vocab), 8, 256, 2, 1, 4, 0)
    for i, tok in enumerate(vocab):
        length = token_len if (token_len is not None and i == 1) else len(tok)
        out += struct.pack("<I", length) + tok
        if kind != "ggml":
            out += struct.pack("<f", -float(i))
    for name, dims in ((b"tok_embeddings.weight", [8, 4]), (b"norm.weight", [8])):
        nd = n_dims if n_dims is not None else len(dims)
        out += struct.pack("<3I", nd, len(name), 0) + struct.pack(f"<{len(dims)}I", *dims) + name
        if kind == "ggjt":
            out += b"\0" * (-len(out) % 32)
        count = 1
        for d in dims:
            count *= d
        out += struct.pack(f"<{count}f", *(0.01 * (k % 7) for k in range(count)))
    if truncate:
        del out[-truncate:]
    return bytes(out) + trailing


def llamafile(gguf: bytes, *, args: str = "-m\nmodel.gguf\n--host\n127.0.0.1\n...\n") -> bytes:
    """An APE-style stub followed by a zip holding ``model.gguf`` (stored) and ``.args``."""
    stub = b"MZqFpD='\n\n\x00\x00\x00\x00\x00\x00\x00\x00'\n#'\"\nexec sh -c 'echo this is a test stub'\n"
    stub += b"\0" * (4096 - len(stub))
    buf = io.BytesIO()
    buf.write(stub)
    with zipfile.ZipFile(buf, "a") as z:
        z.writestr(zipfile.ZipInfo(".args", (2024, 1, 1, 0, 0, 0)), args, compress_type=zipfile.ZIP_DEFLATED)
        info = zipfile.ZipInfo("model.gguf", (2024, 1, 1, 0, 0, 0))
        z.writestr(info, gguf, compress_type=zipfile.ZIP_STORED)
    return buf.getvalue()


def fixtures() -> dict[str, bytes]:
    return {
        "benign_ggjt_v3.bin": build("ggjt", 3),
        "benign_ggjt_v1.bin": build("ggjt", 1),
        "benign_ggmf.bin": build("ggmf", 1),
        "benign_ggml.bin": build("ggml"),
        "huge_n_vocab.bin": build("ggjt", 3, n_vocab=0x7FFFFFFF),
        "huge_token_len.bin": build("ggjt", 3, token_len=0xFFFFFFF0),
        "too_many_dims.bin": build("ggjt", 3, n_dims=9),
        "truncated_tensor.bin": build("ggjt", 3, truncate=16),
        "benign.llamafile": llamafile((GGUF / "benign_chat_template.gguf").read_bytes()),
        "ssti.llamafile": llamafile((GGUF / "ssti_cve_2024_34359.gguf").read_bytes()),
    }


def main() -> None:
    OUT.mkdir(exist_ok=True)
    for name, data in fixtures().items():
        (OUT / name).write_bytes(data)


if __name__ == "__main__":
    main()
