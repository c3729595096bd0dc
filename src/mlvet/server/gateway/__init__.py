"""The hub gateway of ``mlvet serve``: a scanning, caching stand-in for the Hugging Face Hub.

A user sets ``HF_ENDPOINT`` to the server and ``HF_TOKEN`` to an mlvet token with scope ``gateway``; every
file ``huggingface_hub``/``transformers``/``datasets`` download then comes through :mod:`.routes`, which
serves it only after :mod:`.service` fetched it into the content-addressed cache (:mod:`.objects`), verified
its digest and scanned it under the policy (:mod:`.verdict`), and records each decision (:mod:`.decisions`).

:func:`gateway_router` is the factory listed in the server's ``ROUTERS``.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from fastapi import APIRouter

__all__ = ["gateway_router"]


def gateway_router(settings: Any, state: Any) -> APIRouter:
    """Build the gateway for ``settings.hub_upstream`` and ``settings.cache_dir`` and return its routes.

    Policy: ``MLVET_GATEWAY_POLICY`` (a policy file, as ``mlvet scan --policy``) or the default policy;
    threshold: ``MLVET_GATEWAY_FAIL_ON`` (default ``high``); the gateway's own upstream token:
    ``MLVET_GATEWAY_UPSTREAM_TOKEN``. The :class:`~.service.Gateway` is kept on ``state.gateway``.
    """
    try:
        import httpx  # noqa: F401  (the gateway extra)
    except ModuleNotFoundError:
        return _missing_extra_router()
    from mlvet.policy import default_policy
    from mlvet.scanner import resolve_policy
    from mlvet.server.gateway.routes import build_router, severity_from_env
    from mlvet.server.gateway.service import Gateway

    policy_file = os.environ.get("MLVET_GATEWAY_POLICY")
    policy = resolve_policy(policy_file, Path.cwd()) if policy_file else default_policy()
    gateway = Gateway(settings.hub_upstream, settings.cache_dir, policy=policy,
                      fail_on=severity_from_env(os.environ.get("MLVET_GATEWAY_FAIL_ON")),
                      timeout_s=float(getattr(settings, "request_timeout_s", 60.0)))
    with contextlib.suppress(AttributeError):
        state.gateway = gateway
    return build_router(gateway)


def _missing_extra_router() -> APIRouter:
    """Without httpx the gateway cannot reach an upstream: its routes say which extra to install (501)."""
    from fastapi.responses import JSONResponse

    router = APIRouter(tags=["gateway"])
    message = "the hub gateway needs the 'gateway' extra: pip install 'mlvet[gateway]'"

    async def missing() -> JSONResponse:
        """Every gateway route, when the gateway extra is not installed."""
        return JSONResponse({"error": message}, status_code=501, headers={"X-Error-Message": message})

    for path in ("/api/models/{rest:path}", "/api/datasets/{rest:path}", "/api/spaces/{rest:path}",
                 "/{a}/{b}/resolve/{rest:path}", "/{a}/resolve/{rest:path}"):
        router.add_api_route(path, missing, methods=["GET", "HEAD", "POST"], include_in_schema=False)
    return router
