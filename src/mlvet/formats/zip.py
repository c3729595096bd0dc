"""ZIP containers: PyTorch checkpoints, TorchScript archives, NumPy .npz, and any other zip.

Read with ``mlvet.containers.zipread``, which follows torch.load's reader (miniz) rather than Python's
``zipfile``: CRC errors, flag bits and local/central header mismatches make zipfile-based scanners skip
members that torch still loads. Every member is identified by content and scanned; anomalies are
findings. TorchScript source in the archive is reported for review with an excerpt.
"""

from __future__ import annotations

import io
import re
from typing import BinaryIO, Protocol

from mlvet.containers.zipread import (
    ZipArchive,
    ZipFormatError,
    ZipLimitError,
    ZipMember,
    find_eocd_any,
    split_concatenated,
)
from mlvet.errors import AnalysisError
from mlvet.formats.archive_paths import (
    LINK_EFFECT_ZIP,
    NAME_EFFECT_ZIP,
    bomb_seen,
    is_zip_symlink,
    link_escape,
    name_escape,
)
from mlvet.formats.base import Probe, ScanContext, Window, register, spooled
from mlvet.model import Severity
from mlvet.rules import ARC300, ARC301, ARC302, ARC303, ARC310, ARC311

#: Anomalies that a genuine torch.save / numpy.savez archive shows and that say nothing alone.
_BENIGN_ANOMALIES = frozenset({"crc_not_recorded"})
#: Reported as ARC303 (a bomb), not as a generic anomaly.
_BOMB_ANOMALIES = frozenset({"overlapping_members"})
#: Overlapping entries analysed before the rest are left out (each one inflates the shared data again).
_MAX_OVERLAPPING_SCANS = 4
#: Anomalies of one kind listed one by one; the rest are counted in one finding.
_MAX_FINDINGS_PER_ANOMALY = 8
#: Longest symlink target read from a zip symlink entry (the entry's data is the target path).
_MAX_LINK_TARGET = 4096
#: Archive layouts whose non-pickle members are tensor data or metadata (unrecognised bytes are expected).
_MODEL_LAYOUTS = frozenset({"pytorch-zip", "torchscript", "pytorch-pt2", "numpy-npz"})
#: Raw tensor storages: torch reads them as bytes, never unpickles them.
_STORAGE_RE = re.compile(r"(^|/)data/\d+$")
_TS_DANGEROUS = re.compile(
    r"\b(ops\.aten\.(?:_?from_file|save)|torch\.ops\.(?!aten\b|prim\b|quantized\b)\w+|__import__|exec\(|eval\("
    r"|subprocess|os\.system|open\()"
)


class ZipLayout(Protocol):
    """A known archive layout (Keras .keras, skops, torch.export .pt2 ...) recognised by its member names.

    Format modules register one with :func:`register_zip_layout`; the zip handler asks each in order and
    the first that matches analyses the archive's metadata. Members it returns as handled are not scanned
    again; every other member still goes through content sniffing, so nothing escapes analysis.
    """

    id: str
    #: True when the layout's unrecognised members are tensor data (no error for unknown bytes).
    opaque_members: bool

    def matches(self, names: list[str], archive: ZipArchive) -> bool:
        """True if the archive's member ``names`` have this layout."""
        ...

    def analyse(self, archive: ZipArchive, ctx: ScanContext) -> set[str]:
        """Analyse the members the layout knows; return the names it handled (the rest are scanned by content)."""
        ...


_LAYOUTS: list[ZipLayout] = []


def _load_layouts() -> None:
    """Import the modules that register zip layouts (only needed for zips that are not torch/npz)."""
    # code_archives: torch.package, TorchServe .mar, MLflow models in an archive.
    from mlvet.formats import code_archives, keras, skops, tensorflow  # noqa: F401


def register_zip_layout(layout: ZipLayout) -> ZipLayout:
    """Add a zip layout (modules call this at import); layouts are tried in registration order."""
    _LAYOUTS.append(layout)
    return layout


class ZipHandler:
    """ZIP archives read the way ``torch.load`` reads them: torch checkpoints, npz, layouts, then any member."""

    id = "zip"
    priority = 20

    def sniff(self, probe: Probe) -> bool:
        if probe.head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            return True
        # A tar whose last member is a zip (a NeMo .nemo holding a checkpoint) ends with that zip's end record:
        # the tar handler claims it and scans the zip as its member (and any bytes after the tar's end).
        if len(probe.head) >= 512 and probe.head[257:262] == b"ustar":
            return False
        # A zip with bytes before it (self-extracting, polyglot): found by its end record.
        return b"PK\x05\x06" in probe.tail(70_000) and find_eocd_any(probe.stream, probe.size) is not None

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        spans = split_concatenated(stream, size, ctx.limits.max_members)
        stream.seek(0)
        if spans is not None:
            _scan_concatenated(stream, spans, ctx)
            return
        try:
            archive = ZipArchive(stream, size, max_members=ctx.limits.max_members)
        except ZipFormatError as exc:
            raise AnalysisError(f"unreadable zip archive: {exc}") from None
        head = stream.read(4)
        stream.seek(0)
        if head != b"PK\x03\x04":
            # torch.load unpickles from byte 0 when the file does not start with a local header, and
            # np.load does the same: a pickle in front of a zip is what actually runs.
            from mlvet.formats.pickle import analyse_pickle_stream, looks_like_pickle

            if looks_like_pickle(stream.read(4096)):
                ctx.saw_format("pickle")
                analyse_pickle_stream(stream, ctx.child("<bytes before the zip>"), trailing_ok=True)
            stream.seek(0)
        names = [m.name for m in archive.members]
        kind = _classify(archive, names)
        handled: set[str] = set()
        opaque = kind in _MODEL_LAYOUTS
        if kind == "zip":
            _load_layouts()
            for layout in _LAYOUTS:
                if layout.matches(names, archive):
                    kind = layout.id
                    opaque = layout.opaque_members
                    ctx.saw_format(kind)
                    handled = layout.analyse(archive, ctx)
                    break
        ctx.saw_format(kind)
        if len(archive.members) > ctx.limits.max_members:
            ctx.report(ARC301, f"{len(archive.members)} members exceed the limit of {ctx.limits.max_members}")
            ctx.error("member limit reached")
        members = list(archive.members[: ctx.limits.max_members]) + list(archive.orphans)
        overlapping = _report_overlaps(archive, ctx)
        overlaps_scanned = 0
        for done, member in enumerate(members):
            if bomb_seen(ctx):
                ctx.error(f"analysis stopped after a decompression bomb; {len(members) - done} member(s) of this "
                          "archive not analysed")
                break
            escape = name_escape(member.name)
            if escape is not None:
                ctx.report(ARC302, f"member name {member.name!r} is {escape}: {NAME_EFFECT_ZIP}",
                           evidence=member.name[:300])
            if member.is_dir:
                continue
            if is_zip_symlink(member.external_attr):
                _report_symlink(archive, member, ctx)
                continue
            if _declared_bomb(member, ctx):
                continue
            if kind in _MODEL_LAYOUTS and _STORAGE_RE.search(member.name):
                continue
            if member.name in handled:
                continue
            if member.name in overlapping:
                overlaps_scanned += 1
                if overlaps_scanned > _MAX_OVERLAPPING_SCANS:
                    continue
            self._scan_member(archive, member, ctx, kind, opaque)
        if overlaps_scanned > _MAX_OVERLAPPING_SCANS:
            ctx.error(f"{overlaps_scanned - _MAX_OVERLAPPING_SCANS} overlapping member(s) not analysed "
                      "(decompression bomb)")
        _report_anomalies(archive, ctx)

    def _scan_member(
        self, archive: ZipArchive, member: ZipMember, ctx: ScanContext, kind: str, opaque: bool
    ) -> None:
        label = member.name if member.origin == "central" else f"{member.name} (orphan @{member.header_offset})"
        sub = ctx.child(label, opaque_ok=opaque)
        if kind in ("pytorch-zip", "torchscript") and "/code/" in f"/{member.name}" and member.name.endswith(".py"):
            _report_torchscript(archive, member, sub)
            return
        try:
            src = archive.open(
                member,
                ctx.limits.max_member_bytes,
                max_ratio=ctx.limits.max_ratio,
                ratio_floor_bytes=ctx.limits.ratio_floor_bytes,
            )
            with spooled(src, ctx.limits.max_member_bytes, member.name) as (spool, length):
                ctx.sink.total_bytes += length
                if ctx.sink.total_bytes > ctx.limits.max_total_bytes:
                    sub.report(ARC301, f"archive expands past {ctx.limits.max_total_bytes} bytes in total")
                    sub.error("total decompressed size limit reached")
                    return
                # Unrecognised members of known layouts (version, byteorder ...) carry no code; elsewhere
                # the misc handler makes unknown binary an error.
                sub.scan_stream(spool, length, member.name)
        except ZipLimitError as exc:
            sub.report(ARC301, str(exc))
            sub.error(str(exc))
        except ZipFormatError as exc:
            sub.error(f"unreadable member: {exc}")


def _scan_concatenated(stream: BinaryIO, spans: list[tuple[int, int, bool]], ctx: ScanContext) -> None:
    """Complete archives back to back (a ``torch.distributed.checkpoint`` shard): each is analysed on its own.

    DCP's loader ``torch.load``s every byte-IO item of the shard (``weights_only=False``) at the offset its
    ``.metadata`` records, so each archive is a checkpoint in its own right and gets the full zip analysis,
    anomaly checks included; the split itself is not an anomaly (it is how DCP writes every shard). Raw
    regions (tensor bytes in DCP's raw serialisation) are identified by content like any member: tensor data
    is opaque, but a pickle or an archive hidden there is analysed.
    """
    ctx.saw_format("torch-dcp-shard")
    for index, (start, end, is_archive) in enumerate(spans):
        if bomb_seen(ctx):
            ctx.error(f"analysis stopped after a decompression bomb; {len(spans) - index} part(s) not analysed")
            return
        label = f"<archive {index} @{start}>" if is_archive else f"<raw bytes @{start}>"
        sub = ctx.child(label, opaque_ok=not is_archive)
        window = io.BufferedReader(Window(stream, start, end - start))
        fmt = sub.scan_stream(window, end - start, "")
        if fmt is None and is_archive:
            sub.error("an archive of the shard could not be identified")


def _classify(archive: ZipArchive, names: list[str]) -> str:
    prefix = archive.torch_prefix
    if prefix is not None and archive.torch_record("data.pkl") is not None:
        if archive.torch_record("constants.pkl") is not None or any("/code/" in n for n in names):
            return "torchscript"
        return "pytorch-zip"
    if prefix is not None and archive.torch_record("constants.pkl") is not None:
        return "torchscript"
    if prefix is not None and archive.torch_record("archive_format") is not None:
        return "pytorch-pt2"
    if names and all(n.endswith(".npy") for n in names):
        return "numpy-npz"
    return "zip"


def _declared_bomb(member: ZipMember, ctx: ScanContext) -> bool:
    """ARC301 for a deflated member whose *declared* size is a bomb: torch.load (miniz) allocates the declared
    uncompressed size before inflating, even for tensor storages that mlvet never inflates itself."""
    if member.method != 8 or not member.sizes_known:
        return False
    declared, packed, lim = member.uncompressed_size, member.compressed_size, ctx.limits
    if declared > lim.max_member_bytes:
        why = f"more than the limit of {lim.max_member_bytes}"
    elif declared > lim.ratio_floor_bytes and declared > lim.max_ratio * max(packed, 1):
        why = f"{declared // max(packed, 1)}x its {packed} compressed bytes (limit {lim.max_ratio}x)"
    else:
        return False
    sub = ctx.child(member.name)
    sub.report(ARC301, f"member {member.name!r} declares {declared} uncompressed bytes, {why}: torch.load allocates "
               "the declared size before inflating and other readers inflate it to disk (decompression bomb)",
               evidence=f"declared {declared}, compressed {packed}")
    sub.error("member not inflated: declared size over the limits")
    return True


def _report_overlaps(archive: ZipArchive, ctx: ScanContext) -> set[str]:
    """ARC303 for entries whose data overlaps another's (Fifield's construction); returns their names."""
    names = {a.member for a in archive.anomalies if a.code in _BOMB_ANOMALIES and a.member is not None}
    if names:
        shown = ", ".join(repr(n) for n in sorted(names)[:5])
        ctx.report(ARC303, f"{len(names)} entr(ies) share compressed data with another entry ({shown}"
                   f"{' ...' if len(names) > 5 else ''}): every extractor inflates the shared bytes once per entry "
                   "(overlapping-entry zip bomb, Fifield 2019), or one payload is reachable under several names",
                   evidence="overlapping_members")
    return names


def _report_symlink(archive: ZipArchive, member: ZipMember, ctx: ScanContext) -> None:
    """A zip entry stored as a Unix symlink: its data is the link target, recreated by unzip/bsdtar/7-Zip."""
    try:
        raw = archive.read(member, _MAX_LINK_TARGET)
    except (ZipFormatError, ZipLimitError) as exc:
        ctx.report(ARC302, f"entry {member.name!r} is stored as a symbolic link whose target cannot be read ({exc}): "
                   f"{LINK_EFFECT_ZIP}", evidence=member.name[:300])
        return
    target = raw.decode("utf-8", "backslashreplace")
    escape = link_escape(member.name, target, hard=False)
    if escape is not None:
        ctx.report(ARC302, f"entry {member.name!r} is stored as a symbolic link (Unix mode S_IFLNK) to {escape}: "
                   f"{LINK_EFFECT_ZIP}",
                   evidence=f"{member.name[:150]} -> {target[:150]}")
    else:
        ctx.report(ARC300, f"entry {member.name!r} is stored as a symbolic link to {target!r} inside the archive: "
                   "unzip and bsdtar recreate the link, zipfile writes a text file; model writers store no links",
                   severity=Severity.LOW, evidence=f"{member.name[:150]} -> {target[:150]}")


def _report_anomalies(archive: ZipArchive, ctx: ScanContext) -> None:
    seen: set[tuple[str, str | None]] = set()
    per_code: dict[str, int] = {}
    for anomaly in archive.all_anomalies():
        if anomaly.code in _BENIGN_ANOMALIES or anomaly.code in _BOMB_ANOMALIES:
            continue
        key = (anomaly.code, anomaly.member)
        if key in seen:
            continue
        seen.add(key)
        per_code[anomaly.code] = per_code.get(anomaly.code, 0) + 1
        if per_code[anomaly.code] > _MAX_FINDINGS_PER_ANOMALY:
            continue
        where = f" ({anomaly.member})" if anomaly.member else ""
        ctx.report(ARC300, f"zip {anomaly.code}{where}: {anomaly.message}", evidence=anomaly.code)
    for code, count in per_code.items():
        if count > _MAX_FINDINGS_PER_ANOMALY:
            ctx.report(ARC300, f"zip {code}: {count - _MAX_FINDINGS_PER_ANOMALY} more member(s) with the same "
                       "anomaly (not listed one by one)", evidence=code)


def _report_torchscript(archive: ZipArchive, member: ZipMember, ctx: ScanContext) -> None:
    try:
        with archive.open(member, 8 * 1024 * 1024) as f:
            text = f.read(8 * 1024 * 1024).decode("utf-8", "replace")
    except (ZipFormatError, ZipLimitError) as exc:
        ctx.error(f"unreadable TorchScript code: {exc}")
        return
    from mlvet.formats.code_findings import report_torchscript

    try:
        if report_torchscript(text, ctx, filename=member.name):
            return
    except AnalysisError:
        pass  # not parseable as Python: fall back to the textual check below
    hits = sorted({m.group(0) for m in _TS_DANGEROUS.finditer(text)})
    if not hits:
        first = next((ln.strip() for ln in text.splitlines() if ln.strip().startswith("def ")), "")
        ctx.report(ARC311, f"TorchScript code ({len(text.splitlines())} lines)", evidence=first[:300])
        return
    line = next((ln.strip() for ln in text.splitlines() if any(h in ln for h in hits)), "")
    ctx.report(ARC310, f"TorchScript code uses {', '.join(hits)}", evidence=line[:300])


register(ZipHandler())
