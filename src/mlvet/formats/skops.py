"""skops (``.skops``): a zip whose ``schema.json`` describes every object as a typed node.

skops' safety rests on a list of *trusted types*: ``skops.io.load`` refuses a file whose nodes name a
type outside the defaults unless the user passes ``trusted=...`` (in practice, often
``trusted=get_untrusted_types(file)``, which trusts everything). mlvet reads ``schema.json`` the way
skops' auditor does, without importing anything, and classifies every node's type with mlvet's policy:

* a type in the policy's dangerous tier (``builtins.eval``, ``os.system``, ``operator.call`` ...) is
  critical whatever node refers to it;
* a type outside the safe tier (and outside skops' own default trust: NumPy and scipy.special ufuncs)
  is medium when it is instantiated or called, low when only imported (TypeNode);
* known audit bypasses are reported as such: ``OperatorFuncNode`` whose declared module is not
  ``operator`` or whose operator is not one skops writes (CVE-2025-54412), and ``MethodNode`` whose
  object type differs from the declared one or that binds a private or dunder method (CVE-2025-54413).

Arrays, sparse matrices and byte blobs live in other members (``.npy``/``.npz``/``.bin``); the zip handler
scans them by content like any other member, so an object array (a pickle) inside a skops file is still
analysed. The Hub ``config.json`` fallback to joblib (CVE-2025-54886) is reported by :mod:`formats.hf`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mlvet.containers.zipread import ZipArchive, ZipFormatError, ZipLimitError
from mlvet.formats.base import ScanContext
from mlvet.formats.zip import register_zip_layout
from mlvet.model import Severity
from mlvet.policy import Tier
from mlvet.rules import define_rule

MAX_SCHEMA_BYTES = 256 * 1024 * 1024
MAX_NODES = 5_000_000

OTH001 = define_rule(
    "OTH001", "skops-dangerous-type", Severity.CRITICAL,
    "The skops file names a type or function from the policy's dangerous tier (code execution, "
    "processes, files, network).",
    "skops.io.load imports and calls what schema.json names once the type is trusted, and users commonly "
    "trust whatever get_untrusted_types returns.",
    "Do not load the file, and never pass trusted=get_untrusted_types(...) for it.",
    502,
)
OTH002 = define_rule(
    "OTH002", "skops-untrusted-type", Severity.MEDIUM,
    "The skops file needs a type that is neither in mlvet's safe tier nor trusted by skops by default.",
    "Trusting it lets skops import and instantiate (or call) it while loading; a benign custom class and a "
    "gadget look the same here.",
    "Review the type; trust it explicitly (skops trusted=[...] and mlvet's safe tier) only if you know it.",
    502,
)
OTH003 = define_rule(
    "OTH003", "skops-audit-bypass", Severity.HIGH,
    "A skops node uses a pattern that hides what runs from skops' type audit: OperatorFuncNode with a "
    "misleading module or an unusual operator (CVE-2025-54412), MethodNode with a mismatched object type "
    "or a private/dunder method (CVE-2025-54413).",
    "These nodes reach methods and operator functions that the list of untrusted types does not show, "
    "so trusting the listed types runs something else.",
    "Do not load the file; upgrade skops to 0.12 or later.",
    351,
)
OTH004 = define_rule(
    "OTH004", "skops-unknown-node", Severity.MEDIUM,
    "A skops node uses a loader that mlvet does not know.",
    "mlvet cannot tell what the node constructs; newer skops versions may construct objects through it.",
    "Check the skops version that wrote the file; report the loader name to mlvet.",
)

# Loaders whose (module, class) is a type skops instantiates or reconstructs.
_TYPE_LOADERS = frozenset(
    {
        "ObjectNode", "DictNode", "DefaultDictNode", "ListNode", "SetNode", "TupleNode", "NdArrayNode",
        "MaskedArrayNode", "RandomStateNode", "RandomGeneratorNode", "SparseMatrixNode", "DTypeNode",
        "ConstructorFromReduceNode", "ReduceNode", "LossNode", "TreeNode", "QuantileForestNode",
        "_DictWithDeprecatedKeysNode", "BytesNode", "BytearrayNode", "SliceNode",
    }
)
# Loaders with no type of their own to audit (JSON values, back-references, functools.partial shell).
_NO_TYPE = frozenset({"JsonNode", "CachedNode", "PartialNode"})
_KNOWN = _TYPE_LOADERS | _NO_TYPE | {"FunctionNode", "TypeNode", "MethodNode", "OperatorFuncNode"}

#: NumPy ufuncs (skops trusts them by default for FunctionNode).
_NUMPY_UFUNCS = frozenset(
    [
        "abs", "absolute", "acos", "acosh", "add", "arccos", "arccosh", "arcsin", "arcsinh", "arctan",
        "arctan2", "arctanh", "asin", "asinh", "atan", "atan2", "atanh", "bitwise_and", "bitwise_count",
        "bitwise_invert", "bitwise_left_shift", "bitwise_not", "bitwise_or", "bitwise_right_shift",
        "bitwise_xor", "cbrt", "ceil", "conj", "conjugate", "copysign", "cos", "cosh", "deg2rad", "degrees",
        "divide", "divmod", "equal", "exp", "exp2", "expm1", "fabs", "float_power", "floor", "floor_divide",
        "fmax", "fmin", "fmod", "frexp", "gcd", "greater", "greater_equal", "heaviside", "hypot", "invert",
        "isfinite", "isinf", "isnan", "isnat", "lcm", "ldexp", "left_shift", "less", "less_equal", "log",
        "log10", "log1p", "log2", "logaddexp", "logaddexp2", "logical_and", "logical_not", "logical_or",
        "logical_xor", "matmul", "matvec", "maximum", "minimum", "mod", "modf", "multiply", "negative",
        "nextafter", "not_equal", "positive", "pow", "power", "rad2deg", "radians", "reciprocal", "remainder",
        "right_shift", "rint", "sign", "signbit", "sin", "sinh", "spacing", "sqrt", "square", "subtract", "tan",
        "tanh", "true_divide", "trunc", "vecdot", "vecmat"
    ]
)
_OPERATORS_SKOPS_WRITES = {
    "itemgetter": Severity.MEDIUM, "attrgetter": Severity.HIGH, "methodcaller": Severity.HIGH,
}


def _skops_trusts_function(module: str, name: str) -> bool:
    """skops' default FunctionNode trust: NumPy and scipy.special ufuncs (math only, no I/O)."""
    if module in ("numpy", "numpy._core.umath", "numpy.core.umath") and name in _NUMPY_UFUNCS:
        return True
    return module in ("scipy.special", "scipy.special._ufuncs") and name.isidentifier() and name.islower()


def _iter_nodes(doc: Any) -> Iterator[dict[str, Any]]:
    """Every dict carrying a ``__loader__`` anywhere in the schema (iterative: no recursion limit)."""
    stack = [doc]
    seen = 0
    while stack:
        value = stack.pop()
        seen += 1
        if seen > MAX_NODES:
            raise ValueError(f"schema has more than {MAX_NODES} values")
        if isinstance(value, dict):
            if isinstance(value.get("__loader__"), str):
                yield value
            stack.extend(reversed(list(value.values())))
        elif isinstance(value, list):
            stack.extend(reversed(value))


def _json_strings(node: Any) -> Iterator[str]:
    """Strings inside a subtree, including JSON-encoded JsonNode contents."""
    for sub in _iter_nodes(node):
        if sub.get("__loader__") == "JsonNode" and isinstance(sub.get("content"), str):
            try:
                val = json.loads(sub["content"])
            except (ValueError, RecursionError):
                continue
            if isinstance(val, str):
                yield val
    if isinstance(node, dict):
        for v in node.values():
            if isinstance(v, str):
                yield v


class _Audit:
    def __init__(self, ctx: ScanContext) -> None:
        self.ctx = ctx
        self.counts: dict[tuple[str, str, str], int] = {}
        self.order: list[tuple[str, str, str, Severity, str]] = []

    def add(self, rule_id: str, subject: str, loader: str, severity: Severity, message: str) -> None:
        key = (rule_id, subject, loader)
        if key not in self.counts:
            self.counts[key] = 0
            self.order.append((rule_id, subject, loader, severity, message))
        self.counts[key] += 1

    def flush(self) -> None:
        rules = {"OTH001": OTH001, "OTH002": OTH002, "OTH003": OTH003, "OTH004": OTH004}
        for rule_id, subject, loader, severity, message in self.order:
            n = self.counts[(rule_id, subject, loader)]
            suffix = f" ({n} nodes)" if n > 1 else ""
            self.ctx.report(rules[rule_id], message + suffix, severity=severity, evidence=f"{loader} {subject}")

    def classify(self, module: str, name: str, loader: str, *, called: bool) -> None:
        if not module or not name:
            self.add("OTH002", f"{module}.{name}", loader, Severity.MEDIUM, f"{loader} with an empty type name")
            return
        verdict = self.ctx.policy.classify(module, name)
        qual = f"{module}.{name}"
        if verdict.tier is Tier.DANGEROUS:
            self.add("OTH001", qual, loader, Severity.CRITICAL, f"{loader} references {qual}: {verdict.reason}")
        elif verdict.tier is Tier.UNKNOWN:
            if loader == "FunctionNode" and _skops_trusts_function(module, name):
                return
            sev = Severity.MEDIUM if called else Severity.LOW
            action = "instantiates or calls" if called else "imports"
            self.add("OTH002", qual, loader, sev, f"{loader} {action} {qual}, which is not in the safe tier")

    def node(self, node: dict[str, Any]) -> None:
        loader = node["__loader__"]
        module = node.get("__module__")
        name = node.get("__class__")
        module = module if isinstance(module, str) else ""
        name = name if isinstance(name, str) else ""
        if loader in _NO_TYPE:
            return
        if loader not in _KNOWN:
            self.add("OTH004", f"{module}.{name}", loader, Severity.MEDIUM, f"unknown skops loader {loader!r}")
            self.classify(module, name, loader, called=True)
            return
        if loader == "OperatorFuncNode":
            self.operator(node, module, name)
        elif loader == "MethodNode":
            self.method(node, module, name)
        elif loader == "FunctionNode":
            content = node.get("content")
            if isinstance(content, dict) and isinstance(content.get("module_path"), str):
                # protocol 0 FunctionNode: the function is in the content, not in __module__/__class__.
                self.classify(content["module_path"], str(content.get("function", "")), loader, called=True)
            else:
                self.classify(module, name, loader, called=True)
        elif loader == "TypeNode":
            self.classify(module, name, loader, called=False)
        else:
            self.classify(module, name, loader, called=True)
            if loader == "RandomGeneratorNode":
                content = node.get("content")
                bitgen = content.get("bit_generator") if isinstance(content, dict) else None
                if isinstance(bitgen, str):
                    self.classify("numpy.random", bitgen, loader, called=True)

    def operator(self, node: dict[str, Any], module: str, name: str) -> None:
        qual = f"operator.{name}"
        if module != "operator":
            self.add("OTH003", f"{module}.{name}", "OperatorFuncNode", Severity.CRITICAL,
                     f"OperatorFuncNode declares module {module!r} but skops runs {qual} (CVE-2025-54412)")
        sev = _OPERATORS_SKOPS_WRITES.get(name)
        if sev is None:
            self.add("OTH003", qual, "OperatorFuncNode", Severity.CRITICAL,
                     f"OperatorFuncNode builds {qual}, an operator skops never writes (code-reuse gadget)")
            return
        dunder = [s for s in _json_strings(node.get("attrs")) if "__" in s]
        if dunder and name != "itemgetter":
            self.add("OTH003", qual, "OperatorFuncNode", Severity.CRITICAL,
                     f"{qual} walks dunder attributes {dunder[:3]} (reflection gadget)")
        else:
            self.add("OTH003" if sev >= Severity.HIGH else "OTH002", qual, "OperatorFuncNode", sev,
                     f"OperatorFuncNode builds {qual}, which reaches attributes or methods chosen by the file")

    def method(self, node: dict[str, Any], module: str, name: str) -> None:
        content = node.get("content")
        obj = content.get("obj") if isinstance(content, dict) else None
        func = content.get("func") if isinstance(content, dict) else None
        obj_mod = obj.get("__module__") if isinstance(obj, dict) else None
        obj_cls = obj.get("__class__") if isinstance(obj, dict) else None
        if (obj_mod, obj_cls) != (module, name):
            self.add("OTH003", f"{module}.{name}", "MethodNode", Severity.CRITICAL,
                     f"MethodNode declares {module}.{name} but binds a method of {obj_mod}.{obj_cls} (CVE-2025-54413)")
        if not isinstance(func, str) or not isinstance(obj_mod, str) or not isinstance(obj_cls, str):
            return
        qual = f"{obj_mod}.{obj_cls}.{func}"
        if func.startswith("__") and func.endswith("__"):
            self.add("OTH003", qual, "MethodNode", Severity.CRITICAL, f"MethodNode binds the dunder method {qual}")
            return
        if func.startswith("_"):
            self.add("OTH003", qual, "MethodNode", Severity.HIGH, f"MethodNode binds the private method {qual}")
            return
        verdict = self.ctx.policy.classify(obj_mod, f"{obj_cls}.{func}")
        if verdict.tier is Tier.DANGEROUS:
            self.add("OTH001", qual, "MethodNode", Severity.CRITICAL, f"MethodNode binds {qual}: {verdict.reason}")
        else:
            # Not the policy's safe tier: its class globs (sklearn.*:[A-Z]*) would also match any method
            # name, and skops itself never trusts a bound method by default.
            self.add("OTH002", qual, "MethodNode", Severity.MEDIUM,
                     f"MethodNode binds the method {qual}, which runs when the model calls it")


class SkopsLayout:
    """The zip layout of ``skops.io.dump``: ``schema.json`` plus array/bytes members."""

    id = "skops"
    #: .bin members are raw bytes (BytesNode) and .npy/.npz are arrays: data, scanned by content anyway.
    opaque_members = True

    def matches(self, names: list[str], archive: ZipArchive) -> bool:
        if "schema.json" not in names:
            return False
        member = next(m for m in archive.members if m.name == "schema.json")
        try:
            with archive.open(member, MAX_SCHEMA_BYTES) as f:
                head = f.read(4096)
        except (ZipFormatError, ZipLimitError, OSError):
            return True  # claims it; analyse() reports the unreadable schema
        return b'"__loader__"' in head or b'"protocol"' in head

    def analyse(self, archive: ZipArchive, ctx: ScanContext) -> set[str]:
        handled: set[str] = set()
        # Python's zipfile (which skops uses) reads the last entry of a duplicated name: audit them all.
        for member in archive.members:
            if member.name != "schema.json":
                continue
            handled.add(member.name)
            sub = ctx.child(member.name)
            try:
                with archive.open(member, MAX_SCHEMA_BYTES, max_ratio=ctx.limits.max_ratio) as f:
                    raw = f.read(MAX_SCHEMA_BYTES + 1)
            except (ZipFormatError, ZipLimitError) as exc:
                sub.error(f"unreadable skops schema: {exc}")
                continue
            if len(raw) > MAX_SCHEMA_BYTES:
                sub.error(f"skops schema larger than {MAX_SCHEMA_BYTES} bytes; not analysed")
                continue
            try:
                doc = json.loads(raw.decode("utf-8"))
            except RecursionError:
                sub.error("skops schema nests too deeply to analyse")
                continue
            except (UnicodeDecodeError, ValueError) as exc:
                sub.error(f"skops schema is not valid JSON: {exc}")
                continue
            if not isinstance(doc, dict) or not isinstance(doc.get("__loader__"), str):
                sub.error("skops schema has no root node (__loader__ missing)")
                continue
            audit = _Audit(sub)
            try:
                for node in _iter_nodes(doc):
                    audit.node(node)
            except ValueError as exc:
                sub.error(str(exc))
            audit.flush()
        return handled


register_zip_layout(SkopsLayout())
