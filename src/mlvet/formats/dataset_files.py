"""Datasets carry code too: loading scripts, pickled Arrow extension types and custom feature types.

- **Loading scripts.** ``datasets.load_dataset`` on a repository holding ``<name>.py`` (a
  ``GeneratorBasedBuilder`` subclass) imports and runs that script when ``trust_remote_code=True``; it is code
  from the dataset's publisher, analysed with the same Python engine as a model's remote code.
- **Parquet and Arrow.** The data is inert, but the schema can name *extension types* whose parameters
  (``ARROW:extension:metadata``) the registered type deserialises. The legacy ``pyarrow.PyExtensionType``
  (``arrow.py_extension_type``) stores a pickle of the type, which pyarrow < 14.0.1 unpickled on read
  (CVE-2023-47248) and which any reader that registers the type still unpickles; some third-party types (Ray's
  tensor type once) pickled their parameters too. Such metadata is analysed with the pickle engine. The
  footer (Parquet, Thrift compact) and the schema message (Arrow IPC) are read from bytes and bounded; columns
  are never read.
- **Features.** ``datasets`` records features as ``{"_type": ...}`` in ``dataset_info.json`` and in the
  ``huggingface`` schema metadata; a ``_type`` outside its own registry resolves only after some code (usually a
  loading script) registered it.

Plain parquet and Arrow written by ``datasets``, pandas or pyarrow report nothing: the handler scans them
(format ``parquet``/``arrow``) so that a result says they were looked at, not skipped.
"""

from __future__ import annotations

import ast
import base64
import binascii
import io
import json
import os
from collections.abc import Iterator
from typing import Any, BinaryIO

from mlvet.analysis import pyast
from mlvet.containers.arrow_schema import (
    ArrowSchema,
    parse_encapsulated,
    read_file_footer_schema,
    read_schema_message,
)
from mlvet.containers.thrift_compact import parquet_key_values
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.formats.code_findings import report_python
from mlvet.formats.hf import PythonHandler, _is_text, model_folder_kind
from mlvet.formats.misc import is_arrow_stream
from mlvet.formats.pickle import analyse_pickle_stream
from mlvet.model import Severity
from mlvet.rules import define_rule

#: A Parquet footer larger than this is refused (real footers are kilobytes to a few megabytes).
MAX_FOOTER_BYTES = 64 * 1024 * 1024
#: dataset_info.json / state.json larger than this are not parsed.
MAX_INFO_BYTES = 16 * 1024 * 1024

DAT001 = define_rule(
    "DAT001", "dataset-loading-script", Severity.HIGH,
    "A dataset repository ships a loading script (a datasets builder class) that load_dataset imports and "
    "runs with trust_remote_code=True.",
    "The script runs with your privileges whenever the dataset is loaded, can change with every revision of "
    "the repository, and usually downloads more data from URLs it chooses.",
    "Review the script (its own findings are listed), pin the revision, or use the repository's parquet "
    "conversion (refs/convert/parquet), which needs no code.",
    94,
)
DAT002 = define_rule(
    "DAT002", "pickled-extension-type", Severity.HIGH,
    "A Parquet or Arrow column's extension type is serialised with pickle (the legacy pyarrow.PyExtensionType "
    "'arrow.py_extension_type', or extension metadata that is a pickle); the pickle's own findings follow.",
    "Readers that know the type unpickle its metadata when the file is opened (pyarrow < 14.0.1 by default, "
    "CVE-2023-47248): opening the data runs code.",
    "Do not read the file with a pyarrow older than 14.0.1 or with the type registered; rewrite the column "
    "with a canonical or JSON-serialised extension type.",
    502,
)
DAT003 = define_rule(
    "DAT003", "custom-feature-type", Severity.LOW,
    "The dataset's features name a type that the datasets library does not ship ('_type' outside its "
    "registry).",
    "datasets resolves '_type' through a registry that code fills in: the data only loads after some code, "
    "usually a loading script run with trust_remote_code, registered the type.",
    "Find and review the code that defines the type; prefer datasets' own feature types.",
)
DAT004 = define_rule(
    "DAT004", "unknown-extension-type", Severity.INFO,
    "A Parquet or Arrow column uses an extension type that is neither one of Arrow's canonical types nor one "
    "of datasets' own.",
    "pyarrow reads the storage type unless code registered the extension type; whatever registers it decides "
    "how the metadata is deserialised.",
    "Check which library defines the type before registering it.",
)

#: Extension types whose parameters are JSON or empty, deserialised without code (Arrow canonical types,
#: datasets' ArrayXD, GeoArrow).
_KNOWN_EXTENSIONS = frozenset({
    "arrow.fixed_shape_tensor", "arrow.variable_shape_tensor", "arrow.json", "arrow.uuid", "arrow.opaque",
    "arrow.bool8", "arrow.parquet.variant", "arrow.timestamp_with_offset",
    *(f"datasets.features.features.Array{n}DExtensionType" for n in range(2, 6)),
})
_PICKLED_EXTENSION = "arrow.py_extension_type"
#: datasets' feature registry (datasets.features.features._FEATURE_TYPES, datasets 2.x–5.x, plus older names).
_FEATURE_TYPES = frozenset({
    "Array2D", "Array3D", "Array4D", "Array5D", "Audio", "BioSequence", "BioStructure", "ClassLabel", "Image",
    "Json", "LargeList", "List", "Mesh", "Nifti", "Pdf", "Translation", "TranslationVariableLanguages", "Value",
    "Video", "Sequence",
})
#: Base classes of a datasets loading script's builder.
_BUILDER_BASES = frozenset({"GeneratorBasedBuilder", "ArrowBasedBuilder", "BeamBasedBuilder", "DatasetBuilder"})


def _looks_pickled(data: bytes) -> bool:
    """A protocol-2+ pickle starts with PROTO n; protocol 0/1 pickles of a class start with GLOBAL or MARK."""
    return (data[:1] == b"\x80" and data[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")) or data[:1] in (b"c", b"(")


# ---- schemas: extension types and features ------------------------------------------------------------


def _walk_features(value: Any, path: str, depth: int = 0) -> Iterator[tuple[str, str]]:
    """(where, type name) of every ``_type`` outside datasets' registry in a features document."""
    if depth > 64:
        raise AnalysisError("datasets features nest too deeply")
    if isinstance(value, dict):
        t = value.get("_type")
        if isinstance(t, str) and t not in _FEATURE_TYPES:
            yield path or "<features>", t
        for k, v in value.items():
            if k != "_type":
                yield from _walk_features(v, f"{path}.{k}" if path else str(k), depth + 1)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk_features(v, f"{path}[{i}]", depth + 1)


def _report_features(features: Any, ctx: ScanContext, where: str) -> None:
    for path, name in _walk_features(features, ""):
        ctx.report(DAT003, f"{where}: feature {path!r} has type {name!r}, which datasets does not ship")


def _huggingface_metadata(value: bytes, ctx: ScanContext) -> None:
    try:
        doc = json.loads(value.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise AnalysisError("the 'huggingface' schema metadata is not valid JSON") from None
    info = doc.get("info") if isinstance(doc, dict) else None
    if isinstance(info, dict) and "features" in info:
        ctx.saw_format("hf-dataset-features")
        _report_features(info["features"], ctx, "schema metadata")


def analyse_schema(schema: ArrowSchema, ctx: ScanContext) -> None:
    """Report pickled and unknown extension types and custom features of one Arrow schema."""
    for key, value in schema.metadata:
        if key == "huggingface":
            _huggingface_metadata(value, ctx)
        elif _looks_pickled(value) and key.startswith("ARROW:"):
            ctx.report(DAT002, f"schema metadata {key!r} holds a pickle")
            analyse_pickle_stream(io.BytesIO(value), ctx.child(f"<schema metadata {key}>"), trailing_ok=True)
    for f in schema.fields:
        raw = f.get("ARROW:extension:name")
        if raw is None:
            continue
        name = raw.decode("utf-8", "backslashreplace")
        meta = f.get("ARROW:extension:metadata") or b""
        if name == _PICKLED_EXTENSION or _looks_pickled(meta):
            ctx.report(DAT002, f"column {f.path!r}: extension type {name!r} is stored as a pickle "
                       f"({len(meta)} bytes) that is unpickled when the type is read")
            if meta:
                analyse_pickle_stream(io.BytesIO(meta), ctx.child(f"<column {f.path} extension type>"),
                                      trailing_ok=True)
        elif name not in _KNOWN_EXTENSIONS:
            ctx.report(DAT004, f"column {f.path!r}: extension type {name!r}")


class ParquetHandler:
    """Parquet files: the footer's key-value metadata (``ARROW:schema``, ``huggingface``) is analysed."""

    id = "parquet"
    priority = 15

    def sniff(self, probe: Probe) -> bool:
        return probe.head[:4] == b"PAR1" and probe.size >= 12

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        stream.seek(size - 8)
        tail = stream.read(8)
        if len(tail) < 8 or tail[4:] != b"PAR1":
            raise AnalysisError("truncated Parquet file: no footer magic at the end")
        n = int.from_bytes(tail[:4], "little")
        if n > min(size - 12, MAX_FOOTER_BYTES):
            raise AnalysisError(f"Parquet footer length {n} does not fit the file (or exceeds {MAX_FOOTER_BYTES})")
        stream.seek(size - 8 - n)
        footer = stream.read(n)
        if len(footer) < n:
            raise AnalysisError("truncated Parquet footer")
        for key, value in parquet_key_values(footer):
            if key == "ARROW:schema":
                try:
                    raw = base64.b64decode(value, validate=True)
                except (binascii.Error, ValueError):
                    raise AnalysisError("the Parquet 'ARROW:schema' metadata is not base64") from None
                analyse_schema(parse_encapsulated(raw, "Parquet ARROW:schema"), ctx)
            elif key == "huggingface":
                _huggingface_metadata(value, ctx)
            elif _looks_pickled(value):
                ctx.report(DAT002, f"Parquet metadata {key!r} holds a pickle")
                analyse_pickle_stream(io.BytesIO(value), ctx.child(f"<parquet metadata {key}>"), trailing_ok=True)


class ArrowHandler:
    """Arrow IPC files (``ARROW1``, feather v2) and streams (``datasets`` shards): the schema message only."""

    id = "arrow"
    priority = 15

    def sniff(self, probe: Probe) -> bool:
        return probe.head[:6] == b"ARROW1" or is_arrow_stream(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        head = stream.read(6)
        if head != b"ARROW1":
            analyse_schema(read_schema_message(stream, 0, size, "Arrow IPC stream schema"), ctx)
            return
        # A file has two schemas: the stream's first message and the footer's copy, which file readers use.
        # Both are read; a footer that says something else is analysed too (a benign first message must not
        # hide a pickled extension type in the footer).
        first = read_schema_message(stream, 8, size, "Arrow IPC file schema")
        footer = read_file_footer_schema(stream, size, "Arrow IPC file footer")
        analyse_schema(first, ctx)
        if footer != first:
            analyse_schema(footer, ctx.child("<footer schema>"))


# ---- datasets metadata files --------------------------------------------------------------------------


def _load_json(stream: BinaryIO, size: int, what: str) -> Any:
    if size > MAX_INFO_BYTES:
        raise AnalysisError(f"{what} of {size} bytes is larger than mlvet parses ({MAX_INFO_BYTES})")
    try:
        return json.loads(stream.read(size).decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise AnalysisError(f"{what} is not valid JSON") from None


class DatasetInfoHandler:
    """``dataset_info.json`` (save_to_disk, builders) and ``dataset_infos.json`` (one info per config)."""

    id = "hf-dataset-info"
    priority = 14

    def sniff(self, probe: Probe) -> bool:
        base = os.path.basename(probe.name)
        return base in ("dataset_info.json", "dataset_infos.json") and probe.head.lstrip()[:1] == b"{"

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        name = os.path.basename(ctx.members[-1] if ctx.members else ctx.path)
        doc = _load_json(stream, size, name)
        if not isinstance(doc, dict):
            raise AnalysisError(f"{name} is not a JSON object")
        infos = doc.values() if name == "dataset_infos.json" else (doc,)
        for info in infos:
            if isinstance(info, dict) and "features" in info:
                _report_features(info["features"], ctx, name)


class DatasetStateHandler:
    """``state.json`` of ``save_to_disk``: its data files must stay inside the dataset folder."""

    id = "hf-dataset-state"
    priority = 14

    def sniff(self, probe: Probe) -> bool:
        return os.path.basename(probe.name) == "state.json" and b'"_data_files"' in probe.head

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        doc = _load_json(stream, size, "state.json")
        files = doc.get("_data_files") if isinstance(doc, dict) else None
        if not isinstance(files, list):
            raise AnalysisError("state.json has no _data_files list")
        for entry in files:
            fn = entry.get("filename") if isinstance(entry, dict) else None
            if not isinstance(fn, str) or os.path.isabs(fn) or ".." in fn.replace("\\", "/").split("/"):
                raise AnalysisError(f"state.json names a data file outside the dataset folder: {fn!r}")


# ---- loading scripts ----------------------------------------------------------------------------------


def builder_classes(source: str, filename: str) -> list[str]:
    """Names of the classes in ``source`` that subclass a datasets builder (what load_dataset instantiates)."""
    tree = pyast.parse_source(source, filename)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""
                if name in _BUILDER_BASES:
                    out.append(node.name)
    return out


def _script_in_dataset_folder(path: str) -> bool:
    """The script ``load_dataset`` runs, by layout: ``<folder>/<folder>.py`` outside a model folder, or
    ``datasets--<org>--<name>/snapshots/<rev>/<name>.py`` in the Hub cache (the import may sit past the head)."""
    folder = os.path.dirname(os.path.abspath(path))
    stem = os.path.basename(path)[:-3]
    if stem == os.path.basename(folder) and model_folder_kind(folder) is None:
        return True
    snapshots = os.path.dirname(folder)
    repo = os.path.basename(os.path.dirname(snapshots))
    return (os.path.basename(snapshots) == "snapshots" and repo.startswith("datasets--")
            and repo.rsplit("--", 1)[-1] == stem)


class DatasetScriptHandler:
    """``.py`` files that are datasets loading scripts; any other ``.py`` goes to the model-code handler."""

    id = "hf-dataset-script"
    priority = 79  # before the model-folder Python handler (80), which it falls back to

    def sniff(self, probe: Probe) -> bool:
        if not probe.name.lower().endswith(".py") or not _is_text(probe.head):  # what the model-code handler claims
            return False
        path = getattr(probe.stream, "name", None)
        return b"datasets" in probe.head or (isinstance(path, str) and _script_in_dataset_folder(path))

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        if size > pyast.MAX_SOURCE_BYTES:
            raise AnalysisError(f"Python source of {size} bytes is larger than mlvet analyses")
        data = stream.read(size)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise AnalysisError("Python source is not UTF-8") from None
        name = os.path.basename(ctx.members[-1] if ctx.members else ctx.path)
        try:
            builders = builder_classes(text, name)
        except AnalysisError:
            builders = []
        by_layout = not ctx.members and _script_in_dataset_folder(ctx.path)
        if not builders and not by_layout:
            stream.seek(0)
            PythonHandler().scan(stream, size, ctx)
            return
        ctx.saw_format("hf-dataset-script")
        why = f"builder {', '.join(builders)}" if builders else "named after its dataset folder"
        ctx.report(DAT001, f"{name} is a datasets loading script ({why}): load_dataset runs it with "
                   "trust_remote_code=True")
        report_python(text, ctx, filename=name, imported=True)


register(ParquetHandler())
register(ArrowHandler())
register(DatasetInfoHandler())
register(DatasetStateHandler())
register(DatasetScriptHandler())
