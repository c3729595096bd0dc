"""The derivation's reachability logic, pinned on small synthetic packages (no ML library needed, fast).

Each test writes a few modules to a tmp folder, summarises them with the same code the real derivation uses
and asks the graph what reconstructing or calling a name reaches.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from mlvet.policy import Entry, Policy
from mlvet.policy.derive.audit import audit
from mlvet.policy.derive.collect import Library
from mlvet.policy.derive.facts import build
from mlvet.policy.derive.graph import Graph
from mlvet.policy.derive.sources import module_name
from mlvet.policy.derive.summarise import summarise
from mlvet.policy.derived import SINKS, LoadFacts, _Table


def _write(root: Path, files: dict[str, str]) -> dict[str, dict]:
    modules = {}
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        found = module_name(rel)
        assert found is not None
        modules[found[0]] = summarise(path.read_text(), found[0], found[1])
    return modules


def _sinks(bits: int) -> set[str]:
    return {s for i, s in enumerate(SINKS) if bits >> i & 1}


def _rec(g: Graph, mod: str, qual: str) -> set[str]:
    return _sinks(g.reach(("rec", mod, qual))[0])


def _call(g: Graph, mod: str, qual: str) -> set[str]:
    if g.cls(mod, qual) is not None:
        return _sinks(g.reach(("call", mod, qual))[0])
    return _sinks(g.reach(g._func_node(mod, qual, None))[0])


def test_inherited_setstate_dispatches_to_the_subclass_override(tmp_path: Path) -> None:
    g = Graph(_write(tmp_path, {"pkg/__init__.py": "", "pkg/base.py": """
        from os import system as s

        class Base:
            def __setstate__(self, state):
                self._restore(state)
            def _restore(self, state):
                self.__dict__.update(state)

        class Evil(Base):
            def _restore(self, state):
                s(state["cmd"])

        class Child(Evil):
            pass

        class Plain:
            def __init__(self, cmd):
                s(cmd)
        """}))
    assert _rec(g, "pkg.base", "Base") == set()
    assert _rec(g, "pkg.base", "Evil") == {"process"}
    assert _rec(g, "pkg.base", "Child") == {"process"}  # inherited __setstate__, override found through the MRO
    _bits, path = g.reach(("rec", "pkg.base", "Child"))
    assert path == "Child -> Base.__setstate__ -> Evil._restore -> os.system"
    # BUILD without __setstate__ only fills __dict__: __init__ is not reconstruction.
    assert _rec(g, "pkg.base", "Plain") == set()
    assert _call(g, "pkg.base", "Plain") == {"process"}


def test_aliases_and_reexports_resolve_to_the_sink(tmp_path: Path) -> None:
    g = Graph(_write(tmp_path, {
        "pkg/__init__.py": "from pkg.helpers import run_it as public\n",
        "pkg/helpers.py": """
            import os as o
            import subprocess
            from subprocess import Popen as P
            sysc = o.system

            def run_it(cmd):
                return sysc(cmd)

            def popen(cmd):
                return o.popen(cmd)

            def spawn(cmd):
                return P(cmd)

            def loader(data):
                import pickle as pk
                return pk.loads(data)
            """,
        "pkg/user.py": """
            from pkg import public

            def indirect(cmd):
                public(cmd)
            """}))
    assert _call(g, "pkg.helpers", "run_it") == {"process"}
    assert _call(g, "pkg.helpers", "popen") == {"process"}
    assert _call(g, "pkg.helpers", "spawn") == {"process"}
    assert _call(g, "pkg.helpers", "loader") == {"deserialize"}
    assert _call(g, "pkg.user", "indirect") == {"process"}
    assert g.reach(g._func_node("pkg.user", "indirect", None))[1] == "indirect -> run_it -> os.system"


def test_cycles_terminate_and_share_their_sinks(tmp_path: Path) -> None:
    g = Graph(_write(tmp_path, {"cyc.py": """
        def a(x):
            return b(x)

        def b(x):
            return c(x) or a(x)

        def c(x):
            return exec(x) if x else b(x)

        def p(x):
            return q(x)

        def q(x):
            return p(x)

        class Node:
            def __setstate__(self, s):
                self.visit(s)
            def visit(self, s):
                self.visit(s)
        """}))
    assert _call(g, "cyc", "a") == {"exec"}
    assert _call(g, "cyc", "b") == {"exec"}
    assert _call(g, "cyc", "c") == {"exec"}
    assert g.reach(g._func_node("cyc", "a", None))[1] == "a -> b -> c -> exec"
    assert _call(g, "cyc", "p") == set()
    assert _rec(g, "cyc", "Node") == set()


def test_unknown_receivers_are_not_sinks_but_sink_method_names_are(tmp_path: Path) -> None:
    g = Graph(_write(tmp_path, {"m.py": """
        import os

        def through_param(x):
            x.system("ls")          # an object the analysis cannot name: not followed

        def through_getattr():
            getattr(os, "system")("ls")   # reflective: not followed (documented under-approximation)

        def writes(path):
            path.write_text("x")    # a sink method name on any object

        def callback(xs):
            return list(map(eval, xs))  # a sink passed as a callable

        def type_check(x):
            import types
            return isinstance(x, types.FunctionType)  # a type passed to isinstance is not a call
        """}))
    assert _call(g, "m", "through_param") == set()
    assert _call(g, "m", "through_getattr") == set()
    assert _call(g, "m", "writes") == {"file-write"}
    assert _call(g, "m", "callback") == {"exec"}
    assert _call(g, "m", "type_check") == set()


def test_argument_dependent_sinks(tmp_path: Path) -> None:
    g = Graph(_write(tmp_path, {"io_user.py": """
        import numpy as np
        import yaml
        from builtins import open as _open

        def read(p):
            with open(p, "rb") as f:
                return f.read()

        def read_alias(p):
            return _open(p, "rb")

        def write(p):
            return open(p, mode="w")

        def any_mode(p, mode):
            return open(p, mode)

        def mm_read(p):
            return np.memmap(p, dtype="u1", mode="r")

        def mm_default(p):
            return np.memmap(p)

        def safe_yaml(s):
            return yaml.load(s, Loader=yaml.SafeLoader)

        def unsafe_yaml(s):
            return yaml.load(s, Loader=yaml.Loader)
        """}))
    assert _call(g, "io_user", "read") == set()
    assert _call(g, "io_user", "read_alias") == set()
    assert _call(g, "io_user", "write") == {"file-write"}
    assert _call(g, "io_user", "any_mode") == {"file-write"}
    assert _call(g, "io_user", "mm_read") == set()
    assert _call(g, "io_user", "mm_default") == {"file-write"}  # numpy.memmap defaults to r+
    assert _call(g, "io_user", "safe_yaml") == set()
    assert _call(g, "io_user", "unsafe_yaml") == {"deserialize"}


def test_super_metaclass_getattr_and_star_imports(tmp_path: Path) -> None:
    g = Graph(_write(tmp_path, {
        "lib/__init__.py": "from lib.core import *\n",
        "lib/core.py": """
            import importlib

            class Meta(type):
                def __call__(cls, *a):
                    importlib.import_module(a[0])

            class ViaMeta(metaclass=Meta):
                pass

            class Base:
                def __init__(self, src):
                    compile(src, "<x>", "exec")

            class Sub(Base):
                def __init__(self, src):
                    super().__init__(src)

            class Lazy:
                def __getattr__(self, name):
                    return __import__(name)

            class LazyButSet(Lazy):
                def __setstate__(self, state):
                    self.__dict__.update(state)
            """,
        "app.py": """
            from lib import Sub

            def make(src):
                return Sub(src)
            """}))
    assert _call(g, "lib.core", "ViaMeta") == {"import"}
    assert _call(g, "lib.core", "Sub") == {"exec"}
    assert _call(g, "app", "make") == {"exec"}
    # The loader probes for __setstate__: without one, __getattr__ runs during reconstruction.
    assert _rec(g, "lib.core", "Lazy") == {"import"}
    assert _rec(g, "lib.core", "LazyButSet") == set()


def test_barriers_stop_reviewed_internals_only_when_called_from_other_code(tmp_path: Path) -> None:
    g = Graph(_write(tmp_path, {
        "inspect.py": """
            def signature(obj):
                return eval(obj.__text_signature__)
            """,
        "user.py": """
            import inspect

            def describe(f):
                return inspect.signature(f)
            """}))
    assert _call(g, "user", "describe") == set()
    assert _call(g, "inspect", "signature") == {"exec"}  # its own facts are still derived


@pytest.fixture()
def table(tmp_path: Path) -> dict:
    mods = _write(tmp_path, {
        "pkg/__init__.py": "from pkg.impl import Runner, helper\nfrom os import system\n",
        "pkg/impl.py": """
            class Runner:
                class Options:
                    pass
                def __init__(self, cmd):
                    exec(cmd)

            def helper():
                return 1
            """})
    table, _graph = build([Library("pkg", "1.0", "wheel", mods)])
    return table


def test_packed_table_round_trips_through_lookup(table: dict) -> None:
    facts = _Table(table)
    runner = facts.get("pkg.impl", "Runner")
    assert runner == LoadFacts("pkg.impl", "Runner", "class", "pkg", (), ("exec",), "Runner -> Runner.__init__ -> exec")
    assert facts.get("pkg.impl", "Runner.Options") == LoadFacts("pkg.impl", "Runner.Options", "class", "pkg", (), ())
    assert facts.get("pkg.impl", "helper") == LoadFacts("pkg.impl", "helper", "function", "pkg", (), ())
    alias = facts.get("pkg", "Runner")  # a re-export answers with the facts of what it names
    assert alias is not None and alias.call == ("exec",) and alias.module == "pkg"
    assert facts.get("pkg", "system") is None  # re-exports from another library are not listed ...
    system = facts.get("os", "system")  # ... but the sink table's own names are
    assert system is not None and system.call == ("process",)
    assert facts.get("pkg.impl", "missing") is None
    assert _Table({"schema": 1, "names": {}}).get("pkg.impl", "Runner") is None


def test_audit_flags_a_safe_entry_that_reaches_a_sink(table: dict) -> None:
    policy = Policy(safe=(Entry("pkg.impl:[A-Z]*", "test", "test"), Entry("pkg.impl:helper", "test", "test")),
                    dangerous=())
    flags, uncovered = audit(policy, table)
    assert [(f.entry, f.name, f.how, f.sinks) for f in flags] == [
        ("pkg.impl:[A-Z]*", "pkg.impl:Runner", "call", ("exec",))]
    assert uncovered == []
    policy = Policy(safe=(Entry("pkg.impl:helper", "t", "t"), Entry("nothere:*", "t", "t")), dangerous=())
    assert audit(policy, table) == ([], ["nothere:*"])
    # A dangerous entry wins over a safe one: the name is not the safe tier's problem.
    policy = Policy(safe=(Entry("pkg.impl:*", "t", "t"),), dangerous=(Entry("pkg.impl:Runner", "t", "t"),))
    assert audit(policy, table)[0] == []


def test_imports_of_constant_names_are_the_librarys_choice(tmp_path: Path) -> None:
    g = Graph(_write(tmp_path, {"probe.py": """
        import importlib
        import importlib.util

        def fixed():
            return importlib.util.find_spec("torch") and importlib.import_module("torch.nn")

        def chosen(name):
            return importlib.import_module(name)

        def dunder(name):
            return __import__(name)
        """}))
    assert _call(g, "probe", "fixed") == set()
    assert _call(g, "probe", "chosen") == {"import"}
    assert _call(g, "probe", "dunder") == {"import"}


def test_star_import_rebinds_over_a_submodule_and_reexports_reach_the_definition(tmp_path: Path) -> None:
    # numpy's layout: numpy/_core/__init__.py does ``from .memmap import *``, so ``numpy._core.memmap`` is the
    # class, not the submodule; numpy/__init__.py re-exports it.
    mods = _write(tmp_path, {
        "npy/__init__.py": "from npy._core import memmap\n",
        "npy/_core/__init__.py": "from .memmap import *\n",
        "npy/_core/memmap.py": """
            __all__ = ["memmap"]

            class memmap:
                def __new__(subtype, filename, mode="r+"):
                    open(filename, mode + "b")
            """})
    table, _ = build([Library("npy", "1", "wheel", mods)])
    facts = _Table(table).get("npy", "memmap")
    assert facts is not None and facts.call == ("file-write",) and facts.reconstruct == ("file-write",)
    assert facts.path == "memmap -> memmap.__new__ -> open"
