"""``docker save`` tarballs and OCI archives: every layer verified against its digest and scanned by image.

Two layouts (recognised by member names, read through :mod:`tarfile` without extraction):

* ``docker save`` (Docker's image spec v1.2, and Docker 25+): ``manifest.json`` is a list of
  ``{"Config": ..., "RepoTags": [...], "Layers": [...]}`` naming members of the tar. Legacy members are
  ``<id>.json`` (the config, named by its SHA-256) and ``<id>/layer.tar`` (uncompressed layers, whose SHA-256
  is the config's ``rootfs.diff_ids[i]``); Docker 25+ names them ``blobs/sha256/<hex>`` (an OCI layout
  inside the tar).
* an OCI archive without ``manifest.json`` (``skopeo copy oci-archive:``): ``oci-layout``, ``index.json``
  and ``blobs/``, read like an OCI layout folder.

Every blob whose name or config declares a digest is hashed and compared (OTH093: tampering); referenced
members the tar does not hold are OTH094. Members are then scanned like any tar member (the same path and
link checks as :mod:`mlvet.formats.tar`; layer tars go through the tar handler again, with its bomb limits),
labelled with the image reference and the layer's role so findings point at ``repo:tag layer 2``.
"""

from __future__ import annotations

import hashlib
import json
import re
import tarfile
from typing import Any, BinaryIO

from mlvet.errors import AnalysisError
from mlvet.formats.archive_paths import LINK_EFFECT_TAR, NAME_EFFECT_TAR, bomb_seen, link_escape, name_escape
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.image_refs import INDEX_TYPES, MAX_JSON, descriptors, manifest_refs, parse_digest
from mlvet.rules import ARC301, ARC302, OTH093, OTH094

_BLOB = re.compile(r"(?:\./)?blobs/(sha256|sha512)/([0-9a-f]{64,128})")
_CONFIG = re.compile(r"(?:\./)?([0-9a-f]{64})\.json")
#: Tar headers read while sniffing (a docker save names manifest.json among its first members or last).
_SNIFF_MEMBERS = 4096


def _names(stream: BinaryIO, limit: int) -> list[str] | None:
    try:
        tf = tarfile.open(fileobj=stream, mode="r:")  # noqa: SIM115 - closed below
    except (tarfile.TarError, OSError, EOFError):
        return None
    names: list[str] = []
    with tf:
        try:
            for info in tf:
                names.append(info.name.removeprefix("./"))
                if len(names) >= limit:
                    break
        except (tarfile.TarError, OSError, EOFError):
            pass
    return names


def _layout(names: list[str]) -> str | None:
    s = set(names)
    if "manifest.json" in s and ("repositories" in s or any(
            n.endswith("/layer.tar") or _BLOB.fullmatch(n) or _CONFIG.fullmatch(n) for n in s)):
        return "docker"
    if "oci-layout" in s and "index.json" in s:
        return "oci"
    return None


class DockerArchiveHandler:
    """A tar that is a saved image (docker save, OCI archive)."""

    id = "docker-archive"
    priority = 39  # before the plain tar handler (40)

    def sniff(self, probe: Probe) -> bool:
        h = probe.head
        if len(h) < 512 or h[257:262] != b"ustar":  # docker save and OCI archives write ustar/GNU/PAX
            return False
        names = _names(probe.stream, _SNIFF_MEMBERS)
        return names is not None and _layout(names) is not None

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        try:
            tf = tarfile.open(fileobj=stream, mode="r:")  # noqa: SIM115 - closed below
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise AnalysisError(f"unreadable image archive: {exc}") from None
        with tf:
            members: dict[str, tarfile.TarInfo] = {}
            try:
                for info in tf:
                    if len(members) >= ctx.limits.max_members:
                        ctx.report(ARC301, f"more than {ctx.limits.max_members} members; rest not analysed")
                        ctx.error("member limit reached")
                        break
                    members[info.name.removeprefix("./")] = info
            except (tarfile.TarError, OSError, EOFError) as exc:
                ctx.error(f"image archive is corrupt after {len(members)} members: {exc}")
            _Image(tf, members, ctx).run()


class _Image:
    def __init__(self, tf: tarfile.TarFile, members: dict[str, tarfile.TarInfo], ctx: ScanContext) -> None:
        self.tf = tf
        self.members = members
        self.ctx = ctx
        #: member name -> (label, expected digest or None)
        self.roles: dict[str, tuple[str, str | None]] = {}

    def json_member(self, name: str) -> Any:
        info = self.members.get(name)
        if info is None or not info.isfile() or info.size > MAX_JSON:
            return None
        f = self.tf.extractfile(info)
        if f is None:
            return None
        try:
            return json.loads(f.read().decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            self.ctx.error(f"{name} is not JSON")
            return None

    def run(self) -> None:
        manifest = self.json_member("manifest.json")
        if isinstance(manifest, list):
            self.ctx.saw_format("docker-archive")
            for entry in manifest:
                if isinstance(entry, dict):
                    self.docker_entry(entry)
        elif "index.json" in self.members:
            self.ctx.saw_format("oci-archive")
            self.oci_index(self.json_member("index.json"), "", 0)
        else:
            raise AnalysisError("image archive has neither a manifest.json list nor an index.json")
        self.scan_members()

    def docker_entry(self, entry: dict[str, Any]) -> None:
        tags = entry.get("RepoTags")
        ref = tags[0] if isinstance(tags, list) and tags and isinstance(tags[0], str) else "<untagged image>"
        config_name = entry.get("Config")
        diff_ids: list[Any] = []
        if isinstance(config_name, str):
            m = _CONFIG.fullmatch(config_name)
            self.expect(config_name, f"{ref} config", f"sha256:{m.group(1)}" if m else None)
            config = self.json_member(config_name.removeprefix("./"))
            rootfs = config.get("rootfs") if isinstance(config, dict) else None
            diff_ids = rootfs.get("diff_ids", []) if isinstance(rootfs, dict) else []
        layers = entry.get("Layers")
        for i, layer in enumerate(layers if isinstance(layers, list) else []):
            if not isinstance(layer, str):
                continue
            # A blobs/ member is named by its own digest; a legacy layer.tar is uncompressed, so its digest is
            # the config's diff_id.
            legacy = _BLOB.fullmatch(layer.removeprefix("./")) is None
            want = diff_ids[i] if legacy and i < len(diff_ids) and isinstance(diff_ids[i], str) else None
            self.expect(layer, f"{ref} layer {i}", want)

    def oci_index(self, index: Any, parent: str, depth: int) -> None:
        for desc in descriptors(index, "manifests"):
            notes = desc.get("annotations")
            name = notes.get("org.opencontainers.image.ref.name") if isinstance(notes, dict) else None
            ref = name if isinstance(name, str) and name else parent or "<untagged image>"
            digest = str(desc.get("digest", ""))
            member = self.blob_member(digest, f"{ref} manifest")
            if member is None:
                continue
            doc = self.json_member(member)
            if (desc.get("mediaType") in INDEX_TYPES or (isinstance(doc, dict) and "manifests" in doc)) and depth < 4:
                self.oci_index(doc, ref, depth + 1)
                continue
            for r in manifest_refs(doc, ref):
                self.blob_member(r.digest, f"{r.ref} {r.role}")

    def blob_member(self, digest: str, label: str) -> str | None:
        parsed = parse_digest(digest)
        if parsed is None:
            self.ctx.report(OTH094, f"{label} has a malformed digest {digest[:80]!r}", evidence=digest[:200])
            return None
        name = f"blobs/{parsed[0]}/{parsed[1]}"
        self.expect(name, label, digest)
        return name if name in self.members else None

    def expect(self, name: str, label: str, digest: str | None) -> None:
        name = name.removeprefix("./")
        if name not in self.members:
            self.ctx.report(OTH094, f"{label} names {name!r}, which the archive does not hold", evidence=name[:200])
            self.ctx.error(f"{label}: member {name!r} missing; the image was not fully analysed")
            return
        if digest is None:
            m = _BLOB.fullmatch(name)
            digest = f"{m.group(1)}:{m.group(2)}" if m else None
        self.roles.setdefault(name, (label, digest))

    def verify(self, name: str, info: tarfile.TarInfo, label: str, digest: str) -> None:
        parsed = parse_digest(digest)
        f = self.tf.extractfile(info)
        if parsed is None or f is None:
            return
        h = hashlib.new(parsed[0])
        try:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        except (tarfile.TarError, OSError, EOFError) as exc:
            self.ctx.error(f"{label} ({name}) could not be read to verify its digest: {exc}")
            return
        if h.hexdigest() != parsed[1]:
            self.ctx.report(OTH093, f"{label} ({name}) does not match its digest {digest[:23]}…: its bytes hash to "
                            f"{parsed[0]}:{h.hexdigest()[:16]}…, so the layer was changed after the image was built",
                            evidence=f"expected {digest}; content {parsed[0]}:{h.hexdigest()}")

    def scan_members(self) -> None:
        ctx = self.ctx
        items = list(self.members.items())
        for done, (name, info) in enumerate(items):
            if bomb_seen(ctx):
                ctx.error(f"analysis stopped after a decompression bomb; {len(items) - done} member(s) not analysed")
                break
            escape = name_escape(info.name)
            if escape is not None:
                ctx.report(ARC302, f"member name {info.name!r} is {escape}: {NAME_EFFECT_TAR}", evidence=name[:300])
            if info.issym() or info.islnk():
                out = link_escape(info.name, info.linkname, hard=info.islnk())
                if out is not None:
                    ctx.report(ARC302, f"link {info.name!r} points to {out}: {LINK_EFFECT_TAR}",
                               evidence=f"{name[:150]} -> {info.linkname[:150]}")
                continue
            if not info.isfile() or name in ("manifest.json", "index.json", "oci-layout", "repositories"):
                continue
            label, digest = self.roles.get(name, (None, None))
            if digest is not None:
                self.verify(name, info, label or name, digest)
            f = self.tf.extractfile(info)
            if f is None:
                continue
            ctx.sink.total_bytes += info.size
            sub = ctx.child(f"{label}: {name}" if label else name)
            if ctx.sink.total_bytes > ctx.limits.max_total_bytes:
                sub.report(ARC301, f"archive expands past {ctx.limits.max_total_bytes} bytes in total")
                sub.error("total decompressed size limit reached")
                break
            sub.scan_stream(f, info.size, name)  # type: ignore[arg-type]


register(DockerArchiveHandler())
