"""Format handlers, one module each; importing this package registers them all (see ``base.register``)."""

from mlvet.formats import compressed, gguf, misc, numpy, pickle, safetensors, sevenzip, tar, zip  # noqa: F401
from mlvet.formats.base import FormatHandler, Probe, ScanContext, handlers, register

__all__ = ["FormatHandler", "Probe", "ScanContext", "handlers", "register"]
