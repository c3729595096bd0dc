"""Archives whose Python source runs when the model loads: torch.package, TorchServe ``.mar``, MLflow in a tar.

These are ordinary zips and tars by their bytes; what makes them code is a layout the loader follows:

* **torch.package** (``PackageExporter``): a zip ``<name>/.data/version``, ``.data/extern_modules``, pickles
  and the *interned* modules' ``.py`` source. ``PackageImporter.load_pickle`` imports those modules from the
  archive (module-level code runs) to rebuild the pickled objects; extern modules come from the system.
* **TorchServe ``.mar``** (``torch-model-archiver``): ``MAR-INF/MANIFEST.json`` names the handler (a ``.py`` in
  the archive, or a built-in handler) and the model file; TorchServe imports the handler and every module it
  imports from the archive when the model is registered.
* **MLflow model folder in a tar**: ``MLmodel`` puts a ``code`` folder on ``sys.path`` and imports the
  ``loader_module`` (or runs ``model_code_path``) from it; on disk :mod:`mlvet.formats.hf` finds those files by
  folder, inside an archive this layout does.

The ``.py`` members such a loader imports are analysed statically here (:mod:`mlvet.analysis.pyast`, as code
run at import time); shipping code is reported once, at low severity, so a reviewer knows the model is code;
dangerous calls get the Python engine's own severity. Pickles and weights in the archive are scanned by content
as usual. Nothing is imported, unpickled or executed.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Callable
from typing import Any

from mlvet.containers.zipread import ZipArchive, ZipFormatError, ZipLimitError
from mlvet.errors import AnalysisError
from mlvet.formats.base import ScanContext
from mlvet.formats.code_findings import report_python
from mlvet.formats.tar import register_tar_layout
from mlvet.formats.zip import register_zip_layout
from mlvet.model import Severity
from mlvet.rules import define_rule

#: Largest ``.py`` member analysed (larger source is an error, never skipped silently).
MAX_SOURCE_BYTES = 4 * 1024 * 1024
#: Largest manifest / MLmodel read.
MAX_META_BYTES = 1024 * 1024
#: Python members analysed per archive (the rest make the result an error).
MAX_MODULES = 512
#: TorchServe's own handlers, named by bare word in MANIFEST.json (no code in the archive).
_TS_BUILTIN = frozenset({
    "image_classifier", "image_segmenter", "object_detector", "text_classifier", "base_handler",
    "vision_handler", "text_handler", "dali_image_classifier",
})

OTH053 = define_rule(
    "OTH053", "torch-package-source", Severity.LOW,
    "A torch.package archive carries the Python source of the modules it interned; PackageImporter imports "
    "them (their module-level code runs) to rebuild the pickled model.",
    "A package is code, not data: loading it runs the shipped modules with your privileges. mlvet analyses "
    "the source; dangerous calls are reported with their own rules and severities.",
    "Review the shipped modules (the findings list each dangerous call); prefer a state_dict or safetensors "
    "with model code you control.",
    94,
)
OTH054 = define_rule(
    "OTH054", "torchserve-handler-code", Severity.LOW,
    "A TorchServe model archive (.mar) ships a Python handler that TorchServe imports when the model is "
    "registered, with the other modules of the archive.",
    "The handler runs inside the model server with its privileges; mlvet analyses its source and reports "
    "dangerous calls with their own rules and severities.",
    "Review the handler and extra files before registering the archive; prefer TorchServe's built-in handlers.",
    94,
)
OTH055 = define_rule(
    "OTH055", "archive-loader-code", Severity.LOW,
    "An MLflow model stored in an archive ships Python modules that mlflow imports while loading it (the "
    "flavour's code folder, loader_module or model_code_path script).",
    "mlflow.pyfunc.load_model puts the code folder on sys.path and imports the loader module: its "
    "module-level code runs. mlvet analyses the source; dangerous calls are reported with their own rules.",
    "Review the shipped modules before loading the model.",
    94,
)

Reader = Callable[[str, int], "bytes | None"]


def _analyse_sources(paths: list[str], read: Reader, ctx: ScanContext, *, imported: bool) -> list[str]:
    """Run the Python engine on each member (as imported code); returns those with findings at medium+."""
    dangerous: list[str] = []
    for name in paths[:MAX_MODULES]:
        sub = ctx.child(name)
        raw = read(name, MAX_SOURCE_BYTES)
        if raw is None or len(raw) > MAX_SOURCE_BYTES:
            sub.error(f"Python source over {MAX_SOURCE_BYTES} bytes or unreadable: not analysed")
            continue
        try:
            found = report_python(raw.decode("utf-8", "replace"), sub, filename=posixpath.basename(name),
                                  imported=imported)
        except AnalysisError as exc:
            sub.error(f"Python source not analysed: {exc}")
            continue
        sub.saw_format("python")
        if any(f.severity >= Severity.MEDIUM for f in found):
            dangerous.append(name)
    if len(paths) > MAX_MODULES:
        ctx.error(f"{len(paths) - MAX_MODULES} Python member(s) beyond the limit of {MAX_MODULES} not analysed")
    return dangerous


def _listing(names: list[str], n: int = 5) -> str:
    shown = ", ".join(names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


# ---- torch.package -------------------------------------------------------------------------------------


def _package_root(names: list[str]) -> str | None:
    """The archive's top folder when it is a torch.package (``<root>/.data/version`` and ``extern_modules``)."""
    for n in names:
        if n.endswith("/.data/version"):
            root = n[: -len(".data/version")]
            if f"{root}.data/extern_modules" in names:
                return root
    return None


def analyse_torch_package(names: list[str], read: Reader, ctx: ScanContext) -> set[str]:
    """Report the interned source of a torch.package archive; returns the ``.py`` members analysed."""
    root = _package_root(names) or ""
    sources = [n for n in names if n.startswith(root) and n.endswith(".py") and "/.data/" not in f"/{n}"]
    raw = read(f"{root}.data/extern_modules", MAX_META_BYTES) or b""
    extern = [m for m in raw.decode("utf-8", "replace").split() if m][:20]
    modules = [n[len(root):-3].replace("/", ".") for n in sources]
    dangerous = _analyse_sources(sources, read, ctx, imported=True)
    if sources:
        tail = f"; dangerous calls in {_listing(dangerous)}" if dangerous else "; no dangerous call found"
        ctx.report(OTH053, f"torch.package interns {len(sources)} Python module(s) that PackageImporter imports "
                   f"when the model is loaded: {_listing(modules)}{tail}",
                   evidence=f"extern modules: {', '.join(extern)}" if extern else "")
    return set(sources)


# ---- TorchServe .mar ------------------------------------------------------------------------------------


def _mar_manifest(names: list[str]) -> str | None:
    return next((n for n in names if n == "MAR-INF/MANIFEST.json" or n.endswith("/MAR-INF/MANIFEST.json")), None)


def analyse_mar(names: list[str], read: Reader, ctx: ScanContext) -> set[str]:
    """Report a TorchServe archive's handler and analyse every ``.py`` member TorchServe can import."""
    manifest = _mar_manifest(names) or ""
    base = manifest[: -len("MAR-INF/MANIFEST.json")]
    doc: Any = None
    raw = read(manifest, MAX_META_BYTES)
    try:
        doc = json.loads(raw.decode("utf-8-sig")) if raw is not None else None
    except (ValueError, RecursionError):
        doc = None
    model = doc.get("model") if isinstance(doc, dict) else None
    if not isinstance(model, dict):
        ctx.child(manifest).error("TorchServe MANIFEST.json is unreadable or has no 'model' object")
        model = {}
    handler = str(model.get("handler") or "")
    sources = [n for n in names if n.startswith(base) and n.endswith(".py")]
    dangerous = _analyse_sources(sources, read, ctx, imported=True)
    module = handler.split(":", 1)[0]
    builtin = module in _TS_BUILTIN or module.startswith("ts.")
    shipped = f"{base}{module}" if module.endswith(".py") else f"{base}{module}.py"
    what = (f"built-in handler {handler!r}" if builtin
            else f"handler {handler!r} ({'shipped' if shipped in names else 'NOT in the archive'})")
    tail = f"; dangerous calls in {_listing(dangerous)}" if dangerous else "; no dangerous call found"
    if sources or not builtin:
        ctx.report(OTH054, f"TorchServe archive: {what}; {len(sources)} Python module(s) imported when the model "
                   f"is registered{tail}", evidence=f'"handler": "{handler[:200]}"')
    return set(sources)


# ---- MLflow model folder inside an archive --------------------------------------------------------------


def _mlflow_code(mlmodel: bytes) -> list[str]:
    """Code folders and scripts (relative to the MLmodel's folder) that loading the model imports or runs."""
    from mlvet.formats.mlflow import parse_yaml

    try:
        doc = parse_yaml(mlmodel.decode("utf-8", "replace"), "MLmodel")
    except AnalysisError:
        return []
    flavors = doc.get("flavors") if isinstance(doc, dict) else None
    out: list[str] = []
    for spec in flavors.values() if isinstance(flavors, dict) else ():
        if isinstance(spec, dict):
            code = spec.get("code")
            if isinstance(code, str) and code:
                out.append(code.strip("/"))
            script = spec.get("model_code_path")
            if isinstance(script, str) and script:
                out.append(posixpath.basename(script.replace("\\", "/")))
    return out


def analyse_mlflow_archive(names: list[str], read: Reader, ctx: ScanContext) -> set[str]:
    """Analyse, as imported code, the ``.py`` members under the code paths of each MLmodel in the archive."""
    handled: set[str] = set()
    for mlmodel in [n for n in names if posixpath.basename(n) == "MLmodel"]:
        folder = posixpath.dirname(mlmodel)
        raw = read(mlmodel, MAX_META_BYTES)
        if raw is None:
            continue
        prefixes = [posixpath.normpath(posixpath.join(folder, c)) for c in _mlflow_code(raw)]
        sources = [
            n for n in names if n.endswith(".py") and n not in handled
            and any(posixpath.normpath(n) == p or posixpath.normpath(n).startswith(p + "/") for p in prefixes)
        ]
        if not sources:
            continue
        dangerous = _analyse_sources(sources, read, ctx, imported=True)
        handled.update(sources)
        tail = f"; dangerous calls in {_listing(dangerous)}" if dangerous else "; no dangerous call found"
        ctx.report(OTH055, f"MLflow model {mlmodel}: mlflow imports {len(sources)} shipped Python module(s) while "
                   f"loading it: {_listing(sources)}{tail}", evidence=mlmodel)
    return handled


# ---- registration with the zip and tar handlers --------------------------------------------------------

_Analyser = Callable[[list[str], Reader, ScanContext], set[str]]


class _ZipCode:
    """The zip face of a code layout (:class:`mlvet.formats.zip.ZipLayout`)."""

    def __init__(self, layout_id: str, match: Callable[[list[str]], bool], analyse: _Analyser, opaque: bool) -> None:
        self.id = layout_id
        self.opaque_members = opaque
        self._match = match
        self._analyse = analyse

    def matches(self, names: list[str], archive: ZipArchive) -> bool:
        return self._match(names)

    def analyse(self, archive: ZipArchive, ctx: ScanContext) -> set[str]:
        return self._analyse([m.name for m in archive.members], _zip_reader(archive), ctx)


class _TarCode:
    """The tar face of a code layout (:class:`mlvet.formats.tar.TarLayout`)."""

    def __init__(self, layout_id: str, match: Callable[[list[str]], bool], analyse: _Analyser) -> None:
        self.id = layout_id
        self._match = match
        self._analyse = analyse

    def matches(self, names: list[str]) -> bool:
        return self._match(names)

    def analyse(self, names: list[str], read: Reader, ctx: ScanContext) -> set[str]:
        return self._analyse(names, read, ctx)


def _zip_reader(archive: ZipArchive) -> Reader:
    def read(name: str, limit: int) -> bytes | None:
        member = next((m for m in reversed(archive.members) if m.name == name), None)
        if member is None:
            return None
        try:
            return archive.read(member, limit)
        except (ZipFormatError, ZipLimitError):
            return None

    return read


def _is_mlflow(names: list[str]) -> bool:
    return any(posixpath.basename(n) == "MLmodel" for n in names) and any(n.endswith(".py") for n in names)


def _is_nemo(names: list[str]) -> bool:
    return any(posixpath.basename(n) == "model_config.yaml" for n in names) and any(
        n.endswith((".ckpt", ".pt")) for n in names)


def _mark_nemo(names: list[str], read: Reader, ctx: ScanContext) -> set[str]:
    """A NeMo ``.nemo``: its model_config.yaml is scanned by content (Hydra targets); nothing handled here."""
    return set()


_LAYOUTS: list[tuple[str, Callable[[list[str]], bool], _Analyser, bool]] = [
    ("nemo", _is_nemo, _mark_nemo, False),
    ("torch-package", lambda names: _package_root(names) is not None, analyse_torch_package, True),
    ("torchserve-mar", lambda names: _mar_manifest(names) is not None, analyse_mar, False),
    ("mlflow-archive", _is_mlflow, analyse_mlflow_archive, False),
]
for _id, _match, _analyse, _opaque in _LAYOUTS:
    register_zip_layout(_ZipCode(_id, _match, _analyse, _opaque))
    register_tar_layout(_TarCode(_id, _match, _analyse))
