"""The package version (read by setuptools for the wheel and printed by ``mlvet --version``)."""

__version__ = "0.1.0"
