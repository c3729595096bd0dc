"""The request time limit bounds time to first byte: a handler that has not answered in time gets 503 (and is
cancelled); a response that has started streams to its end. Served by a real uvicorn on loopback, with the
app of ``create_app`` plus two routes that take their time for real."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from _live import free_port
from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from mlvet.server.app import create_app
from mlvet.server.config import Settings


@pytest.fixture
def slow_server(tmp_path: Path) -> Iterator[tuple[str, dict[str, bool]]]:
    app = create_app(Settings(db_url=f"sqlite:///{tmp_path / 'server.db'}", request_timeout_s=0.5))
    router = APIRouter()
    state = {"finished": False}

    @router.get("/slow")
    async def slow() -> dict[str, str]:
        await asyncio.sleep(3)
        state["finished"] = True
        return {"late": "yes"}

    @router.get("/stream")
    async def stream() -> StreamingResponse:
        async def body() -> AsyncIterator[bytes]:
            for _ in range(4):
                yield b"x" * 1000
                await asyncio.sleep(0.3)

        return StreamingResponse(body(), media_type="application/octet-stream")

    app.include_router(router)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield f"http://127.0.0.1:{port}", state
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_time_to_first_byte_is_limited_not_transfer_time(slow_server: tuple[str, dict[str, bool]]) -> None:
    base, state = slow_server
    with httpx.Client(base_url=base, timeout=30) as c:
        t0 = time.monotonic()
        r = c.get("/slow")
        took = time.monotonic() - t0
        assert r.status_code == 503 and "not answered within 0.5 s" in r.json()["detail"]
        assert took < 2.5
        t0 = time.monotonic()
        streamed = c.get("/stream")
        assert streamed.status_code == 200 and len(streamed.content) == 4000
        assert time.monotonic() - t0 > 0.8  # longer than the limit: the answer had started
    time.sleep(3)
    assert not state["finished"]  # the late handler was cancelled, not left running to its end
