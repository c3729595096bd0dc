"""Chat-template analysis: real templates stay clean, every SSTI technique is reported, nothing renders."""

from __future__ import annotations

import dataclasses
import random
import time
from pathlib import Path

import jinja2
import jinja2.sandbox
import pytest

from mlvet.analysis.chat_template import MAX_TEMPLATE_CHARS
from mlvet.formats.base import ScanContext, Sink
from mlvet.formats.code_findings import report_template
from mlvet.model import Severity
from mlvet.policy import default_policy
from mlvet.rules import get_rule

TEMPLATES = Path(__file__).resolve().parents[1] / "assets" / "gguf" / "templates"
BENIGN = sorted((TEMPLATES / "benign").glob("*.jinja"))
MALICIOUS = {p.stem: p for p in (TEMPLATES / "malicious").glob("*.jinja")}


def analyse(source: str, where: str = "tokenizer.chat_template") -> Sink:
    sink = Sink()
    report_template(source, ScanContext("model.gguf", default_policy(), sink), where=where)
    return sink


def rules(sink: Sink, at_least: Severity = Severity.INFO) -> set[str]:
    return {f.rule_id for f in sink.findings if f.severity >= at_least}


def worst(sink: Sink) -> Severity:
    return max((f.severity for f in sink.findings), default=Severity.NONE)


@pytest.mark.parametrize("path", BENIGN, ids=[p.stem for p in BENIGN])
def test_real_templates_have_no_medium_or_higher_finding(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    sink = analyse(source)
    assert not sink.errors
    assert worst(sink) < Severity.MEDIUM, [(f.rule_id, f.message, f.evidence) for f in sink.findings]
    # They are real templates: Jinja's own sandbox renders them (proves the fixtures are what loaders use).
    env = jinja2.sandbox.ImmutableSandboxedEnvironment(extensions=["jinja2.ext.loopcontrols"])
    env.globals.update(raise_exception=lambda m: "", strftime_now=lambda f: "26 Jul 2024")
    if "generation" not in source:
        env.from_string(source).render(messages=[{"role": "user", "content": "hi"}], add_generation_prompt=True,
                                       bos_token="<s>", eos_token="</s>", tools=None)


def test_at_least_twenty_real_templates_are_covered() -> None:
    names = {p.stem for p in BENIGN}
    assert len(names) >= 20
    for family in ("llama-3.1", "mistral", "qwen2.5", "gemma", "phi-3", "chatml", "deepseek"):
        assert any(family in n for n in names), family


EXPECTED: dict[str, tuple[str, Severity]] = {
    "cve-2024-34359-poc": ("GGF700", Severity.CRITICAL),
    "mro-subclasses": ("GGF700", Severity.CRITICAL),
    "cycler-globals-popen": ("GGF700", Severity.CRITICAL),
    "joiner-globals-popen": ("GGF700", Severity.CRITICAL),
    "lipsum-globals-subscript": ("GGF700", Severity.CRITICAL),
    "attr-filter-chain": ("GGF700", Severity.CRITICAL),
    "concat-dunder": ("GGF700", Severity.CRITICAL),
    "set-variables-dunder": ("GGF700", Severity.CRITICAL),
    "join-dunder": ("GGF700", Severity.CRITICAL),
    "reverse-dunder": ("GGF700", Severity.CRITICAL),
    "printf-dunder": ("GGF700", Severity.CRITICAL),
    "format-string-escape": ("GGF700", Severity.CRITICAL),
    "template-reference-context": ("GGF700", Severity.CRITICAL),
    "map-attribute-dunder": ("GGF700", Severity.CRITICAL),
    "namespace-init-globals": ("GGF700", Severity.CRITICAL),
    "set-block-dunder": ("GGF700", Severity.CRITICAL),
    "buried-in-qwen2.5": ("GGF700", Severity.CRITICAL),
    "popen-direct": ("GGF701", Severity.CRITICAL),
    "computed-attr-name": ("GGF703", Severity.MEDIUM),
    "repr-char-extraction": ("GGF703", Severity.MEDIUM),
    "include-traversal": ("GGF704", Severity.HIGH),
    "range-dos": ("GGF705", Severity.MEDIUM),
    "gadget-global-only": ("GGF702", Severity.MEDIUM),
    "dunder-string-only": ("GGF708", Severity.HIGH),
    "unparseable": ("GGF707", Severity.MEDIUM),
}


def test_every_malicious_fixture_has_an_expectation() -> None:
    assert set(EXPECTED) == set(MALICIOUS)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_malicious_templates_are_reported(name: str) -> None:
    rule, severity = EXPECTED[name]
    sink = analyse(MALICIOUS[name].read_text(encoding="utf-8"))
    hits = [f for f in sink.findings if f.rule_id == rule]
    assert hits, [(f.rule_id, f.message) for f in sink.findings]
    assert max(f.severity for f in hits) >= severity
    assert all(f.evidence.startswith("line ") for f in hits)


def test_cve_2024_34359_evidence_shows_the_offending_expression() -> None:
    sink = analyse(MALICIOUS["cve-2024-34359-poc"].read_text(encoding="utf-8"), where="tokenizer.chat_template")
    evidence = " ".join(f.evidence for f in sink.findings)
    assert "().__class__.__base__.__subclasses__()" in evidence
    assert "x()._module.__builtins__['__import__']('os').popen('touch /tmp/retr0reg')" in evidence
    messages = " ".join(f.message for f in sink.findings)
    assert messages.startswith("tokenizer.chat_template: ")
    assert "'__subclasses__'" in messages and "'popen'" in messages


@pytest.mark.parametrize(
    ("source", "rule", "severity"),
    [
        ("{{ x['__class__'] }}", "GGF700", Severity.CRITICAL),
        ("{{ x._private }}", "GGF700", Severity.HIGH),
        ("{{ x|selectattr('__class__')|list }}", "GGF700", Severity.CRITICAL),
        ("{{ x|groupby('a.__class__') }}", "GGF700", Severity.CRITICAL),
        ("{{ x|sort(attribute='__dict__') }}", "GGF700", Severity.CRITICAL),
        ("{{ x|map('attr', '__class__')|list }}", "GGF700", Severity.CRITICAL),
        ("{{ x|attr(('_' * 2) ~ 'class' ~ ('_' * 2)) }}", "GGF700", Severity.CRITICAL),
        ("{{ x|attr('__CLASS__'|lower) }}", "GGF700", Severity.CRITICAL),
        ("{{ x|attr('..__class__..'[2:-2]) }}", "GGF700", Severity.CRITICAL),
        ("{{ x|attr('{}class{}'.format('__', '__')) }}", "GGF700", Severity.CRITICAL),
        ("{{ x|attr('_-class-_'.replace('-', '_')) }}", "GGF700", Severity.CRITICAL),
        ("{{ x|attr('%s' % '__globals__') }}", "GGF700", Severity.CRITICAL),
        ("{{ x|attr('%s%sclass%s%s'|format('_', '_', '_', '_')) }}", "GGF700", Severity.CRITICAL),
        ("{% set p = ['__', 'init', '__'] %}{{ x|attr(p|join) }}", "GGF700", Severity.CRITICAL),
        ("{{ x|attr(a if b else '__class__') }}", "GGF703", Severity.MEDIUM),
        ("{{ __builtins__ }}", "GGF700", Severity.CRITICAL),
        ("{{ x.mro() }}", "GGF700", Severity.CRITICAL),
        ("{{ (x|select).gi_frame.f_back.f_globals }}", "GGF700", Severity.CRITICAL),
        ("{{ '{0[__globals__]}'.format(f) }}", "GGF700", Severity.CRITICAL),
        ("{{ '{0.name}'.format(m) }}", "GGF703", Severity.MEDIUM),
        ("{{ message.content.format(x) }}", "GGF703", Severity.MEDIUM),
        ("{{ '{a}'.format_map(m) }}", "GGF703", Severity.MEDIUM),
        ("{{ x.system('id') }}", "GGF701", Severity.CRITICAL),
        ("{{ x.subprocess.check_output('id') }}", "GGF701", Severity.CRITICAL),
        ("{{ open('/etc/passwd').read() }}", "GGF701", Severity.HIGH),
        ("{{ self }}", "GGF702", Severity.MEDIUM),
        ("{{ request.args }}", "GGF702", Severity.MEDIUM),
        ("{{ lipsum() }}", "GGF702", Severity.MEDIUM),
        ("{% import 'macros.j2' as m %}", "GGF704", Severity.MEDIUM),
        ("{% extends '/etc/passwd' %}", "GGF704", Severity.HIGH),
        ("{% from name import x %}", "GGF704", Severity.HIGH),
        ("{{ 'A' * 10**8 }}", "GGF705", Severity.MEDIUM),
        ("{{ 9**9**9 }}", "GGF705", Severity.MEDIUM),
        ("{% for i in range(0, 10**7, 1) %}{% endfor %}", "GGF705", Severity.MEDIUM),
        ("{{ a.b.c[0].d.e.f.g }}", "GGF706", Severity.LOW),
        ("{{ dict(__class__=1)|list|first }}", "GGF708", Severity.HIGH),
        ("{{ render('__init__') }}", "GGF708", Severity.HIGH),
    ],
)
def test_techniques(source: str, rule: str, severity: Severity) -> None:
    sink = analyse(source)
    hits = [f for f in sink.findings if f.rule_id == rule]
    assert hits, [(f.rule_id, f.severity.label, f.message) for f in sink.findings]
    assert max(f.severity for f in hits) >= severity


@pytest.mark.parametrize(
    "source",
    [
        "{% set ns = namespace(found=false) %}{% for m in messages %}{% set ns.found = true %}{% endfor %}",
        "{{ raise_exception('Conversation roles must alternate') }}",
        "{%- set today = strftime_now('%Y-%m-%d') %}{{ today }}",
        "{{ messages[0]['role'] }}{{ messages[1:] }}{{ messages|length }}{{ loop.index0 if loop else 0 }}",
        "{{ message.tool_calls[0].function.arguments | tojson }}",
        "{% for t in tools %}{{ t | tojson(indent=4) }}{% endfor %}",
        "{{ message.content.split('</think>')[-1].lstrip('\\n') }}",
        "{{ '-' * 80 }}{% for i in range(3) %}{{ i }}{% endfor %}",
        "{% generation %}{{ message['content'] }}{% endgeneration %}",
        "{% for m in messages %}{% if loop.first %}{% continue %}{% endif %}{% break %}{% endfor %}",
        "{{ 'Hello {}'.format(name) }}",
        "{{ x['content'] }}{{ x[key] }}",
        "{{ '__' }}{{ 'snake_case' }}",
        "{% set ns = namespace(system='') %}{% set ns.system = 'x' %}{{ ns.system }}{{ message.system }}",
        "{{ tool.os }}{{ ns.popen }}",
    ],
)
def test_benign_idioms(source: str) -> None:
    sink = analyse(source)
    assert not sink.errors
    assert worst(sink) < Severity.MEDIUM, [(f.rule_id, f.message) for f in sink.findings]


def test_unparseable_template_is_an_error_and_a_finding() -> None:
    sink = analyse("{% for m in messages %}{{ m }}", where="tokenizer_config.json: chat_template")
    assert rules(sink) == {"GGF707"}
    assert sink.errors and sink.errors[0].startswith("tokenizer_config.json: chat_template: ")


def test_too_large_template_is_not_parsed() -> None:
    sink = analyse("a" * (MAX_TEMPLATE_CHARS + 1))
    assert rules(sink) == {"GGF707"} and sink.errors


def test_pathological_nesting_fails_closed_without_crashing() -> None:
    sink = analyse("{{ " + "(" * 5000 + "x" + ")" * 5000 + " }}")
    assert "GGF707" in rules(sink) and sink.errors
    sink = analyse("{{ " + "[" * 400 + "1" + "]" * 400 + " }}")
    assert not any("internal" in e for e in sink.errors)


def test_folding_never_materialises_huge_strings() -> None:
    start = time.perf_counter()
    sink = analyse("{{ x|attr('_' * 10**12) }}{{ x|attr(('a'*4000)|replace('a', 'b'*4000)) }}")
    assert time.perf_counter() - start < 2
    assert {"GGF705", "GGF703"} <= rules(sink)


def test_analysis_never_renders_or_compiles(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("template was compiled or rendered")

    monkeypatch.setattr(jinja2.Environment, "compile", forbidden)
    monkeypatch.setattr(jinja2.Environment, "from_string", forbidden)
    monkeypatch.setattr(jinja2.Template, "render", forbidden)
    for path in MALICIOUS.values():
        analyse(path.read_text(encoding="utf-8"))


def test_mutated_templates_never_crash() -> None:
    rng = random.Random(7)
    sources = [p.read_text(encoding="utf-8") for p in BENIGN + list(MALICIOUS.values()) if p.stat().st_size < 1200]
    pieces = [*"{}%()[]|.~'\"_ +-*/ax09\n", "{{", "}}", "{%", "%}", "__", "|attr(", "|join", "range(", "**"]
    for _ in range(300):
        text = list(rng.choice(sources))
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(len(text) + 1)
            if rng.random() < 0.5 and text:
                del text[min(pos, len(text) - 1)]
            else:
                text.insert(pos, rng.choice(pieces))
        analyse("".join(text))  # any exception fails the test


def test_findings_are_capped_per_template() -> None:
    sink = analyse("".join(f"{{{{ x{i}.__class__ }}}}" for i in range(100)))
    assert len(sink.findings) == 32
    assert "more findings" in sink.findings[-1].message


def test_policy_suppression_applies() -> None:
    policy = dataclasses.replace(default_policy(), suppress=frozenset({"GGF702"}))
    sink = Sink()
    report_template("{{ cycler }}", ScanContext("m", policy, sink), where="t")
    assert not sink.findings


def test_rules_are_documented() -> None:
    for rule_id in ("GGF700", "GGF701", "GGF702", "GGF703", "GGF704", "GGF705", "GGF706", "GGF707", "GGF708"):
        rule = get_rule(rule_id)
        assert rule.summary and rule.why and rule.fix


# ---- end to end: the issue-9 PoCs inside the files loaders read ------------------------------------------

POCS = Path(__file__).resolve().parents[1] / "assets" / "chat_templates" / "poc"


def _scan_one(path: Path) -> list[tuple[str, Severity, str]]:
    import mlvet

    (result,) = mlvet.scan(path).results
    return [(f.rule_id, f.severity, f.message) for f in result.findings]


@pytest.mark.parametrize("name", ["pop-select-dict-join", "sequential-pops-set-list", "buried-in-chatml"])
def test_poc_in_a_gguf_written_by_the_gguf_package_is_critical(tmp_path: Path, name: str) -> None:
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "model.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny")
    writer.add_chat_template((POCS / f"{name}.jinja").read_text(encoding="utf-8"))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    findings = _scan_one(path)
    assert any(sev is Severity.CRITICAL and "assembled at render time" in msg for _, sev, msg in findings), findings
    assert any(msg.startswith("tokenizer.chat_template: ") for _, _, msg in findings)


def test_poc_in_tokenizer_config_and_chat_template_jinja_is_critical(tmp_path: Path) -> None:
    import json

    template = (POCS / "set-string-index.jinja").read_text(encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"chat_template": template, "eos_token": "</s>"}))
    findings = _scan_one(tmp_path / "tokenizer_config.json")
    assert any(sev is Severity.CRITICAL and "name 'popen' assembled" in msg for _, sev, msg in findings), findings
    (tmp_path / "chat_template.jinja").write_text(template)
    findings = _scan_one(tmp_path / "chat_template.jinja")
    assert any(sev is Severity.CRITICAL and msg.startswith("chat_template.jinja: ") for _, sev, msg in findings)
