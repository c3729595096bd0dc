"""TensorRT serialized engines (``.engine``, ``.plan``, ``.trt``): recognised, framed, searched for code.

A plan starts with the tag ``ftrt``; Ultralytics' ``.engine`` export puts a length-prefixed JSON metadata
block in front of it. Everything after the tag is NVIDIA's undocumented serialization of compiled
kernels for one GPU and one TensorRT version: mlvet cannot list its layers, so the result always carries
a low :data:`~mlvet.formats.native_refs.OTH081` saying so — an engine is never reported clean. Decision
on the code paths an engine really has:

* **embedded native code**: TensorRT 10 can serialize plugin shared libraries into the engine
  (``setPluginsToSerialize``) and version-compatible engines embed the lean runtime; the runtime writes
  them out and loads them when the application allows host code. Those are ELF/PE/Mach-O images, found
  by a linear search of the whole body (bounded memory): high.
* **plugin library names**: a library file name or path in the body is reported low: the runtime does
  not load a library by such a name (the application loads plugin libraries), but it says which native
  code the engine depends on.

The metadata JSON of an Ultralytics engine is checked to be JSON. Truncated or inconsistent framing is
an error.
"""

from __future__ import annotations

import json
import struct
from typing import BinaryIO

from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.native_refs import OTH079, OTH080, OTH081, scan_body

MAGIC = b"ftrt"
_MAX_META = 16 * 1024 * 1024


def plan_offset(head: bytes, size: int) -> int | None:
    """Where the ``ftrt`` plan starts: 0, or after an Ultralytics ``[u32 length][JSON]`` prefix."""
    if head[:4] == MAGIC:
        return 0
    if len(head) < 8:
        return None
    (n,) = struct.unpack_from("<I", head)
    tag_visible = 8 + n <= len(head)
    if 2 <= n < min(size - 4, _MAX_META) and head[4:5] == b"{" and (not tag_visible or head[4 + n : 8 + n] == MAGIC):
        return int(4 + n)
    return None


class TensorRtHandler:
    """TensorRT plans: framing checked, body searched for executables and library names; always OTH081."""

    id = "tensorrt-engine"
    priority = 17

    def sniff(self, probe: Probe) -> bool:
        start = plan_offset(probe.head, probe.size)
        if start is None or start + 16 > probe.size:
            return False
        if start + 4 <= len(probe.head):
            return probe.head[start : start + 4] == MAGIC
        probe.stream.seek(start)
        return probe.stream.read(4) == MAGIC

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        head = stream.read(8)
        start = 0
        meta = ""
        if head[:4] != MAGIC:
            (n,) = struct.unpack_from("<I", head)
            stream.seek(4)
            raw = stream.read(n)
            try:
                doc = json.loads(raw)
            except (ValueError, RecursionError) as exc:
                raise AnalysisError(f"TensorRT engine: the metadata block is not JSON ({exc})") from exc
            meta = f"; Ultralytics metadata ({', '.join(sorted(doc)[:8])})" if isinstance(doc, dict) else ""
            start = 4 + n
            stream.seek(start)
            if stream.read(4) != MAGIC:
                raise AnalysisError("TensorRT engine: no ftrt plan after the metadata block")
        stream.seek(start + 4)
        rest = stream.read(12)
        if len(rest) < 12:
            raise AnalysisError("TensorRT engine: truncated header")
        version = rest[4]
        images, libs = scan_body(stream, start, size)
        ctx.report(OTH081, f"TensorRT engine (serialization version {version}, {size - start} bytes){meta}: the "
                   "layer and kernel data are NVIDIA's undocumented format; only the framing and a search for "
                   "embedded code were possible", evidence=f"ftrt at byte {start}")
        for at, kind in images[:10]:
            ctx.report(OTH080, f"an embedded {kind} image at byte {at}: native code TensorRT loads with host "
                       "code allowed (serialized plugin library or lean runtime)", offset=at, evidence=kind)
        for lib in libs[:20]:
            ctx.report(OTH079, f"the engine names the library {lib!r}", evidence=lib[:300])


register(TensorRtHandler())
