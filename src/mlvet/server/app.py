"""The ASGI application of ``mlvet serve``: :func:`create_app` and the ``ROUTERS`` table.

Each feature (fleet inventory, gateway, dashboard) is a router factory ``(settings, state) -> APIRouter``
listed once in :data:`ROUTERS`; a new feature is one appended line, never an edit of the app factory.
``state`` is the app's :class:`AppState`: the settings and the open :class:`~mlvet.store.Store`.

Every route declares its scope with ``Depends(require(...))`` (:mod:`mlvet.server.auth`); the limits
middleware (:mod:`mlvet.server.limits`) runs before routing. ``/healthz`` is the one route without a token:
it says only whether the database answers (load balancers and ``live_server`` poll it).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from mlvet._version import __version__
from mlvet.server.auth import login_router
from mlvet.server.config import Settings
from mlvet.server.dashboard import dashboard_router
from mlvet.server.gateway import gateway_router
from mlvet.server.limits import LimitsMiddleware
from mlvet.store import Store

__all__ = ["ROUTERS", "AppState", "RouterFactory", "SafeJSONResponse", "create_app"]


class SafeJSONResponse(JSONResponse):
    """JSON whose strings may hold undecodable bytes of file names (lone surrogates, as Python reads them):
    they are written as ``\\udcXX`` escapes instead of failing the whole answer."""

    def render(self, content: Any) -> bytes:
        """Compact JSON, UTF-8; lone surrogates escaped."""
        return json.dumps(content, ensure_ascii=False, allow_nan=False, indent=None,
                          separators=(",", ":")).encode("utf-8", "backslashreplace")


@dataclass
class AppState:
    """What routers share: the settings and the inventory database (opened once per process)."""

    settings: Settings
    store: Store


RouterFactory = Callable[[Settings, AppState], APIRouter]


def _fleet(settings: Settings, state: AppState) -> APIRouter:
    from mlvet.server.fleet_api import fleet_router

    return fleet_router(settings, state)


#: Router factories, in registration order (append-only: each feature adds its own line).
ROUTERS: list[RouterFactory] = [login_router]
ROUTERS.append(_fleet)  # issue 13 item 3: organisation inventory and BOM upload (server)
ROUTERS.append(gateway_router)  # issue 13 item 2: the hub gateway (HF_ENDPOINT=<server>)
ROUTERS.append(dashboard_router)  # the dashboard under /ui (issue 13 item 4)


def create_app(settings: Settings, *, store: Store | None = None) -> FastAPI:
    """The application for ``settings``; opens (and migrates) the database unless a ``store`` is given."""
    store = store if store is not None else Store(settings.db_url)
    state = AppState(settings=settings, store=store)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()

    app = FastAPI(title="mlvet", version=__version__, lifespan=lifespan, default_response_class=SafeJSONResponse,
                  description="Organisation inventory, hub gateway and dashboard of mlvet. Every route but "
                              "/healthz needs a token (Authorization: Bearer mlvet_...) with the scope it names.")
    app.state.settings = settings
    app.state.store = store
    app.state.mlvet = state

    @app.get("/healthz", tags=["health"])
    async def healthz() -> JSONResponse:
        """200 when the database answers a query, 503 otherwise."""

        def probe() -> None:
            with store.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))

        try:
            await run_in_threadpool(probe)
        except sa.exc.SQLAlchemyError as exc:
            return JSONResponse({"status": "error", "detail": f"database unreachable: {type(exc).__name__}"},
                                status_code=503)
        return JSONResponse({"status": "ok", "version": __version__})

    for factory in ROUTERS:
        app.include_router(factory(settings, state))

    if settings.trusted_hosts:
        from starlette.middleware.trustedhost import TrustedHostMiddleware

        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(settings.trusted_hosts))
    app.add_middleware(LimitsMiddleware, max_body=settings.max_upload_bytes, timeout_s=settings.request_timeout_s)
    return app
