"""Sanity checks for the malicious-sample builder itself (not for the scanner).

Why: regression tests for every bypass technique are built on ``build_all()``; if the builder
became non-deterministic, imported an ML framework, or silently dropped a technique, those tests
would pass or fail for the wrong reason.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import build_malicious  # noqa: E402

# Technique ids that must always be represented (py7zr/lz4-dependent ones are optional).
REQUIRED_TECHNIQUES = {
    "PKL-GLOBAL-DIRECT",
    "PKL-PROTOCOL-VARIANT",
    "PKL-MODULE-ALIAS",
    "PKL-CALL-INST",
    "PKL-CALL-OBJ",
    "PKL-CALL-NEWOBJ",
    "PKL-CALL-NEWOBJ-EX",
    "PKL-BUILD-SETSTATE",
    "PKL-STACK-GLOBAL-MEMO",
    "PKL-STACK-GLOBAL-COMPUTED",
    "PKL-DOTTED-ATTR-PATH",
    "PKL-EXT-REGISTRY",
    "PKL-BUILD-STATE",
    "PKL-STRING-ESCAPE",
    "PKL-BROKEN-STREAM",
    "PKL-MULTI-STREAM",
    "PKL-FRAME-STRADDLE",
    "PKL-PROTO-PLACEMENT",
    "PKL-NESTED",
    "TORCH-ZIP-DATA-PKL",
    "TORCH-ZIP-OTHER-MEMBER",
    "ZIP-BAD-CRC",
    "ZIP-FLAG-BITS",
    "ZIP-DATA-DESCRIPTOR",
    "ZIP-NAME-MISMATCH",
    "ZIP-DUPLICATE-NAME",
    "ZIP-EXTRA-FIELD",
    "ZIP-CORRUPT-SIBLING",
    "ZIP-PREFIX",
    "ZIP-POLYGLOT-PREFIX",
    "ZIP-EOCD-CONFUSION",
    "TORCH-LEGACY-STREAM",
    "TORCH-LEGACY-TAR",
    "NUMPY-OBJECT-ARRAY",
    "NUMPY-NPZ",
    "JOBLIB-COMPRESSED",
    "JOBLIB-INLINE-PICKLE",
    "ARCHIVE-NESTED",
    "FMT-EXTENSION-MISMATCH",
    "GADGET-CODE-EXEC",
    "GADGET-PROCESS",
    "GADGET-FILESYSTEM",
    "GADGET-NETWORK",
    "GADGET-IMPORT",
    "GADGET-ATTR-INDIRECTION",
    "GADGET-NATIVE",
    "GADGET-DELAYED",
}


def test_build_is_deterministic_and_well_formed() -> None:
    first = build_malicious.build_all()
    second = build_malicious.build_all()
    assert [(s.name, s.data) for s in first] == [(s.name, s.data) for s in second]
    names = [s.name for s in first]
    assert len(names) == len(set(names))
    for s in first:
        assert s.data and s.filename and s.expect_callable and s.technique and s.note
        assert "/" not in s.filename
    assert REQUIRED_TECHNIQUES <= {s.technique for s in first}


def test_builder_imports_no_ml_framework() -> None:
    code = (
        f"import sys; sys.path.insert(0, {str(HERE)!r}); import build_malicious as b; b.build_all(); "
        "bad = [m for m in ('torch', 'numpy', 'joblib', 'dill', 'pandas') if m in sys.modules]; "
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_write_all_layout(tmp_path: Path) -> None:
    paths = build_malicious.write_all(tmp_path)
    assert len(paths) == len(build_malicious.build_all())
    assert all(p.is_file() and p.parent.parent == tmp_path for p in paths)
