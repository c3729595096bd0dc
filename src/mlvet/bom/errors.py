"""The one error both BOM writers raise when a document they built fails validation.

It lives apart from the writers so that :mod:`mlvet.bom.spdx` (an optional extra) and
:mod:`mlvet.bom.cyclonedx` share it without importing each other.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlvet.errors import EXIT_INCOMPLETE, MlvetError


class InvalidDocument(MlvetError):
    """mlvet built a document its own standard rejects: a bug, reported instead of writing the file."""

    exit_code = EXIT_INCOMPLETE
    #: "the CycloneDX 1.6 BOM", "the SPDX 3.0.1 document": named in the message.
    what = "the document"

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = tuple(errors)
        shown = "\n  ".join(self.errors[:20])
        more = f"\n  ... and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
        super().__init__(f"internal error: {self.what} mlvet built is invalid (please report this):\n  {shown}{more}")
