"""SentencePiece tokenizer models (``tokenizer.model``, ``spiece.model``, ``sentencepiece.bpe.model``).

A SentencePiece model is one protobuf ``ModelProto``: the vocabulary as repeated ``SentencePiece`` messages
(piece text, score, type), then the trainer and normalizer specs (a precompiled character map, flags) and
optional self-test samples. The library loads pieces and normalisation tables into its own structures; no
field names code, a module or a file to open, so the format has no code path. The whole message is walked with
the bounded protobuf reader: every piece must be (string, float score, enum type) and every top-level field one
of the schema's, so damaged or foreign bytes are an error rather than a clean "tokenizer".
"""

from __future__ import annotations

from typing import BinaryIO

from mlvet.analysis.protowire import I32, LEN, VARINT, WireReader
from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register

#: ModelProto fields: pieces, trainer_spec, normalizer_spec, self_test_data, denormalizer_spec.
_TOP = {1: LEN, 2: LEN, 3: LEN, 4: LEN, 5: LEN}
#: SentencePiece fields: piece, score, type.
_PIECE = {1: LEN, 2: I32, 3: VARINT}
_EXTENSIONS = 200


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    out = shift = 0
    while i < len(buf) and shift < 35:
        b = buf[i]
        out |= (b & 0x7F) << shift
        i += 1
        if not b & 0x80:
            return out, i
        shift += 7
    return -1, i


def looks_like_sentencepiece(head: bytes) -> bool:
    """The first field is a piece message whose first field is the piece text followed by its float score."""
    if head[:1] != b"\x0a":
        return False
    n, i = _varint(head, 1)
    if not 2 <= n < 1 << 16 or head[i : i + 1] != b"\x0a":
        return False
    plen, j = _varint(head, i + 1)
    if plen < 0 or j + plen >= len(head):
        return False
    return head[j + plen : j + plen + 1] == b"\x15" and j + plen + 5 <= i + n


class SentencePieceHandler:
    """SentencePiece ``ModelProto``: every piece and top-level field checked; the format carries no code."""

    id = "sentencepiece"
    priority = 44

    def sniff(self, probe: Probe) -> bool:
        return looks_like_sentencepiece(probe.head)

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        reader = WireReader(stream, size, what="SentencePiece model")
        pieces = 0
        for f in reader.fields(reader.root()):
            want = _TOP.get(f.number)
            if want is None and f.number < _EXTENSIONS:
                raise AnalysisError(f"malformed SentencePiece model: unknown field {f.number} at byte {f.offset}")
            if want is not None and f.wire != want:
                raise AnalysisError(f"malformed SentencePiece model: field {f.number} has wire type {f.wire} "
                                    f"at byte {f.offset}")
            if f.number == 1:
                pieces += 1
                for p in reader.fields(reader.message(f)):
                    kind = _PIECE.get(p.number)
                    if kind is not None and p.wire != kind:
                        raise AnalysisError(f"malformed SentencePiece model: piece field {p.number} has wire "
                                            f"type {p.wire} at byte {p.offset}")
            elif f.number in (2, 3, 5):
                for _ in reader.fields(reader.message(f)):
                    pass
        if not pieces:
            raise AnalysisError("malformed SentencePiece model: no pieces")


register(SentencePieceHandler())
