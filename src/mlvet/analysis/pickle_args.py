"""The shape of a pickled call's arguments: plain data, paths, URLs, file writes, commands, code, pickles.

Separate from the ranking (``pickle_semantics``) because it is the one part that looks inside argument
values; it reads the symbolic values only (strings, blobs, nested containers), never calls entered, and
stays bounded (a fixed number of calls and leaves per name).
"""

from __future__ import annotations

import re
from typing import Any

from mlvet.analysis.values import Blob, Call, Global, Opaque, PDict, PList, PSet, render
from mlvet.policy import Policy, Tier
from mlvet.policy.semantics import Semantics, Shape

#: Invocations examined per name for argument shapes (the machine keeps at most Global.MAX_KEPT per reference).
MAX_EXAMINED = 16
#: Leaves of one argument tree examined for shapes.
_MAX_LEAVES = 96
_FILENAME = re.compile(r"^[\w.-]{1,200}\.[A-Za-z0-9]{1,8}$")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(?:[.:][A-Za-z_]\w*)+$")


def leaves(value: Any) -> list[Any]:
    """Strings, blobs, bytes and code objects inside an argument tree (bounded; calls are not entered)."""
    out: list[Any] = []
    todo = [(value, 0)]
    while todo and len(out) < _MAX_LEAVES:
        v, depth = todo.pop()
        t = type(v)
        if t is str or t is Blob or t is bytes or t is bytearray or t is Global or t is Call:
            out.append(v)
        elif depth < 4 and (t is tuple or t is PList or t is PSet):
            todo.extend((item, depth + 1) for item in reversed(v))  # reversed: visited in argv order
        elif depth < 4 and t is PDict:
            for k, item in reversed(v):
                todo.append((item, depth + 1))
                todo.append((k, depth + 1))
    return out


def _names_dangerous(text: str, policy: Policy) -> bool:
    """``"os.system"`` / ``"builtins:eval"``: a string a resolver (hydra, jsonargparse ...) would import."""
    if len(text) > 200 or not _DOTTED.match(text):
        return False
    if ":" in text:
        module, _, name = text.partition(":")
        return policy.classify(module, name).tier is Tier.DANGEROUS
    parts = text.split(".")
    return any(policy.classify(".".join(parts[:i]), ".".join(parts[i:])).tier is Tier.DANGEROUS
               for i in range(1, len(parts)))


def shape_of(calls: list[Call], policy: Policy, sem: Semantics, name: str = "") -> tuple[Shape, str]:
    """The worst argument shape over a name's calls, with the call that shows it.

    ``name`` (the callee's qualified name) lets a name that says what it does to its argument (``write_*``,
    ``save``, ``unlink`` ...) turn a plain file name into a file write.
    """
    acts = bool(name) and sem.acts_on_path(name)
    worst, where = Shape.PLAIN, ""
    for call in calls[:MAX_EXAMINED]:
        found = leaves((call.args, call.kwargs))
        texts = [v for v in found if type(v) is str]
        texts += [v.head.decode("utf-8", "replace") for v in found if type(v) is Blob and v.kind == "str"]
        shape = Shape.PLAIN
        for v in found:
            t = type(v)
            if t is Global or t is Call:
                shape = max(shape, Shape.CALLABLE)
            elif (t is bytes or t is bytearray or (t is Blob and v.kind != "str")) and _pickle_head(v):
                shape = Shape.PAYLOAD
        for text in texts:
            s = sem.text_shape(text)
            if s is Shape.PLAIN and _names_dangerous(text, policy):
                s = Shape.DANGEROUS_NAME
            shape = max(shape, s)
        if len(texts) > 1:
            shape = max(shape, sem.argv_shape(texts))
        if shape <= Shape.URL and (acts or any(sem.is_write_mode(t) for t in texts)) and (
            shape >= Shape.PATH or any(_FILENAME.match(t) for t in texts)
        ):
            shape = Shape.WRITE
        if shape > worst or not where:
            worst, where = max(worst, shape), render(call)
    return worst, where


def _pickle_head(v: Any) -> bool:
    head = v.head if type(v) is Blob else bytes(v[:2])
    return len(head) >= 2 and head[0] == 0x80 and 1 <= head[1] <= 5


def all_plain(calls: list[Call]) -> bool:
    for call in calls[:MAX_EXAMINED]:
        for v in leaves((call.args, call.kwargs)):
            if type(v) in (Global, Call) or (type(v) is Opaque and v.what.startswith("persistent_load")):
                return False
    return len(calls) <= MAX_EXAMINED


__all__ = ["MAX_EXAMINED", "all_plain", "leaves", "shape_of"]
