"""The dashboard's routes: :func:`dashboard_router` wires :class:`~.views.Views` to URLs behind the login.

Unauthenticated browser requests get a 303 to the login page (with ``next`` set to the page they asked
for, only ever a local dashboard path); requests with a bad bearer token get 401, and a principal without
the ``read`` scope gets 403. Page handlers are synchronous database reads, run in the thread pool.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from mlvet.server.dashboard import access
from mlvet.server.dashboard.queries import Dashboard
from mlvet.server.dashboard.render import render
from mlvet.server.dashboard.views import SECURITY_HEADERS, PageContext, Views, html

PREFIX = "/ui"
_CSS = "dashboard.css"


def _static(name: str) -> bytes:
    return resources.files("mlvet.server.dashboard").joinpath("static", name).read_bytes()


def safe_next(raw: str | None) -> str:
    """A post-login destination: a path under the dashboard, never another site (``//evil``, ``https:``)."""
    if (not raw or not raw.startswith(PREFIX + "/") or raw.startswith("//") or "\\" in raw
            or any(ord(c) < 0x20 for c in raw)):
        return PREFIX + "/"
    return raw[:2000]


def dashboard_router(settings: Any, state: Any) -> APIRouter:
    """The dashboard's APIRouter for :func:`mlvet.server.app.create_app` (an entry of its ``ROUTERS``).

    The store is taken from ``request.app.state.store`` at request time (the app owns its lifecycle).
    """
    del settings, state
    router = APIRouter(include_in_schema=False)
    css = _static(_CSS)
    dashboards: dict[int, Dashboard] = {}

    def views_for(request: Request, principal: Any) -> Views:
        store = request.app.state.store
        dash = dashboards.get(id(store))
        if dash is None or dash.store is not store:
            dash = dashboards[id(store)] = Dashboard(store)

        def context(req: Request) -> PageContext:
            return PageContext(base=PREFIX, principal=principal, csrf=access.form_csrf(req), logout_url="/logout",
                               can_logout=access.has_session(req))

        return Views(dash, context)

    def guarded(name: str) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            verdict = await access.check(request)
            if verdict.outcome == "unauthorized":
                return Response(f"{verdict.message}\n", status_code=401, media_type="text/plain",
                                headers={"WWW-Authenticate": 'Bearer realm="mlvet"', **SECURITY_HEADERS})
            if verdict.outcome == "login":
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"{PREFIX}/login?next={quote(target, safe='')}", status_code=303)
            views = views_for(request, verdict.principal)
            if verdict.outcome == "forbidden":
                return views.error(request, 403, "Not allowed", verdict.message)
            params = dict(request.path_params)
            if "run_id" in params:
                try:
                    params["run_id"] = int(params["run_id"])
                except ValueError:
                    return views.not_found(request, "Runs are numbered.")
            handler = getattr(views, name)
            response: Response = await run_in_threadpool(handler, request, **params)
            return response

        endpoint.__name__ = f"dashboard_{name}"
        return endpoint

    async def home() -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=307)

    router.add_api_route("/", home, methods=["GET"])
    router.add_api_route(PREFIX, home, methods=["GET"])
    pages = [
        ("/", "overview"), ("/assets", "assets"), ("/assets/{asset_id}", "asset"),
        ("/assets/{asset_id}/bom.json", "bom_asset"), ("/bom.json", "bom_fleet"),
        ("/hosts", "hosts"), ("/runs", "runs"), ("/runs/{run_id}", "run"), ("/gateway", "gateway"),
    ]
    for path, name in pages:
        router.add_api_route(PREFIX + path, guarded(name), methods=["GET"])

    async def stylesheet() -> Response:
        return Response(css, media_type="text/css",
                        headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"})

    async def login_page(request: Request) -> Response:
        """The styled sign-in form; it posts to the server's ``/login``, which sets the session cookie."""
        failed = request.query_params.get("error") is not None
        return html(render("login.html.j2", base=PREFIX, login_url="/login",
                           next=safe_next(request.query_params.get("next")),
                           error="Invalid or revoked token." if failed else ""))

    router.add_api_route(f"{PREFIX}/static/{_CSS}", stylesheet, methods=["GET"])
    router.add_api_route(f"{PREFIX}/login", login_page, methods=["GET"])
    return router
