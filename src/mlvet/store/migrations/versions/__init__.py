"""Migration scripts (Alembic ignores this file)."""
