"""A fact the derivation found, proved on the real loader: reconstructing a SciPy distribution runs ``exec``.

``rv_generic.__setstate__`` updates ``__dict__`` from the pickle and then ``exec``s
``self._parse_arg_template`` — a string the pickle just supplied. Every ``scipy.stats.*:*_gen`` class is in
the shipped safe tier, so a pickle that only *reconstructs* one (``copyreg._reconstructor`` + ``BUILD``, no
call of anything dangerous) runs code. The derived facts say so; this test loads such a pickle in a
subprocess and checks that the code really ran.
"""

from __future__ import annotations

import copyreg
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from mlvet.policy import default_policy
from mlvet.policy.derived import lookup

scipy_stats = pytest.importorskip("scipy.stats._continuous_distns")


class _Reconstruct:
    """Pickles as ``copyreg._reconstructor(norm_gen, object, None)`` followed by BUILD with ``state``."""

    def __init__(self, state: dict[str, str]) -> None:
        self.state = state

    def __reduce__(self) -> tuple[object, ...]:
        return (copyreg._reconstructor, (scipy_stats.norm_gen, object, None), self.state)


@pytest.mark.live
def test_scipy_distribution_reconstruction_executes_pickled_source(tmp_path: Path) -> None:
    facts = lookup("scipy.stats._continuous_distns", "norm_gen")
    assert facts is not None and "exec" in facts.reconstruct
    assert facts.reconstruct_path.endswith("_attach_argparser_methods -> exec")
    assert default_policy().classify("scipy.stats._continuous_distns", "norm_gen").tier.value == "safe"

    marker = tmp_path / "ran"
    source = f"open({str(marker)!r}, 'w').write('x')\n" + "".join(
        f"def {n}(*a, **k): pass\n" for n in ("_parse_args", "_parse_args_stats", "_parse_args_rvs"))
    payload = tmp_path / "dist.pkl"
    payload.write_bytes(pickle.dumps(_Reconstruct({"_parse_arg_template": source}), protocol=2))
    code = "import pickle, sys\ntry:\n    pickle.load(open(sys.argv[1], 'rb'))\nexcept Exception:\n    pass\n"
    subprocess.run([sys.executable, "-c", code, str(payload)], check=True, timeout=120, capture_output=True)
    assert marker.read_text() == "x"
