"""``mlvet convert`` and :mod:`mlvet.trust.torchckpt`: checkpoints written by the real torch, converted
without unpickling, compared bit for bit with ``torch.load(weights_only=True)`` and with
``safetensors.torch.load_file`` of the output.

Fixtures are made here with torch 2.13 in ``tmp_path`` (zip and legacy format, several pickle protocols);
only these benign files are ever loaded with torch. Malicious samples come from the corpus builder and are
only handed to mlvet. Byte comparisons go through ``view(torch.uint8)`` (after ``contiguous()``), so NaN
payloads, -0.0 and bf16 bit patterns are compared exactly.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import random
import struct
import subprocess
import sys
import tarfile
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import build_malicious
import numpy as np
import pytest
import torch  # noqa: TID251  (tests build fixtures and check results with the real torch)
from safetensors import safe_open
from safetensors.torch import load_file

from mlvet.errors import MlvetError, UsageError
from mlvet.policy import default_policy
from mlvet.trust import torchckpt
from mlvet.trust.convert import ConvertResult, convert_to_safetensors
from mlvet.trust.torchckpt import CheckpointError, ConversionRefused, TensorRef, open_checkpoint

RunCli = Callable[..., subprocess.CompletedProcess[str]]


# ---- helpers ------------------------------------------------------------------------------------------------


def raw(t: torch.Tensor) -> bytes:
    """The bytes ``tensor.contiguous()`` holds (any dtype, 0-d included)."""
    c = t.detach().contiguous().reshape(-1)
    return c.view(torch.uint8).numpy().tobytes()


def lookup(obj: Any, name: str) -> Any:
    """Follow a flattened dotted name through nested dicts / lists (keys never contain dots here)."""
    if name == "tensor":
        return obj
    for part in name.split("."):
        obj = obj[int(part)] if isinstance(obj, (list, tuple)) else obj[part if part in obj else int(part)]
    return obj


def leaves(obj: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor in a nested structure, by the dotted name mlvet gives it."""
    if isinstance(obj, torch.Tensor):
        return {prefix or "tensor": obj}
    out: dict[str, torch.Tensor] = {}
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, (list, tuple)) else ()
    for k, v in items:
        out.update(leaves(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def check_conversion(src: Path, tmp_path: Path, expected_names: set[str] | None = None, *,
                     weights_only: bool = True) -> ConvertResult:
    """Convert ``src`` and require every tensor to equal torch.load(weights_only=True) bit for bit.

    ``weights_only=False`` only for our own protocol-4/5 fixtures: torch's weights-only unpickler does not
    implement the FRAME opcode those protocols write.
    """
    ref = torch.load(src, weights_only=weights_only)
    want = leaves(ref)
    dst = tmp_path / (src.stem + ".safetensors")
    result = convert_to_safetensors(src, dst, overwrite=True)
    got = load_file(dst)
    assert set(got) == set(want), (sorted(got), sorted(want))
    if expected_names is not None:
        assert set(got) == expected_names
    for name, t in want.items():
        assert got[name].dtype == t.dtype, name
        assert tuple(got[name].shape) == tuple(t.shape), name
        assert raw(got[name]) == raw(t), f"tensor {name} differs from torch.load"
    assert result.tensors == len(want)
    assert result.data_bytes == sum(t.numel() * t.element_size() for t in want.values())
    assert result.file_bytes == dst.stat().st_size
    # And the reader alone (what `mlvet diff` uses) yields the same bytes.
    with open_checkpoint(src) as ck:
        for name, tref in ck.tensors.items():
            assert b"".join(ck.iter_tensor_bytes(tref, chunk=4096)) == raw(want[name]), name
    return result


def rezip(src: Path, dst: Path, change: Callable[[str, bytes], bytes | None],
          compression: int = zipfile.ZIP_STORED) -> None:
    """Rewrite a torch zip member by member (``change`` returns new bytes, or None to drop the member)."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", compression) as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info.filename, data)


def save(obj: Any, path: Path, legacy: bool = False, protocol: int = 2) -> Path:
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy, pickle_protocol=protocol)
    return path


# ---- bit-identical conversion --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed() -> dict[str, Any]:
    g = torch.Generator().manual_seed(7)
    base = torch.randn(12, 10, generator=g)
    special = torch.tensor([float("nan"), -0.0, float("inf"), -float("inf"), 1e-45, 3.4e38])
    return {
        "fp32": torch.randn(5, 7, generator=g),
        "fp16": torch.randn(9, generator=g).half(),
        "bf16": torch.randn(4, 6, generator=g).bfloat16(),
        "fp64": torch.randn(3, generator=g).double(),
        "int8": torch.randint(-128, 128, (17,), dtype=torch.int8, generator=g),
        "uint8": torch.randint(0, 256, (3, 5), dtype=torch.uint8, generator=g),
        "int16": torch.randint(-30000, 30000, (4,), dtype=torch.int16, generator=g),
        "int32": torch.randint(-(2**31), 2**31 - 1, (6,), dtype=torch.int32, generator=g),
        "int64": torch.tensor([-(2**63), 2**63 - 1, 0, 5], dtype=torch.int64),
        "bool": torch.rand(11, generator=g) > 0.5,
        "special": special,
        "scalar": torch.tensor(2.5),
        "empty": torch.empty(0, 4),
        "empty_scalar_shape": torch.zeros(3, 0, 2, dtype=torch.float16),
        "base": base,
        "transposed": base.t(),
        "stepped": base[1:11:3, ::2],
        "column": base[:, 3],
        "offset_row": base[5],
        "expanded": torch.randn(4, 1, generator=g).expand(4, 6),
        "permuted": torch.randn(2, 3, 4, 5, generator=g).permute(3, 1, 0, 2),
        "nested": {"model": {"layer.weight": torch.randn(2, 2, generator=g), "layer.bias": torch.zeros(2)},
                   "list": [torch.arange(4), (torch.ones(2, dtype=torch.int32),)]},
        "epoch": 12,
        "note": "hello",
        "lr": 0.001,
    }


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_mixed_checkpoint_is_bit_identical(mixed: dict[str, Any], tmp_path: Path, legacy: bool, protocol: int) -> None:
    src = save(mixed, tmp_path / "mixed.pt", legacy, protocol)
    result = check_conversion(src, tmp_path, weights_only=protocol == 2)
    assert result.source_format == ("pytorch-legacy" if legacy else "pytorch-zip")
    assert result.skipped == {"epoch": "12", "note": "'hello'", "lr": "0.001"}
    assert {"nested.model.layer.weight", "nested.list.0", "nested.list.1.0", "transposed"} <= set(
        load_file(tmp_path / "mixed.safetensors")
    )


def test_shared_storages_and_views(tmp_path: Path) -> None:
    """Views of one storage: the reader reports the sharing, the output holds each view's own bytes."""
    base = torch.arange(60, dtype=torch.float32)
    obj = {"a": base, "b": base, "c": base[10:30].view(4, 5), "d": base.view(6, 10).t(), "e": base[::7]}
    src = save(obj, tmp_path / "shared.pt")
    check_conversion(src, tmp_path)
    with open_checkpoint(src) as ck:
        keys = {ref.storage_key for ref in ck.tensors.values()}
        assert len(keys) == 1, "all five views share one storage"
        assert ck.tensors["c"].storage_offset == 10
        assert ck.tensors["d"] == TensorRef("d", "F32", (10, 6), (1, 10), ck.tensors["a"].storage_key, 0)
        assert ck.tensors["e"].stride == (7,)


def test_module_state_dict(tmp_path: Path) -> None:
    """A real nn.Module's state_dict: an OrderedDict with BUILD'd ``_metadata``, buffers, int64 counters."""
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(4 * 6 * 6, 5), torch.nn.LayerNorm(5),
    )
    model.half()[4].weight.data = model[4].weight.data.t().contiguous().t()  # a non-contiguous parameter
    sd = model.state_dict()
    assert isinstance(sd, OrderedDict)
    src = save(sd, tmp_path / "sd.pt")
    check_conversion(src, tmp_path, expected_names=set(sd))
    src_legacy = save(sd, tmp_path / "sd_legacy.pt", legacy=True)
    check_conversion(src_legacy, tmp_path, expected_names=set(sd))


def test_parameters_and_optimizer_state(tmp_path: Path) -> None:
    """nn.Parameter (``_rebuild_parameter``) and an optimizer state dict with integer keys."""
    torch.manual_seed(1)
    lin = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(lin.parameters())
    lin(torch.randn(4, 3)).sum().backward()
    opt.step()
    obj = {"param": lin.weight, "model": lin.state_dict(), "optim": opt.state_dict(), "step": 1}
    src = save(obj, tmp_path / "train.pt")
    result = check_conversion(src, tmp_path)
    assert "optim.state.0.exp_avg" in load_file(tmp_path / "train.safetensors")
    assert result.skipped["step"] == "1"
    assert any(k.startswith("optim.param_groups.0.") for k in result.skipped)


def test_tensors_with_python_state(tmp_path: Path) -> None:
    """Attributes on a Parameter / Tensor: ``_rebuild_parameter_with_state`` and ``_rebuild_from_type_v2``."""
    param = torch.nn.Parameter(torch.randn(3, 2).t())
    param.tag = 1  # type: ignore[attr-defined]
    plain = torch.arange(6.0)[1::2]
    plain.note = "x"  # type: ignore[attr-defined]
    check_conversion(save({"p": param, "t": plain}, tmp_path / "state.pt"), tmp_path, {"p", "t"})


def test_transformers_state_dict_with_tied_weights(tmp_path: Path) -> None:
    """A transformers GPT-2 state dict saved the way ``pytorch_model.bin`` files were (transformers 5 no
    longer writes .bin): the tied input embedding and LM head share one storage."""
    transformers = pytest.importorskip("transformers")
    torch.manual_seed(0)
    config = transformers.GPT2Config(n_layer=2, n_head=2, n_embd=16, vocab_size=64, n_positions=32,
                                     bos_token_id=1, eos_token_id=1)
    model = transformers.GPT2LMHeadModel(config)
    src = save(model.state_dict(), tmp_path / "pytorch_model.bin")
    result = check_conversion(src, tmp_path)
    assert result.tensors >= 2 * 12
    with open_checkpoint(src) as ck:
        assert ck.tensors["lm_head.weight"].storage_key == ck.tensors["transformer.wte.weight"].storage_key


def test_bare_tensor_and_list(tmp_path: Path) -> None:
    check_conversion(save(torch.randn(3, 3).t(), tmp_path / "bare.pt"), tmp_path, {"tensor"})
    check_conversion(save([torch.ones(2), torch.zeros(3)], tmp_path / "list.pt"), tmp_path, {"0", "1"})


def test_new_dtypes_rebuild_tensor_v3(tmp_path: Path) -> None:
    """uint16/32/64 and float8 go through ``_rebuild_tensor_v3`` with an untyped storage."""
    g = torch.Generator().manual_seed(3)
    obj = {
        "u16": torch.randint(0, 2**16, (5,), generator=g).to(torch.uint16),
        "u32": torch.randint(0, 2**31, (2, 3), generator=g).to(torch.uint32),
        "u64": torch.tensor([2**63 + 5, 1], dtype=torch.uint64),
        "f8e4m3": torch.randn(8, generator=g).to(torch.float8_e4m3fn),
        "f8e5m2": torch.randn(4, 2, generator=g).to(torch.float8_e5m2).t(),
    }
    src = save(obj, tmp_path / "v3.pt")
    check_conversion(src, tmp_path)
    with open_checkpoint(src) as ck:
        assert {r.dtype for r in ck.tensors.values()} == {"U16", "U32", "U64", "F8_E4M3", "F8_E5M2"}


def test_big_views_gather_in_bounded_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a tiny gather budget every windowed path (rows, column blocks, 1-D strides) must still agree."""
    g = torch.Generator().manual_seed(5)
    base = torch.randn(20, 30, 12, generator=g)
    obj = {
        "perm": base.permute(2, 0, 1),
        "perm_step": base.permute(1, 2, 0)[::2, 3:, ::3],
        "t": torch.randn(50, 70, generator=g).t(),
        "col": torch.randn(40, 90, generator=g)[:, 5],
        "expand": torch.randn(7, 1, 5, generator=g).expand(7, 9, 5),
        "f64t": torch.randn(30, 30, generator=g).double().t(),
        "expand1d": torch.randn(1, generator=g).expand(3000),
        "long_stride": torch.randn(5000, generator=g)[::7],
    }
    src = save(obj, tmp_path / "views.pt")
    for budget in (4096, 256, 16):
        monkeypatch.setattr(torchckpt, "GATHER_BUDGET", budget)
        check_conversion(src, tmp_path)


def test_big_endian_byteorder_record(tmp_path: Path) -> None:
    """A checkpoint written on a big-endian machine: storages swapped per storage dtype, as torch.load does."""
    g = torch.Generator().manual_seed(9)
    obj = {"f32": torch.randn(3, 4, generator=g), "f16": torch.randn(5, generator=g).half(),
           "i64": torch.arange(-3, 3), "u8": torch.arange(7, dtype=torch.uint8),
           "c64": torch.randn(3, dtype=torch.complex64, generator=g), "view": torch.randn(4, 6, generator=g).t()}
    little = save(obj, tmp_path / "little.pt")
    with open_checkpoint(little) as ck:
        swap = {ref.storage_key: (ref.itemsize // 2 if ref.dtype == "C64" else ref.itemsize)
                for ref in ck.tensors.values()}

    def to_big(name: str, data: bytes) -> bytes:
        if name.endswith("/byteorder"):
            return b"big"
        key = name.rsplit("/data/", 1)[-1] if "/data/" in name else None
        if key in swap and swap[key] > 1:
            return np.frombuffer(data, dtype=f"<u{swap[key]}").byteswap().tobytes()
        return data

    big = tmp_path / "big.pt"
    rezip(little, big, to_big)
    loaded = torch.load(big, weights_only=True)
    assert all(raw(loaded[k]) == raw(v) for k, v in obj.items()), "fixture: torch swaps back"
    check_conversion(big, tmp_path)
    with open_checkpoint(big) as ck:
        assert ck.byteorder == "big"


def test_deflated_archive_members(tmp_path: Path) -> None:
    """torch.save stores members uncompressed, but torch.load (miniz) also reads deflated ones."""
    g = torch.Generator().manual_seed(4)
    src = save({"t": torch.randn(90, 40, generator=g).t(), "i": torch.arange(50)}, tmp_path / "plain.pt")
    deflated = tmp_path / "deflated.pt"
    rezip(src, deflated, lambda _n, d: d, zipfile.ZIP_DEFLATED)
    check_conversion(deflated, tmp_path)


def test_safetensors_layout(tmp_path: Path) -> None:
    """Header: 8-byte length, JSON padded with spaces to 8, metadata, aligned offsets; loads with safe_open."""
    obj = {"b": torch.ones(3, dtype=torch.int8), "a": torch.ones(2, dtype=torch.float64), "c": torch.ones(1)}
    dst = tmp_path / "out.safetensors"
    convert_to_safetensors(save(obj, tmp_path / "x.pt"), dst)
    data = dst.read_bytes()
    n = struct.unpack("<Q", data[:8])[0]
    assert n % 8 == 0
    header = json.loads(data[8 : 8 + n])
    assert header["__metadata__"]["format"] == "pt"
    assert "mlvet" in header["__metadata__"]["converted_by"]
    assert [k for k in header if k != "__metadata__"] == ["a", "c", "b"]  # largest elements first, then name
    for k in ("a", "b", "c"):
        start, end = header[k]["data_offsets"]
        assert start % torch.empty(0, dtype=obj[k].dtype).element_size() == 0
        assert end - start == obj[k].numel() * obj[k].element_size()
    with safe_open(str(dst), "pt") as f:
        assert f.metadata()["format"] == "pt"


# ---- refusals -----------------------------------------------------------------------------------------------


def test_every_malicious_sample_is_refused(malicious_samples: list[build_malicious.Sample],
                                           malicious_paths: dict[str, Path], tmp_path: Path) -> None:
    refused = 0
    for sample in malicious_samples:
        dst = tmp_path / f"{sample.name}.safetensors"
        with pytest.raises(ConversionRefused) as info:
            convert_to_safetensors(malicious_paths[sample.name], dst)
        assert info.value.reason, sample.name
        assert not dst.exists(), sample.name
        assert not list(tmp_path.glob(".*partial")), sample.name
        refused += 1
    assert refused == len(malicious_samples) > 150


def test_reader_alone_never_runs_what_it_does_not_know(malicious_samples: list[build_malicious.Sample],
                                                       malicious_paths: dict[str, Path]) -> None:
    """Without the scan gate, the reader itself refuses the pickle payloads (and never crashes)."""
    outcomes: dict[str, int] = {"refused": 0, "error": 0, "opened": 0}
    for sample in malicious_samples:
        try:
            with open_checkpoint(malicious_paths[sample.name]) as ck:
                # Only archives whose payload sits in a member torch never reads open, and they hold no tensor.
                assert not ck.tensors, sample.name
                outcomes["opened"] += 1
        except ConversionRefused as exc:
            assert exc.reason
            outcomes["refused"] += 1
        except CheckpointError as exc:
            assert exc.reason
            outcomes["error"] += 1
    assert outcomes["refused"] > 150, outcomes
    assert outcomes["opened"] <= 5, outcomes


def test_safe_but_unconvertible_callable_is_refused_by_name(tmp_path: Path) -> None:
    """numpy arrays are safe for the policy (the scan is clean) but not tensors: the reader refuses them."""
    src = save({"w": torch.ones(2), "arr": np.arange(3)}, tmp_path / "np.pt")
    dst = tmp_path / "np.safetensors"
    with pytest.raises(ConversionRefused, match=r"numpy\.") as info:
        convert_to_safetensors(src, dst)
    assert "scan reports" not in info.value.reason
    assert not dst.exists()


def test_scan_finding_refuses_naming_the_rule(malicious_samples: list[build_malicious.Sample],
                                              malicious_paths: dict[str, Path], tmp_path: Path) -> None:
    sample = next(s for s in malicious_samples if s.expect_callable in ("os.system", "posix.system"))
    with pytest.raises(ConversionRefused, match=r"scan reports PKL\d{3} \((critical|high)\)"):
        convert_to_safetensors(malicious_paths[sample.name], tmp_path / "x.safetensors")


def test_refusal_keeps_an_existing_output_intact(malicious_samples: list[build_malicious.Sample],
                                                 malicious_paths: dict[str, Path], tmp_path: Path) -> None:
    dst = tmp_path / "keep.safetensors"
    dst.write_bytes(b"previous")
    with pytest.raises(ConversionRefused):
        convert_to_safetensors(malicious_paths[malicious_samples[0].name], dst, overwrite=True)
    assert dst.read_bytes() == b"previous"


# ---- malformed input -----------------------------------------------------------------------------------------


@pytest.fixture()
def small_zip(tmp_path: Path) -> Path:
    return save({"w": torch.randn(4, 4), "b": torch.randn(4)}, tmp_path / "small.pt")


def _expect_clean_failure(path: Path, tmp_path: Path) -> MlvetError:
    dst = tmp_path / "bad.safetensors"
    with pytest.raises(MlvetError) as info:
        convert_to_safetensors(path, dst)
    assert isinstance(info.value, (ConversionRefused, CheckpointError)), type(info.value)
    assert str(info.value)
    assert not dst.exists()
    return info.value


def test_truncated_checkpoints(small_zip: Path, tmp_path: Path) -> None:
    legacy = save({"w": torch.randn(64)}, tmp_path / "legacy.pt", legacy=True)
    for src in (small_zip, legacy):
        data = src.read_bytes()
        for cut in (10, len(data) // 3, len(data) // 2, len(data) - 40, len(data) - 1):
            bad = tmp_path / f"cut_{src.stem}_{cut}.pt"
            bad.write_bytes(data[:cut])
            _expect_clean_failure(bad, tmp_path)
            try:
                with open_checkpoint(bad) as ck:
                    for ref in ck.tensors.values():
                        b"".join(ck.iter_tensor_bytes(ref))
            except MlvetError:
                pass


def test_storage_record_of_the_wrong_size(small_zip: Path, tmp_path: Path) -> None:
    bad = tmp_path / "short.pt"
    rezip(small_zip, bad, lambda n, d: d[:-4] if n.endswith("/data/0") else d)
    err = _expect_clean_failure(bad, tmp_path)
    assert "data/0" in str(err)


def test_missing_storage_record(small_zip: Path, tmp_path: Path) -> None:
    bad = tmp_path / "missing.pt"
    rezip(small_zip, bad, lambda n, d: None if n.endswith("/data/1") else d)
    assert "data/1" in str(_expect_clean_failure(bad, tmp_path))


def test_view_past_the_end_of_its_storage(tmp_path: Path) -> None:
    """A size patched in data.pkl so the view reads past the storage: refused, torch would read garbage."""
    src = save({"w": torch.randn(3, 5)}, tmp_path / "v.pt")

    def patch(name: str, data: bytes) -> bytes:
        if name.endswith("data.pkl"):
            assert b"K\x03K\x05\x86" in data
            return data.replace(b"K\x03K\x05\x86", b"K\x09K\x05\x86", 1)
        return data

    bad = tmp_path / "oob.pt"
    rezip(src, bad, patch)
    err = _expect_clean_failure(bad, tmp_path)
    assert "past the end of storage" in str(err)


def test_not_a_checkpoint(tmp_path: Path) -> None:
    for name, data in (("empty.pt", b""), ("text.pt", b"hello world\n" * 10), ("zip.pt", b"")):
        path = tmp_path / name
        if name == "zip.pt":
            with zipfile.ZipFile(path, "w") as z:
                z.writestr("readme.txt", "nothing")
        else:
            path.write_bytes(data)
        with pytest.raises(MlvetError):
            with open_checkpoint(path):
                pass
    with pytest.raises(CheckpointError, match="no tensors"):
        convert_to_safetensors(save({"epoch": 3}, tmp_path / "no_tensors.pt"), tmp_path / "n.safetensors")


def test_legacy_tar_format_is_refused_clearly(tmp_path: Path) -> None:
    """The pre-0.4 tar layout (storages/tensors/pickle members): refused, as torch's weights-only load does."""
    path = tmp_path / "old.tar.pt"
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in ("sys_info", "pickle", "storages", "tensors"):
            info = tarfile.TarInfo(name)
            payload = b"\x80\x02K\x00."
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    with pytest.raises(CheckpointError, match="tar"):
        open_checkpoint(path)


def test_random_corruption_of_data_pkl_never_crashes(small_zip: Path, tmp_path: Path) -> None:
    """Byte flips in the pickle: a clean MlvetError or a consistent result, never another exception."""
    with zipfile.ZipFile(small_zip) as z:
        pkl_name = next(n for n in z.namelist() if n.endswith("data.pkl"))
        original = z.read(pkl_name)
    rng = random.Random(1234)
    bad = tmp_path / "fuzz.pt"
    for _ in range(150):
        mutated = bytearray(original)
        for _ in range(rng.randint(1, 4)):
            mutated[rng.randrange(len(mutated))] = rng.randrange(256)
        rezip(small_zip, bad, lambda n, d, m=bytes(mutated): m if n == pkl_name else d)
        try:
            with open_checkpoint(bad) as ck:
                for ref in ck.tensors.values():
                    assert sum(len(p) for p in ck.iter_tensor_bytes(ref)) == ref.nbytes
        except MlvetError:
            pass


def test_unsupported_dtype_is_a_clear_error(tmp_path: Path) -> None:
    src = save({"c": torch.randn(3, dtype=torch.complex128)}, tmp_path / "c128.pt")
    with open_checkpoint(src) as ck:
        assert ck.tensors["c"].dtype == "C128"
    with pytest.raises(CheckpointError, match="C128"):
        convert_to_safetensors(src, tmp_path / "c.safetensors")


def test_output_size_is_bounded_by_the_limits(tmp_path: Path) -> None:
    """A broadcast view describes more bytes than the file holds: the output is capped by the policy limits."""
    src = save({"wide": torch.ones(1).expand(4096)}, tmp_path / "wide.pt")
    policy = default_policy()
    tight = dataclasses.replace(policy, limits=dataclasses.replace(policy.limits, max_total_bytes=1024))
    with pytest.raises(CheckpointError, match="max_total_bytes"):
        convert_to_safetensors(src, tmp_path / "wide.safetensors", policy=tight)
    assert not (tmp_path / "wide.safetensors").exists()
    check_conversion(src, tmp_path)


def test_existing_output_needs_overwrite(small_zip: Path, tmp_path: Path) -> None:
    dst = tmp_path / "o.safetensors"
    dst.write_bytes(b"x")
    with pytest.raises(UsageError):
        convert_to_safetensors(small_zip, dst)
    convert_to_safetensors(small_zip, dst, overwrite=True)
    assert set(load_file(dst)) == {"w", "b"}


# ---- CLI ------------------------------------------------------------------------------------------------------


def test_cli_success_and_exit_codes(run_cli: RunCli, tmp_path: Path, malicious_samples: list[build_malicious.Sample],
                                    malicious_paths: dict[str, Path]) -> None:
    src = save({"w": torch.randn(2, 3), "epoch": 4}, tmp_path / "ok.pt")
    dst = tmp_path / "ok.safetensors"
    res = run_cli(["convert", str(src), str(dst)])
    assert res.returncode == 0, res.stderr
    assert "converted 1 tensor " in res.stdout and "epoch" in res.stdout
    assert res.stdout.count("\n") == 1
    assert torch.equal(load_file(dst)["w"], torch.load(src, weights_only=True)["w"])

    again = run_cli(["convert", str(src), str(dst)])
    assert again.returncode == 4 and "--force" in again.stderr
    assert run_cli(["convert", str(src), str(dst), "--force"]).returncode == 0

    sample = next(s for s in malicious_samples if s.expect_callable in ("os.system", "posix.system"))
    evil = run_cli(["convert", str(malicious_paths[sample.name]), str(tmp_path / "evil.safetensors")])
    assert evil.returncode == 1
    assert "refused" in evil.stderr and "PKL" in evil.stderr
    assert "Traceback" not in evil.stderr + evil.stdout
    assert not (tmp_path / "evil.safetensors").exists()

    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"\x80\x02" + os.urandom(8))
    bad = run_cli(["convert", str(broken), str(tmp_path / "broken.safetensors")])
    assert bad.returncode in (1, 2), bad.stderr
    assert "mlvet: error:" in bad.stderr and "Traceback" not in bad.stderr

    legacy_tarless = save({"w": torch.ones(3)}, tmp_path / "c128.pt", legacy=True)
    assert run_cli(["convert", str(legacy_tarless), str(tmp_path / "l.safetensors")]).returncode == 0

    c128 = save({"c": torch.ones(2, dtype=torch.complex128)}, tmp_path / "complex.pt")
    res = run_cli(["convert", str(c128), str(tmp_path / "c.safetensors")])
    assert res.returncode == 2 and "C128" in res.stderr

    missing = run_cli(["convert", str(tmp_path / "nope.pt"), str(tmp_path / "n.safetensors")])
    assert missing.returncode == 4


def test_reader_on_io_buffer_roundtrip(tmp_path: Path) -> None:
    """The legacy reader follows torch's storage order exactly when several storages share keys."""
    a = torch.arange(10, dtype=torch.int16)
    obj = {"x": a, "y": a[2:], "z": torch.ones(3, dtype=torch.float64)}
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False)
    path = tmp_path / "buf.pt"
    path.write_bytes(buf.getvalue())
    check_conversion(path, tmp_path)


def test_large_checkpoint_converts_in_bounded_memory(tmp_path: Path) -> None:
    """~260 MB of tensors, including a 64 MB transposed view, convert with a small, bounded footprint.

    The conversion runs in a fresh process (without torch) so its peak RSS is mlvet's alone. The output
    is then checked bit for bit against torch's own weights-only load.
    """
    g = torch.Generator().manual_seed(3)
    state = {f"layers.{i}.weight": torch.randn(1024, 1024, generator=g) for i in range(48)}
    state["proj.weight"] = torch.randn(4096, 4096, generator=g).t()  # non-contiguous: gathered in windows
    src = save(state, tmp_path / "big.pt")
    dst = tmp_path / "big.safetensors"
    # A small wrapper process runs mlvet and reports its child's peak RSS: measured directly from this
    # test process, the fork would carry torch's pages into the child's peak before exec.
    wrapper = ("import resource, subprocess, sys\n"
               "rc = subprocess.call([sys.executable, '-m', 'mlvet', 'convert', sys.argv[1], sys.argv[2]])\n"
               "print(rc, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    out = subprocess.run([sys.executable, "-c", wrapper, str(src), str(dst)], capture_output=True, text=True,
                         timeout=300, check=True)
    rc, maxrss_kb = map(int, out.stdout.split()[-2:])
    assert rc == 0, out.stderr
    peak_mb = maxrss_kb / 1024
    print(f"\nconvert of {src.stat().st_size / 1e6:.0f} MB: peak RSS {peak_mb:.0f} MB")
    assert peak_mb < 200
    expected = torch.load(src, weights_only=True)
    got = load_file(str(dst))
    assert set(got) == set(expected)
    for name, tensor in expected.items():
        assert raw(got[name]) == raw(tensor), name
