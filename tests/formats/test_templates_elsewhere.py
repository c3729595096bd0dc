"""Jinja templates outside ``chat_template``: ``*.j2`` files, YAML prompt files (LangChain ``jinja2``
prompts) and named templates nested in JSON configs. Fixtures: ``tests/assets/make_templates.py``."""

from __future__ import annotations

from pathlib import Path

import pytest

import mlvet
from mlvet.model import FileResult, Severity, Status

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "templates"
SSTI = "{{ cycler.__init__.__globals__.os.popen('id').read() }}"


def scan(path: Path) -> FileResult:
    (res,) = mlvet.scan(path).results
    return res


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("chatml.j2", "jinja-template"), ("prompt_jinja2.yaml", "prompt-yaml"),
     ("tokenizer_config_nested.json", "huggingface-config")],
)
def test_real_templates_are_clean(name: str, fmt: str) -> None:
    res = scan(ASSETS / name)
    assert (res.status, res.format, res.findings) == (Status.SCANNED, fmt, ())


@pytest.mark.parametrize(
    ("name", "where"),
    [("chatml_ssti.j2", "chatml_ssti.j2"), ("prompt_jinja2_ssti.yaml", "template"),
     ("tokenizer_config_nested_ssti.json", "extra_templates.templates[0].template[tool_use]")],
)
def test_ssti_payloads_are_critical(name: str, where: str) -> None:
    res = scan(ASSETS / name)
    assert res.severity is Severity.CRITICAL
    assert any(f.rule_id == "GGF700" and f.message.startswith(where + ":") for f in res.findings), res.findings


def test_yaml_outside_the_subset_parser_falls_back_to_blocks(tmp_path: Path) -> None:
    p = tmp_path / "prompts.yaml"
    p.write_text("base: &b {x: 1}\nprompts:\n  - <<: *b\n    system_template: |\n      Hi {{ user }}\n"
                 f"      {SSTI}\n    other: 'plain'\n")
    res = scan(p)
    assert res.format == "prompt-yaml" and res.severity is Severity.CRITICAL
    assert "system_template (line 4)" in res.findings[0].message


def test_yaml_without_jinja_is_not_claimed(tmp_path: Path) -> None:
    p = tmp_path / "prompts.yaml"
    p.write_text("system_prompt: You are helpful.\ntemperature: 0.2\n")
    assert scan(p).format != "prompt-yaml"


def test_unparseable_j2_fails_closed(tmp_path: Path) -> None:
    p = tmp_path / "broken.j2"
    p.write_text("{% for x in %}{{ x }")
    assert scan(p).status is Status.ERROR


def test_binary_named_j2_goes_to_its_own_handler(tmp_path: Path) -> None:
    p = tmp_path / "evil.j2"
    p.write_bytes(b"\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.")
    res = scan(p)
    assert res.format == "pickle" and res.severity is Severity.CRITICAL


def test_other_expression_languages_are_left_alone(tmp_path: Path) -> None:
    p = tmp_path / "workflow.yaml"
    p.write_text("name: ci\non: push\njobs:\n  prompt_check:\n    runs-on: ubuntu-latest\n"
                 "    steps:\n      - run: echo ${{ github.ref || 'main' }}\n")
    res = scan(p)
    assert res.status is not Status.ERROR and not res.findings
