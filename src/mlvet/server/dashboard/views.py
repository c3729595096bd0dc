"""The dashboard's pages: overview, assets (search and filters), one asset, hosts, runs, gateway log, BOMs.

Every handler is read-only and answers HTML rendered by :mod:`.render` (autoescaped) or a CycloneDX JSON
download. Query parameters are validated here (unknown verdicts, bad page numbers → 422/404 pages, never a
500); database text is shown as text, never as markup.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, Response

from mlvet.server.dashboard.charts import changes_chart
from mlvet.server.dashboard.queries import CHANGE_KINDS, PAGE_SIZE, VERDICTS, Dashboard, Filters
from mlvet.server.dashboard.render import render

#: Response headers of every dashboard page: nothing runs, nothing loads from elsewhere, no framing.
SECURITY_HEADERS = {
    "Content-Security-Policy": ("default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                                "frame-ancestors 'none'; base-uri 'none'"),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
KINDS = ("model", "dataset")
_MAX_PAGE = 10_000


@dataclass(frozen=True)
class PageContext:
    """What the layout needs besides the page's own data (who is signed in, the sign-out form)."""

    base: str
    principal: Any
    csrf: str
    logout_url: str
    can_logout: bool


def html(body: str, status: int = 200) -> HTMLResponse:
    """An HTML response with the dashboard's security headers."""
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


def page_number(raw: str | None) -> int:
    """``?page=`` as a positive int; anything else is page 1 (a bad link must not be a 500)."""
    try:
        n = int(raw or "1")
    except ValueError:
        return 1
    return min(max(n, 1), _MAX_PAGE)


def filters_from(request: Request) -> Filters:
    """The list filters from the query string (bounded lengths; unknown verdicts/kinds are ignored)."""
    q = request.query_params

    def get(name: str, limit: int = 200) -> str:
        return (q.get(name) or "").strip()[:limit]

    verdict = get("verdict")
    kind = get("kind")
    return Filters(q=get("q"), verdict=verdict if verdict in VERDICTS else "", format=get("format", 64),
                   host=get("host", 255), source=get("source", 32), kind=kind if kind in KINDS else "",
                   license=get("license", 100))


class Views:
    """The page handlers over one :class:`Dashboard`; ``context`` builds the layout context of a request."""

    def __init__(self, dash: Dashboard, context: Callable[[Request], PageContext]) -> None:
        self.dash = dash
        self.context = context

    def _page(self, request: Request, template: str, section: str, filters: Filters | None = None,
              status: int = 200, **data: Any) -> HTMLResponse:
        ctx = self.context(request)
        b = ctx.base
        nav = [("overview", "Overview", f"{b}/"), ("assets", "Assets", f"{b}/assets"),
               ("gateway", "Gateway", f"{b}/gateway"), ("hosts", "Hosts", f"{b}/hosts"), ("runs", "Runs", f"{b}/runs")]
        return html(render(template, base=b, nav=nav, section=section, filters=filters, principal=ctx.principal,
                           csrf=ctx.csrf, logout_url=ctx.logout_url, can_logout=ctx.can_logout,
                           change_kinds=CHANGE_KINDS, **data), status)

    def error(self, request: Request, status: int, title: str, message: str) -> HTMLResponse:
        """An error page inside the layout."""
        return self._page(request, "error.html.j2", "", title=title, message=message, status=status)

    def not_found(self, request: Request, message: str) -> HTMLResponse:
        """A 404 page inside the layout."""
        return self.error(request, 404, "Not found", message)

    # -- pages -------------------------------------------------------------------------------------------

    def overview(self, request: Request) -> HTMLResponse:
        """Counts by verdict, format, host and source; changes per day over the last week; recent changes."""
        current = self.dash.current()
        return self._page(request, "overview.html.j2", "overview", total=len(current),
                          facets=self.dash.facets(current), chart=changes_chart(self.dash.changes_by_day()),
                          recent=self.dash.recent_changes(limit=20))

    def assets(self, request: Request) -> HTMLResponse:
        """The searchable, filterable list of current assets."""
        filters = filters_from(request)
        page = page_number(request.query_params.get("page"))
        found = self.dash.current(filters)
        everything = self.dash.facets(self.dash.current()) if filters.active() else self.dash.facets(found)
        selects = [("verdict", "Verdict", list(VERDICTS)), ("kind", "Kind", list(KINDS)),
                   ("format", "Format", sorted(k for k, _n in everything["format"])),
                   ("host", "Host", sorted(k for k, _n in everything["host"])),
                   ("source", "Source", sorted(k for k, _n in everything["source"]))]
        start = (page - 1) * PAGE_SIZE
        b = self.context(request).base

        def link(n: int) -> str:
            return f"{b}/assets?{urlencode({**filters.active(), 'page': n})}"

        return self._page(request, "assets.html.j2", "assets", filters, count=len(found),
                          assets=found[start:start + PAGE_SIZE], selects=selects, page=page,
                          more=len(found) > start + PAGE_SIZE, page_link=link)

    def asset(self, request: Request, asset_id: str) -> HTMLResponse:
        """One asset's newest state: facts, report card, signature, findings, files, hosts, lineage, history."""
        from mlvet.server.dashboard.card import asset_card

        history = self.dash.history(asset_id[:64])
        if not history:
            return self.not_found(request, "No asset with this id is in the inventory.")
        run, asset = history[-1]
        recorded = self.dash.lineage(asset.id, asset.path)
        known = {name for _rel, name, _detail in recorded}
        lineage = [("base model", m, "") for m in asset.metadata.base_models]
        lineage += [("dataset (card)", d, "") for d in asset.metadata.datasets if d not in known]
        lineage += recorded
        return self._page(request, "asset.html.j2", "assets", asset=asset, run=run, history=history,
                          holders=self.dash.holders(asset.id),
                          card=asset_card(asset, run, pushed=run.id in self.dash.pushes_of([run.id or 0])),
                          lineage=lineage)

    def hosts(self, request: Request) -> HTMLResponse:
        """Every host: its current assets, worst verdict, runs and last run."""
        return self._page(request, "hosts.html.j2", "hosts", hosts=self.dash.hosts())

    def runs(self, request: Request) -> HTMLResponse:
        """Runs newest first, filterable by host."""
        host = (request.query_params.get("host") or "").strip()[:255]
        page = page_number(request.query_params.get("page"))
        runs, more = self.dash.runs(host, page)
        b = self.context(request).base

        def link(n: int) -> str:
            return f"{b}/runs?{urlencode({**({'host': host} if host else {}), 'page': n})}"

        pushes = self.dash.pushes_of(r.id for r, _c, _n in runs if r.id is not None)
        return self._page(request, "runs.html.j2", "runs", runs=runs, more=more, page=page, page_link=link,
                          pushes=pushes,
                          host=host, host_options=[h["host"] for h in self.dash.hosts()])

    def run(self, request: Request, run_id: int) -> HTMLResponse:
        """One run: when, where, its changes and the assets it recorded."""
        found = self.dash.run(run_id)
        if found is None:
            return self.not_found(request, f"No run #{run_id} is recorded.")
        run, assets, changes, names = found
        push = self.dash.pushes_of([run_id]).get(run_id)
        fleet = self.dash.fleet_changes(push["push_id"]) if push is not None else None
        if fleet is not None:
            names = {**names, **self.dash.names([a for ids in fleet.values() for a in ids])}
        return self._page(request, "run.html.j2", "runs", run=run, assets=assets, push=push, fleet=fleet,
                          changes={k: getattr(changes, k) for k in CHANGE_KINDS}, names=names)

    def gateway(self, request: Request) -> HTMLResponse:
        """Files the gateway served or refused, newest first, filterable by decision and text."""
        verdict = (request.query_params.get("verdict") or "").strip()[:32]
        q = (request.query_params.get("q") or "").strip()[:200]
        page = page_number(request.query_params.get("page"))
        table = self.dash.gateway_table()
        b = self.context(request).base

        def link(n: int) -> str:
            params = {k: v for k, v in (("verdict", verdict), ("q", q)) if v}
            return f"{b}/gateway?{urlencode({**params, 'page': n})}"

        if table is None:
            return self._page(request, "gateway.html.j2", "gateway", available=False, rows=[], totals=[],
                              verdict=verdict, q=q, page=page, more=False, page_link=link)
        rows, totals, more = self.dash.gateway_log(table, verdict, q, page)
        return self._page(request, "gateway.html.j2", "gateway", available=bool(totals), rows=rows, totals=totals,
                          verdict=verdict, q=q, page=page, more=more, page_link=link)

    # -- BOM downloads -----------------------------------------------------------------------------------

    def bom_fleet(self, request: Request) -> Response:
        """CycloneDX 1.6 JSON of the current assets passing the page's filters (the whole fleet by default)."""
        filters = filters_from(request)
        ids = [a.asset_id for a in self.dash.current(filters)]
        return self._bom(request, self.dash.newest_states(ids), "mlvet-fleet")

    def bom_asset(self, request: Request, asset_id: str) -> Response:
        """CycloneDX 1.6 JSON of one asset's newest state."""
        history = self.dash.history(asset_id[:64])
        if not history:
            return self.not_found(request, "No asset with this id is in the inventory.")
        return self._bom(request, [history[-1][1]], f"mlvet-{history[-1][1].id}")

    def _bom(self, request: Request, assets: list[Any], stem: str) -> Response:
        try:
            from mlvet.bom import bom_json
        except ImportError as exc:
            return self._page(request, "error.html.j2", "", title="BOM support is not installed",
                              message=f"Install mlvet[bom] on the server to download BOMs ({exc.name}).", status=501)
        text = bom_json(assets)
        stamp = datetime.now().strftime("%Y%m%d")
        return Response(text, media_type="application/vnd.cyclonedx+json",
                        headers={**SECURITY_HEADERS,
                                 "Content-Disposition": f'attachment; filename="{stem}-{stamp}.cdx.json"'})

