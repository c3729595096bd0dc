"""Shared by the BOM tests (imported by name: test folders are on sys.path, see tests/formats/_support.py)."""

from __future__ import annotations


class NetworkBlocked(AssertionError):
    """Raised by any attempt to connect or resolve a name during a BOM test (see tests/bom/conftest.py)."""
