"""Shared pieces of the advisory catalogue: the ``Advisory`` record, the registry and small builders.

Why a separate module: the builders are split by seam (stdlib pickle gadgets, third-party gadgets,
archives, model formats, configs) and all register here; ``build_advisories`` imports every section and
is the only public entry point.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from dataclasses import dataclass

from build_malicious import Asm, Raw, ZEntry, build_zip, frag

PS = "picklescan GHSA-"
FK = "fickling GHSA-"

#: Every registered builder, in registration (import) order.
REGISTRY: list[Callable[[], list[Advisory]]] = []


@dataclass(frozen=True)
class Advisory:
    """One rebuilt published technique.

    ``expect`` is a dotted name (callable or module) that a high or critical finding must name; ``None``
    means the severity alone is checked (container and config attacks whose finding names no callable).
    ``live`` names the real loader that executes the payload (``pickle`` or ``torch``) when the sample is
    safe and cheap to run in a subprocess, else ``None``.
    """

    name: str
    source: str
    published: str
    component: str
    filename: str
    data: bytes
    expect: str | None
    note: str
    live: str | None = None


def advisory(fn: Callable[[], list[Advisory]]) -> Callable[[], list[Advisory]]:
    """Register a builder (one per published advisory or write-up)."""
    REGISTRY.append(fn)
    return fn


def adv(
    name: str,
    source: str,
    published: str,
    data: bytes,
    expect: str | None,
    note: str,
    *,
    component: str = "pickle-sem",
    filename: str | None = None,
    live: str | None = None,
) -> list[Advisory]:
    return [Advisory(name, source, published, component, filename or f"{name}.pkl", data, expect, note, live)]


def new_instance(a: Asm, module: str, name: str) -> Asm:
    """Push ``module.name()`` (an instance built with no arguments) onto the stack."""
    return a.glob(module, name).empty_tuple().reduce()


def method_call(module: str, qual: str, cls: str, *args: object, proto: int = 4) -> bytes:
    """``module.qual(module.cls(), *args)``: an unbound method called on a fresh instance."""
    a = Asm(proto)
    a.glob(module, qual).mark()
    new_instance(a, module, cls)
    for v in args:
        a.val(v)
    a.tuple_().reduce()
    return a.done()


def bare_obj(proto: int, module: str, name: str) -> Raw:
    """A bare instance ``module.name.__new__(module.name)`` via ``copyreg.__newobj__``-free NEWOBJ."""
    return frag(proto, lambda a: a.glob(module, name).empty_tuple().newobj())


def tar_bytes(members: list[tarfile.TarInfo], datas: list[bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for ti, d in zip(members, datas, strict=True):
            ti.mtime = 0
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            if ti.type == tarfile.REGTYPE:
                ti.size = len(d)
                tf.addfile(ti, io.BytesIO(d))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def tar_info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.linkname = link
    ti.mode = mode
    return ti


def keras_zip(config: dict[str, object]) -> bytes:
    meta = {"keras_version": "3.8.0", "date_saved": "2025-01-01@00:00:00"}
    return build_zip(
        [
            ZEntry("metadata.json", json.dumps(meta).encode()),
            ZEntry("config.json", json.dumps(config).encode()),
            ZEntry("model.weights.h5", b"\x89HDF\r\n\x1a\n" + b"\x00" * 8),
        ]
    )


def sequential(layer: dict[str, object]) -> dict[str, object]:
    return {
        "module": "keras",
        "class_name": "Sequential",
        "config": {
            "name": "sequential",
            "layers": [
                {
                    "module": "keras.layers",
                    "class_name": "InputLayer",
                    "config": {"batch_shape": [None, 1], "name": "in"},
                },
                layer,
            ],
        },
        "registered_name": None,
    }
