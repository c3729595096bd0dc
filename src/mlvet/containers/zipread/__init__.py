"""A ZIP reader that sees an archive the way ``torch.load`` does, not the way Python's ``zipfile`` does.

Why this exists: ``torch.load`` reads checkpoints with PyTorch's bundled miniz (``PyTorchStreamReader`` in
``caffe2/serialize/inline_container.cc``). miniz and ``zipfile`` disagree on many details, and each
disagreement is a scanner bypass: a file that makes ``zipfile`` raise (bad CRC, local/central name mismatch,
an unreadable extra member, a stray end-of-central-directory signature in the last 21 bytes, ...) blinds a
``zipfile``-based scanner (picklescan, modelscan) while ``torch.load`` still unpickles ``data.pkl``. The
semantics reproduced here:

* the end-of-central-directory (EOCD) record is found by miniz's backwards scan in 4096-byte steps
  (:func:`find_eocd`), comments are not validated, and zip64 records are found through the locator;
* offsets are absolute (no "prefixed archive" bias, unlike ``zipfile``);
* a member's data starts after the *local* header's name and extra fields; the local name is never
  compared with the central one; local flags are ignored;
* CRC-32 is never checked (PyTorch builds miniz with ``MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS``);
* a stored member's data is ``uncompressed_size`` bytes long (miniz reads that many), a deflated member's
  input is ``compressed_size`` bytes and must inflate to exactly ``uncompressed_size`` bytes;
* records are looked up case-insensitively (ASCII) by binary search over a heap-sorted index, which decides
  which of several same-named members ``torch.load`` uses (:meth:`ZipArchive.locate`).

Everything that would make a *different* reader see something else is reported as a :class:`ZipAnomaly`
so the caller can both analyse what torch loads and flag the evasion attempt. The reader never loads a
whole file: it reads the EOCD region, the central directory, each local header, and member data on demand
through bounded streams.

The package follows the stages of reading: ``records`` (record layouts, the member model, local headers),
``eocd`` (finding the end records as each reader does), ``central`` (the directory and miniz's lookup
order), ``stream`` (bounded member data), ``checks`` (anomaly checks over the parsed archive), ``carve``
(members found by walking local headers), ``concat`` (files of several archives back to back, as
``torch.distributed.checkpoint`` writes them) and ``archive`` (:class:`ZipArchive`, which ties them together).
"""

from __future__ import annotations

from mlvet.containers.zipread.anomaly import ANOMALY_CODES, ZipAnomaly
from mlvet.containers.zipread.archive import ZipArchive
from mlvet.containers.zipread.carve import scan_local_headers
from mlvet.containers.zipread.concat import split_concatenated
from mlvet.containers.zipread.eocd import find_eocd, find_eocd_any, has_zip_structure, looks_like_zip
from mlvet.containers.zipread.records import ZipFormatError, ZipLimitError, ZipMember

__all__ = [
    "ANOMALY_CODES",
    "ZipAnomaly",
    "ZipArchive",
    "ZipFormatError",
    "ZipLimitError",
    "ZipMember",
    "find_eocd",
    "find_eocd_any",
    "has_zip_structure",
    "looks_like_zip",
    "scan_local_headers",
    "split_concatenated",
]
