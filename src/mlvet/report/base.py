"""The contract every output format implements.

Renderers sit strictly downstream of analysis: they receive a finished, frozen
:class:`~mlvet.model.ScanReport` and write it out. Keeping them free of scanning logic means a verdict
reads the same in every format, and a new format cannot change what was found.
"""

from __future__ import annotations

from typing import Protocol, TextIO, runtime_checkable

from mlvet.model import ScanReport


@runtime_checkable
class Renderer(Protocol):
    """One output format (``text``, ``json``, ``sarif`` …), looked up by :attr:`name`."""

    @property
    def name(self) -> str:
        """The format name users pass on the command line (``--format NAME``)."""
        ...

    def render(self, report: ScanReport, out: TextIO, *, color: bool = False, verbose: bool = False) -> None:
        """Write ``report`` to ``out``.

        ``color`` asks for terminal styling (only the text renderer uses it; machine formats ignore it
        so that their output never depends on where it is written). ``verbose`` asks for more detail
        where a format has a choice.
        """
        ...
