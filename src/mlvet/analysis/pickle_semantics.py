"""Rank each name a pickle references by what the loader will do with it.

Why not the tier list alone: most names in real files are in neither tier, and the same unknown name can be
harmless or an attack depending on how the stream uses it. The symbolic machine records every use, so the
rank follows load semantics:

* **import** - the name is stored as a value and never called: loading only imports its module;
* **reconstruct** - ``NEWOBJ``/``NEWOBJ_EX``, ``copyreg._reconstructor``/``__newobj__``, ``__new__`` +
  ``BUILD``, the instance's own ``append``/``__setitem__``, an enum looked up by value: the loader runs the
  class's own ``__new__``/``__setstate__``, never a callable of the file's choosing with the file's data;
* **call** - ``REDUCE``/``INST``/``OBJ``: the callable runs with arguments chosen by the file.

Combined with where the name lives and what the arguments look like (``mlvet.policy.semantics``), and with
facts derived from the libraries' own source when they exist (``mlvet.policy.derived``). The result is data
(:class:`Judgement`); ``mlvet.formats.pickle`` reports it. Work is per distinct name, never per opcode.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from mlvet.analysis.pickle_args import MAX_EXAMINED, all_plain, leaves, shape_of
from mlvet.analysis.pickle_stream import StreamAnalysis
from mlvet.analysis.values import NUMBER, Call, Global, PDict, iter_symbols, render
from mlvet.model import Severity
from mlvet.policy import Policy, Tier, Verdict, normalise_module
from mlvet.policy import derived as derived_facts
from mlvet.policy.semantics import Location, Semantics, Shape, default_semantics

_IDENT = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
#: Sinks that make a reachable call critical rather than high.
_GRAVE_SINKS = frozenset({"exec", "process", "deserialize", "native"})


class Usage(IntEnum):
    IMPORT = 0
    RECONSTRUCT = 1
    CALL = 2


@dataclass(frozen=True)
class Judgement:
    """One finding the format layer should report (``severity`` None: the rule's own severity)."""

    rule_id: str
    message: str
    offset: int
    opcode_index: int
    evidence: str
    severity: Severity | None = None


@dataclass
class Judged:
    """Everything the format layer needs from the ranking of one stream."""

    findings: list[Judgement] = field(default_factory=list)
    #: ids of Global references in the dangerous tier that stay dangerous (for PKL102 argument checks).
    dangerous_refs: set[int] = field(default_factory=set)
    #: ids of Global references outside the safe tier (bytes handed to them are followed as pickles).
    unsafe_refs: set[int] = field(default_factory=set)
    #: ids of Calls whose result is a plain type or class (dill's _load_type('list') ...): calling that
    #: result is not a dynamic call of unknown code.
    benign_calls: set[int] = field(default_factory=set)


@dataclass
class _Use:
    """How one distinct name is used in the stream."""

    refs: list[Global]
    calls: list[Call] = field(default_factory=list)
    reconstructions: list[Call] = field(default_factory=list)
    how: str = ""


def judge(res: StreamAnalysis, policy: Policy, sem: Semantics | None = None) -> Judged:
    """Rank every distinct name the stream references."""
    sem = sem or default_semantics()
    out = Judged()
    uses: dict[tuple[str, str], _Use] = {}
    for g in res.globals:
        use = uses.get((g.module, g.name))
        if use is None:
            uses[(g.module, g.name)] = use = _Use([])
        use.refs.append(g)
    by_id = {id(g): uses[(g.module, g.name)] for g in res.globals}
    _helper_uses(res, policy, sem, by_id)
    for (module, name), use in uses.items():
        if module.startswith("<"):
            out.unsafe_refs.update(id(g) for g in use.refs)
            continue
        verdict = policy.classify(module, name)
        _classify_use(use, sem, enum_ok=verdict.tier is not Tier.DANGEROUS)
        canonical = normalise_module(module, policy.aliases)
        qualified = f"{canonical}:{name}"
        if verdict.tier is Tier.SAFE and verdict.use == "rebuild" and use.calls:
            # The entry trusts the class for rebuilding objects only: a call with the file's arguments runs
            # its __init__ (or more), so it is judged like any unknown call (derived facts first).
            verdict = Verdict(Tier.UNKNOWN, verdict.qualified,
                              f"the policy trusts it for rebuilding objects only ({verdict.entry})")
        if verdict.tier is Tier.SAFE:
            _judge_safe(use, verdict, qualified, policy, sem, out)
            continue
        out.unsafe_refs.update(id(g) for g in use.refs)
        if verdict.tier is Tier.DANGEROUS:
            _judge_dangerous(use, verdict, qualified, policy, sem, out, res)
        else:
            _judge_unknown(use, verdict, canonical, name, policy, sem, out)
    return out


# ---- usage ------------------------------------------------------------------------------------------------


def _helper_uses(res: StreamAnalysis, policy: Policy, sem: Semantics, by_id: dict[int, _Use]) -> None:
    """Classes and callables handed to safe helpers are reconstructed or called by them."""
    helpers: dict[tuple[str, str], tuple[bool, Any]] = {}  # per distinct callee, not per call
    for call in res.calls:
        func = call.func
        if type(func) is not Global or call.kind != "call" or type(call.args) is not tuple:
            continue
        known = helpers.get((func.module, func.name))
        if known is None:
            recon_entry = sem.reconstructor(f"{normalise_module(func.module, policy.aliases)}:{func.name}")
            safe = policy.classify(func.module, func.name).tier is Tier.SAFE
            helpers[(func.module, func.name)] = known = (safe or recon_entry is not None, recon_entry)
        relevant, recon = known
        if not relevant or not any(type(a) is Global for a in call.args):
            continue
        positions = range(min(2, len(call.args))) if recon is None else range(len(call.args))
        for i in positions:
            arg = call.args[i]
            if type(arg) is not Global or arg is func:
                continue
            use = by_id.get(id(arg))
            if use is None:
                continue
            if recon is not None and i in recon.reconstruct:
                use.reconstructions.append(call)
                use.how = use.how or f"{func.dotted} ({recon.reason})"
            elif recon is None or i in recon.call:
                use.calls.append(call)


_SCALARS = (int, float, bool, type(None))


def _enum_like(g: Global, call: Call, sem: Semantics) -> bool:
    """``Cls(value)`` with one plain scalar: how enums (and value types) pickle; a lookup, not a call."""
    last = g.name.rpartition(".")[2].lstrip("_")
    args = call.args
    if not last[:1].isupper() or call.kwargs is not None or type(args) is not tuple or len(args) != 1:
        return False
    value = args[0]
    if type(value) in _SCALARS or value is NUMBER:
        return True
    return type(value) is str and len(value) <= 64 and sem.text_shape(value) is Shape.PLAIN


def _classify_use(use: _Use, sem: Semantics, *, enum_ok: bool) -> None:
    for g in use.refs:
        for c in g.invocations:
            if c.kind == "build" and g.opcode == "EXT":
                continue
            if c.kind == "call" and c.func is g and not (enum_ok and _enum_like(g, c, sem)):
                use.calls.append(c)
            else:
                use.reconstructions.append(c)


def _usage(use: _Use) -> Usage:
    if use.calls:
        return Usage.CALL
    return Usage.RECONSTRUCT if use.reconstructions else Usage.IMPORT


def _first(use: _Use) -> tuple[int, int, str]:
    invoked = use.calls or use.reconstructions
    if not invoked:
        g = use.refs[0]
        return g.offset, g.opcode_index, f"import {g.dotted}"
    c = invoked[0]
    return c.offset, c.opcode_index, render(c)


def _times(use: _Use) -> str:
    """How many objects or calls (a BUILD of the same object is not counted again)."""
    n = sum(1 for c in use.calls + use.reconstructions if c.kind != "build")
    more = "+" if any(g.calls_seen > Global.MAX_KEPT for g in use.refs) else ""
    return f" ({n}{more} times)" if n > 1 or more else ""


# ---- the three tiers ---------------------------------------------------------------------------------------


def _mode_and_effect(use: _Use, qualified: str, sem: Semantics, out: Judged) -> bool:
    """Argument-aware rules that apply to a call whatever its tier; True when one reported."""
    if not use.calls:
        return False
    rule = sem.mode_rule(qualified)
    if rule is not None:
        for call in use.calls[:MAX_EXAMINED]:
            mode = _argument(call, rule.arg, rule.keyword)
            mode = rule.default if mode is None else mode
            writes = type(mode) is not str or mode in rule.write
            sev = rule.severity if writes else rule.otherwise
            effect = "opens a file for writing" if writes else "opens a file read-only"
            out.findings.append(Judgement(
                "PKL113",
                f"calls {qualified.replace(':', '.')} with mode {render(mode, 20)}: the loader {effect} at the "
                f"path the file chose ({rule.reason}); ranked {sev.label}",
                call.offset, call.opcode_index, render(call), sev))
            if writes:
                return True
        return True
    effect_rule = sem.call_effect(qualified)
    if effect_rule is not None:
        c = use.calls[0]
        out.findings.append(Judgement(
            "PKL113",
            f"calls {qualified.replace(':', '.')}: {effect_rule.reason}; reconstruction alone would not, so the "
            f"call is ranked {effect_rule.severity.label}",
            c.offset, c.opcode_index, render(c), effect_rule.severity))
        return True
    return False


def _argument(call: Call, index: int, keyword: str) -> Any:
    if call.kwargs is not None and type(call.kwargs) is PDict:
        for k, v in call.kwargs:
            if k == keyword:
                return v
    args = call.args
    if type(args) is tuple and len(args) > index:
        return args[index]
    return None


def _judge_safe(use: _Use, verdict: Verdict, qualified: str, policy: Policy, sem: Semantics, out: Judged) -> None:
    if not use.calls or _mode_and_effect(use, qualified, sem, out) or _memory(use, qualified, policy, sem, out):
        return
    if not verdict.entry or not set(verdict.entry) & set("*?["):
        return  # an exact entry vouches for calls too (tensor rebuilds, numpy reconstruction ...)
    # A glob over a library's classes vouches for rebuilding them; a call with arguments from the file is
    # another matter when those arguments are paths, URLs, commands, code, or callables it may invoke.
    shape, shown = shape_of(use.calls, policy, sem, qualified.partition(":")[2])
    location = sem.locate(qualified.partition(":")[0])
    if shape >= Shape.PATH:
        sev = sem.severity(location, shape)
        c = use.calls[0]
        out.findings.append(Judgement(
            "PKL113",
            f"calls {verdict.qualified}{_times(use)} with {shape.label}: the policy trusts this class to be "
            f"rebuilt ({verdict.entry}), not to be called with such arguments, which can make it read, write, "
            f"download or run what they name; ranked {sev.label}",
            c.offset, c.opcode_index, shown or render(c), sev))
        return
    handed = _unknown_callables(use.calls, policy)
    if handed:
        c = use.calls[0]
        out.findings.append(Judgement(
            "PKL113",
            f"calls {verdict.qualified} with {handed}, a callable the policy does not know: constructors "
            "such as LambdaLR call what they are given, so the file chooses code to run; ranked high",
            c.offset, c.opcode_index, render(c), Severity.HIGH))


def _unknown_callables(calls: list[Call], policy: Policy) -> str:
    for call in calls[:MAX_EXAMINED]:
        for v in leaves((call.args, call.kwargs)):
            if type(v) is Global and policy.classify(v.module, v.name).tier is Tier.UNKNOWN:
                return v.dotted
    return ""


def _memory(use: _Use, qualified: str, policy: Policy, sem: Semantics, out: Judged) -> bool:
    """bytes(n), list(range(n)) ... with a huge n: the loader allocates what the file asks for."""
    if qualified not in sem.memory_materialise and qualified not in sem.memory_sized:
        return False
    for call in use.calls[:MAX_EXAMINED]:
        args = call.args
        if type(args) is not tuple or not args:
            continue
        first = args[0]
        n = None
        if qualified in sem.memory_sized and (first is NUMBER or (type(first) is int and first > sem.memory_limit)):
            n = first
        elif type(first) is Call and type(first.func) is Global and type(first.args) is tuple and (
            f"{normalise_module(first.func.module, policy.aliases)}:{first.func.name}" in sem.memory_ranges
        ):
            big = [a for a in first.args if a is NUMBER or (type(a) is int and abs(a) > sem.memory_limit)]
            n = big[0] if big else None
        if n is not None:
            size = "a number too large for a 4-byte integer" if n is NUMBER else f"{n:,} items"
            out.findings.append(Judgement(
                "PKL209",
                f"calls {qualified.replace(':', '.')} to build a value of {size}: the loader allocates it while "
                "loading (a memory denial of service built from trusted callables)",
                call.offset, call.opcode_index, render(call), Severity.HIGH))
            return True
    return False


def _judge_dangerous(
    use: _Use, verdict: Verdict, qualified: str, policy: Policy, sem: Semantics, out: Judged, res: StreamAnalysis
) -> None:
    usage = _usage(use)
    invoked = use.calls + use.reconstructions
    if verdict.entry != "reflective" and _benign_dangerous(use, usage, verdict, qualified, policy, sem, out, res):
        return
    if usage is Usage.CALL and not use.reconstructions:
        pure = sem.pure_reason(qualified)
        if pure is not None and all_plain(use.calls):
            c = use.calls[0]
            out.findings.append(Judgement(
                "PKL110",
                f"calls {verdict.qualified}{_times(use)} on plain data only: {pure}. The policy lists it as "
                f"dangerous because chained with objects built while loading it is a gadget step; used alone "
                f"it runs no code, so it is ranked low",
                c.offset, c.opcode_index, render(c), Severity.LOW))
            return
        handed = sem.handed_rule(qualified)
        if handed is not None and _handed_ok(use.calls, handed.arg, handed.accept, policy):
            return  # the callable it is handed is judged on its own (a safe-tier reconstructor)
        loader = sem.type_loader(qualified)
        if loader is not None and _all_chosen(use.calls, loader.arg, loader.accept):
            out.benign_calls.update(id(c) for c in use.calls)
            return
        if sem.factory_reason(qualified) is not None and all_plain(use.calls):
            out.benign_calls.update(id(c) for c in use.calls)
            return
        attribute = sem.attribute_reason(qualified)
        if attribute is not None and _library_attributes(use.calls, policy, sem):
            c = use.calls[0]
            out.findings.append(Judgement(
                "PKL110",
                f"calls {verdict.qualified}{_times(use)} on a library object with a public attribute name: "
                f"{attribute}. Ranked low: the lookup runs no code of the file's choosing (a call of its "
                "result would be reported as a dynamic call)",
                c.offset, c.opcode_index, render(c), Severity.LOW))
            return
    out.dangerous_refs.update(id(g) for g in use.refs)
    offset, index, evidence = _first(use)
    rule = "PKL205" if verdict.entry == "reflective" else ("PKL100" if invoked else "PKL101")
    verb = "calls" if use.calls else ("rebuilds an object of" if use.reconstructions else "imports")
    out.findings.append(Judgement(rule, f"{verb} {verdict.qualified}: {verdict.reason}{_times(use)}",
                                  offset, index, evidence))


def _benign_dangerous(
    use: _Use, usage: Usage, verdict: Verdict, qualified: str, policy: Policy, sem: Semantics, out: Judged,
    res: StreamAnalysis,
) -> bool:
    """Dangerous-tier names used in a way that runs nothing: tensor operators, stored or inert trampolines."""
    offset, index, evidence = _first(use)
    ops = sem.ops_reason(qualified)
    if ops is not None:
        verb = "calls" if use.calls else ("rebuilds" if use.reconstructions else "imports")
        out.findings.append(Judgement(
            "PKL111" if usage is Usage.IMPORT else "PKL110",
            f"{verb} {verdict.qualified}: {ops}. The policy denies {verdict.entry} as a whole; this namespace "
            "only holds tensor operators, so it is ranked low",
            offset, index, evidence, Severity.LOW))
        return True
    reason = sem.pure_reason(qualified) or sem.trampoline_reason(qualified)
    if reason is None:
        return False
    if usage is Usage.IMPORT:
        out.findings.append(Judgement(
            "PKL111",
            f"imports {verdict.qualified} without calling it: {reason}. Stored as a value it runs nothing, so "
            "it is ranked low (a call of it with objects built while loading is reported as dangerous)",
            offset, index, evidence, Severity.LOW))
        return True
    if (usage is Usage.RECONSTRUCT and sem.trampoline_reason(qualified) is not None
            and not _used_while_loading(use.reconstructions, res)):
        c = use.reconstructions[0]
        out.findings.append(Judgement(
            "PKL112",
            f"rebuilds an object of {verdict.qualified}{_times(use)}: {reason}. Its state is only stored; nothing "
            "calls it while loading, so it is ranked low",
            c.offset, c.opcode_index, render(c, 300), Severity.LOW))
        return True
    builds = [c for c in use.reconstructions if c.kind == "build"]  # partial's __setstate__(func, args ...)
    if (usage is Usage.CALL and len(builds) == len(use.reconstructions)
            and sem.trampoline_reason(qualified) is not None and _inert(use.calls + builds, policy, sem)
            and not _used_while_loading(use.calls, res)):
        c = use.calls[0]
        out.findings.append(Judgement(
            "PKL110",
            f"builds {render(c, 120)}{_times(use)} from plain values: {reason}. Nothing calls what it builds "
            "while loading, so it is ranked low",
            c.offset, c.opcode_index, render(c), Severity.LOW))
        return True
    return False


def _inert(calls: list[Call], policy: Policy, sem: Semantics) -> bool:
    """Arguments are plain data, or names that are safe, pure operators or tensor operators."""
    for call in calls[:MAX_EXAMINED]:
        for v in leaves((call.args, call.kwargs)):
            if type(v) is Call:
                return False
            if type(v) is Global:
                q = f"{normalise_module(v.module, policy.aliases)}:{v.name}"
                if (policy.classify(v.module, v.name).tier is not Tier.SAFE and sem.pure_reason(q) is None
                        and sem.ops_reason(q) is None):
                    return False
    return len(calls) <= MAX_EXAMINED


def _used_while_loading(calls: list[Call], res: StreamAnalysis) -> bool:
    """Whether what these calls built is itself called, or handed to another call, during the load."""
    built = {id(c) for c in calls}
    if any(id(c.func) in built for c in res.dynamic_calls):
        return True
    return any(
        c.kind == "call" and id(c) not in built
        and any(id(sym) in built for sym in iter_symbols((c.args, c.kwargs), 512))
        for c in res.calls
    )


def _all_chosen(calls: list[Call], arg: int, accept: frozenset[str]) -> bool:
    for call in calls[:MAX_EXAMINED]:
        args = call.args
        if type(args) is not tuple or len(args) <= arg or type(args[arg]) is not str or args[arg] not in accept:
            return False
    return len(calls) <= MAX_EXAMINED


def _library_attributes(calls: list[Call], policy: Policy, sem: Semantics) -> bool:
    """getattr(owner, 'name') with a safe-tier or ML-library owner and a public identifier."""
    for call in calls[:MAX_EXAMINED]:
        args = call.args
        if type(args) is not tuple or len(args) != 2 or type(args[1]) is not str:
            return False
        owner, name = args
        if type(owner) is Call:
            # A bound method of an object rebuilt while loading (pickle writes obj.method as
            # getattr(obj, 'method')): the owner is judged as that object's class.
            owner = _rebuilt_class(owner)
            if owner is None or name.startswith("__") or not _IDENT.match(name.lstrip("_")):
                return False
        elif type(owner) is not Global or not _IDENT.match(name):
            return False
        if policy.classify(owner.module, owner.name).tier is Tier.DANGEROUS:
            return False
        if (policy.classify(owner.module, owner.name).tier is not Tier.SAFE
                and sem.locate(normalise_module(owner.module, policy.aliases)) is not Location.ML):
            return False
    return len(calls) <= MAX_EXAMINED


def _rebuilt_class(obj: Call) -> Global | None:
    """The class of an object the loader rebuilt (NEWOBJ/REDUCE of the class, or a reconstructor's argument)."""
    func = obj.func
    if type(func) is not Global:
        return None
    if func.name in ("_reconstructor", "__newobj__", "__newobj_ex__") and func.module in ("copyreg", "copy_reg"):
        args = obj.args
        return args[0] if type(args) is tuple and args and type(args[0]) is Global else None
    return func


def _handed_ok(calls: list[Call], arg: int, accept: frozenset[str], policy: Policy) -> bool:
    for call in calls[:MAX_EXAMINED]:
        args = call.args
        if type(args) is not tuple or len(args) <= arg or type(args[arg]) is not Global:
            return False
        f = args[arg]
        if f"{normalise_module(f.module, policy.aliases)}:{f.name}" not in accept:
            return False
    return len(calls) <= MAX_EXAMINED


def _judge_unknown(
    use: _Use, verdict: Verdict, module: str, name: str, policy: Policy, sem: Semantics, out: Judged
) -> None:
    qualified = f"{module}:{name}"
    if _mode_and_effect(use, qualified, sem, out):
        return
    usage = _usage(use)
    offset, index, evidence = _first(use)
    location = sem.locate(module)
    where = location.label
    if usage is Usage.IMPORT:
        out.findings.append(Judgement(
            "PKL111",
            f"imports {verdict.qualified} without calling it: loading imports its module from {where} and "
            "stores the object; nothing of the file's choosing runs, so it is ranked low",
            offset, index, evidence))
        return
    facts = derived_facts.lookup(module, name)
    if usage is Usage.RECONSTRUCT:
        how = f" through {use.how}" if use.how else ""
        if facts is not None and facts.reconstruct:
            out.findings.append(Judgement(
                "PKL112",
                f"rebuilds an object of {verdict.qualified}{how}: its reconstruction reaches "
                f"{', '.join(facts.reconstruct)} according to {facts.library}'s source ({facts.path})",
                offset, index, facts.path or evidence, Severity.HIGH))
            return
        basis = (f"{facts.library}'s source shows its reconstruction reaches no sink" if facts is not None
                 else f"it lives in {where}")
        out.findings.append(Judgement(
            "PKL112",
            f"rebuilds an object of {verdict.qualified}{_times(use)}{how}: the loader runs only the class's own "
            f"__new__/__setstate__ (no call with the file's arguments); {basis}, so it is ranked low",
            offset, index, evidence))
        return
    c = use.calls[0]
    if facts is not None:
        if facts.call:
            sev = Severity.CRITICAL if _GRAVE_SINKS & set(facts.call) else Severity.HIGH
            out.findings.append(Judgement(
                "PKL110",
                f"calls {verdict.qualified}{_times(use)} with arguments from the file: according to "
                f"{facts.library}'s source the call reaches {', '.join(facts.call)} ({facts.path}); ranked "
                f"{sev.label}",
                c.offset, c.opcode_index, facts.path or render(c), sev))
        else:
            out.findings.append(Judgement(
                "PKL110",
                f"calls {verdict.qualified}{_times(use)}: {facts.library}'s source shows the call reaches no "
                "code execution, process, file, network or deserialiser sink, so it is ranked low",
                c.offset, c.opcode_index, render(c), Severity.LOW))
        return
    shape, shown = shape_of(use.calls, policy, sem, name)
    sev = sem.severity(location, shape)
    out.findings.append(Judgement(
        "PKL110",
        f"calls {verdict.qualified}{_times(use)}, which the policy does not know: the loader runs it with "
        f"arguments chosen by the file; it lives in {where} and is given {shape.label}, so it is ranked "
        f"{sev.label}{_advice(location, shape)}",
        c.offset, c.opcode_index, shown or render(c), sev))


def _advice(location: Location, shape: Shape) -> str:
    if shape >= Shape.DANGEROUS_NAME:
        return " (an unknown callable handed code, a command line or a pickle is how published gadgets work)"
    if location is Location.MAIN:
        return " (user code: the file only loads where that script's classes exist)"
    return ""


__all__ = ["Judged", "Judgement", "Usage", "judge", "shape_of"]
