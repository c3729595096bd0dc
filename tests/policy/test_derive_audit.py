"""The safe-tier audit against facts derived from the pinned libraries' source.

``test_rederived_safe_tier_reaches_no_sink`` re-derives everything from the pinned wheels (downloaded into
the wheel cache when absent; PyPI is reachable in CI) and fails when a name the shipped safe tier admits can
reach a sink, or when the shipped ``derived.json`` is not what the pinned source gives. The other tests read
the shipped table, which that test keeps honest.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from importlib import resources

import pytest

from mlvet.policy import Entry, default_policy
from mlvet.policy.derive import derive
from mlvet.policy.derive.__main__ import dump
from mlvet.policy.derive.audit import audit
from mlvet.policy.derive.sources import read_pins
from mlvet.policy.derived import _Table


def _shipped() -> dict:
    raw = resources.files("mlvet.policy").joinpath("derived.json").read_text(encoding="utf-8")
    return json.loads(raw)


@pytest.mark.slow
def test_rederived_safe_tier_reaches_no_sink(capsys: pytest.CaptureFixture[str]) -> None:
    start = time.monotonic()
    result = derive(jobs=2, log=lambda m: print(m, file=sys.stderr))
    elapsed = time.monotonic() - start
    with capsys.disabled():
        print(f"\nderivation: {elapsed:.1f}s")
    problems = []
    flags, _uncovered = audit(default_policy(), result.table)
    if flags:
        problems.append(f"{len(flags)} safe-tier names can reach a sink, e.g.:\n"
                        + "\n".join(str(f) for f in flags[:40]))
    shipped = _shipped()
    pins = {p.library: p.version for p in read_pins()}
    assert {k: v for k, v in result.table["libraries"].items() if k != "stdlib"} == pins
    if shipped["libraries"].get("stdlib") == result.table["libraries"]["stdlib"]:
        if dump(shipped) != dump(result.table):
            problems.append("derived.json is stale: run `python -m mlvet.policy.derive --write`")
    assert not problems, "\n\n".join(problems)


def test_audit_names_reduce_graph_module_with_an_exec_path() -> None:
    base = default_policy()
    entry = Entry("torch.fx.graph_module:reduce_graph_module", "test: a copy of the safe tier", "test")
    # The shipped policy denies it (dangerous beats safe); the copy takes that out too, as on main before.
    policy = dataclasses.replace(base, safe=(*[e for e in base.safe if "graph_module" not in e.pattern], entry),
                                 dangerous=tuple(e for e in base.dangerous if "graph_module" not in e.pattern))
    flags, _ = audit(policy, _shipped())
    hits = [f for f in flags if f.name == "torch.fx.graph_module:reduce_graph_module"]
    assert hits, "the audit must flag reduce_graph_module"
    assert hits[0].entry == entry.pattern and "exec" in hits[0].sinks
    assert hits[0].path.startswith("reduce_graph_module -> ") and hits[0].path.endswith("-> exec")
    # Without the entry, the name is not admitted and not reported.
    policy = dataclasses.replace(base, safe=tuple(e for e in base.safe if "graph_module" not in e.pattern))
    assert not [f for f in audit(policy, _shipped())[0] if "reduce_graph_module" in f.name]


@pytest.mark.parametrize(("module", "qualname", "how", "sink"), [
    ("torch.fx.graph_module", "reduce_graph_module", "call", "exec"),
    ("numpy", "memmap", "call", "file-write"),
    ("scipy.io", "FortranFile", "call", "file-write"),
    ("numpy.lib._npyio_impl", "load", "call", "deserialize"),
    ("os", "system", "call", "process"),
    ("subprocess", "Popen", "call", "process"),
    ("builtins", "eval", "call", "exec"),
])
def test_shipped_facts_name_the_known_gadgets(module: str, qualname: str, how: str, sink: str) -> None:
    facts = _Table(_shipped()).get(module, qualname)
    assert facts is not None
    assert sink in getattr(facts, how), facts


@pytest.mark.parametrize(("module", "qualname"), [
    ("collections", "OrderedDict"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("datetime", "timedelta"),
    ("torch.nn.modules.linear", "Linear"),
])
def test_shipped_facts_leave_plain_rebuilds_clean(module: str, qualname: str) -> None:
    facts = _Table(_shipped()).get(module, qualname)
    assert facts is not None, f"{module}:{qualname} not derived"
    assert facts.reconstruct == () and facts.call == (), facts
