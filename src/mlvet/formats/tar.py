"""Tar archives, including PyTorch's legacy tar checkpoint layout (``sys_info``, ``pickle``, ``storages``,
``tensors`` members). Members are streamed from the tar (no extraction to disk); path tricks are findings.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import BinaryIO, Protocol

from mlvet.errors import AnalysisError
from mlvet.formats.archive_paths import LINK_EFFECT_TAR, NAME_EFFECT_TAR, bomb_seen, link_escape, name_escape
from mlvet.formats.base import Probe, ScanContext, Window, register
from mlvet.formats.pickle import analyse_pickle_stream
from mlvet.model import Severity
from mlvet.rules import ARC300, ARC301, ARC302

_LEGACY_TORCH = {"sys_info", "pickle", "storages", "tensors"}
_STORAGE_SIZES = {
    "DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2, "LongStorage": 8,
    "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
    "ComplexFloatStorage": 8, "ComplexDoubleStorage": 16, "QInt8Storage": 1, "QUInt8Storage": 1,
    "QInt32Storage": 4,
}


#: Reads a regular member by name, up to a byte limit (None: absent or not a regular file).
MemberReader = Callable[[str, int], "bytes | None"]


class TarLayout(Protocol):
    """A known tar layout (NeMo ``.nemo``, an MLflow model folder, a TorchServe ``.mar``) found by member names.

    Like :class:`mlvet.formats.zip.ZipLayout`: the first layout that matches analyses the members it knows
    (configs that name code, the code itself); members it returns as handled are not scanned again, every
    other member is still identified by content.
    """

    id: str

    def matches(self, names: list[str]) -> bool:
        """True if the archive's regular member ``names`` have this layout."""
        ...

    def analyse(self, names: list[str], read: MemberReader, ctx: ScanContext) -> set[str]:
        """Analyse the members the layout knows; return the names it handled."""
        ...


_TAR_LAYOUTS: list[TarLayout] = []


def register_tar_layout(layout: TarLayout) -> TarLayout:
    """Add a tar layout (modules call this at import); layouts are tried in registration order."""
    _TAR_LAYOUTS.append(layout)
    return layout


def _apply_layouts(tf: object, members: list[object], ctx: ScanContext) -> set[str]:
    """Run the first matching tar layout; returns the member names it handled."""
    import tarfile

    from mlvet.formats import code_archives  # noqa: F401 - registers the code-bearing tar layouts

    assert isinstance(tf, tarfile.TarFile)
    files = {m.name: m for m in members if isinstance(m, tarfile.TarInfo) and m.isfile()}
    names = list(files)

    def read(name: str, limit: int) -> bytes | None:
        info = files.get(name)
        if info is None or info.size > limit:
            return None
        f = tf.extractfile(info)
        return None if f is None else f.read(limit + 1)

    for layout in _TAR_LAYOUTS:
        if layout.matches(names):
            ctx.saw_format(layout.id)
            return layout.analyse(names, read, ctx)
    return set()


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
            complete = False
            try:
                members = []
                for info in tf:
                    count += 1
                    if count > ctx.limits.max_members:
                        ctx.report(ARC301, f"more than {ctx.limits.max_members} members; rest not analysed")
                        ctx.error("member limit reached")
                        break
                    members.append(info)
                else:
                    complete = True
            except (tarfile.TarError, OSError, EOFError) as exc:
                ctx.error(f"tar archive is corrupt after {count} members: {exc}")
            names = {m.name for m in members}
            legacy = names >= _LEGACY_TORCH
            if legacy:
                ctx.saw_format("pytorch-legacy-tar")
            handled = set() if legacy else _apply_layouts(tf, list(members), ctx)
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
                if not info.isfile() or name in handled:
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
            if complete and not bomb_seen(ctx):
                _scan_trailing(stream, tf.offset, size, ctx)


def _scan_trailing(stream: BinaryIO, end: int, size: int, ctx: ScanContext) -> None:
    """Bytes after the tar's last member that are not zero padding (an appended zip or pickle) are scanned
    by content: tar readers ignore them, but a zip reader that looks for the end record finds an appended zip."""
    stream.seek(end)
    pos = end
    while pos < size:
        chunk = stream.read(min(1 << 20, size - pos))
        if not chunk:
            return
        stripped = chunk.lstrip(b"\0")
        if stripped:
            start = pos + len(chunk) - len(stripped)
            ctx.report(ARC300, f"{size - start} byte(s) of data after the end of the tar archive (at offset {start}): "
                       "tar readers ignore them, other readers may not", severity=Severity.MEDIUM,
                       evidence=f"trailing data at {start}")
            ctx.child(f"<bytes after the tar @{start}>").scan_stream(
                io.BufferedReader(Window(stream, start, size - start)), size - start, "")
            return
        pos += len(chunk)


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
