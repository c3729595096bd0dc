"""Static analysis of Jinja chat templates (GGUF ``tokenizer.chat_template``, ``tokenizer_config.json``...).

Chat templates are programs: every loader that formats a conversation renders them. Rendered by a plain
``jinja2.Environment`` (llama-cpp-python before 0.2.72, CVE-2024-34359, and many home-grown servers) a
template can walk Python's object graph (``''.__class__.__mro__[1].__subclasses__()``,
``cycler.__init__.__globals__.os.popen``) and run commands. Jinja's sandbox blocks that walk; a scanner
cannot assume the loader uses it.

The template is parsed with Jinja's own parser, which builds a syntax tree and never executes anything
(no rendering, no ``as_const`` folding of filters: mlvet folds the few string operations that matter
itself, with size caps). The tree is then checked for what a prompt formatter never needs:

* reaching Python internals: ``_``-prefixed attributes or subscripts, including names built at render time
  (``'__cla' ~ 'ss__'``, ``|join``, ``|reverse``, ``{% set %}`` variables, ``|attr(...)``,
  ``map(attribute=...)``, ``'{0.__class__}'.format(...)``);
* process and module access (``popen``, ``system``, ``os``, ``subprocess``...);
* Jinja objects whose ``__init__.__globals__`` are the classic escape gadgets (``cycler``, ``joiner``,
  ``lipsum``, ``self``) and web-framework globals (``config``, ``request``);
* loading other templates (``include``/``import``/``extends``: file reads through the loader);
* render-time resource exhaustion (``range(10**9)``, huge repetitions) and unusually deep attribute chains.

Real templates (Llama 3, Mistral, Qwen, Gemma, Phi-3, ChatML, DeepSeek...) use ``namespace``,
``raise_exception``, ``strftime_now``, loops, slices and ``message['role']``: none of that is reported.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import product

from jinja2 import Environment, nodes
from jinja2.exceptions import TemplateError
from jinja2.ext import Extension, do, loopcontrols
from jinja2.parser import Parser

from mlvet.model import Severity
from mlvet.rules import Rule, define_rule

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

#: Templates beyond this many characters are not parsed (real ones are a few KB; the largest ~50 KB).
MAX_TEMPLATE_CHARS = 1_000_000
#: Findings reported per template; the last message says how many more were found.
MAX_FINDINGS = 32
#: Folded strings longer than this are treated as unknown (they are never attribute names).
_MAX_FOLD_LEN = 4096
#: Alternatives kept per folded value ({% if %} branches assign different strings).
_MAX_ALTERNATIVES = 16
#: Recursion depth of folding and unparsing.
_MAX_DEPTH = 64
#: Jinja's sandbox caps range() here; a template asking for more is built to exhaust resources.
_MAX_RANGE = 100_000
#: Attribute/subscript chains longer than this are reported (low).
_MAX_CHAIN = 6
#: Stand-in for integers too large to compute.
_HUGE = 10**30

#: Internal attributes that are never private conventions but escape primitives; all are critical.
_ESCAPE_NAMES = frozenset({
    "__class__", "__mro__", "__base__", "__bases__", "__subclasses__", "__globals__", "__builtins__",
    "__import__", "__init__", "__dict__", "__getattribute__", "__getattr__", "__code__", "__closure__",
    "__func__", "__self__", "__module__", "__loader__", "__spec__", "__reduce__", "__reduce_ex__",
    "__call__", "__new__", "__subclasshook__", "__init_subclass__", "__qualname__", "__name__",
    "__getitem__", "__setattr__", "__delattr__", "__traceback__", "__context__", "__cause__",
    "_module", "_TemplateReference__context", "_Undefined__obj", "_environment", "_context",
    "mro", "gi_frame", "gi_code", "cr_frame", "cr_code", "ag_frame", "ag_code", "tb_frame", "tb_next",
    "f_globals", "f_locals", "f_builtins", "f_back", "f_code", "func_globals", "co_code",
})
#: Attribute names of process and code execution.
_EXEC_ATTRS = frozenset({
    "popen", "Popen", "system", "check_output", "check_call", "getoutput", "getstatusoutput",
    "run_path", "run_module", "eval", "exec", "execfile", "compile", "import_module", "load_module",
    "exec_module", "startfile", "fork", "forkpty", "posix_spawn", "posix_spawnp", "kill", "rmtree",
    "unlink", "removedirs",
})
_EXEC_ATTR_RE = re.compile(r"^(?:spawn|exec)[lv]p?e?$")
#: Names of modules and builtins that no template context provides legitimately.
_MODULE_NAMES = frozenset({
    "os", "sys", "subprocess", "builtins", "importlib", "posix", "nt", "pty", "socket", "shutil",
    "ctypes", "pickle", "marshal", "runpy", "commands", "platform", "multiprocessing", "codecs",
})
_DANGEROUS_CALLABLES = frozenset({
    "eval", "exec", "open", "compile", "getattr", "setattr", "delattr", "globals", "locals", "vars",
    "input", "breakpoint", "help",
})
#: Jinja/Flask globals that escape payloads start from (their __init__.__globals__ reach os).
_GADGET_GLOBALS = frozenset({
    "cycler", "joiner", "lipsum", "self", "config", "request", "url_for", "get_flashed_messages",
    "session", "environment",
})
#: Filters whose ``attribute=`` argument (or first argument) is an attribute path with dots.
_ATTR_PATH_FILTERS = frozenset({"selectattr", "rejectattr", "groupby"})
_STRING_METHODS_1: dict[str, Callable[[str], str]] = {
    "upper": str.upper, "lower": str.lower, "strip": str.strip, "lstrip": str.lstrip,
    "rstrip": str.rstrip, "capitalize": str.capitalize, "title": str.title, "swapcase": str.swapcase,
    "casefold": str.casefold,
}
_STRING_FILTERS_1: dict[str, Callable[[str], str]] = {
    "upper": str.upper, "lower": str.lower, "trim": str.strip, "capitalize": str.capitalize,
    "title": str.title, "string": str, "e": str, "escape": str, "safe": str, "striptags": str,
}
#: Python's own dunders are lower case; ``__Bold__`` markdown is not one.
_DUNDER_RE = re.compile(r"__[a-z][a-z0-9_]*__")
#: Pieces of a dunder split to be joined later: ``'__cla'``, ``'ss__'``.
_DUNDER_FRAGMENT_RE = re.compile(r"__[A-Za-z][A-Za-z0-9_]*|[A-Za-z0-9_]*[A-Za-z0-9]__")
_PRINTF_RE = re.compile(r"%(?:%|[sdic])")
_FORMAT_FIELD_PART_RE = re.compile(r"\.([^.\[]*)|\[([^\]]*)\]")


class _GenerationExtension(Extension):
    """Parse transformers' ``{% generation %}...{% endgeneration %}`` block (AssistantTracker).

    Only so that templates using it parse; its body is analysed like any other. Nothing is rendered.
    """

    tags = {"generation"}  # noqa: RUF012 - Jinja's Extension API declares tags as a class attribute

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body, lineno=lineno)


@lru_cache(maxsize=1)
def _environment() -> Environment:
    """An Environment only to lex and parse (built on first use: it compiles the lexer's regexes).

    The extensions match what loaders enable (transformers turns on loopcontrols and its generation tag;
    ``do`` is accepted by several engines). ``parse()`` never compiles or renders.
    """
    return Environment(extensions=[loopcontrols, do, _GenerationExtension])  # noqa: S701 - never rendered


@dataclass
class _Issue:
    rule: Rule
    severity: Severity
    detail: str
    node: nodes.Node


@dataclass
class _Group:
    rule: Rule
    severity: Severity
    lineno: int
    evidence: str
    details: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class TemplateIssue:
    """One finding about a template: the format layer reports it at the template's location."""

    rule: Rule
    severity: Severity
    message: str
    evidence: str


@dataclass(frozen=True)
class TemplateAnalysis:
    """What :func:`analyse_template` concluded about one template.

    ``error`` is set when the template could not be fully analysed (too large, unparsable, too deep): the
    format layer must then make the result an error as well as report ``issues`` (fail closed).
    """

    issues: tuple[TemplateIssue, ...]
    error: str | None = None


def analyse_template(source: str, *, where: str) -> TemplateAnalysis:
    """Check one chat template for what it could do when rendered; never renders it.

    ``where`` names the template in messages (``tokenizer.chat_template``,
    ``tokenizer_config.json: chat_template[tool_use]``). A template that cannot be parsed yields a GGF707
    issue and an ``error``: fail closed.
    """
    if len(source) > MAX_TEMPLATE_CHARS:
        msg = f"{where}: chat template of {len(source)} characters exceeds {MAX_TEMPLATE_CHARS}; not analysed"
        return _failed(msg, _snippet(source))
    try:
        tree = _environment().parse(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        reason = getattr(exc, "message", None) or str(exc)
        msg = f"{where}: chat template does not parse ({reason}{f', line {line}' if line else ''})"
        return _failed(msg, _line(source, line) if line else _snippet(source))
    except (RecursionError, MemoryError):
        return _failed(f"{where}: chat template nests too deeply to parse", _snippet(source))
    try:
        groups = _Analyser(tree).run()
    except RecursionError:
        return _failed(f"{where}: chat template nests too deeply to analyse", _snippet(source))
    groups.sort(key=lambda g: (-g.severity, g.lineno))
    shown = groups[:MAX_FINDINGS]
    issues = []
    for i, group in enumerate(shown):
        details = ", ".join(dict.fromkeys(group.details))
        more = ""
        if i == len(shown) - 1 and len(groups) > len(shown):
            more = f" (+{len(groups) - len(shown)} more findings in this template)"
        issues.append(TemplateIssue(
            group.rule,
            group.severity,
            f"{where}: {_SUMMARY[group.rule.id]}: {details}{more}",
            f"line {group.lineno}: {group.evidence}",
        ))
    return TemplateAnalysis(tuple(issues))


def _failed(message: str, evidence: str) -> TemplateAnalysis:
    return TemplateAnalysis((TemplateIssue(GGF707, GGF707.severity, message, evidence),), error=message)


_SUMMARY = {
    "GGF700": "chat template reaches Python internals (sandbox-escape / SSTI pattern)",
    "GGF701": "chat template reaches process or code execution",
    "GGF702": "chat template uses a global that escape payloads start from",
    "GGF703": "chat template computes attribute names at render time",
    "GGF704": "chat template loads other templates",
    "GGF705": "chat template exhausts resources when rendered",
    "GGF706": "chat template walks a deep attribute chain",
    "GGF708": "chat template contains strings naming Python internals",
}


def _snippet(source: str, n: int = 200) -> str:
    text = source[:n].replace("\n", "\\n")
    return text + ("…" if len(source) > n else "")


def _line(source: str, lineno: int) -> str:
    lines = source.splitlines()
    if 1 <= lineno <= len(lines):
        return f"line {lineno}: {lines[lineno - 1].strip()[:240]}"
    return _snippet(source)


def _internal_severity(name: str) -> Severity | None:
    """Severity of using ``name`` as an attribute: None when it is an ordinary public name."""
    if name in _ESCAPE_NAMES or (name.startswith("_") and "__" in name):
        return Severity.CRITICAL
    if name.startswith("_"):
        return Severity.HIGH
    return None


class _Unknown(Exception):
    """A value that cannot be folded to constants (data, loop variables, macro calls...)."""


class _Analyser:
    """One pass over a parsed template: bindings first (for folding ``{% set %}`` strings), then checks."""

    def __init__(self, tree: nodes.Template) -> None:
        self.tree = tree
        self.parent: dict[int, nodes.Node] = {}
        self.assigned: dict[str, list[nodes.Node | None]] = {}
        self.bound: set[str] = {"loop", "caller", "varargs", "kwargs"}
        self.issues: list[_Issue] = []
        self._folding: set[str] = set()

    # ---- driver -------------------------------------------------------------------------------------

    def run(self) -> list[_Group]:
        all_nodes = list(self._walk())
        for node in all_nodes:
            self._bind(node)
        for node in all_nodes:
            self._check(node)
        return self._group()

    def _walk(self) -> Iterator[nodes.Node]:
        stack: list[nodes.Node] = [self.tree]
        while stack:
            node = stack.pop()
            yield node
            children = list(node.iter_child_nodes())
            for child in children:
                self.parent[id(child)] = node
            stack.extend(reversed(children))

    def _bind(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Assign):
            target = node.target
            if isinstance(target, nodes.Name):
                self._assign(target.name, node.node)
            elif isinstance(target, nodes.NSRef):
                self._assign(f"{target.name}.{target.attr}", node.node)
            else:
                for name in target.find_all(nodes.Name):
                    self._assign(name.name, None)
        elif isinstance(node, nodes.AssignBlock):
            target = node.target
            value: nodes.Node | None = node if node.filter is None else None
            if isinstance(target, nodes.Name):
                self._assign(target.name, value)
            elif isinstance(target, nodes.NSRef):
                self._assign(f"{target.name}.{target.attr}", value)
        elif isinstance(node, nodes.For):
            for name in node.target.find_all(nodes.Name):
                self._assign(name.name, None)
        elif isinstance(node, nodes.Macro):
            self.bound.add(node.name)
            for arg in node.args:
                self._assign(arg.name, None)
        elif isinstance(node, nodes.CallBlock):
            for arg in node.args:
                self._assign(arg.name, None)
        elif isinstance(node, nodes.With):
            for tgt in node.targets:
                for name in tgt.find_all(nodes.Name):
                    self._assign(name.name, None)
        elif isinstance(node, nodes.Import):
            self._assign(node.target, None)
        elif isinstance(node, nodes.FromImport):
            for item in node.names:
                self._assign(item[1] if isinstance(item, tuple) else item, None)

    def _assign(self, name: str, value: nodes.Node | None) -> None:
        self.bound.add(name.split(".", 1)[0])
        self.assigned.setdefault(name, []).append(value)

    # ---- checks -------------------------------------------------------------------------------------

    def _issue(self, rule: Rule, detail: str, node: nodes.Node, severity: Severity | None = None) -> None:
        self.issues.append(_Issue(rule, severity if severity is not None else rule.severity, detail, node))

    def _check(self, node: nodes.Node) -> None:
        if isinstance(node, nodes.Getattr):
            self._check_attr_name(node.attr, node, via="attribute")
            self._check_chain(node)
        elif isinstance(node, nodes.Getitem):
            if not isinstance(node.arg, nodes.Slice):
                for key in self._fold_or_none(node.arg) or ():
                    self._check_attr_name(key, node, via="subscript")
                self._check_repr_char(node)
            self._check_chain(node)
        elif isinstance(node, nodes.Name):
            self._check_name(node)
        elif isinstance(node, nodes.Filter):
            self._check_filter(node)
        elif isinstance(node, nodes.Test):
            self._check_attribute_kwargs(node)
        elif isinstance(node, nodes.Call):
            self._check_call(node)
        elif isinstance(node, nodes.NSRef):
            self._check_attr_name(node.attr, node, via="namespace attribute")
        elif isinstance(node, nodes.Const):
            if isinstance(node.value, str):
                self._check_literal(node.value, node)
        elif isinstance(node, nodes.Keyword):
            self._check_literal(node.key, node, what="keyword")
        elif isinstance(node, nodes.TemplateData) and self._inside(node, nodes.AssignBlock):
            self._check_literal(node.data.strip(), node, what="text assigned by {% set %}")
        elif isinstance(node, (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            self._check_load(node)
        elif isinstance(node, nodes.Mul | nodes.Pow):
            self._check_arith(node)
        if isinstance(node, (nodes.Concat, nodes.Add, nodes.Mod, nodes.Filter, nodes.Call, nodes.Getitem,
                             nodes.AssignBlock)):
            self._check_built_string(node)

    def _check_attr_name(self, name: str, node: nodes.Node, *, via: str, dotted: bool = False) -> None:
        parts = name.split(".") if dotted else [name]
        parent = self.parent.get(id(node))
        # ``x.system`` is an ordinary name (``ns.system`` holds a system prompt); ``x.system('id')`` is not.
        called = isinstance(parent, nodes.Call) and parent.node is node
        used_as_object = _chain_next(parent) is node
        for part in parts:
            sev = _internal_severity(part)
            if sev is not None:
                self._issue(GGF700, f"{via} {part!r}", node, sev)
            elif called and (part in _EXEC_ATTRS or _EXEC_ATTR_RE.match(part)):
                self._issue(GGF701, f"{via} {part!r} called", node)
            elif used_as_object and part in _MODULE_NAMES:
                self._issue(GGF701, f"{via} {part!r} (a module)", node, Severity.HIGH)

    def _check_name(self, node: nodes.Name) -> None:
        if node.ctx != "load" or node.name in self.bound:
            return
        name = node.name
        parent = self.parent.get(id(node))
        used = _chain_next(parent) is node  # the object of a.b, a[0], a(), a|f
        called = isinstance(parent, nodes.Call) and parent.node is node
        if name.startswith("__"):
            self._issue(GGF700, f"name {name!r}", node, Severity.CRITICAL)
        elif (name in _MODULE_NAMES and used) or (name in _DANGEROUS_CALLABLES and called):
            self._issue(GGF701, f"name {name!r}", node, Severity.HIGH)
        elif name in _GADGET_GLOBALS:
            self._issue(GGF702, f"global {name!r}", node)

    def _inside(self, node: nodes.Node, kind: type[nodes.Node]) -> bool:
        cur = self.parent.get(id(node))
        while cur is not None:
            if isinstance(cur, kind):
                return True
            cur = self.parent.get(id(cur))
        return False

    def _check_filter(self, node: nodes.Filter) -> None:
        if node.name == "attr":
            if node.args:
                self._attr_argument(node.args[0], node, via="|attr", dotted=False)
        elif node.name == "map" and node.args:
            names = self._fold_or_none(node.args[0])
            if names is None or "attr" in names:
                if len(node.args) > 1:
                    self._attr_argument(node.args[1], node, via="|map('attr')", dotted=False)
                elif names is None:
                    self._issue(GGF703, "|map with a computed filter name", node)
        elif node.name in _ATTR_PATH_FILTERS and node.args:
            self._attr_argument(node.args[0], node, via=f"|{node.name}", dotted=True)
        self._check_attribute_kwargs(node)

    def _check_attribute_kwargs(self, node: nodes.Filter | nodes.Test) -> None:
        for kw in node.kwargs:
            if kw.key == "attribute":
                self._attr_argument(kw.value, node, via=f"|{node.name}(attribute=)", dotted=True)

    def _attr_argument(self, arg: nodes.Expr, node: nodes.Node, *, via: str, dotted: bool) -> None:
        names = self._fold_or_none(arg)
        if names is None:
            self._issue(GGF703, f"{via} with a name computed at render time", node)
            return
        for name in names:
            self._check_attr_name(name, node, via=via, dotted=dotted)

    def _check_call(self, node: nodes.Call) -> None:
        fn = node.node
        if isinstance(fn, nodes.Getattr) and fn.attr in ("format", "format_map"):
            formats = self._fold_or_none(fn.node)
            if formats is None:
                if fn.attr == "format_map" or not self._is_plain_data(fn.node):
                    self._issue(GGF703, f".{fn.attr}() on a string computed at render time", node)
                else:
                    self._issue(GGF703, f".{fn.attr}() on template data (field names come from data)", node)
                return
            if fn.attr == "format_map":
                self._issue(GGF703, ".format_map()", node)
            for fmt in formats:
                self._check_format_string(fmt, node)
        elif isinstance(fn, nodes.Name) and fn.name == "range" and "range" not in self.bound:
            values = [self._fold_int(a) for a in node.args]
            known = [v for v in values if v is not None]
            span = None
            if len(values) == 1 and values[0] is not None:
                span = values[0]
            elif len(values) >= 2 and values[0] is not None and values[1] is not None:
                step = values[2] if len(values) > 2 and values[2] else 1
                span = (values[1] - values[0]) // max(abs(step), 1)
            if (span is not None and span > _MAX_RANGE) or any(v >= _HUGE for v in known):
                self._issue(GGF705, f"range of {_fmt_int(span or max(known))} items", node)

    def _check_format_string(self, fmt: str, node: nodes.Node) -> None:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(fmt) if f]
        except ValueError:
            return
        for field_name in fields:
            for m in _FORMAT_FIELD_PART_RE.finditer(field_name):
                part = m.group(1) if m.group(1) is not None else m.group(2)
                sev = _internal_severity(part)
                if sev is not None:
                    self._issue(GGF700, f"format field {{{field_name}}}", node, sev)
                elif m.group(1) is not None:
                    self._issue(GGF703, f"format field {{{field_name}}} reads an attribute", node)

    def _check_repr_char(self, node: nodes.Getitem) -> None:
        """``(()|select|string)[24]`` yields '_' from an object's repr: a way to spell dunders without '_'."""
        inner = node.node
        if isinstance(inner, nodes.Filter) and inner.name in ("string", "e", "escape", "list") and \
                isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, int):
            obj = inner.node
            if obj is not None and self._fold_or_none(obj) is None and not isinstance(obj, nodes.Name):
                self._issue(GGF703, "characters extracted from an object's string form", node)

    def _check_literal(self, value: str, node: nodes.Node, *, what: str = "string") -> None:
        m = _DUNDER_RE.search(value)
        if m is not None:
            name = m.group(0)
            sev = Severity.HIGH if name in _ESCAPE_NAMES else Severity.MEDIUM
            self._issue(GGF708, f"{what} {name!r}", node, sev)
        elif len(value) <= 32 and _DUNDER_FRAGMENT_RE.fullmatch(value):
            self._issue(GGF708, f"{what} {value!r} (a dunder fragment)", node, Severity.MEDIUM)

    def _check_built_string(self, node: nodes.Node) -> None:
        """Report dunder names that exist only after render-time string building (obfuscation)."""
        parent = self.parent.get(id(node))
        if parent is not None and _is_string_builder(parent):
            return  # the outermost builder reports
        if not _is_string_builder(node):
            return
        values = self._fold_or_none(node)
        for value in values or ():
            m = _DUNDER_RE.search(value)
            if m and not any(
                (isinstance(c, nodes.Const) and isinstance(c.value, str) and m.group(0) in c.value)
                or (isinstance(c, nodes.TemplateData) and m.group(0) in c.data)
                for c in node.find_all((nodes.Const, nodes.TemplateData))
            ):
                self._issue(GGF700, f"name {m.group(0)!r} assembled at render time", node, Severity.CRITICAL)
                return

    def _check_load(self, node: nodes.Include | nodes.Import | nodes.FromImport | nodes.Extends) -> None:
        kind = type(node).__name__.lower().replace("fromimport", "from-import")
        targets = self._fold_or_none(node.template)
        if targets is None:
            self._issue(GGF704, f"{kind} of a template named at render time", node, Severity.HIGH)
            return
        for target in targets:
            risky = target.startswith(("/", "\\")) or ".." in target or ":" in target
            self._issue(GGF704, f"{kind} {target!r}", node, Severity.HIGH if risky else Severity.MEDIUM)

    def _check_arith(self, node: nodes.Mul | nodes.Pow) -> None:
        if isinstance(node, nodes.Pow):
            value = self._fold_int(node)
            if value is not None and abs(value) >= _HUGE:
                self._issue(GGF705, "power with a huge result", node)
            return
        for side in (node.left, node.right):
            count = self._fold_int(side)
            if count is not None and count > _MAX_RANGE:
                self._issue(GGF705, f"repetition × {_fmt_int(count)}", node)
                return

    def _check_chain(self, node: nodes.Getattr | nodes.Getitem) -> None:
        parent = self.parent.get(id(node))
        if _chain_next(parent) is node:
            return  # only the outermost link of a chain counts it
        depth = 0
        cur: nodes.Node | None = node
        while cur is not None:
            if isinstance(cur, (nodes.Getattr, nodes.Getitem)):
                depth += 1
            cur = _chain_next(cur)
        if depth > _MAX_CHAIN:
            self._issue(GGF706, f"{depth} levels", node)

    @staticmethod
    def _is_plain_data(node: nodes.Node) -> bool:
        return isinstance(node, (nodes.Name, nodes.Getattr, nodes.Getitem))

    # ---- folding ------------------------------------------------------------------------------------

    def _fold_or_none(self, node: nodes.Node) -> frozenset[str] | None:
        try:
            return self._fold(node, 0)
        except (_Unknown, RecursionError, ValueError, TypeError, IndexError, OverflowError):
            return None

    def _fold(self, node: nodes.Node, depth: int) -> frozenset[str]:
        """Every string ``node`` can evaluate to, when that follows from constants alone."""
        if depth > _MAX_DEPTH:
            raise _Unknown
        d = depth + 1
        if isinstance(node, nodes.Const):
            if isinstance(node.value, str):
                return frozenset({node.value})
            raise _Unknown
        if isinstance(node, nodes.TemplateData):
            return frozenset({node.data})
        if isinstance(node, nodes.Name):
            return self._fold_var(node.name, d)
        if isinstance(node, nodes.Getattr) and isinstance(node.node, nodes.Name):
            return self._fold_var(f"{node.node.name}.{node.attr}", d)
        if isinstance(node, nodes.Concat):
            return self._combine([self._fold(n, d) for n in node.nodes])
        if isinstance(node, nodes.Add):
            return self._combine([self._fold(node.left, d), self._fold(node.right, d)])
        if isinstance(node, nodes.CondExpr):
            parts = self._fold(node.expr1, d)
            return _cap(parts | (self._fold(node.expr2, d) if node.expr2 is not None else frozenset({""})))
        if isinstance(node, nodes.Mul):
            return self._fold_repeat(node, d)
        if isinstance(node, nodes.Mod):
            return self._fold_printf(self._fold(node.left, d), node.right, d)
        if isinstance(node, nodes.Output):
            return self._combine([self._fold(n, d) for n in node.nodes])
        if isinstance(node, nodes.AssignBlock):
            return self._combine([self._fold(n, d) for n in node.body])
        if isinstance(node, nodes.Getitem):
            return self._fold_getitem(node, d)
        if isinstance(node, nodes.Filter) and node.node is not None:
            return self._fold_filter(node, d)
        if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Getattr):
            return self._fold_method(node, node.node, d)
        raise _Unknown

    def _fold_var(self, key: str, depth: int) -> frozenset[str]:
        values = self.assigned.get(key)
        if not values or key in self._folding or any(v is None for v in values):
            raise _Unknown
        self._folding.add(key)
        try:
            out: set[str] = set()
            for v in values:
                assert v is not None
                out |= self._fold(v, depth)
            return _cap(frozenset(out))
        finally:
            self._folding.discard(key)

    @staticmethod
    def _combine(parts: list[frozenset[str]]) -> frozenset[str]:
        total = 1
        for p in parts:
            total *= max(len(p), 1)
            if total > _MAX_ALTERNATIVES:
                raise _Unknown
        out = frozenset("".join(combo) for combo in product(*parts))
        if any(len(s) > _MAX_FOLD_LEN for s in out):
            raise _Unknown
        return out

    def _fold_repeat(self, node: nodes.Mul, depth: int) -> frozenset[str]:
        for text_side, count_side in ((node.left, node.right), (node.right, node.left)):
            count = self._fold_int(count_side)
            if count is None:
                continue
            texts = self._fold(text_side, depth)
            if any(len(t) * max(count, 0) > _MAX_FOLD_LEN for t in texts):
                raise _Unknown
            return frozenset(t * count for t in texts)
        raise _Unknown

    def _fold_printf(self, formats: frozenset[str], args_node: nodes.Node, depth: int) -> frozenset[str]:
        """``'%s%s' % (a, b)`` and ``|format``, restricted to %s/%d/%i/%c (no widths: no allocation bombs)."""
        arg_nodes: list[nodes.Node] = (
            list(args_node.items) if isinstance(args_node, (nodes.Tuple, nodes.List)) else [args_node]
        )
        args = [self._fold_scalar(a, depth) for a in arg_nodes]
        out = set()
        for fmt in formats:
            if "%" in _PRINTF_RE.sub("", fmt):
                raise _Unknown
            for combo in product(*args):
                out.add(fmt % tuple(combo))
        return self._combine([frozenset(out)])

    def _fold_scalar(self, node: nodes.Node, depth: int) -> list[str | int]:
        value = self._fold_int(node)
        if value is not None:
            if not 0 <= value < 0x110000:
                raise _Unknown
            return [value]
        return list(self._fold(node, depth))

    def _fold_getitem(self, node: nodes.Getitem, depth: int) -> frozenset[str]:
        texts = self._fold(node.node, depth)
        arg = node.arg
        if isinstance(arg, nodes.Slice):
            bounds = [None if b is None else self._fold_int(b) for b in (arg.start, arg.stop, arg.step)]
            for b, src in zip(bounds, (arg.start, arg.stop, arg.step), strict=True):
                if src is not None and b is None:
                    raise _Unknown
            if bounds[2] == 0:
                raise _Unknown
            return frozenset(t[bounds[0]:bounds[1]:bounds[2]] for t in texts)
        index = self._fold_int(arg)
        if index is None:
            raise _Unknown
        return frozenset(t[index] for t in texts)

    def _fold_list(self, node: nodes.Node, depth: int) -> list[frozenset[str]]:
        if isinstance(node, (nodes.List, nodes.Tuple)):
            if len(node.items) > 256:
                raise _Unknown
            return [self._fold(item, depth) for item in node.items]
        if isinstance(node, nodes.Name):
            values = self.assigned.get(node.name)
            if values and len(values) == 1 and values[0] is not None and node.name not in self._folding:
                self._folding.add(node.name)
                try:
                    return self._fold_list(values[0], depth + 1)
                finally:
                    self._folding.discard(node.name)
        texts = self._fold(node, depth)
        if len(texts) == 1:
            return [frozenset({ch}) for ch in next(iter(texts))]
        raise _Unknown

    def _fold_filter(self, node: nodes.Filter, depth: int) -> frozenset[str]:
        assert node.node is not None
        name = node.name
        args = node.args
        if name == "join":
            sep = self._fold(args[0], depth) if args else frozenset({""})
            items = self._fold_list(node.node, depth)
            return self._combine(_interleave(items, sep))
        if name in ("format",):
            return self._fold_printf(self._fold(node.node, depth), nodes.Tuple(list(args), "load"), depth)
        texts = self._fold(node.node, depth)
        if name in _STRING_FILTERS_1 and not args:
            return frozenset(_STRING_FILTERS_1[name](t) for t in texts)
        if name == "reverse":
            return frozenset(t[::-1] for t in texts)
        if name in ("first", "last"):
            return frozenset(t[0 if name == "first" else -1] for t in texts if t)
        if name in ("default", "d"):
            return texts
        if name == "replace" and len(args) >= 2:
            return self._replace(texts, self._fold(args[0], depth), self._fold(args[1], depth))
        raise _Unknown

    def _fold_method(self, node: nodes.Call, method: nodes.Getattr, depth: int) -> frozenset[str]:
        name = method.attr
        if name == "join" and len(node.args) == 1:
            sep = self._fold(method.node, depth)
            return self._combine(_interleave(self._fold_list(node.args[0], depth), sep))
        texts = self._fold(method.node, depth)
        if name in _STRING_METHODS_1 and not node.args:
            return frozenset(_STRING_METHODS_1[name](t) for t in texts)
        if name == "replace" and len(node.args) == 2:
            return self._replace(texts, self._fold(node.args[0], depth), self._fold(node.args[1], depth))
        if name == "format" and not node.kwargs:
            args = [self._fold(a, depth) for a in node.args]
            out = set()
            for fmt in texts:
                if not _simple_format(fmt):
                    raise _Unknown
                for combo in product(*args):
                    out.add(fmt.format(*combo))
            return self._combine([frozenset(out)])
        raise _Unknown

    def _replace(self, texts: frozenset[str], olds: frozenset[str], news: frozenset[str]) -> frozenset[str]:
        out = set()
        for t, o, n in product(texts, olds, news):
            if not o or len(t) + t.count(o) * max(len(n) - len(o), 0) > _MAX_FOLD_LEN:
                raise _Unknown
            out.add(t.replace(o, n))
        return _cap(frozenset(out))

    def _fold_int(self, node: nodes.Node, depth: int = 0) -> int | None:
        """Integer value of a constant expression, with results beyond ``_HUGE`` clamped (never computed)."""
        if depth > _MAX_DEPTH:
            return None
        d = depth + 1
        if isinstance(node, nodes.Const):
            v = node.value
            if isinstance(v, bool) or not isinstance(v, int):
                return None
            return max(min(v, _HUGE), -_HUGE)
        if isinstance(node, nodes.Neg):
            v = self._fold_int(node.node, d)
            return None if v is None else -v
        if isinstance(node, nodes.Filter) and node.name == "int" and node.node is not None and not node.args:
            texts = self._fold_or_none(node.node)
            if texts and len(texts) == 1:
                text = next(iter(texts)).strip()
                if re.fullmatch(r"[+-]?\d{1,40}", text):
                    return max(min(int(text), _HUGE), -_HUGE)
            return None
        if isinstance(node, nodes.Name):
            values = self.assigned.get(node.name)
            if values and len(values) == 1 and values[0] is not None and node.name not in self._folding:
                self._folding.add(node.name)
                try:
                    return self._fold_int(values[0], d)
                finally:
                    self._folding.discard(node.name)
            return None
        if isinstance(node, (nodes.Add, nodes.Sub, nodes.Mul, nodes.Pow, nodes.FloorDiv)):
            a = self._fold_int(node.left, d)
            b = self._fold_int(node.right, d)
            if a is None or b is None:
                return None
            if isinstance(node, nodes.Add):
                r = a + b
            elif isinstance(node, nodes.Sub):
                r = a - b
            elif isinstance(node, nodes.Mul):
                r = a * b
            elif isinstance(node, nodes.FloorDiv):
                if b == 0:
                    return None
                r = a // b
            else:
                if b < 0:
                    return 0
                if abs(a) <= 1:
                    r = a**b if b < 64 else (a if b % 2 else abs(a))
                elif b.bit_length() > 10 or b * abs(a).bit_length() > 110:
                    r = _HUGE
                else:
                    r = a**b
            return max(min(r, _HUGE), -_HUGE)
        return None

    # ---- reporting ----------------------------------------------------------------------------------

    def _group(self) -> list[_Group]:
        groups: dict[tuple[str, int], _Group] = {}
        for issue in self.issues:
            top = self._statement_expr(issue.node)
            key = (issue.rule.id, id(top))
            group = groups.get(key)
            if group is None:
                text = _unparse(top)
                if len(text) > 300:
                    text = _shorten(_unparse(issue.node), 300)
                group = _Group(issue.rule, issue.severity, issue.node.lineno or top.lineno or 0, text)
                groups[key] = group
            group.severity = max(group.severity, issue.severity)
            group.details.append(issue.detail)
        # A process call inside an expression that already escapes is part of the same payload.
        escapes = {k[1] for k in groups if k[0] == GGF700.id}
        for (rule_id, top_id), group in list(groups.items()):
            if rule_id in (GGF701.id, GGF702.id, GGF708.id) and top_id in escapes:
                groups[(GGF700.id, top_id)].details.extend(group.details)
                del groups[(rule_id, top_id)]
        return list(groups.values())

    def _statement_expr(self, node: nodes.Node) -> nodes.Node:
        """The outermost expression containing ``node`` (a ``{{ }}`` body, an ``{% if %}`` test...)."""
        cur = node
        while True:
            parent = self.parent.get(id(cur))
            if parent is None or not isinstance(parent, (nodes.Expr, nodes.Keyword, nodes.Pair, nodes.Operand)):
                return cur
            cur = parent


def _is_string_builder(node: nodes.Node) -> bool:
    if isinstance(node, (nodes.Concat, nodes.Add, nodes.Mod, nodes.AssignBlock)):
        return True
    if isinstance(node, nodes.Filter):
        return node.name in ("join", "format", "reverse", "replace", "lower", "upper", "first", "last")
    if isinstance(node, nodes.Call):
        fn = node.node
        return isinstance(fn, nodes.Getattr) and fn.attr in ("join", "format", "replace", "lower", "upper")
    if isinstance(node, nodes.Getitem):
        return isinstance(node.arg, nodes.Slice)
    return False


def _chain_next(node: nodes.Node | None) -> nodes.Node | None:
    """The object a postfix expression applies to (``a`` in ``a.b``, ``a[0]``, ``a()``, ``a|f``)."""
    if isinstance(node, (nodes.Getattr, nodes.Getitem, nodes.Call, nodes.Filter)):
        inner: nodes.Node | None = node.node
        return inner
    return None


def _interleave(items: list[frozenset[str]], sep: frozenset[str]) -> list[frozenset[str]]:
    out: list[frozenset[str]] = []
    for i, item in enumerate(items):
        if i:
            out.append(sep)
        out.append(item)
    return out


def _cap(values: frozenset[str]) -> frozenset[str]:
    if len(values) > _MAX_ALTERNATIVES:
        raise _Unknown
    return values


def _simple_format(fmt: str) -> bool:
    """Only ``{}`` / ``{0}`` fields without conversions or specs (so folding cannot allocate or look up)."""
    try:
        parsed = list(string.Formatter().parse(fmt))
    except ValueError:
        return False
    return all(
        f is None or ((f == "" or f.isdigit()) and not spec and conv is None) for _, f, spec, conv in parsed
    )


def _fmt_int(value: int) -> str:
    return "more than 10**30" if abs(value) >= _HUGE else f"{value:,}"


def _shorten(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


_CMPOPS = {"eq": "==", "ne": "!=", "gt": ">", "gteq": ">=", "lt": "<", "lteq": "<=", "in": "in", "notin": "not in"}
_BINOPS = {
    "Add": "+", "Sub": "-", "Mul": "*", "Div": "/", "FloorDiv": "//", "Mod": "%", "Pow": "**",
    "And": "and", "Or": "or",
}


def _unparse(node: nodes.Node, depth: int = 0) -> str:
    """A compact source form of an expression, for evidence (Jinja keeps line numbers, not columns)."""
    if depth > _MAX_DEPTH:
        return "…"
    d = depth + 1

    def u(n: nodes.Node | None) -> str:
        return "" if n is None else _unparse(n, d)

    def p(n: nodes.Node | None, postfix: bool = True) -> str:
        """``n`` as the operand of a postfix (``.a``, ``[0]``, ``()``) or filter: parenthesised when needed."""
        loose: tuple[type[nodes.Node], ...] = (
            nodes.BinExpr, nodes.Concat, nodes.CondExpr, nodes.Compare, nodes.UnaryExpr, nodes.Test,
        )
        if postfix:
            loose = (*loose, nodes.Filter)
        text = u(n)
        return f"({text})" if isinstance(n, loose) else text

    def call_args(n: nodes.Call | nodes.Filter | nodes.Test) -> str:
        parts = [u(a) for a in n.args] + [f"{k.key}={u(k.value)}" for k in n.kwargs]
        if n.dyn_args is not None:
            parts.append("*" + u(n.dyn_args))
        if n.dyn_kwargs is not None:
            parts.append("**" + u(n.dyn_kwargs))
        return ", ".join(parts)

    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Const):
        return repr(node.value) if not isinstance(node.value, str) else repr(_shorten(node.value, 80))
    if isinstance(node, nodes.TemplateData):
        return repr(_shorten(node.data, 80))
    if isinstance(node, nodes.Getattr):
        return f"{p(node.node)}.{node.attr}"
    if isinstance(node, nodes.Getitem):
        return f"{p(node.node)}[{u(node.arg)}]"
    if isinstance(node, nodes.Slice):
        text = f"{u(node.start)}:{u(node.stop)}"
        return text + (f":{u(node.step)}" if node.step is not None else "")
    if isinstance(node, nodes.Call):
        return f"{p(node.node)}({call_args(node)})"
    if isinstance(node, nodes.Filter):
        args = call_args(node)
        head = p(node.node, postfix=False) if node.node is not None else ""
        return f"{head}|{node.name}" + (f"({args})" if args else "")
    if isinstance(node, nodes.Test):
        args = call_args(node)
        return f"{p(node.node, postfix=False)} is {node.name}" + (f"({args})" if args else "")
    if isinstance(node, nodes.Concat):
        return " ~ ".join(u(n) for n in node.nodes)
    if isinstance(node, nodes.BinExpr):
        return f"{p(node.left, False)} {_BINOPS.get(type(node).__name__, node.operator)} {p(node.right, False)}"
    if isinstance(node, nodes.Not):
        return f"not {u(node.node)}"
    if isinstance(node, nodes.Neg):
        return f"-{u(node.node)}"
    if isinstance(node, nodes.Pos):
        return f"+{u(node.node)}"
    if isinstance(node, nodes.CondExpr):
        return f"{u(node.expr1)} if {u(node.test)} else {u(node.expr2)}"
    if isinstance(node, nodes.Compare):
        return p(node.expr, False) + "".join(
            f" {_CMPOPS.get(op.op, op.op)} {p(op.expr, False)}" for op in node.ops
        )
    if isinstance(node, nodes.Tuple):
        return "(" + ", ".join(u(i) for i in node.items) + ("," if len(node.items) == 1 else "") + ")"
    if isinstance(node, nodes.List):
        return "[" + ", ".join(u(i) for i in node.items) + "]"
    if isinstance(node, nodes.Dict):
        return "{" + ", ".join(f"{u(p.key)}: {u(p.value)}" for p in node.items) + "}"
    if isinstance(node, nodes.Keyword):
        return f"{node.key}={u(node.value)}"
    if isinstance(node, nodes.NSRef):
        return f"{node.name}.{node.attr}"
    if isinstance(node, nodes.Assign):
        return f"{{% set {u(node.target)} = {u(node.node)} %}}"
    if isinstance(node, nodes.AssignBlock):
        return f"{{% set {u(node.target)} %}}" + "".join(u(n) for n in node.body) + "{% endset %}"
    if isinstance(node, nodes.Output):
        return "".join(u(n) for n in node.nodes)
    if isinstance(node, nodes.Include):
        return f"{{% include {u(node.template)} %}}"
    if isinstance(node, nodes.Import):
        return f"{{% import {u(node.template)} as {node.target} %}}"
    if isinstance(node, nodes.FromImport):
        return f"{{% from {u(node.template)} import … %}}"
    if isinstance(node, nodes.Extends):
        return f"{{% extends {u(node.template)} %}}"
    return f"<{type(node).__name__}>"
