"""The policy layer: how referenced callables are classified, and how users extend or override it.

Why these cases: every published scanner bypass that is not a parser bug is a classification bug: an
alias the denylist does not know (``posix.system``), an attribute walk (``posixpath`` + ``os.system``), a
reflective dunder chain, or a trusted namespace that launders a gadget. User policy is the other half:
a team must be able to allow its own classes, silence a rule or raise a limit, and a broken policy file
must stop the scan with a message, never silently fall back to defaults.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

import mlvet
from mlvet.errors import PolicyError
from mlvet.model import Severity, Status
from mlvet.policy import DEFAULT_ALIASES, Tier, default_policy, load_policy_file, load_pyproject, normalise_module
from mlvet.scanner import resolve_policy, scan_file

POL = default_policy()

# ---- classification -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "name", "tier", "qualified"),
    [
        ("posix", "system", Tier.DANGEROUS, "os.system"),
        ("nt", "system", Tier.DANGEROUS, "os.system"),
        ("__builtin__", "eval", Tier.DANGEROUS, "builtins.eval"),
        ("__builtin__", "list", Tier.SAFE, "builtins.list"),
        ("_codecs", "encode", Tier.SAFE, "codecs.encode"),
        ("copy_reg", "_reconstructor", Tier.SAFE, "copyreg._reconstructor"),
        ("numpy.core.multiarray", "_reconstruct", Tier.SAFE, "numpy._core.multiarray._reconstruct"),
        ("numpy._core.multiarray", "_reconstruct", Tier.SAFE, "numpy._core.multiarray._reconstruct"),
        ("_posixsubprocess", "fork_exec", Tier.DANGEROUS, "subprocess.fork_exec"),
        ("cPickle", "loads", Tier.DANGEROUS, "pickle.loads"),
    ],
)
def test_module_aliases(module: str, name: str, tier: Tier, qualified: str) -> None:
    verdict = POL.classify(module, name)
    assert verdict.tier is tier, verdict
    assert verdict.qualified == qualified


def test_normalise_module_uses_the_longest_dotted_prefix() -> None:
    assert normalise_module("numpy.core.multiarray", DEFAULT_ALIASES) == "numpy._core.multiarray"
    assert normalise_module("posixpath", DEFAULT_ALIASES) == "os.path"
    assert normalise_module("numpy.corex", DEFAULT_ALIASES) == "numpy.corex"  # prefix match is per segment
    assert normalise_module("mypkg.posix", DEFAULT_ALIASES) == "mypkg.posix"


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("posixpath", "os.system"),
        ("pathlib", "os.system"),
        ("asyncio.subprocess", "subprocess.Popen"),
        ("numpy", "testing._private.utils.runstring"),
        ("numpy.testing._private.utils", "runstring"),
        ("torch", "hub.load"),
        ("os", "path.os.system"),
    ],
)
def test_dotted_walks_reach_the_dangerous_tier(module: str, name: str) -> None:
    assert POL.classify(module, name).tier is Tier.DANGEROUS


@pytest.mark.parametrize(
    ("module", "name"),
    [("collections", "Counter.os.system"), ("typing", "collections.os.system"), ("numpy", "random.os.system")],
)
def test_dangerous_tail_behind_several_segments(module: str, name: str) -> None:
    assert POL.classify(module, name).tier is Tier.DANGEROUS


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("pandas.core.frame", "DataFrame.to_csv"),
        ("sklearn.tree", "DecisionTreeClassifier.os.system"),
        ("torch.nn.modules.linear", "Linear.subprocess.Popen"),
        ("torch.nn.modules.module", "Module.torch.hub.load"),
    ],
)
def test_safe_class_does_not_launder_an_attribute_walk(module: str, name: str) -> None:
    assert POL.classify(module, name).tier is not Tier.SAFE


def _su(text: str) -> bytes:
    raw = text.encode()
    return b"\x8c" + bytes([len(raw)]) + raw


def test_file_write_through_trusted_class_is_reported(tmp_path: Path) -> None:
    data = (
        b"\x80\x04" + _su("pandas.core.frame") + _su("DataFrame.to_csv") + b"\x93"
        + _su("pandas.core.frame") + _su("DataFrame") + b"\x93}" + _su("x") + b"]" + _su("import os") + b"as\x85R"
        + _su(str(tmp_path / "never-written.pth")) + b"\x86R."
    )
    p = tmp_path / "to_csv.pkl"
    p.write_bytes(data)
    result = scan_file(str(p), POL)
    assert result.severity >= Severity.HIGH, result.findings


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("collections", "OrderedDict.__init__.__globals__"),
        ("builtins", "object.__subclasses__"),
        ("torch._utils", "_rebuild_tensor_v2.__globals__"),
        ("sklearn.tree", "DecisionTreeClassifier.__init__.__globals__"),
        ("mypkg", "Thing.__class__.__base__"),
    ],
)
def test_reflective_dunder_walks_are_dangerous(module: str, name: str) -> None:
    verdict = POL.classify(module, name)
    assert verdict.tier is Tier.DANGEROUS
    assert verdict.entry == "reflective"


@pytest.mark.parametrize("module", ["collections", "numpy"])
def test_module_builtins_dict_is_reflective(module: str) -> None:
    assert POL.classify(module, "__builtins__").tier is Tier.DANGEROUS


@pytest.mark.parametrize(
    ("module", "name"), [("", "system"), ("os ", "system"), ("os", "sys\ntem"), ("o\x00s", "system")]
)
def test_malformed_names_are_dangerous(module: str, name: str) -> None:
    assert POL.classify(module, name).tier is Tier.DANGEROUS


def test_dangerous_beats_safe_inside_a_trusted_namespace() -> None:
    assert POL.classify("torch._utils", "_rebuild_tensor_v2").tier is Tier.SAFE
    assert POL.classify("torch.hub", "load").tier is Tier.DANGEROUS
    assert POL.classify("numpy", "load").tier is Tier.DANGEROUS
    assert POL.classify("mypkg.models", "MyNet").tier is Tier.UNKNOWN


# ---- user policy ------------------------------------------------------------------------------------------

MYNET_CALL = b"\x80\x02cmypkg.models\nMyNet\n)R."
SYSTEM_CALL = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."


@pytest.fixture()
def mynet(tmp_path: Path) -> Path:
    p = tmp_path / "mynet.pkl"
    p.write_bytes(MYNET_CALL)
    return p


def _policy(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_unknown_class_call_is_medium_by_default(mynet: Path) -> None:
    result = scan_file(str(mynet), POL)
    assert [(f.rule_id, f.severity) for f in result.findings] == [("PKL110", Severity.MEDIUM)]


def test_extra_safe_entry_makes_an_unknown_class_pass(tmp_path: Path, mynet: Path) -> None:
    pol = load_policy_file(_policy(tmp_path, '[[safe]]\nmatch = "mypkg.models:MyNet"\nreason = "our model"\n'))
    assert pol.classify("mypkg.models", "MyNet").tier is Tier.SAFE
    assert pol.classify("mypkg.models", "Other").tier is Tier.UNKNOWN
    result = scan_file(str(mynet), pol)
    assert result.status is Status.SCANNED and not result.findings
    assert str(tmp_path / "policy.toml") in pol.sources
    assert pol.sources[0] == "builtin:default.toml"


def test_user_safe_entry_cannot_allow_a_dangerous_callable(tmp_path: Path) -> None:
    pol = load_policy_file(_policy(tmp_path, 'safe = ["os:system", "os"]\n'))
    assert pol.classify("os", "system").tier is Tier.DANGEROUS
    p = tmp_path / "sys.pkl"
    p.write_bytes(SYSTEM_CALL)
    assert scan_file(str(p), pol).severity is Severity.CRITICAL


def test_user_dangerous_entry(tmp_path: Path, mynet: Path) -> None:
    pol = load_policy_file(_policy(tmp_path, '[[dangerous]]\nmatch = "mypkg.*"\nreason = "untrusted"\n'))
    result = scan_file(str(mynet), pol)
    assert [(f.rule_id, f.severity) for f in result.findings] == [("PKL100", Severity.CRITICAL)]
    assert "untrusted" in result.findings[0].message


def test_remove_safe_entry(tmp_path: Path) -> None:
    pol = load_policy_file(_policy(tmp_path, 'remove_safe = ["collections:OrderedDict"]\n'))
    assert POL.classify("collections", "OrderedDict").tier is Tier.SAFE
    assert pol.classify("collections", "OrderedDict").tier is Tier.UNKNOWN


def test_suppress_and_severity_overrides(tmp_path: Path, mynet: Path) -> None:
    suppressed = load_policy_file(_policy(tmp_path, 'suppress = ["PKL110"]\n', "s.toml"))
    result = scan_file(str(mynet), suppressed)
    assert not result.findings
    # Suppressed, not forgotten: the finding is kept with the source that suppressed it.
    assert [(f.rule_id, f.suppressed_by) for f in result.suppressed] == [("PKL110", str(tmp_path / "s.toml"))]
    raised = load_policy_file(_policy(tmp_path, '[severity]\nPKL110 = "HIGH"\n', "o.toml"))
    assert [(f.rule_id, f.severity) for f in scan_file(str(mynet), raised).findings] == [("PKL110", Severity.HIGH)]


def _nested_zip(levels: int) -> bytes:
    data = MYNET_CALL
    name = "data.pkl"
    for i in range(levels):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(name, data)
        data, name = buf.getvalue(), f"level{i}.zip"
    return data


def test_limits_override(tmp_path: Path) -> None:
    pol = load_policy_file(_policy(tmp_path, "[limits]\nmax_depth = 1\nmax_string = 100\n"))
    assert (pol.limits.max_depth, pol.limits.max_string) == (1, 100)
    assert pol.limits.max_members == POL.limits.max_members  # untouched limits keep their defaults
    p = tmp_path / "nested.zip"
    p.write_bytes(_nested_zip(3))
    default_result = scan_file(str(p), POL)
    assert default_result.status is Status.SCANNED
    limited = scan_file(str(p), pol)
    assert limited.status is Status.ERROR
    assert "ARC301" in {f.rule_id for f in limited.findings}


def test_policy_file_may_be_a_pyproject_style_table(tmp_path: Path, mynet: Path) -> None:
    pol = load_policy_file(_policy(tmp_path, '[tool.mlvet]\nsuppress = ["PKL110"]\n', "pyproject-like.toml"))
    assert "PKL110" in pol.suppress


def test_pyproject_tool_mlvet_is_found_upwards_and_only_strengthens(tmp_path: Path, mynet: Path) -> None:
    # A discovered table may sit in the very folder being scanned (a downloaded repository), so only its
    # strengthening keys apply: the suppression and the safe entry are ignored, with a warning naming them.
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.mlvet]\nsuppress = ["PKL111"]\n\n[[tool.mlvet.safe]]\n'
        'match = "mypkg.models:*"\nreason = "ours"\n\n[tool.mlvet.limits]\nmax_members = 7\n\n'
        '[[tool.mlvet.dangerous]]\nmatch = "evilpkg"\nreason = "ours"\n',
        encoding="utf-8",
    )
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    pol = load_pyproject(deep)
    assert pol is not None
    assert pol.sources[-1].endswith("pyproject.toml[tool.mlvet]")
    assert not pol.suppress and pol.limits.max_members == 7
    assert pol.classify("mypkg.models", "MyNet").tier is Tier.UNKNOWN
    assert pol.classify("evilpkg.x", "y").tier is Tier.DANGEROUS
    assert len(pol.warnings) == 1 and "ignored safe, suppress" in pol.warnings[0]
    assert scan_file(str(mynet), pol).findings
    # The CLI's resolution order: default, then pyproject, then --policy FILE on top (which applies in full).
    extra = _policy(tmp_path, '[severity]\nPKL100 = "high"\n', "extra.toml")
    combined = resolve_policy(str(extra), deep)
    assert combined.sources[1:] == (pol.sources[-1], str(extra))
    assert combined.limits.max_members == 7 and combined.severity_overrides["PKL100"] is Severity.HIGH
    # The same table passed explicitly applies in full.
    explicit = load_policy_file(tmp_path / "pyproject.toml")
    assert "PKL111" in explicit.suppress and not explicit.warnings


def test_discovered_severity_overrides_may_raise_but_never_lower(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.mlvet.severity]\nPKL111 = "high"\nPKL100 = "info"\n', encoding="utf-8")
    pol = resolve_policy(None, tmp_path)
    assert pol.severity_overrides == {"PKL111": Severity.HIGH}
    assert any("PKL100" in w and "lower" in w for w in pol.warnings)


SYSTEM_PICKLE = b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00id\x85R."


@pytest.mark.parametrize("table", [
    '[tool.mlvet]\nsuppress = ["PKL100"]\n',
    '[tool.mlvet.severity]\nPKL100 = "info"\n',
    '[[tool.mlvet.safe]]\nmatch = "os:system"\nreason = "trust me"\n',
    '[tool.mlvet]\nreplace_defaults = true\n',
    '[tool.mlvet]\nremove_dangerous = ["os"]\n',
    '[tool.mlvet.aliases]\nos = "json"\n',
])
def test_a_repo_local_pyproject_cannot_clear_its_own_malicious_model(
    tmp_path: Path, run_cli, table: str  # type: ignore[no-untyped-def]
) -> None:
    """The fail-open of issue 9: a downloaded repo with its own [tool.mlvet] must not clear itself."""
    repo = tmp_path / "downloaded-repo"
    repo.mkdir()
    (repo / "pyproject.toml").write_text(table, encoding="utf-8")
    (repo / "model.pkl").write_bytes(SYSTEM_PICKLE)
    for cwd, target in ((repo, "."), (tmp_path, str(repo))):
        proc = run_cli(["scan", "--format", "json", target], cwd=cwd)
        assert proc.returncode == 1, (table, proc.stdout, proc.stderr)
        doc = json.loads(proc.stdout)
        sevs = {f["rule_id"]: f["severity"] for r in doc["results"] for f in r["findings"]}
        assert sevs.get("PKL100") == "critical", (table, sevs)
        if cwd == repo:
            assert doc["policy_warnings"] and "ignored" in doc["policy_warnings"][0]


def test_pyproject_without_tool_mlvet_means_default(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    assert load_pyproject(tmp_path) is None


def test_public_api_accepts_a_policy_path(tmp_path: Path, mynet: Path) -> None:
    path = _policy(tmp_path, 'suppress = ["PKL110"]\n')
    report = mlvet.scan(mynet, policy=path)
    assert not report.findings
    assert report.policy_sources == ("builtin:default.toml", str(path))
    assert mlvet.load_policy(path).suppress == frozenset({"PKL110"})


# ---- bad policy files --------------------------------------------------------------------------------------

BAD_POLICIES = {
    "invalid_toml": ("safe = [\n", "not valid TOML"),
    "unknown_key": ("bogus = 1\n", "unknown policy keys ['bogus']"),
    "bad_severity": ('[severity]\nPKL110 = "urgent"\n', "unknown severity 'urgent'"),
    "severity_not_string": ("[severity]\nPKL110 = 3\n", "severity.PKL110 must be a string"),
    "negative_limit": ("[limits]\nmax_depth = -1\n", "limit max_depth must be a positive integer"),
    "string_limit": ('[limits]\nmax_depth = "8"\n', "limit max_depth must be a positive integer"),
    "bool_limit": ("[limits]\nmax_depth = true\n", "limit max_depth must be a positive integer"),
    "unknown_limit": ("[limits]\nmax_dept = 3\n", "unknown limit 'max_dept'"),
    "entry_without_match": ('[[safe]]\nreason = "x"\n', "safe[0] needs a string 'match'"),
    "entry_unknown_key": ('[[dangerous]]\nmatch = "a:b"\nwhy = "x"\n', "unknown keys ['why']"),
    "bad_pattern": ('safe = ["a:[b"]\n', "a:[b"),
    "suppress_not_list": ('suppress = "PKL110"\n', "suppress must be an array"),
    "aliases_not_strings": ("[aliases]\nposix = 1\n", "aliases must be a table"),
}


@pytest.mark.parametrize("case", sorted(BAD_POLICIES))
def test_bad_policy_file_raises_policy_error(tmp_path: Path, case: str) -> None:
    text, fragment = BAD_POLICIES[case]
    path = _policy(tmp_path, text)
    with pytest.raises(PolicyError) as info:
        load_policy_file(path)
    message = str(info.value)
    assert fragment in message, message
    assert "\n" not in message.strip() or case == "invalid_toml"


def test_missing_policy_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="cannot read policy file"):
        load_policy_file(tmp_path / "nope.toml")


def test_pyproject_naming_mlvet_only_through_an_escape_still_applies(tmp_path: Path) -> None:
    """The parse is skipped only when the file cannot name mlvet: a quoted key with an escape still can."""
    (tmp_path / "pyproject.toml").write_text('[tool."ml\\u0076et".limits]\nmax_members = 7\n', encoding="utf-8")
    pol = load_pyproject(tmp_path)
    assert pol is not None and pol.limits.max_members == 7


def test_pyproject_that_never_names_mlvet_is_not_parsed(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project\nname = 'broken but not ours'\n", encoding="utf-8")
    assert load_pyproject(tmp_path) is None


def test_broken_pyproject_is_a_policy_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.mlvet\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"pyproject\.toml"):
        load_pyproject(tmp_path)


@pytest.mark.parametrize("case", ["invalid_toml", "unknown_key", "bad_severity", "negative_limit", "unknown_limit"])
def test_bad_policy_via_cli_exits_4_without_traceback(tmp_path: Path, case: str, run_cli, mynet: Path) -> None:  # type: ignore[no-untyped-def]
    text, fragment = BAD_POLICIES[case]
    path = _policy(tmp_path, text)
    proc = run_cli(["scan", "--policy", str(path), str(mynet)], cwd=tmp_path)
    assert proc.returncode == 4, (proc.returncode, proc.stdout, proc.stderr)
    assert fragment in proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    assert proc.stdout == ""


def test_bad_pyproject_via_cli_exits_4(tmp_path: Path, run_cli, mynet: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "pyproject.toml").write_text('[tool.mlvet]\nsuppress = "PKL110"\n', encoding="utf-8")
    proc = run_cli(["scan", str(mynet)], cwd=tmp_path)
    assert proc.returncode == 4, (proc.returncode, proc.stderr)
    assert "suppress must be an array" in proc.stderr and "Traceback" not in proc.stderr


def test_pyproject_policy_applies_to_cli_scans(tmp_path: Path, run_cli, mynet: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "pyproject.toml").write_text('[tool.mlvet.severity]\nPKL110 = "critical"\n', encoding="utf-8")
    proc = run_cli(["scan", "--format", "json", str(mynet)], cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert '"severity": "critical"' in proc.stdout


@pytest.mark.parametrize("fmt", ["text", "json", "sarif"])
def test_every_suppression_and_override_shows_in_every_output(
    tmp_path: Path, run_cli, fmt: str  # type: ignore[no-untyped-def]
) -> None:
    model = tmp_path / "m.pkl"
    model.write_bytes(SYSTEM_PICKLE)
    pol = _policy(tmp_path, 'suppress = ["PKL100"]\n[severity]\nPKL101 = "info"\n', "team-policy.toml")
    mixed = tmp_path / "mixed.pkl"
    mixed.write_bytes(b"\x80\x02cos\nsystem\n.")  # imports os.system without calling it: PKL101
    proc = run_cli(["scan", "--format", fmt, "--policy", str(pol), str(model), str(mixed)], cwd=tmp_path)
    out = proc.stdout
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    if fmt == "json":
        doc = json.loads(out)
        assert doc["summary"]["suppressed"] == 1 and doc["summary"]["findings"] == 1
        (sup,) = [f for r in doc["results"] for f in r["suppressed"]]
        assert sup["rule_id"] == "PKL100" and sup["policy"]["suppressed_by"] == str(pol)
        (low,) = [f for r in doc["results"] for f in r["findings"]]
        assert low["severity"] == "info" and low["policy"] == {
            "suppressed_by": None, "original_severity": "high", "severity_set_by": str(pol)}
    elif fmt == "sarif":
        doc = json.loads(out)
        results = doc["runs"][0]["results"]
        (sup,) = [r for r in results if r.get("suppressions")]
        assert sup["ruleId"] == "PKL100" and str(pol) in sup["suppressions"][0]["justification"]
        (low,) = [r for r in results if not r.get("suppressions")]
        assert low["properties"]["originalSeverity"] == "high"
    else:
        assert "suppressed PKL100" in out and "team-policy.toml" in out
        assert "Suppressed: 1 finding (PKL100) by policy" in out
        assert "severity set by" in out and "the rule says high" in out


def test_report_card_names_suppressions(tmp_path: Path) -> None:
    from mlvet.trust.score import score_model

    model = tmp_path / "m.pkl"
    model.write_bytes(SYSTEM_PICKLE)
    pol = load_policy_file(_policy(tmp_path, 'suppress = ["PKL100"]\n', "team.toml"))
    card = score_model(model, policy=pol)
    assert any("PKL100" in n and "suppressed by" in n and "team.toml" in n for n in card.notes), card.notes
