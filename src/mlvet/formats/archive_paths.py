"""Where an archive member would land when extracted, and whether the archive already proved to be a bomb.

Loaders of model archives differ in how they unpack: ``torch.load`` reads zip records and legacy tar
members in memory and never writes them out; Keras 3 reads ``.keras`` members in memory and unpacks
``assets/`` with ``zipfile.extractall``; but
``keras.utils.get_file(extract=True)``, NeMo's ``.nemo`` restore, MLflow artifact downloads and many
hand-written loaders call ``tarfile.extractall``, ``shutil.unpack_archive``, ``unzip`` or ``bsdtar`` on
what they downloaded. The extractors themselves differ too (CPython docs, ``tarfile`` extraction filters):

* ``tarfile.extractall`` without ``filter=`` (the behaviour up to Python 3.13, and of every release
  before 3.12) writes ``..`` and absolute names where they point (CVE-2007-4559), creates symlinks and
  hardlinks to any target, and writes later members *through* such links (CVE-2025-12060, CVE-2025-4517);
  ``filter='data'`` (default from 3.14) refuses them with ``OutsideDestinationError`` /
  ``LinkOutsideDestinationError`` and strips leading slashes;
* ``shutil.unpack_archive`` uses ``tarfile`` with its default filter for tars; for zips it skips names that
  are absolute or contain ``..``;
* ``zipfile.extractall`` drops ``..`` components and leading slashes, and writes a symlink entry as a
  small regular file holding the target path; Info-ZIP ``unzip``, ``bsdtar`` and 7-Zip recreate Unix
  symlink entries (external attributes ``S_IFLNK``) as real links, so a later entry, or the loader itself,
  follows them out of the folder.

No library that writes models emits any of these: such a member exists only to attack whichever extractor
honours it, which is why it ranks high whatever the extractor in use.
"""

from __future__ import annotations

import posixpath
import stat

from mlvet.formats.base import ScanContext
from mlvet.rules import ARC301

#: What extraction does with an escaping tar member *name*, for messages.
NAME_EFFECT_TAR = (
    "tarfile.extractall without filter='data' (the default up to Python 3.13, used by shutil.unpack_archive, "
    "NeMo restore and keras get_file(extract=True)) writes it outside the target folder (CVE-2007-4559); "
    "filter='data' refuses it; torch.load reads legacy tar members in memory. No model writer produces such a "
    "name: it is an attack on the extractor"
)
#: What extraction does with an escaping zip member *name*.
NAME_EFFECT_ZIP = (
    "extractors that join names naively (loops over ZipFile.namelist() that open os.path.join(dest, name), many "
    "Java, Go and Node unzip libraries) write it outside the target folder (zip-slip); zipfile.extractall (which "
    "Keras 3 uses for .keras assets) drops '..' and leading '/', shutil.unpack_archive skips it, torch.load reads "
    "records in memory. No model writer produces such a name: it is an attack on the extractor"
)
#: What extraction does with a tar link that leaves the folder.
LINK_EFFECT_TAR = (
    "tarfile.extractall without filter='data' (the default up to Python 3.13; shutil.unpack_archive, NeMo, "
    "keras get_file) creates the link, and every later write or read through it (a member stored under the "
    "link's name, a loader opening the file) reaches outside the extraction folder (CVE-2025-12060, "
    "CVE-2025-4517); filter='data' refuses it"
)
#: What extraction does with a zip entry stored as a symlink that leaves the folder.
LINK_EFFECT_ZIP = (
    "unzip, bsdtar and 7-Zip recreate it as a real link, so a loader opening the extracted file (or a later "
    "entry written through it) reaches outside the extraction folder; zipfile.extractall writes a small file "
    "holding the path instead. Model writers store no links"
)


def _normal(path: str) -> str:
    return posixpath.normpath(path.replace("\\", "/"))


def name_escape(name: str) -> str | None:
    """Why an extracted member named ``name`` lands outside the folder (None when it stays inside)."""
    clean = name.replace("\\", "/")
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":"):
        return "an absolute path"
    if ".." in clean.split("/"):
        norm = _normal(clean)
        return "a path that climbs out with '..'" if norm == ".." or norm.startswith("../") else \
            "a path with '..' components"
    return None


def link_escape(name: str, target: str, *, hard: bool) -> str | None:
    """Why a link member pointing at ``target`` reaches outside the extraction folder (None if it stays inside).

    A symlink's target is relative to the folder holding the link; a tar hardlink's target is a member name,
    relative to the archive root.
    """
    clean = target.replace("\\", "/")
    if not clean:
        return None
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":"):
        return f"an absolute target {target!r}"
    base = "" if hard else posixpath.dirname(name.replace("\\", "/"))
    resolved = _normal(posixpath.join(base, clean))
    if resolved == ".." or resolved.startswith("../"):
        return f"the target {target!r}, which resolves to {resolved!r} outside the folder"
    return None


def is_zip_symlink(external_attr: int) -> bool:
    """True when a zip entry's Unix mode (``external_attr >> 16``, as Info-ZIP stores it) is a symlink."""
    return stat.S_ISLNK((external_attr >> 16) & 0xFFFF)


def bomb_seen(ctx: ScanContext) -> bool:
    """True once a decompression-bomb finding was reported for this input: further members are not unpacked.

    Stopping is what keeps nested bombs (42.zip: thousands of leaves, each over the ratio limit) bounded in
    time; the result is already an error with a high finding, so nothing is reported clean.
    """
    return any(f.rule_id == ARC301.id for f in ctx.sink.findings)
