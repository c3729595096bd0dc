"""Gradient-boosting models in their native formats: XGBoost (UBJSON, JSON, legacy binary) and LightGBM text.

``Booster.save_model`` writes trees, split conditions and a few parameter strings; ``Booster.load_model`` and
``lightgbm.Booster(model_file=...)`` parse them into native structures. No field names a callable, a module or
a file, and custom objectives are never saved, so these formats have no code path: they are data. What is
checked is that a file really is such a model (an XGBoost document whose top level holds ``learner`` and
``version``; a LightGBM text model that reaches its ``end of trees`` marker), parsed with bounded readers, so
damaged or foreign bytes are an error. A "model" that is really a pickle (``joblib.dump`` under a ``.bst`` or
``.txt`` name) is recognised as a pickle by its content before these handlers are asked, and analysed as one.

* XGBoost ``.ubj``/``.json`` (1.6+ default formats): the document is walked; numeric arrays are skipped.
* XGBoost legacy binary (``.bst``/``.model`` before 2.0, optionally prefixed ``binf``): a 136-byte
  ``LearnerModelParam``, then the objective and booster names as length-prefixed strings; the tree data that
  follows is opaque numbers and is not read.
* LightGBM text (``save_model``): ``tree`` / ``version=v<N>`` header lines, ``key=value`` lines, the trees.
"""

from __future__ import annotations

import json
import re
import struct
from typing import BinaryIO

from mlvet.containers.ubjson import UbjsonError, parse
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register

#: What follows an object's ``{``: a key length's integer marker, or a count/type (``#``, ``$``).
_UBJ_KEY_MARKERS = b"iUIlL#$"
_LEGACY_PARAM = 136
_BOOSTERS = frozenset({"gbtree", "gblinear", "dart"})
_OBJECTIVE = re.compile(r"\A[a-z]+:[a-z_:]+\Z")
_MAX_JSON = 512 << 20
_LGB_MARKERS = (b"end of trees", b"\nparameters:", b"end of parameters")
_LGB_HEADER = re.compile(rb"\Atree\r?\nversion=v\d+\r?\n")


def _ubj_head(h: bytes) -> bool:
    """``{``, a key length (or an object count), then the object ``learner``: XGBoost's first key."""
    if h[:1] != b"{" or len(h) < 12 or h[1] not in _UBJ_KEY_MARKERS:
        return False
    return b"\x07learner{" in h[:48]


def _json_head(h: bytes) -> bool:
    text = h.lstrip(b" \t\r\n")
    return text[:1] == b"{" and re.match(rb'\{\s*"learner"\s*:\s*\{', text) is not None


def _legacy_strings(h: bytes) -> tuple[str, str] | None:
    """(objective, booster) of a legacy binary model, or None if ``h`` does not start like one."""
    pos = 4 if h[:4] == b"binf" else 0
    pos += _LEGACY_PARAM
    out: list[str] = []
    for _ in range(2):
        if len(h) < pos + 8:
            return None
        (n,) = struct.unpack("<Q", h[pos : pos + 8])
        if not 0 < n <= 64 or len(h) < pos + 8 + n:
            return None
        try:
            out.append(h[pos + 8 : pos + 8 + n].decode("ascii"))
        except UnicodeDecodeError:
            return None
        pos += 8 + n
    objective, booster = out
    if booster not in _BOOSTERS or not _OBJECTIVE.match(objective):
        return None
    return objective, booster


class XGBoostHandler:
    """XGBoost models (UBJSON, JSON, legacy binary): structure checked; the formats carry no code."""

    id = "xgboost"
    priority = 60

    def sniff(self, probe: Probe) -> bool:
        h = probe.head
        return _ubj_head(h) or _json_head(h) or _legacy_strings(h) is not None

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        head = stream.read(4096)
        stream.seek(0)
        if _ubj_head(head):
            try:
                doc = parse(stream, size)
            except UbjsonError as exc:
                raise AnalysisError(f"malformed XGBoost UBJSON model: {exc}") from None
        elif _json_head(head):
            if size > _MAX_JSON:
                raise AnalysisError(f"XGBoost JSON model of {size} bytes is larger than {_MAX_JSON} (not analysed)")
            try:
                doc = json.loads(stream.read(size))
            except (ValueError, RecursionError) as exc:
                raise AnalysisError(f"malformed XGBoost JSON model: {exc}") from None
        else:
            if _legacy_strings(head) is None:  # pragma: no cover - sniff guarantees it
                raise AnalysisError("not an XGBoost model")
            return
        if not isinstance(doc, dict) or not isinstance(doc.get("learner"), dict) or "version" not in doc:
            raise AnalysisError("malformed XGBoost model: no learner/version at the top level")


class LightGBMHandler:
    """LightGBM text models: header checked, read to the ``end of trees`` marker; the format carries no code."""

    id = "lightgbm"
    priority = 60

    def sniff(self, probe: Probe) -> bool:
        return _LGB_HEADER.match(probe.head) is not None

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        carry = b""
        pos = 0
        seen: set[bytes] = set()
        while pos < size:
            chunk = stream.read(min(1 << 20, size - pos))
            if not chunk:
                break
            pos += len(chunk)
            if b"\x00" in chunk:
                raise AnalysisError(f"malformed LightGBM model: NUL byte in the text before byte {pos}")
            window = carry + chunk
            seen.update(m for m in _LGB_MARKERS if m in window)
            carry = window[-24:]
        # save_model ends with a newline; its parameter block, when present, with an end marker.
        if b"end of trees" not in seen or not carry.endswith(b"\n") or (
                b"\nparameters:" in seen and b"end of parameters" not in seen):
            raise AnalysisError("malformed LightGBM model: the text ends before its last section (truncated)")


register(XGBoostHandler())
register(LightGBMHandler())
