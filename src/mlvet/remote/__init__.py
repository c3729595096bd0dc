"""Remote sources: scan ``hf://`` repositories (and, by appending to the scheme table, buckets and registries)
without downloading them — resolve the revision, list files, read only what the scanner reads.

Layer: may import the scanner, formats, policy and core model; never the store, commands or server. The
client libraries (huggingface_hub ...) are optional extras imported only when a URL of theirs is scanned.
"""

from __future__ import annotations

from mlvet.remote.base import SCHEMES, CountingReader, RemoteError, RemoteFile, RemoteSource, is_remote, open_source

__all__ = ["SCHEMES", "CountingReader", "RemoteError", "RemoteFile", "RemoteSource", "is_remote", "open_source"]
