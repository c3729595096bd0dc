# ruff: noqa - fixture written in the style of real Hub remote code (typing.Optional, torch imports)
"""Configuration of a tiny custom architecture, written the way Hub remote-code repositories do it.

This file is a benign test fixture for mlvet: ``make_hf.py`` registers it for auto classes and calls
``save_pretrained``, which copies it into ``tests/assets/hf/tiny-remote-code/`` and writes ``auto_map``.
"""

from transformers import PretrainedConfig


class TinyConfig(PretrainedConfig):
    model_type = "tiny-mlvet"

    def __init__(
        self,
        vocab_size: int = 64,
        hidden_size: int = 16,
        num_hidden_layers: int = 2,
        num_attention_heads: int = 2,
        intermediate_size: int = 32,
        max_position_embeddings: int = 64,
        layer_norm_eps: float = 1e-5,
        initializer_range: float = 0.02,
        **kwargs,
    ):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.intermediate_size = intermediate_size
        self.max_position_embeddings = max_position_embeddings
        self.layer_norm_eps = layer_norm_eps
        self.initializer_range = initializer_range
        super().__init__(**kwargs)
