"""``mlvet hub-scan`` with a hub query (``--search/--author/--filter/--limit/--repo-type``) instead of a
``--repos`` file, against the loopback hub stand-in: the real ``HfApi.list_*`` client lists (with ``Link``
pagination), and exactly the listed repositories are resolved, pinned and recorded."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from _cluster import env

from support.hubrepos import write_malicious_repo, write_tiny_bert
from support.hubserver import HubServer

TIMEOUT = 120


@dataclass
class Hub:
    """The running stand-in, its commits by repo id, and a second stand-in that requires a token."""

    server: HubServer
    url: str
    commits: dict[str, str]
    locked_url: str


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """Models org/bert-a, org/bert-b (tag nlp), org/evil (tag pickle), org/notes, other/bert-c (tag nlp); the
    dataset org/data; a space with a hostile id. Listing pages hold 2 repositories. The second server serves
    org/bert-a only with the token ``tok``."""
    root = tmp_path_factory.mktemp("hubq")
    bert = write_tiny_bert(root / "bert")
    folders: dict[str, Path] = {}
    for name in ("org/bert-a", "org/bert-b", "other/bert-c"):
        folders[name] = root / name.replace("/", "_")
        shutil.copytree(bert, folders[name])
        (folders[name] / "README.md").write_text(f"# {name}\n")
    folders["org/evil"] = write_malicious_repo(root / "evil")
    folders["org/notes"] = root / "notes"
    folders["org/notes"].mkdir()
    (folders["org/notes"] / "README.md").write_text("# notes\n")
    server = HubServer(root / "server", list_page_size=2)
    tags = {"org/bert-a": ("nlp",), "org/bert-b": ("nlp",), "other/bert-c": ("nlp",), "org/evil": ("pickle",)}
    commits = {name: server.add_repo(name, folder, tags=tags.get(name, ())) for name, folder in folders.items()}
    data = root / "data"
    data.mkdir()
    (data / "train.csv").write_text("a,b\n1,2\n")
    commits["datasets/org/data"] = server.add_repo("org/data", data, repo_type="dataset")
    server.add_repo("evil-org/x;rm -rf ~", folders["org/notes"], repo_type="space")
    locked = HubServer(root / "locked", tokens=("tok",), require_auth=True)
    locked.add_repo("org/bert-a", folders["org/bert-a"])
    url, locked_url = server.start(), locked.start()
    try:
        yield Hub(server, url, commits, locked_url)
    finally:
        server.stop()
        locked.stop()


def _run(tmp: Path, endpoint: str, *args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    e = env()
    e.pop("HF_TOKEN", None)
    if token:
        e["HF_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "mlvet", "hub-scan", "--db", f"sqlite:///{tmp}/hub.db",
                           "--endpoint", endpoint, "-j", "1", *args], capture_output=True, text=True, env=e,
                          cwd=tmp, check=False, timeout=TIMEOUT)


def _repos(tmp: Path) -> dict[str, set[str]]:
    """Recorded rows grouped by pinned repository (``org/name@commit`` → file names)."""
    engine = sa.create_engine(f"sqlite:///{tmp}/hub.db")
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT path, result FROM scan_run_results")).all()
    finally:
        engine.dispose()
    out: dict[str, set[str]] = {}
    for path, result in rows:
        assert isinstance(json.loads(result) if isinstance(result, str) else result, dict)
        repo, _, name = path.removeprefix("hf://").rpartition("/")
        out.setdefault(repo, set()).add(name)
    return out


def test_search_and_author_select_exactly_the_matching_repos(hub: Hub, tmp_path: Path) -> None:
    done = _run(tmp_path, hub.url, "--search", "BERT", "--author", "org")
    assert done.returncode == 0, done.stderr
    got = _repos(tmp_path)
    assert sorted(got) == [f"org/bert-a@{hub.commits['org/bert-a']}", f"org/bert-b@{hub.commits['org/bert-b']}"]
    assert got[f"org/bert-a@{hub.commits['org/bert-a']}"] == {"README.md", "config.json", "model.safetensors"}
    assert "2 repositories (2 resolved)" in done.stdout


def test_filter_tag_selects_the_tagged_repo(hub: Hub, tmp_path: Path) -> None:
    done = _run(tmp_path, hub.url, "--filter", "pickle")
    assert done.returncode == 1, done.stderr  # org/evil's pickle
    assert sorted(_repos(tmp_path)) == [f"org/evil@{hub.commits['org/evil']}"]
    both = _run(tmp_path, hub.url, "--filter", "pickle", "--filter", "nlp")  # every tag must match: none
    assert both.returncode == 0 and "matched no repository" in both.stderr


def test_limit_is_honoured_across_pages(hub: Hub, tmp_path: Path) -> None:
    hub.server.reset_counters()
    done = _run(tmp_path, hub.url, "--author", "org", "--limit", "3")
    assert done.returncode == 1, done.stderr  # the third in listing order is org/evil
    assert sorted(r.split("@")[0] for r in _repos(tmp_path)) == ["org/bert-a", "org/bert-b", "org/evil"]
    listings = [r for r in hub.server.requests if r.path.split("?")[0] == "/api/models"]
    assert len(listings) == 2  # pages of 2 through the Link header; the third page is never asked for


def test_dataset_query_scans_datasets(hub: Hub, tmp_path: Path) -> None:
    done = _run(tmp_path, hub.url, "--repo-type", "dataset", "--author", "org")
    assert done.returncode == 0, done.stderr
    assert _repos(tmp_path) == {f"datasets/org/data@{hub.commits['datasets/org/data']}": {"train.csv"}}


def test_query_matching_nothing_is_clean_with_a_note(hub: Hub, tmp_path: Path) -> None:
    done = _run(tmp_path, hub.url, "--search", "no-such-repo")
    assert done.returncode == 0, done.stderr
    assert "matched no repository" in done.stderr
    assert _repos(tmp_path) == {}


def test_listing_needs_the_token_and_uses_hf_token(hub: Hub, tmp_path: Path) -> None:
    refused = _run(tmp_path, hub.locked_url, "--author", "org")
    assert refused.returncode == 2 and "cannot list model repositories" in refused.stderr, refused.stderr
    done = _run(tmp_path, hub.locked_url, "--author", "org", token="tok")
    assert done.returncode == 0, done.stderr
    assert [r.split("@")[0] for r in _repos(tmp_path)] == ["org/bert-a"]


def test_hostile_repo_id_in_the_listing_is_incomplete(hub: Hub, tmp_path: Path) -> None:
    done = _run(tmp_path, hub.url, "--repo-type", "space", "--author", "evil-org")
    assert done.returncode == 2
    assert "invalid repository id" in done.stderr


@pytest.mark.parametrize("args", [["--repos", "REPOS", "--search", "bert"], [], ["--limit", "3"],
                                  ["--repos", "REPOS", "--repo-type", "dataset"]])
def test_exactly_one_of_repos_or_query(hub: Hub, tmp_path: Path, args: list[str]) -> None:
    repos = tmp_path / "repos.txt"
    repos.write_text("org/bert-a\n")
    done = _run(tmp_path, hub.url, *[str(repos) if a == "REPOS" else a for a in args])
    assert done.returncode == 4, done.stderr
    assert not (tmp_path / "hub.db").exists() or _repos(tmp_path) == {}
