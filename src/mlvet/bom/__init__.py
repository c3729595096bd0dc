"""ML-BOMs of the inventory: CycloneDX 1.6 and SPDX 3.0.1 (AI and Dataset profiles, :mod:`mlvet.bom.spdx`).

:mod:`mlvet.bom.cyclonedx` writes CycloneDX 1.6 JSON and validates every document against the official
schema (shipped with cyclonedx-python-lib, so validation works offline) before it leaves mlvet. The BOM
is an *output format* of the inventory: it reads only :class:`~mlvet.inventory.model.Asset` objects and the
scanner's :class:`~mlvet.model.Finding` objects they carry, never the files themselves.
"""

from __future__ import annotations

from mlvet.bom.cyclonedx import BomValidationError, bom_json, build_bom
from mlvet.bom.cyclonedx_validate import validate_bom

__all__ = ["BomValidationError", "bom_json", "build_bom", "validate_bom"]
