"""The push protocol between ``mlvet inventory --push`` and the server, client side (standard library only).

A push is one JSON document: the run (times, roots, tool version, counters), every asset as
:func:`mlvet.inventory.serialize.asset_to_dict` writes it (files with hashes, findings, metadata), the
host and owner, the client's own run id, and an **idempotency key**: a random key made once per push and
sent unchanged on every retry, so that a push whose answer was lost (timeout, connection reset, server
restart) can be repeated without ever creating a second run. The server answers 201 for a new run and 200
with the same run id for a repeat.

The client has no dependency beyond the standard library (``urllib``): pushing must work on any machine
that runs ``mlvet inventory``, without the ``serve`` extra.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from typing import Any, ClassVar

from mlvet.errors import EXIT_INCOMPLETE, MlvetError
from mlvet.inventory.model import Asset, InventoryRun
from mlvet.inventory.serialize import asset_to_dict, run_to_dict
from mlvet.store.types import escape_text

__all__ = ["PUSH_PATH", "SCHEMA_VERSION", "PushError", "PushRefused", "new_idempotency_key", "push_payload",
           "push_run"]

SCHEMA_VERSION = 1
PUSH_PATH = "/api/v1/runs"
#: Retries after a connection failure, a timeout or a 5xx answer (with back-off), never after a 4xx.
_ATTEMPTS = 4


class PushError(MlvetError):
    """The push could not be delivered (server unreachable or failing after the retries): the run is recorded
    locally but not on the server, so the command is incomplete (exit 2), never done."""

    exit_code: ClassVar[int] = EXIT_INCOMPLETE


class PushRefused(PushError):
    """The server refused the push (bad or revoked token, missing scope, invalid run): exit 4, a
    configuration problem to fix before retrying."""

    exit_code: ClassVar[int] = 4


def new_idempotency_key() -> str:
    """A fresh key for one push (random: two pushes of identical content are still two runs)."""
    return "push-" + uuid.uuid4().hex


def push_payload(run: InventoryRun, assets: Sequence[Asset], *, host: str, owner: str | None,
                 idempotency_key: str) -> dict[str, Any]:
    """The JSON document of one push."""
    docs = []
    for a in assets:
        doc = asset_to_dict(a)
        for out, f in zip(doc["findings"], a.findings, strict=True):
            out["location"]["opcode_index"] = f.location.opcode_index
        docs.append(doc)
    return {"schema_version": SCHEMA_VERSION, "idempotency_key": idempotency_key, "host": host, "owner": owner,
            "client_run_id": None if run.id is None else str(run.id), "run": run_to_dict(run), "assets": docs}


def _escaped(value: Any) -> Any:
    """Every string made valid Unicode: undecodable bytes of file names (lone surrogates) and NUL are mapped
    reversibly (:func:`mlvet.store.types.escape_text`); the server unescapes them. Strict JSON parsers (the
    server's validator among them) refuse lone surrogates, and a file name must not make a push fail."""
    if isinstance(value, str):
        return escape_text(value)
    if isinstance(value, dict):
        return {escape_text(k) if isinstance(k, str) else k: _escaped(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_escaped(v) for v in value]
    return value


def _encode(payload: dict[str, Any]) -> bytes:
    return json.dumps(_escaped(payload), ensure_ascii=True, separators=(",", ":")).encode("ascii")


def push_run(url: str, token: str, payload: dict[str, Any], *, timeout_s: float = 60.0,
             attempts: int = _ATTEMPTS) -> dict[str, Any]:
    """POST the payload to ``url`` (the server's base URL) and return its JSON answer; :class:`PushError`
    when it is refused or unreachable after the retries. Every attempt sends the same idempotency key."""
    body = _encode(payload)
    target = url.rstrip("/") + PUSH_PATH
    if not target.startswith(("http://", "https://")):
        raise PushRefused(f"--push needs an http:// or https:// URL, not {url!r}")
    delay = 0.5
    last = ""
    for attempt in range(attempts):
        request = urllib.request.Request(target, data=body, method="POST", headers={  # noqa: S310 - http(s) only
            "Content-Type": "application/json", "Authorization": f"Bearer {token}",
            "Idempotency-Key": payload["idempotency_key"], "User-Agent": "mlvet-push"})
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - http(s) checked
                answer: dict[str, Any] = json.loads(response.read())
                return answer
        except urllib.error.HTTPError as exc:
            detail = _detail(exc)
            if exc.code < 500:
                raise PushRefused(f"the server refused the push ({exc.code}): {detail}") from None
            last = f"HTTP {exc.code}: {detail}"
        except (urllib.error.URLError, TimeoutError, ConnectionError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        except ValueError as exc:
            last = f"the answer is not JSON: {exc}"
        if attempt + 1 < attempts:
            time.sleep(delay)
            delay *= 2
    raise PushError(f"could not push to {target} after {attempts} attempts: {last}")


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        data = json.loads(exc.read(65536))
    except (ValueError, OSError):
        return exc.reason or ""
    detail = data.get("detail") if isinstance(data, dict) else None
    if isinstance(detail, list):  # FastAPI validation errors
        return "; ".join(f"{'.'.join(map(str, d.get('loc', ())))}: {d.get('msg')}" for d in detail[:5]
                         if isinstance(d, dict))
    return str(detail) if detail is not None else str(exc.reason)
