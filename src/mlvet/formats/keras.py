"""Keras models: ``.keras`` archives, Keras config JSON, and legacy HDF5 (``.h5``) models.

A Keras model file carries no pickle, but its architecture config is a program for Keras' deserialiser:
every ``{"module", "class_name", "config", "registered_name"}`` object names something Keras looks up
(and, before 3.9, imported: CVE-2025-1550) and then calls with the config as arguments; ``Lambda``
layers carry marshalled Python bytecode (CVE-2024-3660) that ``safe_mode`` is meant to block but that
legacy HDF5 loading ran anyway (CVE-2025-9905) and that a config can unblock by calling
``keras.config.enable_unsafe_deserialization`` first (CVE-2025-9906); Keras' own utilities reached
from a config download files or reload models with safe mode off (CVE-2025-8747).

What is read, never executed or imported:

* ``.keras`` (zip: ``config.json``, ``metadata.json``, ``model.weights.h5``/``.npz``, ``assets/``):
  ``config.json`` is walked in full (nested and shared layers, ``build_config``, ``compile_config``
  losses/metrics/optimizers, initializers, regularizers, constraints, activations). The weights
  file's HDF5 structure is audited in place (external storage, links, virtual datasets, declared-size
  bombs: CVE-2026-1669); other members are content-scanned by the zip handler (an ``.npz`` of weights
  goes through the pickle checks).
* A bare Keras config JSON (``config.json`` of a Keras folder or a Hugging Face Keras / KerasHub
  preset, which ``load_model("hf://...")`` reads from a plain folder).
* HDF5 (``.h5``/``.hdf5``): the root attributes ``model_config`` and ``training_config`` only, through
  h5py (the optional ``mlvet[hdf5]`` extra), and the same structure audit; weights are never read.
  Bytes in an HDF5 user block or after the file's recorded end are content-scanned too (polyglots).

The config walk itself lives in :mod:`mlvet.analysis.keras_config` (pure, returns data), Lambda
bytecode is decoded by :mod:`mlvet.analysis.keras_code` (mlvet's static marshal reader), the findings
are reported by :mod:`mlvet.formats.keras_report`, and HDF5 files are read by :mod:`mlvet.formats.hdf5`.
"""

from __future__ import annotations

import json
import re
from typing import BinaryIO

from mlvet.analysis.keras_code import decode_lambda_code, judge_code
from mlvet.analysis.keras_config import (
    MAX_CONFIG_BYTES,
    MAX_FINDINGS,
    MAX_NODES,
    ConfigAnalysis,
    ConfigWalker,
    parse_config_json,
)
from mlvet.analysis.keras_tables import KER400, KER401, KER402, KER403, KER404, KER405, KER406
from mlvet.containers.zipread import ZipArchive, ZipFormatError, ZipLimitError, ZipMember
from mlvet.errors import AnalysisError, LimitExceeded
from mlvet.formats.base import Probe, ScanContext, Window, register
from mlvet.formats.hdf5 import HDF5_MAGIC, Hdf5Handler, find_hdf5_superblock, read_hdf5_root_attrs
from mlvet.formats.keras_report import analyse_config, analyse_config_bytes
from mlvet.formats.zip import register_zip_layout
from mlvet.rules import ARC301

__all__ = [
    "HDF5_MAGIC", "KER400", "KER401", "KER402", "KER403", "KER404", "KER405", "KER406", "MAX_CONFIG_BYTES",
    "MAX_FINDINGS", "MAX_NODES", "MAX_SNIFF_BYTES", "ConfigAnalysis", "ConfigWalker", "Hdf5Handler",
    "KerasConfigHandler", "KerasZipLayout", "analyse_config", "analyse_config_bytes", "decode_lambda_code",
    "find_hdf5_superblock", "judge_code", "parse_config_json", "read_hdf5_root_attrs",
]

#: JSON documents are searched this far for a ``class_name`` key (configs over MAX_CONFIG_BYTES are
#: then reported as over the limit rather than passed as text).
MAX_SNIFF_BYTES = 256 * 1024 * 1024

# ---- .keras archives -----------------------------------------------------------------------------------


class KerasZipLayout:
    """``.keras`` (Keras 3 / tf.keras v3 format): a zip with config.json, metadata.json and weights."""

    id = "keras"
    #: assets/ may hold binary tokenizer models; they are content-scanned but not errors when unknown.
    opaque_members = True

    def matches(self, names: list[str], archive: ZipArchive) -> bool:
        return "config.json" in names and bool(
            {"metadata.json", "model.weights.h5", "model.weights.npz"} & set(names)
        )

    def analyse(self, archive: ZipArchive, ctx: ScanContext) -> set[str]:
        handled: set[str] = set()
        for member in archive.members:
            if member.name == "config.json":
                sub = ctx.child(member.name)
                try:
                    data = _read_member(archive, member, MAX_CONFIG_BYTES, "config.json")
                    analyse_config_bytes(data, sub, "config.json")
                except LimitExceeded as exc:
                    sub.report(ARC301, str(exc))
                    sub.error(str(exc))
                except AnalysisError as exc:
                    sub.error(str(exc))
                handled.add(member.name)
            elif member.name == "metadata.json":
                try:
                    meta = json.loads(_read_member(archive, member, 1 << 20, "metadata.json"))
                except (AnalysisError, ValueError, RecursionError):
                    continue  # left to the generic member scan
                if isinstance(meta, dict):
                    handled.add(member.name)
            elif (member.name == "model.weights.h5" and member.method == 0 and not member.flags & 1
                  and member.data_offset >= 0 and member.compressed_size == member.uncompressed_size
                  and member.data_offset + member.uncompressed_size <= archive.size):
                # Stored (Keras' own layout): the HDF5 handler reads it in place, without a copy. Weights
                # are never read; the structure is audited (external storage, links, bombs: CVE-2026-1669).
                # Compressed or anything else is left to the generic member scan (spooled, same handler).
                sub = ctx.child(member.name)
                window = Window(archive.fileobj, member.data_offset, member.uncompressed_size)
                sub.scan_stream(window, member.uncompressed_size, member.name)  # type: ignore[arg-type]
                handled.add(member.name)
        return handled


def _read_member(archive: ZipArchive, member: ZipMember, limit: int, what: str) -> bytes:
    if member.uncompressed_size > limit:
        raise LimitExceeded(
            "max_config_bytes", limit,
            f"{what} declares {member.uncompressed_size} bytes, over the {limit}-byte limit; not analysed",
        )
    try:
        with archive.open(member, limit) as stream:
            return stream.read(limit + 1)
    except ZipLimitError as exc:
        raise LimitExceeded("max_config_bytes", limit, f"{what}: {exc}") from None
    except ZipFormatError as exc:
        raise AnalysisError(f"{what}: unreadable member: {exc}") from None


register_zip_layout(KerasZipLayout())


# ---- bare Keras config JSON ----------------------------------------------------------------------------

_JSON_HEAD = re.compile(rb"\A(?:\xef\xbb\xbf)?[ \t\r\n]*\{")
#: The key "class_name" as JSON may spell it: any letter may be written as a \\uXXXX escape.
_CLASS_NAME_KEY = re.compile(
    b'"' + b"".join(
        b"(?:" + re.escape(bytes([c])) + rb"|\\u00" + (b"%02x" % c)[:1] + b"[" + (b"%02x" % c)[1:].lower()
        + (b"%02x" % c)[1:].upper() + b"])"
        for c in b"class_name"
    ) + b'"'
)


class KerasConfigHandler:
    """A JSON document that is a Keras object config (folder models, Hugging Face / KerasHub presets)."""

    id = "keras-config"
    #: Before the Hugging Face JSON handler (70): a Keras config that also carries HF marker keys must
    #: not escape this analysis.
    priority = 69

    def sniff(self, probe: Probe) -> bool:
        """A JSON object with a ``class_name`` key anywhere (escaped spellings included), within the limit.

        The whole document is searched, not just its head: Keras ignores unknown top-level keys, so a
        long first key would otherwise push ``class_name`` out of view.
        """
        if _JSON_HEAD.match(probe.head) is None:
            return False
        if _CLASS_NAME_KEY.search(probe.head):
            return True
        if probe.size <= len(probe.head):
            return False
        probe.stream.seek(0)
        tail = b""
        left = min(probe.size, MAX_SNIFF_BYTES)
        while left > 0:
            chunk = probe.stream.read(min(left, 1 << 20))
            if not chunk:
                break
            left -= len(chunk)
            if _CLASS_NAME_KEY.search(tail + chunk):
                return True
            tail = chunk[-64:]
        return False

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        if size > MAX_CONFIG_BYTES:
            raise LimitExceeded(
                "max_config_bytes", MAX_CONFIG_BYTES,
                f"Keras config JSON of {size} bytes is over the {MAX_CONFIG_BYTES}-byte limit; not analysed",
            )
        analyse_config_bytes(stream.read(MAX_CONFIG_BYTES + 1), ctx, "Keras config JSON")



register(KerasConfigHandler())
register(Hdf5Handler())
