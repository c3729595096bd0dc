#!/usr/bin/env python3
"""Regenerate the benign Hugging Face fixtures under ``tests/assets/hf/`` with the real libraries.

Why: mlvet must report nothing of medium or above on what ``transformers`` itself writes. Fixtures:

* ``tiny-gpt2/``: ``GPT2LMHeadModel.save_pretrained`` (config.json, generation_config.json,
  model.safetensors) plus a ``PreTrainedTokenizerFast`` built offline with ``tokenizers`` and saved with a
  chat template (tokenizer_config.json, tokenizer.json, chat_template.jinja).
* ``tiny-remote-code/``: a custom architecture registered with ``register_for_auto_class`` and saved
  with ``save_pretrained``, so transformers writes ``auto_map`` and copies ``configuration_tiny.py`` and
  ``modeling_tiny.py`` (sources in ``remote_code_src/``) exactly as Hub remote-code repositories look.

Nothing here loads a file. Run::

    pip install torch==2.13.0 transformers tokenizers
    python3 tests/assets/make_hf.py
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

import torch  # noqa: TID251 - fixture generator, never part of the scanner
import transformers
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

HERE = Path(__file__).resolve().parent / "hf"

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + eos_token }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    vocab = {tok: i for i, tok in enumerate(["<unk>", "<s>", "</s>", *"abcdefghijklmnopqrstuvwxyz", "hello", "world"])}
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")
    fast.chat_template = CHAT_TEMPLATE
    return fast


def make_gpt2(out: Path) -> None:
    torch.manual_seed(0)
    cfg = GPT2Config(vocab_size=32, n_positions=16, n_embd=8, n_layer=1, n_head=2)
    GPT2LMHeadModel(cfg).save_pretrained(out)
    tiny_tokenizer().save_pretrained(out)


def make_inline_templates(out: Path) -> None:
    """Older layout still common on the Hub: templates inline in tokenizer_config.json (named list)."""
    tok = tiny_tokenizer()
    tok.chat_template = {"default": CHAT_TEMPLATE, "tool_use": CHAT_TEMPLATE.replace("<|", "[")}
    tok.save_pretrained(out, save_jinja_files=False)


def make_remote_code(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        pkg = Path(tmp) / "tinypkg"
        pkg.mkdir()
        (pkg / "__init__.py").write_text("")
        for name in ("configuration_tiny.py", "modeling_tiny.py"):
            shutil.copy(HERE / "remote_code_src" / name, pkg / name)
        sys.path.insert(0, tmp)
        try:
            from tinypkg.configuration_tiny import TinyConfig  # type: ignore[import-not-found]
            from tinypkg.modeling_tiny import TinyForCausalLM  # type: ignore[import-not-found]

            TinyConfig.register_for_auto_class()
            TinyForCausalLM.register_for_auto_class("AutoModelForCausalLM")
            torch.manual_seed(0)
            TinyForCausalLM(TinyConfig(vocab_size=32, hidden_size=8, intermediate_size=16)).save_pretrained(out)
        finally:
            sys.path.remove(tmp)


def main() -> None:
    for name, fn in (
        ("tiny-gpt2", make_gpt2),
        ("tiny-inline-templates", make_inline_templates),
        ("tiny-remote-code", make_remote_code),
    ):
        out = HERE / name
        shutil.rmtree(out, ignore_errors=True)
        fn(out)
    manifest = {
        "generator": {"transformers": transformers.__version__, "torch": torch.__version__},
        "files": sorted(
            str(p.relative_to(HERE)) for p in HERE.rglob("*") if p.is_file() and "remote_code_src" not in str(p)
        ),
    }
    (HERE / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n")


if __name__ == "__main__":
    main()
