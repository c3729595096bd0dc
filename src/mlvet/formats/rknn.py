"""Rockchip RKNN models (``.rknn``): framing and the model-info JSON checked, the NPU program searched.

An RKNN file is ``RKNN`` (or ``CYPTRKNN`` for encrypted models), a format version and the length of the
compiled model data, that data (Rockchip's undocumented NPU program and weights), then a length-prefixed
JSON document describing the model (target platform, inputs, outputs). Loading runs the compiled program
on the NPU through Rockchip's runtime; the file carries no interpreter code. Custom CPU operators
(``rknn_register_custom_ops``) are registered by the application, not loaded from the file.

So the result always carries the low :data:`~mlvet.formats.native_refs.OTH081` (the body cannot be
listed), the body is searched for embedded executable images and library names like a TensorRT plan,
and broken framing (a declared length past the end of the file, a trailer that is not JSON) is an error.
"""

from __future__ import annotations

import json
import struct
from typing import BinaryIO

from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.native_refs import OTH079, OTH080, OTH081, scan_body

_MAX_JSON = 64 * 1024 * 1024


class RknnHandler:
    """RKNN models: header, data length and JSON trailer checked; body searched; always OTH081."""

    id = "rknn"
    priority = 17

    def sniff(self, probe: Probe) -> bool:
        return probe.head[:4] == b"RKNN" or probe.head[:8] == b"CYPTRKNN"

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        head = stream.read(64)
        if head.startswith(b"CYPTRKNN"):
            ctx.report(OTH081, "encrypted RKNN model (CYPTRKNN): its content cannot be analysed", evidence="CYPTRKNN")
            return
        if len(head) < 24:
            raise AnalysisError("RKNN model: truncated header")
        version, length = struct.unpack_from("<QQ", head, 8)
        data_start = None
        for header in (24, 64):  # version 1 files pad the header to 64 bytes
            end = header + length
            if end + 8 <= size:
                stream.seek(end)
                (n,) = struct.unpack("<Q", stream.read(8))
                if end + 8 + n == size:
                    data_start = header
                    break
        if data_start is None:
            raise AnalysisError(f"RKNN model: declared model data of {length} bytes and its JSON trailer do not "
                                f"match the file size ({size} bytes; truncated?)")
        json_at = data_start + length + 8
        if size - json_at > _MAX_JSON:
            raise LimitExceeded("max_json_bytes", _MAX_JSON, f"RKNN model info JSON larger than {_MAX_JSON} bytes")
        stream.seek(json_at)
        try:
            info = json.loads(stream.read(size - json_at).rstrip(b"\x00"))
        except (ValueError, RecursionError) as exc:
            raise AnalysisError(f"RKNN model: the model info trailer is not JSON ({exc})") from exc
        platform = info.get("target_platform", "?") if isinstance(info, dict) else "?"
        images, libs = scan_body(stream, data_start, data_start + length)
        ctx.report(OTH081, f"RKNN model (format version {version}, target {platform!s:.60}): the compiled NPU "
                   "program is Rockchip's undocumented format; only the framing and a search for embedded code "
                   "were possible", evidence=f"RKNN v{version}, {length} bytes of model data")
        for at, kind in images[:10]:
            ctx.report(OTH080, f"an embedded {kind} image at byte {at} inside the RKNN model data", offset=at,
                       evidence=kind)
        for lib in libs[:20]:
            ctx.report(OTH079, f"the RKNN model names the library {lib!r}", evidence=lib[:300])


register(RknnHandler())
