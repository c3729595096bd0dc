"""The dashboard of ``mlvet serve``: server-rendered pages over the fleet inventory and the gateway log.

:func:`dashboard_router` is the factory listed in :data:`mlvet.server.app.ROUTERS`. Pages live under
``/ui``; ``/`` redirects there. Everything is rendered on the server with Jinja2 (autoescaping always on)
and needs no script: the only static file is one style sheet served by the app, and every page carries a
content-security policy that forbids scripts and any request to another origin.

Access: every page needs a signed-in session (``/ui/login`` exchanges a ``read`` token for a session
cookie) or a ``read`` bearer token; without either a browser is redirected to the login page. Only when the
operator grants ``read`` to anonymous users (``anonymous_scopes``) are pages shown without signing in.
"""

from __future__ import annotations

from mlvet.server.dashboard.routes import PREFIX, dashboard_router

__all__ = ["PREFIX", "dashboard_router"]
