"""Safe conversion: a pickle-based PyTorch checkpoint to safetensors, without unpickling it.

Two gates run before a single output byte is written:

1. the normal mlvet scan of the input (:func:`mlvet.scanner.scan_file`): any finding of medium severity
   or more refuses the conversion, naming the rule and its evidence, and so does a file the scan could
   not fully analyse (an error result fails closed);
2. :mod:`mlvet.trust.torchckpt` evaluates the pickle with only the tensor-rebuilding callables of the
   policy's safe tier; anything else refuses with the callable's name.

The safetensors file is written here, not by the ``safetensors`` library (mlvet has no tensor framework at
run time): an 8-byte little-endian header length, a JSON header (``__metadata__`` first, then each tensor's
``dtype``, ``shape`` and ``data_offsets``), padded with spaces to a multiple of 8 bytes as the reference
implementation does, then the tensors' bytes. Tensors are laid out by decreasing element size, then name,
so every tensor starts on a multiple of its element size. Tensors that share a storage in the checkpoint
are written separately (safetensors forbids aliasing), each as ``tensor.contiguous()`` would hold it.
Output goes to a hidden temporary file in the destination folder and is renamed into place only when
complete (:func:`mlvet.outfile.atomic_writer`: removed on any error or interruption, SIGTERM included, and
given the mode a plain ``open()`` would give under the umask).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from mlvet.errors import UsageError
from mlvet.model import Severity
from mlvet.outfile import atomic_writer, check_writable
from mlvet.policy import Policy, default_policy
from mlvet.trust.tensors import missing_input
from mlvet.trust.torchckpt import CheckpointError, ConversionRefused, TensorRef, open_checkpoint

__all__ = ["SAFETENSORS_DTYPES", "ConvertResult", "convert_to_safetensors"]

#: dtype codes the safetensors format defines (of those a PyTorch checkpoint can hold).
SAFETENSORS_DTYPES = frozenset(
    {"F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "U16", "U32", "U64", "F8_E4M3",
     "F8_E5M2", "F8_E4M3FNUZ", "F8_E5M2FNUZ", "F8_E8M0", "C64"}
)
#: Findings at or above this severity refuse the conversion.
REFUSE_AT = Severity.MEDIUM


@dataclass(frozen=True)
class ConvertResult:
    """What a conversion wrote."""

    source: str
    destination: str
    #: "pytorch-zip" or "pytorch-legacy".
    source_format: str
    tensors: int
    #: Bytes of tensor data written (the file adds its header).
    data_bytes: int
    file_bytes: int
    #: Non-tensor entries left out (flattened name -> short text), e.g. ``{"epoch": "3"}``.
    skipped: dict[str, str]


def _check_scan(src: str, policy: Policy) -> None:
    from mlvet.scanner import scan_file

    result = scan_file(src, policy)
    bad = sorted((f for f in result.findings if f.severity >= REFUSE_AT), key=lambda f: -f.severity)
    if bad:
        f = bad[0]
        evidence = f" (evidence: {f.evidence[:200]})" if f.evidence else ""
        others = len(bad) - 1
        more = (f"; {others} more finding{'s' if others != 1 else ''} of medium severity or above"
                if others else "")
        raise ConversionRefused(
            f"the scan reports {f.rule_id} ({f.severity.label}) at {f.location.display()}: {f.message}{evidence}{more}"
        )
    if result.errors:
        raise CheckpointError(f"the scan could not fully analyse the file: {result.errors[0]}")


def _header(refs: list[TensorRef], note: str) -> bytes:
    entries: dict[str, object] = {"__metadata__": {"format": "pt", "converted_by": note}}
    start = 0
    for ref in refs:
        end = start + ref.nbytes
        entries[ref.name] = {"dtype": ref.dtype, "shape": list(ref.shape), "data_offsets": [start, end]}
        start = end
    raw = json.dumps(entries, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    return len(raw).to_bytes(8, "little") + raw


def convert_to_safetensors(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    policy: Policy | None = None,
) -> ConvertResult:
    """Convert the checkpoint ``src`` to the safetensors file ``dst``; never leaves partial output.

    Raises :class:`ConversionRefused` (unsafe content: a scan finding or a callable outside the accepted
    set), :class:`CheckpointError` (unreadable, malformed or unconvertible input) or
    :class:`mlvet.errors.UsageError` (missing input, existing output without ``overwrite``).
    """
    from mlvet import __version__

    src_s, dst_path = os.fspath(src), Path(dst)
    pol = policy or default_policy()
    if not os.path.lexists(src_s):
        raise UsageError(f"no such file: {src_s}")
    if not os.path.isfile(src_s):
        raise CheckpointError(f"{src_s}: {missing_input(src_s)}")
    if dst_path.exists() and not overwrite:
        raise UsageError(f"{dst_path} exists; pass --force to overwrite it")
    if dst_path.exists() and os.path.samefile(src_s, dst_path):
        raise UsageError("the output would overwrite the input")
    check_writable(dst_path, what="safetensors file")
    _check_scan(src_s, pol)
    with open_checkpoint(src_s, policy=pol) as ckpt:
        if not ckpt.tensors:
            raise CheckpointError("the checkpoint holds no tensors; nothing to convert")
        unsupported = [r for r in ckpt.tensors.values() if r.dtype not in SAFETENSORS_DTYPES]
        if unsupported:
            r = unsupported[0]
            raise CheckpointError(f"tensor {r.name!r} has dtype {r.dtype}, which safetensors cannot represent")
        refs = sorted(ckpt.tensors.values(), key=lambda r: (-r.itemsize, r.name))
        total = sum(r.nbytes for r in refs)
        if total > pol.limits.max_total_bytes:
            # Broadcast (zero-stride) views can describe far more elements than the file holds.
            raise CheckpointError(
                f"the tensors would expand to {total} bytes, more than limits.max_total_bytes "
                f"({pol.limits.max_total_bytes})"
            )
        note = f"mlvet {__version__} (from {os.path.basename(src_s)}, read without unpickling)"
        header = _header(refs, note)
        # Atomic (see mlvet.outfile): the old output stays until the new one is complete; Ctrl-C, SIGTERM or
        # an error removes the hidden .partial file; the result gets the mode open() would give it.
        with atomic_writer(dst_path, binary=True, what="safetensors file") as out:
            out.write(header)
            for ref in refs:
                written = 0
                for piece in ckpt.iter_tensor_bytes(ref):
                    out.write(piece)
                    written += len(piece)
                if written != ref.nbytes:
                    raise CheckpointError(f"tensor {ref.name!r}: read {written} bytes, expected {ref.nbytes}")
        data_bytes = sum(r.nbytes for r in refs)
        return ConvertResult(
            source=src_s,
            destination=os.fspath(dst_path),
            source_format=ckpt.format,
            tensors=len(refs),
            data_bytes=data_bytes,
            file_bytes=len(header) + data_bytes,
            skipped=dict(ckpt.skipped),
        )
