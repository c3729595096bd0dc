"""Access control for every route: API tokens with scopes, dashboard sessions, CSRF tokens.

* ``Depends(require("push"))`` on a route answers 401 when the request carries no valid credential (none,
  malformed, unknown or revoked token) and 403 when the credential lacks the scope; otherwise the route gets
  the :class:`~mlvet.server.tokens.Principal`. ``admin`` holds every scope. Nothing is anonymous unless the
  operator lists scopes in ``anonymous_scopes``.
* Credentials: ``Authorization: Bearer mlvet_...`` (API clients, ``huggingface_hub`` via ``HF_TOKEN``), or
  the signed session cookie the dashboard's ``POST /login`` sets after checking a token. The cookie holds
  the token's *id* (never the token) and a random nonce, signed with ``session_secret``; it is HttpOnly,
  SameSite=Strict, and re-checked against the database on every request, so revoking the token ends the
  session.
* CSRF: a form rendered for a session carries :func:`csrf_token` (an HMAC of the session nonce); a route
  that changes state depends on :func:`require_csrf`, which accepts the form field ``csrf_token`` or the
  ``X-CSRF-Token`` header. Requests authenticated by a bearer token are not exposed to CSRF (a browser
  never adds that header by itself) and need no CSRF token.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool

from mlvet.server.config import Settings
from mlvet.server.tokens import Principal, lookup, lookup_id

__all__ = ["SESSION_COOKIE", "Principal", "csrf_token", "current_principal", "login_router", "require",
           "require_csrf"]

SESSION_COOKIE = "mlvet_session"
_SALT = "mlvet-session"


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.session_secret, salt=_SALT)


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(401, detail=message, headers={"WWW-Authenticate": 'Bearer realm="mlvet"'})


def _session(request: Request) -> dict[str, Any] | None:
    """The verified session cookie's content ``{"t": token id, "n": nonce}``, or None."""
    cached = request.scope.get("mlvet.session", False)
    if cached is not False:
        return cached  # type: ignore[no-any-return]
    raw = request.cookies.get(SESSION_COOKIE)
    data: dict[str, Any] | None = None
    if raw:
        settings: Settings = request.app.state.settings
        try:
            loaded = _serializer(settings).loads(raw, max_age=settings.session_max_age_s)
        except BadSignature:
            loaded = None
        if isinstance(loaded, dict) and isinstance(loaded.get("t"), int) and isinstance(loaded.get("n"), str):
            data = loaded
    request.scope["mlvet.session"] = data
    return data


async def current_principal(request: Request) -> Principal | None:
    """The request's principal from its bearer token or session cookie; None when it brings neither.

    A credential that is present but invalid raises 401 at once (it is not silently treated as anonymous).
    """
    cached = request.scope.get("mlvet.principal")
    if isinstance(cached, Principal):
        return cached
    store = request.app.state.store
    header = request.headers.get("authorization")
    principal: Principal | None = None
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise _unauthorized("the Authorization header must be 'Bearer <token>'")
        principal = await run_in_threadpool(lookup, store, token.strip())
        if principal is None:
            raise _unauthorized("invalid or revoked token")
    elif request.cookies.get(SESSION_COOKIE) is not None:
        session = _session(request)
        if session is None:
            raise _unauthorized("the session expired or is invalid: log in again")
        principal = await run_in_threadpool(lookup_id, store, session["t"])
        if principal is None:
            raise _unauthorized("the session's token was revoked: log in again")
    if principal is not None:
        request.scope["mlvet.principal"] = principal
    return principal


def require(scope: str) -> Callable[[Request], Awaitable[Principal]]:
    """A FastAPI dependency: the request's principal, which must hold ``scope`` (401/403 otherwise)."""

    async def dependency(request: Request) -> Principal:
        principal = await current_principal(request)
        if principal is None:
            settings: Settings = request.app.state.settings
            if scope in settings.anonymous_scopes:
                return Principal(token_id=None, name="anonymous", scopes=settings.anonymous_scopes, via="anonymous")
            raise _unauthorized(f"authentication required (a token with scope {scope!r}): send "
                                "'Authorization: Bearer <token>'")
        if not principal.allows(scope):
            raise HTTPException(403, detail=f"token {principal.name!r} lacks the scope {scope!r}")
        return principal

    dependency.__name__ = f"require_{scope}"
    return dependency


def csrf_token(request: Request) -> str:
    """The CSRF token to embed in a form for this request's session ("" without a session)."""
    session = _session(request)
    if session is None:
        return ""
    settings: Settings = request.app.state.settings
    key = hashlib.sha256(("csrf:" + settings.session_secret).encode()).digest()
    return hmac.new(key, session["n"].encode(), hashlib.sha256).hexdigest()


async def require_csrf(request: Request) -> None:
    """A FastAPI dependency for state-changing routes: a session-authenticated request must carry the CSRF
    token (form field ``csrf_token`` or header ``X-CSRF-Token``); 403 otherwise."""
    if request.headers.get("authorization") is not None or request.cookies.get(SESSION_COOKIE) is None:
        return
    expected = csrf_token(request)
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise HTTPException(403, detail="missing or wrong CSRF token: reload the page and try again")


def _safe_next(target: str | None) -> str:
    """A redirect target after login: a local path only (no scheme, no host, no ``//`` or backslash)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target or "\x00" in target:
        return "/"
    return target


_LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>mlvet: log in</title></head>
<body><main><h1>mlvet</h1>{message}<form method="post" action="/login">
<label>API token <input type="password" name="token" autocomplete="off" required></label>
<input type="hidden" name="next" value="{next}"><button type="submit">Log in</button></form></main></body></html>"""


def login_router(settings: Settings, state: Any) -> APIRouter:
    """``GET/POST /login`` (token → session cookie) and ``POST /logout``: how a browser reaches the dashboard."""
    router = APIRouter(tags=["auth"])

    @router.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_form(next: str = "/") -> HTMLResponse:
        return HTMLResponse(_LOGIN_PAGE.format(message="", next=html.escape(_safe_next(next), quote=True)))

    @router.post("/login", include_in_schema=False)
    async def login(request: Request, token: str = Form(..., max_length=200),
                    next: str = Form("/", max_length=2000)) -> Response:
        # Login CSRF: a page elsewhere must not log a visitor's browser into the attacker's session. The form
        # has no session to bind a CSRF token to yet, so the browser's own fetch metadata decides (sent by every
        # current browser; scripts and old browsers send none). Not the Origin header: a reverse proxy that
        # rewrites Host would make every login look cross-origin.
        if request.headers.get("sec-fetch-site", "").lower() in {"cross-site", "same-site"}:
            raise HTTPException(403, detail="login from another site refused: open /login on this server")
        principal = await run_in_threadpool(lookup, request.app.state.store, token.strip())
        if principal is None or principal.token_id is None:
            page = _LOGIN_PAGE.format(message='<p role="alert">Invalid or revoked token.</p>',
                                      next=html.escape(_safe_next(next), quote=True))
            return HTMLResponse(page, status_code=401)
        cookie = _serializer(settings).dumps({"t": principal.token_id, "n": secrets.token_urlsafe(16)})
        response = RedirectResponse(quote(_safe_next(next), safe="/?=&%:;,+-_.~"), status_code=303)
        response.set_cookie(SESSION_COOKIE, cookie, max_age=settings.session_max_age_s, httponly=True,
                            samesite="strict", secure=settings.secure_cookies, path="/")
        return response

    @router.get("/api/v1/whoami")
    async def whoami(request: Request) -> dict[str, Any]:
        """The token (or session) this request authenticates with, and its scopes: a credential check."""
        principal = await current_principal(request)
        if principal is None:
            raise _unauthorized("authentication required: send 'Authorization: Bearer <token>'")
        return {"token_id": principal.token_id, "name": principal.name, "scopes": sorted(principal.scopes),
                "via": principal.via}

    @router.get("/api/v1/csrf")
    async def csrf(request: Request) -> dict[str, str]:
        """The CSRF token of this browser session (for scripts of the dashboard; needs the session cookie)."""
        principal = await current_principal(request)
        if principal is None or principal.via != "session":
            raise _unauthorized("a CSRF token belongs to a dashboard session: log in at /login first")
        return {"csrf_token": csrf_token(request)}

    @router.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        await require_csrf(request)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                               secure=settings.secure_cookies)
        return response

    return router
