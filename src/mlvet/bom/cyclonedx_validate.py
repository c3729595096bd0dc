"""Offline validation of CycloneDX 1.6 documents: the official JSON schema shipped with
``cyclonedx-python-lib``, plus the reference checks the schema cannot express (every ``bom-ref`` that is
used is defined, once)."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

#: The only CycloneDX version mlvet writes (``--spec-version`` accepts exactly this).
SPEC_VERSION = "1.6"


@functools.cache
def _schema_errors() -> Callable[[str, Any], Iterator[Any]]:
    """A function listing the official schema's errors (jsonschema ``ValidationError`` objects) for a document.

    The schema, the registry of the schemas it references and the Draft 7 validator are exactly what
    cyclonedx-python-lib's ``JsonStrictValidator(SchemaVersion.V1_6)`` uses, with one change: the
    ``iri-reference`` format check. jsonschema checks it with ``rfc3987_syntax``, an Earley parser that
    takes 0.1-1.5 s *per URL* (super-linear in its length), so an inventory of a few hundred hub models
    would spend minutes validating. Every URI reference is an IRI reference (RFC 3987), so a string the
    regular-expression RFC 3986 check accepts is accepted at once; anything else (non-ASCII IRIs, invalid
    strings) goes to the original check: the verdict is the library's, only faster (a test compares them).
    When the library's schema files cannot be located this way, its own validator is used unchanged.
    """
    try:
        from cyclonedx.schema._res import BOM_JSON_STRICT, CRYPTOGRAPHY_DEFS, JSF, SPDX_JSON
        from jsonschema import Draft7Validator, FormatChecker
        from referencing import Registry
        from referencing.jsonschema import DRAFT7
        from rfc3986_validator import validate_rfc3986  # type: ignore[import-untyped]

        schema_file = BOM_JSON_STRICT[SchemaVersion.V1_6]
        if schema_file is None:  # pragma: no cover - the library always ships 1.6
            raise ImportError("no CycloneDX 1.6 JSON schema")
    except ImportError:  # pragma: no cover - depends on the installed library versions
        library = JsonStrictValidator(SchemaVersion.V1_6)

        def library_errors(text: str, _doc: Any) -> Iterator[Any]:
            for err in library.validate_str(text, all_errors=True) or ():
                yield err.data

        return library_errors

    def load(path: str) -> Any:
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)

    prefix = "http://cyclonedx.org/schema/"
    registry: Any = Registry().with_resources(
        (prefix + os.path.basename(path), DRAFT7.create_resource(load(path)))
        for path in (SPDX_JSON, CRYPTOGRAPHY_DEFS, JSF)
    )
    checker = FormatChecker(formats=())
    checker.checkers = dict(Draft7Validator.FORMAT_CHECKER.checkers)
    original = checker.checkers.get("iri-reference")
    if original is not None:
        slow, raises = original

        def iri_reference(instance: object) -> bool:
            if isinstance(instance, str) and instance.isascii() and validate_rfc3986(instance, rule="URI_reference"):
                return True
            return bool(slow(instance))

        checker.checkers["iri-reference"] = (iri_reference, raises)
    validator = Draft7Validator(load(schema_file), registry=registry, format_checker=checker)

    def errors(_text: str, doc: Any) -> Iterator[Any]:
        return iter(validator.iter_errors(doc))

    return errors


def validate_bom(text: str) -> list[str]:
    """Problems with a CycloneDX 1.6 JSON document; empty when it is valid.

    Two layers: the official CycloneDX 1.6 JSON schema, which cyclonedx-python-lib ships together with the
    SPDX, JSF and cryptography schemas it references (its validator resolves those from a local registry and
    has no way to fetch anything, so validation works offline), and the reference rules the schema cannot
    express: ``bom-ref`` values are unique, and every ``ref`` (dataset references, ``affects``,
    ``dependencies``) names one of them.
    """
    try:
        doc = json.loads(text)
    except ValueError as exc:
        return [f"not JSON: {exc}"]
    if not isinstance(doc, dict):
        return ["not a CycloneDX document: the top level is not an object"]
    if doc.get("specVersion") != SPEC_VERSION:
        return [f"$.specVersion: expected {SPEC_VERSION!r}, got {doc.get('specVersion')!r}"]
    errors: list[str] = []
    for data in _schema_errors()(text, doc):
        where = getattr(data, "json_path", "$")
        message = getattr(data, "message", str(data))
        errors.append(f"{where}: {message if len(message) <= 300 else message[:300] + '...'}")
    errors.extend(_reference_errors(doc))
    return errors


def _reference_errors(doc: dict[str, Any]) -> list[str]:
    refs: dict[str, int] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            ref = node.get("bom-ref")
            if isinstance(ref, str):
                refs[ref] = refs.get(ref, 0) + 1
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    errors = [f"bom-ref {r!r} is used {n} times" for r, n in sorted(refs.items()) if n > 1]

    def check(ref: Any, where: str) -> None:
        if isinstance(ref, str) and ref not in refs:
            errors.append(f"{where}: ref {ref!r} names no bom-ref in this BOM")

    def components(nodes: Any) -> Iterator[dict[str, Any]]:
        for node in nodes if isinstance(nodes, list) else ():
            if isinstance(node, dict):
                yield node
                yield from components(node.get("components"))

    for comp in components(doc.get("components")):
        card = comp.get("modelCard")
        params = card.get("modelParameters") if isinstance(card, dict) else None
        for item in params.get("datasets", []) if isinstance(params, dict) else ():
            if isinstance(item, dict) and "ref" in item:
                check(item["ref"], f"component {comp.get('bom-ref')!r} modelCard dataset")
    for vuln in doc.get("vulnerabilities", []) or ():
        for target in vuln.get("affects", []) if isinstance(vuln, dict) else ():
            if isinstance(target, dict):
                check(target.get("ref"), f"vulnerability {vuln.get('id')!r} affects")
    for dep in doc.get("dependencies", []) or ():
        if isinstance(dep, dict):
            check(dep.get("ref"), "dependency")
            for target in dep.get("dependsOn", []) or ():
                check(target, f"dependency of {dep.get('ref')!r}")
    return errors
