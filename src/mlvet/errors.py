"""One error root per layer, each with a message a user can act on and the exit code it means.

The command line catches :class:`MlvetError` once, prints :meth:`~MlvetError.diagnostics` and exits with
the error's :attr:`~MlvetError.exit_code` (as click's ``ClickException.exit_code``); commands do not pick
codes for errors themselves. The exit codes are the README's table:

====  ===============================================================================================
0     clean: no finding at or above the threshold and every input fully analysed (:data:`EXIT_CLEAN`)
1     findings: a finding at or above the threshold, a refused conversion, a failed verification
2     incomplete: an input could not be fully analysed, signed, verified or written
4     usage or configuration: bad option, missing path, invalid policy, unusable database URL
130   interrupted by Ctrl-C (SIGINT); 143 terminated by SIGTERM (:mod:`mlvet.commands._io`)
====  ===============================================================================================

The error tree (module, exit code)::

    MlvetError                      mlvet.errors                 4 (anything not more specific)
    ├── UsageError                  mlvet.errors                 4
    │   └── EngineError             mlvet.engine.base            4  (--engine names no usable engine)
    ├── PolicyError                 mlvet.errors                 4
    ├── StoreError                  mlvet.store.urls             4
    ├── MissingExtraError           mlvet.remote.hf              4  (huggingface_hub is not installed)
    ├── RemoteError                 mlvet.remote.base            2  (a remote source could not be read)
    ├── PushError                   mlvet.server.wire            2  (the run could not be delivered)
    │   └── PushRefused             mlvet.server.wire            4  (the server refused the push)
    ├── AnalysisError               mlvet.errors                 2  (a file result's ``error`` status)
    │   ├── LimitExceeded           mlvet.errors                 2  (also an ARC301 finding)
    │   │   └── ZipLimitError       mlvet.containers.zipread.records     2
    │   ├── ZipFormatError          mlvet.containers.zipread.records     2
    │   ├── GgufError               mlvet.containers.gguf        2
    │   │   └── GgufTruncated       mlvet.containers.gguf        2
    │   ├── SafetensorsError        mlvet.containers.safetensors 2
    │   ├── TensorFormatError       mlvet.trust.tensorset        2
    │   └── CheckpointError         mlvet.trust.ckpt_values      2
    ├── ConversionRefused           mlvet.trust.ckpt_values      1  (the checkpoint references code)
    ├── OutputError                 mlvet.outfile                2  (an output file could not be written)
    ├── SigningError                mlvet.trust.signature_file   2
    │   └── SignatureReadError      mlvet.trust.signature_file   2
    └── InvalidDocument             mlvet.bom.errors             2  (a BOM failed its own validation)
        ├── BomValidationError      mlvet.bom.cyclonedx          2
        └── SpdxValidationError     mlvet.bom.spdx               2

In a scan, errors never reach the command line: :func:`mlvet.scanner.scan_file` turns each into an ``error``
result for its file, which the scan command counts toward exit code 2.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "EXIT_CLEAN", "EXIT_FINDINGS", "EXIT_INCOMPLETE", "EXIT_USAGE", "AnalysisError", "LimitExceeded",
    "MlvetError", "PolicyError", "UsageError",
]

#: The documented exit codes (README "Exit codes").
EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE, EXIT_USAGE = 0, 1, 2, 4


class MlvetError(Exception):
    """Root of every error mlvet raises on purpose."""

    #: The process exit code when this error ends a command.
    exit_code: ClassVar[int] = EXIT_USAGE

    def diagnostics(self) -> str:
        """The text shown to a user."""
        return str(self)


class PolicyError(MlvetError):
    """A policy file or ``[tool.mlvet]`` table is invalid."""


class UsageError(MlvetError):
    """The caller asked for something that cannot be done (bad path, bad option)."""


class AnalysisError(MlvetError):
    """A file could not be fully analysed. Becomes an ``error`` result; never a crash."""

    exit_code = EXIT_INCOMPLETE


class LimitExceeded(AnalysisError):
    """A safety limit was hit (size, depth, ratio, count): reported as a finding and an error result."""

    def __init__(self, what: str, limit: int, message: str) -> None:
        super().__init__(message)
        self.what = what
        self.limit = limit
