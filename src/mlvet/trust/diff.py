"""Tamper diff: compare two versions of a model tensor by tensor, in bounded memory.

Why: a "re-upload" of a popular model that quietly altered a few tensors (a backdoor, a poisoned
embedding row, a patched classifier head) looks like any other upload: same names, same shapes, same
size. A fine-tune, by contrast, moves nearly every tensor a little. Comparing the two versions tensor by
tensor and measuring *how much* and *where* each one moved separates the two patterns: the verdict says
``targeted`` when at most :data:`TARGETED_MAX_FRACTION` of the shared tensors changed and everything
else is bit-identical, ``widespread`` when most did, ``scattered`` when many tensors changed but only a
sliver of their elements (training moves nearly every element it touches; hand edits do not),
``identical`` when none did, and ``unrelated`` when the tensors holding most of the weights moved by as
much as their own norm (two independently initialised or trained models: relative L2 about sqrt(2)).

How: both models are opened with :func:`mlvet.trust.tensors.open_tensors` (headers only). For each
tensor present in both with the same shape and dtype, the two byte streams are read in lockstep, cut at
the same element-aligned offsets, and compared with ``==`` (a memcmp: the cheap path, and exact, so no
hash is needed). Only tensors that differ are read a second time to measure the change with numpy:
relative L2 norm ``||b - a|| / ||a||``, maximum absolute difference, and the fraction of elements whose
bits changed. bfloat16 is widened by ``uint16 << 16``, float8 through exact lookup tables; opaque dtypes
(GGUF quantised blocks, sub-byte floats) report the fraction of *bytes* changed only. Memory is a few
chunks of :data:`CHUNK` bytes per side whatever the model's size.

numpy is optional: without it the diff still finds every added, removed, reshaped, retyped and changed
tensor (the byte comparison needs nothing), and says that the size of each change was not measured.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import TYPE_CHECKING, Any, ClassVar

from mlvet.trust.tensors import TensorFormatError, TensorInfo, TensorSet, dtype_itemsize, rechunk

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = [
    "CHUNK",
    "TARGETED_MAX_FRACTION",
    "WIDESPREAD_MIN_FRACTION",
    "DiffSummary",
    "DtypeChange",
    "LayerDiff",
    "ShapeChange",
    "TensorChange",
    "TensorDiff",
    "diff_tensors",
    "layer_of",
]

#: Bytes compared per step on each side. 1 MiB keeps the float64 temporaries of the numeric pass
#: (8 bytes per element, a handful of arrays) in the tens of megabytes even for int8 tensors.
CHUNK = 1 << 20
#: At most this fraction of shared tensors changed (the rest bit-identical): a targeted edit.
TARGETED_MAX_FRACTION = 0.10
#: At least this fraction changed: a fine-tune, retrain or re-quantisation.
WIDESPREAD_MIN_FRACTION = 0.50
#: Below this fraction of changed elements (within the changed tensors) a many-tensor change is flagged as
#: sparse: gradient updates touch nearly every element, hand edits do not.
SPARSE_MAX = 0.01
#: A changed tensor whose relative L2 change is at least this moved by as much as its own norm: no
#: fine-tune does that (their changes are orders of magnitude smaller), while two independently
#: initialised or trained tensors differ by about sqrt(2) (||a - b||^2 = ||a||^2 + ||b||^2 when a and b
#: are uncorrelated and of similar norm).
UNRELATED_MIN_REL_L2 = 1.0
#: When tensors moved that far hold at least this fraction of the shared elements, the models are
#: unrelated weights (independently initialised or trained), not versions of each other.
UNRELATED_MIN_ELEMENTS = 0.5

NUMPY_MISSING = ("numpy is not installed: changed tensors are listed but the size of each change is not "
                 "measured (pip install numpy)")


@dataclass(frozen=True)
class ShapeChange:
    """A tensor present in both models with different shapes."""

    name: str
    shape_a: tuple[int, ...]
    shape_b: tuple[int, ...]


@dataclass(frozen=True)
class DtypeChange:
    """A tensor present in both models with different dtypes."""

    name: str
    dtype_a: str
    dtype_b: str


@dataclass(frozen=True)
class TensorChange:
    """A tensor with the same name, shape and dtype in both models whose bytes differ."""

    name: str
    layer: str
    dtype: str
    shape: tuple[int, ...]
    #: ``elements`` when the dtype's values were decoded, ``bytes`` for opaque dtypes (GGUF quantised
    #: blocks: only the fraction of bytes changed is meaningful), None when numpy is missing.
    measure: str | None
    #: Fraction of elements (or bytes, see :attr:`measure`) whose bits differ.
    fraction_changed: float | None
    #: ``||b - a||_2 / ||a||_2`` over finite elements; None when not measurable (opaque dtype, ``a`` all
    #: zero, overflow, no numpy).
    rel_l2: float | None
    #: Largest ``|b - a|`` over finite elements.
    max_abs: float | None
    #: Elements that are NaN or infinite in either model (left out of the norms, counted in the fraction).
    nonfinite: int = 0


@dataclass(frozen=True)
class LayerDiff:
    """Per-layer counts (a layer is the tensor-name prefix :func:`layer_of` returns)."""

    name: str
    tensors: int
    unchanged: int
    changed: int
    added: int
    removed: int
    reshaped: int
    retyped: int
    #: Largest relative L2 change among the layer's changed tensors.
    max_rel_l2: float | None

    @property
    def differs(self) -> bool:
        """True if anything in the layer differs between the two models."""
        return bool(self.changed or self.added or self.removed or self.reshaped or self.retyped)


@dataclass(frozen=True)
class DiffSummary:
    """The verdict and the totals."""

    #: ``identical``, ``targeted``, ``partial``, ``widespread``, ``scattered`` (many tensors changed but few
    #: of their elements: sparse edits, not training), ``structural`` (tensors only added or removed) or
    #: ``unrelated`` (no tensor name in common).
    verdict: str
    message: str
    format_a: str
    format_b: str
    tensors_a: int
    tensors_b: int
    common: int
    unchanged: int
    changed: int
    added: int
    removed: int
    reshaped: int
    retyped: int
    #: Fraction of the tensors present in both models that changed, were reshaped or were retyped.
    fraction_tensors_changed: float
    layers: int
    layers_changed: int
    #: Bytes read from each model for the comparison.
    bytes_compared: int
    #: False when numpy was unavailable and changes were not measured.
    measured: bool
    #: Fraction of the elements of the changed (element-measured) tensors whose bits differ: near 1 for a
    #: fine-tune, small for sparse edits spread over many tensors. None when nothing was measured.
    fraction_elements_changed: float | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TensorDiff:
    """Everything that differs between model A and model B."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    reshaped: tuple[ShapeChange, ...]
    retyped: tuple[DtypeChange, ...]
    changed: tuple[TensorChange, ...]
    unchanged: int
    layers: tuple[LayerDiff, ...]
    summary: DiffSummary

    @property
    def identical(self) -> bool:
        """True if both models hold the same tensors with the same bytes."""
        return self.summary.verdict == "identical"

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape of ``mlvet diff --format json``."""
        s = self.summary
        return {
            "added": list(self.added),
            "removed": list(self.removed),
            "reshaped": [{"name": r.name, "shape_a": list(r.shape_a), "shape_b": list(r.shape_b)}
                         for r in self.reshaped],
            "retyped": [{"name": r.name, "dtype_a": r.dtype_a, "dtype_b": r.dtype_b} for r in self.retyped],
            "changed": [
                {"name": c.name, "rel_l2": c.rel_l2, "max_abs": c.max_abs, "fraction_changed": c.fraction_changed,
                 "measure": c.measure, "layer": c.layer, "dtype": c.dtype, "shape": list(c.shape),
                 "nonfinite": c.nonfinite}
                for c in self.changed
            ],
            "unchanged": self.unchanged,
            "layers": [
                {"name": ly.name, "tensors": ly.tensors, "unchanged": ly.unchanged, "changed": ly.changed,
                 "added": ly.added, "removed": ly.removed, "reshaped": ly.reshaped, "retyped": ly.retyped,
                 "max_rel_l2": ly.max_rel_l2}
                for ly in self.layers
            ],
            "summary": {
                "verdict": s.verdict, "message": s.message, "format_a": s.format_a, "format_b": s.format_b,
                "tensors_a": s.tensors_a, "tensors_b": s.tensors_b, "common": s.common,
                "unchanged": s.unchanged, "changed": s.changed, "added": s.added, "removed": s.removed,
                "reshaped": s.reshaped, "retyped": s.retyped,
                "fraction_tensors_changed": s.fraction_tensors_changed, "layers": s.layers,
                "layers_changed": s.layers_changed, "bytes_compared": s.bytes_compared, "measured": s.measured,
                "fraction_elements_changed": s.fraction_elements_changed,
                "notes": list(s.notes),
            },
        }


def layer_of(name: str) -> str:
    """The layer a tensor belongs to: its name up to the first numeric component (``model.layers.3``,
    ``blk.3``, ``features.0``), else its name without the last component (``model.embed_tokens``,
    ``lm_head``), else the name itself."""
    parts = name.split(".")
    for i, part in enumerate(parts):
        if part.isdigit():
            return ".".join(parts[: i + 1])
    return ".".join(parts[:-1]) if len(parts) > 1 else name


# ---- numeric measurement ----------------------------------------------------------------------------------


def _fp8_table(exp_bits: int, man_bits: int, *, fn: bool) -> list[float]:
    """All 256 values of an 8-bit float: ``fn`` (e4m3fn) has no infinities and one NaN per sign."""
    bias = (1 << (exp_bits - 1)) - 1
    top = (1 << exp_bits) - 1
    values = []
    for byte in range(256):
        sign = -1.0 if byte & 0x80 else 1.0
        e = (byte >> man_bits) & top
        m = byte & ((1 << man_bits) - 1)
        if fn and e == top and m == (1 << man_bits) - 1:
            values.append(math.nan)
        elif not fn and e == top:
            values.append(sign * math.inf if m == 0 else math.nan)
        elif e == 0:
            values.append(sign * m / (1 << man_bits) * 2.0 ** (1 - bias))
        else:
            values.append(sign * (1 + m / (1 << man_bits)) * 2.0 ** (e - bias))
    return values


class _Meter:
    """Accumulates the size of the change of one tensor over aligned chunk pairs."""

    _PLAIN: ClassVar[dict[str, str]] = {
        "float16": "<f2", "float32": "<f4", "float64": "<f8", "int8": "i1", "int16": "<i2", "int32": "<i4",
        "int64": "<i8", "uint8": "u1", "uint16": "<u2", "uint32": "<u4", "uint64": "<u8", "bool": "u1",
        "complex64": "<c8", "complex128": "<c16",
    }
    _FP8: ClassVar[dict[str, tuple[int, int, bool]]] = {"float8_e4m3fn": (4, 3, True), "float8_e5m2": (5, 2, False)}

    def __init__(self, np_mod: Any, dtype: str) -> None:
        self.np = np_mod
        self.dtype = dtype
        self.itemsize = dtype_itemsize(dtype)
        self.decoded = self.itemsize is not None and (
            dtype in self._PLAIN or dtype == "bfloat16" or dtype in self._FP8)
        self.unit = self.itemsize if self.decoded and self.itemsize else 1
        self.lut = None
        if dtype in self._FP8:
            self.lut = np_mod.array(_fp8_table(*self._FP8[dtype][:2], fn=self._FP8[dtype][2]), dtype=np_mod.float64)
        self.units = 0
        self.units_changed = 0
        self.sum_d2 = 0.0
        self.sum_a2 = 0.0
        self.max_abs = 0.0
        self.nonfinite = 0

    def _decode(self, buf: bytes) -> npt.NDArray[Any]:
        np_mod = self.np
        if self.dtype == "bfloat16":
            wide = np_mod.frombuffer(buf, "<u2").astype(np_mod.uint32) << 16
            return wide.view(np_mod.float32).astype(np_mod.float64)  # type: ignore[no-any-return]
        if self.lut is not None:
            return self.lut[np_mod.frombuffer(buf, np_mod.uint8)]  # type: ignore[no-any-return]
        arr = np_mod.frombuffer(buf, self._PLAIN[self.dtype])
        if arr.dtype.kind == "c":
            return arr.astype(np_mod.complex128)  # type: ignore[no-any-return]
        return arr.astype(np_mod.float64)  # type: ignore[no-any-return]

    def _sumsq(self, x: npt.NDArray[Any]) -> float:
        """Sum of squared magnitudes. einsum, not dot/vdot: BLAS spawns threads that contend for the CPU
        (ten times slower on a busy two-core machine) for a reduction that is memory-bound anyway."""
        np_mod = self.np
        if x.dtype.kind == "c":
            x = np_mod.ascontiguousarray(x).view(np_mod.float64)  # interleaved real, imaginary parts
        return float(np_mod.einsum("i,i->", x, x))

    def _bits_changed(self, ca: bytes, cb: bytes) -> int:
        np_mod = self.np
        unit = self.unit
        if unit in (1, 2, 4, 8):
            code = {1: "u1", 2: "<u2", 4: "<u4", 8: "<u8"}[unit]
            return int(np_mod.count_nonzero(np_mod.frombuffer(ca, code) != np_mod.frombuffer(cb, code)))
        ua = np_mod.frombuffer(ca, np_mod.uint8).reshape(-1, unit)
        ub = np_mod.frombuffer(cb, np_mod.uint8).reshape(-1, unit)
        return int(np_mod.count_nonzero((ua != ub).any(axis=1)))

    def add(self, ca: bytes, cb: bytes) -> None:
        np_mod = self.np
        self.units += len(ca) // self.unit
        if not self.decoded:
            if ca != cb:
                self.units_changed += self._bits_changed(ca, cb)
            return
        a = self._decode(ca)
        if ca == cb:
            # Equal chunk: it contributes to ||a|| only.
            self.sum_a2 += self._sumsq(a[np_mod.isfinite(a)])
            return
        self.units_changed += self._bits_changed(ca, cb)
        b = self._decode(cb)
        with np_mod.errstate(over="ignore", invalid="ignore"):
            finite = np_mod.isfinite(a) & np_mod.isfinite(b)
            if not finite.all():
                self.nonfinite += int(finite.size - np_mod.count_nonzero(finite))
                a, b = a[finite], b[finite]
            d = b - a
            self.sum_d2 += self._sumsq(d)
            self.sum_a2 += self._sumsq(a)
            if d.size:
                self.max_abs = max(self.max_abs, float(np_mod.abs(d).max()))

    def result(self, info: TensorInfo, layer: str) -> TensorChange:
        fraction = self.units_changed / self.units if self.units else 0.0
        if not self.decoded:
            return TensorChange(info.name, layer, info.dtype, info.shape, "bytes", fraction, None, None)
        rel: float | None = None
        if self.sum_a2 > 0:
            rel = math.sqrt(self.sum_d2) / math.sqrt(self.sum_a2)
        elif self.sum_d2 == 0:
            rel = 0.0
        if rel is not None and not math.isfinite(rel):
            rel = None
        max_abs = self.max_abs if math.isfinite(self.max_abs) else None
        return TensorChange(info.name, layer, info.dtype, info.shape, "elements", fraction, rel, max_abs,
                            self.nonfinite)


def _aligned_pairs(a: TensorSet, b: TensorSet, name: str, chunk: int) -> Iterator[tuple[bytes, bytes]]:
    """Chunk pairs cut at the same offsets on both sides (the chunk size is a multiple of every itemsize)."""
    sentinel = b""
    for ca, cb in zip_longest(rechunk(a.iter_bytes(name, chunk), chunk),
                              rechunk(b.iter_bytes(name, chunk), chunk), fillvalue=sentinel):
        if len(ca) != len(cb):
            raise TensorFormatError(f"tensor {name!r}: the two files yield different byte counts")
        yield ca, cb


def _load_numpy() -> Any:
    try:
        import numpy
    except ImportError:
        return None
    return numpy


# ---- the diff ---------------------------------------------------------------------------------------------


@dataclass
class _LayerCounts:
    tensors: int = 0
    unchanged: int = 0
    changed: int = 0
    added: int = 0
    removed: int = 0
    reshaped: int = 0
    retyped: int = 0
    rel: list[float] = field(default_factory=list)


Progress = Callable[[str, int, int], None]


def diff_tensors(a: TensorSet, b: TensorSet, *, chunk: int = CHUNK, progress: Progress | None = None) -> TensorDiff:
    """Compare model ``a`` (the reference) with model ``b``.

    ``progress(name, done, total)`` is called before each shared tensor is compared. Raises
    :class:`~mlvet.trust.tensors.TensorFormatError` when a file turns out truncated or malformed while
    its bytes are read.
    """
    chunk = max(16, chunk - chunk % 16)  # a multiple of every itemsize (complex128 is 16 bytes)
    np_mod = _load_numpy()
    names_a, names_b = a.tensors, b.tensors
    added = tuple(n for n in names_b if n not in names_a)
    removed = tuple(n for n in names_a if n not in names_b)
    common = [n for n in names_a if n in names_b]
    reshaped: list[ShapeChange] = []
    retyped: list[DtypeChange] = []
    changed: list[TensorChange] = []
    unchanged = 0
    bytes_compared = 0
    layers: dict[str, _LayerCounts] = {}

    def counts(name: str) -> _LayerCounts:
        return layers.setdefault(layer_of(name), _LayerCounts())

    for name in names_a:
        counts(name).tensors += 1
    for name in added:
        c = counts(name)
        c.tensors += 1
        c.added += 1
    for name in removed:
        counts(name).removed += 1

    for index, name in enumerate(common):
        ia, ib = names_a[name], names_b[name]
        c = counts(name)
        if ia.dtype != ib.dtype:
            retyped.append(DtypeChange(name, ia.dtype, ib.dtype))
            c.retyped += 1
        if ia.shape != ib.shape:
            reshaped.append(ShapeChange(name, ia.shape, ib.shape))
            c.reshaped += 1
        if ia.dtype != ib.dtype or ia.shape != ib.shape:
            continue
        if ia.nbytes != ib.nbytes:
            raise TensorFormatError(f"tensor {name!r}: same shape and dtype but {ia.nbytes} vs {ib.nbytes} bytes")
        if progress is not None:
            progress(name, index, len(common))
        differs = False
        for ca, cb in _aligned_pairs(a, b, name, chunk):
            bytes_compared += len(ca)
            if ca != cb:
                differs = True
                break
        if not differs:
            unchanged += 1
            c.unchanged += 1
            continue
        c.changed += 1
        if np_mod is None:
            changed.append(TensorChange(name, layer_of(name), ia.dtype, ia.shape, None, None, None, None))
            continue
        meter = _Meter(np_mod, ia.dtype)
        for ca, cb in _aligned_pairs(a, b, name, chunk):
            meter.add(ca, cb)
        change = meter.result(ia, layer_of(name))
        if change.rel_l2 is not None:
            c.rel.append(change.rel_l2)
        changed.append(change)

    layer_list = tuple(
        LayerDiff(n, lc.tensors, lc.unchanged, lc.changed, lc.added, lc.removed, lc.reshaped, lc.retyped,
                  max(lc.rel) if lc.rel else None)
        for n, lc in layers.items()
    )
    summary = _summarise(a, b, common, unchanged, changed, added, removed, reshaped, retyped, layer_list,
                         bytes_compared, measured=np_mod is not None)
    return TensorDiff(added, removed, tuple(reshaped), tuple(retyped), tuple(changed), unchanged, layer_list,
                      summary)


def _unrelated_share(a: TensorSet, common: list[str], measured: list[TensorChange]) -> tuple[float, float] | None:
    """(share of shared elements in tensors that moved by their own norm, their median rel L2), or None
    when those tensors hold less than :data:`UNRELATED_MIN_ELEMENTS` of the shared elements."""
    total = sum(math.prod(a.tensors[n].shape) for n in common)
    far = [c for c in measured if c.rel_l2 is not None and c.rel_l2 >= UNRELATED_MIN_REL_L2]
    moved = sum(math.prod(c.shape) for c in far)
    if not total or moved / total < UNRELATED_MIN_ELEMENTS:
        return None
    rels = sorted(c.rel_l2 for c in far if c.rel_l2 is not None)
    return moved / total, rels[len(rels) // 2]


def _summarise(a: TensorSet, b: TensorSet, common: list[str], unchanged: int, changed: list[TensorChange],
               added: tuple[str, ...], removed: tuple[str, ...], reshaped: list[ShapeChange],
               retyped: list[DtypeChange], layers: tuple[LayerDiff, ...], bytes_compared: int, *,
               measured: bool) -> DiffSummary:
    affected = {c.name for c in changed} | {r.name for r in reshaped} | {r.name for r in retyped}
    n_common = len(common)
    fraction = len(affected) / n_common if n_common else 0.0
    layers_changed = sum(1 for ly in layers if ly.differs)
    where = f"{len(affected)} of {n_common} shared tensors ({layers_changed} of {len(layers)} layers)"
    extra = []
    if added or removed:
        extra.append(f"{len(added)} added, {len(removed)} removed")
    if not (affected or added or removed):
        verdict, message = "identical", f"identical: all {n_common} tensors are bit-for-bit the same"
    elif n_common == 0:
        verdict, message = "unrelated", "the two models share no tensor names: not two versions of one model"
    elif not affected:
        verdict = "structural"
        message = (f"tensors were only added or removed ({len(added)} added, {len(removed)} removed); every "
                   f"shared tensor is bit-for-bit the same")
    elif fraction <= TARGETED_MAX_FRACTION:
        verdict = "targeted"
        message = (f"targeted change: {where} differ and everything else is bit-for-bit the same; the pattern "
                   "of a quietly altered re-upload (or a deliberate patch) rather than a fine-tune; review "
                   "the changed tensors")
    elif fraction >= WIDESPREAD_MIN_FRACTION:
        verdict = "widespread"
        message = (f"widespread change: {where} differ; the pattern of a fine-tune, retraining or "
                   "re-quantisation rather than a targeted edit")
    else:
        verdict = "partial"
        message = (f"partial change: {where} differ; a partial fine-tune (frozen layers) or an edit of "
                   "several layers")
    if extra and verdict not in ("structural", "identical", "unrelated"):
        message += f"; also {extra[0]}"
    measured_changes = [c for c in changed if c.measure == "elements" and c.fraction_changed is not None]
    elements = sum(math.prod(c.shape) for c in measured_changes)
    element_fraction = (sum((c.fraction_changed or 0.0) * math.prod(c.shape) for c in measured_changes) / elements
                        if elements else None)
    unrelated = _unrelated_share(a, common, measured_changes)
    if verdict in ("widespread", "partial") and unrelated is not None:
        share, median = unrelated
        verdict = "unrelated"
        message = (f"unrelated weights: {where} differ, and tensors holding {share:.0%} of the shared elements "
                   f"moved by at least their own norm (median relative L2 {median:.2f}; about 1.41 for "
                   "independent weights); the pattern of independently initialised or trained models, not a "
                   "fine-tune or an edit of one model")
        if extra:
            message += f"; also {extra[0]}"
    elif verdict in ("widespread", "partial") and element_fraction is not None and element_fraction < SPARSE_MAX:
        verdict = "scattered"
        message = (f"scattered change: {where} differ, but only {element_fraction:.2%} of their elements: sparse "
                   "edits spread over many tensors, unlike a fine-tune, which moves nearly every element of "
                   "what it trains; review the changed tensors")
        if extra:
            message += f"; also {extra[0]}"
    notes = () if measured or not changed else (NUMPY_MISSING,)
    return DiffSummary(
        verdict, message, a.format, b.format, len(a.tensors), len(b.tensors), n_common, unchanged, len(changed),
        len(added), len(removed), len(reshaped), len(retyped), round(fraction, 6), len(layers), layers_changed,
        bytes_compared, measured,
        fraction_elements_changed=None if element_fraction is None else round(element_fraction, 9), notes=notes,
    )
