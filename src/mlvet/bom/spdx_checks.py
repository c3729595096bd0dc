"""Structural checks of an SPDX 3.0.1 JSON-LD graph used by :func:`mlvet.bom.spdx.validate_spdx`: duplicate
ids, cardinalities, and how a failing node is located and shown in an error message."""

from __future__ import annotations

from typing import Any

from spdx_python_model.bindings.v3_0_1 import model as spdx

#: The only SPDX version mlvet writes.
SPEC_VERSION = "3.0.1"


def _describe(obj: Any) -> str:
    ident = getattr(obj, "_id", None) or ""
    return f"{type(obj).__name__}{f' {ident!r}' if ident and not ident.startswith('_:') else ''}"


def _short(exc: BaseException) -> str:
    message = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)  # KeyError quotes its text
    return f"{type(exc).__name__}: {message if len(message) <= 300 else message[:300] + '...'}"


def _duplicate_ids(graph: list[dict[str, Any]]) -> list[str]:
    counts: dict[str, int] = {}
    for item in graph:
        ident = item.get("spdxId", item.get("@id"))
        if isinstance(ident, str):
            counts[ident] = counts.get(ident, 0) + 1
    return [f"spdxId {i!r} is defined {n} times" for i, n in sorted(counts.items()) if n > 1]


def _locate(doc: dict[str, Any], graph: list[dict[str, Any]], exc: BaseException) -> list[str]:
    """Which @graph entries the bindings reject on their own (the whole-document error says only what)."""
    found = []
    for index, item in enumerate(graph):
        where = f"@graph[{index}] ({item.get('type')} {item.get('spdxId', item.get('@id', ''))!r})"
        if item.get("type") not in spdx.SHACLObject.CLASSES:
            found.append(f"{where}: not a class of the SPDX {SPEC_VERSION} model")
            continue
        try:
            spdx.JSONLDDeserializer().deserialize_data({"@context": doc["@context"], "@graph": [item]},
                                                       spdx.SHACLObjectSet())
        except Exception as item_exc:
            found.append(f"{where}: {_short(item_exc)}")
    return found or [f"@graph: {_short(exc)}"]


def _cardinality(objects: spdx.SHACLObjectSet) -> list[str]:
    errors = []
    for obj in objects.foreach():
        class_props: dict[str, Any] = getattr(type(obj), "_OBJ_PY_PROPS")  # noqa: B009 - not in the stub
        for prop in class_props.values():
            value = getattr(obj, prop.pyname)
            name = prop.compact or prop.pyname
            if prop.prop.elide(value):
                if prop.min_count:
                    errors.append(f"{_describe(obj)}: required property {name!r} is missing")
                continue
            if prop.min_count is not None and not prop.prop.check_min_count(value, prop.min_count):
                errors.append(f"{_describe(obj)}: {name!r} needs at least {prop.min_count} values")
            if prop.max_count is not None and not prop.prop.check_max_count(value, prop.max_count):
                errors.append(f"{_describe(obj)}: {name!r} allows at most {prop.max_count} values")
    return errors


def _short_iri(value: str) -> str:
    return value.rsplit("/", 1)[-1]
