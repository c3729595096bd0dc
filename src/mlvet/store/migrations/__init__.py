"""Alembic migrations for the inventory database, shipped inside the package and run by :class:`~mlvet.store.Store`."""
