"""Out-of-family weight check for safetensors files (BKD101): a bounded sample of each float tensor.

The header was validated by :mod:`mlvet.formats.safetensors`; this reads, for at most
:data:`~mlvet.formats.onnx_backdoor.MAX_SAMPLED_TENSORS` F32/F16/BF16 tensors, an evenly spread sample of
:data:`~mlvet.analysis.weight_stats.SAMPLE` values (16 contiguous runs), and hands the statistics to
:func:`mlvet.analysis.weight_stats.outliers`. Tensor extents outside the data section are skipped (the
safetensors checks already reported them).
"""

from __future__ import annotations

import struct
from collections import Counter
from typing import Any, BinaryIO

from mlvet.analysis.weight_stats import MIN_FAMILY, SAMPLE, TensorStats, stats_of
from mlvet.formats.base import ScanContext
from mlvet.formats.onnx_backdoor import MAX_SAMPLED_TENSORS, report_outliers

_WIDTH = {"F32": 4, "F16": 2, "BF16": 2}
_RUNS = 16


def _decode(dtype: str, data: bytes) -> list[float]:
    if dtype == "F32":
        return [v for (v,) in struct.iter_unpack("<f", data[: len(data) // 4 * 4])]
    if dtype == "F16":
        return [v for (v,) in struct.iter_unpack("<e", data[: len(data) // 2 * 2])]
    n = len(data) // 2
    widened = bytearray(4 * n)
    widened[2::4] = data[0 : 2 * n : 2]
    widened[3::4] = data[1 : 2 * n : 2]
    return [v for (v,) in struct.iter_unpack("<f", bytes(widened))]


def _read(stream: BinaryIO, at: int, n: int) -> bytes:
    stream.seek(at)
    return stream.read(n)


def _candidate(name: str, entry: Any, data_start: int,
               size: int) -> tuple[str, str, tuple[int, ...], int, int] | None:
    """(name, dtype, shape, begin, end) of a float tensor whose extent lies in the file, else None."""
    if name == "__metadata__" or not isinstance(entry, dict):
        return None
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in _WIDTH:
        return None
    if not isinstance(shape, list) or not isinstance(offsets, list) or len(offsets) != 2:
        return None
    if not all(isinstance(v, int) for v in [*shape, *offsets]):
        return None
    begin, end = data_start + offsets[0], data_start + offsets[1]
    if not data_start <= begin <= end <= size:
        return None
    return name, dtype, tuple(shape), begin, end


def report_safetensors_outliers(
    stream: BinaryIO, size: int, data_start: int, entries: list[tuple[str, Any]], ctx: ScanContext
) -> None:
    """Sample the float tensors of a validated header and report out-of-family ones.

    Only tensors in a shape family big enough to compare (``MIN_FAMILY`` matrices of one shape, decided
    from the header alone) are read: most files have none, and then no tensor byte is touched.
    """
    candidates = [c for c in (_candidate(name, entry, data_start, size) for name, entry in entries) if c]
    family = Counter(shape for _, _, shape, _, _ in candidates if len(shape) >= 2)
    stats: list[TensorStats] = []
    for name, dtype, shape, begin, end in candidates:
        if len(stats) >= MAX_SAMPLED_TENSORS:
            break
        if family[shape] < MIN_FAMILY:
            continue
        width = _WIDTH[dtype]
        count = (end - begin) // width
        if count <= SAMPLE:
            values = _decode(dtype, _read(stream, begin, count * width))
        else:
            run, step = SAMPLE // _RUNS, count // _RUNS
            values = []
            for k in range(_RUNS):
                values.extend(_decode(dtype, _read(stream, begin + k * step * width, run * width)))
        s = stats_of(name, shape, values)
        if s is not None:
            stats.append(s)
    report_outliers(stats, ctx, "safetensors tensor")
