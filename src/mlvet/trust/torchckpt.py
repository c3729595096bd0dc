"""The tensors of a pickle-based PyTorch checkpoint, read without unpickling it.

Why: converting a checkpoint or diffing two versions needs its tensor *structure* (names, dtypes, shapes,
strides, which storage each tensor views) and its bytes, and the only way the format offers to get them
is to run its pickle. Here the pickle is evaluated by a small, exact interpreter that knows a closed set
of callables: the tensor-rebuilding functions ``torch.save`` writes (``torch._utils._rebuild_tensor_v2``
and friends), ``collections.OrderedDict``, ``torch.Size`` and a few inert builtins. Each of them is also
required to sit in the policy's *safe* tier, so a user policy that distrusts one disables it here too.
A reference to anything else stops evaluation with :class:`ConversionRefused` naming the callable; no
Python object is ever created from the file and no module is ever imported.

Why not the scanner's symbolic machine (:mod:`mlvet.analysis.pickle_vm`) as is: it is built to *summarise*
(persistent ids are kept as rendered text, integers beyond 32 bits become "a number", containers keep a
bounded number of items), which is right for finding code and wrong for rebuilding exact shapes, strides
and storage keys. The interpreter here reuses the machine's stream layer (bounded buffered reads, skipping
of large payloads, the same truncation faults) and computes exact values for the data opcodes only.

Supported layouts (as ``torch.load`` in torch 2.x reads them):

* **zip** (``torch.save`` since 1.6): ``<dir>/data.pkl`` plus one record ``<dir>/data/<key>`` per storage,
  found through :class:`mlvet.containers.zipread.ZipArchive` with torch's (miniz's) lookup rules, so the
  bytes read are the bytes torch would read; a ``<dir>/byteorder`` record of ``big`` means the storages
  are byte-swapped per storage dtype on load, and so they are here.
* **legacy** (``_use_new_zipfile_serialization=False``): five pickles (magic number, protocol version,
  system info, the object, the sorted storage keys) followed by each storage as an 8-byte little-endian
  element count and its raw little-endian bytes.
* the pre-0.4 **tar** layout is refused: ``torch.load(weights_only=True)`` refuses it too.

:meth:`Checkpoint.iter_tensor_bytes` yields what ``tensor.contiguous()`` would hold, in bounded memory:
contiguous tensors are streamed straight from the file; views (storage offsets, strides, transposes,
broadcast zero strides) are gathered from windows of at most :data:`GATHER_BUDGET` bytes. Nothing is
memory-mapped (mapped pages would count against the process's resident memory).

Modules: the closed set of callables and the values they build are in :mod:`mlvet.trust.ckpt_values`, the
interpreter in :mod:`mlvet.trust.ckpt_interp`, the strided copy in :mod:`mlvet.trust.strided`; this module
finds the pickle and the storages in the file and streams tensor bytes.
"""

from __future__ import annotations

import math
import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from mlvet.analysis.pickle_stream import PickleFault
from mlvet.analysis.pickle_vm import Machine
from mlvet.limits import Limits
from mlvet.policy import Policy, default_policy
from mlvet.trust.ckpt_interp import _Interpreter
from mlvet.trust.ckpt_values import (
    _MAX_DEPTH,
    _MAX_LEAVES,
    _MAX_PICKLE_BYTES,
    _STORAGE_DTYPES,
    DTYPE_SIZES,
    CheckpointError,
    ConversionRefused,
    TensorRef,
    _describe,
    _Global,
    _MiB,
    _ODict,
    _short,
    _Storage,
    _StorageView,
    _Tensor,
)
from mlvet.trust.strided import _FMT, _byteswap, _c_strides, _coalesce, _gather_into, _swap_unit

__all__ = [
    "DTYPE_SIZES",
    "GATHER_BUDGET",
    "Checkpoint",
    "CheckpointError",
    "ConversionRefused",
    "TensorRef",
    "open_checkpoint",
]

#: Largest window of storage bytes read at once to gather a non-contiguous view.
GATHER_BUDGET = 64 * _MiB
#: ``torch.serialization.MAGIC_NUMBER`` and ``PROTOCOL_VERSION`` of the legacy format.
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C
_LEGACY_PROTOCOL = 1001


# ---- layouts --------------------------------------------------------------------------------------------------


class Checkpoint:
    """An open PyTorch checkpoint: its tensors (flattened names) and streamed access to their bytes.

    Use as a context manager (or call :meth:`close`); the file is opened once and read on demand.
    """

    def __init__(self, path: str | os.PathLike[str], *, policy: Policy | None = None) -> None:
        self.path = os.fspath(path)
        self.policy = policy or default_policy()
        self.tensors: dict[str, TensorRef] = {}
        self.skipped: dict[str, str] = {}
        #: "pytorch-zip" or "pytorch-legacy".
        self.format = ""
        #: "little" or "big": byte order of the storages as stored.
        self.byteorder = "little"
        self._storages: dict[str, _Storage] = {}
        self._spools: dict[str, BinaryIO] = {}
        self._archive: Any = None
        try:
            self._f: BinaryIO = open(self.path, "rb")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            raise CheckpointError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        try:
            self._size = os.fstat(self._f.fileno()).st_size
            self._open()
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> Checkpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the checkpoint file."""
        for spool in self._spools.values():
            spool.close()
        self._spools.clear()
        self._f.close()

    # -- opening --------------------------------------------------------------------------------------

    def _open(self) -> None:
        head = self._f.read(512)
        self._f.seek(0)
        if head[:4] == b"PK\x03\x04":  # torch.load's own test (_is_zipfile)
            self.format = "pytorch-zip"
            root = self._open_zip()
        elif len(head) >= 262 and head[257:262] == b"ustar":
            raise CheckpointError(
                "legacy tar-format PyTorch checkpoint (PyTorch < 0.4): not supported (torch.load with "
                "weights_only=True refuses it too); re-save it with a current PyTorch in a sandbox"
            )
        else:
            self.format = "pytorch-legacy"
            root = self._open_legacy()
        self._flatten(root)

    def _run(self, machine: Machine, persistent_load: Callable[[Any], Any], what: str) -> Any:
        interp = _Interpreter(machine, self.policy, persistent_load)
        try:
            return interp.load()
        except PickleFault as fault:
            raise CheckpointError(f"{what} is malformed at offset {fault.offset}: {fault}") from None
        except (OverflowError, ValueError, OSError, struct.error, MemoryError, TypeError) as exc:
            raise CheckpointError(f"{what} is malformed: {type(exc).__name__}: {exc}") from None

    def _storage_from_pid(self, pid: Any, legacy: bool) -> _StorageView:
        """``persistent_load``: ('storage', storage_type, key, location, numel[, view_metadata])."""
        want = 6 if legacy else 5
        if type(pid) is not tuple or len(pid) != want or pid[0] != "storage":
            raise CheckpointError(f"unexpected persistent id {_short(pid)} (torch.load accepts only storages)")
        stype, key, location, numel = pid[1], pid[2], pid[3], pid[4]
        if type(stype) is not _Global or stype.qualified.rsplit(".", 1)[1] not in _STORAGE_DTYPES:
            raise CheckpointError(f"persistent id names {_describe(stype)} as its storage type")
        if type(key) is not str or type(location) is not str or type(numel) is not int or numel < 0:
            raise CheckpointError(f"malformed storage reference {_short(pid)}")
        dtype = _STORAGE_DTYPES[stype.qualified.rsplit(".", 1)[1]]
        st = self._storages.get(key)
        if st is None:
            # The first reference fixes the storage's dtype and size, as in torch.load.
            st = _Storage(key, dtype, numel * DTYPE_SIZES[dtype])
            self._storages[key] = st
        if legacy and pid[5] is not None:
            view = pid[5]
            if (type(view) is not tuple or len(view) != 3 or not all(type(v) is int for v in view[1:])
                    or view[1] < 0 or view[2] < 0):
                raise CheckpointError(f"malformed storage view {_short(view)}")
            size = DTYPE_SIZES[st.dtype]
            start, length = view[1] * size, view[2] * size
            if start + length > st.nbytes:
                raise CheckpointError(f"storage view {_short(view)} runs past storage {key!r}")
            return _StorageView(st, start, length)
        return _StorageView(st, 0, st.nbytes)

    def _open_zip(self) -> Any:
        from mlvet.containers.zipread import ZipArchive, ZipFormatError, ZipLimitError

        try:
            archive = ZipArchive(self._f, self._size, strict=True)
        except ZipFormatError as exc:
            raise CheckpointError(f"unreadable PyTorch zip checkpoint: {exc}") from None
        self._archive = archive
        if archive.torch_prefix is None:
            raise CheckpointError("not a PyTorch checkpoint: the zip has no '<folder>/' prefix on its first record")
        bad = [a for a in archive.anomalies if a.code in ("outside_prefix", "torch_unreadable")]
        if bad:
            raise CheckpointError(f"torch.load would refuse this archive: {bad[0].message}")
        if archive.torch_record("constants.pkl") is not None or any("/code/" in m.name for m in archive.members):
            raise ConversionRefused("this is a TorchScript archive (it carries code), not a torch.save checkpoint")
        pkl = archive.torch_record("data.pkl")
        if pkl is None:
            raise CheckpointError("not a torch.save checkpoint: the archive has no data.pkl record")
        order = archive.torch_record("byteorder")
        try:
            if order is not None:
                value = archive.read(order, 16)
                if value not in (b"little", b"big"):
                    raise CheckpointError(f"unknown byteorder record {value[:16]!r}")
                self.byteorder = value.decode()
            spool = tempfile.SpooledTemporaryFile(max_size=64 * _MiB)  # noqa: SIM115 - closed below
            with archive.open(pkl, _MAX_PICKLE_BYTES) as src:
                shutil.copyfileobj(src, spool, _MiB)
        except (ZipFormatError, ZipLimitError) as exc:
            raise CheckpointError(f"unreadable record: {exc}") from None
        with spool:
            spool.seek(0)
            machine = Machine(spool, Limits())  # type: ignore[arg-type]
            root = self._run(machine, lambda pid: self._storage_from_pid(pid, False), "data.pkl")
        for key, st in self._storages.items():
            member = archive.torch_record(f"data/{key}")
            if member is None:
                raise CheckpointError(f"storage record data/{key} is missing from the archive")
            if member.uncompressed_size != st.nbytes:
                raise CheckpointError(
                    f"storage record data/{key} holds {member.uncompressed_size} bytes, but the pickle declares "
                    f"{st.nbytes}"
                )
            if member.method == 0:
                if member.data_offset < 0 or member.data_offset + st.nbytes > self._size:
                    raise CheckpointError(f"storage record data/{key} runs past the end of the file")
                st.offset = member.data_offset
            else:
                st.member = member
        return root

    def _open_legacy(self) -> Any:
        machine = Machine(self._f, Limits())

        def no_pid(_pid: Any) -> Any:
            raise CheckpointError("a persistent id in a legacy header pickle")

        magic = self._run(machine, no_pid, "the first pickle")
        if magic != _LEGACY_MAGIC:
            raise CheckpointError("not a PyTorch checkpoint (neither a torch.save zip nor the legacy format)")
        if self._run(machine, no_pid, "the protocol-version pickle") != _LEGACY_PROTOCOL:
            raise CheckpointError("unsupported legacy checkpoint protocol version")
        self._run(machine, no_pid, "the system-info pickle")
        root = self._run(machine, lambda pid: self._storage_from_pid(pid, True), "the main pickle")
        keys = self._run(machine, no_pid, "the storage-key pickle")
        if type(keys) is not list or not all(type(k) is str for k in keys):
            raise CheckpointError("the storage-key list of the legacy checkpoint is malformed")
        if set(keys) != set(self._storages) or len(keys) != len(set(keys)):
            raise CheckpointError("the legacy storage-key list does not match the storages the pickle references")
        pos = machine.offset
        for key in keys:
            st = self._storages[key]
            self._f.seek(pos)
            raw = self._f.read(8)
            if len(raw) != 8:
                raise CheckpointError(f"legacy storage {key!r} is truncated")
            count = struct.unpack("<q", raw)[0]
            if count * DTYPE_SIZES[st.dtype] != st.nbytes:
                raise CheckpointError(f"legacy storage {key!r} has the wrong size ({count} elements)")
            st.offset = pos + 8
            pos = st.offset + st.nbytes
            if pos > self._size:
                raise CheckpointError(f"legacy storage {key!r} runs past the end of the file")
        return root

    # -- flattening -----------------------------------------------------------------------------------

    def _flatten(self, root: Any) -> None:
        """Nested dicts/lists/tuples of tensors -> dotted names; other leaves -> ``skipped``."""
        todo: list[tuple[str, Any, int]] = [("", root, 0)]
        leaves = 0
        while todo:
            name, value, depth = todo.pop()
            leaves += 1
            if leaves > _MAX_LEAVES or depth > _MAX_DEPTH:
                raise CheckpointError("the checkpoint's structure is too large or nests too deeply (cyclic?)")
            t = type(value)
            if t in (dict, _ODict, list, tuple) and value:
                items = list(value.items()) if t in (dict, _ODict) else list(enumerate(value))
                for k, v in reversed(items):
                    todo.append((f"{name}.{k}" if name else str(k), v, depth + 1))
                continue
            if t is _Tensor:
                ref_name = name or "tensor"
                if ref_name in self.tensors:
                    raise CheckpointError(f"two tensors flatten to the same name {ref_name!r}")
                self.tensors[ref_name] = TensorRef(
                    ref_name, value.dtype, value.shape, value.stride, value.storage.key, value.offset
                )
                continue
            self.skipped[name or "<root>"] = _short(value) if t is not _StorageView else "<bare storage>"
        clash = set(self.tensors) & set(self.skipped)
        if clash:
            raise CheckpointError(f"a tensor and a non-tensor entry flatten to the same name {sorted(clash)[0]!r}")

    # -- bytes ----------------------------------------------------------------------------------------

    def _source(self, st: _Storage) -> tuple[BinaryIO, int]:
        if st.member is None:
            return self._f, st.offset
        spool = self._spools.get(st.key)
        if spool is None:
            from mlvet.containers.zipread import ZipFormatError, ZipLimitError

            spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
            try:
                with self._archive.open(st.member, st.nbytes) as src:
                    shutil.copyfileobj(src, spool, _MiB)
            except (ZipFormatError, ZipLimitError) as exc:
                spool.close()
                raise CheckpointError(f"storage record data/{st.key}: {exc}") from None
            self._spools[st.key] = spool
        return spool, 0

    def _read(self, st: _Storage, byte_offset: int, n: int) -> bytes:
        f, base = self._source(st)
        f.seek(base + byte_offset)
        data = f.read(n)
        if len(data) != n:
            raise CheckpointError(f"storage {st.key!r} is truncated")
        return data

    def iter_tensor_bytes(self, ref: TensorRef, chunk: int = 1 << 20) -> Iterator[bytes]:
        """The tensor's elements in C order, little-endian, as ``tensor.contiguous()`` would hold them.

        Pieces are at most about ``chunk`` bytes (whole elements) and memory stays bounded by
        :data:`GATHER_BUDGET` whatever the tensor's size or layout.
        """
        st = self._storages.get(ref.storage_key)
        if st is None or ref.dtype not in DTYPE_SIZES:
            raise CheckpointError(f"tensor {ref.name!r} does not belong to this checkpoint")
        if ref.numel == 0:
            return
        isz = ref.itemsize
        offset, shape, stride = ref.storage_offset, ref.shape, ref.stride
        if isz not in (1, 2, 4, 8):  # 16-byte elements: gather as pairs of 8-byte units
            k = isz // 8
            offset, shape, stride, isz = offset * k, (*shape, k), (*(s * k for s in stride), 1), 8
        shape, stride = _coalesce(shape, stride)
        chunk = max(isz, chunk - chunk % isz)
        # torch swaps by the *storage* dtype (an untyped storage of a v3 tensor is never swapped).
        unit = _swap_unit(st.dtype) if self.byteorder != "little" else 0
        for piece in self._gather(st, offset, shape, stride, isz, chunk):
            yield _byteswap(piece, unit) if unit > 1 else piece

    def _gather(self, st: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...], isz: int,
                chunk: int) -> Iterator[bytes]:
        numel = math.prod(shape)
        if not shape or (len(shape) == 1 and stride[0] == 1):
            total = numel * isz
            done = 0
            while done < total:
                n = min(chunk, total - done)
                yield self._read(st, offset * isz + done, n)
                done += n
            return
        span = sum((d - 1) * s for d, s in zip(shape, stride, strict=True)) + 1
        if span * isz <= GATHER_BUDGET and numel * isz <= GATHER_BUDGET:
            src = self._read(st, offset * isz, span * isz)
            out = bytearray(numel * isz)
            _gather_into(memoryview(out).cast(_FMT[isz]), 0, _c_strides(shape), memoryview(src).cast(_FMT[isz]), 0,
                         shape, stride)
            for i in range(0, len(out), chunk):
                yield bytes(out[i : i + chunk])
            return
        if len(shape) == 1:
            # A long 1-D view: windows of at most ``chunk`` output bytes and GATHER_BUDGET source bytes.
            n, s = shape[0], stride[0]
            per = max(1, chunk // isz)
            if s:
                per = min(per, max(1, (GATHER_BUDGET // isz - 1) // s + 1))
            for i0 in range(0, n, per):
                k = min(per, n - i0)
                src = self._read(st, (offset + i0 * s) * isz, ((k - 1) * s + 1) * isz)
                yield src * k if s == 0 else memoryview(src).cast(_FMT[isz])[::s].tobytes()
            return
        yield from self._gather_rows(st, offset, shape, stride, isz, chunk)

    def _gather_rows(self, st: _Storage, offset: int, shape: tuple[int, ...], stride: tuple[int, ...], isz: int,
                     chunk: int) -> Iterator[bytes]:
        """A view wider than the budget: groups of outer rows, each filled from windows along dim 1."""
        half = GATHER_BUDGET // 2
        row_elems = math.prod(shape[1:])
        g = min(shape[0], half // (row_elems * isz)) if row_elems * isz <= half else 0
        if g == 0:
            for i in range(shape[0]):
                yield from self._gather(st, offset + i * stride[0], shape[1:], stride[1:], isz, chunk)
            return
        out_strides = _c_strides(shape)
        rest_extent = sum((d - 1) * s for d, s in zip(shape[2:], stride[2:], strict=True))
        for i0 in range(0, shape[0], g):
            gg = min(g, shape[0] - i0)
            base = offset + i0 * stride[0]
            fixed = (gg - 1) * stride[0] + rest_extent + 1
            room = half // isz - fixed
            h = shape[1] if stride[1] == 0 else (room // stride[1] + 1 if room >= 0 else 0)
            if h < 1:
                for i in range(i0, i0 + gg):
                    yield from self._gather(st, offset + i * stride[0], shape[1:], stride[1:], isz, chunk)
                continue
            out = bytearray(gg * row_elems * isz)
            omv = memoryview(out).cast(_FMT[isz])
            for j0 in range(0, shape[1], h):
                hh = min(h, shape[1] - j0)
                start = base + j0 * stride[1]
                span = fixed + (hh - 1) * stride[1]
                src = self._read(st, start * isz, span * isz)
                _gather_into(omv, j0 * out_strides[1], out_strides, memoryview(src).cast(_FMT[isz]), 0,
                             (gg, hh, *shape[2:]), stride)
            for i in range(0, len(out), chunk):
                yield bytes(out[i : i + chunk])


def open_checkpoint(path: str | os.PathLike[str], *, policy: Policy | None = None) -> Checkpoint:
    """Open a PyTorch checkpoint (zip or legacy) and read its tensor structure without unpickling it.

    Raises :class:`ConversionRefused` when the pickle references anything but tensor rebuilding and plain
    containers, and :class:`CheckpointError` when the file is not a readable checkpoint.
    """
    return Checkpoint(path, policy=policy)
