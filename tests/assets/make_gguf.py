"""Build the GGUF fixtures in tests/assets/gguf/ (run: ``python tests/assets/make_gguf.py``).

* Benign files are written by the real ``gguf`` package (``pip install gguf``, llama.cpp's gguf-py):
  tiny tensors (F32, F16, Q8_0), a small vocabulary, the published Llama 3.1 chat template plus a named
  ``tool_use`` variant, a big-endian file, and a vocabulary-only file.
* Malicious and malformed files are built from bytes by the functions below (no dependency), one per
  published attack shape: llama.cpp GGUF parser CVEs (CVE-2024-21802 n_dims/ne, CVE-2024-21825 string
  arrays, CVE-2024-21836 n_tensors, CVE-2024-23496 string length, CVE-2024-23605 n_kv, byte-size
  overflows, alignment, array element type confusion, nested arrays) and chat-template SSTI
  (CVE-2024-34359). Tests import these builders, and check the committed files match them.
* ``make_big_gguf(path, size)`` writes a sparse multi-GB GGUF (header only, then ``truncate``) for the
  streaming test and the benchmark.
* ``--print-type-table`` prints the ggml type table that ``src/mlvet/formats/gguf.py`` embeds.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "gguf"
TEMPLATES = OUT / "templates"

# GGUF value types (gguf.md)
U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 = range(13)
# ggml tensor types used here
T_F32, T_F16, T_Q8_0 = 0, 1, 8

#: A pickle that calls os.system('id') (bytes only; never loaded): used to prove trailing data is scanned.
PICKLE_PAYLOAD = b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."


def s(text: str | bytes, wide: bool = True, order: str = "<") -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack(order + ("Q" if wide else "I"), len(raw)) + raw


def kv_str(key: str, value: str | bytes, wide: bool = True, order: str = "<") -> bytes:
    return s(key, wide, order) + struct.pack(order + "I", STRING) + s(value, wide, order)


def kv_u32(key: str, value: int, order: str = "<") -> bytes:
    return s(key, order=order) + struct.pack(order + "II", U32, value)


def kv_u64(key: str, value: int) -> bytes:
    return s(key) + struct.pack("<IQ", U64, value)


def kv_array(key: str, elem_type: int, count: int, payload: bytes, wide: bool = True) -> bytes:
    return s(key, wide) + struct.pack("<II", ARRAY, elem_type) + struct.pack("<Q" if wide else "<I", count) + payload


def tensor_info(name: str | bytes, dims: list[int], ggml_type: int, offset: int, wide: bool = True,
                n_dims: int | None = None, order: str = "<") -> bytes:
    d = "Q" if wide else "I"
    out = s(name, wide, order) + struct.pack(order + "I", len(dims) if n_dims is None else n_dims)
    out += b"".join(struct.pack(order + d, x) for x in dims)
    return out + struct.pack(order + "IQ", ggml_type, offset)


def build(kvs: list[bytes], infos: list[bytes], data: bytes = b"", *, version: int = 3,
          n_kv: int | None = None, n_tensors: int | None = None, alignment: int = 32,
          order: str = "<") -> bytes:
    """A GGUF file: header, metadata, tensor infos, padding to ``alignment``, then ``data``."""
    wide = version >= 2
    c = "Q" if wide else "I"
    head = b"GGUF" + struct.pack(order + "I", version)
    head += struct.pack(order + c, len(infos) if n_tensors is None else n_tensors)
    head += struct.pack(order + c, len(kvs) if n_kv is None else n_kv)
    body = head + b"".join(kvs) + b"".join(infos)
    if data:
        body += b"\x00" * (-len(body) % alignment) + data
    return body


def _f32(n: int) -> bytes:
    return struct.pack(f"<{n}f", *([1.0] * n))


def _template(name: str, kind: str = "malicious") -> str:
    return (TEMPLATES / kind / f"{name}.jinja").read_text(encoding="utf-8")


def _arch() -> bytes:
    return kv_str("general.architecture", "llama")


def malicious_fixtures() -> dict[str, bytes]:
    """Every crafted GGUF, by file name (each hits one detection; see tests/formats/test_gguf.py)."""
    one = [tensor_info("a", [8], T_F32, 0)]
    data = _f32(8)
    out: dict[str, bytes] = {}
    # --- chat template SSTI (CVE-2024-34359) -----------------------------------------------------------
    out["ssti_cve_2024_34359.gguf"] = build(
        [_arch(), kv_str("tokenizer.chat_template", _template("cve-2024-34359-poc"))], one, data)
    out["ssti_named_variant.gguf"] = build(
        [_arch(), kv_str("tokenizer.chat_template", _template("llama-3-8b-instruct", "benign")),
         kv_str("tokenizer.chat_template.rag", _template("cycler-globals-popen"))], one, data)
    out["ssti_obfuscated.gguf"] = build(
        [_arch(), kv_str("tokenizer.chat_template", _template("concat-dunder"))], one, data)
    out["template_unparseable.gguf"] = build(
        [_arch(), kv_str("tokenizer.chat_template", _template("unparseable"))], one, data)
    out["template_not_string.gguf"] = build(
        [_arch(), kv_array("tokenizer.chat_template", STRING, 1, s("{{ x }}"))], one, data)
    # --- header counts and lengths (llama.cpp GGUF parser CVEs) ----------------------------------------
    out["huge_n_kv.gguf"] = build([_arch()], [], n_kv=0xFFFFFFFFFFFFFFF0)  # CVE-2024-23605
    out["huge_n_tensors.gguf"] = build([_arch()], [], n_tensors=0x0FFFFFFFFFFFFFFF)  # CVE-2024-21836
    out["huge_key_length.gguf"] = build(
        [struct.pack("<Q", 0xFFFFFFFFFFFFFFFF) + b"general.architecture"], [])  # CVE-2024-23496
    out["huge_string_value.gguf"] = build(
        [s("general.name") + struct.pack("<IQ", STRING, 0xFFFFFFFFFFFFFFFF) + b"llama"], [])
    out["huge_array_length.gguf"] = build(
        [kv_array("tokenizer.ggml.tokens", STRING, 0x4000000000000000, s("a"))], [])  # CVE-2024-21825
    out["huge_string_in_array.gguf"] = build(
        [kv_array("tokenizer.ggml.tokens", STRING, 2, s("a") + struct.pack("<Q", 0xFFFFFFFFFFFFFFF0))], [])
    out["nested_arrays.gguf"] = build(
        [s("general.deep") + struct.pack("<I", ARRAY) + struct.pack("<IQ", ARRAY, 1) * 64
         + struct.pack("<IQ", U8, 0)], [])
    out["unknown_value_type.gguf"] = build([s("general.x") + struct.pack("<II", 0xFFFFFFFF, 1)], [])
    out["bad_version.gguf"] = b"GGUF" + struct.pack("<I", 7) + b"\x00" * 16
    out["truncated.gguf"] = build([_arch(), kv_str("general.name", "tiny")], one, data)[:40]
    # --- tensor infos ----------------------------------------------------------------------------------
    out["n_dims_overflow.gguf"] = build(
        [_arch()], [tensor_info("a", [8, 1, 1, 1, 1, 1, 1, 1], T_F32, 0)], data)  # CVE-2024-21802
    out["long_tensor_name.gguf"] = build([_arch()], [tensor_info("x" * 200, [8], T_F32, 0)], data)
    out["ggml_type_oob.gguf"] = build([_arch()], [tensor_info("a", [8], 0xFFFFFFFF, 0)], data)
    out["nbytes_overflow.gguf"] = build(
        [_arch()], [tensor_info("a", [1 << 40, 1 << 40], T_Q8_0, 0)], data)  # element count > 2**63
    out["nbytes_overflow_quant.gguf"] = build(  # < 2**63 elements whose Q8_0 byte size is > 2**63
        [_arch()], [tensor_info("a", [32, 2**63 // 33], T_Q8_0, 0)], data)
    out["zero_dim.gguf"] = build([_arch()], [tensor_info("a", [8, 0], T_F32, 0)], data)
    out["bad_block_shape.gguf"] = build([_arch()], [tensor_info("a", [33], T_Q8_0, 0)], data + b"\x00" * 34)
    # --- tensor data layout -----------------------------------------------------------------------------
    out["tensor_beyond_eof.gguf"] = build([_arch()], [tensor_info("a", [1 << 20], T_F32, 0)], data)
    out["tensor_offset_beyond_eof.gguf"] = build([_arch()], [tensor_info("a", [8], T_F32, 1 << 40)], data)
    out["tensor_overlap.gguf"] = build(  # a spans [0, 64), b [32, 64)
        [_arch()], [tensor_info("a", [16], T_F32, 0), tensor_info("b", [8], T_F32, 32)], _f32(16))
    out["tensor_misaligned.gguf"] = build(
        [_arch()], [tensor_info("a", [8], T_F32, 0), tensor_info("b", [4], T_F32, 36)], _f32(8) + _f32(8))
    out["tensor_gap.gguf"] = build(
        [_arch()], [tensor_info("a", [8], T_F32, 0), tensor_info("b", [8], T_F32, 128)],
        _f32(8) + b"\x00" * 96 + _f32(8))
    out["duplicate_tensor.gguf"] = build(
        [_arch()], [tensor_info("a", [8], T_F32, 0), tensor_info("a", [8], T_F32, 32)], _f32(8) + _f32(8))
    out["trailing_pickle.gguf"] = build([_arch()], one, data) + PICKLE_PAYLOAD
    # --- metadata semantics -----------------------------------------------------------------------------
    out["alignment_zero.gguf"] = build([_arch(), kv_u32("general.alignment", 0)], one, data)
    out["alignment_huge.gguf"] = build([_arch(), kv_u32("general.alignment", 0x80000000)], one, data)
    out["alignment_wrong_type.gguf"] = build([_arch(), kv_u64("general.alignment", 64)], one, data)
    tokens = kv_array("tokenizer.ggml.tokens", STRING, 4, s("a") + s("b") + s("c") + s("d"))
    out["vocab_type_confusion.gguf"] = build(
        [_arch(), tokens, kv_array("tokenizer.ggml.scores", I8, 4, b"\x00" * 4)], one, data)
    out["vocab_length_mismatch.gguf"] = build(
        [_arch(), tokens, kv_array("tokenizer.ggml.scores", F32, 2, b"\x00" * 8)], one, data)
    out["duplicate_key.gguf"] = build(
        [_arch(), kv_str("tokenizer.chat_template", "{{ messages[0]['content'] }}"),
         kv_str("tokenizer.chat_template", _template("mro-subclasses"))], one, data)
    return out


def benign_from_bytes() -> dict[str, bytes]:
    """Valid files the gguf package cannot write: GGUF v1 (32-bit counts and lengths)."""
    kvs = [kv_str("general.architecture", "llama", wide=False), kv_str("general.name", "v1", wide=False)]
    return {"benign_v1.gguf": build(kvs, [tensor_info("a", [8], T_F32, 0, wide=False)], _f32(8), version=1)}


def make_big_gguf(path: str | Path, size: int) -> int:
    """Write a sparse GGUF of about ``size`` bytes: one F32 tensor fills the data section.

    Only the header is written; ``truncate`` extends the file without writing (sparse on most
    filesystems). Returns the exact file size.
    """
    probe = build([_arch()], [tensor_info("big", [1], T_F32, 0)])
    data_start = len(probe) + (-len(probe) % 32)
    count = (size - data_start) // 4
    header = build([_arch()], [tensor_info("big", [count], T_F32, 0)])
    header += b"\x00" * (data_start - len(header))
    total = data_start + 4 * count
    with open(path, "wb") as f:
        f.write(header)
        f.truncate(total)
    return total


def write_benign(out: Path) -> None:
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFEndian, GGUFWriter
    from gguf.quants import quantize

    llama31 = (TEMPLATES / "benign" / "llama-3.1-8b-instruct.jinja").read_text(encoding="utf-8")
    tool_use = (TEMPLATES / "benign" / "hermes-2-pro-llama-3-8b-tool-use.jinja").read_text(encoding="utf-8")
    rng = np.random.default_rng(0)

    def tensors(w: GGUFWriter) -> None:
        w.add_tensor("token_embd.weight", rng.standard_normal((16, 32), dtype=np.float32))
        w.add_tensor("output_norm.weight", np.ones((32,), dtype=np.float16))
        q = quantize(rng.standard_normal((4, 64), dtype=np.float32), GGMLQuantizationType.Q8_0)
        w.add_tensor("blk.0.attn_q.weight", q, raw_dtype=GGMLQuantizationType.Q8_0)

    def vocab(w: GGUFWriter) -> None:
        toks = [b"<s>", b"</s>", b"<unk>"] + [bytes([c]) for c in b"abcdefghijklm"]
        w.add_tokenizer_model("llama")
        w.add_token_list(toks)
        w.add_token_scores([0.0] * len(toks))
        w.add_token_types([3, 3, 2] + [1] * (len(toks) - 3))
        w.add_bos_token_id(0)
        w.add_eos_token_id(1)

    def save(w: GGUFWriter) -> None:
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()

    w = GGUFWriter(str(out / "benign_tiny.gguf"), "llama")
    w.add_name("tiny")
    w.add_context_length(128)
    tensors(w)
    save(w)

    w = GGUFWriter(str(out / "benign_chat_template.gguf"), "llama")
    w.add_name("tiny-chat")
    vocab(w)
    w.add_chat_template([{"name": "default", "template": llama31}, {"name": "tool_use", "template": tool_use}])
    tensors(w)
    save(w)

    w = GGUFWriter(str(out / "benign_big_endian.gguf"), "llama", endianess=GGUFEndian.BIG)
    w.add_name("tiny-be")
    tensors(w)
    save(w)

    w = GGUFWriter(str(out / "benign_vocab_only.gguf"), "llama")
    vocab(w)
    w.add_chat_template(llama31)
    save(w)


def print_type_table() -> None:
    from importlib.metadata import version

    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    print(f"# gguf {version('gguf')}")
    for t in GGMLQuantizationType:
        block, size = GGML_QUANT_SIZES[t]
        print(f'    {t.value}: ("{t.name}", {block}, {size}),')


def main() -> None:
    if "--print-type-table" in sys.argv:
        print_type_table()
        return
    OUT.mkdir(exist_ok=True)
    for name, data in {**malicious_fixtures(), **benign_from_bytes()}.items():
        (OUT / name).write_bytes(data)
    write_benign(OUT)
    for p in sorted(OUT.glob("*.gguf")):
        print(f"{p.stat().st_size:8d}  {p.name}")


if __name__ == "__main__":
    main()
