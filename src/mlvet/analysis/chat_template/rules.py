"""The chat-template rules (GGF700-GGF708) and the one-line summary each finding's message starts with."""

from __future__ import annotations

from mlvet.model import Severity
from mlvet.rules import define_rule

_SSTI = (
    "Chat templates are rendered by every loader that formats a conversation. A loader that renders "
    "with a plain jinja2.Environment (llama-cpp-python < 0.2.72, CVE-2024-34359, many custom servers) "
    "executes whatever the template reaches; only Jinja's sandbox stops it, and not every loader uses it."
)
_NO_RENDER = (
    "Do not render the template outside Jinja's ImmutableSandboxedEnvironment. Replace it with the "
    "publisher's original template, or obtain the model from its publisher."
)

GGF700 = define_rule(
    "GGF700", "template-sandbox-escape", Severity.CRITICAL,
    "The chat template reaches Python internals (dunder/private attributes such as __class__, "
    "__globals__, __subclasses__, _module, or names built at render time to hide them).",
    _SSTI + " Walking __class__/__mro__/__subclasses__/__globals__ from any object reaches os and eval: "
    "this is the server-side template injection pattern, and no prompt formatter needs it.",
    _NO_RENDER, 1336,
)
GGF701 = define_rule(
    "GGF701", "template-code-execution", Severity.CRITICAL,
    "The chat template calls process or code-execution functions (popen, system, eval...) or "
    "references Python modules (os, subprocess, builtins...).",
    _SSTI + " A prompt formatter has no reason to touch processes or modules.",
    _NO_RENDER, 1336,
)
GGF702 = define_rule(
    "GGF702", "template-gadget-global", Severity.MEDIUM,
    "The chat template uses a Jinja or web-framework global that sandbox-escape payloads start from "
    "(cycler, joiner, lipsum, self, config, request...).",
    "These objects are Python functions and classes; their __init__.__globals__ lead to the os module. "
    "Real chat templates do not use them (namespace, range and dict are not reported).",
    "Review the template; replace it with the publisher's original if the global serves no purpose.",
    1336,
)
GGF703 = define_rule(
    "GGF703", "template-computed-attribute", Severity.MEDIUM,
    "The chat template looks up an attribute whose name is computed at render time, or formats data "
    "with str.format/format_map, so the names it reaches cannot be checked statically.",
    "Computing attribute names (|attr(x), map(attribute=x), characters extracted from object reprs) and "
    "str.format field lookups are how escape payloads hide '__class__' from scanners.",
    "Review the template; a prompt formatter reads fixed keys such as message['role'].",
    1336,
)
GGF704 = define_rule(
    "GGF704", "template-loads-template", Severity.MEDIUM,
    "The chat template includes, imports or extends another template.",
    "Chat templates are self-contained. Loading other templates makes the loader read files (a path such "
    "as '../../etc/passwd' or an absolute path reads arbitrary files) and pulls in code mlvet cannot see.",
    "Remove the include/import/extends, or use the publisher's original template.",
    1336,
)
GGF705 = define_rule(
    "GGF705", "template-resource-exhaustion", Severity.MEDIUM,
    "The chat template builds huge ranges, repetitions or powers when rendered.",
    "range(10**9), 'x' * 10**9 or 9**9**9 exhaust memory or CPU in every loader that renders the "
    "template outside the sandbox (the sandbox caps range at 100000 items).",
    "Replace the template with the publisher's original.",
    400,
)
GGF706 = define_rule(
    "GGF706", "template-deep-attribute-chain", Severity.LOW,
    "The chat template walks an unusually long chain of attributes or subscripts.",
    "Object-graph walks are how escapes travel from a harmless value to a dangerous one; real templates "
    "read a few levels (message.tool_calls[0].function.arguments).",
    "Review the expression.",
    1336,
)
GGF707 = define_rule(
    "GGF707", "template-unanalysable", Severity.MEDIUM,
    "The chat template could not be parsed (syntax error, too large or too deeply nested), so it was not "
    "checked.",
    "A template mlvet cannot parse may still be rendered by a more lenient engine; its content is unknown.",
    "Fix or replace the template; treat the model as unverified until then.",
    1336,
)
GGF708 = define_rule(
    "GGF708", "template-dunder-string", Severity.HIGH,
    "The chat template contains a string naming a Python internal (e.g. '__globals__', '__class__').",
    "Such strings are the raw material of escapes that assemble the attribute name at render time "
    "(|attr, map(attribute=...), macros); prompt text never needs them.",
    _NO_RENDER, 1336,
)

#: Message prefix per rule (what the template would do).
SUMMARY = {
    "GGF700": "chat template reaches Python internals (sandbox-escape / SSTI pattern)",
    "GGF701": "chat template reaches process or code execution",
    "GGF702": "chat template uses a global that escape payloads start from",
    "GGF703": "chat template computes attribute names at render time",
    "GGF704": "chat template loads other templates",
    "GGF705": "chat template exhausts resources when rendered",
    "GGF706": "chat template walks a deep attribute chain",
    "GGF708": "chat template contains strings naming Python internals",
}
