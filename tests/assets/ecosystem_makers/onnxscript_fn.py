"""An onnxscript function for the ONNX fixtures.

Kept apart from formats_family.py because onnxscript resolves the annotations at decoration time, which
``from __future__ import annotations`` (used by every other maker) turns into unresolvable strings.
"""

from onnxscript import FLOAT, script
from onnxscript import opset17 as op


@script()
def gelu_ish(X: FLOAT[...]) -> FLOAT[...]:  # type: ignore[type-arg]
    """x * sigmoid(1.702 x), the usual GELU approximation."""
    return op.Mul(X, op.Sigmoid(op.Mul(X, op.Constant(value_float=1.702))))
