"""Chat-template escapes built from filters only are escalated; real templates stay clean (issue 9).

Fixtures: ``tests/assets/chat_templates`` (``make_chat_templates.py``). Every PoC there really reaches
``os`` when a plain ``jinja2.Environment`` renders it (the ``live`` test proves it in a subprocess); the
benign set is the templates transformers ships plus popular models' templates, and Jinja's own sandbox
renders each of them.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jinja2.sandbox
import pytest

from mlvet.analysis.chat_template import TemplateAnalysis, analyse_template
from mlvet.model import Severity

ASSETS = Path(__file__).resolve().parents[1] / "assets"
FIXTURES = ASSETS / "chat_templates"
POCS = sorted((FIXTURES / "poc").glob("*.jinja"))
EXPECTED = json.loads((FIXTURES / "poc" / "EXPECTED.json").read_text(encoding="utf-8"))
BENIGN = [*sorted((FIXTURES / "benign").glob("*.jinja")), *sorted((ASSETS / "gguf/templates/benign").glob("*.jinja"))]
SEVERITY = {"high": Severity.HIGH, "critical": Severity.CRITICAL}


def load_generator() -> object:
    """Import tests/assets/make_chat_templates.py by path (tests/assets is no package)."""
    spec = importlib.util.spec_from_file_location("_mlvet_make_chat_templates", ASSETS / "make_chat_templates.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def analyse(source: str) -> TemplateAnalysis:
    return analyse_template(source, where="tokenizer.chat_template")


def worst(result: TemplateAnalysis) -> Severity:
    return max((i.severity for i in result.issues), default=Severity.NONE)


def test_fixtures_match_their_generator() -> None:
    make: Any = load_generator()
    assert {p.stem for p in POCS} == set(make.POCS) == set(EXPECTED)
    for name, (text, severity) in make.POCS.items():
        assert (FIXTURES / "poc" / f"{name}.jinja").read_text(encoding="utf-8") == text
        assert EXPECTED[name] == {"severity": severity, "finding_contains": make.NEEDLES[name]}
    for name, text in make.BENIGN.items():
        assert (FIXTURES / "benign" / f"{name}.jinja").read_text(encoding="utf-8") == text
    manifest = json.loads((FIXTURES / "benign" / "MANIFEST.json").read_text(encoding="utf-8"))
    assert len(manifest["from_transformers"]) >= 3
    for name in manifest["from_transformers"]:
        assert (FIXTURES / "benign" / f"{name}.jinja").is_file()


@pytest.mark.parametrize("path", POCS, ids=[p.stem for p in POCS])
def test_every_poc_is_high_or_critical_for_its_own_technique(path: Path) -> None:
    expected = EXPECTED[path.stem]
    result = analyse(path.read_text(encoding="utf-8"))
    assert result.error is None
    floor = SEVERITY[expected["severity"]]
    hits = [i for i in result.issues if i.severity >= floor and expected["finding_contains"] in i.message]
    assert hits, [(i.rule.id, i.severity.label, i.message) for i in result.issues]
    assert all(i.evidence.startswith("line ") for i in hits)


def test_benign_set_covers_the_families_and_transformers_defaults() -> None:
    names = {p.stem for p in BENIGN}
    assert len(names) >= 40
    for family in ("llama-3", "mistral", "qwen2", "gemma", "phi-3", "chatml", "zephyr", "deepseek", "transformers-"):
        assert any(family in n for n in names), family


@pytest.mark.parametrize("path", BENIGN, ids=[f"{p.parent.parent.name}/{p.stem}" for p in BENIGN])
def test_real_templates_have_nothing_at_medium_or_above(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    result = analyse(source)
    assert result.error is None
    assert worst(result) < Severity.MEDIUM, [(i.rule.id, i.message, i.evidence) for i in result.issues]
    # Real templates: Jinja's sandbox renders them (what transformers' apply_chat_template does).
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(extensions=["jinja2.ext.loopcontrols"])
    env.globals.update(raise_exception=lambda m: "", strftime_now=lambda f: "26 Jul 2024")
    if "generation" not in source:
        env.from_string(source).render(messages=[{"role": "user", "content": "hi"}], add_generation_prompt=True,
                                       bos_token="<s>", eos_token="</s>", tools=None)


@pytest.mark.parametrize(
    ("source", "severity", "needle"),
    [
        # The issue's three primitives, each combined into a name.
        ("{% set u = (()|select|string|list).pop(24) %}{{ x|attr(u ~ u ~ 'class' ~ u ~ u) }}",
         Severity.CRITICAL, "'__class__' (assembled at render time"),
        ("{{ lipsum|attr(dict(__glo=1, bals__=1)|join) }}", Severity.CRITICAL, "'__globals__'"),
        ("{% set s = 'xyz_' %}{{ x|attr(s[3] * 2 ~ 'dict' ~ s[-1] * 2) }}", Severity.CRITICAL, "'__dict__'"),
        # Later pops see the list after earlier ones (source order).
        ("{% set c = ()|select|string|list %}{% set a = c.pop(24) %}{% set b = c.pop(24) %}"
         "{{ x|attr(a ~ b ~ 's') }}", Severity.HIGH, "'_os'"),
        # Names of modules and process calls assembled at render time, used as keys and attributes.
        ("{% set k = dict(o=1, s=1)|join %}{{ g.get(k) }}", Severity.CRITICAL, "name 'os' assembled"),
        ("{{ x|attr(['po', 'pen']|join)('id') }}", Severity.CRITICAL, "'popen' (assembled at render time"),
        ("{{ g[('sys', 'tem')|join]('id') }}", Severity.CRITICAL, "'system'"),
        # List and string methods that reshape a literal into a name.
        ("{{ x|attr(['__CLASS__']|map('lower')|first) }}", Severity.CRITICAL, "'__class__' (assembled"),
        ("{{ x|attr('_-_-class-_-_'.split('-')|join) }}", Severity.CRITICAL, "'__class__' (assembled"),
        ("{{ x|attr('xx-_globals_-xx'.strip('x-').replace('_', '__')) }}", Severity.CRITICAL, "'__globals__'"),
        # A method reached through |attr with a known name folds like a method call.
        ("{{ x|attr(('{}{}class{}{}'|attr('format'))('_', '_', '_', '_')) }}", Severity.CRITICAL, "'__class__'"),
        # The format method as a value (the CVE-2024-56326 / CVE-2025-27516 sandbox escapes), any format string.
        ("{% set f = '{} {}'.format %}{{ f(a, b) }}", Severity.HIGH, ".format taken as a value"),
        ("{{ (fmt|attr('format'))(x) }}", Severity.HIGH, ".format taken as a value"),
        # Characters of an object mlvet cannot spell out: not fully known, still an escape technique.
        ("{% set c = messages|string|list %}{{ x|attr(c.pop(3) ~ 'class') }}", Severity.HIGH,
         "extracted from an object's string form"),
        ("{% set c = lipsum|string %}{{ x|attr(c[40] ~ 'class') }}", Severity.HIGH, "('?class')"),
        ("{{ x[(()|map('e')|string)[40] ~ 'a'] }}", Severity.HIGH, "key built from characters extracted"),
    ],
)
def test_filter_only_obfuscations_are_escalated(source: str, severity: Severity, needle: str) -> None:
    result = analyse(source)
    hits = [i for i in result.issues if i.severity >= severity and needle in i.message]
    assert hits, [(i.rule.id, i.severity.label, i.message) for i in result.issues]


@pytest.mark.parametrize(
    "source",
    [
        "{{ (message.content|string)[:100] }}{{ (message['content']|string)[0] }}",
        "{{ messages|map(attribute='content')|join('\\n') }}",
        "{% set parts = message.content.split('\\n') %}{{ parts.pop(0) }}{{ parts|join(' ') }}",
        "{% set roles = dict(user='User', assistant='Assistant') %}{{ roles[message.role] }}",
        "{{ tools|map(attribute='function')|map(attribute='name')|join(', ') }}",
        "{% set sep = ['<', '|', 'im_end', '|', '>']|join %}{{ sep }}",
        "{{ message['role'] if message['role'] in ['user', 'assistant'] else 'system' }}",
        "{{ ('system' if loop.first else 'user')|upper }}{{ message.get('name', '') }}",
        "{{ roles['System'|lower] }}{% set k = 'OS'|lower %}{{ platforms[k] }}",
    ],
)
def test_benign_string_building_stays_below_medium(source: str) -> None:
    result = analyse(source)
    assert result.error is None
    assert worst(result) < Severity.MEDIUM, [(i.rule.id, i.message) for i in result.issues]


def test_folding_is_bounded_on_adversarial_chains() -> None:
    # Thousands of chained pops and joins: the step budget stops folding, the checker still finishes.
    source = "{% set c = ()|select|string|list %}" + "".join(
        f"{{% set v{i} = (c|list).pop({i % 40}) ~ v{i - 1 if i else 0} %}}" for i in range(400)
    ) + "{{ x|attr(v399) }}"
    result = analyse(source)
    assert result.error is None
    assert any(i.rule.id == "GGF703" for i in result.issues)


_LIVE = """
import json, sys, jinja2
env = jinja2.Environment(extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do"])
out = {}
for path in sys.argv[1:]:
    text = env.from_string(open(path, encoding="utf-8").read()).render(
        messages=[{"role": "user", "content": "hi"}], add_generation_prompt=True, bos_token="<s>", eos_token="</s>")
    out[path] = "mlvet-poc" in text or "module 'os'" in text
print(json.dumps(out))
"""


@pytest.mark.live
def test_live_every_poc_reaches_os_in_a_plain_environment(tmp_path: Path) -> None:
    """What llama-cpp-python < 0.2.72 and custom servers do: render with jinja2.Environment (subprocess)."""
    proc = subprocess.run(
        [sys.executable, "-c", _LIVE, *map(str, POCS)], capture_output=True, text=True, timeout=120,
        check=True, cwd=tmp_path,
    )
    reached = json.loads(proc.stdout)
    assert reached == {str(p): True for p in POCS}
