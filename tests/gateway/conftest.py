"""Gateway test fixtures (defined in :mod:`_gateway_support`, shared with the fault tests)."""

from __future__ import annotations

from _gateway_support import gateway, hub, python

__all__ = ["gateway", "hub", "python"]
