"""``mlvet diff``: tensor-by-tensor comparison of two model versions, on files written by the real libraries.

Fixtures are built at test time in ``tmp_path`` with torch, safetensors, gguf and numpy; the expected
sizes of change are recomputed here with torch/numpy from the very tensors that were saved, so a wrong
measurement fails. The 300 MB test runs ``mlvet diff`` in a fresh subprocess and reads its peak RSS from
``getrusage(RUSAGE_CHILDREN)`` of a wrapper process that has no other child.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch  # noqa: TID251  (tests build fixtures and check results with the real torch)
from safetensors.torch import load_file, save_file

from mlvet.cli import main
from mlvet.trust import diff as diff_mod
from mlvet.trust.diff import TARGETED_MAX_FRACTION, _fp8_table, diff_tensors, layer_of
from mlvet.trust.tensors import TensorFormatError, open_tensors

HAVE_TORCHCKPT = (Path(diff_mod.__file__).parent / "torchckpt.py").exists()
needs_torchckpt = pytest.mark.skipif(not HAVE_TORCHCKPT, reason="mlvet.trust.torchckpt not present")


def run_diff(a: Path | str, b: Path | str, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str, str]:
    code = main(["diff", str(a), str(b), *extra])
    out = capsys.readouterr()
    return code, out.out, out.err


def run_json(a: Path | str, b: Path | str, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code, out, err = run_diff(a, b, capsys, "--format", "json")
    assert code in (0, 1), err
    return code, json.loads(out)


def model(layers: int = 12, width: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    """A small transformer-shaped state dict: embeddings, ``layers`` blocks of four tensors, a head."""
    g = torch.Generator().manual_seed(seed)
    sd = {"model.embed_tokens.weight": torch.randn(64, width, generator=g)}
    for i in range(layers):
        for part in ("q_proj", "k_proj", "v_proj", "o_proj"):
            sd[f"model.layers.{i}.self_attn.{part}.weight"] = torch.randn(width, width, generator=g)
    sd["lm_head.weight"] = torch.randn(64, width, generator=g)
    return sd


def rel_l2(a: torch.Tensor, b: torch.Tensor) -> float:
    a64, b64 = a.double(), b.double()
    return float(torch.linalg.vector_norm(b64 - a64) / torch.linalg.vector_norm(a64))


# ---- identical -----------------------------------------------------------------------------------------------


def test_resaved_safetensors_is_identical(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sd = model()
    save_file(sd, tmp_path / "a.safetensors", metadata={"format": "pt"})
    reloaded = load_file(tmp_path / "a.safetensors")
    save_file(reloaded, tmp_path / "b.safetensors")  # different metadata: the file bytes differ
    assert (tmp_path / "a.safetensors").read_bytes() != (tmp_path / "b.safetensors").read_bytes()
    code, doc = run_json(tmp_path / "a.safetensors", tmp_path / "b.safetensors", capsys)
    assert code == 0
    assert doc["changed"] == [] and doc["added"] == [] and doc["removed"] == []
    assert doc["reshaped"] == [] and doc["retyped"] == []
    assert doc["unchanged"] == len(sd)
    assert doc["summary"]["verdict"] == "identical"
    code, out, _ = run_diff(tmp_path / "a.safetensors", tmp_path / "b.safetensors", capsys)
    assert code == 0 and "IDENTICAL" in out


@needs_torchckpt
def test_resaved_torch_zip_is_identical(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sd = model()
    torch.save(sd, tmp_path / "a.pt")
    reloaded = torch.load(tmp_path / "a.pt", weights_only=True)
    torch.save({k: v.clone() for k, v in reversed(list(reloaded.items()))}, tmp_path / "b.pt")
    code, doc = run_json(tmp_path / "a.pt", tmp_path / "b.pt", capsys)
    assert code == 0, doc["summary"]
    assert doc["unchanged"] == len(sd) and doc["summary"]["format_a"] == "pytorch"


@needs_torchckpt
def test_torch_checkpoint_equals_its_safetensors_conversion(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sd = model(layers=3)
    sd["model.norm.weight"] = torch.ones(32, dtype=torch.bfloat16)
    sd["model.counts"] = torch.arange(10, dtype=torch.int64)
    torch.save(sd, tmp_path / "pytorch_model.bin")
    save_file(sd, tmp_path / "model.safetensors")
    code, doc = run_json(tmp_path / "pytorch_model.bin", tmp_path / "model.safetensors", capsys)
    assert code == 0, doc
    assert doc["unchanged"] == len(sd)
    folder = tmp_path / "repo"  # a folder with a checkpoint and a tensor-less torch.save file beside it
    folder.mkdir()
    torch.save(sd, folder / "pytorch_model.bin")
    torch.save({"learning_rate": 1e-4, "epochs": [1, 2]}, folder / "training_args.bin")
    code, doc = run_json(folder, tmp_path / "model.safetensors", capsys)
    assert code == 0, doc
    assert doc["unchanged"] == len(sd)
    torch.save(sd, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)  # bare pickle, no zip
    code, doc = run_json(tmp_path / "legacy.pt", tmp_path / "model.safetensors", capsys)
    assert code == 0, doc
    assert doc["unchanged"] == len(sd)


def test_sharded_folder_equals_single_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sd = model(layers=4)
    save_file(sd, tmp_path / "model.safetensors")
    folder = tmp_path / "sharded"
    folder.mkdir()
    names = list(sd)
    shards = {"model-00001-of-00002.safetensors": names[: len(names) // 2],
              "model-00002-of-00002.safetensors": names[len(names) // 2:]}
    weight_map = {}
    for shard, keys in shards.items():
        save_file({k: sd[k] for k in keys}, folder / shard)
        weight_map.update(dict.fromkeys(keys, shard))
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    code, doc = run_json(tmp_path / "model.safetensors", folder, capsys)
    assert code == 0
    assert doc["unchanged"] == len(sd) and doc["summary"]["format_b"] == "sharded:safetensors"
    code, doc = run_json(folder / "model.safetensors.index.json", tmp_path / "model.safetensors", capsys)
    assert code == 0
    # The index lists a tensor its shard lacks: a clear error, exit 2.
    weight_map["model.layers.9.extra.weight"] = "model-00001-of-00002.safetensors"
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    code, _, err = run_diff(tmp_path / "model.safetensors", folder, capsys)
    assert code == 2 and "model.layers.9.extra.weight" in err and "absent" in err
    # A shard outside the folder is refused.
    (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"x": "../model.safetensors"}}))
    code, _, err = run_diff(tmp_path / "model.safetensors", folder, capsys)
    assert code == 2 and "outside the model folder" in err


# ---- structure ---------------------------------------------------------------------------------------------


def test_added_removed_reshaped_retyped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = torch.Generator().manual_seed(1)
    a = {"keep": torch.randn(4, 4, generator=g), "shape": torch.randn(6, 4, generator=g),
         "dtype": torch.randn(8, generator=g), "gone": torch.randn(3, generator=g)}
    b = {"keep": a["keep"].clone(), "shape": a["shape"].reshape(4, 6).clone(), "dtype": a["dtype"].half(),
         "new": torch.zeros(2, dtype=torch.int32)}
    save_file(a, tmp_path / "a.safetensors")
    save_file(b, tmp_path / "b.safetensors")
    code, doc = run_json(tmp_path / "a.safetensors", tmp_path / "b.safetensors", capsys)
    assert code == 1
    assert doc["added"] == ["new"]
    assert doc["removed"] == ["gone"]
    assert doc["reshaped"] == [{"name": "shape", "shape_a": [6, 4], "shape_b": [4, 6]}]
    assert doc["retyped"] == [{"name": "dtype", "dtype_a": "float32", "dtype_b": "float16"}]
    assert doc["changed"] == [] and doc["unchanged"] == 1
    code, out, _ = run_diff(tmp_path / "a.safetensors", tmp_path / "b.safetensors", capsys)
    assert code == 1
    for needle in ("added (1)", "new", "removed (1)", "gone", "[6, 4] → [4, 6]", "float32 → float16"):
        assert needle in out


def test_only_added_tensors_is_structural(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sd = model(layers=2)
    save_file(sd, tmp_path / "a.safetensors")
    save_file({**sd, "score.weight": torch.zeros(2, 32)}, tmp_path / "b.safetensors")
    code, doc = run_json(tmp_path / "a.safetensors", tmp_path / "b.safetensors", capsys)
    assert code == 1 and doc["summary"]["verdict"] == "structural" and doc["added"] == ["score.weight"]


# ---- size of change and verdicts -------------------------------------------------------------------------------


def test_fine_tune_and_single_layer_edit_get_different_verdicts(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    base = model(layers=12)
    save_file(base, tmp_path / "base.safetensors")
    g = torch.Generator().manual_seed(7)
    tuned = {k: v + 1e-3 * torch.randn(v.shape, generator=g) for k, v in base.items()}
    save_file(tuned, tmp_path / "tuned.safetensors")
    edited = dict(base)
    for part in ("q_proj", "k_proj", "v_proj", "o_proj"):
        name = f"model.layers.5.self_attn.{part}.weight"
        edited[name] = base[name] + 0.05 * torch.randn(base[name].shape, generator=g)
    save_file(edited, tmp_path / "edited.safetensors")

    code, fine = run_json(tmp_path / "base.safetensors", tmp_path / "tuned.safetensors", capsys)
    assert code == 1
    assert fine["summary"]["verdict"] == "widespread"
    assert fine["summary"]["fraction_elements_changed"] > 0.99
    assert len(fine["changed"]) == len(base) and fine["summary"]["layers_changed"] == fine["summary"]["layers"]
    for entry in fine["changed"]:
        assert entry["rel_l2"] == pytest.approx(rel_l2(base[entry["name"]], tuned[entry["name"]]), rel=1e-9)
        assert entry["fraction_changed"] > 0.99

    code, edit = run_json(tmp_path / "base.safetensors", tmp_path / "edited.safetensors", capsys)
    assert code == 1
    assert edit["summary"]["verdict"] == "targeted"
    assert edit["summary"]["fraction_tensors_changed"] <= TARGETED_MAX_FRACTION
    assert sorted(c["name"] for c in edit["changed"]) == sorted(
        f"model.layers.5.self_attn.{p}.weight" for p in ("q_proj", "k_proj", "v_proj", "o_proj"))
    assert {c["layer"] for c in edit["changed"]} == {"model.layers.5"}
    changed_layers = [ly for ly in edit["layers"] if ly["changed"]]
    assert [(ly["name"], ly["changed"], ly["tensors"]) for ly in changed_layers] == [("model.layers.5", 4, 4)]
    for entry in edit["changed"]:
        a, b = base[entry["name"]], edited[entry["name"]]
        assert entry["rel_l2"] == pytest.approx(rel_l2(a, b), rel=1e-9)
        assert entry["max_abs"] == pytest.approx(float((b.double() - a.double()).abs().max()), rel=1e-12)
        assert entry["fraction_changed"] == pytest.approx(float((a != b).double().mean()))
    code, out, _ = run_diff(tmp_path / "base.safetensors", tmp_path / "edited.safetensors", capsys)
    assert "TARGETED" in out and "model.layers.5" in out and "q_proj.weight" in out


def test_sparse_edits_across_all_tensors_are_scattered(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = model(layers=12)
    save_file(base, tmp_path / "base.safetensors")
    poked = {k: v.clone() for k, v in base.items()}
    for v in poked.values():
        v.view(-1)[3] += 1.0  # one element per tensor: every tensor changed, 1/1024 of the elements
    save_file(poked, tmp_path / "poked.safetensors")
    code, doc = run_json(tmp_path / "base.safetensors", tmp_path / "poked.safetensors", capsys)
    assert code == 1
    assert doc["summary"]["verdict"] == "scattered"
    total = sum(v.numel() for v in base.values())
    assert doc["summary"]["fraction_elements_changed"] == pytest.approx(len(base) / total)
    assert all(c["max_abs"] == pytest.approx(1.0, rel=1e-6) for c in doc["changed"])


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float8_e4m3fn, torch.float8_e5m2,
                                   torch.int8, torch.float64])
def test_measurement_per_dtype(tmp_path: Path, capsys: pytest.CaptureFixture[str], dtype: torch.dtype) -> None:
    g = torch.Generator().manual_seed(3)
    a = (torch.randn(1000, generator=g) * 20).to(dtype)
    b = a.clone()
    b[10:20] = (a[10:20].float() * 1.5 + 1).to(dtype)
    save_file({"w": a}, tmp_path / "a.safetensors")
    save_file({"w": b}, tmp_path / "b.safetensors")
    code, doc = run_json(tmp_path / "a.safetensors", tmp_path / "b.safetensors", capsys)
    assert code == 1
    (entry,) = doc["changed"]
    af, bf = a.double(), b.double()
    assert entry["measure"] == "elements"
    assert entry["rel_l2"] == pytest.approx(float(torch.linalg.vector_norm(bf - af) / torch.linalg.vector_norm(af)))
    assert entry["max_abs"] == pytest.approx(float((bf - af).abs().max()))
    changed = (a.view(torch.uint8) != b.view(torch.uint8)).reshape(1000, -1).any(dim=1)
    assert entry["fraction_changed"] == pytest.approx(float(changed.double().mean()))


def test_fp8_tables_match_torch() -> None:
    codes = torch.arange(256, dtype=torch.uint8)
    for dtype, args in ((torch.float8_e4m3fn, (4, 3, True)), (torch.float8_e5m2, (5, 2, False))):
        expected = codes.view(dtype).double().tolist()
        got = _fp8_table(*args[:2], fn=args[2])
        for e, v in zip(expected, got, strict=True):
            assert (math.isnan(e) and math.isnan(v)) or e == v


def test_without_numpy_changes_are_listed_but_not_measured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sd = model(layers=2)
    save_file(sd, tmp_path / "a.safetensors")
    sd2 = dict(sd)
    sd2["lm_head.weight"] = sd["lm_head.weight"] * 2
    save_file(sd2, tmp_path / "b.safetensors")
    monkeypatch.setattr(diff_mod, "_load_numpy", lambda: None)
    with open_tensors(tmp_path / "a.safetensors") as a, open_tensors(tmp_path / "b.safetensors") as b:
        result = diff_tensors(a, b)
    (change,) = result.changed
    assert change.name == "lm_head.weight" and change.rel_l2 is None and change.fraction_changed is None
    assert result.summary.measured is False and "numpy is not installed" in result.summary.notes[0]


def test_layer_of() -> None:
    assert layer_of("model.layers.3.self_attn.q_proj.weight") == "model.layers.3"
    assert layer_of("blk.12.attn_q.weight") == "blk.12"
    assert layer_of("model.embed_tokens.weight") == "model.embed_tokens"
    assert layer_of("lm_head.weight") == "lm_head"
    assert layer_of("0.weight") == "0"
    assert layer_of("scale") == "scale"


# ---- GGUF and NumPy ----------------------------------------------------------------------------------------------


def write_gguf(path: Path, tensors: dict[str, np.ndarray],
               raw: dict[str, tuple[np.ndarray, gguf.GGMLQuantizationType]]) -> None:
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(2)
    w.add_token_list([f"tok{i}" for i in range(100)])
    for name, arr in tensors.items():
        w.add_tensor(name, arr)
    for name, (arr, qtype) in raw.items():
        w.add_tensor(name, arr, raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def test_gguf(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(5)
    f32 = {"token_embd.weight": rng.standard_normal((16, 64)).astype(np.float32),
           "blk.0.attn_q.weight": rng.standard_normal((64, 64)).astype(np.float32),
           "blk.1.attn_q.weight": rng.standard_normal((64, 64)).astype(np.float32)}
    q8 = rng.integers(0, 256, size=(64, 2 * 34), dtype=np.uint8)  # 64 rows of two Q8_0 blocks (34 bytes each)
    write_gguf(tmp_path / "a.gguf", f32, {"blk.1.ffn_up.weight": (q8, gguf.GGMLQuantizationType.Q8_0)})
    write_gguf(tmp_path / "same.gguf", f32, {"blk.1.ffn_up.weight": (q8.copy(), gguf.GGMLQuantizationType.Q8_0)})
    f32b = dict(f32)
    f32b["blk.1.attn_q.weight"] = f32["blk.1.attn_q.weight"].copy()
    f32b["blk.1.attn_q.weight"][3, 5] += 0.5
    q8b = q8.copy()
    q8b[0, :4] ^= 0xFF
    write_gguf(tmp_path / "b.gguf", f32b, {"blk.1.ffn_up.weight": (q8b, gguf.GGMLQuantizationType.Q8_0)})

    with open_tensors(tmp_path / "a.gguf") as ts:
        assert ts.format == "gguf"
        assert ts.tensors["blk.0.attn_q.weight"].shape == (64, 64)
        assert ts.tensors["token_embd.weight"].shape == (16, 64)
        assert ts.tensors["blk.1.ffn_up.weight"].dtype == "Q8_0"
        assert ts.tensors["blk.1.ffn_up.weight"].shape == (64, 64)
        assert b"".join(ts.iter_bytes("token_embd.weight", 100)) == f32["token_embd.weight"].tobytes()
        assert b"".join(ts.iter_bytes("blk.1.ffn_up.weight")) == q8.tobytes()

    code, doc = run_json(tmp_path / "a.gguf", tmp_path / "same.gguf", capsys)
    assert code == 0 and doc["unchanged"] == 4
    code, doc = run_json(tmp_path / "a.gguf", tmp_path / "b.gguf", capsys)
    assert code == 1
    by_name = {c["name"]: c for c in doc["changed"]}
    assert set(by_name) == {"blk.1.attn_q.weight", "blk.1.ffn_up.weight"}
    assert by_name["blk.1.attn_q.weight"]["max_abs"] == pytest.approx(0.5, rel=1e-6)
    assert by_name["blk.1.attn_q.weight"]["fraction_changed"] == pytest.approx(1 / 4096)
    quant = by_name["blk.1.ffn_up.weight"]
    assert quant["measure"] == "bytes" and quant["rel_l2"] is None
    assert quant["fraction_changed"] == pytest.approx(4 / q8.size)
    assert [ly["name"] for ly in doc["layers"] if ly["changed"]] == ["blk.1"]


def test_npz_and_npy(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(9)
    arrays = {"w": rng.standard_normal((50, 20)).astype(np.float32), "b": rng.standard_normal(20),
              "big_endian": rng.standard_normal(30).astype(">f4"), "mask": rng.random(7) > 0.5}
    np.savez(tmp_path / "a.npz", **arrays)
    np.savez_compressed(tmp_path / "same.npz", **arrays)  # deflated members, same content
    changed = dict(arrays)
    changed["big_endian"] = arrays["big_endian"].copy()
    changed["big_endian"][4] = 100.0
    np.savez(tmp_path / "b.npz", **changed)

    code, doc = run_json(tmp_path / "a.npz", tmp_path / "same.npz", capsys)
    assert code == 0 and doc["unchanged"] == 4
    code, doc = run_json(tmp_path / "a.npz", tmp_path / "b.npz", capsys)
    assert code == 1
    (entry,) = doc["changed"]
    a, b = arrays["big_endian"].astype(np.float64), changed["big_endian"].astype(np.float64)
    assert entry["name"] == "big_endian" and entry["dtype"] == "float32"
    assert entry["max_abs"] == pytest.approx(abs(b[4] - a[4]))
    assert entry["rel_l2"] == pytest.approx(np.linalg.norm(b - a) / np.linalg.norm(a))

    np.save(tmp_path / "a.npy", arrays["w"])
    np.save(tmp_path / "b.npy", arrays["w"] * 1.01)
    code, doc = run_json(tmp_path / "a.npy", tmp_path / "b.npy", capsys)
    assert code == 1 and doc["changed"][0]["rel_l2"] == pytest.approx(0.01, rel=1e-4)

    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
    code, _, err = run_diff(tmp_path / "a.npz", tmp_path / "obj.npz", capsys)
    assert code == 2 and "object array refused" in err


def test_complex_npz_measured_by_magnitude(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(2)
    a = (rng.standard_normal(200) + 1j * rng.standard_normal(200)).astype(np.complex64)
    b = a.copy()
    b[5] += 3 - 4j
    np.savez(tmp_path / "a.npz", z=a)
    np.savez(tmp_path / "b.npz", z=b)
    code, doc = run_json(tmp_path / "a.npz", tmp_path / "b.npz", capsys)
    assert code == 1
    (entry,) = doc["changed"]
    a64, b64 = a.astype(np.complex128), b.astype(np.complex128)
    assert entry["dtype"] == "complex64" and entry["fraction_changed"] == pytest.approx(1 / 200)
    assert entry["max_abs"] == pytest.approx(abs(b64[5] - a64[5]))
    assert entry["rel_l2"] == pytest.approx(np.linalg.norm(b64 - a64) / np.linalg.norm(a64))


# ---- malformed input ---------------------------------------------------------------------------------------------


def test_malformed_inputs_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sd = model(layers=2)
    good = tmp_path / "good.safetensors"
    save_file(sd, good)
    data = good.read_bytes()
    cases = {
        "truncated.safetensors": (data[: len(data) - 100], "outside the file"),
        "badjson.safetensors": (struct.pack("<Q", 10) + b"{not json}", "not valid JSON"),
        "hugeheader.safetensors": (struct.pack("<Q", 1 << 60) + b"{}", "header length"),
        "random.bin": (os.urandom(4096).replace(b"\x80", b"\x00").replace(b"PK", b"pk"), "not a recognised tensor"),
        "empty": (b"", "not a recognised tensor"),
        "gguf_truncated.gguf": (b"GGUF" + struct.pack("<IQQ", 3, 5, 1) + b"\x05\x00", "GGUF"),
        "gguf_huge_count.gguf": (b"GGUF" + struct.pack("<IQQ", 3, 1 << 62, 0) + b"\0" * 64, "cannot fit"),
    }
    for name, (raw, needle) in cases.items():
        path = tmp_path / name
        path.write_bytes(raw)
        code, out, err = run_diff(good, path, capsys)
        assert code == 2, (name, out, err)
        assert needle in err and "Traceback" not in err, (name, err)
        assert err.startswith("mlvet: error: B"), err
    entry = '{"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}'
    dup = f'{{"a": {entry}, "a": {entry}}}'.encode()
    (tmp_path / "dup.safetensors").write_bytes(struct.pack("<Q", len(dup)) + dup + b"\0" * 4)
    code, _, err = run_diff(tmp_path / "dup.safetensors", good, capsys)
    assert code == 2 and "duplicate key" in err and "error: A" in err
    # Usage errors: 4.
    assert run_diff(good, tmp_path / "missing", capsys)[0] == 4
    assert run_diff(good, good, capsys, "--format", "yaml")[0] == 4


def test_tensor_data_truncated_after_header_parse(tmp_path: Path) -> None:
    sd = model(layers=1)
    save_file(sd, tmp_path / "a.safetensors")
    ts = open_tensors(tmp_path / "a.safetensors")
    with open(tmp_path / "a.safetensors", "r+b") as fh:
        fh.truncate(os.path.getsize(tmp_path / "a.safetensors") - 10)
    last = list(ts.tensors)[-1]
    with pytest.raises(TensorFormatError, match="truncated"):
        b"".join(ts.iter_bytes(last))


@needs_torchckpt
def test_malicious_pickle_checkpoint_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    torch.save({"w": torch.zeros(2), "x": Evil()}, tmp_path / "evil.pt")
    torch.save({"w": torch.zeros(2)}, tmp_path / "good.pt")
    code, out, err = run_diff(tmp_path / "good.pt", tmp_path / "evil.pt", capsys)
    assert code == 2 and "error: B" in err and "Traceback" not in err
    assert "pwned" not in out


# ---- 300 MB, bounded memory --------------------------------------------------------------------------------------

N_TENSORS = 75
N_ELEMENTS = 1 << 20  # 4 MiB each as fp32: 300 MiB per checkpoint
MODIFIED = "model.layers.41.mlp.weight"

_RSS_WRAPPER = textwrap.dedent("""
    import resource, subprocess, sys
    proc = subprocess.run([sys.executable, "-m", "mlvet", "diff", "--format", "json", sys.argv[1], sys.argv[2]],
                          capture_output=True, text=True)
    sys.stderr.write(proc.stderr)
    sys.stdout.write(proc.stdout)
    print(f"\\nRC={proc.returncode} MAXRSS_KB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}")
""")


@pytest.fixture(scope="module")
def big_state_dict() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    return {f"model.layers.{i}.mlp.weight": torch.randn(N_ELEMENTS, generator=g) for i in range(N_TENSORS)}


@pytest.mark.slow  # about 6 s per format (writing 2 x 315 MB dominates); runs in CI
@pytest.mark.parametrize("fmt", ["safetensors", pytest.param("torch", marks=needs_torchckpt)])
def test_single_modified_tensor_in_300mb_checkpoint(tmp_path: Path, big_state_dict: dict[str, torch.Tensor],
                                                     fmt: str) -> None:
    base = big_state_dict
    modified = dict(base)
    modified[MODIFIED] = base[MODIFIED].clone()
    modified[MODIFIED][1000:1100] += 1e-3
    a, b = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    try:
        if fmt == "safetensors":
            save_file(base, a)
            save_file(modified, b)
        else:
            torch.save(base, a)
            torch.save(modified, b)
        assert a.stat().st_size > 300_000_000
        proc = subprocess.run([sys.executable, "-c", _RSS_WRAPPER, str(a), str(b)], capture_output=True, text=True,
                              timeout=300, check=False)
        out, _, tail = proc.stdout.rpartition("\nRC=")
        rc_text, maxrss_text = tail.split()
        assert int(rc_text) == 1, proc.stderr
        doc = json.loads(out)
        assert [c["name"] for c in doc["changed"]] == [MODIFIED]
        assert doc["unchanged"] == N_TENSORS - 1
        assert doc["summary"]["verdict"] == "targeted"
        entry = doc["changed"][0]
        assert entry["fraction_changed"] == pytest.approx(100 / N_ELEMENTS)
        assert entry["rel_l2"] == pytest.approx(rel_l2(base[MODIFIED], modified[MODIFIED]), rel=1e-9)
        peak_mb = int(maxrss_text.split("=")[1]) / 1024
        print(f"{fmt}: peak RSS of mlvet diff on 2 x {a.stat().st_size / 1e6:.0f} MB = {peak_mb:.0f} MB")
        assert peak_mb < 200, peak_mb
    finally:
        for p in (a, b):
            p.unlink(missing_ok=True)
        shutil.rmtree(tmp_path, ignore_errors=True)
