"""Hugging Face stack: transformers (Trainer checkpoints, save_pretrained), tokenizers, peft, diffusers,
sentence-transformers, accelerate and datasets, each with a tiny local config (no hub access).

The gray set here is a repo with custom code: ``register_for_auto_class`` + ``save_pretrained`` writes an
``auto_map`` into config.json and copies the model's Python file, which ``trust_remote_code`` runs.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import torch  # noqa: TID251 - fixture generator, never part of the scanner

from ._common import Corpus

FOLDERS = ("transformers", "peft", "diffusers", "sentence_transformers", "accelerate", "datasets", "tokenizers")

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "model", "file", "is", "safe", "scan",
         "good", "bad", "weights", "load", "torch", "save", "data", "##s", "hello", "world", "<s>", "</s>"]

CHATML = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + "
    "'<|im_end|>' + '\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def _fast_tokenizer():  # type: ignore[no-untyped-def]
    """A tiny WordLevel tokenizer built with the tokenizers library, wrapped for transformers."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {w: i for i, w in enumerate(WORDS)}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")


def _tiny_bert():  # type: ignore[no-untyped-def]
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=16, max_position_embeddings=32, num_labels=2)
    return BertForSequenceClassification(cfg)


class _TinyDataset(torch.utils.data.Dataset):  # type: ignore[type-arg]
    def __init__(self, n: int = 8) -> None:
        g = torch.Generator().manual_seed(0)
        self.ids = torch.randint(5, len(WORDS), (n, 6), generator=g)
        self.labels = torch.randint(0, 2, (n,), generator=g)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.ids[i], "attention_mask": torch.ones(6, dtype=torch.long), "labels": self.labels[i]}


def _trainer(corpus: Corpus) -> None:
    from transformers import Trainer, TrainingArguments

    out = corpus.dir("transformers/trainer_run")
    args = TrainingArguments(output_dir=str(out), max_steps=2, save_steps=2, per_device_train_batch_size=4,
                             logging_steps=1, report_to=[], use_cpu=True, seed=0, disable_tqdm=True,
                             dataloader_num_workers=0, save_strategy="steps", learning_rate=1e-3)
    trainer = Trainer(model=_tiny_bert(), args=args, train_dataset=_TinyDataset(), processing_class=_fast_tokenizer())
    trainer.train()
    trainer.save_model(str(out / "final"))
    corpus.record_tree("transformers/trainer_run", "transformers", "transformers.Trainer.train() + save_model()",
                       what="a real tiny Trainer run: checkpoint-2/ holds training_args.bin, optimizer.pt, "
                            "scheduler.pt, rng_state.pth, trainer_state.json, model.safetensors")


def _save_pretrained(corpus: Corpus) -> None:
    import transformers as tf

    torch.manual_seed(0)
    common = {"vocab_size": len(WORDS)}
    models = {
        "bert_masked_lm": tf.BertForMaskedLM(tf.BertConfig(**common, hidden_size=16, num_hidden_layers=1,
                                                           num_attention_heads=2, intermediate_size=16,
                                                           max_position_embeddings=32)),
        "gpt2_causal_lm": tf.GPT2LMHeadModel(tf.GPT2Config(**common, n_embd=16, n_layer=1, n_head=2, n_positions=32)),
        "llama_causal_lm": tf.LlamaForCausalLM(tf.LlamaConfig(**common, hidden_size=16, intermediate_size=32,
                                                              num_hidden_layers=1, num_attention_heads=2,
                                                              num_key_value_heads=1, max_position_embeddings=32)),
        "t5_seq2seq": tf.T5ForConditionalGeneration(tf.T5Config(**common, d_model=16, d_ff=16, d_kv=8, num_layers=1,
                                                                num_heads=2, decoder_start_token_id=0)),
        "vit_image_classification": tf.ViTForImageClassification(tf.ViTConfig(
            hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=16, image_size=8,
            patch_size=4, num_labels=3)),
        "distilbert_token_classification": tf.DistilBertForTokenClassification(tf.DistilBertConfig(
            **common, dim=16, n_layers=1, n_heads=2, hidden_dim=16, max_position_embeddings=32, num_labels=3)),
    }
    for name, model in models.items():
        rel = f"transformers/save_pretrained/{name}"
        model.save_pretrained(str(corpus.dir(rel)))
        corpus.record_tree(rel, "transformers", f"{type(model).__name__}.save_pretrained()")
    # Whole Hugging Face models and tokenizers pickled, as many training scripts and notebooks do.
    for legacy in (False, True):
        rel = f"transformers/torch_save_full_model/bert_masked_lm{'_legacy' if legacy else ''}.pt"
        torch.save(models["bert_masked_lm"], corpus.path(rel), _use_new_zipfile_serialization=not legacy)
        corpus.record(rel, "transformers", "torch.save(BertForMaskedLM)" + (" legacy format" if legacy else ""))
    rel = "transformers/torch_save_full_model/gpt2_causal_lm.pt"
    torch.save(models["gpt2_causal_lm"], corpus.path(rel))
    corpus.record(rel, "transformers", "torch.save(GPT2LMHeadModel)")
    import pickle

    rel = "transformers/pickled_tokenizer_fast.pkl"
    corpus.path(rel).write_bytes(pickle.dumps(_fast_tokenizer(), protocol=4))
    corpus.record(rel, "transformers", "pickle.dumps(PreTrainedTokenizerFast)")
    gen = tf.GenerationConfig(max_new_tokens=16, do_sample=True, temperature=0.7, top_p=0.9, bos_token_id=22,
                              eos_token_id=23, pad_token_id=0)
    rel = "transformers/generation_config"
    gen.save_pretrained(str(corpus.dir(rel)))
    corpus.record_tree(rel, "transformers", "GenerationConfig.save_pretrained()")
    # Tokenizers: fast (tokenizer.json), slow BERT (vocab.txt), and one with a chat template.
    fast = _fast_tokenizer()
    rel = "transformers/tokenizer_fast"
    fast.save_pretrained(str(corpus.dir(rel)))
    corpus.record_tree(rel, "transformers", "PreTrainedTokenizerFast.save_pretrained()")
    chat = _fast_tokenizer()
    chat.chat_template = CHATML
    rel = "transformers/tokenizer_chat_template"
    chat.save_pretrained(str(corpus.dir(rel)))
    corpus.record_tree(rel, "transformers", "PreTrainedTokenizerFast.save_pretrained() with chat_template")
    vocab = corpus.path("transformers/_tmp_vocab.txt")
    vocab.write_text("\n".join(WORDS) + "\n", encoding="utf-8")
    slow = tf.BertTokenizer(str(vocab))
    vocab.unlink()
    rel = "transformers/tokenizer_bert"
    slow.save_pretrained(str(corpus.dir(rel)))
    corpus.record_tree(rel, "transformers", "BertTokenizer.save_pretrained()")
    rel = "transformers/image_processor"
    tf.ViTImageProcessor(size={"height": 8, "width": 8}).save_pretrained(str(corpus.dir(rel)))
    corpus.record_tree(rel, "transformers", "ViTImageProcessor.save_pretrained()")
    rel = "transformers/feature_extractor"
    tf.Wav2Vec2FeatureExtractor(sampling_rate=16000).save_pretrained(str(corpus.dir(rel)))
    corpus.record_tree(rel, "transformers", "Wav2Vec2FeatureExtractor.save_pretrained()")
    rel = "tokenizers/wordlevel.json"
    fast.backend_tokenizer.save(str(corpus.path(rel)))
    corpus.record(rel, "tokenizers", "tokenizers.Tokenizer.save()")


def _custom_code(corpus: Corpus) -> None:
    from . import hf_custom_model as m

    torch.manual_seed(0)
    m.TinyCustomConfig.register_for_auto_class()
    m.TinyCustomModel.register_for_auto_class("AutoModel")
    model = m.TinyCustomModel(m.TinyCustomConfig())
    rel = "transformers/custom_code_auto_map"
    model.save_pretrained(str(corpus.dir(rel)))
    corpus.record_tree(rel, "transformers", "register_for_auto_class() + save_pretrained()",
                       what="auto_map: loading runs hf_custom_model.py with trust_remote_code",
                       code={"config.json": ("medium", ["HFR900"]),
                             "hf_custom_model.py": ("medium", ["HFR900"])},
                       via={"hf_custom_model.py": "config.json"})


def _peft(corpus: Corpus) -> None:
    import transformers as tf
    from peft import LoraConfig, PrefixTuningConfig, TaskType, get_peft_model

    torch.manual_seed(0)
    base = tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=len(WORDS), n_embd=16, n_layer=1, n_head=2, n_positions=32))
    lora = get_peft_model(base, LoraConfig(task_type=TaskType.CAUSAL_LM, r=2, lora_alpha=4,
                                           target_modules=["c_attn"], fan_in_fan_out=True))
    rel = "peft/lora_gpt2"
    lora.save_pretrained(str(corpus.dir(rel)))
    corpus.record_tree(rel, "peft", "PeftModel.save_pretrained() (LoRA)")
    rel = "peft/lora_gpt2_bin"
    lora.save_pretrained(str(corpus.dir(rel)), safe_serialization=False)
    corpus.record_tree(rel, "peft", "PeftModel.save_pretrained(safe_serialization=False) (adapter_model.bin)")
    base2 = tf.GPT2LMHeadModel(tf.GPT2Config(vocab_size=len(WORDS), n_embd=16, n_layer=1, n_head=2, n_positions=32))
    prefix = get_peft_model(base2, PrefixTuningConfig(task_type=TaskType.CAUSAL_LM, num_virtual_tokens=2))
    rel = "peft/prefix_tuning_gpt2"
    prefix.save_pretrained(str(corpus.dir(rel)))
    corpus.record_tree(rel, "peft", "PeftModel.save_pretrained() (prefix tuning)")


def _diffusers(corpus: Corpus) -> None:
    from diffusers import DDIMScheduler, DDPMPipeline, DDPMScheduler, UNet2DModel

    torch.manual_seed(0)
    unet = UNet2DModel(sample_size=8, in_channels=1, out_channels=1, layers_per_block=1,
                       block_out_channels=(8, 16), norm_num_groups=4,
                       down_block_types=("DownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "UpBlock2D"))
    rel = "diffusers/unet2d"
    unet.save_pretrained(str(corpus.dir(rel)))
    corpus.record_tree(rel, "diffusers", "UNet2DModel.save_pretrained()")
    rel = "diffusers/unet2d_bin"
    unet.save_pretrained(str(corpus.dir(rel)), safe_serialization=False)
    corpus.record_tree(rel, "diffusers", "UNet2DModel.save_pretrained(safe_serialization=False)")
    rel = "diffusers/ddpm_pipeline"
    DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=10)).save_pretrained(str(corpus.dir(rel)))
    corpus.record_tree(rel, "diffusers", "DDPMPipeline.save_pretrained()")
    rel = "diffusers/ddim_scheduler"
    DDIMScheduler(num_train_timesteps=10).save_pretrained(str(corpus.dir(rel)))
    corpus.record_tree(rel, "diffusers", "DDIMScheduler.save_pretrained()")


def _sentence_transformers(corpus: Corpus, tmp: Path) -> None:
    import transformers as tf
    from sentence_transformers import SentenceTransformer, models

    torch.manual_seed(0)
    base = tmp / "st_base"
    tf.BertModel(tf.BertConfig(vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=16, max_position_embeddings=32)).save_pretrained(str(base))
    _fast_tokenizer().save_pretrained(str(base))
    word = models.Transformer(str(base), max_seq_length=16)
    pool = models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean")
    dense = models.Dense(16, 4, activation_function=torch.nn.Tanh())
    st = SentenceTransformer(modules=[word, pool, dense, models.Normalize()], device="cpu")
    rel = "sentence_transformers/mean_pool_dense"
    st.save(str(corpus.dir(rel)))
    corpus.record_tree(rel, "sentence-transformers", "SentenceTransformer.save()")
    rel = "sentence_transformers/mean_pool_dense_bin"
    st.save(str(corpus.dir(rel)), safe_serialization=False)
    corpus.record_tree(rel, "sentence-transformers", "SentenceTransformer.save(safe_serialization=False)")


def _accelerate(corpus: Corpus) -> None:
    from accelerate import Accelerator

    torch.manual_seed(0)
    acc = Accelerator(cpu=True)
    model = torch.nn.Linear(4, 2)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1)
    model, opt, sched = acc.prepare(model, opt, sched)
    loss = model(torch.randn(3, 4)).sum()
    acc.backward(loss)
    opt.step()
    sched.step()
    rel = "accelerate/save_state"
    acc.save_state(str(corpus.dir(rel)))
    corpus.record_tree(rel, "accelerate", "Accelerator.save_state()")
    rel = "accelerate/save_state_bin"
    acc.save_state(str(corpus.dir(rel)), safe_serialization=False)
    corpus.record_tree(rel, "accelerate", "Accelerator.save_state(safe_serialization=False)")
    rel = "accelerate/save_model"
    acc.save_model(model, str(corpus.dir(rel)))
    corpus.record_tree(rel, "accelerate", "Accelerator.save_model()")


def _datasets(corpus: Corpus) -> None:
    import datasets

    ds = datasets.Dataset.from_dict({"text": ["a model", "a file", "safe scan"], "label": [0, 1, 1],
                                     "emb": [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]]})
    rel = "datasets/dataset"
    ds.save_to_disk(str(corpus.dir(rel)))
    corpus.record_tree(rel, "datasets", "Dataset.save_to_disk()")
    dd = datasets.DatasetDict({"train": ds, "test": ds.select([0])})
    rel = "datasets/dataset_dict"
    dd.save_to_disk(str(corpus.dir(rel)))
    corpus.record_tree(rel, "datasets", "DatasetDict.save_to_disk()")


def make(corpus: Corpus) -> None:
    import tempfile

    warnings.filterwarnings("ignore")
    from transformers.utils import logging

    logging.set_verbosity_error()
    _trainer(corpus)
    _save_pretrained(corpus)
    _custom_code(corpus)
    _peft(corpus)
    _diffusers(corpus)
    tmp = Path(tempfile.mkdtemp(prefix="mlvet-eco-"))
    try:
        _sentence_transformers(corpus, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _accelerate(corpus)
    _datasets(corpus)
