"""llamafile: a native executable that carries a GGUF model in a zip appended to itself.

A llamafile (Mozilla-Ocho/llamafile) is an Actually Portable Executable: one file that is at once a DOS/PE
header, a Bourne shell script (``MZqFpD='...``), and an ELF/Mach-O loader, built with Cosmopolitan libc; the
model weights and a ``.args`` file of default command-line arguments live in a zip archive at the end,
read by the program through its ``/zip/`` file system. Older or hand-built ones start with a plain ELF, PE
or ``#!`` header.

What can run: the whole file is a program. Running it executes its machine code, which mlvet does not and
cannot judge; that is the point of the file, not a hidden code path, so it is reported as what it is
(OTH092, low) rather than as an attack. What the program then loads is analysed like any file: the
embedded GGUF goes to the GGUF scanner (header bounds, chat templates), other members by content. Stored
members (llamafile stores the GGUF uncompressed and page-aligned so it can be mapped) are read through a
window on the file, not copied.
"""

from __future__ import annotations

import io
from typing import BinaryIO

from mlvet.containers.zipread import ZipArchive, ZipFormatError, ZipLimitError, find_eocd_any
from mlvet.errors import AnalysisError
from mlvet.formats.archive_paths import NAME_EFFECT_ZIP, name_escape
from mlvet.formats.base import Probe, ScanContext, Window, register, spooled
from mlvet.rules import ARC301, ARC302, OTH092

#: Heads of the executables a llamafile can be: APE's shell/PE polyglot, PE, ELF, Mach-O, a script.
_EXEC_HEADS = (b"MZqFpD", b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"#!")
#: Longest .args file quoted as evidence.
_MAX_ARGS = 2048


def executable_kind(head: bytes) -> str | None:
    """What kind of program ``head`` starts (None: not an executable header mlvet knows)."""
    if head.startswith(b"MZqFpD"):
        return "Actually Portable Executable (PE/shell/ELF polyglot)"
    if head.startswith(b"MZ"):
        return "PE (Windows) executable"
    if head.startswith(b"\x7fELF"):
        return "ELF executable"
    if head.startswith(b"\xcf\xfa\xed\xfe"):
        return "Mach-O executable"
    if head.startswith(b"#!"):
        return "script"
    return None


def _gguf_members(archive: ZipArchive) -> list[str]:
    return [m.name for m in archive.members if m.name.lower().endswith(".gguf")]


class LlamafileHandler:
    """An executable header with a zip end record whose archive holds a ``.gguf`` member."""

    id = "llamafile"
    priority = 18  # before the generic zip handler (20), which would see a prefixed archive

    def sniff(self, probe: Probe) -> bool:
        if not probe.head.startswith(_EXEC_HEADS) or b"PK\x05\x06" not in probe.tail(70_000):
            return False
        if find_eocd_any(probe.stream, probe.size) is None:
            return False
        try:
            archive = ZipArchive(probe.stream, probe.size, max_members=1000)
        except ZipFormatError:
            return False
        return bool(_gguf_members(archive))

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        kind = executable_kind(stream.read(16)) or "executable"
        stream.seek(0)
        try:
            archive = ZipArchive(stream, size, max_members=ctx.limits.max_members)
        except ZipFormatError as exc:
            raise AnalysisError(f"llamafile: unreadable embedded zip: {exc}") from None
        models = _gguf_members(archive)
        args = self._args(archive, ctx)
        evidence = f"{kind}; embedded model(s): {', '.join(models)[:300]}"
        if args is not None:
            evidence += f"; .args: {args!r}"
        ctx.report(OTH092, f"llamafile: a {kind} that runs its own machine code when started; it embeds "
                   f"{len(models)} GGUF model(s), scanned below", evidence=evidence)
        if len(archive.members) > ctx.limits.max_members:
            ctx.report(ARC301, f"{len(archive.members)} members exceed the limit of {ctx.limits.max_members}")
            ctx.error("member limit reached")
        for member in archive.members[: ctx.limits.max_members]:
            escape = name_escape(member.name)
            if escape is not None:
                ctx.report(ARC302, f"member name {member.name!r} is {escape}: {NAME_EFFECT_ZIP}",
                           evidence=member.name[:300])
            if member.is_dir or (member.name == ".args" and args is not None):
                continue  # .args: quoted in the finding's evidence
            sub = ctx.child(member.name)
            if member.method == 0 and member.sizes_known and member.data_offset >= 0:
                if member.data_offset + member.uncompressed_size > size:
                    sub.error(f"member {member.name!r} runs past the end of the file")
                    continue
                window = io.BufferedReader(Window(stream, member.data_offset, member.uncompressed_size))
                sub.scan_stream(window, member.uncompressed_size, member.name)
                continue
            try:
                src = archive.open(member, ctx.limits.max_member_bytes, max_ratio=ctx.limits.max_ratio,
                                   ratio_floor_bytes=ctx.limits.ratio_floor_bytes)
                with spooled(src, ctx.limits.max_member_bytes, member.name) as (spool, length):
                    sub.scan_stream(spool, length, member.name)
            except ZipLimitError as exc:
                sub.report(ARC301, str(exc))
                sub.error(str(exc))
            except ZipFormatError as exc:
                sub.error(f"unreadable member: {exc}")

    @staticmethod
    def _args(archive: ZipArchive, ctx: ScanContext) -> str | None:
        member = next((m for m in archive.members if m.name == ".args"), None)
        if member is None:
            return None
        try:
            return archive.read(member, _MAX_ARGS).decode("utf-8", "replace")
        except (ZipLimitError, ZipFormatError) as exc:
            ctx.error(f"llamafile .args unreadable: {exc}")
            return None


register(LlamafileHandler())
