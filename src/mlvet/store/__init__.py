"""The inventory database: runs, assets, files, findings and the file-hash cache (SQLAlchemy + Alembic).

``Store(url)`` opens (and migrates) a database; :func:`default_url` is ``MLVET_DB`` or a SQLite file in the
user's data folder. See :mod:`mlvet.store.schema` for the layout and :mod:`mlvet.store.store` for the
concurrency guarantees.
"""

from mlvet.store.store import HashCacheEntry, Store, StoreError, default_url, normalize_url

__all__ = ["HashCacheEntry", "Store", "StoreError", "default_url", "normalize_url"]
