"""What a PyTorch checkpoint's pickle is allowed to build, as data: the closed set of callables the exact
interpreter knows (tensor rebuilders, storage types, dtypes), the values they produce, and the errors."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from mlvet.errors import EXIT_FINDINGS, AnalysisError, MlvetError

_MiB = 1 << 20


#: Opcodes evaluated in one pickle; a real state dict of 100k tensors needs a few million.
_MAX_OPCODES = 20_000_000


#: Longest string kept as a value (longer ones are metadata summaries).
_MAX_STR = 1 * _MiB


#: Largest data.pkl spooled for evaluation (torch itself reads it into memory whole).
_MAX_PICKLE_BYTES = 4096 * _MiB


#: Flattening: deepest nesting and most leaves before the structure counts as hostile.
_MAX_DEPTH = 200


_MAX_LEAVES = 5_000_000


#: Element size of every dtype code (safetensors' vocabulary; C128 has no safetensors code).
DTYPE_SIZES: dict[str, int] = {
    "F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
    "U16": 2, "U32": 4, "U64": 8, "F8_E4M3": 1, "F8_E5M2": 1, "F8_E4M3FNUZ": 1, "F8_E5M2FNUZ": 1,
    "F8_E8M0": 1, "C64": 8, "C128": 16,
}


#: Legacy typed storage classes (``torch.FloatStorage`` ...) and the dtype of their elements.
_STORAGE_DTYPES: dict[str, str] = {
    "DoubleStorage": "F64", "FloatStorage": "F32", "HalfStorage": "F16", "BFloat16Storage": "BF16",
    "LongStorage": "I64", "IntStorage": "I32", "ShortStorage": "I16", "CharStorage": "I8",
    "ByteStorage": "U8", "BoolStorage": "BOOL", "ComplexFloatStorage": "C64", "ComplexDoubleStorage": "C128",
    "UntypedStorage": "U8",
}


#: ``torch.<dtype>`` constants (``_rebuild_tensor_v3``'s dtype argument, or plain metadata values).
_TORCH_DTYPES: dict[str, str] = {
    "float64": "F64", "double": "F64", "float32": "F32", "float": "F32", "float16": "F16", "half": "F16",
    "bfloat16": "BF16", "int64": "I64", "long": "I64", "int32": "I32", "int": "I32", "int16": "I16",
    "short": "I16", "int8": "I8", "uint8": "U8", "bool": "BOOL", "uint16": "U16", "uint32": "U32",
    "uint64": "U64", "float8_e4m3fn": "F8_E4M3", "float8_e5m2": "F8_E5M2", "float8_e4m3fnuz": "F8_E4M3FNUZ",
    "float8_e5m2fnuz": "F8_E5M2FNUZ", "float8_e8m0fnu": "F8_E8M0", "complex64": "C64", "cfloat": "C64",
    "complex128": "C128", "cdouble": "C128",
}


_REBUILDERS = frozenset(
    {
        "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter",
        "torch._utils._rebuild_parameter_with_state",
        "torch._tensor._rebuild_from_type_v2",
    }
)


#: Classes ``_rebuild_from_type_v2`` may turn a rebuilt tensor into (the tensor's bytes are unchanged).
_TENSOR_TYPES = frozenset({"torch.Tensor", "torch.nn.parameter.Parameter", "torch.nn.parameter.Buffer"})


#: Other callables accepted: containers and inert values (no code of the file's choosing runs).
_VALUE_CALLABLES = frozenset(
    {"collections.OrderedDict", "torch.Size", "builtins.set", "builtins.frozenset", "builtins.slice",
     "torch.device"}
)


#: ``torch.load`` maps this old module name before importing (``load_module_mapping``).
_MODULE_MAPPING = {"torch.tensor": "torch._tensor"}


@dataclass(frozen=True)
class TensorRef:
    """Where one tensor's elements live: a view (offset and strides, in elements) of one storage."""

    #: Flattened, dot-joined path in the checkpoint (``model.layer.weight``; a bare tensor is ``tensor``).
    name: str
    #: safetensors dtype code: F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL U16 U32 U64 F8_* C64 (C128: none).
    dtype: str
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    #: The storage's key in the checkpoint: tensors with the same key share (alias) the same bytes.
    storage_key: str
    #: Offset of element ``[0, ..., 0]`` in the storage, in elements of ``dtype``.
    storage_offset: int

    @property
    def numel(self) -> int:
        """Number of elements (the product of the shape)."""
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        """Bytes per element of the dtype."""
        return DTYPE_SIZES[self.dtype]

    @property
    def nbytes(self) -> int:
        """Bytes of the materialised (contiguous) tensor."""
        return self.numel * self.itemsize


class ConversionRefused(MlvetError):
    """The file does something mlvet will not reproduce: a callable outside the accepted set, or a scan
    finding. ``reason`` says what, naming the callable or rule."""

    exit_code = EXIT_FINDINGS

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CheckpointError(AnalysisError):
    """The file is not a readable PyTorch checkpoint (malformed, truncated, unsupported layout or dtype)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Global:
    """A reference that passed both the policy (safe tier) and the accepted set."""

    __slots__ = ("qualified",)

    def __init__(self, qualified: str) -> None:
        self.qualified = qualified


class _ODict(dict[Any, Any]):
    """``collections.OrderedDict`` (a dict that may also receive BUILD state, e.g. ``_metadata``)."""


class _Meta:
    """A value that is not a tensor and that conversion leaves out (sets, devices, big payloads ...)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


@dataclass
class _Storage:
    """One storage record: its dtype (from the first reference, as torch does) and size in bytes."""

    key: str
    dtype: str
    nbytes: int
    #: Absolute offset of the bytes in ``_source`` (``-1`` until located).
    offset: int = -1
    #: ZIP member to spool when the record is compressed (torch.save never compresses).
    member: Any = None


class _StorageView:
    """What ``persistent_load`` returns: a storage, or (legacy) a byte window of one."""

    __slots__ = ("byte_offset", "nbytes", "storage")

    def __init__(self, storage: _Storage, byte_offset: int, nbytes: int) -> None:
        self.storage = storage
        self.byte_offset = byte_offset
        self.nbytes = nbytes


class _Tensor:
    __slots__ = ("dtype", "offset", "shape", "storage", "stride")

    def __init__(self, storage: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...],
                 dtype: str) -> None:
        self.storage = storage
        self.offset = offset
        self.shape = shape
        self.stride = stride
        self.dtype = dtype


def _key(k: Any) -> Any:
    if type(k) in (str, int, bool, float) or k is None:
        return k
    if type(k) is tuple and all(type(x) in (str, int, bool, float) for x in k):
        return k
    raise CheckpointError(f"a dictionary key is a {_describe(k)}")


def _as_tensor(value: Any, via: str) -> _Tensor:
    if type(value) is not _Tensor:
        raise CheckpointError(f"{via} is given a {_describe(value)} instead of a tensor")
    return value


def _describe(value: Any) -> str:
    t = type(value)
    if t is _Global:
        return f"reference to {value.qualified}"
    if t is _Meta:
        return value.text  # type: ignore[no-any-return]
    if t is _Tensor:
        return "tensor"
    if t is _StorageView:
        return "storage"
    return t.__name__


def _short(value: Any, limit: int = 60) -> str:
    if type(value) is _Meta:
        return f"<{value.text}>"
    if type(value) is _Global:
        return value.qualified
    if type(value) in (_Tensor, _StorageView):
        return f"<{_describe(value)}>"
    text = repr(value) if type(value) in (str, int, float, bool, tuple) or value is None else f"<{_describe(value)}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"
