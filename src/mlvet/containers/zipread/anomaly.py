"""Anomalies: what a different ZIP reader would see differently, and where the parsers record them.

Every parser in this package writes to one :class:`AnomalyLog` per archive instead of raising, because
an archive that one reader refuses is exactly what an attacker ships: ``torch.load`` may still load it,
so it must still be analysed, and the disagreement itself is a finding for the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from mlvet.containers.zipread.records import ZipFormatError

#: How the messages name the reader most scanners rely on.
PYTHON_VIEW: Final = "Python's zipfile (used by picklescan, modelscan and most scanners)"


@dataclass(frozen=True)
class ZipAnomaly:
    """Something a different ZIP reader would see differently, or that hides bytes from the loader.

    ``code`` is a stable identifier (see ``ANOMALY_CODES``); ``message`` says why it matters.
    """

    code: str
    member: str | None
    message: str


#: Every anomaly code this module can emit, with a one-line meaning (documentation and tests).
ANOMALY_CODES: Final[dict[str, str]] = {
    "crc_mismatch": "member data does not match its CRC-32; zipfile raises, torch.load does not check",
    "crc_not_recorded": "CRC-32 field is 0 (torch.save without CRCs); zipfile raises, torch.load does not",
    "name_mismatch": "local header name differs from the central one; zipfile raises, torch ignores it",
    "encrypted_flag": "encryption flag set (central: both readers refuse the member; local only: ignored)",
    "patch_flag": "compressed-patch flag set in the central directory; both readers refuse the member",
    "masked_directory_flag": "flag 0x2000 set; miniz refuses the whole archive",
    "data_descriptor_flag": "orphan entry whose size had to be inferred from a data descriptor",
    "prefix_bytes": "bytes before the first local header",
    "gap_bytes": "bytes between members that no central directory entry accounts for",
    "duplicate_name": "several central entries with the same name; readers pick different ones",
    "case_collision": "names equal up to ASCII case; torch's lookup is case-insensitive",
    "orphan_local_header": "local header not referenced by the central directory; torch never loads it",
    "overlapping_members": "member data ranges overlap (shared data or hidden nesting)",
    "unsupported_method": "compression method other than stored/deflate; torch cannot read the member",
    "size_mismatch": "sizes disagree (stored compressed != uncompressed, or inflated size != declared)",
    "zip64": "zip64 records present but inconsistent with what Python's zipfile assumes",
    "comment": "archive comment present (bytes never loaded by torch)",
    "eocd_not_at_end": "bytes after the end-of-central-directory record (or comment length mismatch)",
    "eocd_divergence": "Python's zipfile finds a different (or no) end-of-central-directory record",
    "cd_offset_mismatch": "central directory is not where the EOCD implies; zipfile rebases, torch does not",
    "bad_local_header": "a central entry points at something that is not a readable local header",
    "data_out_of_bounds": "member data extends past the end of the file",
    "directory_attr": "a non-empty member carries the DOS directory attribute; miniz returns no data",
    "outside_prefix": "member outside the torch archive folder; torch.load refuses the file",
    "version_needed": "'version needed to extract' above 6.3; zipfile refuses the archive, miniz ignores it",
    "bad_extra_field": "malformed extra field; zipfile refuses the archive, miniz ignores it",
    "cd_entry_count_mismatch": "more central entries than the end record declares; torch sees fewer",
    "torch_unreadable": "miniz (torch.load) would refuse the whole archive; parsed leniently anyway",
    "scan_truncated": "the orphan/gap scan stopped at its byte budget",
}


class AnomalyLog:
    """The anomalies of one archive: those found while parsing, then those found while reading data.

    ``strict=True`` turns every condition where miniz refuses the whole archive into a
    :class:`ZipFormatError` (see :meth:`torch_fatal`); otherwise it is recorded and parsing goes on.
    """

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        #: Found while parsing the end records, the directory and the layout (fixed once parsed).
        self.parsed: list[ZipAnomaly] = []
        #: Found while member data is read (CRC, inflated size); one per (code, member).
        self.checked: list[ZipAnomaly] = []
        self._checked_keys: set[tuple[str, str | None]] = set()

    def add(self, code: str, member: str | None, message: str) -> None:
        """Record a parse-time anomaly."""
        self.parsed.append(ZipAnomaly(code, member, message))

    def note(self, anomaly: ZipAnomaly) -> None:
        """Record a read-time anomaly once per code and member (streams may be read more than once)."""
        key = (anomaly.code, anomaly.member)
        if key not in self._checked_keys:
            self._checked_keys.add(key)
            self.checked.append(anomaly)

    def torch_fatal(self, reason: str) -> None:
        """miniz would refuse the archive: raise in strict mode, else record and continue."""
        message = f"torch.load cannot open this archive: {reason}"
        if self.strict:
            raise ZipFormatError(message)
        self.add("torch_unreadable", None, message + "; other ZIP readers may, so it is analysed anyway")
