"""The string forms of the objects a template can stringify, so characters taken from them can be folded.

Payloads that must not contain ``_`` (a filter, a WAF, a scanner looking for ``__``) take it from an
object's ``repr``: ``(()|select|string)[24]`` is ``'_'`` because ``()|select`` is a generator named
``select_or_reject``; ``(lipsum|string|list).pop(18)`` gives ``'_'`` from ``generate_lorem_ipsum``. The
forms below are Jinja 3.1's (the version loaders ship); a memory address is a run of
:data:`UNKNOWN_CHAR`, so indexing into it yields an unknown character rather than a wrong one.
"""

from __future__ import annotations

from jinja2 import nodes

#: One character whose value is not known statically (part of an address, of data...).
UNKNOWN_CHAR = "\uffff"
#: ``0x7f3db4b78ee0``: CPython's ``%p`` on 64-bit Linux, 12 hex digits (their values unknown).
_ADDRESS = "0x" + UNKNOWN_CHAR * 12

#: Filters that return a generator, and the generator function's name in Jinja 3.1.
_GENERATOR_FILTERS = {
    "select": "select_or_reject", "reject": "select_or_reject", "selectattr": "select_or_reject",
    "rejectattr": "select_or_reject", "map": "sync_do_map", "unique": "sync_do_unique",
    "batch": "do_batch", "slice": "sync_do_slice",
}
#: Template globals (when the template does not rebind them) and their string forms.
_GLOBAL_FORMS = {
    "lipsum": f"<function generate_lorem_ipsum at {_ADDRESS}>",
    "cycler": "<class 'jinja2.utils.Cycler'>",
    "joiner": "<class 'jinja2.utils.Joiner'>",
    "namespace": "<class 'jinja2.utils.Namespace'>",
    "range": "<class 'range'>",
    "dict": "<class 'dict'>",
    "self": "<TemplateReference None>",
}
#: Instances built by calling a global.
_INSTANCE_FORMS = {
    "cycler": f"<jinja2.utils.Cycler object at {_ADDRESS}>",
    "joiner": f"<jinja2.utils.Joiner object at {_ADDRESS}>",
}


def object_string(node: nodes.Node, bound: set[str]) -> str | None:
    """``str(value)`` of ``node`` when the object it names has a known string form (None: unknown).

    ``bound`` holds the names the template assigns itself (a rebound ``lipsum`` is not the global).
    """
    if isinstance(node, nodes.Const) and (node.value is None or isinstance(node.value, (bool, int, float))):
        return str(node.value)
    if isinstance(node, (nodes.Tuple, nodes.List, nodes.Dict)) and not node.items:
        return {nodes.Tuple: "()", nodes.List: "[]", nodes.Dict: "{}"}[type(node)]
    if isinstance(node, nodes.Name) and node.name not in bound:
        return _GLOBAL_FORMS.get(node.name)
    if isinstance(node, nodes.Filter) and node.name in _GENERATOR_FILTERS:
        return f"<generator object {_GENERATOR_FILTERS[node.name]} at {_ADDRESS}>"
    if isinstance(node, nodes.Filter) and node.name == "reverse" and isinstance(node.node, (nodes.Tuple, nodes.List)):
        kind = "list_reverseiterator" if isinstance(node.node, nodes.List) else "reversed"
        return f"<{kind} object at {_ADDRESS}>"
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name) and node.node.name not in bound:
        return _INSTANCE_FORMS.get(node.node.name)
    return None


def html_escape(text: str) -> str:
    """What ``|e`` / ``|escape`` (markupsafe) make of a string: indices shift with every entity."""
    return (
        text.replace("&", "&amp;").replace(">", "&gt;").replace("<", "&lt;")
        .replace("'", "&#39;").replace('"', "&#34;")
    )
