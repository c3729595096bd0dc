"""Strided copies in bounded memory: what ``tensor.contiguous()`` holds, gathered from a window of storage
bytes (offsets, strides, transposes, broadcast zero strides), and the per-dtype byte swap of big-endian
checkpoints."""

from __future__ import annotations

import itertools
from typing import Literal

from mlvet.trust.ckpt_values import DTYPE_SIZES

_Unit = Literal["B", "H", "I", "Q"]


#: memoryview formats for 1, 2, 4 and 8-byte elements (unsigned: only the bits are moved).
_FMT: dict[int, _Unit] = {1: "B", 2: "H", 4: "I", 8: "Q"}


def _c_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    out = [1] * len(shape)
    for i in range(len(shape) - 2, -1, -1):
        out[i] = out[i + 1] * shape[i + 1]
    return tuple(out)


def _coalesce(shape: tuple[int, ...], stride: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Drop size-1 dims and merge dims that are contiguous with each other (same element order)."""
    dims = [(d, s) for d, s in zip(shape, stride, strict=True) if d != 1]
    merged: list[tuple[int, int]] = []
    for d, s in dims:
        if merged and merged[-1][1] == s * d:
            pd, _ = merged[-1]
            merged[-1] = (pd * d, s)
        else:
            merged.append((d, s))
    return tuple(d for d, _ in merged), tuple(s for _, s in merged)


def _gather_into(out: memoryview, out_base: int, out_strides: tuple[int, ...], src: memoryview, src_base: int,
                 shape: tuple[int, ...], stride: tuple[int, ...]) -> None:
    """Copy a strided block of ``src`` into ``out`` (both in element units), one 2-D plane at a time.

    Each plane costs min(rows, columns) slice copies: a transposed matrix is copied column by column.
    """
    if len(shape) == 1:
        shape, stride, out_strides = (1, *shape), (0, *stride), (0, *out_strides)
    outer = shape[:-2]
    m_rows, n_cols = shape[-2], shape[-1]
    s_r, s_c = stride[-2], stride[-1]
    o_r, o_c = out_strides[-2], out_strides[-1]
    for idx in itertools.product(*(range(d) for d in outer)):
        sb = src_base + sum(i * s for i, s in zip(idx, stride, strict=False))
        ob = out_base + sum(i * s for i, s in zip(idx, out_strides, strict=False))
        if n_cols >= m_rows:
            for r in range(m_rows):
                s0, o0 = sb + r * s_r, ob + r * o_r
                out[o0 : o0 + (n_cols - 1) * o_c + 1 : o_c] = _strided(src, s0, n_cols, s_c)
        else:
            for c in range(n_cols):
                s0, o0 = sb + c * s_c, ob + c * o_c
                out[o0 : o0 + (m_rows - 1) * o_r + 1 : o_r] = _strided(src, s0, m_rows, s_r)


def _strided(src: memoryview, start: int, n: int, step: int) -> memoryview:
    if step == 0:  # a broadcast (expanded) dimension repeats one element
        return memoryview(src[start : start + 1].tobytes() * n).cast(_FMT[src.itemsize])
    return src[start : start + (n - 1) * step + 1 : step]


def _swap_unit(dtype: str) -> int:
    size = DTYPE_SIZES[dtype]
    return size // 2 if dtype.startswith("C") else size


def _byteswap(data: bytes, unit: int) -> bytes:
    out = bytearray(len(data))
    for i in range(unit):
        out[i::unit] = data[unit - 1 - i :: unit]
    return bytes(out)
