"""Asset metadata from cards, configs and headers, on files written by the real producers.

Fixtures are made at test time: transformers ``save_pretrained`` of tiny models built from configs (no
download), huggingface_hub ``ModelCard``/``DatasetCard``, peft adapters, gguf's ``GGUFWriter``, torch's
ONNX exporter, Keras ``model.save``, mlflow ``save_model`` and ``datasets`` ``save_to_disk``/parquet.
Expected values come from the producing libraries (sum of ``numel``, the reader of the same format ...).
"""

from __future__ import annotations

import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

from mlvet.inventory.metadata import GGUF_FILE_TYPES, read_metadata
from mlvet.inventory.model import AssetMetadata

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")


def extra(meta: AssetMetadata) -> dict[str, str]:
    return dict(meta.extra)


def tiny_bert(num_labels: int = 3) -> Any:
    transformers = pytest.importorskip("transformers")
    config = transformers.BertConfig(
        vocab_size=64, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=32, num_labels=num_labels,
    )
    return transformers.BertForSequenceClassification(config)


def tiny_gpt2() -> Any:
    transformers = pytest.importorskip("transformers")
    config = transformers.GPT2Config(n_layer=2, n_embd=16, n_head=2, vocab_size=64, n_positions=32,
                                     bos_token_id=0, eos_token_id=0)
    return transformers.GPT2LMHeadModel(config)


def numel(*files: Path) -> int:
    """Elements of every tensor in the files, as torch loads them."""
    return sum(t.numel() for f in files for t in safetensors_torch.load_file(str(f)).values())


def model_card(**fields: Any) -> Any:
    hub = pytest.importorskip("huggingface_hub")
    return hub.ModelCard.from_template(hub.ModelCardData(**fields))


# ---- transformers + model card ------------------------------------------------------------------------


def test_transformers_snapshot_with_card(tmp_path: Path) -> None:
    hub = pytest.importorskip("huggingface_hub")
    model = tiny_bert()
    model.save_pretrained(tmp_path)
    model_card(
        license="apache-2.0", base_model=["google-bert/bert-base-uncased", "org/other-base"],
        datasets=["stanfordnlp/imdb", "glue"], pipeline_tag="text-classification", library_name="transformers",
        language=["en", "fr"], tags=["bert", "sentiment"], model_name="tiny",
        eval_results=[hub.EvalResult(task_type="text-classification", dataset_type="imdb", dataset_name="IMDB",
                                     metric_type="accuracy", metric_value=0.5)],
    ).save(tmp_path / "README.md")

    meta = read_metadata(tmp_path)

    assert meta.architecture == "BertForSequenceClassification"
    weights = tmp_path / "model.safetensors"
    assert meta.parameters == numel(weights) == model.num_parameters()
    assert meta.license == "apache-2.0"
    assert meta.base_models == ("google-bert/bert-base-uncased", "org/other-base")
    assert meta.datasets == ("stanfordnlp/imdb", "glue")
    assert meta.task == "text-classification"
    assert meta.library == "transformers"
    assert meta.languages == ("en", "fr")
    assert meta.tags == ("bert", "sentiment")
    assert meta.card is True
    assert meta.remote_code is False
    # The template's headings, lower-cased, in order; an HTML comment or list line is not a heading.
    assert meta.card_sections[:3] == ("model card for model id", "model details", "model description")
    assert {"uses", "training details", "evaluation", "bias, risks, and limitations"} <= set(meta.card_sections)
    ex = extra(meta)
    assert ex["model_type"] == "bert"
    assert ex["dtype"] == "float32"
    assert ex["eval_tasks"] == "text-classification"


def test_config_alone_gives_architecture_task_and_parameters(tmp_path: Path) -> None:
    model = tiny_gpt2()
    model.save_pretrained(tmp_path)
    meta = read_metadata(tmp_path)
    assert meta.architecture == "GPT2LMHeadModel"
    assert meta.task == "text-generation"  # from the LM head class: no card to say otherwise
    assert meta.parameters == numel(tmp_path / "model.safetensors") == model.num_parameters()
    assert meta.card is False and meta.card_sections == () and meta.license is None


def test_sharded_checkpoint_index_and_shard_headers(tmp_path: Path) -> None:
    model = tiny_gpt2()
    model.save_pretrained(tmp_path, max_shard_size="8KB")
    shards = sorted(tmp_path.glob("model-*-of-*.safetensors"))
    assert len(shards) > 2
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    expected = numel(*shards)
    assert expected == model.num_parameters()
    assert read_metadata(tmp_path).parameters == expected == index["metadata"]["total_parameters"]

    # Without total_parameters the shard headers are summed (older transformers wrote only total_size).
    del index["metadata"]["total_parameters"]
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(index))
    assert read_metadata(tmp_path).parameters == expected

    # An unreadable shard gives no count rather than a wrong one.
    shards[1].write_bytes(b"\xff" * 16)
    assert read_metadata(tmp_path).parameters is None


def test_dtype_variant_is_counted_once(tmp_path: Path) -> None:
    model = tiny_gpt2()
    model.save_pretrained(tmp_path)
    model.half().save_pretrained(tmp_path, variant="fp16")
    assert (tmp_path / "model.fp16.safetensors").is_file()
    meta = read_metadata(tmp_path)
    assert meta.parameters == numel(tmp_path / "model.safetensors")


def test_checkpoint_copies_in_sub_folders_are_not_added(tmp_path: Path) -> None:
    model = tiny_gpt2()
    model.save_pretrained(tmp_path)
    model.save_pretrained(tmp_path / "checkpoint-500")  # what Trainer leaves next to the final model
    model.save_pretrained(tmp_path / "checkpoint-1000", max_shard_size="8KB")
    assert read_metadata(tmp_path).parameters == model.num_parameters()
    (tmp_path / "model.safetensors").unlink()
    assert read_metadata(tmp_path).parameters == model.num_parameters()  # one checkpoint, not both


def test_remote_code_quantization_and_dtype(tmp_path: Path) -> None:
    model = tiny_gpt2()
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["auto_map"] = {"AutoModelForCausalLM": "modeling_custom.CustomModel"}
    config["quantization_config"] = {"quant_method": "bitsandbytes", "load_in_4bit": True}
    config["torch_dtype"] = config.pop("dtype", "bfloat16")
    (tmp_path / "config.json").write_text(json.dumps(config))
    meta = read_metadata(tmp_path)
    assert meta.remote_code is True
    assert extra(meta)["quantization"] == "bitsandbytes-4bit"
    assert extra(meta)["dtype"] == "float32"


def test_tokenizer_auto_map_means_remote_code(tmp_path: Path) -> None:
    tiny_gpt2().save_pretrained(tmp_path)
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"auto_map": {"AutoTokenizer": ["tok.T", None]}}))
    assert read_metadata(tmp_path).remote_code is True
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 512}))
    assert read_metadata(tmp_path).remote_code is False


def test_file_list_limits_the_sources(tmp_path: Path) -> None:
    tiny_gpt2().save_pretrained(tmp_path)
    model_card(license="mit").save(tmp_path / "README.md")
    meta = read_metadata(tmp_path, ["config.json"])
    assert meta.card is False and meta.license is None and meta.parameters is None
    assert meta.architecture == "GPT2LMHeadModel"


def test_single_safetensors_file_and_format_hint(tmp_path: Path) -> None:
    tensors = {"a": torch.zeros(3, 5, dtype=torch.bfloat16), "b": torch.zeros(7, dtype=torch.bfloat16)}
    safetensors_torch.save_file(tensors, str(tmp_path / "weights.safetensors"))
    meta = read_metadata(tmp_path / "weights.safetensors")
    assert meta.parameters == 22
    assert extra(meta)["dtype"] == "bfloat16"
    # Discovery identifies by content; a renamed file is read by the format it names (or by sniffing).
    os.rename(tmp_path / "weights.safetensors", tmp_path / "weights.bin")
    assert read_metadata(tmp_path / "weights.bin", fmt="safetensors").parameters == 22
    assert read_metadata(tmp_path / "weights.bin").parameters == 22


def test_huge_sparse_safetensors_reads_only_the_header(tmp_path: Path) -> None:
    n = 1 << 28  # 1 GiB of float32, as a sparse file: only the header is real
    header = json.dumps({"w": {"dtype": "F32", "shape": [n], "data_offsets": [0, 4 * n]}}).encode()
    path = tmp_path / "big.safetensors"
    with open(path, "wb") as f:
        f.write(len(header).to_bytes(8, "little") + header)
        f.truncate(8 + len(header) + 4 * n)
    start = time.perf_counter()
    assert read_metadata(path).parameters == n
    assert time.perf_counter() - start < 1.0


# ---- PEFT -----------------------------------------------------------------------------------------------


def test_peft_adapter(tmp_path: Path) -> None:
    peft = pytest.importorskip("peft")
    base = tiny_gpt2()
    base.name_or_path = "openai-community/gpt2"  # what from_pretrained would have set
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        adapter = peft.get_peft_model(base, peft.LoraConfig(r=4, target_modules=["c_attn"], task_type="CAUSAL_LM"))
        adapter.save_pretrained(tmp_path)
    written = json.loads((tmp_path / "adapter_config.json").read_text())
    assert written["base_model_name_or_path"] == "openai-community/gpt2"
    meta = read_metadata(tmp_path)
    assert meta.base_models == ("openai-community/gpt2",)
    assert meta.library == "peft"  # peft's generated card says library_name: peft
    assert meta.task == "text-generation"
    assert meta.parameters == numel(tmp_path / "adapter_model.safetensors")
    assert extra(meta)["peft_type"] == "LORA"
    assert meta.card is True


# ---- GGUF ---------------------------------------------------------------------------------------------


def write_gguf(path: Path, *, split: int = 0, truncate: int | None = None) -> int:
    gguf = pytest.importorskip("gguf")
    np = pytest.importorskip("numpy")
    w = gguf.GGUFWriter(str(path), "llama", split_max_tensors=split)
    w.add_name("Tiny Llama")
    w.add_license("other")
    w.add_license_name("llama3")
    w.add_license_link("https://llama.meta.com/llama3/license")
    w.add_base_model_count(2)
    w.add_base_model_name(0, "Llama 3 8B")
    w.add_base_model_repo_url(0, "https://huggingface.co/meta-llama/Meta-Llama-3-8B")
    w.add_base_model_name(1, "Local Base")
    w.add_dataset_count(1)
    w.add_dataset_repo_url(0, "https://huggingface.co/datasets/HuggingFaceFW/fineweb")
    w.add_tags(["llama", "gguf"])
    w.add_languages(["en", "de"])
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_K_M)
    w.add_size_label("8B")
    w.add_token_list([f"t{i}".encode() for i in range(300)])  # a vocabulary to step over
    shapes = [(4, 8), (16,), (2, 3, 5)]
    for i, shape in enumerate(shapes):
        w.add_tensor(f"blk.{i}.weight", np.zeros(shape, np.float32))
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return sum(int(np.prod(s)) for s in shapes)


def test_gguf_header_fields(tmp_path: Path) -> None:
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "tiny.Q4_K_M.gguf"
    expected = write_gguf(path)
    assert expected == sum(int(t.n_elements) for t in gguf.GGUFReader(str(path)).tensors)
    meta = read_metadata(path)
    assert meta.architecture == "llama"
    assert meta.parameters == expected
    assert meta.license == "llama3"  # "other" + license name → the name
    assert meta.base_models == ("meta-llama/Meta-Llama-3-8B", "Local Base")
    assert meta.datasets == ("HuggingFaceFW/fineweb",)
    assert meta.tags == ("llama", "gguf")
    assert meta.languages == ("en", "de")
    assert meta.library == "gguf"
    ex = extra(meta)
    assert ex["quantization"] == "Q4_K_M"
    assert ex["name"] == "Tiny Llama"
    assert ex["size_label"] == "8B"
    assert ex["license_link"] == "https://llama.meta.com/llama3/license"


def test_gguf_split_files_are_summed(tmp_path: Path) -> None:
    expected = write_gguf(tmp_path / "m.gguf", split=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"m-0000{i}-of-00003.gguf" for i in (1, 2, 3)]
    meta = read_metadata(tmp_path)
    assert meta.parameters == expected
    assert meta.architecture == "llama"
    assert extra(meta)["split_count"] == "3"


def test_truncated_gguf_keeps_metadata_but_no_count(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    write_gguf(path)
    data = path.read_bytes()
    cut = data.index(b"blk.1.weight")  # inside the tensor table
    path.write_bytes(data[:cut])
    meta = read_metadata(path)
    assert meta.parameters is None
    assert meta.architecture == "llama" and meta.license == "llama3"


def test_gguf_file_type_table_matches_the_gguf_package() -> None:
    gguf = pytest.importorskip("gguf")
    upstream = {int(v): k.removeprefix("MOSTLY_").removeprefix("ALL_") for k, v in
                gguf.LlamaFileType.__members__.items() if k != "GUESSED"}
    assert upstream == GGUF_FILE_TYPES


# ---- ONNX, Keras, MLflow --------------------------------------------------------------------------------


def test_onnx_initializers(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    np = pytest.importorskip("numpy")
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    path = tmp_path / "m.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(1, 4),), str(path), dynamo=False)
    loaded = onnx.load(str(path))
    expected = sum(int(np.prod(i.dims)) for i in loaded.graph.initializer)
    assert expected == sum(p.numel() for p in model.parameters())
    meta = read_metadata(path)
    assert meta.parameters == expected
    assert meta.library == "onnx"
    assert extra(meta)["producer"] == loaded.producer_name == "pytorch"


def test_keras_archive(tmp_path: Path) -> None:
    keras = pytest.importorskip("keras")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    meta = read_metadata(tmp_path / "m.keras")
    assert meta.architecture == "Sequential"
    assert meta.library == "keras"
    assert extra(meta)["keras_version"] == keras.__version__


def test_mlflow_sklearn_model(tmp_path: Path) -> None:
    mlflow_sklearn = pytest.importorskip("mlflow.sklearn")
    yaml = pytest.importorskip("yaml")
    np = pytest.importorskip("numpy")
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    x = np.arange(30, dtype=float).reshape(10, 3)
    y = (x[:, 0] > 10).astype(int)
    clf = LogisticRegression().fit(x, y)
    folder = tmp_path / "model"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mlflow_sklearn.save_model(clf, str(folder), signature=infer_signature(x, clf.predict(x)),
                                  pip_requirements=["scikit-learn"])  # no environment inference
    mlmodel = yaml.safe_load((folder / "MLmodel").read_text())
    meta = read_metadata(folder)
    assert meta.library == "sklearn"
    ex = extra(meta)
    assert ex["mlflow_version"] == mlmodel["mlflow_version"]
    assert ex["signature_inputs"] == mlmodel["signature"]["inputs"]
    assert ex["signature_outputs"] == mlmodel["signature"]["outputs"]
    assert ex["sklearn_version"] == mlmodel["flavors"]["sklearn"]["sklearn_version"]


# ---- diffusers-style pipelines, sentence-transformers ---------------------------------------------------


def test_diffusers_pipeline_layout(tmp_path: Path) -> None:
    # diffusers is not installed: the layout is the one DiffusionPipeline.save_pretrained writes
    # (model_index.json naming [library, class] per component, one folder per component, fp16 variants).
    (tmp_path / "model_index.json").write_text(json.dumps({
        "_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.0",
        "unet": ["diffusers", "UNet2DConditionModel"], "text_encoder": ["transformers", "CLIPTextModel"],
        "scheduler": ["diffusers", "PNDMScheduler"], "safety_checker": [None, None],
    }))
    sizes = {"unet": (10, 10), "text_encoder": (4, 6)}
    for name, shape in sizes.items():
        (tmp_path / name).mkdir()
        safetensors_torch.save_file({"w": torch.zeros(shape)}, str(tmp_path / name / "model.safetensors"))
        safetensors_torch.save_file({"w": torch.zeros(shape, dtype=torch.float16)},
                                    str(tmp_path / name / "model.fp16.safetensors"))
    meta = read_metadata(tmp_path)
    assert meta.architecture == "StableDiffusionPipeline"
    assert meta.library == "diffusers"
    assert meta.parameters == 100 + 24
    assert meta.remote_code is False

    index = json.loads((tmp_path / "model_index.json").read_text())
    index["unet"] = ["my_unet", "MyUNet"]  # a component loaded from a module shipped in the repo
    (tmp_path / "model_index.json").write_text(json.dumps(index))
    assert read_metadata(tmp_path).remote_code is True


def test_sentence_transformers_modules(tmp_path: Path) -> None:
    tiny_bert().bert.save_pretrained(tmp_path)
    # The modules.json SentenceTransformer.save writes (sentence-transformers is not installed).
    (tmp_path / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]))
    meta = read_metadata(tmp_path)
    assert meta.library == "sentence-transformers"
    assert meta.architecture == "BertModel"
    assert extra(meta)["modules"] == "Transformer, Pooling"


# ---- datasets -------------------------------------------------------------------------------------------


def test_dataset_saved_to_disk_with_card(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    hub = pytest.importorskip("huggingface_hub")
    ds = datasets.Dataset.from_dict({"text": ["a", "b", "c"], "label": [0, 1, 0]})
    ds.save_to_disk(str(tmp_path), num_proc=None)
    card = hub.DatasetCard.from_template(hub.DatasetCardData(
        license="cc-by-4.0", task_categories=["text-classification"], language=["en"], tags=["tiny"],
        pretty_name="Tiny", configs=[{"config_name": "default", "data_files": [{"split": "train", "path": "x"}]}],
    ))
    card.save(tmp_path / "README.md")
    meta = read_metadata(tmp_path)
    assert meta.license == "cc-by-4.0"
    assert meta.task == "text-classification"
    assert meta.languages == ("en",)
    assert meta.tags == ("tiny",)
    assert meta.library == "datasets"
    assert meta.card is True and "dataset details" in meta.card_sections
    ex = extra(meta)
    assert ex["features"] == "text, label"
    assert ex["configs"] == "default"
    assert ex["pretty_name"] == "Tiny"


def test_dataset_dict_splits(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"q": ["x", "y"], "a": ["1", "2"]})
    datasets.DatasetDict({"train": ds, "test": ds.select([0])}).save_to_disk(str(tmp_path))
    meta = read_metadata(tmp_path)
    assert extra(meta)["splits"] == "train, test"
    assert extra(meta)["features"] == "q, a"


def test_parquet_footer(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({
        "id": list(range(1000)),
        "point": [{"x": i, "y": -i} for i in range(1000)],  # a group column: its leaves are not columns
        "tags": [["a", "b"]] * 1000,
        "text": ["t"] * 1000,
    })
    (tmp_path / "data").mkdir()
    pq.write_table(table, tmp_path / "data" / "train-00000-of-00002.parquet", row_group_size=300)
    pq.write_table(table.slice(0, 10), tmp_path / "data" / "train-00001-of-00002.parquet")
    single = read_metadata(tmp_path / "data" / "train-00000-of-00002.parquet")
    assert pq.read_metadata(tmp_path / "data" / "train-00000-of-00002.parquet").num_rows == 1000
    assert extra(single)["num_rows"] == "1000"
    assert extra(single)["num_columns"] == "4"
    assert extra(single)["columns"] == ", ".join(table.schema.names) == "id, point, tags, text"
    assert extra(read_metadata(tmp_path))["num_rows"] == "1010"


def test_dataset_card_dataset_info_rows(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "---\nlicense: mit\ntask_categories:\n- question-answering\ndataset_info:\n  features:\n"
        "  - name: question\n    dtype: string\n  - name: answer\n    dtype: string\n  splits:\n"
        "  - name: train\n    num_bytes: 100\n    num_examples: 87599\n  - name: validation\n"
        "    num_examples: 10570\n---\n# SQuAD\n"
    )
    meta = read_metadata(tmp_path)
    assert meta.task == "question-answering"
    assert extra(meta)["num_rows"] == str(87599 + 10570)
    assert extra(meta)["features"] == "question, answer"
    assert meta.card_sections == ("squad",)


# ---- card front matter forms and hostile input -------------------------------------------------------------


def test_card_front_matter_forms(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "---\n"
        "license: other\n"
        'license_name: "llama3"\n'
        "license_link: LICENSE\n"
        "base_model: meta-llama/Meta-Llama-3-8B  # the base\n"
        "datasets: [a/b, \"c/d\", 'e']\n"
        "language: en\n"
        "tags:\n  - x\n  - 'y: z'\n"
        "extra_gated_prompt: >-\n  You agree to\n  the terms.\n"
        "model-index:\n- name: m\n  results:\n  - task:\n      type: summarization\n      name: Summ\n"
        "---\n\n"
        "Intro\n=====\n\n```python\n# not a heading\n```\n## Usage ##\n### **Training** [data](x.md)\n"
    )
    meta = read_metadata(tmp_path)
    assert meta.license == "llama3"
    assert extra(meta)["license_link"] == "LICENSE"
    assert meta.base_models == ("meta-llama/Meta-Llama-3-8B",)
    assert meta.datasets == ("a/b", "c/d", "e")
    assert meta.languages == ("en",)
    assert meta.tags == ("x", "y: z")
    assert meta.task == "summarization"  # from model-index when there is no pipeline_tag
    assert meta.card_sections == ("intro", "usage", "training data")


def test_card_with_unsupported_yaml_keeps_the_other_keys(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text(
        "---\nlicense: mit\nwidget:\n- text: &anchor hello\n- text: *anchor\nbase_model: org/base\n---\n# Card\n"
    )
    meta = read_metadata(tmp_path)
    assert meta.license == "mit"
    assert meta.base_models == ("org/base",)
    assert meta.card_sections == ("card",)


@pytest.mark.parametrize(
    "content",
    [
        os.urandom(4096) + b"\0",
        b"---\nlicense: [unclosed\n---\n",
        b"---\n\tlicense: mit\n---\n",
        b"---\n" + b"- " * 100_000 + b"\n---\n",
        b"---\nlicense: mit\n",  # no closing fence: not front matter
        b"",
    ],
    ids=["binary", "bad-flow", "tab", "deep", "unclosed", "empty"],
)
def test_bad_readme_is_a_card_without_fields(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "README.md").write_bytes(content)
    meta = read_metadata(tmp_path)
    assert meta.card is True
    assert meta.license is None and meta.base_models == () and meta.tags == ()


def test_huge_readme_is_read_up_to_the_cap(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n# Top\n" + "x" * 4096 * 2048 + "\n# Late\n")
    start = time.perf_counter()
    meta = read_metadata(tmp_path)
    assert time.perf_counter() - start < 2.0
    assert meta.license == "mit"
    assert meta.card_sections == ("top",)  # the heading past 4 MB is not read


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"[1, 2, 3]", b"\x00\x01\x02" * 100, b'{"architectures": 5, "model_type": ["x"]}',
     b'{"a": ' * 100_000, b"{}" + b" " * (5 * 1024 * 1024)],
    ids=["malformed", "list", "binary", "wrong-types", "deep", "huge"],
)
def test_bad_config_is_ignored(tmp_path: Path, content: bytes) -> None:
    (tmp_path / "config.json").write_bytes(content)
    (tmp_path / "adapter_config.json").write_bytes(content)
    (tmp_path / "model_index.json").write_bytes(content)
    (tmp_path / "MLmodel").write_bytes(content)
    meta = read_metadata(tmp_path)
    assert meta.architecture is None and meta.task is None and meta.base_models == ()


@pytest.mark.parametrize(
    "content",
    [
        b"\xff" * 8 + b"{}",  # header length beyond the file
        (20).to_bytes(8, "little") + b'{"a": {"shape": [-1]}}',  # negative dimension
        (5).to_bytes(8, "little") + b"[1,2]",  # not an object
        (4).to_bytes(8, "little") + b"{\xff\xfe}",  # not UTF-8
        b"GGUF\x03\x00\x00\x00" + b"\xff" * 16,  # GGUF with absurd counts
        b"GGUF\x09\x00\x00\x00",  # unknown GGUF version
        b"PAR1" + b"\0" * 8 + b"\xff\xff\xff\x00PAR1",  # parquet footer length beyond the file
        b"PK\x03\x04" + b"\0" * 40,  # a zip with no central directory
    ],
    ids=["st-length", "st-shape", "st-list", "st-utf8", "gguf-counts", "gguf-version", "parquet", "zip"],
)
def test_bad_weight_headers_give_no_count(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "weights"
    path.write_bytes(content)
    meta = read_metadata(path)
    assert meta.parameters is None
    assert "num_rows" not in extra(meta) and meta.architecture is None


def test_missing_and_odd_roots(tmp_path: Path) -> None:
    assert read_metadata(tmp_path / "nope") == AssetMetadata()
    assert read_metadata(tmp_path) == AssetMetadata()
    (tmp_path / "notes.txt").write_text("hello")
    assert read_metadata(tmp_path / "notes.txt") == AssetMetadata()
    assert read_metadata(tmp_path, ["missing.safetensors", "README.md"]) == AssetMetadata()


def test_too_many_parquet_files_give_columns_but_no_row_count(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    from mlvet.inventory.metadata import MAX_PARQUET_FILES

    table = pa.table({"a": [1, 2], "b": ["x", "y"]})
    for i in range(MAX_PARQUET_FILES + 1):
        pq.write_table(table, tmp_path / f"part-{i:03d}.parquet")
    meta = read_metadata(tmp_path)
    assert "num_rows" not in extra(meta)
    assert extra(meta)["columns"] == "a, b"
    (tmp_path / "part-000.parquet").unlink()
    assert extra(read_metadata(tmp_path))["num_rows"] == str(2 * MAX_PARQUET_FILES)


def test_mutated_headers_fail_quietly_and_quickly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Random byte flips in real GGUF, safetensors and parquet headers: each reader stops on its own terms.

    read_metadata never raises by construction; what this checks is that no reader hits an unexpected
    exception (which the guard would log) and that none loops: each call stays well under a second.
    """
    import random

    pq = pytest.importorskip("pyarrow.parquet")
    pa = pytest.importorskip("pyarrow")
    write_gguf(tmp_path / "src.gguf")
    safetensors_torch.save_file({"a": torch.zeros(4, 4), "b": torch.zeros(3)}, str(tmp_path / "src.safetensors"))
    table = pa.table({"id": list(range(50)), "p": [{"x": i, "m": {"k": True}} for i in range(50)],
                      "l": [[1, 2]] * 50, "flag": [True] * 50})
    pq.write_table(table, tmp_path / "src.parquet", row_group_size=7)
    rng = random.Random(1234)
    caplog.set_level("DEBUG", logger="mlvet.inventory.metadata")
    for name in ("src.gguf", "src.safetensors", "src.parquet"):
        data = (tmp_path / name).read_bytes()
        ext = name.split(".")[1]
        if ext == "parquet":  # the footer's first fields: schema and row count
            lo = len(data) - 8 - int.from_bytes(data[-8:-4], "little")
            hi = lo + 400
        else:
            lo, hi = 0, min(len(data), 2000)
        for _ in range(150):
            mutated = bytearray(data)
            for _ in range(rng.randint(1, 6)):
                mutated[rng.randrange(lo, hi)] = rng.randrange(256)
            target = tmp_path / f"fuzz.{ext}"
            target.write_bytes(bytes(mutated))
            start = time.perf_counter()
            read_metadata(target)
            assert time.perf_counter() - start < 1.0
    assert [r.exc_info[0].__name__ for r in caplog.records if r.exc_info] == []


def test_hub_cache_snapshot_symlinks_are_followed(tmp_path: Path) -> None:
    """A cache snapshot holds symlinks into ``blobs/``, as huggingface_hub lays them out."""
    source = tmp_path / "src"
    model = tiny_gpt2()
    model.save_pretrained(source)
    model_card(license="mit", base_model="openai-community/gpt2").save(source / "README.md")
    repo = tmp_path / "models--org--tiny"
    snapshot = repo / "snapshots" / ("a" * 40)
    (repo / "blobs").mkdir(parents=True)
    snapshot.mkdir(parents=True)
    for i, f in enumerate(sorted(source.iterdir())):
        blob = repo / "blobs" / f"blob{i}"
        f.rename(blob)
        (snapshot / f.name).symlink_to(os.path.relpath(blob, snapshot))
    meta = read_metadata(snapshot)
    assert meta.parameters == model.num_parameters()
    assert meta.license == "mit" and meta.base_models == ("openai-community/gpt2",)
    assert meta.architecture == "GPT2LMHeadModel"
