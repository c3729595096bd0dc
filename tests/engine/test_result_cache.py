"""The content-hash result cache and the policy digest (issue 14 item 2), on SQLite and PostgreSQL.

A policy change must invalidate every reuse of earlier results: the inventory's reuse of the previous run
(which, before issue 14, ignored the policy) and the result cache.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from mlvet.engine.codec import cacheable, result_from_doc, result_to_doc
from mlvet.inventory import run_inventory
from mlvet.model import Severity, Status
from mlvet.policy import default_policy, load_policy_file
from mlvet.policy.digest import policy_digest
from mlvet.scanner import scan_file
from mlvet.store import Store
from mlvet.store.results import ResultCache

#: A protocol-0 pickle that calls os.system when loaded (never loaded here: only scanned).
EVIL = b"cos\nsystem\n(S'echo owned'\ntR."


def _suppressing(tmp_path: Path, rule: str) -> Path:
    p = tmp_path / "policy.toml"
    p.write_text(f'suppress = ["{rule}"]\n', encoding="utf-8")
    return p


def _rules(asset_findings: object) -> set[str]:
    return {f.rule_id for f in asset_findings}  # type: ignore[attr-defined]


def test_policy_digest_is_stable_across_processes_and_follows_every_change(tmp_path: Path) -> None:
    base = default_policy()
    code = "from mlvet.policy import default_policy; from mlvet.policy.digest import policy_digest; " \
           "print(policy_digest(default_policy()))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert other.stdout.strip() == policy_digest(base) == policy_digest(default_policy())
    suppressed = load_policy_file(_suppressing(tmp_path, "PKL100"), base)
    limits = tmp_path / "limits.toml"
    limits.write_text("[limits]\nmax_depth = 3\n", encoding="utf-8")
    dangerous = tmp_path / "dangerous.toml"
    dangerous.write_text('dangerous = [{ match = "collections:OrderedDict", reason = "test" }]\n', encoding="utf-8")
    digests = {policy_digest(p) for p in (base, suppressed, load_policy_file(limits, base),
                                          load_policy_file(dangerous, base))}
    assert len(digests) == 4


def test_codec_round_trip_keeps_the_verdict_for_another_path(tmp_path: Path) -> None:
    f = tmp_path / "a" / "model.pkl"
    f.parent.mkdir()
    f.write_bytes(EVIL)
    res = scan_file(str(f), default_policy())
    assert res.severity is Severity.CRITICAL and cacheable(res)
    doc = json.loads(json.dumps(result_to_doc(res)))  # what the database stores
    assert str(f) not in json.dumps(doc)  # nothing path-specific is cached
    again = result_from_doc(doc, str(f))
    assert again == res
    moved = result_from_doc(doc, "/elsewhere/model.pkl")
    assert [x.location.path for x in moved.findings] == ["/elsewhere/model.pkl"] * len(res.findings)
    assert [x.rule_id for x in moved.findings] == [x.rule_id for x in res.findings]


def test_error_results_are_never_cached(tmp_path: Path) -> None:
    f = tmp_path / "trunc.pkl"
    f.write_bytes(b"\x80\x04\x95\xff\xff\xff\x00")  # a truncated pickle: an error, which may be transient
    res = scan_file(str(f), default_policy())
    assert res.status is Status.ERROR
    assert not cacheable(res)


def test_policy_change_invalidates_the_inventorys_reuse_of_the_previous_run(db_url: str, tmp_path: Path) -> None:
    tree = tmp_path / "models"
    tree.mkdir()
    (tree / "model.pkl").write_bytes(EVIL)
    with Store(db_url) as store:
        _run, assets, _c, _p = run_inventory([str(tree)], store)
        assert "PKL100" in _rules(assets[0].findings)
        # Same content, same mlvet, *another policy*: the previous run's findings must not be reused.
        policy = load_policy_file(_suppressing(tmp_path, "PKL100"), default_policy())
        _run, assets, _c, _p = run_inventory([str(tree)], store, policy=policy)
        assert "PKL100" not in _rules(assets[0].findings)
        # And back: the default policy reports it again.
        _run, assets, _c, _p = run_inventory([str(tree)], store)
        assert "PKL100" in _rules(assets[0].findings)


def test_inventory_fills_the_cache_and_a_copy_elsewhere_hits_it(db_url: str, tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for d in (one, two):
        d.mkdir()
        (d / "model.pkl").write_bytes(EVIL)
    policy = default_policy()
    digest = policy_digest(policy)
    with Store(db_url) as store:
        run_inventory([str(one)], store)
        with store.engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT sha256, policy_digest, name FROM scan_results_cache")).all()
        sha = __import__("hashlib").sha256(EVIL).hexdigest()
        assert [(r[0], r[1], r[2]) for r in rows] == [(sha, digest, "model.pkl")]
        # Doctor the cached result: if the second tree (other roots, no previous run) is served from the
        # cache, its asset carries the doctored finding instead of a fresh scan's.
        cache = ResultCache(store, digest)
        doc = cache.get([(sha, "model.pkl")])[(sha, "model.pkl")]
        doc["findings"][0]["message"] = "served from the cache"
        with store.engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM scan_results_cache"))
        res = result_from_doc(doc, "x/model.pkl")
        cache.put([(sha, "model.pkl", res)])
        _run, assets, _c, _p = run_inventory([str(two)], store)
        assert "served from the cache" in {f.message for f in assets[0].findings}
        assert all(f.location.path == str(two / "model.pkl") for f in assets[0].findings)
        # Another policy: the cached row (made under the default policy) is not used.
        strict = tmp_path / "strict.toml"
        strict.write_text('severity = { PKL100 = "critical" }\n', encoding="utf-8")
        _run, assets, _c, _p = run_inventory([str(two)], store, policy=load_policy_file(strict, policy))
        assert "served from the cache" not in {f.message for f in assets[0].findings}
        assert "PKL100" in _rules(assets[0].findings)


def test_scan_run_rows_are_written_once_and_only_error_rows_are_replaced(db_url: str, tmp_path: Path) -> None:
    from mlvet.model import FileResult
    from mlvet.store.results import RecordedResult, ScanRuns, item_key

    f = tmp_path / "model.pkl"
    f.write_bytes(EVIL)
    good = scan_file(str(f), default_policy())
    lost = FileResult(path=str(f), format="unknown", status=Status.ERROR, errors=("worker lost",))
    other = FileResult(path=str(tmp_path / "b.pkl"), format="unknown", status=Status.ERROR, errors=("gone",))
    with Store(db_url) as store:
        runs = ScanRuns(store)
        run = runs.create("scan", "inputs", policy_digest(default_policy()), "local")
        runs.record(run.id, [RecordedResult(lost, "src", False, None), RecordedResult(other, "src", False, None)])
        assert runs.done_keys(run.id) == set()  # errors are retried on resume
        runs.record(run.id, [RecordedResult(good, "src", False, 29)])  # replaces the error row
        runs.record(run.id, [RecordedResult(lost, "src", False, None)])  # never replaces a final row
        assert runs.done_keys(run.id) == {item_key(str(f))}
        rows = runs.results(run.id)
        assert [(r.path, r.status) for _s, r, _h, _n in rows] == [(str(tmp_path / "b.pkl"), Status.ERROR),
                                                                   (str(f), Status.SCANNED)]
        assert rows[1][1].severity is Severity.CRITICAL and rows[1][3] == 29
        assert runs.get(run.id) == run and runs.latest("scan", "inputs") == run
