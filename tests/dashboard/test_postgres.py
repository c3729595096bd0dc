"""The dashboard on PostgreSQL: the same fleet recorded on a throwaway PostgreSQL server, every page read back.

The SQL the pages run (case-insensitive LIKE with escapes, the latest run per host and roots, the push and
gateway tables, reflection) is checked on the second supported database, not only on SQLite.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from _fleet import IMG, build_fleet
from markupsafe import escape

from server._live import live_server, make_token


def test_every_page_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    info = build_fleet(pg_url, tmp_path / "trees")
    token = make_token(pg_url, ["read"])
    gpt2 = next(a for a in info["shared_assets"] if a.name == "tiny-gpt2")
    with live_server(db_url=pg_url) as base, httpx.Client(base_url=base, timeout=30,
                                                         headers={"Authorization": f"Bearer {token}"}) as c:
        overview = c.get("/ui/").text
        assert re.search(r'<div class="n">6</div><div class="l">assets in the current inventory', overview)
        names = re.findall(r'<a href="/ui/assets/[0-9a-f]+">([^<]*)</a>',
                           c.get("/ui/assets", params={"q": "CHECKPOINTS/", "host": "laptop-ana"}).text)
        assert sorted(names) == ["second.pkl", "trojan.pt"]
        assert c.get("/ui/assets", params={"q": "100%_"}).text.count('<a href="/ui/assets/') == 0
        hostile = c.get("/ui/assets", params={"verdict": "critical"}).text
        assert str(escape(f"{IMG}.pkl")) in hostile and IMG not in hostile
        page = c.get(f"/ui/assets/{gpt2.id}").text
        assert 'data-check="code_execution"' in page and "openai-community/gpt2" in page
        for path in ("/ui/hosts", "/ui/runs", f"/ui/runs/{info['second'].id}", "/ui/gateway", "/ui/bom.json"):
            assert c.get(path).status_code == 200, path
        assert "No gateway decisions in this database" in c.get("/ui/gateway").text
