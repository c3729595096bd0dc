"""Parsing of the hub URLs the gateway answers: what the clients send is understood, traversal is refused."""

from __future__ import annotations

import pytest

from mlvet.server.gateway.paths import BadRequest, FileRef, RepoRef, parse_api, parse_resolve, pinned_url

COMMIT = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(("raw", "expected"), [
    ("/org/bert/resolve/main/config.json", FileRef(RepoRef("model", "org/bert"), "main", "config.json")),
    ("/gpt2/resolve/main/model.safetensors", FileRef(RepoRef("model", "gpt2"), "main", "model.safetensors")),
    ("/datasets/org/data/resolve/refs%2Fpr%2F1/train/shard.pkl",
     FileRef(RepoRef("dataset", "org/data"), "refs/pr/1", "train/shard.pkl")),
    (f"/spaces/org/app/resolve/{COMMIT}/app.py?requested=main", FileRef(RepoRef("space", "org/app"), COMMIT, "app.py")),
    ("/org/bert/resolve/main/dir/a%20b.bin", FileRef(RepoRef("model", "org/bert"), "main", "dir/a b.bin")),
])
def test_resolve_urls_the_clients_send(raw: str, expected: FileRef) -> None:
    assert parse_resolve(raw) == expected


@pytest.mark.parametrize("raw", [
    "/org/bert/resolve/main/../../etc/passwd",
    "/org/bert/resolve/main/%2e%2e/%2e%2e/etc/passwd",
    "/org/bert/resolve/main/a%2F..%2F..%2Fx",
    "/org/bert/resolve/main/a%00b",
    "/org/bert/resolve/main/a%5Cb",
    "/org/bert/resolve/..%2F..%2Fmain/config.json",
    "/org/bert/resolve/main/",
    "/org/bert/resolve/main//config.json",
    "/org%2F..%2Fx/bert/resolve/main/config.json",
    "/../bert/resolve/main/config.json",
    "/org/bert/resolve/main/%ff%fe",
    "/org/bert/resolve/main/" + "a/" * 600 + "b",
])
def test_traversal_and_malformed_paths_are_4xx(raw: str) -> None:
    with pytest.raises(BadRequest) as info:
        parse_resolve(raw)
    assert 400 <= info.value.status < 500


def test_api_paths() -> None:
    assert parse_api("/api/models/org/bert") == (RepoRef("model", "org/bert"), [])
    assert parse_api("/api/models/gpt2/revision/main") == (RepoRef("model", "gpt2"), ["revision", "main"])
    assert parse_api("/api/datasets/org/d/tree/refs%2Fconvert%2Fparquet/a/b") == \
        (RepoRef("dataset", "org/d"), ["tree", "refs/convert/parquet", "a", "b"])
    assert parse_api("/api/models/org/bert/paths-info/main")[1] == ["paths-info", "main"]
    for bad in ("/api/models/org/bert/tree/main/%2e%2e", "/api/models/org/bert/tree/..%2Fx",
                "/api/models/org/bert/discussions", "/api/users/x/y"):
        with pytest.raises(BadRequest):
            parse_api(bad)


def test_pinned_url_keeps_the_file_path_and_quotes_it() -> None:
    ref = FileRef(RepoRef("dataset", "org/d"), "main", "dir/a b.bin")
    assert pinned_url(ref, COMMIT) == f"/datasets/org/d/resolve/{COMMIT}/dir/a%20b.bin"
