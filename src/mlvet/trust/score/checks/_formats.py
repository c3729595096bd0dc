"""How safe each serialization format is to load, as the scanner names formats (``FileResult.format``).

Shared by the serialization-format and unsafe-duplicates checks. Scores are per file, before findings:
data-only formats (safetensors, GGUF, ONNX …) cannot run code when parsed; the pickle family runs
whatever the file says on load, so even a file whose references are all in the safe tier stays near the
bottom — the format, not this file's current content, is what a loader trusts.
"""

from __future__ import annotations

from mlvet.catalogue import CATALOGUE, FormatId
from mlvet.model import FileResult, Severity

F = FormatId
#: Score of each weight format (0-10) before findings; which family a format is in comes from the catalogue.
_SCORES: dict[FormatId, int] = {
    F.SAFETENSORS: 10, F.GGUF: 10, F.ONNX: 10, F.TFLITE: 9, F.NUMPY_NPY: 9, F.NUMPY_NPZ: 9, F.PMML: 8,
    F.KERAS: 7, F.KERAS_H5: 6, F.HDF5: 6, F.SKOPS: 7, F.TF_SAVEDMODEL: 6, F.TF_GRAPHDEF: 6,
    F.PYTORCH_ZIP: 3, F.PYTORCH_PT2: 3, F.PYTORCH_LEGACY: 2, F.PYTORCH_LEGACY_TAR: 2, F.PICKLE: 2,
    F.COMPRESSED: 2, F.TORCHSCRIPT: 1,
    # Issue 12 long-tail formats: parsed data; msgpack lower (srsly unpickles msgpack-numpy object arrays).
    F.ORT: 10, F.CATBOOST: 9, F.XGBOOST: 9, F.LIGHTGBM: 9, F.FASTTEXT: 9, F.WORD2VEC: 9, F.ORBAX_OCDBT: 9,
    F.MATLAB: 8, F.MSGPACK: 7,
    # Long-tail formats (issue 12, fmt-new): opaque vendor engines and Lua bytecode containers rank low.
    F.COREML: 7, F.MXNET_PARAMS: 9, F.MXNET_SYMBOL: 7, F.CNTK: 5, F.PADDLE_PROGRAM: 6, F.PADDLE_PARAMS: 9,
    F.OPENVINO_IR: 8, F.TENSORRT_ENGINE: 4, F.EXECUTORCH: 8, F.RKNN: 5, F.TORCH7: 2,
}


def _family(family: str) -> dict[str, int]:
    return {e.id.value: _SCORES[e.id] for e in CATALOGUE.values() if e.family == family}


#: Formats that hold no code: loading parses data.
SAFE_FORMATS = _family("data")
#: Formats that describe a graph or layers the loader rebuilds; code paths exist but are named, not arbitrary.
GRAPH_FORMATS = _family("graph")
#: The pickle family: loading executes the stream.
PICKLE_FORMATS = _family("code")
WEIGHT_FORMATS = {**SAFE_FORMATS, **GRAPH_FORMATS, **PICKLE_FORMATS}
_NUMPY = frozenset({F.NUMPY_NPY, F.NUMPY_NPZ})
#: Keras Lambda layers carry marshalled bytecode that runs when the model is called.
_LAMBDA_RULES = frozenset({"KER400", "TFG507"})
_UNKNOWN_CALL_RULES = frozenset({"PKL110", "PKL111", "KER402", "TFG508", "OTH002"})


def is_weight_file(res: FileResult) -> bool:
    """True for files that hold a model (weights or graph) rather than configs, text or code."""
    return res.format in WEIGHT_FORMATS


def is_pickle_family(res: FileResult) -> bool:
    """True for the pickle family, and NumPy files that carry a pickle (object arrays)."""
    return res.format in PICKLE_FORMATS or (res.format in _NUMPY and FormatId.PICKLE in res.formats_seen)


def format_score(res: FileResult) -> tuple[int, str]:
    """(score 0–10, short explanation) for one weight file."""
    fmt = res.format
    rules = {f.rule_id for f in res.findings}
    if fmt in _NUMPY and FormatId.PICKLE in res.formats_seen:
        return 1, "NumPy object array: a pickle inside, run by np.load(allow_pickle=True)"
    if fmt in SAFE_FORMATS:
        return SAFE_FORMATS[fmt], f"{fmt}: data only, no code runs when it is parsed"
    if fmt in GRAPH_FORMATS:
        if rules & _LAMBDA_RULES:
            return 1, f"{fmt} with a Lambda layer: marshalled Python bytecode runs when the model is used"
        if rules & _UNKNOWN_CALL_RULES:
            return max(GRAPH_FORMATS[fmt] - 2, 0), f"{fmt} naming custom objects that the loader must import"
        return GRAPH_FORMATS[fmt], f"{fmt}: a layer/graph description; the loader rebuilds named components"
    base = PICKLE_FORMATS[fmt]
    worst = max((f.severity for f in res.findings), default=Severity.NONE)
    if worst >= Severity.HIGH:
        return 0, f"{fmt}: a pickle-based format, and this file uses it to reach dangerous code"
    if rules & _UNKNOWN_CALL_RULES:
        return max(base - 2, 0), f"{fmt}: a pickle-based format that references callables outside the safe tier"
    return base, f"{fmt}: a pickle-based format; loading it runs whatever the stream says (torch.load, pickle)"
