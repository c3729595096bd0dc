"""Format handlers, one module each, and the dispatch that picks one by content.

The interface a format module implements is in :mod:`mlvet.formats.base`; identification, the handler loop
and the lazy import of the heavier format modules are in :mod:`mlvet.formats.dispatch`. Importing this
package registers the core container and pickle handlers and installs :func:`~mlvet.formats.dispatch.dispatch`
as the default dispatcher of :class:`~mlvet.context.ScanContext`.
"""

from __future__ import annotations

from mlvet.context import install_dispatcher
from mlvet.formats import compressed, misc, numpy, pickle, sevenzip, tar, zip  # noqa: F401 - registration
from mlvet.formats.base import FormatHandler, Probe, ScanContext, handlers, register
from mlvet.formats.dispatch import activate_for, dispatch, import_all

install_dispatcher(dispatch)

__all__ = ["FormatHandler", "Probe", "ScanContext", "activate_for", "dispatch", "handlers", "import_all",
           "register"]
