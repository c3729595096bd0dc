"""Tar archives, including PyTorch's legacy tar checkpoint layout (``sys_info``, ``pickle``, ``storages``,
``tensors`` members). Members are streamed from the tar (no extraction to disk); path tricks are findings.
"""

from __future__ import annotations

from typing import BinaryIO

from mlvet.errors import AnalysisError
from mlvet.formats.archive_paths import LINK_EFFECT_TAR, NAME_EFFECT_TAR, bomb_seen, link_escape, name_escape
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.pickle import analyse_pickle_stream
from mlvet.rules import ARC301, ARC302

_LEGACY_TORCH = {"sys_info", "pickle", "storages", "tensors"}
_STORAGE_SIZES = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8,
    "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
    "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16, "QInt8Storage": 1, "QUInt8Storage": 1,
    "QInt32Storage": 4,
}


class TarHandler:
    """tar archives (plain or as legacy torch checkpoints): members are scanned by content."""
    id = "tar"
    priority = 40

    def sniff(self, probe: Probe) -> bool:
        h = probe.head
        if len(h) >= 512 and h[257:262] == b"ustar":
            return True
        if len(h) >= 512:
            # Old (v7) tar: checksum field must match the header.
            try:
                chk = int(h[148:156].split(b"\0", 1)[0].strip() or b"-1", 8)
            except ValueError:
                return False
            calc = sum(h[:148]) + 8 * 32 + sum(h[156:512])
            return chk == calc
        return False

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        import tarfile

        try:
            tf = tarfile.open(fileobj=stream, mode="r:")  # noqa: SIM115 - closed below
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise AnalysisError(f"unreadable tar archive: {exc}") from None
        with tf:
            count = 0
            try:
                members = []
                for info in tf:
                    count += 1
                    if count > ctx.limits.max_members:
                        ctx.report(ARC301, f"more than {ctx.limits.max_members} members; rest not analysed")
                        ctx.error("member limit reached")
                        break
                    members.append(info)
            except (tarfile.TarError, OSError, EOFError) as exc:
                ctx.error(f"tar archive is corrupt after {count} members: {exc}")
            names = {m.name for m in members}
            legacy = names >= _LEGACY_TORCH
            if legacy:
                ctx.saw_format("pytorch-legacy-tar")
            for done, info in enumerate(members):
                if bomb_seen(ctx):
                    ctx.error(f"analysis stopped after a decompression bomb; {len(members) - done} member(s) "
                              "of this archive not analysed")
                    break
                name = info.name
                escape = name_escape(name)
                if escape is not None:
                    ctx.report(ARC302, f"member name {name!r} is {escape}: {NAME_EFFECT_TAR}", evidence=name[:300])
                if info.issym() or info.islnk():
                    kind = "hardlink" if info.islnk() else "symbolic link"
                    out = link_escape(name, info.linkname, hard=info.islnk())
                    if out is not None:
                        ctx.report(ARC302, f"{kind} {name!r} points to {out}: {LINK_EFFECT_TAR}",
                                   evidence=f"{name[:150]} -> {info.linkname[:150]}")
                    continue
                if not info.isfile():
                    continue
                f = tf.extractfile(info)
                if f is None:
                    continue
                sub = ctx.child(name)
                ctx.sink.total_bytes += info.size
                if ctx.sink.total_bytes > ctx.limits.max_total_bytes:
                    sub.report(ARC301, f"archive expands past {ctx.limits.max_total_bytes} bytes in total")
                    sub.error("total decompressed size limit reached")
                    break
                if legacy and name in ("storages", "tensors"):
                    _scan_legacy_records(f, info.size, sub, name)  # type: ignore[arg-type]
                else:
                    sub.scan_stream(f, info.size, name)  # type: ignore[arg-type]


def _scan_legacy_records(f: BinaryIO, size: int, ctx: ScanContext, name: str) -> None:
    """Walk torch's legacy ``storages``/``tensors`` members as ``torch.serialization._legacy_load`` does.

    ``storages``: a count pickle, then per storage a ``(key, location, storage_type)`` pickle, an 8-byte
    element count and the raw bytes. ``tensors``: a count pickle, then per tensor a pickle, ``ndim``
    (4 bytes + 4 skipped), sizes and strides (8 bytes each per dim) and an 8-byte offset. Every pickle is
    analysed; raw data is skipped by the sizes torch itself uses.
    """
    f.seek(0)
    count = _small_int_pickle(f.read(16))
    pos = analyse_pickle_stream(f, ctx, expected_streams=1, trailing_ok=True)
    if count is None:
        raise AnalysisError(f"legacy torch {name}: the record count is not a small integer pickle")
    for _ in range(count):
        if pos >= size:
            raise AnalysisError(f"legacy torch {name}: {count} records announced, fewer present")
        rec = pos
        pos = analyse_pickle_stream(f, ctx, expected_streams=1, start=rec, trailing_ok=True)
        f.seek(rec)
        record = f.read(min(pos - rec, 4096))
        f.seek(pos)
        if name == "storages":
            numel = int.from_bytes(f.read(8), "little")
            esize = next((sz for t, sz in _STORAGE_SIZES.items() if t.encode() in record), None)
            if esize is None:
                raise AnalysisError("legacy torch storages: record names no known storage type")
            pos += 8 + numel * esize
        else:
            ndim = int.from_bytes(f.read(4), "little", signed=True)
            if ndim < 0 or ndim > 64:
                raise AnalysisError(f"legacy torch tensors: implausible ndim {ndim}")
            pos += 8 + 16 * ndim + 8
        if pos > size:
            raise AnalysisError(f"legacy torch {name} record runs past the member end")
    if pos < size:
        # ``storages`` ends with the storage-views count and view records: pickles that torch reads too.
        analyse_pickle_stream(f, ctx, start=pos)


def _small_int_pickle(head: bytes) -> int | None:
    """The value of a tiny ``pickle.dump(int)`` stream (PROTO + BININT1/BININT2/BININT + STOP)."""
    i = 2 if head[:1] == b"\x80" else 0
    op = head[i : i + 1]
    if op == b"K":
        return head[i + 1]
    if op == b"M":
        return int.from_bytes(head[i + 1 : i + 3], "little")
    if op == b"J":
        return int.from_bytes(head[i + 1 : i + 5], "little", signed=True)
    return None


register(TarHandler())
