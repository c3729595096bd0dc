#!/usr/bin/env python3
"""Regenerate the Jinja template fixtures outside ``chat_template`` under ``tests/assets/templates/``.

Why: ``*.j2`` chat templates (vLLM/TGI take one by path), LangChain YAML prompts with
``template_format: jinja2`` (``load_prompt`` renders them) and nested named templates in JSON configs are
rendered like chat templates; mlvet must analyse them, quiet on real ones and critical on SSTI payloads.

* ``prompt_jinja2.yaml``: written by langchain-core (``PromptTemplate(..., template_format="jinja2").save``).
* ``chatml.j2``: the ChatML template of ``tests/assets/chat_templates/benign/chatml.jinja`` under a ``.j2`` name.
* ``tokenizer_config_nested.json``: a tokenizer config with named templates below the top level.
* Malicious variants: the same writers with the published SSTI shape of CVE-2024-34359
  (``cycler.__init__.__globals__.os.popen``) and of the LangChain jinja2 prompt SSTI (2023,
  ``lipsum.__globals__['os'].popen``); the command only appends to ``$MLVET_MARKER``.

Run::

    pip install langchain-core
    python3 tests/assets/make_templates.py
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

from langchain_core.prompts import PromptTemplate

OUT = Path(__file__).resolve().parent / "templates"
CHATML = Path(__file__).resolve().parent / "chat_templates" / "benign" / "chatml.jinja"
CMD = 'echo mlvet-test >> "${MLVET_MARKER:-/dev/null}"'
SSTI_CYCLER = "{{ cycler.__init__.__globals__.os.popen('" + CMD.replace("'", "\\'") + "').read() }}"
SSTI_LIPSUM = "{{ lipsum.__globals__['os'].popen('" + CMD.replace("'", "\\'") + "').read() }}"


def _prompt(name: str, template: str) -> None:
    variables = ["question"]
    prompt = PromptTemplate(template=template, input_variables=variables, template_format="jinja2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prompt.save(str(OUT / name))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    _prompt("prompt_jinja2.yaml", "Answer briefly.\n{% if question %}Q: {{ question }}{% endif %}\nA:")
    _prompt("prompt_jinja2_ssti.yaml", "Q: {{ question }}\n" + SSTI_LIPSUM)
    shutil.copyfile(CHATML, OUT / "chatml.j2")
    (OUT / "chatml_ssti.j2").write_text(CHATML.read_text() + SSTI_CYCLER + "\n")
    tool = "{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}{% endfor %}"
    nested = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "chat_template": CHATML.read_text(),
        "extra_templates": {"templates": [{"name": "tool_use", "template": tool}]},
    }
    (OUT / "tokenizer_config_nested.json").write_text(json.dumps(nested, indent=2))
    nested["extra_templates"] = {"templates": [{"name": "tool_use", "template": tool + SSTI_CYCLER}]}
    (OUT / "tokenizer_config_nested_ssti.json").write_text(json.dumps(nested, indent=2))
    for p in sorted(OUT.iterdir()):
        print(p.name, p.stat().st_size)


if __name__ == "__main__":
    main()
