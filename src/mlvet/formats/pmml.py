"""PMML (and XML model files that declare a DTD): external entities, entity bombs and XInclude.

PMML carries no executable code by design, but it is XML, and many consumers parse it with parsers that
resolve external entities or expand entity definitions (Java JAXB/JPMML set-ups, lxml-based Python
loaders). A PMML file with ``<!ENTITY x SYSTEM "file:///etc/passwd">`` or an external DTD reads local
files or makes network requests (XXE, SSRF); nested internal entities expand exponentially ("billion
laughs"); XInclude pulls in other documents. Genuine exporters (sklearn2pmml, JPMML, nyoka, R pmml, KNIME,
SAS) never write a DTD.

Parsing uses the standard library's expat in streaming mode with a default handler set (which stops expat
from expanding internal entities), parameter-entity parsing disabled and no external-entity handler (so
nothing is ever fetched). Declarations are also found by a bounded textual scan of the prolog, because
expat skips declarations that follow an unresolved parameter-entity reference. Expansion size is
computed arithmetically from the declarations, never by expanding.

Also reported: ``<Extension>`` elements that embed script-like content (low: PMML consumers ignore
extensions they do not know, but some vendors execute them).
"""

from __future__ import annotations

import codecs
import re
from typing import Any, BinaryIO
from xml.parsers import expat

from mlvet.errors import AnalysisError
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.model import Severity
from mlvet.rules import define_rule

CHUNK = 1 << 16
#: Bytes of prolog (before the root element) searched for declarations.
MAX_PROLOG = 4 * 1024 * 1024
#: Expanded size beyond which an entity set is a bomb (genuine uses are a few bytes; real bombs reach GBs).
BOMB_BYTES = 64 * 1024
XINCLUDE_NS = "http://www.w3.org/2001/XInclude"

OTH010 = define_rule(
    "OTH010", "xml-external-entity", Severity.HIGH,
    "The XML declares an external entity or an external DTD (SYSTEM/PUBLIC identifier): XXE.",
    "Parsers that resolve external entities read local files or make network requests while loading the "
    "model (file disclosure, SSRF). No model exporter writes a DTD.",
    "Do not load the file with an entity-resolving parser; re-export the model from its source.",
    611,
)
OTH011 = define_rule(
    "OTH011", "xml-entity-expansion", Severity.HIGH,
    "The XML's internal entities expand to an enormous text (nested entity definitions: 'billion laughs').",
    "Parsers that expand entities exhaust memory and CPU while loading the model.",
    "Do not load the file; re-export the model from its source.",
    776,
)
OTH012 = define_rule(
    "OTH012", "xml-xinclude", Severity.HIGH,
    "The XML uses XInclude to pull other documents into the model.",
    "XInclude-aware parsers read local files or URLs named in the model.",
    "Do not load the file with XInclude processing enabled; re-export the model.",
    611,
)
OTH013 = define_rule(
    "OTH013", "pmml-extension-script", Severity.LOW,
    "A PMML <Extension> element embeds script-like content.",
    "Standard PMML consumers ignore unknown extensions, but vendor runtimes may evaluate scripts in them.",
    "Check which runtime consumes the extension and what the script does.",
    94,
)
OTH014 = define_rule(
    "OTH014", "xml-internal-entity", Severity.LOW,
    "The XML declares internal entities (a DTD inside a model file).",
    "Model exporters never write DTDs; entity declarations are the building blocks of expansion bombs and "
    "can change what different parsers read.",
    "Check where the file comes from.",
    776,
)

_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
_ENTITY_RE = re.compile(
    r"<!ENTITY\s+(%\s+)?([^\s>]+)\s+(?:(SYSTEM|PUBLIC)\s+(\"[^\"]*\"|'[^']*')(?:\s+(\"[^\"]*\"|'[^']*'))?"
    r"|(\"[^\"]*\"|'[^']*'))",
    re.DOTALL,
)
_REF_RE = re.compile(r"[&%]([A-Za-z_:][\w.:-]*);")
_SCRIPT_RE = re.compile(
    r"<script|\beval\s*\(|\bexec\s*\(|__import__|\bimport\s+os\b|\bsubprocess\b|Runtime\.getRuntime|"
    r"ProcessBuilder|\bfunction\s*\(|javascript:|os\.system|\bjava\.lang\.",
    re.IGNORECASE,
)


_ELEMENT_KEYS = (b"XInclude", b"Extension", b"X\x00I\x00n\x00c", b"E\x00x\x00t\x00e\x00n")


def _ignore(_data: str) -> None:
    return


def _decode_head(head: bytes) -> str:
    for bom, enc in _BOMS:
        if head.startswith(bom):
            return head[len(bom) :].decode(enc, "replace")
    if head[:2] == b"<\x00":
        return head.decode("utf-16-le", "replace")
    if head[:2] == b"\x00<":
        return head.decode("utf-16-be", "replace")
    return head.decode("utf-8", "replace")


def _xml_start(text: str) -> bool:
    t = text.lstrip()
    return t.startswith(("<?xml", "<!DOCTYPE", "<!--", "<PMML", "<pmml:PMML"))


class _Entity:
    def __init__(self, name: str, parameter: bool, value: str | None, system: str | None, public: str | None) -> None:
        self.name = name
        self.parameter = parameter
        self.value = value
        self.system = system
        self.public = public


def _expanded_sizes(entities: dict[str, _Entity]) -> dict[str, int]:
    """Length of each internal entity after full expansion, computed without expanding (cycles → huge)."""
    sizes: dict[str, int] = {}
    visiting: set[str] = set()
    cap = BOMB_BYTES * 1024

    def size(name: str, depth: int) -> int:
        if name in sizes:
            return sizes[name]
        ent = entities.get(name)
        if ent is None or ent.value is None or depth > 64:
            return len(name) + 2
        if name in visiting:
            return cap  # a reference cycle never terminates in a naive expander
        visiting.add(name)
        total = len(_REF_RE.sub("", ent.value))
        for ref in _REF_RE.findall(ent.value):
            total = min(cap, total + size(ref, depth + 1))
        visiting.discard(name)
        sizes[name] = total
        return total

    for n in entities:
        size(n, 0)
    return sizes


class _Collector:
    """Expat callbacks: declarations, XInclude, PMML extensions; nothing is expanded or fetched."""

    def __init__(self) -> None:
        self.entities: dict[str, _Entity] = {}
        self.doctype: tuple[str, str | None, str | None] | None = None
        self.root: str | None = None
        self.xinclude: list[str] = []
        self.ext_depth = 0
        self.ext_text: list[str] = []
        self.ext_hits: list[str] = []
        self.ext_script = False
        self.full = False
        self.parser: Any = None

    def first_element(self, name: str, attrs: dict[str, str]) -> None:
        self.root = name
        if self.full:
            self.start(name, attrs)
        else:
            self.parser.StartElementHandler = None

    def enable_elements(self) -> None:
        self.full = True
        self.parser.StartElementHandler = self.start if self.root is not None else self.first_element
        self.parser.EndElementHandler = self.end
        self.parser.CharacterDataHandler = self.chars

    def start_doctype(self, name: str, system: str | None, public: str | None, _internal: int) -> None:
        self.doctype = (name, system, public)

    def entity(
        self, name: str, is_param: int, value: str | None, _base: str | None, system: str | None,
        public: str | None, _notation: str | None,
    ) -> None:
        self.entities.setdefault(name, _Entity(name, bool(is_param), value, system, public))

    def start(self, name: str, attrs: dict[str, str]) -> None:
        local = name.rsplit(" ", 1)[-1]  # namespace processing joins "uri local"
        if name.startswith(XINCLUDE_NS) and local in ("include", "fallback"):
            self.xinclude.append(attrs.get("href", "?"))
        if local == "Extension":
            self.ext_depth += 1
        if self.ext_depth and local.lower() == "script":
            self.ext_script = True

    def end(self, name: str) -> None:
        local = name.rsplit(" ", 1)[-1]
        if local == "Extension" and self.ext_depth:
            self.ext_depth -= 1
            if not self.ext_depth:
                text = "".join(self.ext_text)[:1_000_000]
                m = _SCRIPT_RE.search(text)
                if m:
                    self.ext_hits.append(text[max(0, m.start() - 40) : m.end() + 80].strip())
                elif self.ext_script:
                    self.ext_hits.append("<script> element: " + text.strip()[:200])
                self.ext_text = []
                self.ext_script = False

    def chars(self, data: str) -> None:
        if self.ext_depth and sum(map(len, self.ext_text)) < 1_000_000:
            self.ext_text.append(data)


class XmlModelHandler:
    """PMML documents, and any XML whose prolog declares a DTD (so entity tricks are never skipped)."""

    id = "pmml"
    priority = 62

    def sniff(self, probe: Probe) -> bool:
        text = _decode_head(probe.head)
        if not _xml_start(text):
            return False
        return "<PMML" in text or ":PMML" in text or "<!DOCTYPE" in text or "<!ENTITY" in text

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        head = stream.read(MAX_PROLOG)
        stream.seek(0)
        textual = _textual_entities(_doctype_text(_decode_head(head)))

        col = _Collector()
        parser = expat.ParserCreate(namespace_separator=" ")
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.StartDoctypeDeclHandler = col.start_doctype
        parser.EntityDeclHandler = col.entity
        parser.StartElementHandler = col.first_element
        if textual or "<!ENTITY" in _decode_head(head[:MAX_PROLOG]):
            # A default handler makes expat pass entity references through instead of expanding them.
            # Only documents that declare entities need it (it slows parsing of large files down).
            parser.DefaultHandler = _ignore
        col.parser = parser
        error: str | None = None
        tail = b""
        try:
            while True:
                chunk = stream.read(CHUNK)
                if not col.full and any(k in tail + chunk[:64] or k in chunk for k in _ELEMENT_KEYS):
                    # Element-level checks are needed only from where XInclude/Extension first appear;
                    # until then expat runs without Python callbacks (fast on 100 MB tree ensembles).
                    col.enable_elements()
                parser.Parse(chunk, not chunk)
                if not chunk:
                    break
                tail = chunk[-64:]
        except expat.ExpatError as exc:
            error = f"malformed XML at line {exc.lineno}, column {exc.offset}: {expat.ErrorString(exc.code)}"
        except RecursionError:
            error = "XML nests too deeply to analyse"
        for name, ent in textual.items():
            col.entities.setdefault(name, ent)
        self._report(col, ctx)
        if col.root is not None:
            local = col.root.rsplit(" ", 1)[-1]
            ctx.saw_format("pmml" if local == "PMML" else "xml")
        if error is not None:
            raise AnalysisError(error)

    @staticmethod
    def _report(col: _Collector, ctx: ScanContext) -> None:
        if col.doctype is not None and (col.doctype[1] or col.doctype[2]):
            ident = col.doctype[1] or col.doctype[2]
            ctx.report(OTH010, f"DOCTYPE {col.doctype[0]} loads an external DTD {ident!r}", evidence=str(ident))
        internal: list[str] = []
        for ent in col.entities.values():
            kind = "parameter entity" if ent.parameter else "entity"
            if ent.system or ent.public:
                ident = ent.system or ent.public
                ctx.report(OTH010, f"external {kind} {ent.name!r} refers to {ident!r}", evidence=f"{ent.name} {ident}")
            else:
                internal.append(ent.name)
        if internal:
            sizes = _expanded_sizes(col.entities)
            worst = max(internal, key=lambda n: sizes.get(n, 0))
            if sizes.get(worst, 0) >= BOMB_BYTES:
                ctx.report(OTH011, f"entity {worst!r} expands to at least {sizes[worst]} characters "
                           f"({len(internal)} internal entities)", evidence=worst)
            else:
                ctx.report(OTH014, f"{len(internal)} internal entities declared: {', '.join(internal[:8])}",
                           evidence=internal[0])
        for href in col.xinclude[:20]:
            ctx.report(OTH012, f"XInclude of {href!r}", evidence=href)
        for hit in col.ext_hits[:10]:
            ctx.report(OTH013, "PMML Extension embeds script-like content", evidence=hit[:240])


def _doctype_text(text: str) -> str:
    """The DOCTYPE declaration (with its internal subset) in the prolog text, or ''."""
    start = text.find("<!DOCTYPE")
    if start == -1:
        return ""
    bracket = text.find("[", start)
    close = text.find(">", start)
    if bracket != -1 and (close == -1 or bracket < close):
        end = text.find("]", bracket)
        while end != -1 and not text[end + 1 :].lstrip().startswith(">"):
            end = text.find("]", end + 1)
        return text[start:] if end == -1 else text[start : end + 1]
    return text[start:] if close == -1 else text[start : close + 1]


def _textual_entities(prolog: str) -> dict[str, _Entity]:
    out: dict[str, _Entity] = {}
    for m in _ENTITY_RE.finditer(prolog):
        param, name, kind, first, second, literal = m.groups()
        system = public = value = None
        if kind == "SYSTEM":
            system = first[1:-1]
        elif kind == "PUBLIC":
            public = first[1:-1]
            system = second[1:-1] if second else None
        else:
            value = literal[1:-1] if literal else ""
        out.setdefault(name, _Entity(name, bool(param), value, system, public))
    return out


register(XmlModelHandler())
