"""Request limits and path safety, enforced before any route runs (one pure-ASGI middleware).

* **Traversal**: a request path with a ``.``/``..`` segment (also when percent-encoded, since the server
  decodes before routing), a backslash or a NUL is answered 400 before routing, so no route ever sees one;
  routes that map URL parts to files still go through :func:`safe_join`.
* **Body size**: ``Content-Length`` over ``max_upload_bytes`` is answered 413 before the body is read; a
  chunked body is counted as it arrives and cut off with 413 at the limit, so memory stays bounded either way.
* **Time**: a request that has not started its answer within ``request_timeout_s`` is answered 408 (its
  body had not fully arrived: a slow client) or 503 (the server took too long), and its handler is
  cancelled. Once an answer has started (a gateway download streaming a large file), the limit no longer
  applies: the time limit bounds time to first byte, not transfer time.

Answers are JSON ``{"detail": "..."}``, like FastAPI's own errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from pathlib import Path, PurePosixPath
from typing import Any

__all__ = ["LimitsMiddleware", "UnsafePath", "safe_join", "unsafe_path_reason"]

Scope = dict[str, Any]
Message = dict[str, Any]


class UnsafePath(ValueError):
    """A path from a request would leave its base folder (or is not a plain relative path)."""


def unsafe_path_reason(path: str) -> str | None:
    """Why ``path`` (a URL path or a relative file path) is unsafe, or None when it is safe to route."""
    if "\x00" in path:
        return "NUL in path"
    if "\\" in path:
        return "backslash in path"
    for segment in path.split("/"):
        if segment in (".", ".."):
            return f"{segment!r} segment in path"
    return None


def safe_join(base: str | os.PathLike[str], *parts: str) -> Path:
    """``base / parts`` when the result stays inside ``base``; :class:`UnsafePath` otherwise.

    Refuses absolute parts, ``.``/``..`` segments, backslashes and NULs outright, then checks the resolved
    path (symlinks followed) is still under the resolved base.
    """
    root = Path(base).resolve()
    rel = PurePosixPath()
    for part in parts:
        reason = unsafe_path_reason(part)
        if reason is not None:
            raise UnsafePath(reason)
        if part.startswith("/") or not part:
            raise UnsafePath("absolute or empty path")
        rel /= part
    target = (root / rel).resolve()
    if target != root and root not in target.parents:
        raise UnsafePath("path leaves its base folder")
    return target


async def _answer(send: Any, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    body = json.dumps({"detail": detail}).encode()
    # No "Connection: close": the server then reads and discards the rest of a refused body before the next
    # request, so the client (which sends the whole body before reading) gets this answer instead of a reset.
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class LimitsMiddleware:
    """Traversal, body-size and time limits for every HTTP request (see the module docstring)."""

    def __init__(self, app: Any, max_body: int, timeout_s: float) -> None:
        self.app = app
        self.max_body = max_body
        self.timeout_s = timeout_s

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reason = unsafe_path_reason(scope.get("path", ""))
        if reason is not None:
            await _answer(send, 400, f"refused request path: {reason} (path traversal)")
            return
        length = None
        chunked = False
        for name, value in scope.get("headers", ()):
            if name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"content-length":
                try:
                    length = int(value)
                except ValueError:
                    await _answer(send, 400, "malformed Content-Length header")
                    return
        if length is not None and length > self.max_body:
            await _answer(send, 413, f"request body of {length} bytes is over the limit of {self.max_body} bytes")
            return

        state = {"started": False, "taken_over": False, "received": 0, "body_done": not length and not chunked}

        async def guarded_send(message: Message) -> None:
            if state["taken_over"]:
                return
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        async def guarded_receive() -> Message:
            message: Message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if not message.get("more_body", False):
                    state["body_done"] = True
                if state["received"] > self.max_body:
                    if not state["started"] and not state["taken_over"]:
                        state["taken_over"] = True
                        await _answer(send, 413, f"request body is over the limit of {self.max_body} bytes")
                    return {"type": "http.disconnect"}
            return message

        task = asyncio.ensure_future(self.app(scope, guarded_receive, guarded_send))
        done, _ = await asyncio.wait({task}, timeout=self.timeout_s)
        if task in done or state["started"] or state["taken_over"]:
            try:
                await task
            except Exception:
                if not state["taken_over"]:
                    raise
                # The app failed on the body we cut off (ClientDisconnect); our 413 answer already went out.
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        if state["started"] or state["taken_over"]:
            return
        state["taken_over"] = True
        if not state["body_done"]:
            await _answer(send, 408, f"the request body did not arrive within {self.timeout_s:g} s")
        else:
            await _answer(send, 503, f"the request was not answered within {self.timeout_s:g} s; try again")
