"""Make an img2dataset-style URL-list dataset, its domain truth, and a recorded domain snapshot.

Usage: ``python tests/datalock/make_urllist.py OUT [--rows N] [--domains N] [--format files|webdataset]``.
Tests call :func:`make_dataset` at test time into a temporary folder (nothing large is committed).

The layout is what ``img2dataset --output_format files --compute_hash sha256`` writes, per shard
``NNNNN``: ``NNNNN.parquet`` (url, caption, key, status, error_message, width, height, original_width,
original_height, exif, sha256), ``NNNNN_stats.json``, and ``NNNNN/<key>.jpg`` + ``<key>.json`` + ``<key>.txt``
for every successful row (``--output_format webdataset``: the same members in ``NNNNN.tar``). About 5% of
rows failed to download (no content, no hash), and a few successful rows lack a hash (what an index made
without ``--compute_hash`` looks like): those are the *unverifiable* rows.

Domains: ``domains`` registrable domains over several public suffixes (com, org, net, co.uk, com.au, de,
io), with subdomains (www., cdn., images.) so that grouping must use the public-suffix rules, and rows spread
unevenly (a few big domains, a long tail). Each domain gets a fate — ok, expired (not registered any more:
RDAP 404, NXDOMAIN), lapsed (expiration date past, redemption period, NXDOMAIN), unresolvable (registered
but NXDOMAIN: client hold), changed (re-registered after :data:`SINCE`) — which the loopback DNS and RDAP
servers of the tests serve and :func:`expected_statuses` states.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import random
import tarfile
from pathlib import Path
from typing import Any

SINCE = "2023-01-01T00:00:00+00:00"
SUFFIXES = ("com", "org", "net", "co.uk", "com.au", "de", "io")
SUBDOMAINS = ("", "www.", "cdn.", "images.", "static.img.")
#: Fates and how many domains get each (the rest are ok).
FATES = {"expired": 6, "lapsed": 3, "unresolvable": 4, "changed": 3}
STATUS_OF_FATE = {"ok": "ok", "expired": "expired", "lapsed": "expired", "unresolvable": "unresolvable",
                  "changed": "changed"}
SCHEMA_COLUMNS = ("url", "caption", "key", "status", "error_message", "width", "height", "original_width",
                  "original_height", "exif", "sha256")


def _fake_jpeg(rng: random.Random) -> bytes:
    body = bytes(rng.getrandbits(8) for _ in range(rng.randint(120, 600)))
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00" + body + b"\xff\xd9"


def make_domains(count: int, seed: int = 7) -> dict[str, str]:
    """``{registrable domain: fate}``, deterministic."""
    rng = random.Random(seed)
    names: dict[str, str] = {}
    while len(names) < count:
        label = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(5, 10)))
        names.setdefault(f"{label}.{SUFFIXES[len(names) % len(SUFFIXES)]}", "ok")
    ordered = sorted(names)
    rng.shuffle(ordered)
    position = 0
    for fate, number in FATES.items():
        for domain in ordered[position:position + number]:
            names[domain] = fate
        position += number
    return names


def make_dataset(out: Path, *, rows: int = 2000, domains: int = 250, shards: int = 2, fmt: str = "files",
                 seed: int = 11) -> dict[str, Any]:
    """Write the dataset under ``out``; return the truth (rows per domain, fates, unverifiable rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = random.Random(seed)
    fates = make_domains(domains, seed)
    ordered = sorted(fates)
    weights = [1.0 / (i + 1) ** 0.8 for i in range(len(ordered))]
    per_domain: dict[str, int] = dict.fromkeys(ordered, 0)
    # every domain appears at least once, then the rest are drawn by weight
    picks = list(ordered) + rng.choices(ordered, weights=weights, k=rows - len(ordered))
    rng.shuffle(picks)
    out.mkdir(parents=True, exist_ok=True)
    unverifiable: list[str] = []
    per_shard = (rows + shards - 1) // shards
    for shard in range(shards):
        name = f"{shard:05d}"
        table: dict[str, list[Any]] = {c: [] for c in SCHEMA_COLUMNS}
        members: list[tuple[str, bytes]] = []
        successes = 0
        for index, domain in enumerate(picks[shard * per_shard:(shard + 1) * per_shard]):
            per_domain[domain] += 1
            key = f"{shard:05d}{index:04d}"
            url = f"https://{rng.choice(SUBDOMAINS)}{domain}/img/{rng.getrandbits(40):x}.jpg"
            caption = f"a photo number {index} from {domain}"
            ok = rng.random() > 0.05
            image = _fake_jpeg(rng) if ok else b""
            digest = hashlib.sha256(image).hexdigest() if ok else None
            if ok:
                successes += 1
                if successes % 150 == 0:
                    digest = None
                    unverifiable.append(f"{name}.parquet#{index}")
            row = {"url": url, "caption": caption, "key": key, "status": "success" if ok else "failed_to_download",
                   "error_message": None if ok else "HTTP Error 404: Not Found",
                   "width": 64 if ok else None, "height": 48 if ok else None,
                   "original_width": 640 if ok else None, "original_height": 480 if ok else None,
                   "exif": "{}" if ok else None, "sha256": digest}
            for column in SCHEMA_COLUMNS:
                table[column].append(row[column])
            if ok:
                meta = {k: row[k] for k in SCHEMA_COLUMNS}
                members += [(f"{key}.jpg", image), (f"{key}.txt", caption.encode()),
                            (f"{key}.json", json.dumps(meta).encode())]
        pq.write_table(pa.table(table), out / f"{name}.parquet")
        (out / f"{name}_stats.json").write_text(json.dumps(
            {"count": len(table["url"]), "successes": successes, "failed_to_download": len(table["url"]) - successes,
             "status_dict": {"success": successes}}))
        if fmt == "webdataset":
            with tarfile.open(out / f"{name}.tar", "w") as tar:
                for member, data in members:
                    info = tarfile.TarInfo(member)
                    info.size = len(data)
                    info.mtime = 1_700_000_000
                    tar.addfile(info, io.BytesIO(data))
        else:
            folder = out / name
            folder.mkdir(exist_ok=True)
            for member, data in members:
                (folder / member).write_bytes(data)
    return {"rows": rows, "per_domain": per_domain, "fates": fates, "unverifiable": sorted(unverifiable)}


def expected_statuses(fates: dict[str, str]) -> dict[str, str]:
    """The status ``mlvet data domains`` must report for each domain, given the servers' answers."""
    return {d: STATUS_OF_FATE[f] for d, f in fates.items()}


def rdap_document(domain: str, fate: str) -> dict[str, Any] | None:
    """What the RDAP stand-in serves for ``domain`` (None: 404, not registered)."""
    if fate == "expired":
        return None
    registration = "2024-05-01T10:00:00Z" if fate == "changed" else "2005-03-14T00:00:00Z"
    expiration = "2024-02-01T00:00:00Z" if fate == "lapsed" else "2031-03-14T00:00:00Z"
    status = {"lapsed": ["redemption period"], "unresolvable": ["client hold"]}.get(fate, ["active"])
    return {"objectClassName": "domain", "ldhName": domain.upper(), "status": status,
            "events": [{"eventAction": "registration", "eventDate": registration},
                       {"eventAction": "expiration", "eventDate": expiration},
                       {"eventAction": "last update of RDAP database", "eventDate": "2026-01-01T00:00:00Z"}],
            "rdapConformance": ["rdap_level_0"]}


def resolves(fate: str) -> bool:
    """Whether the DNS stand-in has the domain (ok and changed ones do)."""
    return fate in ("ok", "changed")


def snapshot(fates: dict[str, str], recorded: str = "2025-06-01T00:00:00+00:00") -> dict[str, Any]:
    """A domain snapshot in mlvet's format, as ``--record-snapshot`` writes it, for the offline tests."""
    domains = {}
    for domain, fate in sorted(fates.items()):
        doc = rdap_document(domain, fate)
        rdap: dict[str, Any] = {"registered": False, "registration": None, "expiration": None, "status": []}
        if doc is not None:
            events = {e["eventAction"]: e["eventDate"] for e in doc["events"]}
            rdap = {"registered": True, "registration": events["registration"],
                    "expiration": events["expiration"], "status": doc["status"]}
        domains[domain] = {"dns": "ok" if resolves(fate) else "nxdomain", "rdap": rdap}
    return {"format": "mlvet-domain-snapshot", "version": 1, "recorded": recorded, "domains": domains}


def main() -> None:
    """Command line: write a dataset, its truth and a domain snapshot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--domains", type=int, default=250)
    parser.add_argument("--format", choices=("files", "webdataset"), default="files")
    args = parser.parse_args()
    truth = make_dataset(args.out / "dataset", rows=args.rows, domains=args.domains, fmt=args.format)
    (args.out / "truth.json").write_text(json.dumps(truth, indent=1))
    (args.out / "snapshot.json").write_text(json.dumps(snapshot(truth["fates"]), indent=1))


if __name__ == "__main__":
    main()
