"""Training-data integrity: lock files for datasets, their verification, and split-view exposure of URL lists.

Carlini et al. ("Poisoning Web-Scale Training Datasets is Practical", 2023) showed that a dataset published
as a list of URLs can be poisoned after the fact: what a URL serves can change, and expired domains in the
list can be bought. The defence is content hashes recorded when the data was vetted and checked whenever it
is used. This package makes that routine:

* :mod:`mlvet.data.lockfile` — the lock file format (versioned, canonical JSON, a root digest).
* :mod:`mlvet.data.walk` — which files a dataset is made of (plain folders, Hugging Face caches,
  ``datasets.save_to_disk`` output, img2dataset shards).
* :mod:`mlvet.data.hashing` — streaming, parallel SHA-256 of files and WebDataset tar members.
* :mod:`mlvet.data.urllist` — URL-list tables (parquet, CSV, TSV, JSONL): row digests, URL and hash
  columns, the img2dataset content of each row.
* :mod:`mlvet.data.lock` / :mod:`mlvet.data.verify` — build a lock, compare a dataset with it (resumable).
* :mod:`mlvet.data.croissant` — MLCommons Croissant metadata (``sha256`` on ``FileObject``).
* :mod:`mlvet.data.domains` / :mod:`mlvet.data.probes` — per-domain share of a URL list and whether each
  domain still resolves, expired or changed hands (DNS, RDAP, a recorded snapshot).

Layer: like :mod:`mlvet.trust`, it builds on the core only and never executes what it reads: tables are
parsed as data (no pickled pandas metadata is ever loaded), tar members are hashed without extraction.
"""
