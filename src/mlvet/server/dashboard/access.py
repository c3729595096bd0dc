"""Who is looking: the dashboard's use of the server's tokens, sessions and CSRF tokens (:mod:`mlvet.server.auth`).

The dashboard adds no credential of its own. A browser signs in on ``/ui/login``, a styled form that posts
the token to the server's ``POST /login`` (which sets the signed, HttpOnly, SameSite=Strict session cookie);
sign-out posts the server's CSRF token to ``POST /logout``. A page needs the ``read`` scope, from the
session, from a bearer token, or from ``anonymous_scopes`` when the operator opened the dashboard to all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import HTTPException, Request

from mlvet.server.auth import SESSION_COOKIE, csrf_token, current_principal
from mlvet.server.tokens import Principal

SCOPE = "read"


@dataclass(frozen=True)
class Verdict:
    """The access decision for one request: a principal allowed to read, or why not."""

    principal: Principal | None
    #: "ok", "login" (send the browser to the login page), "unauthorized" (bad bearer token: 401),
    #: "forbidden" (authenticated without the read scope: 403).
    outcome: str
    message: str = ""


async def check(request: Request) -> Verdict:
    """Decide whether the request may see the dashboard."""
    settings: Any = request.app.state.settings
    try:
        principal = await current_principal(request)
    except HTTPException as exc:
        if request.headers.get("authorization") is not None:
            return Verdict(None, "unauthorized", str(exc.detail))
        return Verdict(None, "login", str(exc.detail))  # an expired or revoked session: sign in again
    if principal is None:
        if SCOPE in settings.anonymous_scopes:
            return Verdict(Principal(token_id=None, name="anonymous", scopes=settings.anonymous_scopes,
                                     via="anonymous"), "ok")
        return Verdict(None, "login")
    if not principal.allows(SCOPE):
        return Verdict(principal, "forbidden", f"token {principal.name!r} lacks the scope {SCOPE!r}")
    return Verdict(principal, "ok")


def has_session(request: Request) -> bool:
    """True when the request came with a session cookie (then the page offers to sign out)."""
    return request.cookies.get(SESSION_COOKIE) is not None


def form_csrf(request: Request) -> str:
    """The server's CSRF token for this session's forms ("" without a session)."""
    return csrf_token(request)
