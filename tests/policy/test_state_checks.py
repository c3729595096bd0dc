"""Reviewed state checks: SciPy distributions exec a template from their pickled state.

The derivation found it (``rv_generic.__setstate__ -> _attach_argparser_methods -> exec``); the check must
accept exactly what SciPy itself writes for every distribution it ships, and nothing with extra code.
"""

from __future__ import annotations

import pickle

import pytest

from mlvet.policy.state_checks import check_for, state_checks

st = pytest.importorskip("scipy.stats")

DISTRIBUTIONS = sorted(n for n in dir(st) if isinstance(getattr(st, n), (st.rv_continuous, st.rv_discrete)))


def test_every_scipy_distribution_template_has_the_shipped_shape() -> None:
    assert len(DISTRIBUTIONS) > 100
    (check,) = check_for("scipy.stats._continuous_distns", "norm_gen")
    for name in DISTRIBUTIONS:
        template = getattr(st, name).__getstate__()["_parse_arg_template"]
        assert check.accepts(template), name


@pytest.mark.parametrize("extra", [
    "\n__import__('os').system('id')\n",
    "import os\n",
])
def test_a_template_with_anything_else_is_refused(extra: str) -> None:
    (check,) = state_checks()
    good = st.norm.__getstate__()["_parse_arg_template"]
    assert not check.accepts(good + extra)
    assert not check.accepts(extra + good)
    assert not check.accepts(good.replace("loc=0, scale=1", "loc=__import__('os').system('id'), scale=1"))


def test_non_strings_are_never_executed_and_pass() -> None:
    (check,) = state_checks()
    assert check.accepts(None) and check.accepts(3)


def test_real_pickles_carry_the_template() -> None:
    # Guards the premise: if SciPy stopped pickling the template, the check would be checking nothing.
    assert b"_parse_arg_template" in pickle.dumps(st.gamma, protocol=4)


def _scan(tmp_path: object, data: bytes) -> list[tuple[str, str]]:
    import mlvet

    result = mlvet.scan_bytes(data, "model.pkl")
    return [(f.rule_id, f.severity.label) for f in result.findings]


@pytest.mark.parametrize("obj", ["norm", "gamma", "expon", "frozen_gamma", "poisson", "binom", "frozen_poisson"])
def test_real_scipy_distribution_pickles_are_quiet(tmp_path: object, obj: str) -> None:
    # Discrete distributions also pickle bound methods as getattr(dist, '_entropy') inside numpy.vectorize.
    frozen = {"frozen_gamma": lambda: st.gamma(2.0), "frozen_poisson": lambda: st.poisson(3.0)}
    value = frozen[obj]() if obj in frozen else getattr(st, obj)
    for protocol in (2, 4):
        found = _scan(tmp_path, pickle.dumps(value, protocol=protocol))
        assert not [f for f in found if f[1] in ("medium", "high", "critical")], (obj, found)


def test_a_distribution_carrying_code_in_its_template_is_critical(tmp_path: object) -> None:
    # What the derivation found and the live test proves: rebuilding runs exec(self._parse_arg_template).
    dist = type(st.norm)(name="norm")
    dist._parse_arg_template = st.norm.__getstate__()["_parse_arg_template"] + "\n__import__('os').getpid()\n"
    for protocol in (2, 4):
        found = _scan(tmp_path, pickle.dumps(dist, protocol=protocol))
        assert ("PKL114", "critical") in found, found


def test_a_bound_method_called_while_loading_still_alarms(tmp_path: object) -> None:
    # getattr(obj, 'name') alone is a lookup; calling its result during the load is a dynamic call.
    data = (b"\x80\x02cscipy.stats._discrete_distns\npoisson_gen\n)\x81q\x000"  # obj = poisson_gen(); memo 0
            b"cbuiltins\ngetattr\nh\x00X\x04\x00\x00\x00_pmf\x86R"  # getattr(obj, '_pmf')
            b")R.")  # ... called while loading
    import pickletools

    pickletools.dis(data, out=open("/dev/null", "w"))  # a valid stream, so the verdict is about the call
    found = _scan(tmp_path, data)
    assert any(sev in ("high", "critical") for _, sev in found), found
