"""R data files: ``saveRDS`` (``.rds``), ``save`` (``.RData``/``.rda``) and raw ``serialize`` output.

An ``.rds`` file is one serialization stream (``X\\n`` XDR, ``B\\n`` native, ``A\\n`` ASCII), usually gzip-,
bzip2- or xz-compressed (the compressed handler inflates it, bounded, and hands the stream back here). An
``.RData`` file is ``RDX2\\n``/``RDX3\\n`` (or the ``RDA``/``RDB`` variants) followed by a stream holding a
tagged pairlist of the saved variables. The stream is read by :mod:`mlvet.analysis.rserial` without
evaluating anything; this module ranks what it found:

* an unforced **promise** stored as a value runs its expression when the loaded object is first used
  (CVE-2024-27322): critical. R writes unforced promises only as lazy arguments in a saved closure's
  environment: those are reported only when their expression calls something dangerous.
* an **active binding** runs its function whenever the variable is read: high (critical with a dangerous
  call); ``.First``/``.Last`` functions in an ``.RData`` run when R starts or quits in that folder: high.
* **closures and byte code** run only when called; a model's own functions (family links, formulas) are
  ordinary, so they are one low finding, and high when they call process, code-loading or network functions.
* plain vectors, lists and data frames: no finding.
"""

from __future__ import annotations

from typing import BinaryIO

from mlvet.analysis.rserial import CodeObject, RAnalysis, analyse_serialized
from mlvet.formats.base import Probe, ScanContext, register
from mlvet.model import Severity
from mlvet.rules import define_rule

_RDATA_MAGIC = (b"RDX2\n", b"RDX3\n", b"RDA2\n", b"RDA3\n", b"RDB2\n", b"RDB3\n")
_XDR = (b"X\n\x00\x00\x00\x02", b"X\n\x00\x00\x00\x03")
_NATIVE = (b"B\n\x02\x00\x00\x00", b"B\n\x03\x00\x00\x00")
_ASCII = (b"A\n2\n", b"A\n3\n")
#: R functions that start processes, load or evaluate code, reach the network or delete files.
DANGEROUS_R = frozenset({
    "system", "system2", "shell", "shell.exec", "pipe", "Sys.setenv", "dyn.load", "library.dynam",
    "download.file", "source", "sys.source", "parse", "str2lang", "str2expression", "eval", "evalq",
    "unlink", "file.remove", "socketConnection", "url", "curl", "install.packages", "Sys.chmod",
    "processx::run", "processx::process", "sys::exec_wait", "sys::exec_background", "base::system",
    "base::system2", "base::eval", "base::parse", "base::source", "utils::download.file", "readRDS", "load",
    "unserialize", "reg.finalizer", "rawConnection", "writeBin", "file",
})

OTH056 = define_rule(
    "OTH056", "r-code-on-load", Severity.CRITICAL,
    "A serialized R object (readRDS / load / unserialize) holds code that runs without being called: an "
    "unforced promise stored as a value, an active binding, or .First/.Last in an .RData workspace.",
    "R forces a promise when the loaded value is first used, so its expression runs as soon as the object "
    "is touched (CVE-2024-27322; R 4.4.0 refuses promises); an active binding runs its function whenever the "
    "variable is read; R runs .First when it starts in a folder whose .RData defines it.",
    "Do not load the file in R < 4.4.0; rebuild the object from data (CSV, Parquet) or inspect it with a "
    "parser that does not evaluate.",
    502,
)
OTH057 = define_rule(
    "OTH057", "r-serialized-functions", Severity.LOW,
    "A serialized R object carries functions or byte code (closures), which run only when called; the "
    "finding is high when their code calls process, code-loading, network or file-deletion functions.",
    "A saved model's own functions (glm family links, predict helpers) are ordinary; a function that "
    "shells out or evaluates text is a payload waiting for a caller (a print or predict method).",
    "Review the listed functions; prefer saving model parameters as data.",
    94,
)


def _dangerous(code: CodeObject) -> list[str]:
    seen: list[str] = []
    for c in code.calls:
        if c in DANGEROUS_R and c not in seen:
            seen.append(c)
    return seen


def _label(code: CodeObject) -> str:
    return f"{code.kind} {code.name!r}" if code.name else code.kind


def report_analysis(result: RAnalysis, ctx: ScanContext, *, rdata: bool) -> None:
    """Turn what the reader found into findings (see the module docstring for the ranking)."""
    ordinary: list[CodeObject] = []
    for code in result.code:
        bad = _dangerous(code)
        calls = ", ".join(code.calls[:8]) or "no function calls"
        evidence = f"calls: {calls}"
        if code.kind == "promise" and code.unforced and not code.in_frame:
            ctx.report(OTH056, f"{_label(code)}: an unforced promise stored as a value; R evaluates its "
                       f"expression (calling {calls}) when the loaded object is first used (CVE-2024-27322)",
                       evidence=evidence)
        elif code.kind == "promise" and code.unforced and bad:
            ctx.report(OTH056, f"{_label(code)}: a lazy argument in a saved environment whose expression calls "
                       f"{', '.join(bad)}; it runs when the function that owns it reads the argument",
                       evidence=evidence)
        elif code.kind == "active binding":
            ctx.report(OTH056, f"{_label(code)}: an active binding; its function runs whenever the variable is "
                       f"read{' and calls ' + ', '.join(bad) if bad else ''}",
                       severity=Severity.CRITICAL if bad else Severity.HIGH, evidence=evidence)
        elif code.kind in ("closure", "byte code") and rdata and code.name in (".First", ".Last"):
            ctx.report(OTH056, f"{code.name} is a function in the workspace: R runs it when it starts (or quits) "
                       "in the folder of this .RData", severity=Severity.HIGH, evidence=evidence)
        elif code.kind in ("closure", "byte code") and bad:
            ctx.report(OTH057, f"{_label(code)} calls {', '.join(bad)} (runs when the function is called, e.g. "
                       "by a print or predict method)", severity=Severity.HIGH, evidence=evidence)
        elif code.kind in ("closure", "byte code"):
            ordinary.append(code)
    if ordinary:
        names = ", ".join(sorted({c.name for c in ordinary if c.name})[:8]) or "anonymous"
        ctx.report(OTH057, f"{len(ordinary)} R function(s) ({names}) stored in the object; they run only when "
                   "called and call nothing dangerous", evidence=f"{result.language_objects} language objects")
    extra = sorted(result.altrep_packages - {"base", "stats", "utils", "methods"})
    if extra:
        ctx.report(OTH057, f"ALTREP vectors of package(s) {', '.join(extra)}: R loads those namespaces (their "
                   ".onLoad runs) to rebuild the values", severity=Severity.LOW, evidence=", ".join(extra))


class RDataHandler:
    """R serialization streams and .RData workspaces, recognised by their magic."""

    id = "r-serialized"
    priority = 16

    def sniff(self, probe: Probe) -> bool:
        h = probe.head
        return h[:5] in _RDATA_MAGIC or h[:6] in _XDR or h[:6] in _NATIVE or h[:4] in _ASCII

    def scan(self, stream: BinaryIO, size: int, ctx: ScanContext) -> None:
        head = stream.read(5)
        rdata = head in _RDATA_MAGIC
        stream.seek(5 if rdata else 0)
        ctx.saw_format("r-rdata" if rdata else "r-rds")
        result = analyse_serialized(stream, size, rdata=rdata)
        report_analysis(result, ctx, rdata=rdata)


register(RDataHandler())
