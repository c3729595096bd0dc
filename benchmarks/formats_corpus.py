"""Labelled corpus of the committed non-pickle fixtures, and the big sparse inputs, for run_formats.py.

Labels come from how the fixtures were made, never from what any scanner says about them.  The rule
for each format is written out in ``_RULES`` (and copied into the results file) so a reader can check
it against ``tests/assets/make_<fmt>.py``:

* a *unit* is what a user would hand a scanner: one file, or one folder where the format is a folder
  (SavedModel, Keras 3 unzipped folder, ONNX model + external data, Hugging Face repo, MLflow model);
* malformed-structure fixtures (parser attacks: huge counts, overflowing sizes, overlapping spans)
  count as malicious, as they exist to crash or mislead a loader;
* fixtures whose generator puts them with the attacks but which carry no load-time harm are labelled
  ``ambiguous``: they are scanned and shown, but left out of the detection/false-alarm counts;
* everything else under the format folders is listed as excluded, with the reason.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Label = Literal["malicious", "benign", "ambiguous"]

REPO = Path(__file__).resolve().parent.parent
ASSETS = REPO / "tests" / "assets"
FORMATS: tuple[str, ...] = ("keras", "tensorflow", "onnx", "gguf", "safetensors", "hf", "skops", "pmml", "mlflow",
                             # issue 12: the long tail, container images, architectural backdoors
                             "formats_data", "longtail", "rdata", "code_formats", "templates", "tf_meta",
                             "images", "lightning", "llama_legacy", "backdoor")
MB = 1 << 20
GIB = 1 << 30

_RULES: dict[str, str] = {
    "keras": "units are the entries of keras/benign/ and keras/malicious/ (files; the unzipped Keras 3 "
    "folders k3_folder/ and folder_model/ as one folder each); label = that parent folder "
    "(matches keras/MANIFEST.json)",
    "tensorflow": "units are the top-level entries (SavedModel folders as folders); name contains 'benign' "
    "-> benign, else malicious (the BENIGN / MALICIOUS lists of tests/formats/test_tensorflow.py)",
    "onnx": "units are top-level entries (external-data models as their folder); made by benign() / "
    "torch_exports() in make_onnx.py -> benign; made by malicious() -> malicious, except the three "
    "listed as ambiguous",
    "gguf": "units are top-level *.gguf; name starts 'benign_' (write_benign / benign_from_bytes) -> "
    "benign; key of malicious_fixtures() in make_gguf.py (attacks and malformed structure) -> malicious",
    "safetensors": "name starts 'benign_' (written by the safetensors library) -> benign; key of "
    "malicious_fixtures() in make_safetensors.py (malformed / hidden pickle) -> malicious",
    "hf": "each repo folder is one unit; all benign (make_hf.py: written by transformers save_pretrained; "
    "the remote code is harmless)",
    "skops": "every file in skops/MANIFEST.json, benign (written by skops.io.dump)",
    "pmml": "every file in pmml/MANIFEST.json, benign (written by nyoka)",
    "mlflow": "each model folder is one unit; all benign (written by mlflow save_model from harmless models)",
    "formats_data": "entries of formats_data/benign/ and formats_data/malicious/ (make_formats_data.py); "
    "label = that folder",
    "rdata": "entries of rdata/benign/ and rdata/malicious/ (make_rdata.py); label = that folder",
    "code_formats": "top-level files (make_code_formats.py); name contains 'benign' or is the tgz copy of the "
    "benign handler -> benign, else malicious (os_system / eval / subprocess / evil payloads)",
    "templates": "top-level files (make_templates.py); name contains 'ssti' -> malicious, else benign",
    "tf_meta": "top-level files (make_tf_meta.py); name contains 'benign' -> benign, else malicious",
    "images": "top-level entries (make_images.py; OCI folders and Ollama stores as folders); name contains "
    "'tampered' -> malicious (a blob that does not match its digest), else benign",
    "lightning": "top-level files (make_lightning.py, written by lightning 2.6); 'benign_' -> benign, else "
    "malicious",
    "llama_legacy": "top-level files (make_llama_legacy.py); 'benign' -> benign; malformed headers, "
    "out-of-bounds tensors and the template-injection llamafile -> malicious",
    "backdoor": "top-level files (make_backdoor.py); 'benign_' -> benign; 'trigger_' (a trigger branch "
    "bypassing the model body) -> malicious; 'outlier_weights' -> ambiguous",
    "longtail": "units are the entries of longtail/benign/<format>/ (an .mlpackage as one folder) -> benign, and "
    "of longtail/malicious/ -> malicious (make_longtail.py), except the custom-operator/class name fixtures "
    "listed as ambiguous (they name app-registered code; nothing in the file runs)",
}

#: Generator lists these with the attacks, but loading them does nothing harmful.
_AMBIGUOUS: dict[str, str] = {
    "onnx/contrib_op.onnx": "legitimate onnxruntime contrib op (com.microsoft FusedGemm)",
    "onnx/ext_missing": "external-data file that does not exist: broken, not an attack",
    "onnx/code_in_doc_string.onnx": "code-like text in doc_string, inert on load",
    **{f"formats_data/malicious/{name}": "names app-registered code (ONNX Runtime custom-domain op, MATLAB "
       "class); nothing in the file runs"
       for name in ("custom_domain.ort", "subgraph_custom_domain.ort", "object.mat")},
    **{f"longtail/malicious/{name}": "names app-registered code (custom op/layer/class); nothing in the file runs"
       for name in ("coreml_custom_layer_shell.mlmodel", "coreml_custom_model_download.mlmodel",
                    "coreml_pipeline_nested_custom.mlmodel", "mxnet_custom_op-symbol.json",
                    "openvino_custom_layer.xml", "openvino_custom_layer.bin", "paddle_custom_op_exec.pdmodel",
                    "paddle_pir_custom_op.json", "executorch_custom_op.pte", "executorch_unknown_backend.pte",
                    "torch7_foreign_class.t7", "tensorrt_plugin_path.plan")},
}


@dataclass(frozen=True)
class Unit:
    """One scan target with its label."""

    fmt: str
    rel: str  # relative to tests/assets
    label: Label
    note: str = ""

    @property
    def path(self) -> Path:
        return ASSETS / self.rel


def rules() -> dict[str, str]:
    return dict(_RULES)


def _generated_names(script: str) -> set[str]:
    """File names a generator's ``malicious_fixtures()`` writes, read from its source as text.

    Reading (rather than importing) keeps the harness free of the generators' optional imports.
    """
    src = (ASSETS / script).read_text(encoding="utf-8")
    body = src.split("def malicious_fixtures", 1)[1].split("\ndef ", 1)[0]
    return set(re.findall(r'out\["([^"]+)"\]', body))


def _all_files(fmt: str) -> set[str]:
    return {str(p.relative_to(ASSETS)) for p in (ASSETS / fmt).rglob("*") if p.is_file()}


def _covered(units: list[Unit], files: set[str]) -> set[str]:
    """Files that lie inside (or are) a unit."""
    done: set[str] = set()
    for f in files:
        for u in units:
            if f == u.rel or f.startswith(u.rel + "/"):
                done.add(f)
                break
    return done


def _units_keras() -> list[Unit]:
    out = []
    for label in ("benign", "malicious"):
        for p in sorted((ASSETS / "keras" / label).iterdir()):
            out.append(Unit("keras", str(p.relative_to(ASSETS)), label))
    return out


def _units_tensorflow() -> list[Unit]:
    return [
        Unit("tensorflow", f"tensorflow/{p.name}", "benign" if "benign" in p.name else "malicious")
        for p in sorted((ASSETS / "tensorflow").iterdir())
    ]


def _units_onnx() -> list[Unit]:
    benign = {"benign.onnx", "benign_external", "local_function.onnx", "torch_legacy.onnx", "torch_dynamo"}
    out = []
    for p in sorted((ASSETS / "onnx").iterdir()):
        rel = f"onnx/{p.name}"
        if rel in _AMBIGUOUS:
            out.append(Unit("onnx", rel, "ambiguous", _AMBIGUOUS[rel]))
        else:
            out.append(Unit("onnx", rel, "benign" if p.name in benign else "malicious"))
    return out


def _units_longtail() -> list[Unit]:
    out = [Unit("longtail", str(p.relative_to(ASSETS)), "benign")
           for d in sorted((ASSETS / "longtail" / "benign").iterdir()) for p in sorted(d.iterdir())]
    for p in sorted((ASSETS / "longtail" / "malicious").iterdir()):
        rel = str(p.relative_to(ASSETS))
        out.append(Unit("longtail", rel, "ambiguous", _AMBIGUOUS[rel]) if rel in _AMBIGUOUS
                   else Unit("longtail", rel, "malicious"))
    return out


def _units_generated(fmt: str, script: str, suffix: str) -> list[Unit]:
    attacks = _generated_names(script)
    out = []
    for p in sorted((ASSETS / fmt).glob(f"*{suffix}")):
        if p.name.startswith("benign_"):
            out.append(Unit(fmt, f"{fmt}/{p.name}", "benign"))
        elif p.name in attacks:
            out.append(Unit(fmt, f"{fmt}/{p.name}", "malicious"))
    return out


def _units_manifest(fmt: str) -> list[Unit]:
    import json

    files = json.loads((ASSETS / fmt / "MANIFEST.json").read_text(encoding="utf-8"))["files"]
    return [Unit(fmt, f"{fmt}/{name}", "benign") for name in sorted(files)]


def _units_folders(fmt: str, skip: tuple[str, ...] = ()) -> list[Unit]:
    return [
        Unit(fmt, f"{fmt}/{p.name}", "benign")
        for p in sorted((ASSETS / fmt).iterdir())
        if p.is_dir() and p.name not in skip
    ]


def _units_split(fmt: str) -> list[Unit]:
    """Formats whose generator writes ``benign/`` and ``malicious/`` folders: one unit per entry."""
    out: list[Unit] = []
    for label in ("benign", "malicious"):
        folder = ASSETS / fmt / label
        if folder.is_dir():
            for p in sorted(folder.iterdir()):
                rel = str(p.relative_to(ASSETS))
                if p.name != "MANIFEST.json":
                    out.append(Unit(fmt, rel, "ambiguous", _AMBIGUOUS[rel]) if rel in _AMBIGUOUS
                               else Unit(fmt, rel, label))
    return out


def _units_named(fmt: str, benign: tuple[str, ...], ambiguous: dict[str, str] | None = None) -> list[Unit]:
    """Top-level entries labelled by their generator's naming: a ``benign`` marker, else an attack."""
    out: list[Unit] = []
    if not (ASSETS / fmt).is_dir():
        return out
    for p in sorted((ASSETS / fmt).iterdir()):
        if p.name == "MANIFEST.json":
            continue
        rel = f"{fmt}/{p.name}"
        note = next((why for key, why in (ambiguous or {}).items() if key in p.name), None)
        if note is not None:
            out.append(Unit(fmt, rel, "ambiguous", note))
        else:
            out.append(Unit(fmt, rel, "benign" if any(m in p.name for m in benign) else "malicious"))
    return out


def build() -> tuple[list[Unit], list[tuple[str, str]]]:
    """All units, and the (path, reason) of every committed file that is in no unit."""
    units: list[Unit] = [
        *_units_keras(),
        *_units_tensorflow(),
        *_units_onnx(),
        *_units_generated("gguf", "make_gguf.py", ".gguf"),
        *_units_generated("safetensors", "make_safetensors.py", ".safetensors"),
        *_units_folders("hf", skip=("remote_code_src",)),
        *_units_manifest("skops"),
        *_units_manifest("pmml"),
        *_units_folders("mlflow"),
        *_units_split("formats_data"),
        *_units_longtail(),
        *_units_split("rdata"),
        *_units_named("code_formats", ("benign", "tiny_tgz")),
        *_units_named("templates", ("chatml.j2", "prompt_jinja2.yaml", "tokenizer_config_nested.json")),
        *_units_named("tf_meta", ("benign",)),
        *_units_named("images", ("benign", "docker_oci")),
        *_units_named("lightning", ("benign_",)),
        *_units_named("llama_legacy", ("benign",)),
        *_units_named("backdoor", ("benign_",),
                      {"outlier_weights": "weight-statistics heuristic (low by design): a signal, not an attack"}),
    ]
    reasons = {
        "MANIFEST.json": "fixture manifest, not a model",
        "keras/marshal/": "marshal test vectors for the Lambda decoder, not model files",
        "gguf/templates/": "standalone chat templates (.jinja/.md), not model files; their content is "
        "exercised inside GGUF units",
        "hf/remote_code_src/": "generator sources, copied into hf/tiny-remote-code (which is scanned)",
    }
    excluded: list[tuple[str, str]] = []
    for fmt in FORMATS:
        if not (ASSETS / fmt).is_dir():
            continue
        files = _all_files(fmt)
        for f in sorted(files - _covered(units, files)):
            why = next((r for k, r in reasons.items() if k in f), "no label rule covers it")
            excluded.append((f, why))
    return units, excluded


def summarise_excluded(excluded: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Collapse the excluded files per (folder, reason) so the table stays short."""
    groups: dict[tuple[str, str], int] = {}
    for f, why in excluded:
        folder = f.rsplit("/", 1)[0] + "/" if "/" in f else f
        if why == "no label rule covers it":
            folder = f
        groups[(folder, why)] = groups.get((folder, why), 0) + 1
    return [(f"{folder} ({n} file{'s' if n != 1 else ''})", why) for (folder, why), n in sorted(groups.items())]


# --------------------------------------------------------------------------------------------------
# Big sparse inputs: the generators write only the header and extend the file with truncate/seek.
# --------------------------------------------------------------------------------------------------


def _load(path: Path, name: str) -> object:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass(frozen=True)
class BigInput:
    fmt: str
    path: Path
    size: int
    note: str


def make_big_inputs(out_dir: Path, sizes: tuple[int, ...]) -> list[BigInput]:
    """Write (or reuse) safetensors, GGUF and ONNX inputs of each size; all sparse on disk."""
    out_dir.mkdir(parents=True, exist_ok=True)
    st = _load(ASSETS / "make_safetensors.py", "_bench_make_safetensors")
    gg = _load(ASSETS / "make_gguf.py", "_bench_make_gguf")
    onnx_test = REPO / "tests" / "formats" / "test_onnx.py"
    import sys

    if str(onnx_test.parent) not in sys.path:  # test_onnx imports its protobuf helpers from tests/formats/_support
        sys.path.insert(0, str(onnx_test.parent))
    onnx = _load(onnx_test, "_bench_test_onnx")  # make_big_onnx lives with its test; imports mlvet + pytest
    out: list[BigInput] = []
    for size in sizes:
        tag = f"{size // MB}MB" if size < GIB else f"{size / GIB:g}GiB"
        jobs = (
            ("safetensors", f"big_{tag}.safetensors", st.make_big_safetensors, size, "benign, one tensor"),  # type: ignore[attr-defined]
            ("gguf", f"big_{tag}.gguf", gg.make_big_gguf, size, "benign, one F32 tensor"),  # type: ignore[attr-defined]
            (
                "onnx",
                f"big_{tag}.onnx",
                onnx.make_big_onnx,  # type: ignore[attr-defined]
                size / GIB,
                "custom-domain node after the blob",
            ),
        )
        for fmt, name, maker, arg, note in jobs:
            path = out_dir / name
            if not path.exists():
                maker(path, arg)
            out.append(BigInput(fmt, path, path.stat().st_size, note))
    return out
