"""A custom Hugging Face architecture, as a research repo ships it with ``trust_remote_code``.

``register_for_auto_class`` makes ``save_pretrained`` copy this file next to the weights and write an
``auto_map`` into config.json: loading the folder with ``AutoModel.from_pretrained(..., trust_remote_code=True)``
imports and runs this file. That is what makes the saved folder kind "code".
"""

import torch  # noqa: TID251 - fixture generator, never part of the scanner
from torch import nn  # noqa: TID251
from transformers import PretrainedConfig, PreTrainedModel


class TinyCustomConfig(PretrainedConfig):
    model_type = "tiny-custom"

    def __init__(self, hidden_size=8, num_labels=2, **kwargs):
        self.hidden_size = hidden_size
        super().__init__(num_labels=num_labels, **kwargs)


class TinyCustomModel(PreTrainedModel):
    config_class = TinyCustomConfig

    def __init__(self, config):
        super().__init__(config)
        self.proj = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, inputs_embeds):
        return self.proj(torch.tanh(inputs_embeds))
