"""7z archives (the nullifAI evasion ships PyTorch checkpoints 7z-compressed so zip-only scanners see
nothing). Needs the optional ``py7zr`` package; without it a 7z file is an ``error`` result, never clean.
Declared sizes are checked against the limits before anything is extracted, and members are extracted
into a private temporary folder one at a time.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import BinaryIO

from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.rules import ARC301, ARC302

MAGIC = b"7z\xbc\xaf\x27\x1c"


class SevenZipHandler:
    """7z archives (py7zr, the ``archives`` extra): members are extracted within limits and scanned by content."""
    id = "7z"
    priority = 25

    def sniff(self, probe: Probe) -> bool:
        return probe.head.startswith(MAGIC)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        try:
            import py7zr
        except ImportError:
            raise AnalysisError("7z archive: install mlvet[archives] (py7zr) to analyse it; not analysed") from None
        try:
            with py7zr.SevenZipFile(stream, mode="r") as archive:
                infos = [i for i in archive.list() if not i.is_directory]
                total = sum(int(i.uncompressed or 0) for i in infos)
                if len(infos) > ctx.limits.max_members:
                    ctx.report(ARC301, f"{len(infos)} members exceed the limit of {ctx.limits.max_members}")
                    raise AnalysisError("member limit reached")
                if total > ctx.limits.max_total_bytes:
                    ctx.report(ARC301, f"7z archive declares {total} bytes, over {ctx.limits.max_total_bytes}")
                    raise AnalysisError("total decompressed size limit reached")
                biggest = max((int(i.uncompressed or 0) for i in infos), default=0)
                if biggest > ctx.limits.max_member_bytes:
                    ctx.report(ARC301, f"a 7z member declares {biggest} bytes, over {ctx.limits.max_member_bytes}")
                    raise AnalysisError("member size limit reached")
                # Checked on the declared sizes, before anything is written: extraction goes to disk.
                if total > ctx.limits.ratio_floor_bytes and total > ctx.limits.max_ratio * max(size, 1):
                    ctx.report(ARC301, f"7z archive of {size} bytes declares {total} bytes of content, more than "
                               f"{ctx.limits.max_ratio}x its size: a decompression bomb; not extracted")
                    raise AnalysisError("compression ratio limit reached (7z not extracted)")
                for info in infos:
                    name = info.filename
                    if name.startswith("/") or ".." in name.replace("\\", "/").split("/"):
                        ctx.report(ARC302, f"member name {name!r} escapes the extraction folder")
                with tempfile.TemporaryDirectory(prefix="mlvet-7z-") as tmp:
                    archive.reset()
                    archive.extractall(path=tmp)
                    root = Path(tmp).resolve()
                    for info in infos:
                        safe = info.filename.replace("\\", "/").lstrip("/")
                        target = (root / safe).resolve()
                        if root not in target.parents or not target.is_file():
                            continue
                        sub = ctx.child(info.filename)
                        with target.open("rb") as f:
                            sub.scan_stream(f, target.stat().st_size, info.filename)
        except AnalysisError:
            raise
        except Exception as exc:  # py7zr raises many unrelated types on corrupt input
            raise AnalysisError(f"unreadable 7z archive: {type(exc).__name__}: {exc}") from None
        finally:
            import gc

            gc.collect()  # py7zr leaves reference cycles holding its buffers


register(SevenZipHandler())
